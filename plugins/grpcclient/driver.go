// Package grpcclient is the nebula-resource driver for any gRPC server: a
// workflow calls its methods with JSON, and the driver turns that JSON
// into protobuf with the method's message types, which it learns at run
// time through the server's reflection service (grpc.reflection.v1, or
// v1alpha for older servers) or from a descriptor set file. No generated
// code of the server's API is needed.
//
// # Type
//
// "grpc" is shared: each of the host's instances (replicas) of a resource
// is one *grpc.ClientConn, safe for concurrent use, which multiplexes its
// calls over HTTP/2 and balances them over the target's addresses as
// load_balancing says. One replica is usually right.
//
// # Operations
//
// invoke calls a unary method; server_stream, client_stream and
// bidi_stream call the streaming ones with messages as lines of JSON
// (NDJSON); list_services and describe say what the server offers; ping
// runs the health check. invoke is not idempotent, but a call may mark
// itself so with "idempotent": true, and the host's retry policy then
// retries it after a retryable error.
//
// # Health
//
// Check (the host's health checks, and ping) asks grpc.health.v1
// Health/Check about health_service ("" is the server as a whole):
// SERVING passes; NOT_SERVING, SERVICE_UNKNOWN or any other answer fails
// as unavailable, and the host quarantines the resource after its
// unhealthy_after failures. A server without the health service passes
// when health_service is "" (the call reached it, so the connection
// works); naming a service it cannot check fails.
//
// # Errors
//
// A status the server returns becomes an sdk.Error of the kind of its
// code (KindOfCode), with Code the code's name ("NOT_FOUND"), the
// status message kept, and RetryAfter the delay of a google.rpc.RetryInfo
// detail. The bearer token and secret metadata values never appear in an
// error, even when the server quotes them.
//
// The plugin binary is cmd/nebula-plugin-grpc:
//
//	func main() { sdk.Serve(grpcclient.New(), otelexport.Option()) }
package grpcclient

import (
	"context"
	"time"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "grpc"

// The load balancing policies.
const (
	PickFirst  = "pick_first"
	RoundRobin = "round_robin"
)

// Config is the configuration of a grpc resource.
type Config struct {
	Target        string `nebula:"target,required" doc:"The server, as a gRPC target: \"host:port\" or \"dns:///host:port\" (resolved by DNS), \"passthrough:///host:port\", \"unix:/path/to/socket\"."`
	LoadBalancing string `nebula:"load_balancing" default:"pick_first" doc:"How calls spread over the target's addresses: \"pick_first\" (one address at a time) or \"round_robin\" (every address)."`
	Authority     string `nebula:"authority" default:"" doc:"The :authority of the calls (and the TLS server name, unless tls_server_name is set); \"\" for the target's host."`

	TLS                   bool   `nebula:"tls" default:"false" doc:"Connect with TLS; false connects in plaintext (h2c)."`
	TLSServerName         string `nebula:"tls_server_name" default:"" doc:"The name to verify the server's certificate against; \"\" for the authority."`
	TLSCAFile             string `nebula:"tls_ca_file" default:"" doc:"A PEM file of the CAs that sign the server's certificate; \"\" for the system's roots."`
	TLSCertFile           string `nebula:"tls_cert_file" default:"" doc:"A PEM client certificate, for mutual TLS; with tls_key_file."`
	TLSKeyFile            string `nebula:"tls_key_file" default:"" doc:"The PEM private key of tls_cert_file."`
	TLSInsecureSkipVerify bool   `nebula:"tls_insecure_skip_verify" default:"false" doc:"Do not verify the server's certificate (testing only)."`

	Metadata            map[string]string `nebula:"metadata" doc:"Metadata sent with every call (a call's own metadata wins); keys are lower-case, and the values of keys ending in -bin are base64."`
	SecretMetadata      map[string]string `nebula:"secret_metadata,sensitive" doc:"Metadata sent with every call whose values are secrets (an API key header): like metadata, and never shown."`
	BearerToken         string            `nebula:"bearer_token,sensitive" default:"" doc:"A token sent with every call as \"authorization: Bearer <token>\"; \"\" sends none. Needs tls, unless allow_plaintext_token."`
	AllowPlaintextToken bool              `nebula:"allow_plaintext_token" default:"false" doc:"Send bearer_token over a connection without TLS (a sidecar on loopback or a unix socket); without it such a configuration is refused."`

	KeepaliveTime                time.Duration `nebula:"keepalive_time" default:"0s" doc:"Ping the server after this long without activity; 0s sends no keepalive pings. The server must allow it (its enforcement policy), or it closes the connection."`
	KeepaliveTimeout             time.Duration `nebula:"keepalive_timeout" default:"20s" doc:"How long to wait for a keepalive ping's answer before the connection is closed."`
	KeepalivePermitWithoutStream bool          `nebula:"keepalive_permit_without_stream" default:"false" doc:"Send keepalive pings when no call is in flight too."`

	MaxRecvMessageSize int `nebula:"max_recv_message_size" default:"4194304" doc:"The largest message a call may receive, in bytes."`
	MaxSendMessageSize int `nebula:"max_send_message_size" default:"4194304" doc:"The largest message a call may send, in bytes."`

	DescriptorSetFile string `nebula:"descriptor_set_file" default:"" doc:"A FileDescriptorSet (protoc --descriptor_set_out --include_imports) of the server's API, read at configuration; \"\" learns the API through the server's reflection service instead."`

	HealthCheck   bool   `nebula:"health_check" default:"true" doc:"Check the server with grpc.health.v1 Health/Check; false only checks that the connection is ready."`
	HealthService string `nebula:"health_service" default:"" doc:"The service whose health is checked; \"\" for the server as a whole."`
}

// New returns the grpc driver.
func New() sdk.Driver { return sdk.NewDriver("grpc", release.Version(), grpcType) }

// The operations' names.
const (
	opInvoke       = "invoke"
	opServerStream = "server_stream"
	opClientStream = "client_stream"
	opBidiStream   = "bidi_stream"
	opListServices = "list_services"
	opDescribe     = "describe"
)

// grpcType is the type "grpc".
var grpcType = sdk.ResourceDef[Config, *Instance]{
	Name:        TypeName,
	Description: "A gRPC server whose methods are called with JSON, their types learned through server reflection or a descriptor set; each instance is one client connection shared by concurrent calls.",
	Pooling:     sdk.PoolingShared,
	Configure: func(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
		return newResource(name, cfg)
	},
	Operations: []sdk.Op[*Instance]{
		sdk.NewOp(opInvoke, "Calls a unary method with a JSON request and returns its JSON response, header and trailer metadata. Not idempotent unless the call sets idempotent.", (*Instance).Invoke),
		sdk.NewStreamOp(opServerStream, "Calls a server-streaming method with a JSON request and streams its responses, one JSON object per line.", sdk.StreamDownload, (*Instance).ServerStream),
		sdk.NewStreamOp(opClientStream, "Calls a client-streaming method with the JSON requests read from the input (one per line) and returns its JSON response.", sdk.StreamUpload, (*Instance).ClientStream),
		sdk.NewStreamOp(opBidiStream, "Calls a bidirectional-streaming method: JSON requests read from the input, one per line, and responses streamed back one per line as they come.", sdk.StreamDuplex, (*Instance).BidiStream),
		sdk.NewOp(opListServices, "Lists the services the server offers, with their methods' types and streaming.", (*Instance).ListServices).Idempotent(),
		sdk.NewOp(opDescribe, "Describes a service, a method or a message type by its full name: methods, or fields with their JSON names and types.", (*Instance).Describe).Idempotent(),
		sdk.PingOp[*Instance]("Runs the health check (grpc.health.v1 Health/Check on health_service) and returns ok."),
	},
}
