package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

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

func TestTelemetryStartsInOrderAndStopsInReverseWithADeadline(t *testing.T) {
	var events []string
	var deadlines []bool
	starter := func(name string, stopErr error) ServeOption {
		return WithTelemetry(func(info DriverInfo) func(context.Context) error {
			events = append(events, "start "+name+" "+info.Name)
			return func(ctx context.Context) error {
				_, ok := ctx.Deadline()
				deadlines = append(deadlines, ok)
				events = append(events, "stop "+name)
				return stopErr
			}
		})
	}
	var cfg serveConfig
	for _, o := range []ServeOption{
		starter("a", nil),
		WithTelemetry(func(DriverInfo) func(context.Context) error { events = append(events, "start b"); return nil }),
		starter("c", errors.New("flush failed")),
	} {
		o(&cfg)
	}
	stop := startTelemetry(&cfg, DriverInfo{Name: "probe"})
	if want := []string{"start a probe", "start b", "start c probe"}; !slices.Equal(events, want) {
		t.Fatalf("started %q, want %q", events, want)
	}
	events = nil
	stop()
	if want := []string{"stop c", "stop a"}; !slices.Equal(events, want) {
		t.Errorf("stopped %q, want %q (b returned no stop function)", events, want)
	}
	if !slices.Equal(deadlines, []bool{true, true}) {
		t.Errorf("stop functions got a deadline: %v, want every one", deadlines)
	}
}

func TestServeWithoutTelemetryStopsNothing(t *testing.T) {
	startTelemetry(&serveConfig{}, DriverInfo{Name: "probe"})()
}

func TestLogLinesCarryTheTraceAndSpanOfTheirContext(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(WithTraceIDs(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: hclogKeys}))).With("k", "v")
	ctx, sc := remoteParent(false)
	log.InfoContext(ctx, "with")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	var with, without map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &with)
	_ = json.Unmarshal([]byte(lines[1]), &without)
	if with["trace_id"] != sc.TraceID().String() || with["span_id"] != sc.SpanID().String() || with["k"] != "v" {
		t.Errorf("line logged with a span: %s", lines[0])
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("line logged without a span: %s", lines[1])
	}
}
