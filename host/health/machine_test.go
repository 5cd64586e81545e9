package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/resilience"
)

func TestSettingsFillInDefaults(t *testing.T) {
	got := SettingsOf(config.Health{Interval: 2 * time.Second})
	want := Settings{Interval: 2 * time.Second, Timeout: 2 * time.Second, Jitter: 200 * time.Millisecond, UnhealthyAfter: 3, HealthyAfter: 2}
	if got != want {
		t.Fatalf("SettingsOf = %+v, want %+v", got, want)
	}
	if got := SettingsOf(config.Health{}); got.Interval != 15*time.Second || got.Timeout != 5*time.Second {
		t.Fatalf("defaults: %+v", got)
	}
}

// TestQuarantineAndRecovery walks the state machine through a whole
// quarantine: degraded, unhealthy, probes that fail with backoff,
// recovering, a relapse, and healthy again.
func TestQuarantineAndRecovery(t *testing.T) {
	set := &Settings{Interval: time.Second, UnhealthyAfter: 2, HealthyAfter: 2}
	var m Machine
	m.Init()
	down := errors.New("connection refused")
	step := func(err error, dep string, wantFrom, wantTo State, moved bool) {
		t.Helper()
		from, to, tr := m.Observe(set, err, time.Millisecond, dep)
		if from != wantFrom || to != wantTo || tr.Moved() != moved || moved && (tr.From != from || tr.To != to) {
			t.Fatalf("Observe(%v) = %s → %s, %+v; want %s → %s, moved %v", err, from, to, tr, wantFrom, wantTo, moved)
		}
		if m.Current() != to {
			t.Fatalf("Current = %s, want %s", m.Current(), to)
		}
	}
	step(nil, "", Starting, Healthy, true)
	step(down, "", Healthy, Degraded, true)
	step(down, "", Degraded, Unhealthy, true)
	if !m.Current().Quarantined() || m.NextCheck(set, time.Now()) != time.Second {
		t.Fatalf("quarantined %v, next check %v; want true, one interval", m.Current().Quarantined(), m.NextCheck(set, time.Now()))
	}
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		step(down, "", Unhealthy, Unhealthy, false)
		if got := m.NextCheck(set, time.Now()); got != want {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
	if r := m.Report(); !strings.HasPrefix(r.Reason, "quarantined; recovery probe 3 failed") || r.ConsecutiveFailures != 5 || r.LastError != down.Error() {
		t.Fatalf("report %+v", r)
	}
	step(nil, "", Unhealthy, Recovering, true)
	step(down, "", Recovering, Unhealthy, true)
	step(nil, "", Unhealthy, Recovering, true)
	step(nil, "db.main is unhealthy", Recovering, Degraded, true)
	step(nil, "", Degraded, Healthy, true)
	r := m.Report()
	if r.State != Healthy || r.Quarantined || r.ConsecutivePasses != 3 || len(r.History) != 8 {
		t.Fatalf("report %+v", r)
	}
	if h := r.History[len(r.History)-1]; h.Kind != "health" || h.From != "degraded" || h.To != "healthy" || h.Reason != "checks pass" {
		t.Fatalf("last event %+v", h)
	}
}

func TestHistoryIsBoundedAndKeepsBreakerEvents(t *testing.T) {
	var m Machine
	m.Init()
	if h := m.Report().History; h == nil || len(h) != 0 {
		t.Fatalf("history before any change: %#v, want empty", h)
	}
	for range historyLen {
		m.BreakerChanged(resilience.BreakerClosed, resilience.BreakerOpen, "failing")
		m.BreakerChanged(resilience.BreakerOpen, resilience.BreakerHalfOpen, "probing")
	}
	m.MarkNotRunning("failed: plugin exited")
	h := m.Report().History
	if len(h) != historyLen {
		t.Fatalf("history of %d, want %d", len(h), historyLen)
	}
	if e := h[len(h)-2]; e.Kind != "breaker" || e.From != "open" || e.To != "half_open" {
		t.Fatalf("breaker event %+v", e)
	}
	if e := h[len(h)-1]; e.Kind != "health" || e.To != "unhealthy" || e.Reason != "failed: plugin exited" {
		t.Fatalf("last event %+v", e)
	}
	if tr := m.MarkNotRunning("failed: plugin exited"); tr.Moved() {
		t.Fatalf("marking again moved: %+v", tr)
	}
	if tr := m.Reset("configured again"); !tr.Moved() || tr.To != Starting || m.Current() != Starting {
		t.Fatalf("Reset: %+v, now %s", tr, m.Current())
	}
}

func TestSeverityOrdersStates(t *testing.T) {
	order := []State{Healthy, Starting, Degraded, Recovering, Unhealthy}
	for i := 1; i < len(order); i++ {
		if order[i].Severity() <= order[i-1].Severity() {
			t.Errorf("%s is not worse than %s", order[i], order[i-1])
		}
	}
}
