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

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
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

// otelPropagator is OpenTelemetry's own W3C trace context and baggage
// propagator, which the SDK's wire format must match. Only the tests use
// it (see the comment on traceparentKey).
var otelPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// incoming returns a context whose incoming metadata holds the pairs kv,
// as the plugin's server gives it to the interceptor.
func incoming(kv ...string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
}

func TestTraceparentIsReadAsTheSpecificationSays(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	tests := map[string]struct {
		header  string
		valid   bool
		sampled bool
	}{
		"sampled":                          {header: "00-" + traceID + "-" + spanID + "-01", valid: true, sampled: true},
		"not sampled":                      {header: "00-" + traceID + "-" + spanID + "-00", valid: true},
		"random flag kept":                 {header: "00-" + traceID + "-" + spanID + "-03", valid: true, sampled: true},
		"reserved flag in version 00":      {header: "00-" + traceID + "-" + spanID + "-09"},
		"a later version with more":        {header: "cc-" + traceID + "-" + spanID + "-01-what-the-future-holds", valid: true, sampled: true},
		"a later version's flags masked":   {header: "01-" + traceID + "-" + spanID + "-ff", valid: true, sampled: true},
		"version ff":                       {header: "ff-" + traceID + "-" + spanID + "-01"},
		"version 00 with more":             {header: "00-" + traceID + "-" + spanID + "-01-extra"},
		"upper case":                       {header: "00-" + strings.ToUpper(traceID) + "-" + spanID + "-01"},
		"trace ID of zeros":                {header: "00-" + strings.Repeat("0", 32) + "-" + spanID + "-01"},
		"span ID of zeros":                 {header: "00-" + traceID + "-" + strings.Repeat("0", 16) + "-01"},
		"short trace ID":                   {header: "00-" + traceID[1:] + "-" + spanID + "-01"},
		"not hex":                          {header: "00-" + traceID + "-" + spanID[1:] + "g-01"},
		"no flags":                         {header: "00-" + traceID + "-" + spanID},
		"empty":                            {header: ""},
		"a tracestate that does not parse": {header: "00-" + traceID + "-" + spanID + "-01", valid: true, sampled: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			kv := []string{traceparentKey, tt.header}
			if strings.HasPrefix(name, "a tracestate") {
				kv = append(kv, tracestateKey, "not a=tracestate==")
			}
			sc := trace.SpanContextFromContext(extractTrace(incoming(kv...)))
			if sc.IsValid() != tt.valid {
				t.Fatalf("%q read as %+v, want valid %v", tt.header, sc, tt.valid)
			}
			if !tt.valid {
				return
			}
			if sc.TraceID().String() != traceID || sc.SpanID().String() != spanID || !sc.IsRemote() || sc.IsSampled() != tt.sampled {
				t.Errorf("%q read as %s/%s remote %v sampled %v", tt.header, sc.TraceID(), sc.SpanID(), sc.IsRemote(), sc.IsSampled())
			}
		})
	}
}

func TestTraceContextAndBaggageCrossTheWire(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=v1,other=v2")
	if err != nil {
		t.Fatal(err)
	}
	sent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled | trace.FlagsRandom,
		TraceState: ts,
	})
	tenant, _ := baggage.NewMemberRaw("tenant", "acme corp")
	bag, _ := baggage.New(tenant)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sent), bag)

	kv := traceHeaders(ctx)
	want := []string{
		traceparentKey, "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-03",
		tracestateKey, "vendor=v1,other=v2",
		baggageKey, "tenant=acme%20corp",
	}
	if !slices.Equal(kv, want) {
		t.Errorf("headers %q, want %q", kv, want)
	}
	got := extractTrace(incoming(kv...))
	if sc := trace.SpanContextFromContext(got); !sc.Equal(sent.WithRemote(true)) {
		t.Errorf("received %+v, want %+v", sc, sent.WithRemote(true))
	}
	if v := baggage.FromContext(got).Member("tenant").Value(); v != "acme corp" {
		t.Errorf("baggage tenant %q", v)
	}
	if kv := traceHeaders(context.Background()); kv != nil {
		t.Errorf("a context without trace context sent %q", kv)
	}
}

// FuzzTraceContextCrossesAsOpenTelemetrySendsIt: what the plugin's side
// reads from any traceparent, tracestate and baggage headers is what
// OpenTelemetry's propagators read from them, and what the host's side
// writes for what it read is what they write.
func FuzzTraceContextCrossesAsOpenTelemetrySendsIt(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=v1", "tenant=acme")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", "", "")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-x", "a=b,c=d", "k=v;prop, k2=%20")
	f.Add("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00", "=", "=;")
	f.Add("ff-00000000000000000000000000000000-0000000000000000-00", "a=b,a=c", "k=v,k=w")
	f.Fuzz(func(t *testing.T, traceparent, tracestate, bag string) {
		carrier := propagation.MapCarrier{}
		var kv []string
		for _, h := range [][2]string{{traceparentKey, traceparent}, {tracestateKey, tracestate}, {baggageKey, bag}} {
			if h[1] != "" {
				carrier[h[0]] = h[1]
				kv = append(kv, h[0], h[1])
			}
		}
		ours := extractTrace(incoming(kv...))
		theirs := otelPropagator.Extract(context.Background(), carrier)
		if a, b := trace.SpanContextFromContext(ours), trace.SpanContextFromContext(theirs); !a.Equal(b) {
			t.Fatalf("span context read as %+v, OpenTelemetry reads %+v", a, b)
		}
		if a, b := members(baggage.FromContext(ours)), members(baggage.FromContext(theirs)); !slices.Equal(a, b) {
			t.Fatalf("baggage read as %q, OpenTelemetry reads %q", a, b)
		}
		sent := propagation.MapCarrier{}
		otelPropagator.Inject(theirs, sent)
		got := map[string]string{}
		written := traceHeaders(ours)
		for i := 0; i+1 < len(written); i += 2 {
			got[written[i]] = written[i+1]
		}
		if len(got) != len(sent) || got[traceparentKey] != sent[traceparentKey] || got[tracestateKey] != sent[tracestateKey] {
			t.Fatalf("wrote %q, OpenTelemetry writes %q", got, sent)
		}
		// A baggage's members are written in no particular order.
		a, _ := baggage.Parse(got[baggageKey])
		b, _ := baggage.Parse(sent[baggageKey])
		if !slices.Equal(members(a), members(b)) {
			t.Fatalf("wrote baggage %q, OpenTelemetry writes %q", got[baggageKey], sent[baggageKey])
		}
	})
}

// members returns b's members, each as it is written, sorted.
func members(b baggage.Baggage) []string {
	var out []string
	for _, m := range b.Members() {
		out = append(out, m.String())
	}
	slices.Sort(out)
	return out
}
