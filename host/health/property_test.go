package health_test

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/host/health"
	"github.com/nebula-resource/nebula-resource/host/resilience"
)

// This file checks the health state machine against a model with rapid:
// random sequences of check results (with and without an unhealthy
// dependency), clock steps, breaker events, resources that stop running
// and resets must move the Machine as the model predicts after every
// step, through documented transitions only. The clock is synctest's, so
// every timestamp is known exactly. Run more cases with
// -rapid.checks=N; a failure prints the seed to replay it with
// -rapid.seed.

// historyLen is how many events a Machine remembers (machine.go).
const historyLen = 32

// machineModel is what the Machine should hold.
type machineModel struct {
	t   *rapid.T
	m   *health.Machine
	set health.Settings
	// strict makes a quarantine end only after healthy_after passes made
	// since it began, as the State doc describes it ("the first probe
	// that passes makes it recovering").
	strict bool

	state                 health.State
	fails, passes, probes int
	// fresh counts the passes in a row since the quarantine began.
	fresh     int
	since     time.Time
	lastCheck time.Time
	lastErr   string
	latency   time.Duration
	history   []health.Event
}

// documented lists the transitions the State doc allows for a check's
// outcome: starting → healthy ⇄ degraded → unhealthy → recovering →
// healthy, with a failed check making a resource degraded (or unhealthy
// at once with unhealthy_after = 1), a relapse while recovering, and an
// unhealthy dependency making a resource degraded. Reset (→ starting) and
// MarkNotRunning (→ unhealthy) may happen from any state.
var documented = map[[2]health.State]bool{
	{health.Starting, health.Healthy}:     true,
	{health.Starting, health.Degraded}:    true,
	{health.Starting, health.Unhealthy}:   true,
	{health.Healthy, health.Degraded}:     true,
	{health.Healthy, health.Unhealthy}:    true,
	{health.Degraded, health.Healthy}:     true,
	{health.Degraded, health.Unhealthy}:   true,
	{health.Unhealthy, health.Recovering}: true,
	{health.Recovering, health.Healthy}:   true,
	{health.Recovering, health.Degraded}:  true,
	{health.Recovering, health.Unhealthy}: true,
}

func newMachineModel(t *rapid.T, strict bool) *machineModel {
	set := health.Settings{
		Interval:       time.Duration(rapid.IntRange(1, 30).Draw(t, "interval_s")) * time.Second,
		UnhealthyAfter: rapid.IntRange(1, 5).Draw(t, "unhealthy_after"),
		HealthyAfter:   rapid.IntRange(1, 4).Draw(t, "healthy_after"),
	}
	set.Timeout = set.Interval
	m := new(health.Machine)
	m.Init()
	return &machineModel{t: t, m: m, set: set, strict: strict, state: health.Starting, since: time.Now()}
}

// quarantined is true while the model's resource takes no leases.
func (mm *machineModel) quarantined() bool { return mm.state.Quarantined() }

// moved records a transition of the model to state to with the reason
// the machine gave, and checks the machine's Transition.
func (mm *machineModel) moved(what string, from, to health.State, tr health.Transition) {
	mm.t.Helper()
	if from == to {
		if tr.Moved() || tr != (health.Transition{}) {
			mm.t.Fatalf("%s: %s stayed %s, but the machine returned %+v", what, from, to, tr)
		}
		return
	}
	if !tr.Moved() || tr.From != from || tr.To != to || tr.Reason == "" {
		mm.t.Fatalf("%s: want transition %s → %s with a reason, got %+v", what, from, to, tr)
	}
	mm.state, mm.since = to, time.Now()
	mm.record(health.Event{At: mm.since, Kind: "health", From: string(from), To: string(to), Reason: tr.Reason})
}

func (mm *machineModel) record(e health.Event) {
	mm.history = append(mm.history, e)
	if len(mm.history) > historyLen {
		mm.history = slices.Delete(mm.history, 0, len(mm.history)-historyLen)
	}
}

// observe applies one check's outcome to the machine and to the model.
func (mm *machineModel) observe(fail bool, dep string) {
	t := mm.t
	latency := time.Duration(rapid.IntRange(0, 5000).Draw(t, "latency_ms")) * time.Millisecond
	var err error
	if fail {
		err = fmt.Errorf("probe %d refused", rapid.IntRange(0, 99).Draw(t, "err"))
	}
	from := mm.state
	to := from
	if fail {
		mm.fails++
		mm.passes, mm.fresh = 0, 0
		mm.lastErr = err.Error()
		switch {
		case from == health.Unhealthy:
			mm.probes++
		case from == health.Recovering:
			mm.probes++
			to = health.Unhealthy
		case mm.fails >= mm.set.UnhealthyAfter:
			mm.probes = 0
			to = health.Unhealthy
		default:
			to = health.Degraded
		}
	} else {
		mm.fails = 0
		mm.passes++
		mm.fresh++
		mm.lastErr = ""
		counted := mm.passes
		if mm.strict {
			counted = mm.fresh
		}
		switch {
		case mm.quarantined() && counted < mm.set.HealthyAfter:
			to = health.Recovering
		case dep != "":
			to = health.Degraded
		default:
			mm.probes = 0
			to = health.Healthy
		}
	}
	gotFrom, gotTo, tr := mm.m.Observe(&mm.set, err, latency, dep)
	what := fmt.Sprintf("Observe(err %v, dep %q)", err, dep)
	if gotFrom != from || gotTo != to {
		t.Fatalf("%s: machine moved %s → %s, model %s → %s", what, gotFrom, gotTo, from, to)
	}
	// Leaving quarantine straight from unhealthy takes healthy_after = 1
	// (or, as the machine counts them, passes in a row from before).
	lifted := from == health.Unhealthy && !to.Quarantined()
	if from != to && !documented[[2]health.State{from, to}] && !(to == health.Degraded && dep != "") && !lifted {
		t.Fatalf("%s: undocumented transition %s → %s", what, from, to)
	}
	if lifted && mm.passes < mm.set.HealthyAfter || mm.strict && from.Quarantined() && !to.Quarantined() && mm.fresh < mm.set.HealthyAfter {
		t.Fatalf("%s: quarantine lifted after %d passes in a row (%d since it began), healthy_after = %d", what, mm.passes, mm.fresh, mm.set.HealthyAfter)
	}
	mm.lastCheck, mm.latency = time.Now(), latency
	mm.moved(what, from, to, tr)
}

// markNotRunning tells the machine its resource stopped running.
func (mm *machineModel) markNotRunning() {
	reason := fmt.Sprintf("failed: exit %d", rapid.IntRange(0, 2).Draw(mm.t, "exit"))
	from := mm.state
	if from == health.Unhealthy {
		mm.probes++
	} else {
		mm.probes = 0
	}
	// A resource that is not running starts its quarantine over: only
	// passes made since count.
	mm.passes, mm.fresh = 0, 0
	tr := mm.m.MarkNotRunning(reason)
	if from != health.Unhealthy && tr.Reason != reason {
		mm.t.Fatalf("MarkNotRunning(%q) gave reason %q", reason, tr.Reason)
	}
	mm.moved("MarkNotRunning", from, health.Unhealthy, tr)
}

// reset starts the machine over, as a reconfigure does.
func (mm *machineModel) reset() {
	from := mm.state
	mm.fails, mm.passes, mm.probes, mm.fresh = 0, 0, 0, 0
	tr := mm.m.Reset("configured again")
	mm.moved("Reset", from, health.Starting, tr)
}

// breaker records a circuit breaker transition in the history.
func (mm *machineModel) breaker() {
	states := []resilience.BreakerState{resilience.BreakerClosed, resilience.BreakerOpen, resilience.BreakerHalfOpen}
	from := rapid.SampledFrom(states).Draw(mm.t, "breaker_from")
	to := rapid.SampledFrom(states).Draw(mm.t, "breaker_to")
	mm.m.BreakerChanged(from, to, "breaker moved")
	mm.record(health.Event{At: time.Now(), Kind: "breaker", From: string(from), To: string(to), Reason: "breaker moved"})
}

// check compares the machine's report and next check with the model.
func (mm *machineModel) check() {
	t := mm.t
	t.Helper()
	if got := mm.m.Current(); got != mm.state {
		t.Fatalf("Current = %s, model %s", got, mm.state)
	}
	r := mm.m.Report()
	if r.State != mm.state || r.Quarantined != mm.state.Quarantined() {
		t.Fatalf("report state %s (quarantined %v), model %s", r.State, r.Quarantined, mm.state)
	}
	if r.ConsecutiveFailures != mm.fails || r.ConsecutivePasses != mm.passes {
		t.Fatalf("report counts %d failures, %d passes in a row; model %d, %d", r.ConsecutiveFailures, r.ConsecutivePasses, mm.fails, mm.passes)
	}
	if r.ConsecutiveFailures > 0 && r.ConsecutivePasses > 0 {
		t.Fatalf("report counts both %d failures and %d passes in a row", r.ConsecutiveFailures, r.ConsecutivePasses)
	}
	if !r.Since.Equal(mm.since) || !r.LastCheck.Equal(mm.lastCheck) || r.LastError != mm.lastErr || r.LastLatency != mm.latency {
		t.Fatalf("report since %v, last check %v (%v, %q); model %v, %v (%v, %q)",
			r.Since, r.LastCheck, r.LastLatency, r.LastError, mm.since, mm.lastCheck, mm.latency, mm.lastErr)
	}
	if r.Reason == "" && mm.state != health.Starting {
		t.Fatalf("report in state %s gives no reason", r.State)
	}
	if len(r.History) > historyLen {
		t.Fatalf("history of %d events, bound %d", len(r.History), historyLen)
	}
	if len(r.History) != len(mm.history) {
		t.Fatalf("history of %d events, model %d:\n%v\nmodel:\n%v", len(r.History), len(mm.history), r.History, mm.history)
	}
	for i, e := range r.History {
		w := mm.history[i]
		if !e.At.Equal(w.At) || e.Kind != w.Kind || e.From != w.From || e.To != w.To || e.Reason != w.Reason {
			t.Fatalf("history[%d] = %+v, model %+v", i, e, w)
		}
	}
	// Without jitter the delay is exact: the interval, or while
	// unhealthy a backoff that doubles per failed probe up to four
	// intervals.
	want := mm.set.Interval
	if mm.state == health.Unhealthy {
		want = min(mm.set.Interval<<min(mm.probes, 2), 4*mm.set.Interval)
	}
	if got := mm.m.NextCheck(&mm.set, time.Now()); got != want {
		t.Fatalf("NextCheck = %v in state %s after %d probes; want %v", got, mm.state, mm.probes, want)
	}
}

// machineProperty is the property: strict checks the quarantine rule of
// the State doc against passes made since the quarantine began.
func machineProperty(strict bool) func(*rapid.T) {
	return func(t *rapid.T) {
		mm := newMachineModel(t, strict)
		mm.check()
		t.Repeat(map[string]func(*rapid.T){
			"pass":             func(*rapid.T) { mm.observe(false, "") },
			"fail":             func(*rapid.T) { mm.observe(true, "") },
			"pass_with_dep":    func(*rapid.T) { mm.observe(false, "cache.main is unhealthy") },
			"fail_with_dep":    func(*rapid.T) { mm.observe(true, "cache.main is unhealthy") },
			"mark_not_running": func(*rapid.T) { mm.markNotRunning() },
			"reset":            func(*rapid.T) { mm.reset() },
			"breaker":          func(*rapid.T) { mm.breaker() },
			"clock": func(t *rapid.T) {
				time.Sleep(time.Duration(rapid.IntRange(1, 120_000).Draw(t, "sleep_ms")) * time.Millisecond)
			},
			"": func(*rapid.T) { mm.check() },
		})
	}
}

// bubbleTB is a test inside synctest's bubble as rapid sees it: without
// the Deadline method, which a test in a bubble may not call.
type bubbleTB struct{ rapid.TB }

// TestMachineProperty checks the health state machine against the model
// after every step, in synctest's bubble so that the clock is exact.
func TestMachineProperty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rapid.Check(bubbleTB{t}, machineProperty(true))
	})
}
