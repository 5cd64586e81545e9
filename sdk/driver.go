package sdk

import (
	"context"
	"encoding/json"
	"io"
)

// Driver is the contract every plugin implements. One Driver value serves
// every resource of the types it describes.
type Driver interface {
	// Info describes the driver. It is called once per plugin start and
	// must not do I/O.
	Info() DriverInfo

	// Configure prepares one resource from its decoded configuration. It
	// should validate and keep what Open needs; it should not hold a
	// backend session of its own unless the resource needs one.
	Configure(ctx context.Context, req ConfigureRequest) (Resource, error)
}

// Resource is one configured resource: a resource block of the host's
// configuration, after Configure.
type Resource interface {
	// Open starts one session with the backend.
	Open(ctx context.Context) (Instance, error)

	// Close releases what Configure acquired. The host closes every
	// instance of a resource before closing the resource.
	Close(ctx context.Context) error
}

// Instance is one session with the backend, created by Resource.Open. The
// host's pool decides how many exist and who uses them. In pooling mode
// [PoolingShared] an instance is used by many callers at once and must be
// safe for concurrent use; in [PoolingExclusive] mode one caller holds it at
// a time.
type Instance interface {
	// Check reports whether the session works, typically with a cheap
	// round trip to the backend. The host measures its latency.
	Check(ctx context.Context) error

	// Close ends the session.
	Close(ctx context.Context) error
}

// Invoker is implemented by instances that perform their type's
// operations themselves, routing each by name, rather than through the
// typed operations of their [ResourceDef] ([NewOp]). Call an instance's
// operations with [ResourceType.Invoke], which takes either way.
type Invoker interface {
	// Invoke performs one of the operations the resource type describes.
	// The result is encoded as JSON for the caller; return nil for no
	// result.
	Invoke(ctx context.Context, req InvokeRequest) (any, error)
}

// Resetter is implemented by instances that can return to a clean state,
// for example by rolling back an open transaction. The host calls Reset when
// a lease ends; an instance whose Reset fails is closed, not reused.
type Resetter interface {
	Reset(ctx context.Context) error
}

// SessionReporter is implemented by instances that know whether their
// session is clean: no transaction open, and no session state (settings,
// temporary objects, prepared statements, cursors, listens, advisory
// locks) changed by a statement since the instance was opened or last
// reset. The host resets (Resetter) only an instance that is not clean:
// a clean one goes back to its pool with no call at all. An instance of a
// plugin reports what the plugin's instance reported with its last
// answer, and is not clean after a call that failed.
type SessionReporter interface {
	SessionClean() bool
}

// StreamInvoker is implemented by instances with streaming operations
// (those whose [Operation.Stream] is not [StreamNone]) that they perform
// themselves, rather than through typed operations ([NewStreamOp]). in yields the bytes
// the caller sends and reaches io.EOF when the caller is done; each Write to
// out reaches the caller as one chunk, in order. The returned value is the
// operation's result, sent after the last chunk.
type StreamInvoker interface {
	InvokeStream(ctx context.Context, req InvokeRequest, in io.Reader, out io.Writer) (any, error)
}

// ConfigValidator is implemented by drivers that check a configuration
// beyond what its schema says (for example that two settings agree). Return
// nil, one error, or several joined with errors.Join; errors made with
// [AttributeError] point the user at the attribute in the HCL source.
type ConfigValidator interface {
	ValidateConfig(ctx context.Context, req ValidateRequest) error
}

// DriverInfo describes a driver and the resource types it offers.
type DriverInfo struct {
	// Name is the driver's name, for example "postgres".
	Name string
	// Version is the driver's own version, for example "1.2.0".
	Version string
	// Types are the resource types the driver offers. A resource block
	// `resource "memory" "cache"` uses the type named "memory".
	Types []ResourceType
}

// Type returns the resource type with the given name.
func (d DriverInfo) Type(name string) (ResourceType, bool) {
	for _, t := range d.Types {
		if t.Name == name {
			return t, true
		}
	}
	return ResourceType{}, false
}

// ResourceType describes one kind of resource a driver offers.
type ResourceType struct {
	// Name is the first label of the resource block.
	Name string
	// Description says what the resource is, in one sentence.
	Description string
	// Config is the schema of the resource block's attributes.
	Config Schema
	// Capabilities are the typed data paths the type supports, for
	// example "kv" or "blob".
	Capabilities []string
	// Pooling says how the host pools the type's instances. The zero
	// value means PoolingShared.
	Pooling Pooling
	// Operations are what Invoke and InvokeStream accept.
	Operations []Operation

	// dispatch performs the operations of a type declared with the typed
	// API ([ResourceDef]), by name; nil for a type described by hand or by a
	// plugin over the wire.
	dispatch map[string]*typedOp
}

// Operation returns the operation with the given name.
func (t ResourceType) Operation(name string) (Operation, bool) {
	for _, op := range t.Operations {
		if op.Name == name {
			return op, true
		}
	}
	return Operation{}, false
}

// Pooling is how the host pools a resource type's instances.
type Pooling string

const (
	// PoolingShared instances are safe for concurrent use (an HTTP client,
	// a client that pools internally): the host keeps a few and counts the
	// calls in flight on each.
	PoolingShared Pooling = "shared"
	// PoolingExclusive instances serve one lease at a time (a database
	// connection, a consumer): a lease has sole use until it is released.
	PoolingExclusive Pooling = "exclusive"
)

// Operation describes one operation of a resource type.
type Operation struct {
	// Name is what callers pass to Invoke, for example "get".
	Name string
	// Description says what the operation does, in one sentence.
	Description string
	// Args is the schema of the operation's arguments, a JSON object.
	Args Schema
	// Idempotent operations may be retried by the host after a retryable
	// error. The host retries an operation that is not idempotent only in
	// the calls that make themselves so: by IdempotentIf, or by the
	// arguments IdempotentArg and IdempotencyKeyArg where the operation
	// declares them.
	Idempotent bool
	// IdempotentIf, when set, makes the calls of an operation that is not
	// Idempotent retryable when they give its string argument Arg one of
	// Values: an HTTP request whose method is GET, HEAD, PUT, DELETE or
	// OPTIONS.
	IdempotentIf *ArgIn
	// Stream says whether the operation streams bytes, and which way. The
	// zero value means it does not.
	Stream StreamMode
}

// ArgIn is a condition on a call's arguments: the string argument Arg
// holds one of Values, compared exactly.
type ArgIn struct {
	Arg    string
	Values []string
}

// IdempotentArg is the name of a boolean argument by which a call marks
// itself safe to retry: an operation that declares an argument of this
// name, of type bool, is retried by the host's retry policy, after a
// retryable error, only in the calls that set it to true (the operation
// itself is not declared idempotent). The document capability's writes
// declare it.
const IdempotentArg = "idempotent"

// IdempotencyKeyArg is the name of a string argument that makes a call
// safe to retry when it is set: the key the backend deduplicates the
// call's repetitions by (an HTTP POST's Idempotency-Key header). An
// operation that declares it is retried by the host's retry policy only
// in the calls that give it a value other than "".
const IdempotencyKeyArg = "idempotency_key"

// StreamMode says which way a streaming operation moves bytes.
type StreamMode string

const (
	// StreamNone is an ordinary request and response.
	StreamNone StreamMode = ""
	// StreamUpload reads bytes from the caller (for example a file put).
	StreamUpload StreamMode = "upload"
	// StreamDownload writes bytes to the caller (for example a file get).
	StreamDownload StreamMode = "download"
	// StreamDuplex does both.
	StreamDuplex StreamMode = "duplex"
)

// ConfigureRequest asks a driver to configure one resource.
type ConfigureRequest struct {
	// Type is the resource type, one of those the driver described.
	Type string
	// Name is the resource's name, the second label of its block.
	Name string
	// Config is the resource's configuration as a JSON object, decoded
	// by the host with the type's schema and completed with defaults.
	Config json.RawMessage
}

// Decode decodes the configuration into v, a pointer to a struct tagged as
// described at [SchemaFor].
func (r ConfigureRequest) Decode(v any) error { return Decode(r.Config, v) }

// ValidateRequest asks a driver to check one resource's configuration.
type ValidateRequest struct {
	Type   string
	Name   string
	Config json.RawMessage
}

// Decode decodes the configuration into v; see [ConfigureRequest.Decode].
func (r ValidateRequest) Decode(v any) error { return Decode(r.Config, v) }

// InvokeRequest asks an instance to perform one operation.
type InvokeRequest struct {
	// Operation is one of the names the resource type described.
	Operation string
	// Args are the operation's arguments as a JSON object, checked by the
	// host against the operation's schema and completed with defaults.
	Args json.RawMessage
}

// Decode decodes the arguments into v, a pointer to a struct tagged as
// described at [SchemaFor].
func (r InvokeRequest) Decode(v any) error { return Decode(r.Args, v) }
