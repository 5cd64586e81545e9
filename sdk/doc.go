// Package sdk is what a nebula-resource driver plugin imports.
//
// A driver is a Go value that implements [Driver], usually the one
// [NewDriver] makes from [ResourceDef]s (see "Typed resource types"
// below). Its plugin binary is a thin main that calls [Serve]:
//
//	func main() { sdk.Serve(mydriver.New()) }
//
// Serve hides the handshake with the host (go-plugin's, spoken without
// go-plugin), gRPC and protobuf entirely: the driver sees only the plain Go
// types of this package.
//
// # Typed resource types
//
// A driver written on the typed API declares each resource type once,
// from the struct of its configuration and the operations of its
// instances, and leaves the rest to the SDK:
//
//	type Config struct {
//		Greeting string `nebula:"greeting" default:"Hello" doc:"How to greet."`
//	}
//
//	type GreetArgs struct {
//		Name string `nebula:"name,required" doc:"Who to greet."`
//	}
//
//	type GreetResult struct {
//		Message string `json:"message"`
//	}
//
//	func (i *Instance) Greet(ctx context.Context, a GreetArgs) (GreetResult, error) {
//		return GreetResult{Message: i.greeting + ", " + a.Name}, nil
//	}
//
//	var greeter = sdk.ResourceDef[Config, *Instance]{
//		Name:        "greeter",
//		Description: "Says hello.",
//		Configure:   configure, // func(ctx, name string, cfg Config) (sdk.Resource, error)
//		Operations: []sdk.Op[*Instance]{
//			sdk.NewOp("greet", "Greets someone.", (*Instance).Greet).Idempotent(),
//		},
//	}
//
//	func New() sdk.Driver { return sdk.NewDriver("greeter", "1.0.0", greeter) }
//
// From these the SDK publishes the configuration's and each operation's
// schema ([SchemaFor]), decodes the configuration once for ValidateConfig
// and once for Configure and hands it to Configure already typed, and
// decodes each call's arguments into the operation's argument struct
// before it calls the method. A configuration or argument struct may
// check itself beyond its schema with a method
//
//	Validate() error
//
// whose error (one, or several joined with errors.Join; [AttributeError]
// points at an attribute) the caller gets as invalid_argument. The
// optional interfaces of an instance (Resetter, SessionReporter,
// SQLInstance, Batcher) work as they do for any instance: the typed API
// replaces Invoke and InvokeStream, not them.
//
// # Lifecycle
//
// The host drives every resource through these steps, in order:
//
//  1. [Driver.Info] describes the driver once per plugin start: its resource
//     types, each with a config [Schema] (usually derived from a tagged Go
//     struct with [SchemaFor]), capabilities, pooling mode and operations.
//  2. [ConfigValidator.ValidateConfig] (optional) checks a decoded config
//     beyond what the schema expresses.
//  3. [Driver.Configure] turns a config into a [Resource]. One plugin process
//     serves every resource of its types, so Configure is called once per
//     resource block in the host's configuration.
//  4. [Resource.Open] opens an [Instance]: one session with the backend.
//     The host's pool decides how many exist and who uses them.
//  5. [Instance.Check] reports health; [Resetter.Reset] (optional) returns an
//     instance to a clean state between leases.
//  6. The operations the driver described: typed methods of the instance
//     declared with [ResourceDef], [NewOp] and [NewStreamOp], or, for an
//     instance that routes them itself, [Invoker.Invoke] and
//     [StreamInvoker.InvokeStream]; the host calls either through
//     [ResourceType.Invoke].
//  7. [Instance.Close] ends a session; [Resource.Close] ends a resource
//     (the protocol's Unconfigure).
//
// # Errors
//
// Return errors made with [Errorf] or [WrapError] so their [Kind] survives the
// trip to the host, which retries only retryable kinds of idempotent
// operations. An error without a kind arrives as [KindInternal].
//
// # Tracing and logging
//
// The ctx each driver method receives carries the trace context of the
// host's call, sent in the call's gRPC metadata: spans started from it with
// the global tracer (otel.Tracer) are children of the host's call span, and
// lines logged with it (slog.InfoContext) carry trace_id and span_id. The
// SDK exports nothing itself: a plugin that exports its spans when the host
// exports its own opts in with the sdk/otelexport module, a module of its
// own so that the OpenTelemetry SDK and its exporter stay out of the other
// plugins. See [Serve] and [WithTelemetry].
//
// # Sensitive values
//
// Config fields tagged sensitive are never logged by the host or by Serve.
// A driver must not put them in error messages either.
package sdk
