// Package mongo is the nebula-resource driver for MongoDB (or a server of
// its wire protocol, such as FerretDB), on the official driver
// go.mongodb.org/mongo-driver/v2, with the document capability
// sdk.CapabilityDocument.
//
// # Types
//
// "mongo" is shared: each of the host's instances (replicas) of a
// resource is one mongo.Client, safe for concurrent use, that pools up to
// max_pool_size connections of its own, so a resource opens at most
// replicas × max_pool_size connections. One replica is usually right: the
// client multiplexes its callers over its pool.
//
// "mongo_session" is exclusive: each instance is a session of its own
// (causally consistent reads of one's own writes) on the resource's
// client, with multi-document transactions (start_transaction,
// commit_transaction, abort_transaction) where the server has them: a
// replica set or a sharded cluster. Where it has not (a standalone
// server, FerretDB), start_transaction fails as failed_precondition and
// says so.
//
// # Values
//
// Documents travel as MongoDB Extended JSON v2 (sdk.CapabilityDocument):
// arguments in the canonical or the relaxed form, results always
// canonical, so that no BSON type is lost on the way (extjson.go).
//
// # Retries
//
// The client retries neither reads nor writes (retryReads and
// retryWrites false): retrying is the host's policy, which retries reads,
// and writes whose call sets "idempotent": true.
//
// The plugin binary is cmd/nebula-plugin-mongo:
//
//	func main() { sdk.Serve(mongo.New(), otelexport.Option()) }
package mongo

import (
	"context"
	"time"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The names of the resource types the driver offers.
const (
	TypeName        = "mongo"
	SessionTypeName = "mongo_session"
)

// Config is the configuration of a mongo or mongo_session resource:
// either uri, or hosts with the discrete settings. Beside a uri, an
// attribute that is set overrides the uri's setting; one at its default
// leaves the uri's setting, where the uri has one (maxPoolSize=5 stays 5).
type Config struct {
	URI                    string        `nebula:"uri,sensitive" default:"" doc:"A connection string, mongodb:// or mongodb+srv://, which may hold the credentials; or \"\" to give hosts and the settings one by one."`
	Hosts                  []string      `nebula:"hosts" doc:"The servers, host:port each, when there is no uri."`
	Database               string        `nebula:"database,required" doc:"The database whose collections the operations name."`
	Username               string        `nebula:"username" default:"" doc:"The user to authenticate as; \"\" for none (or the uri's)."`
	Password               string        `nebula:"password,sensitive" default:"" doc:"The user's password."`
	AuthSource             string        `nebula:"auth_source" default:"" doc:"The database that holds the user; \"\" for admin (or the uri's)."`
	AuthMechanism          string        `nebula:"auth_mechanism" default:"" doc:"SCRAM-SHA-256, SCRAM-SHA-1, MONGODB-X509, PLAIN, ...; \"\" to negotiate."`
	ReplicaSet             string        `nebula:"replica_set" default:"" doc:"The replica set's name, to check the servers belong to it."`
	Direct                 bool          `nebula:"direct" default:"false" doc:"Connect to the one host given without discovering the others."`
	TLS                    bool          `nebula:"tls" default:"false" doc:"Connect over TLS (implied by the tls_ files)."`
	TLSCAFile              string        `nebula:"tls_ca_file" default:"" doc:"A PEM file of the CAs to trust instead of the system's."`
	TLSCertFile            string        `nebula:"tls_cert_file" default:"" doc:"A PEM client certificate, for mutual TLS and MONGODB-X509."`
	TLSKeyFile             string        `nebula:"tls_key_file" default:"" doc:"The client certificate's PEM key."`
	TLSServerName          string        `nebula:"tls_server_name" default:"" doc:"The name to verify the server's certificate against; \"\" for the host's."`
	ReadPreference         string        `nebula:"read_preference" default:"primary" doc:"Which members serve reads: primary, primaryPreferred, secondary, secondaryPreferred or nearest."`
	ReadConcern            string        `nebula:"read_concern" default:"" doc:"local, available, majority, linearizable or snapshot; \"\" for the server's default."`
	WriteConcern           string        `nebula:"write_concern" default:"" doc:"How many members acknowledge a write: \"majority\", a number such as \"1\", or a tag set's name; \"\" for the server's default."`
	Journal                bool          `nebula:"journal" default:"false" doc:"Writes are acknowledged only once in the journal."`
	AppName                string        `nebula:"app_name" default:"nebula-resource" doc:"The name the server logs for the connections."`
	ServerSelectionTimeout time.Duration `nebula:"server_selection_timeout" default:"10s" doc:"How long an operation waits for a suitable server before it fails as unavailable."`
	ConnectTimeout         time.Duration `nebula:"connect_timeout" default:"10s" doc:"How long opening a connection may take."`
	Timeout                time.Duration `nebula:"timeout" default:"0s" doc:"The longest any one operation may take, round trips and waits included (the driver's timeoutMS, its socket timeout); 0s leaves it to the call's deadline."`
	MaxPoolSize            int           `nebula:"max_pool_size" default:"100" doc:"The most connections a client (one instance of the host) holds; 0 for no limit."`
	MinPoolSize            int           `nebula:"min_pool_size" default:"0" doc:"The connections a client keeps open when idle."`
	MaxConnIdleTime        time.Duration `nebula:"max_conn_idle_time" default:"0s" doc:"How long a connection may stay idle before it is closed; 0s for ever."`
	Compressors            []string      `nebula:"compressors" doc:"Wire compression to offer, in order of preference: snappy, zlib, zstd."`
}

// New returns the mongo driver.
func New() sdk.Driver { return sdk.NewDriver("mongo", release.Version(), mongoType, sessionType) }

// mongoType is the shared type "mongo".
var mongoType = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  "A MongoDB database (or a server of its wire protocol) with the document capability; each instance is one client that pools its own connections.",
	Capabilities: []string{sdk.CapabilityDocument},
	Pooling:      sdk.PoolingShared,
	Configure: func(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
		return newResource(TypeName, name, cfg)
	},
	Operations: append(sdk.DocumentOps[*Instance](),
		sdk.PingOp[*Instance]("Pings the server and returns ok."),
		sdk.NewOp("command", "Runs a database command, an Extended JSON object such as {\"collStats\": \"orders\"}, and returns the server's reply: for what the other operations do not cover.", (*Instance).RunCommand),
	),
}

// sessionType is the exclusive type "mongo_session".
var sessionType = sdk.ResourceDef[Config, *Session]{
	Name:         SessionTypeName,
	Description:  "A MongoDB session of one's own, with the document capability and multi-document transactions where the server has them (a replica set or a sharded cluster).",
	Capabilities: []string{sdk.CapabilityDocument},
	Pooling:      sdk.PoolingExclusive,
	Configure: func(ctx context.Context, name string, cfg Config) (sdk.Resource, error) {
		r, err := newResource(SessionTypeName, name, cfg)
		if err != nil {
			return nil, err
		}
		return &sessionResource{Resource: r}, nil
	},
	Operations: append(sdk.DocumentOps[*Session](),
		sdk.PingOp[*Session]("Pings the server and returns ok."),
		sdk.NewOp("start_transaction", "Starts a multi-document transaction: the session's operations until commit_transaction or abort_transaction are in it.", (*Session).StartTransaction),
		sdk.NewOp("commit_transaction", "Commits the session's transaction.", (*Session).CommitTransaction),
		sdk.NewOp("abort_transaction", "Aborts the session's transaction: none of its writes remain.", (*Session).AbortTransaction),
		sdk.NewOp("command", "Runs a database command in the session and returns the server's reply.", (*Session).RunCommand),
	),
}
