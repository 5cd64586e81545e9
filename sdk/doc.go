// Package sdk is what a nebula-resource driver plugin imports.
//
// A driver is a Go value that implements [Driver]. Its plugin binary is a
// thin main that calls [Serve]:
//
//	func main() { sdk.Serve(mydriver.New()) }
//
// Serve hides go-plugin, gRPC and protobuf entirely: the driver sees only the
// plain Go types of this package.
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
//  6. [Instance.Invoke] and [StreamInvoker.InvokeStream] (optional) perform
//     the operations the driver described.
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
