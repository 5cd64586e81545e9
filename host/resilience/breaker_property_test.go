package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/resilience"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// This file checks the circuit breaker against a model of its
// circuit_breaker block with rapid: random sequences of calls that
// succeed, fail as a failing backend does or fail by the caller's
// mistake, and clock steps, must move the breaker as the model predicts
// after every step. The model follows the block's rules:
//
//   - closed: without window, failure_threshold failures in a row open
//     it; with window, failure_threshold failures within the window; with
//     failure_ratio, a ratio of failures (to hundredths) at least that
//     once failure_threshold calls (at least one) were made in the window.
//     The window slides by tenths of it (failsafe-go's buckets).
//   - open: calls fail fast with ErrCircuitOpen, without reaching the
//     backend, until open_for has passed; the next call then moves it to
//     half_open.
//   - half_open: a failure opens it again; half_open_probes successes in
//     a row close it, with its counts started over.
//
// A caller's mistake is an answer from the backend: it counts as a
// success. The clock is synctest's, so windows and delays are exact. Run
// more cases with -rapid.checks=N; a failure prints the seed to replay it
// with -rapid.seed.

// propHooks records the breaker transitions the policies report.
type propHooks struct {
	mu          sync.Mutex
	transitions []string // "from→to", marked when the reason is empty
	rejected    int
}

func (h *propHooks) BreakerChanged(from, to resilience.BreakerState, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := fmt.Sprintf("%s→%s", from, to)
	if reason == "" {
		t += " without a reason"
	}
	h.transitions = append(h.transitions, t)
}

func (h *propHooks) Retried() {}

func (h *propHooks) Rejected(byBreaker bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if byBreaker {
		h.rejected++
	}
}

func (h *propHooks) snapshot() ([]string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.transitions...), h.rejected
}

// outcome is one call recorded in the model's closed-state window.
type outcome struct {
	bucket int64 // the time bucket of a windowed breaker
	failed bool
}

// breakerModel is what the breaker should be.
type breakerModel struct {
	t     *rapid.T
	cb    config.CircuitBreaker
	p     *resilience.Policies
	hooks *propHooks

	state       resilience.BreakerState
	window      time.Duration // 0 for failures in a row
	threshold   int
	recent      []outcome // closed: the calls the window holds
	openedAt    time.Time
	successes   int // half_open: successes so far
	transitions []string
	rejected    int
	calls       int // attempts that reached the backend
}

func newBreakerModel(t *rapid.T) *breakerModel {
	cb := config.CircuitBreaker{
		FailureThreshold: rapid.IntRange(0, 4).Draw(t, "failure_threshold"),
		OpenFor:          time.Duration(rapid.IntRange(1, 8).Draw(t, "open_for_s")) * time.Second,
		HalfOpenProbes:   rapid.IntRange(0, 3).Draw(t, "half_open_probes"),
	}
	switch rapid.IntRange(0, 2).Draw(t, "mode") {
	case 1:
		cb.Window = time.Duration(rapid.IntRange(1, 10).Draw(t, "window_s")) * time.Second
	case 2:
		cb.FailureRatio = rapid.SampledFrom([]float64{0.25, 0.5, 0.75, 1}).Draw(t, "failure_ratio")
		cb.Window = time.Duration(rapid.IntRange(0, 10).Draw(t, "window_s")) * time.Second
	}
	h := &propHooks{}
	m := &breakerModel{t: t, cb: cb, hooks: h, state: resilience.BreakerClosed}
	m.p = resilience.New("kv.prop", &config.Resilience{CircuitBreaker: &m.cb}, nil, h)
	m.threshold = cb.FailureThreshold
	if m.threshold == 0 {
		m.threshold = 5 // the documented default
	}
	if cb.FailureRatio > 0 || cb.Window > 0 {
		m.window = cb.Window
		if m.window == 0 {
			m.window = time.Minute // the documented default
		}
	}
	return m
}

func (m *breakerModel) probes() int { return max(m.cb.HalfOpenProbes, 1) }

func (m *breakerModel) move(to resilience.BreakerState) {
	m.transitions = append(m.transitions, fmt.Sprintf("%s→%s", m.state, to))
	m.state = to
	switch to {
	case resilience.BreakerOpen:
		m.openedAt = time.Now()
	case resilience.BreakerHalfOpen:
		m.successes = 0
	case resilience.BreakerClosed:
		m.recent = nil
	}
}

// recordClosed adds a call to the closed breaker's window and opens it
// when the block's rule says so.
func (m *breakerModel) recordClosed(failed bool) {
	if m.window == 0 {
		// The last failure_threshold calls.
		m.recent = append(m.recent, outcome{failed: failed})
		if len(m.recent) > m.threshold {
			m.recent = m.recent[1:]
		}
	} else {
		width := int64(m.window / 10)
		head := time.Now().UnixNano() / width
		kept := m.recent[:0]
		for _, o := range m.recent {
			if o.bucket > head-10 {
				kept = append(kept, o)
			}
		}
		m.recent = append(kept, outcome{bucket: head, failed: failed})
	}
	failures := 0
	for _, o := range m.recent {
		if o.failed {
			failures++
		}
	}
	calls := len(m.recent)
	var open bool
	switch {
	case m.cb.FailureRatio > 0:
		ratio := math.Round(float64(failures)/float64(calls)*100) / 100
		open = calls >= max(m.cb.FailureThreshold, 1) && ratio >= m.cb.FailureRatio
	default:
		open = failures >= m.threshold
	}
	if open {
		m.move(resilience.BreakerOpen)
	}
}

// call makes one call through the policies and applies it to the model.
func (m *breakerModel) call(kind string) {
	t := m.t
	var want error
	switch kind {
	case "backend_down":
		want = sdk.Errorf(sdk.KindUnavailable, "backend down")
	case "callers_mistake":
		want = sdk.Errorf(sdk.KindInvalidArgument, "bad key")
	}
	// The model first: does the call reach the backend?
	if m.state == resilience.BreakerOpen && time.Since(m.openedAt) >= m.cb.OpenFor {
		m.move(resilience.BreakerHalfOpen)
	}
	reaches := m.state != resilience.BreakerOpen
	reached := false
	_, err := m.p.Run(context.Background(), false, func(context.Context) (any, error) {
		reached = true
		return "ok", want
	})
	if reached != reaches {
		t.Fatalf("%s call in state %s: reached the backend %v, model %v", kind, m.state, reached, reaches)
	}
	if !reaches {
		m.rejected++
		if !errors.Is(err, resilience.ErrCircuitOpen) || sdk.KindOf(err) != sdk.KindUnavailable {
			t.Fatalf("call on an open breaker failed with %v (kind %s), want ErrCircuitOpen of kind unavailable", err, sdk.KindOf(err))
		}
		return
	}
	m.calls++
	if (err == nil) != (want == nil) || err != nil && !strings.Contains(err.Error(), want.Error()) {
		t.Fatalf("%s call returned %v, want %v", kind, err, want)
	}
	failed := kind == "backend_down"
	switch m.state {
	case resilience.BreakerClosed:
		m.recordClosed(failed)
	case resilience.BreakerHalfOpen:
		if failed {
			m.move(resilience.BreakerOpen)
			break
		}
		if m.successes++; m.successes >= m.probes() {
			m.move(resilience.BreakerClosed)
		}
	}
}

// check compares the breaker's Info and its reported transitions with the
// model.
func (m *breakerModel) check() {
	t := m.t
	info := m.p.Info()
	want, openFor := m.state, time.Duration(0)
	if want == resilience.BreakerOpen {
		// Once open_for has passed, Info says the next call goes through.
		if openFor = m.cb.OpenFor - time.Since(m.openedAt); openFor <= 0 {
			want, openFor = resilience.BreakerHalfOpen, 0
		}
	}
	if info.Breaker != want || info.BreakerOpenFor != openFor {
		t.Fatalf("Info: breaker %q, open for %v; model %q, %v", info.Breaker, info.BreakerOpenFor, want, openFor)
	}
	transitions, rejected := m.hooks.snapshot()
	if strings.Join(transitions, " ") != strings.Join(m.transitions, " ") {
		t.Fatalf("transitions %v, model %v", transitions, m.transitions)
	}
	if rejected != m.rejected || info.Rejected != uint64(m.rejected) {
		t.Fatalf("rejected %d (hooks) and %d (Info), model %d", rejected, info.Rejected, m.rejected)
	}
}

// TestBreakerProperty checks the circuit breaker against the model after
// every step, in synctest's bubble so that the clock is exact.
func TestBreakerProperty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rapid.Check(bubbleTB{t}, func(t *rapid.T) {
			m := newBreakerModel(t)
			t.Repeat(map[string]func(*rapid.T){
				"ok":              func(*rapid.T) { m.call("ok") },
				"backend_down":    func(*rapid.T) { m.call("backend_down") },
				"callers_mistake": func(*rapid.T) { m.call("callers_mistake") },
				"clock": func(t *rapid.T) {
					time.Sleep(time.Duration(rapid.IntRange(1, 120).Draw(t, "sleep_100ms")) * 100 * time.Millisecond)
				},
				"": func(*rapid.T) { m.check() },
			})
		})
	})
}

// bubbleTB is a test inside synctest's bubble as rapid sees it: without
// the Deadline method, which a test in a bubble may not call.
type bubbleTB struct{ rapid.TB }
