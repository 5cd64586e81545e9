package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "mysql"

// Config is the configuration of a mysql resource.
type Config struct {
	// DSN is a go-sql-driver DSN, such as root@tcp(127.0.0.1:3306)/test.
	DSN string `nebula:"dsn,required,sensitive" doc:"go-sql-driver data source name, such as user:password@tcp(127.0.0.1:3306)/db?param=value; it may hold a password."`
	// Password overrides the DSN's password when set.
	Password string `nebula:"password,sensitive" doc:"Password; overrides the password in dsn when set."`
	// ConnectTimeout bounds dialing and the handshake of a session.
	ConnectTimeout time.Duration `nebula:"connect_timeout" default:"10s" doc:"How long opening a session (dial and handshake) may take."`
}

// New returns the mysql driver.
func New() sdk.Driver { return sdk.NewDriver("mysql", release.Version(), mysqlType) }

// mysqlType is the driver's one resource type, "mysql".
var mysqlType = sdk.ResourceDef[Config, *sqldb.Session]{
	Name:         TypeName,
	Description:  "A MySQL or MariaDB database; each instance is one session (connection) that runs SQL with typed values and holds transactions.",
	Capabilities: []string{sdk.CapabilitySQL},
	Pooling:      sdk.PoolingExclusive,
	Configure:    configure,
	Operations: []sdk.Op[*sqldb.Session]{
		sdk.PingOp[*sqldb.Session]("Runs a trivial round trip (SELECT 1) on the session and returns {\"ok\": true}."),
	},
}

// Validate checks that the DSN parses and the timeout is positive.
func (c Config) Validate() error {
	_, err := connectorConfig(c)
	return err
}

// configure prepares the connector that Open uses. It does not connect.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	mc, err := connectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := gomysql.NewConnector(mc)
	if err != nil {
		return nil, sdk.AttributeError("dsn", "invalid DSN", redact(err.Error(), cfg))
	}
	r := &Resource{name: name, cfg: cfg, mc: mc, connector: conn}
	r.backend = sqldb.Backend{
		Name:    "mysql",
		Connect: r.connect,
		Errors:  errorMap,
		Values:  sqldb.Values{Bind: bind, Kind: kindOf, Convert: convert},
		// Tx: the SQL standard's SET TRANSACTION and START TRANSACTION.
		// MySQL takes COMMIT and ROLLBACK without a transaction in
		// silence, and a failed COMMIT rolls back.
	}
	return r, nil
}

// connectorConfig turns the resource configuration into go-sql-driver's.
// Its errors never hold the DSN or the password.
func connectorConfig(cfg Config) (*gomysql.Config, error) {
	if strings.TrimSpace(cfg.DSN) == "" {
		return nil, sdk.AttributeError("dsn", "must not be empty", "set a DSN such as root@tcp(127.0.0.1:3306)/test")
	}
	if cfg.ConnectTimeout <= 0 {
		return nil, sdk.AttributeError("connect_timeout", "must be positive", "set a duration such as \"10s\"")
	}
	mc, err := gomysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, sdk.AttributeError("dsn", "invalid DSN", redact(err.Error(), cfg)+"; want a go-sql-driver DSN such as user:password@tcp(127.0.0.1:3306)/db")
	}
	if cfg.Password != "" {
		mc.Passwd = cfg.Password
	}
	mc.ParseTime = true
	mc.InterpolateParams = false
	mc.Loc = time.UTC
	mc.Timeout = cfg.ConnectTimeout
	mc.MultiStatements = false
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	hasTZ := false
	for k := range mc.Params {
		if strings.EqualFold(k, "time_zone") {
			hasTZ = true
		}
	}
	if !hasTZ {
		mc.Params["time_zone"] = "'+00:00'"
	}
	return mc, nil
}

// redact removes the password of the DSN and the password attribute from
// msg.
func redact(msg string, cfg Config) string {
	var secrets []string
	if cfg.Password != "" {
		secrets = append(secrets, cfg.Password)
	}
	if at := strings.LastIndex(cfg.DSN, "@"); at >= 0 {
		if c := strings.Index(cfg.DSN[:at], ":"); c >= 0 && c+1 < at {
			secrets = append(secrets, cfg.DSN[c+1:at])
		}
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "***")
	}
	return msg
}

// Resource is one configured MySQL database.
type Resource struct {
	name      string
	cfg       Config
	mc        *gomysql.Config
	connector driver.Connector
	// backend is what sdk/sqldb needs to run the resource's sessions.
	backend sqldb.Backend
}

// Open connects one session: a *sql.DB of its own with at most one
// connection, and the one *sql.Conn the instance, a *sqldb.Session,
// keeps. It serves one lease at a time (exclusive pooling).
func (r *Resource) Open(ctx context.Context) (sdk.Instance, error) {
	s, err := sqldb.Open(ctx, &r.backend)
	if err != nil {
		return nil, err // not a nil *sqldb.Session in a non-nil sdk.Instance
	}
	return s, nil
}

// connect opens a *sql.DB of at most one connection and takes that
// connection, within connect_timeout, then reads the settings the session
// starts with, within connect_timeout again: a connection of a session
// (sqldb.Backend.Connect).
func (r *Resource) connect(ctx context.Context) (sqldb.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	db := sql.OpenDB(r.connector)
	conn, err := sqldb.TakeConn(cctx, db)
	if err != nil {
		return sqldb.Conn{}, wrapErr(cctx, err, "mysql connect to "+r.mc.Addr)
	}
	dctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	t, err := readDefaults(dctx, conn, r.mc)
	if err != nil {
		_ = conn.Close()
		_ = db.Close()
		return sqldb.Conn{}, err
	}
	return sqldb.Conn{DB: db, Conn: conn, Tracker: t}, nil
}

// Close does nothing: each instance owns its connection.
func (r *Resource) Close(context.Context) error { return nil }

// Interface guards.
var _ sdk.Resource = (*Resource)(nil)
