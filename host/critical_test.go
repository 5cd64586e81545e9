package host_test

import (
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// criticalOf returns the Critical field of a resource's description.
func criticalOf(t *testing.T, h *host.Host, id string) bool {
	t.Helper()
	for _, ri := range h.Describe() {
		if ri.ID == id {
			return ri.Critical
		}
	}
	t.Fatalf("no resource %s", id)
	return false
}

func TestOnlyCriticalResourcesDecideReadiness(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	const checks = `
  health {
    interval        = "40ms"
    jitter          = "1ms"
    unhealthy_after = 1
    healthy_after   = 1
  }`
	src := func(critical string) string {
		return `
resource "flakyx" "db" {` + checks + `
}
resource "flakyx" "cache" {
  ` + critical + checks + `
}`
	}
	h := startHost(t, loadHCL(t, src("critical = false")), host.WithDriver("flaky", f))
	if !criticalOf(t, h, "flakyx.db") || criticalOf(t, h, "flakyx.cache") {
		t.Fatalf("critical: db %v, cache %v; want true (the default) and false", criticalOf(t, h, "flakyx.db"), criticalOf(t, h, "flakyx.cache"))
	}
	waitFor(t, 5*time.Second, "ready", h.Ready)

	// Both share the driver, so both fail their checks: the host stays
	// ready only as long as the critical one is not quarantined, so take
	// the critical one out first by its own state.
	down := sdk.Errorf(sdk.KindUnavailable, "connection refused")
	f.checkErr.Store(&down)
	waitFor(t, 5*time.Second, "both quarantined", func() bool {
		return healthOf(h, "flakyx.db").Quarantined && healthOf(h, "flakyx.cache").Quarantined
	})
	if h.Ready() {
		t.Fatal("ready while the critical resource is quarantined")
	}
	f.checkErr.Store(nil)
	waitFor(t, 5*time.Second, "ready again", h.Ready)

	// The same configuration without the cache's critical = false: the
	// reload leaves the resource running (its block is otherwise the
	// same) and makes it count.
	rep, err := h.Reload(t.Context(), loadHCL(t, src("")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unchanged != 2 || len(rep.Changed) != 0 {
		t.Fatalf("reload report %s; want both unchanged", rep)
	}
	if !criticalOf(t, h, "flakyx.cache") {
		t.Fatal("cache not critical after the reload dropped critical = false")
	}
}

func TestAResourceThatIsNotCriticalDoesNotHoldReadinessOrStart(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	down := sdk.Errorf(sdk.KindUnavailable, "connection refused")
	f.checkErr.Store(&down)
	// flakyx fails its checks from the start; as the only critical
	// resource, flaky.app keeps the host ready.
	h := startHost(t, loadHCL(t, `
resource "flaky" "app" {}
resource "flakyx" "optional" {
  critical = false
  health {
    interval        = "40ms"
    jitter          = "1ms"
    unhealthy_after = 1
  }
}`), host.WithDriver("flaky", f))
	waitFor(t, 5*time.Second, "the optional resource quarantined", func() bool { return healthOf(h, "flakyx.optional").Quarantined })
	for range 5 {
		if !h.Ready() {
			t.Fatal("not ready although only a resource with critical = false is quarantined")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
