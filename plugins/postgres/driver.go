package postgres

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "postgres"

// DefaultApplicationName is the application_name a session reports when the
// configuration does not set one.
const DefaultApplicationName = "nebula-resource"

// Config is the configuration of a postgres resource.
type Config struct {
	// URL is the connection string, a postgres:// URL or a keyword/value
	// string. It may hold a password, so it is sensitive.
	URL string `nebula:"url,sensitive" doc:"Connection URL, postgres://user[:password]@host:port/database?sslmode=...; sslmode sets TLS. Sensitive: it may hold a password. Set it, or the discrete settings host, port, user, database and sslmode."`
	// Host, Port, User, Database and SSLMode are the discrete settings,
	// used instead of URL.
	Host     string `nebula:"host" doc:"Server host name or address, instead of url."`
	Port     int    `nebula:"port" default:"5432" doc:"Server port, with host."`
	User     string `nebula:"user" doc:"User name, with host."`
	Database string `nebula:"database" doc:"Database name, with host."`
	SSLMode  string `nebula:"sslmode" default:"prefer" doc:"TLS mode with host: disable, allow, prefer, require, verify-ca or verify-full."`
	// Password, when set, replaces the URL's password.
	Password string `nebula:"password,sensitive" doc:"Password; when set it overrides the password in the URL."`
	// ApplicationName is reported to the server (pg_stat_activity).
	ApplicationName string `nebula:"application_name" default:"nebula-resource" doc:"application_name the session reports to the server; an application_name in the URL is used when this is left at its default."`
	// StatementTimeout, when positive, is set as the session's
	// statement_timeout after connecting and again after every Reset.
	StatementTimeout time.Duration `nebula:"statement_timeout" doc:"Session statement_timeout, set after connecting and after every reset; unset or 0s keeps the server's default."`
	// ConnectTimeout bounds opening a session (dial, TLS, authentication).
	ConnectTimeout time.Duration `nebula:"connect_timeout" default:"10s" doc:"Time allowed to open a session (dial, TLS, authentication); 0s means no limit beyond the caller's."`
}

// New returns the PostgreSQL driver.
func New() sdk.Driver { return sdk.NewDriver("postgres", release.Version(), postgresType) }

// postgresType is the driver's one resource type, "postgres".
var postgresType = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  "A PostgreSQL database; each instance is one session (one connection) that runs SQL with typed values, streamed rows and transactions.",
	Capabilities: []string{sdk.CapabilitySQL},
	Pooling:      sdk.PoolingExclusive,
	Configure:    configure,
	Operations: []sdk.Op[*Instance]{
		sdk.PingOp[*Instance]("Runs a round trip to the server on the session and returns {\"ok\": true}."),
	},
}

// Validate checks that the URL parses and the durations are not
// negative. It does not connect.
func (c Config) Validate() error {
	_, err := c.connConfig()
	return err
}

// configure parses the configuration into a connection configuration. It
// opens no session.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	cc, err := cfg.connConfig()
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of postgres resource "+name)
	}
	return &Resource{name: name, cfg: cfg, conn: cc, secrets: cfg.secrets(cc)}, nil
}

// connConfig validates c and builds the pgx configuration. Its errors
// never quote the URL or the password.
func (c Config) connConfig() (*pgx.ConnConfig, error) {
	var errs []error
	switch {
	case strings.TrimSpace(c.URL) == "" && c.Host == "":
		errs = append(errs, sdk.AttributeError("url", "a connection URL or a host is required",
			"Set url = \"postgres://user@host:5432/db?sslmode=require\", or host (with port, user, database and sslmode)."))
	case c.URL != "" && (c.Host != "" || c.User != "" || c.Database != ""):
		errs = append(errs, sdk.AttributeError("host", "set either url or the discrete settings, not both",
			"Put host, user and database in the URL, or remove url."))
	}
	switch c.SSLMode {
	case "", "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		errs = append(errs, sdk.AttributeError("sslmode", "unknown TLS mode",
			"Use disable, allow, prefer, require, verify-ca or verify-full."))
	}
	if c.StatementTimeout < 0 {
		errs = append(errs, sdk.AttributeError("statement_timeout", "must not be negative",
			`Set a positive duration such as "30s", or "0s" to keep the server's default.`))
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, sdk.AttributeError("connect_timeout", "must not be negative",
			`Set a positive duration such as "10s", or "0s" for no limit.`))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	conn := c.URL
	if conn == "" {
		conn = c.keywordString()
	}
	cc, err := pgx.ParseConfig(conn)
	if err != nil {
		// pgx's parse errors can quote the connection string (a url.Error
		// does, password and all), so none of their text is passed on.
		return nil, sdk.AttributeError("url", "cannot be parsed as a PostgreSQL connection string",
			"Check the scheme (postgres://), host, port, database and the query parameters such as sslmode; the value is sensitive and not shown.")
	}
	if c.Password != "" {
		cc.Password = c.Password
	}
	if _, inURL := cc.RuntimeParams["application_name"]; !inURL || c.ApplicationName != DefaultApplicationName {
		if c.ApplicationName == "" {
			delete(cc.RuntimeParams, "application_name")
		} else {
			cc.RuntimeParams["application_name"] = c.ApplicationName
		}
	}
	if c.ConnectTimeout > 0 {
		cc.ConnectTimeout = c.ConnectTimeout
	}
	// A canceled context cancels the running statement with a cancel
	// request, which keeps the session usable, rather than breaking the
	// connection at once; the connection is cut only when the server does
	// not answer within the delay.
	cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 5 * time.Second}
	}
	return cc, nil
}

// secrets are the strings that must never appear in an error message.
func (c Config) secrets(cc *pgx.ConnConfig) []string {
	var s []string
	add := func(v string) {
		if v != "" {
			s = append(s, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	add(c.URL)
	add(c.Password)
	add(cc.Password)
	return s
}

// Resource is one configured postgres resource: a connection configuration
// from which Open starts sessions.
type Resource struct {
	name    string
	cfg     Config
	conn    *pgx.ConnConfig
	secrets []string
}

// Open connects one session and applies the session settings.
func (r *Resource) Open(ctx context.Context) (sdk.Instance, error) {
	cctx := ctx
	if r.cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, r.cfg.ConnectTimeout)
		defer cancel()
	}
	conn, err := pgx.ConnectConfig(cctx, r.conn.Copy())
	if err != nil {
		return nil, r.wrap(cctx, err, "connecting to postgres resource "+r.name)
	}
	inst := &Instance{res: r, conn: conn}
	if err := inst.applySession(ctx); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return inst, nil
}

// Close releases nothing: the host closes every instance first, and the
// resource holds no session of its own.
func (r *Resource) Close(context.Context) error { return nil }

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
)

// keywordString builds a keyword/value connection string from the
// discrete settings, quoting each value.
func (c Config) keywordString() string {
	quote := func(v string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	parts := []string{"host=" + quote(c.Host), "port=" + strconv.Itoa(c.Port), "sslmode=" + quote(c.SSLMode)}
	if c.User != "" {
		parts = append(parts, "user="+quote(c.User))
	}
	if c.Database != "" {
		parts = append(parts, "dbname="+quote(c.Database))
	}
	return strings.Join(parts, " ")
}
