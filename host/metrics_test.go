package host_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// scrape reads the metrics endpoint and parses it.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, body)
	}
	return fams, body
}

// value returns the value of the sample of family name whose labels
// include all of want (label=value pairs): a counter, a gauge, or a
// histogram's count.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestMetricsMoveWithTheWorkload(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	cfg := loadHCL(t, fmt.Sprintf(`
telemetry {
  metrics {
    per_resource = true
  }
}
plugin "probe" {
  path = %q
}
resource "probe" "p" {}
resource "flaky" "x" {
  resilience {
    circuit_breaker {
      failure_threshold = 2
      open_for          = "1h"
    }
  }
}
resource "flakyx" "db" {
  pool {
    max_size = 2
  }
}`, pluginPath("probe")))
	h := startHost(t, cfg, host.WithDriver("flaky", f), host.WithLogger(quietLogger()), host.WithRestartBackoff(10*time.Millisecond, 100*time.Millisecond))
	srv := httptest.NewServer(promhttp.HandlerFor(h.Gatherer(), promhttp.HandlerOpts{}))
	defer srv.Close()
	before, _ := scrape(t, srv.URL)
	// Counters exist at zero before their first event, so that rate()
	// sees the first one.
	if value(before, "nebula_plugin_restarts_total", "plugin=probe") != 0 ||
		value(before, "nebula_circuit_breaker_transitions_total", "resource=flaky.x", "state=open") != 0 ||
		value(before, "nebula_call_retries_total", "resource=flakyx.db") != 0 {
		t.Error("counters are not created at zero before their first event")
	}

	// A workload runs while the test scrapes: leases on an exclusive pool
	// of two, some of which wait.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_ = host.Use(ctx, h, "flakyx.db", func(l *host.Lease) error {
					_, err := l.Invoke(ctx, "get", nil)
					time.Sleep(2 * time.Millisecond)
					return err
				})
			}
		})
	}
	waitFor(t, 5*time.Second, "acquires to be counted", func() bool {
		fams, _ := scrape(t, srv.URL)
		return value(fams, "nebula_pool_acquire_wait_seconds", "resource=flakyx.db") > 50
	})
	mid, _ := scrape(t, srv.URL)
	if used := value(mid, "nebula_pool_instances", "resource=flakyx.db", "state=used") + value(mid, "nebula_pool_instances", "resource=flakyx.db", "state=idle"); used < 1 || used > 2 {
		t.Errorf("instances of flakyx.db = %v, want 1 or 2 (max_size = 2)", used)
	}
	if value(mid, "nebula_pool_max_instances", "resource=flakyx.db") != 2 || value(mid, "db_client_connection_max", "db_client_connection_pool_name=flakyx.db") != 2 {
		t.Error("max instances not exported as 2")
	}
	stop()
	wg.Wait()

	// The breaker opens after two failures and refuses the third call.
	f.failures.Store(-1)
	for range 3 {
		_, _ = h.Invoke(t.Context(), "flaky.x", "get", nil)
	}

	// The probe plugin crashes and is restarted.
	_, _ = h.Invoke(t.Context(), "probe.p", "crash", nil)
	waitFor(t, 10*time.Second, "the probe plugin to come back", func() bool {
		_, err := h.Invoke(t.Context(), "probe.p", "pid", nil)
		return err == nil
	})

	waitFor(t, 5*time.Second, "a health check of flaky.x", func() bool { return !healthOf(h, "flaky.x").LastCheck.IsZero() })

	after, body := scrape(t, srv.URL)
	for _, c := range []struct {
		what   string
		name   string
		labels []string
		min    float64
	}{
		{"acquires counted in the wait histogram", "nebula_pool_acquire_wait_seconds", []string{"resource=flakyx.db"}, 50},
		{"the same in the semconv wait time", "db_client_connection_wait_time_seconds", []string{"db_client_connection_pool_name=flakyx.db"}, 50},
		{"successful calls", "nebula_call_duration_seconds", []string{"resource=flakyx.db", "operation=get", "outcome=success"}, 50},
		{"semconv operation duration", "db_client_operation_duration_seconds", []string{"db_operation_name=get"}, 50},
		{"instances created", "nebula_pool_instance_create_seconds", []string{"resource=flakyx.db"}, 1},
		{"lease use time", "nebula_pool_lease_use_seconds", []string{"resource=flakyx.db"}, 50},
		{"failed calls by kind", "nebula_call_duration_seconds", []string{"resource=flaky.x", "outcome=unavailable"}, 2},
		{"the breaker opening", "nebula_circuit_breaker_transitions_total", []string{"resource=flaky.x", "state=open"}, 1},
		{"the call refused by the open breaker", "nebula_circuit_breaker_rejections_total", []string{"resource=flaky.x"}, 1},
		{"the breaker's state", "nebula_circuit_breaker_state", []string{"resource=flaky.x", "state=open"}, 1},
		{"the plugin restart", "nebula_plugin_restarts_total", []string{"plugin=probe"}, 1},
		{"the plugin up again", "nebula_plugin_up", []string{"plugin=probe"}, 1},
		{"health checks", "nebula_health_check_duration_seconds", []string{"resource=flaky.x", "outcome=success"}, 1},
		{"health state", "nebula_health_state", []string{"resource=flaky.x", "state=" + string(healthOf(h, "flaky.x").State)}, 1},
		{"build info", "nebula_build_info", nil, 1},
	} {
		if got := value(after, c.name, c.labels...); got < c.min {
			t.Errorf("%s: %s%v = %v, want at least %v", c.what, c.name, c.labels, got, c.min)
		}
	}
	if got, was := value(after, "nebula_pool_acquire_wait_seconds", "resource=flakyx.db"), value(before, "nebula_pool_acquire_wait_seconds", "resource=flakyx.db"); got <= was {
		t.Errorf("acquire count did not move: %v → %v", was, got)
	}
	if value(after, "nebula_circuit_breaker_state", "resource=flakyx.db") != -1 {
		t.Error("a breaker state for a resource without a breaker")
	}

	// promtool, from Debian's prometheus package, lints the exposition.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed (Debian package prometheus): the exposition was not linted")
	}
}
