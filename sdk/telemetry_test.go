package sdk_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// seenDriver reports, from every method that takes a context, the trace
// context and baggage that method received.
type seenDriver struct{ seen chan seen }

type seen struct {
	method string
	span   trace.SpanContext
	tenant string
}

func (d seenDriver) saw(ctx context.Context, method string) {
	d.seen <- seen{method: method, span: trace.SpanContextFromContext(ctx), tenant: baggage.FromContext(ctx).Member("tenant").Value()}
}

func (seenDriver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "seen", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name: "seen", Description: "Reports the trace context it receives.",
		Operations: []sdk.Operation{{Name: "op", Description: "op"}, {Name: "stream", Description: "stream", Stream: sdk.StreamDuplex}},
	}}}
}

func (d seenDriver) ValidateConfig(ctx context.Context, _ sdk.ValidateRequest) error {
	d.saw(ctx, "ValidateConfig")
	return nil
}

func (d seenDriver) Configure(ctx context.Context, _ sdk.ConfigureRequest) (sdk.Resource, error) {
	d.saw(ctx, "Configure")
	return seenResource(d), nil
}

type seenResource seenDriver

func (r seenResource) Open(ctx context.Context) (sdk.Instance, error) {
	seenDriver(r).saw(ctx, "Open")
	return seenInstance(r), nil
}

func (r seenResource) Close(ctx context.Context) error {
	seenDriver(r).saw(ctx, "Unconfigure")
	return nil
}

type seenInstance seenDriver

func (i seenInstance) Check(ctx context.Context) error { seenDriver(i).saw(ctx, "Check"); return nil }
func (i seenInstance) Reset(ctx context.Context) error { seenDriver(i).saw(ctx, "Reset"); return nil }
func (i seenInstance) Close(ctx context.Context) error { seenDriver(i).saw(ctx, "Close"); return nil }

func (i seenInstance) Invoke(ctx context.Context, _ sdk.InvokeRequest) (any, error) {
	seenDriver(i).saw(ctx, "Invoke")
	return nil, nil
}

func (i seenInstance) InvokeStream(ctx context.Context, _ sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	seenDriver(i).saw(ctx, "InvokeStream")
	_, err := io.Copy(out, in)
	return nil, err
}

// TestTraceContextReachesEveryDriverMethod calls each method over gRPC
// (sdktest.Connect, with the host's and Serve's interceptors) with a
// sampled span and a baggage member in the context, and checks that the
// driver receives that span as a remote parent, and the baggage, in unary
// and streaming calls alike. A context without a span sends none.
func TestTraceContextReachesEveryDriverMethod(t *testing.T) {
	d := seenDriver{seen: make(chan seen, 1)}
	remote := sdktest.Connect(t, d)

	m, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(m)
	// The host's call span, as a tracer provider would put it in ctx.
	want := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(baggage.ContextWithBaggage(t.Context(), bag), want)

	check := func(method string) {
		t.Helper()
		got := <-d.seen
		if got.method != method {
			t.Fatalf("driver saw %s, want %s", got.method, method)
		}
		if !got.span.IsValid() || !got.span.IsRemote() || !got.span.IsSampled() ||
			got.span.TraceID() != want.TraceID() || got.span.SpanID() != want.SpanID() {
			t.Errorf("%s: driver's ctx carried %+v, want the caller's span %s/%s as a sampled remote parent",
				method, got.span, want.TraceID(), want.SpanID())
		}
		if got.tenant != "acme" {
			t.Errorf("%s: baggage tenant %q, want acme", method, got.tenant)
		}
	}

	if err := remote.(sdk.ConfigValidator).ValidateConfig(ctx, sdk.ValidateRequest{Type: "seen", Config: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	check("ValidateConfig")
	res, err := remote.Configure(ctx, sdk.ConfigureRequest{Type: "seen", Name: "s", Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	check("Configure")
	inst, err := res.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("Open")
	if err := inst.Check(ctx); err != nil {
		t.Fatal(err)
	}
	check("Check")
	if err := inst.(sdk.Resetter).Reset(ctx); err != nil {
		t.Fatal(err)
	}
	check("Reset")
	if _, err := inst.(sdk.Invoker).Invoke(ctx, sdk.InvokeRequest{Operation: "op"}); err != nil {
		t.Fatal(err)
	}
	check("Invoke")
	var out strings.Builder
	if _, err := inst.(sdk.StreamInvoker).InvokeStream(ctx, sdk.InvokeRequest{Operation: "stream"}, strings.NewReader("bytes"), &out); err != nil {
		t.Fatal(err)
	}
	check("InvokeStream")
	if out.String() != "bytes" {
		t.Errorf("stream returned %q", out.String())
	}

	// Without a span or baggage, nothing is sent.
	if _, err := inst.(sdk.Invoker).Invoke(context.Background(), sdk.InvokeRequest{Operation: "op"}); err != nil {
		t.Fatal(err)
	}
	if got := <-d.seen; got.span.IsValid() || got.tenant != "" {
		t.Errorf("a call without trace context delivered span %+v, tenant %q", got.span, got.tenant)
	}

	if err := inst.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check("Close")
	if err := res.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check("Unconfigure")
}
