package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/internal/otlptest"
)

// tracedResult is what the probe's "traced" operation returns: the trace
// context it received from the host, and the span it started under it.
type tracedResult struct {
	ParentValid   bool   `json:"parent_valid"`
	ParentRemote  bool   `json:"parent_remote"`
	ParentSampled bool   `json:"parent_sampled"`
	ParentTraceID string `json:"parent_trace_id"`
	ParentSpanID  string `json:"parent_span_id"`
	TraceID       string `json:"trace_id"`
	SpanID        string `json:"span_id"`
	Recording     bool   `json:"recording"`
}

// pluginSpan is a span the probe recorded, as its "spans" operation
// returns it.
type pluginSpan struct {
	Name         string `json:"name"`
	TraceID      string `json:"trace_id"`
	SpanID       string `json:"span_id"`
	ParentSpanID string `json:"parent_span_id"`
	ParentRemote bool   `json:"parent_remote"`
	Service      string `json:"service"`
}

// spanRecordingProbe is the probe plugin recording its spans in memory,
// through the SDK's tracer provider.
const spanRecordingProbe = `env = { NEBULA_TESTPLUGIN_SPANS = "1" }`

func invokeTraced(t *testing.T, h *host.Host, msg string) tracedResult {
	t.Helper()
	args, _ := json.Marshal(map[string]string{"message": msg})
	out, err := h.Invoke(t.Context(), "probe.p", "traced", string(args))
	if err != nil {
		t.Fatalf("traced: %v", err)
	}
	var res tracedResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("traced returned %s: %v", out, err)
	}
	return res
}

// pluginSpans returns the probe's recorded spans named name.
func pluginSpans(t *testing.T, h *host.Host, name string) []pluginSpan {
	t.Helper()
	out, err := h.Invoke(t.Context(), "probe.p", "spans", nil)
	if err != nil {
		t.Fatalf("spans: %v", err)
	}
	var res struct{ Spans []pluginSpan }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("spans returned %s: %v", out, err)
	}
	var named []pluginSpan
	for _, s := range res.Spans {
		if s.Name == name {
			named = append(named, s)
		}
	}
	return named
}

// TestPluginSpansAreChildrenOfTheHostCallSpan checks that the trace context
// of a call crosses gRPC into the plugin: the span the plugin starts with
// the global tracer, from the ctx the SDK gave it, is in the host's trace,
// with the host's call span as its parent; and that the line the plugin
// logs under it reaches the host's log with its trace_id and span_id.
func TestPluginSpansAreChildrenOfTheHostCallSpan(t *testing.T) {
	hostSpans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(hostSpans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := startHost(t, probeConfig(t, spanRecordingProbe), host.WithLogger(log), host.WithTracerProvider(tp))

	got := invokeTraced(t, h, "inside the plugin's span")

	var calls []tracetest.SpanStub
	for _, s := range hostSpans.GetSpans() {
		if s.Name == "traced probe.p" {
			calls = append(calls, s)
		}
	}
	if len(calls) != 1 {
		t.Fatalf("the host recorded %d spans named %q, want 1", len(calls), "traced probe.p")
	}
	call := calls[0].SpanContext
	traceID, callID := call.TraceID().String(), call.SpanID().String()

	// What the driver's Invoke received.
	if !got.ParentValid || !got.ParentRemote || !got.ParentSampled {
		t.Errorf("the plugin's ctx carried %+v, want a valid, remote, sampled span context", got)
	}
	if got.ParentTraceID != traceID || got.ParentSpanID != callID {
		t.Errorf("the plugin's ctx carried span %s/%s, want the host's call span %s/%s", got.ParentTraceID, got.ParentSpanID, traceID, callID)
	}
	if !got.Recording {
		t.Error("the plugin's span is not recording, though the host sampled the trace")
	}

	// What the plugin recorded.
	spans := pluginSpans(t, h, "testplugin.traced")
	if len(spans) != 1 {
		t.Fatalf("the plugin recorded %d spans named testplugin.traced, want 1: %+v", len(spans), spans)
	}
	s := spans[0]
	if s.TraceID != traceID {
		t.Errorf("plugin span trace %s, want the host's %s", s.TraceID, traceID)
	}
	if s.ParentSpanID != callID || !s.ParentRemote {
		t.Errorf("plugin span parent %s (remote %v), want the host's call span %s, remote", s.ParentSpanID, s.ParentRemote, callID)
	}
	if s.SpanID != got.SpanID {
		t.Errorf("recorded span %s, but the driver started %s", s.SpanID, got.SpanID)
	}
	if s.Service != "nebula-plugin-probe" {
		t.Errorf("plugin span service.name %q, want nebula-plugin-probe", s.Service)
	}

	// The plugin's log line, in the host's log.
	waitFor(t, 5*time.Second, "the plugin's log line with its trace and span", func() bool {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(line, `"msg":"inside the plugin's span"`) && strings.Contains(line, `"plugin":"probe"`) &&
				strings.Contains(line, `"trace_id":"`+traceID+`"`) && strings.Contains(line, `"span_id":"`+s.SpanID+`"`) {
				return true
			}
		}
		return false
	})
}

// TestNoTraceContextReachesThePluginWhenTheHostDoesNotTrace checks that a
// host without a tracer provider sends no trace context: the plugin's ctx
// has no span, the span the plugin starts is a root, and the SDK's sampler
// (parent-based, never sampling a root) records nothing. Calls work as
// usual.
func TestNoTraceContextReachesThePluginWhenTheHostDoesNotTrace(t *testing.T) {
	h := startHost(t, probeConfig(t, spanRecordingProbe), host.WithLogger(quietLogger()))

	got := invokeTraced(t, h, "untraced")
	if got.ParentValid {
		t.Errorf("the plugin's ctx carried a span context %s/%s from a host that does not trace", got.ParentTraceID, got.ParentSpanID)
	}
	if got.Recording {
		t.Error("the plugin recorded a span that has no parent from the host")
	}
	if spans := pluginSpans(t, h, "testplugin.traced"); len(spans) != 0 {
		t.Errorf("the plugin recorded %+v; want nothing without the host's trace", spans)
	}
	if _, err := h.Invoke(t.Context(), "probe.p", "echo", `{"message":"still works"}`); err != nil {
		t.Fatal(err)
	}
}

// TestTheHostsSamplingDecisionHoldsInThePlugin checks that a trace the host
// does not sample reaches the plugin unsampled, so the plugin's span joins
// the trace but is not recorded: the host decides sampling.
func TestTheHostsSamplingDecisionHoldsInThePlugin(t *testing.T) {
	hostSpans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(hostSpans), sdktrace.WithSampler(sdktrace.NeverSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := startHost(t, probeConfig(t, spanRecordingProbe), host.WithLogger(quietLogger()), host.WithTracerProvider(tp))

	got := invokeTraced(t, h, "unsampled")
	if !got.ParentValid || got.ParentSampled {
		t.Errorf("the plugin's ctx carried %+v, want a valid, unsampled span context", got)
	}
	if got.TraceID != got.ParentTraceID {
		t.Errorf("the plugin's span is in trace %s, want the host's %s", got.TraceID, got.ParentTraceID)
	}
	if got.Recording {
		t.Error("the plugin records a span of a trace the host did not sample")
	}
	if spans := pluginSpans(t, h, "testplugin.traced"); len(spans) != 0 {
		t.Errorf("the plugin recorded %+v from an unsampled trace", spans)
	}
	if n := len(hostSpans.GetSpans()); n != 0 {
		t.Errorf("the host recorded %d spans with a never-sampling provider", n)
	}
}

// TestTelemetryBlockExportsHostAndPluginSpansOverOTLP is the product's own
// path: a telemetry { tracing } block, no tracer from the embedder, an
// OTLP collector; the host and the plugin both export, the plugin's span
// under the host's call span, and both flush when the host closes.
func TestTelemetryBlockExportsHostAndPluginSpansOverOTLP(t *testing.T) {
	col := otlptest.Start(t)
	cfg := loadHCL(t, fmt.Sprintf(`
plugin "probe" {
  path = %q
}
resource "probe" "p" {}
telemetry {
  tracing {
    endpoint = %q
    insecure = true
    headers  = { "api-key" = "k1" }
  }
}`, pluginPath("probe"), col.Addr()))
	h, err := host.New(cfg, host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Invoke(t.Context(), "probe.p", "traced", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var call, child otlptest.Span
	for _, s := range col.Spans() {
		switch s.Name {
		case "traced probe.p":
			call = s
		case "testplugin.traced":
			child = s
		}
	}
	if call.Service != "nebula-host" || child.Service != "nebula-plugin-probe" {
		t.Fatalf("spans received: %+v", col.Spans())
	}
	if child.TraceID != call.TraceID || child.ParentSpanID != call.SpanID {
		t.Fatalf("the plugin span %+v is not a child of the host call span %+v", child, call)
	}
	if got := col.Header("api-key"); len(got) == 0 || got[0] != "k1" {
		t.Errorf("the collector got api-key %q", got)
	}
}
