package sdk

import (
	"context"
	"github.com/nebula-resource/nebula-resource/sdk/internal/mux"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Trace context crosses from the host to a plugin in the gRPC metadata of
// each call, as W3C trace context (traceparent, tracestate) and baggage.
// The host's client interceptors inject it from the call's context; the
// plugin's server interceptors extract it into the context the driver's
// methods receive, so a span the driver starts is a child of the host's
// call span.
//
// These small interceptors are used rather than otelgrpc's stats handlers
// on purpose: they only carry the context and start no spans of their own,
// so the plugin's spans sit directly under the host's call span instead of
// under an extra pair of RPC spans that would say nothing the call span
// does not.

// propagator is the wire format of trace context between the host and a
// plugin. It is part of the protocol, so it is fixed here rather than read
// from the process's global propagator.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// GRPCDialOptions returns the gRPC dial options a host uses for its
// connection to a plugin (go-plugin's ClientConfig.GRPCDialOptions): they
// send each call's trace context to the plugin. Plugin authors do not use
// them.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(injectUnary),
		grpc.WithChainStreamInterceptor(injectStream),
	}
}

// GRPCServerOptions returns the gRPC server options a plugin serves with:
// they give each call the trace context the host sent. [Serve] uses them;
// so does sdktest.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(extractUnary),
		grpc.ChainStreamInterceptor(extractStream),
	}
}

// injectTrace adds ctx's trace context, if any, to its outgoing metadata.
func injectTrace(ctx context.Context) context.Context {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	if len(c) == 0 {
		return ctx
	}
	kv := make([]string, 0, 2*len(c))
	for k, v := range c {
		kv = append(kv, k, v)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func injectUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(injectTrace(ctx), method, req, reply, cc, opts...)
}

func injectStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(injectTrace(ctx), desc, cc, method, opts...)
}

// extractTrace returns ctx with the trace context of its incoming
// metadata: a remote span context the driver's spans are children of.
func extractTrace(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok || len(md) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, metadataCarrier(md))
}

func extractUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(extractTrace(ctx), req)
}

func extractStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &tracedStream{ServerStream: ss, ctx: extractTrace(ss.Context())})
}

// tracedStream is a server stream whose context carries the host's trace
// context.
type tracedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *tracedStream) Context() context.Context { return s.ctx }

// SendLast keeps the stream's one-frame end (mux.SendLast).
func (s *tracedStream) SendLast(m any) error { return mux.SendLast(s.ServerStream, m) }

// metadataCarrier reads and writes trace context in gRPC metadata.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// The global tracer provider and propagator as they were when this package
// was initialized: OpenTelemetry's defaults, unless a package initialized
// earlier set its own. Serve replaces only these defaults, never what the
// plugin's main set.
var (
	initialTracerProvider = otel.GetTracerProvider()
	initialPropagator     = otel.GetTextMapPropagator()
)

// WithSpanProcessor makes [Serve] record the plugin's sampled spans with
// sp too, beside the OTLP exporter it builds when the host asks the plugin
// to export (see [Serve]). It is for tests, and for a plugin that also
// sends its spans elsewhere: pass sdktrace.NewBatchSpanProcessor(exporter)
// (or NewSimpleSpanProcessor in a test). Serve shuts sp down when it
// returns. It has no effect when main has set the global TracerProvider
// itself.
func WithSpanProcessor(sp sdktrace.SpanProcessor) ServeOption {
	return func(c *serveConfig) { c.spanProcessors = append(c.spanProcessors, sp) }
}

// exportEnv are the environment variables that ask a plugin to export its
// spans over OTLP/gRPC. The host sets OTEL_EXPORTER_OTLP_ENDPOINT (with
// OTEL_EXPORTER_OTLP_INSECURE and OTEL_EXPORTER_OTLP_HEADERS) when its own
// tracing is configured; the exporter reads them itself.
var exportEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}

// startTracing sets the plugin process's global propagator and, when there
// is somewhere to send spans, its global TracerProvider, unless main set
// them already. It returns the function that flushes and stops the
// provider it built, or nil when it built none.
//
// The provider samples a span only when its parent was sampled
// (ParentBased(NeverSample)): the host decides, per call, whether a trace
// is recorded, and a span the plugin starts without the host's context is
// never recorded.
func startTracing(cfg *serveConfig, info DriverInfo, getenv func(string) string) (shutdown func(context.Context) error) {
	if otel.GetTextMapPropagator() == initialPropagator {
		// The driver's own outgoing calls (an instrumented HTTP client,
		// say) then carry the trace on to its backend.
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
func pluginResource(info DriverInfo) *sdkresource.Resource {
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

// WithTraceIDs wraps h so that records logged with a context that carries
// a span get trace_id and span_id attributes. Serve logs through it: the
// host's call span, which Serve gives the driver's methods, or a span the
// driver started from it, then shows on the plugin's log lines, so a line
// can be found from its trace. The host logs through it too.
func WithTraceIDs(h slog.Handler) slog.Handler { return traceLogHandler{h} }

type traceLogHandler struct{ slog.Handler }

func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceLogHandler{h.Handler.WithAttrs(as)}
}

func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{h.Handler.WithGroup(name)}
}
