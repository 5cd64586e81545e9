package host_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestSecretsNeverReachMetricsSpansOrLogs runs calls that fail with the
// secret in their messages, on a probe whose password and on a PostgreSQL
// whose URL hold it, and looks for it in the three telemetry outputs.
func TestSecretsNeverReachMetricsSpansOrLogs(t *testing.T) {
	const canary = "canary-5t8m-secret"
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), canary) // trust auth ignores it
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	cfg := loadHCL(t, fmt.Sprintf(`
variable "pw" {
  type      = string
  sensitive = true
}
variable "db" {
  type      = string
  sensitive = true
}
plugin "probe" {
  path = %q
}
resource "probe" "p" {
  password   = var.pw
  fail_check = true
  health {
    interval = "50ms"
  }
  resilience {
    circuit_breaker {
      failure_threshold = 1
    }
  }
}
resource "postgres" "db" {
  url = var.db
}
telemetry {
  metrics {
    tenant_label = true
  }
  tracing {
    endpoint   = "127.0.0.1:1"
    query_text = true
  }
}`, pluginPath("probe")), config.WithVariables(map[string]string{"pw": canary, "db": u.String()}))
	h := startHost(t, cfg, host.WithPluginDir(binDir), host.WithLogger(log), host.WithTracerProvider(tp))
	srv := httptest.NewServer(promhttp.HandlerFor(h.Gatherer(), promhttp.HandlerOpts{}))
	defer srv.Close()

	for range 2 {
		_, _ = h.Invoke(t.Context(), "probe.p", "leak", nil, host.ForTenant("acme"))
	}
	err = host.Use(t.Context(), h, "postgres.db", func(l *host.Lease) error {
		_, err := l.Exec(t.Context(), "SELECT $1::text", canary)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the probe's failing checks", func() bool { return healthOf(h, "probe.p").LastError != "" })

	_, metrics := scrape(t, srv.URL)
	var spanText strings.Builder
	for _, s := range spans.GetSpans() {
		fmt.Fprintf(&spanText, "%s %s %v %v\n", s.Name, s.Status.Description, s.Attributes, s.Events)
	}
	report, _ := json.Marshal(h.Health())
	for what, text := range map[string]string{"metrics": string(metrics), "spans": spanText.String(), "logs": logs.String(), "health": string(report)} {
		if strings.Contains(text, canary) {
			t.Errorf("the secret reached the %s:\n%s", what, text)
		}
	}
	// The telemetry is there, minus the secret: the address of the
	// server, the SQL text without its argument, the tenant label.
	for _, want := range []string{"server.address", "127.0.0.1", "SELECT $1::text", "db.query.text"} {
		if !strings.Contains(spanText.String(), want) {
			t.Errorf("spans lack %q:\n%s", want, spanText.String())
		}
	}
	if !strings.Contains(string(metrics), `tenant="acme"`) {
		t.Error("the call metrics lack the tenant label")
	}
}

func TestLogLinesAboutACallCarryItsOwnerAndTrace(t *testing.T) {
	f := newFlaky(-1, sdk.KindUnavailable)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	h := startHost(t, loadHCL(t, `resource "flaky" "x" {}`), host.WithDriver("flaky", f), host.WithLogger(log), host.WithTracerProvider(tp))
	_, err := h.Invoke(t.Context(), "flaky.x", "get", nil, host.WithOwner(host.Owner{Tenant: "acme", Workflow: "wf-1", Step: "load"}))
	if err == nil {
		t.Fatal("the call did not fail")
	}
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"call failed"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	var call sdktrace.ReadOnlySpan
	for _, s := range spans.GetSpans().Snapshots() {
		if s.Name() == "get flaky.x" {
			call = s
		}
	}
	if line == nil || call == nil {
		t.Fatalf("no call-failed line or no call span:\n%s", logs.String())
	}
	want := map[string]string{
		"resource": "flaky.x", "type": "flaky", "operation": "get", "kind": "unavailable",
		"tenant": "acme", "workflow": "wf-1", "step": "load",
		"trace_id": call.SpanContext().TraceID().String(), "span_id": call.SpanContext().SpanID().String(),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log line %s = %v, want %q\n%v", k, line[k], v, line)
		}
	}
}
