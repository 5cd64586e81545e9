// Package otelexport makes a nebula-resource plugin export its
// OpenTelemetry spans over OTLP/gRPC when the host asks it to. A plugin
// opts in in its main:
//
//	func main() { sdk.Serve(mydriver.New(), otelexport.Option()) }
//
// It is a module of its own (github.com/nebula-resource/nebula-resource/sdk/otelexport),
// so that the OpenTelemetry SDK and its OTLP exporter stay out of the
// plugins that do not export: the sdk module carries the host's trace
// context into the ctx a driver's methods receive, and depends on no more
// of OpenTelemetry than its API.
//
// What [Option] does when [sdk.Serve] starts:
//
//  1. It sets the global propagator to W3C trace context and baggage, so
//     that an instrumented client the driver uses (an otelhttp transport,
//     say) carries the host's trace on to the backend.
//  2. When the host exports its own spans, it starts the plugin with
//     OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_EXPORTER_OTLP_*
//     variables; Option then sets the global TracerProvider to one that
//     exports over OTLP/gRPC, as service nebula-plugin-<driver name>
//     (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it).
//  3. The provider records a span only when its parent from the host was
//     sampled (ParentBased(NeverSample)): the host decides, per call,
//     whether a trace is recorded.
//  4. When the host stops the plugin, Serve flushes and stops the provider.
//
// A plugin whose main sets the global TracerProvider or propagator before
// calling Serve keeps its own: Option replaces only OpenTelemetry's
// defaults.
package otelexport

import (
	"context"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Setting configures [Option].
type Setting func(*config)

type config struct {
	// spanProcessors record the plugin's sampled spans beside the OTLP
	// exporter, or without it when the host does not export.
	spanProcessors []sdktrace.SpanProcessor
}

// WithSpanProcessor makes [Option] record the plugin's sampled spans with
// sp too, beside the OTLP exporter it builds when the host asks the plugin
// to export, and also when it does not. It is for tests, and for a plugin
// that also sends its spans elsewhere: pass
// sdktrace.NewBatchSpanProcessor(exporter) (or NewSimpleSpanProcessor in a
// test). sp is shut down when Serve returns. It has no effect when main
// has set the global TracerProvider itself.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Setting {
	return func(c *config) { c.spanProcessors = append(c.spanProcessors, sp) }
}

// Option returns the option of [sdk.Serve] that sets up the export of the
// plugin's spans described in the package's documentation. Nothing happens
// until Serve runs: calling Option, or importing this package, changes no
// global state.
func Option(settings ...Setting) sdk.ServeOption {
	var cfg config
	for _, s := range settings {
		s(&cfg)
	}
	return sdk.WithTelemetry(func(info sdk.DriverInfo) func(context.Context) error {
		return start(&cfg, info, os.Getenv)
	})
}

// propagator is the one the host and the SDK use between them (W3C trace
// context and baggage), for the driver's own outgoing calls.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// The global tracer provider and propagator as they were when this package
// was initialized: OpenTelemetry's defaults, unless a package initialized
// earlier set its own. start replaces only these defaults, never what the
// plugin's main set.
var (
	initialTracerProvider = otel.GetTracerProvider()
	initialPropagator     = otel.GetTextMapPropagator()
)

// exportEnv are the environment variables that ask a plugin to export its
// spans over OTLP/gRPC. The host sets OTEL_EXPORTER_OTLP_ENDPOINT (with
// OTEL_EXPORTER_OTLP_INSECURE and OTEL_EXPORTER_OTLP_HEADERS) when its own
// tracing is configured; the exporter reads them itself.
var exportEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}

// start sets the plugin process's global propagator and, when there is
// somewhere to send spans, its global TracerProvider, unless main set them
// already. It returns the function that flushes and stops the provider it
// built, or nil when it built none.
func start(cfg *config, info sdk.DriverInfo, getenv func(string) string) (shutdown func(context.Context) error) {
	if otel.GetTextMapPropagator() == initialPropagator {
		otel.SetTextMapPropagator(propagator)
	}
	if otel.GetTracerProvider() != initialTracerProvider {
		return nil
	}
	procs := append([]sdktrace.SpanProcessor(nil), cfg.spanProcessors...)
	export := false
	for _, k := range exportEnv {
		export = export || getenv(k) != ""
	}
	if export {
		// The exporter reads the endpoint, TLS and headers from the
		// OTEL_EXPORTER_OTLP_* environment. It connects lazily: an
		// unreachable collector does not delay the start.
		exp, err := otlptracegrpc.New(context.Background())
		if err != nil {
			slog.Warn("tracing: cannot create the OTLP exporter; the plugin's spans are not exported", "error", err)
		} else {
			procs = append(procs, sdktrace.NewBatchSpanProcessor(exp))
			otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
				slog.Warn("tracing: OpenTelemetry reported an error", "error", err)
			}))
		}
	}
	if len(procs) == 0 {
		return nil
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
		sdktrace.WithResource(pluginResource(info)),
	}
	for _, p := range procs {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown
}

// pluginResource describes the plugin process in its spans: service.name
// nebula-plugin-<driver>, unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES in the plugin's environment say otherwise.
func pluginResource(info sdk.DriverInfo) *sdkresource.Resource {
	res, err := sdkresource.New(context.Background(),
		sdkresource.WithAttributes(
			attribute.String("service.name", "nebula-plugin-"+info.Name),
			attribute.String("service.version", info.Version),
		),
		sdkresource.WithFromEnv(),
		sdkresource.WithTelemetrySDK(),
	)
	if res == nil {
		slog.Warn("tracing: cannot describe the plugin's resource", "error", err)
		return sdkresource.Empty()
	}
	return res
}
