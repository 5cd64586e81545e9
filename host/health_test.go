package host_test

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func healthOf(h *host.Host, id string) host.ResourceHealth {
	for _, r := range h.Health().Resources {
		if r.ID == id {
			return r
		}
	}
	return host.ResourceHealth{}
}

func TestFailingChecksQuarantineTheResourceAndPassingOnesBringItBack(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	cfg := loadHCL(t, `
resource "flakyx" "db" {
  health {
    interval        = "40ms"
    jitter          = "1ms"
    unhealthy_after = 2
    healthy_after   = 2
  }
}
resource "flaky" "app" {
  depends_on = [resource.flakyx.db]
  health {
    interval = "40ms"
    jitter   = "1ms"
  }
}`)
	var logs syncBuffer
	h := startHost(t, cfg, host.WithDriver("flaky", f), host.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	waitFor(t, 5*time.Second, "db healthy", func() bool { return healthOf(h, "flakyx.db").State == host.HealthHealthy })
	if !h.Ready() {
		t.Fatal("host not ready with every resource healthy")
	}

	down := sdk.Errorf(sdk.KindUnavailable, "connection refused")
	f.checkErr.Store(&down)
	waitFor(t, 5*time.Second, "db unhealthy", func() bool { return healthOf(h, "flakyx.db").State == host.HealthUnhealthy })
	began := time.Now()
	_, err := h.Acquire(t.Context(), "flakyx.db")
	if !errors.Is(err, host.ErrQuarantined) || !errors.Is(err, host.ErrNotReady) || sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("acquire on a quarantined resource: %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("acquire on a quarantined resource took %v, want it to fail fast", took)
	}
	if h.Ready() {
		t.Fatal("host ready with a quarantined resource")
	}
	waitFor(t, 5*time.Second, "app degraded by its dependency", func() bool {
		return healthOf(h, "flaky.app").State == host.HealthDegraded
	})
	if rep := h.Health(); rep.Status != host.HealthUnhealthy || rep.Types["flakyx"] != host.HealthUnhealthy || rep.Types["flaky"] != host.HealthDegraded {
		t.Fatalf("aggregates = %s %v", rep.Status, rep.Types)
	}

	f.checkErr.Store(nil)
	waitFor(t, 5*time.Second, "db healthy again", func() bool { return healthOf(h, "flakyx.db").State == host.HealthHealthy })
	if _, err := h.Invoke(t.Context(), "flakyx.db", "get", nil); err != nil {
		t.Fatalf("call after recovery: %v", err)
	}
	waitFor(t, 5*time.Second, "app healthy again", func() bool { return healthOf(h, "flaky.app").State == host.HealthHealthy })

	var path []string
	for _, e := range healthOf(h, "flakyx.db").History {
		if e.Kind == "health" {
			path = append(path, e.To)
			if e.Reason == "" || e.At.IsZero() {
				t.Fatalf("transition without reason or time: %+v", e)
			}
		}
	}
	for _, line := range []string{
		`level=WARN msg="health unhealthy" resource=flakyx.db type=flakyx from=degraded reason="health check failed (2 in a row, unhealthy_after = 2): connection refused"`,
		`level=WARN msg="resource quarantined: new leases fail until it recovers" resource=flakyx.db`,
		`level=INFO msg="health healthy" resource=flakyx.db type=flakyx from=recovering reason="health check passed (2 in a row, healthy_after = 2); quarantine lifted"`,
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %s", line)
		}
	}
	if !regexp.MustCompile(`msg="health degraded" resource=flaky.app type=flaky from=\w+ reason="dependency flakyx.db is (unhealthy|recovering)"`).MatchString(logs.String()) {
		t.Errorf("log lacks flaky.app degraded by its dependency:\n%s", logs.String())
	}
	want := []string{"healthy", "degraded", "unhealthy", "recovering", "healthy"}
	if len(path) != len(want) {
		t.Fatalf("transitions %v, want %v", path, want)
	}
	for i := range want {
		if path[i] != want[i] {
			t.Fatalf("transitions %v, want %v", path, want)
		}
	}
}
