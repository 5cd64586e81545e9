package otelexport

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// restoreGlobals puts OpenTelemetry's global provider and propagator back
// as they were before start, when the test ends.
func restoreGlobals(t *testing.T) {
	t.Cleanup(func() {
		if otel.GetTracerProvider() != initialTracerProvider {
			otel.SetTracerProvider(initialTracerProvider)
		}
		if otel.GetTextMapPropagator() != initialPropagator {
			otel.SetTextMapPropagator(initialPropagator)
		}
	})
}

func noEnv(string) string { return "" }

var testInfo = sdk.DriverInfo{Name: "probe", Version: "1.2.3"}

// remoteParent returns a context carrying a span context from the host.
func remoteParent(sampled bool) (context.Context, trace.SpanContext) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: map[bool]trace.TraceFlags{true: trace.FlagsSampled}[sampled],
		Remote:     true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc), sc
}

func TestStartRecordsOnlySpansTheHostSampled(t *testing.T) {
	restoreGlobals(t)
	spans := tracetest.NewInMemoryExporter()
	cfg := config{}
	WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans))(&cfg)
	shutdown := start(&cfg, testInfo, noEnv)
	if shutdown == nil {
		t.Fatal("start built no provider despite a span processor")
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Fatalf("global tracer provider is %T", otel.GetTracerProvider())
	}
	if f := otel.GetTextMapPropagator().Fields(); !slices.Contains(f, "traceparent") || !slices.Contains(f, "baggage") {
		t.Errorf("global propagator fields %v, want W3C trace context and baggage", f)
	}

	tracer := otel.Tracer("test")
	_, root := tracer.Start(context.Background(), "root")
	root.End()
	ctx, unsampled := remoteParent(false)
	_, notRecorded := tracer.Start(ctx, "unsampled")
	notRecorded.End()
	ctx, parent := remoteParent(true)
	_, child := tracer.Start(ctx, "child")
	child.End()
	if root.IsRecording() || notRecorded.IsRecording() {
		t.Error("a span without a sampled parent from the host is recorded")
	}
	if notRecorded.SpanContext().TraceID() != unsampled.TraceID() {
		t.Error("a span under an unsampled parent left its trace")
	}

	got := spans.GetSpans() // before shutdown, which empties the exporter
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "child" {
		t.Fatalf("recorded %v, want only the child of the sampled parent", got)
	}
	if got[0].Parent.SpanID() != parent.SpanID() || got[0].SpanContext.TraceID() != parent.TraceID() {
		t.Errorf("child's parent %v, want %v", got[0].Parent, parent)
	}
	if v, _ := got[0].Resource.Set().Value("service.name"); v.AsString() != "nebula-plugin-probe" {
		t.Errorf("service.name %q", v.AsString())
	}
}

func TestStartLeavesWhatMainSetAlone(t *testing.T) {
	restoreGlobals(t)
	tp := noop.NewTracerProvider()
	prop := propagation.TraceContext{}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	cfg := config{}
	WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter()))(&cfg)
	env := func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return "http://127.0.0.1:1"
		}
		return ""
	}
	if shutdown := start(&cfg, testInfo, env); shutdown != nil {
		t.Error("start built a provider though main had set one")
	}
	if otel.GetTracerProvider() != trace.TracerProvider(tp) {
		t.Errorf("global tracer provider replaced by %T", otel.GetTracerProvider())
	}
	if _, ok := otel.GetTextMapPropagator().(propagation.TraceContext); !ok {
		t.Errorf("global propagator replaced by %T", otel.GetTextMapPropagator())
	}
}

func TestStartWithNowhereToSendSpansBuildsNoProvider(t *testing.T) {
	restoreGlobals(t)
	if shutdown := start(&config{}, testInfo, noEnv); shutdown != nil {
		t.Error("start built a provider with nowhere to send spans")
	}
	if otel.GetTracerProvider() != initialTracerProvider {
		t.Errorf("global tracer provider set to %T", otel.GetTracerProvider())
	}
	// The propagator is set all the same: the driver's own outgoing calls
	// carry the host's trace on.
	if f := otel.GetTextMapPropagator().Fields(); !slices.Contains(f, "traceparent") {
		t.Errorf("global propagator fields %v", f)
	}
}

// collector is an OTLP/gRPC trace collector that keeps the names of the
// spans it receives.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.names = append(c.names, s.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestStartExportsOverOTLPWhenTheEnvironmentAsks(t *testing.T) {
	restoreGlobals(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	// As the host's supervisor sets them.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")

	shutdown := start(&config{}, testInfo, func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return "http://" + lis.Addr().String()
		}
		return ""
	})
	if shutdown == nil {
		t.Fatal("start built no provider though an endpoint is set")
	}
	ctx, _ := remoteParent(true)
	_, span := otel.Tracer("test").Start(ctx, "exported")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if !slices.Equal(col.names, []string{"exported"}) {
		t.Errorf("collector received %v", col.names)
	}
}
