package supervisor

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/internal/otlptest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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

// TestPluginExportsTheSpansOfSampledCallsToTheCollector starts the test
// plugin with Tracing pointing at a collector, calls it with a sampled
// and an unsampled trace, and stops it: the plugin exported exactly the
// span of the sampled call, as a child of the caller's span, flushing it
// when it stopped.
func TestPluginExportsTheSpansOfSampledCallsToTheCollector(t *testing.T) {
	bin := testPlugin
	col := otlptest.Start(t)

	s := New(Config{
		Name: "probe", Path: bin,
		Env:     map[string]string{"GIVEN": "yes"},
		Tracing: Tracing{Endpoint: col.Addr(), Insecure: true, Headers: map[string]string{"api-key": "k, 1"}},
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
	inst := openProbe(ctx, t, s)
	out := probeEnv(ctx, t, inst)
	for _, v := range []string{"GIVEN=yes", "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + col.Addr(), "OTEL_TRACES_SAMPLER=parentbased_always_off"} {
		if !strings.Contains(string(out), `"`+v+`"`) {
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
	got, headers := col.Spans(), col.Header("api-key")
	if len(got) == 1 {
		got[0].SpanID, got[0].Text = "", "" // the plugin's own, and what it carries
	}
	want := []otlptest.Span{{Name: "testplugin.traced", TraceID: traceID, ParentSpanID: spanID, Service: "nebula-plugin-probe"}}
	if !slices.Equal(got, want) {
		t.Errorf("the collector received %+v, want %+v", got, want)
	}
	if len(headers) == 0 || headers[0] != "k, 1" {
		t.Errorf("the collector received api-key %q, want %q", headers, "k, 1")
	}
}

// TestPluginsUseTheHostsKeysOrAnswerWithAutoMTLS starts a plugin built on
// sdk.Serve, which takes the key pair the host made from the pipe, and one
// served by go-plugin alone, which answers with AutoMTLS: both serve, and
// neither finds a private key in its environment.
func TestPluginsUseTheHostsKeysOrAnswerWithAutoMTLS(t *testing.T) {
	for _, args := range [][]string{nil, {"-automtls"}} {
		t.Run(strings.Join(append([]string{"plugin"}, args...), " "), func(t *testing.T) {
			s := New(Config{Name: "probe", Path: testPlugin, Args: args, Logger: quiet()})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close(context.Background()) }()
			env := string(probeEnv(ctx, t, openProbe(ctx, t, s)))
			if strings.Contains(env, "PRIVATE KEY") {
				t.Fatalf("a private key reached the plugin's environment: %s", env)
			}
			if !strings.Contains(env, `"NEBULA_PLUGIN_TLS_FD=3"`) || !strings.Contains(env, "PLUGIN_CLIENT_CERT=") {
				t.Fatalf("the plugin was not handed the host's keys: %s", env)
			}
		})
	}
}

// openProbe configures a probe resource on s's plugin and opens an
// instance of it.
// probeInstance is the host's view of an instance in the probe plugin.
type probeInstance interface {
	sdk.Instance
	sdk.Invoker
}

func openProbe(ctx context.Context, t *testing.T, s *Supervisor) probeInstance {
	t.Helper()
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
	return inst.(probeInstance)
}

// probeEnv returns the plugin's environment, as the probe's env
// operation reports it (a JSON list of "NAME=value").
func probeEnv(ctx context.Context, t *testing.T, inst probeInstance) json.RawMessage {
	t.Helper()
	out, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "env", Args: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return out.(json.RawMessage)
}
