package sdk

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/nebula-resource/nebula-resource/sdk/internal/mux"
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

// The wire format of a call's trace context is part of the protocol: W3C
// trace context (https://www.w3.org/TR/trace-context/) and baggage
// (https://www.w3.org/TR/baggage/) under their header names, written and
// read as OpenTelemetry's propagation.TraceContext and propagation.Baggage
// write and read them (FuzzTraceContextCrossesAsOpenTelemetrySendsIt
// checks that they agree), so it is fixed here rather than taken from the
// process's global propagator. It is written out on the OpenTelemetry
// API's trace and baggage packages rather than taken from
// go.opentelemetry.io/otel/propagation: that package's tests import
// OpenTelemetry's globals, which would put five more modules (logr, stdr,
// metric, log, auto/sdk) in the go.sum of every plugin, since go mod tidy
// keeps the checksums of the tests of every package a module builds
// (scripts/cicheck's TestThirdPartyPluginPullsOnlyTheSDK).
const (
	traceparentKey = "traceparent"
	tracestateKey  = "tracestate"
	baggageKey     = "baggage"
)

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
	kv := traceHeaders(ctx)
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// traceHeaders returns ctx's trace context as metadata pairs: traceparent,
// and tracestate when it is not empty, when ctx carries a valid span
// context; baggage when it carries baggage.
func traceHeaders(ctx context.Context) []string {
	var kv []string
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		kv = append(kv, traceparentKey, traceparent(sc))
		if ts := sc.TraceState().String(); ts != "" {
			kv = append(kv, tracestateKey, ts)
		}
	}
	if b := baggage.FromContext(ctx).String(); b != "" {
		kv = append(kv, baggageKey, b)
	}
	return kv
}

// traceparent formats sc as a traceparent of version 00, keeping only the
// flags the specification defines: sampled and random.
func traceparent(sc trace.SpanContext) string {
	traceID, spanID := sc.TraceID(), sc.SpanID()
	flags := sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom)
	b := make([]byte, 0, len("00-")+32+1+16+1+2)
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, traceID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, spanID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, []byte{byte(flags)})
	return string(b)
}

func injectUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(injectTrace(ctx), method, req, reply, cc, opts...)
}

func injectStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(injectTrace(ctx), desc, cc, method, opts...)
}

// extractTrace returns ctx with the trace context of its incoming
// metadata: a remote span context the driver's spans are children of, and
// the baggage. A traceparent that does not parse is ignored, and so is a
// tracestate that does not (the span context is kept); of a baggage header
// partly wrong, the members that parse are kept.
func extractTrace(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok || len(md) == 0 {
		return ctx
	}
	if scc, ok := parseTraceparent(firstValue(md, traceparentKey)); ok {
		scc.TraceState, _ = trace.ParseTraceState(firstValue(md, tracestateKey))
		scc.Remote = true
		if sc := trace.NewSpanContext(scc); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	if h := firstValue(md, baggageKey); h != "" {
		if bag, _ := baggage.Parse(h); bag.Len() > 0 {
			ctx = baggage.ContextWithBaggage(ctx, bag)
		}
	}
	return ctx
}

// parseTraceparent reads a traceparent header as OpenTelemetry does:
// version 00 with exactly its four fields and no reserved flag set, or a
// later version (not ff) whose first four fields are read and the rest
// ignored; hex in lower case. The IDs are checked by the caller
// (SpanContext.IsValid: not all zeros).
func parseTraceparent(h string) (scc trace.SpanContextConfig, ok bool) {
	var version, flags [1]byte
	if h == "" || !hexField(version[:], &h) || version[0] == 0xff ||
		!hexField(scc.TraceID[:], &h) || !hexField(scc.SpanID[:], &h) || !hexField(flags[:], &h) {
		return trace.SpanContextConfig{}, false
	}
	if version[0] == 0 && (h != "" || flags[0] > 3) {
		return trace.SpanContextConfig{}, false
	}
	scc.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	return scc, true
}

// hexField decodes the field of *h up to its first dash into dst, which it
// must fill exactly, in lower-case hex, and leaves the rest after the dash
// in *h.
func hexField(dst []byte, h *string) bool {
	field, rest, _ := strings.Cut(*h, "-")
	*h = rest
	if len(field) != 2*len(dst) || strings.ContainsAny(field, "ABCDEF") {
		return false
	}
	_, err := hex.Decode(dst, []byte(field))
	return err == nil
}

// firstValue returns the first value of key in md, or "".
func firstValue(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
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

// WithTelemetry makes [Serve] start the plugin's telemetry: Serve calls
// start once, after it has set up slog's default logger and before it
// serves the driver, with the driver's [DriverInfo]; it calls the stop
// function start returns (when not nil) once the host has stopped the
// plugin, before it closes the driver's resources, with a context that
// ends after a second, since the host kills a plugin that has not exited
// 2s after it asked it to stop. Several WithTelemetry options start in
// order and stop in reverse; an error from stop is logged.
//
// The SDK itself exports nothing, so that a plugin that does not export
// telemetry does not depend on an exporter: a plugin opts in with an
// option built on this one, such as sdk/otelexport's, which exports the
// plugin's spans over OTLP when the host asks:
//
//	sdk.Serve(mydriver.New(), otelexport.Option())
//
// start may set process-wide state (OpenTelemetry's global providers, say):
// the process is the plugin's.
func WithTelemetry(start func(DriverInfo) (stop func(context.Context) error)) ServeOption {
	return func(c *serveConfig) { c.telemetry = append(c.telemetry, start) }
}

// startTelemetry starts the telemetry of cfg's WithTelemetry options and
// returns the function that stops it (see WithTelemetry).
func startTelemetry(cfg *serveConfig, info DriverInfo) (stop func()) {
	var stops []func(context.Context) error
	for _, start := range cfg.telemetry {
		if s := start(info); s != nil {
			stops = append(stops, s)
		}
	}
	return func() {
		if len(stops) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i](ctx); err != nil {
				slog.Warn("telemetry: stopping it failed; what it had not sent is lost", "error", err)
			}
		}
	}
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
