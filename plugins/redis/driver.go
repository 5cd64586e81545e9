package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The resource types the driver offers.
const (
	// TypeName is the key-value and pub/sub type: one go-redis client per
	// instance, shared by concurrent callers.
	TypeName = "redis"
	// SessionTypeName is the transaction type: one dedicated connection per
	// instance, leased to one caller at a time.
	SessionTypeName = "redis_session"
)

// The deployment modes.
const (
	ModeStandalone = "standalone"
	ModeCluster    = "cluster"
	ModeSentinel   = "sentinel"
)

// DefaultClientName is the name connections report with CLIENT SETNAME when
// the configuration does not set one.
const DefaultClientName = "nebula-resource"

// Config is the configuration of a redis or redis_session resource.
type Config struct {
	Mode       string   `nebula:"mode" default:"standalone" doc:"Deployment: \"standalone\" (one server), \"cluster\" (Redis Cluster) or \"sentinel\" (a master found through Sentinel)."`
	Addresses  []string `nebula:"addresses,required" doc:"host:port addresses: the server (standalone, exactly one), seed nodes (cluster), or the sentinels (sentinel)."`
	MasterName string   `nebula:"master_name" doc:"Name of the master the sentinels monitor; required in sentinel mode, not allowed otherwise."`

	Username string `nebula:"username" doc:"ACL user name (Redis 6+); empty authenticates as the default user."`
	Password string `nebula:"password,sensitive" doc:"Password for AUTH. Sensitive."`
	// Sentinels may have credentials of their own.
	SentinelUsername string `nebula:"sentinel_username" doc:"ACL user name for the sentinels (sentinel mode)."`
	SentinelPassword string `nebula:"sentinel_password,sensitive" doc:"Password for the sentinels (sentinel mode). Sensitive."`

	Database int `nebula:"database" default:"0" doc:"Database number selected on each connection (standalone and sentinel; Redis Cluster has only database 0)."`

	TLS                   bool   `nebula:"tls" default:"false" doc:"Connect with TLS."`
	TLSServerName         string `nebula:"tls_server_name" doc:"Server name to verify the certificate against; default: the host of each address."`
	TLSCAFile             string `nebula:"tls_ca_file" doc:"PEM file of the CAs that sign the server certificate; default: the system's roots."`
	TLSCertFile           string `nebula:"tls_cert_file" doc:"PEM client certificate, for servers that require one (tls-auth-clients); with tls_key_file."`
	TLSKeyFile            string `nebula:"tls_key_file" doc:"PEM private key of tls_cert_file."`
	TLSInsecureSkipVerify bool   `nebula:"tls_insecure_skip_verify" default:"false" doc:"Do not verify the server certificate (testing only)."`

	DialTimeout  time.Duration `nebula:"dial_timeout" default:"5s" doc:"Time allowed to open a connection (TCP and the TLS handshake)."`
	ReadTimeout  time.Duration `nebula:"read_timeout" default:"3s" doc:"Time allowed for a reply to arrive; 0s waits without limit (the call's own deadline still applies)."`
	WriteTimeout time.Duration `nebula:"write_timeout" default:"3s" doc:"Time allowed to send a command; 0s waits without limit (the call's own deadline still applies)."`
	PoolSize     int           `nebula:"pool_size" default:"0" doc:"Connections a go-redis client may have open per server; 0 uses go-redis's default, 10 per CPU. For redis_session it bounds the sessions open at once: keep it at least the pool's max_size."`
	ClientName   string        `nebula:"client_name" default:"nebula-resource" doc:"Name each connection reports with CLIENT SETNAME (shown by CLIENT LIST); empty sets none."`
}

// SessionConfig is the configuration of a redis_session resource: that of
// a redis resource, in standalone or sentinel mode.
type SessionConfig Config

// New returns the Redis driver, with its two resource types, "redis" and
// "redis_session".
func New() sdk.Driver { return sdk.NewDriver("redis", release.Version(), redisType, sessionType) }

// redisType is the key-value and pub/sub type.
var redisType = sdk.ResourceDef[Config, *kvInstance]{
	Name:         TypeName,
	Description:  "A Redis server, cluster or Sentinel-managed master for key-value access and pub/sub; each instance is one go-redis client that pools its own connections.",
	Capabilities: []string{sdk.CapabilityKV, sdk.CapabilityPubSub},
	Pooling:      sdk.PoolingShared,
	Configure: func(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
		b, err := newBase(TypeName, name, cfg)
		if err != nil {
			return nil, err
		}
		return &kvResource{base: b}, nil
	},
	Operations: append(kvOperations[*kvInstance](),
		kvOp[*kvInstance](opPublish, "", (*kvOps).publish),
		sdk.NewStreamOp(opSubscribe, "", sdk.StreamDownload, (*kvInstance).subscribe),
		pingOp[*kvInstance](),
	),
}

// sessionType is the transaction type.
var sessionType = sdk.ResourceDef[SessionConfig, *sessionInstance]{
	Name:         SessionTypeName,
	Description:  "A Redis connection of one's own (standalone or sentinel) for optimistic transactions: watch keys, read them, then multi_exec; each instance is one dedicated connection.",
	Capabilities: []string{sdk.CapabilityKV},
	Pooling:      sdk.PoolingExclusive,
	Configure: func(_ context.Context, name string, cfg SessionConfig) (sdk.Resource, error) {
		b, err := newBase(SessionTypeName, name, Config(cfg))
		if err != nil {
			return nil, err
		}
		return newSessionResource(b), nil
	},
	Operations: append(kvOperations[*sessionInstance](),
		pingOp[*sessionInstance](),
		operation(opWatch, "Watches keys on the session's connection (WATCH): the next multi_exec fails with a conflict if any of them changes before it.",
			(*sessionInstance).watch).Idempotent(),
		operation(opUnwatch, "Forgets every watched key (UNWATCH).", (*sessionInstance).unwatch).Idempotent(),
		operation(opMultiExec, "Runs commands as one transaction (MULTI, the commands, EXEC) and returns their replies; fails with kind conflict, running none of them, when a watched key changed.",
			(*sessionInstance).multiExec),
	),
}

// Validate checks the configuration of a redis resource without
// connecting: the mode and the settings it needs, the addresses, the TLS
// files and the durations.
func (c Config) Validate() error {
	_, err := c.options(TypeName)
	return err
}

// Validate checks the configuration of a redis_session resource as
// Config.Validate does, and that its mode is not cluster.
func (c SessionConfig) Validate() error {
	_, err := Config(c).options(SessionTypeName)
	return err
}

// newBase keeps what a resource of type typ needs from its valid
// configuration, and builds the go-redis options. It connects to nothing:
// instances do, when they are opened.
func newBase(typ, name string, cfg Config) (*base, error) {
	opts, err := cfg.options(typ)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of "+typ+" resource "+name)
	}
	return &base{name: name, typ: typ, cfg: cfg, opts: opts, secrets: cfg.secrets()}, nil
}

// options validates c for the resource type typ and returns the go-redis
// options. Its errors are sdk.ConfigErrors, joined, and never quote a
// password.
func (c Config) options(typ string) (*goredis.UniversalOptions, error) {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, sdk.AttributeError(attr, summary, detail))
	}
	switch c.Mode {
	case ModeStandalone, ModeCluster, ModeSentinel:
	default:
		add("mode", fmt.Sprintf("unknown mode %q", c.Mode), `Use "standalone", "cluster" or "sentinel".`)
	}
	if len(c.Addresses) == 0 {
		add("addresses", "at least one address is required", `Set addresses = ["host:6379"].`)
	}
	for _, a := range c.Addresses {
		if detail := checkAddress(a); detail != "" {
			add("addresses", fmt.Sprintf("%q is not a host:port address", a), detail)
		}
	}
	if c.Mode == ModeStandalone && len(c.Addresses) > 1 {
		add("addresses", "standalone mode takes exactly one address",
			`Keep one address, or set mode = "cluster" for the seed nodes of a cluster or mode = "sentinel" for sentinels.`)
	}
	switch {
	case c.Mode == ModeSentinel && c.MasterName == "":
		add("master_name", "sentinel mode needs the master's name", `Set master_name to the name the sentinels monitor (the name in "sentinel monitor <name> ...").`)
	case c.Mode != ModeSentinel && c.MasterName != "":
		add("master_name", "only sentinel mode uses master_name", `Remove master_name, or set mode = "sentinel".`)
	}
	if c.Mode != ModeSentinel && (c.SentinelUsername != "" || c.SentinelPassword != "") {
		add("sentinel_username", "only sentinel mode uses sentinel credentials", `Remove sentinel_username and sentinel_password, or set mode = "sentinel".`)
	}
	switch {
	case c.Database < 0:
		add("database", "must not be negative", "Databases are numbered from 0.")
	case c.Mode == ModeCluster && c.Database != 0:
		add("database", "Redis Cluster has no databases other than 0",
			"Remove database (cluster mode always uses database 0), or use standalone or sentinel mode.")
	}
	if typ == SessionTypeName && c.Mode == ModeCluster {
		add("mode", "redis_session does not support cluster mode",
			"A session is one connection to one server, and a Redis Cluster transaction can only touch keys of one hash slot on one node. Use a redis resource in cluster mode for key-value access, or point redis_session at a standalone or sentinel deployment.")
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout", "must be positive", `Set a duration such as "5s".`)
	}
	if c.ReadTimeout < 0 {
		add("read_timeout", "must not be negative", `Set a duration such as "3s", or "0s" for no limit.`)
	}
	if c.WriteTimeout < 0 {
		add("write_timeout", "must not be negative", `Set a duration such as "3s", or "0s" for no limit.`)
	}
	if c.PoolSize < 0 {
		add("pool_size", "must not be negative", "Set a number of connections, or 0 for go-redis's default.")
	}
	tlsConfig, tlsErrs := c.tlsConfig()
	errs = append(errs, tlsErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	noLimit := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1 // go-redis: no deadline
		}
		return d
	}
	opts := &goredis.UniversalOptions{
		Addrs:            c.Addresses,
		MasterName:       c.MasterName,
		ClientName:       c.ClientName,
		Protocol:         3,
		Username:         c.Username,
		Password:         c.Password,
		SentinelUsername: c.SentinelUsername,
		SentinelPassword: c.SentinelPassword,
		DB:               c.Database,
		DialTimeout:      c.DialTimeout,
		// One dial per attempt: go-redis's own retries (three, for
		// commands that may be repeated) and the host's are enough.
		DialerRetries: 1,
		ReadTimeout:   noLimit(c.ReadTimeout),
		WriteTimeout:  noLimit(c.WriteTimeout),
		// A call's deadline bounds its reads and writes on the socket.
		ContextTimeoutEnabled: true,
		PoolSize:              c.PoolSize,
		TLSConfig:             tlsConfig,
		IsClusterMode:         c.Mode == ModeCluster,
		// Maintenance notifications are a Redis Enterprise/Cloud feature;
		// elsewhere they cost a refused command on every new connection.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	return opts, nil
}

// checkAddress returns what is wrong with a as a host:port address, or
// "".
func checkAddress(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return `Write it as "host:port", e.g. "127.0.0.1:6379" or "[::1]:6379".`
	}
	if host == "" {
		return "The host is missing."
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "The port must be a number from 1 to 65535."
	}
	return ""
}

// tlsConfig builds the TLS configuration, or nil without TLS. It reads the
// CA, certificate and key files.
func (c Config) tlsConfig() (*tls.Config, []error) {
	return sdk.ClientTLS{
		Enabled: c.TLS, ServerName: c.TLSServerName, CAFile: c.TLSCAFile,
		CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, InsecureSkipVerify: c.TLSInsecureSkipVerify,
	}.Config()
}

// secrets are the strings that must never appear in an error message.
func (c Config) secrets() []string {
	var s []string
	for _, v := range []string{c.Password, c.SentinelPassword} {
		if strings.TrimSpace(v) != "" {
			s = append(s, v)
		}
	}
	return s
}

// newClient returns a go-redis client for the configured mode: a
// *goredis.Client (standalone), a *goredis.ClusterClient (cluster) or a
// failover *goredis.Client (sentinel). It does not connect.
func (c Config) newClient(opts *goredis.UniversalOptions) goredis.UniversalClient {
	switch c.Mode {
	case ModeCluster:
		return goredis.NewClusterClient(opts.Cluster())
	case ModeSentinel:
		return goredis.NewFailoverClient(opts.Failover())
	}
	return goredis.NewClient(opts.Simple())
}
