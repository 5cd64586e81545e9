package supervisor

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestTracingPassesTheCollectorInTheStandardVariables(t *testing.T) {
	if env := (Tracing{}).env(); env != nil {
		t.Errorf("no endpoint: %v, want nothing", env)
	}
	got := Tracing{
		Endpoint: "collector:4317",
		Headers:  map[string]string{"api-key": "a,b c=d", "x-team": "db"},
	}.env()
	want := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317",
		"OTEL_EXPORTER_OTLP_INSECURE": "false",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_HEADERS":  "api-key=a%2Cb%20c=d,x-team=db",
		"OTEL_TRACES_SAMPLER":         "parentbased_always_off",
	}
	if !equalMaps(got, want) {
		t.Errorf("env:\n got %v\nwant %v", got, want)
	}
	if got := (Tracing{Endpoint: "127.0.0.1:4317", Insecure: true}).env(); got["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://127.0.0.1:4317" || got["OTEL_EXPORTER_OTLP_INSECURE"] != "true" {
		t.Errorf("insecure: %v", got)
	}
	// The plugin block's env wins over what tracing adds.
	list := envList(map[string]string{"A": "tracing", "B": "tracing"}, map[string]string{"B": "plugin block"})
	if !slices.Equal(list, []string{"A=tracing", "B=plugin block"}) {
		t.Errorf("envList: %v", list)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// exported is a span an OTLP collector received.
type exported struct {
	name, traceID, parentSpanID, service string
}

// collector is an OTLP/gRPC trace collector that keeps what it receives.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu      sync.Mutex
	spans   []exported
	headers []string // the api-key metadata of each export
}

func (c *collector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	c.headers = append(c.headers, md.Get("api-key")...)
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, exported{
					name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId()),
					parentSpanID: hex.EncodeToString(s.GetParentSpanId()), service: service,
				})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) received() ([]exported, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans), slices.Clone(c.headers)
}

// TestPluginExportsTheSpansOfSampledCallsToTheCollector starts the test
// plugin with Tracing pointing at a collector, calls it with a sampled
// and an unsampled trace, and stops it: the plugin exported exactly the
// span of the sampled call, as a child of the caller's span, flushing it
// when it stopped.
func TestPluginExportsTheSpansOfSampledCallsToTheCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test plugin")
	}
	bin := filepath.Join(t.TempDir(), "nebula-plugin-probe")
	if out, err := exec.Command("go", "build", "-o", bin, "../internal/testplugin").CombinedOutput(); err != nil {
		t.Fatalf("build test plugin: %v\n%s", err, out)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	s := New(Config{
		Name: "probe", Path: bin,
		Env:     map[string]string{"GIVEN": "yes"},
		Tracing: Tracing{Endpoint: lis.Addr().String(), Insecure: true, Headers: map[string]string{"api-key": "k, 1"}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = s.Close(context.Background())
		}
	}()
	d, _, err := s.Driver()
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Configure(ctx, sdk.ConfigureRequest{Type: "probe", Name: "p", Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := res.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}

	out, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "env", Args: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"GIVEN=yes", "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + lis.Addr().String(), "OTEL_TRACES_SAMPLER=parentbased_always_off"} {
		if !strings.Contains(string(out.(json.RawMessage)), `"`+v+`"`) {
			t.Errorf("the plugin's environment lacks %s: %s", v, out)
		}
	}

	hostSpans := tracetest.NewInMemoryExporter()
	sampled := sdktrace.NewTracerProvider(sdktrace.WithSyncer(hostSpans))
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	call := func(tp *sdktrace.TracerProvider) (traceID, spanID string) {
		ctx, span := tp.Tracer("test").Start(ctx, "call")
		defer span.End()
		if _, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "traced", Args: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		return span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()
	}
	traceID, spanID := call(sampled)
	call(unsampled)

	// Stopping the plugin flushes its spans.
	closed = true
	began := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %v", time.Since(began))
	want := []exported{{name: "testplugin.traced", traceID: traceID, parentSpanID: spanID, service: "nebula-plugin-probe"}}
	got, headers := col.received()
	if !slices.Equal(got, want) {
		t.Errorf("the collector received %+v, want %+v", got, want)
	}
	if len(headers) == 0 || headers[0] != "k, 1" {
		t.Errorf("the collector received api-key %q, want %q", headers, "k, 1")
	}
}
