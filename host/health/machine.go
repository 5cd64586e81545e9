package health

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/resilience"
)

// Defaults of the health block's settings.
const (
	defaultInterval       = 15 * time.Second
	defaultTimeout        = 5 * time.Second
	defaultUnhealthyAfter = 3
	defaultHealthyAfter   = 2
	// historyLen is how many transitions a resource remembers.
	historyLen = 32
	// maxProbeBackoff caps the delay between recovery probes, in
	// intervals.
	maxProbeBackoff = 4
)

// State is where a resource stands with its health checks:
//
//	starting → healthy ⇄ degraded → unhealthy (quarantined) → recovering → healthy
//
// A degraded resource still serves: a check failed, fewer times in a row
// than unhealthy_after, or a resource it depends on is unhealthy. An
// unhealthy one is quarantined: it takes no new leases, its idle instances
// are closed, and the host probes it with backoff. The first probe that
// passes makes it recovering; healthy_after passes in a row make it
// healthy, with its pool warmed again.
type State string

// The health states. A resource that is not running (failed, blocked,
// unavailable) reports Unhealthy.
const (
	Starting   State = "starting"
	Healthy    State = "healthy"
	Degraded   State = "degraded"
	Unhealthy  State = "unhealthy"
	Recovering State = "recovering"
)

// Severity orders health states from best (0) to worst, for aggregates.
func (s State) Severity() int {
	switch s {
	case Healthy:
		return 0
	case Starting:
		return 1
	case Degraded:
		return 2
	case Recovering:
		return 3
	}
	return 4
}

// Quarantined reports whether a resource in this state takes no leases.
func (s State) Quarantined() bool { return s == Unhealthy || s == Recovering }

// Event is one state change of a resource's health or of its circuit
// breaker.
type Event struct {
	At time.Time `json:"at"`
	// Kind is "health" or "breaker".
	Kind   string `json:"kind"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// Resource is a resource's health, for GET /v1/health and
// `nebula-host health`.
type Resource struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	State State  `json:"state"`
	// Reason says why the resource is in its state.
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Quarantined resources take no new leases.
	Quarantined bool `json:"quarantined"`
	// ConsecutiveFailures and ConsecutivePasses count the checks in a row
	// that failed or passed.
	ConsecutiveFailures int `json:"consecutive_failures"`
	ConsecutivePasses   int `json:"consecutive_passes"`
	// LastCheck is when the last check ended, LastLatency how long it
	// took, and LastError what it failed with, if it did.
	LastCheck   time.Time     `json:"last_check,omitzero"`
	LastLatency time.Duration `json:"last_latency_ns"`
	LastError   string        `json:"last_error,omitempty"`
	// Breaker is the state of the resource's circuit breaker; empty
	// without one.
	Breaker resilience.BreakerState `json:"breaker,omitempty"`
	// History holds the latest state changes, oldest first.
	History []Event `json:"history"`
}

// Report is the health of every resource, with aggregates: each
// resource type, and the host as a whole, take the worst state of their
// resources.
type Report struct {
	Status    State            `json:"status"`
	Types     map[string]State `json:"types"`
	Resources []Resource       `json:"resources"`
	// Credentials are the state of each credential block; none when the
	// configuration has none.
	Credentials []Credential `json:"credentials,omitempty"`
	// QuotaStore is the state of the store the tenants' rate quotas are
	// shared through; nil when there is none.
	QuotaStore *QuotaStore `json:"quota_store,omitempty"`
}

// Credential is the state of one credential: whether its value is fresh,
// when it expires, and why its last refresh failed. It never holds the
// value.
type Credential struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// State is "ok", "stale" (the last refresh failed; the last good
	// value serves until it expires), "expired" or "pending".
	State string `json:"state"`
	// Version counts the values read, from 1; it grows when the value
	// changes.
	Version   uint64    `json:"version"`
	Expires   time.Time `json:"expires,omitzero"`
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// QuotaStore is the state of the shared store of rate quotas.
type QuotaStore struct {
	// Resource is the redis resource the store is.
	Resource string `json:"resource"`
	// Degraded is true while the store fails and each host applies the
	// rate quotas by itself.
	Degraded  bool      `json:"degraded"`
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Settings are a health block with defaults filled in. They are
// comparable, so that resources with the same block share one.
type Settings struct {
	Interval, Timeout, Jitter    time.Duration
	UnhealthyAfter, HealthyAfter int
}

// SettingsOf returns the settings of health block h.
func SettingsOf(h config.Health) Settings {
	s := Settings{
		Interval:       cmp.Or(h.Interval, defaultInterval),
		UnhealthyAfter: cmp.Or(h.UnhealthyAfter, defaultUnhealthyAfter),
		HealthyAfter:   cmp.Or(h.HealthyAfter, defaultHealthyAfter),
	}
	s.Timeout = cmp.Or(h.Timeout, min(defaultTimeout, s.Interval))
	s.Jitter = cmp.Or(h.Jitter, s.Interval/10)
	return s
}

// Machine is one resource's health state machine. Its methods that move
// it take the settings from the caller, so that it keeps no pointer to
// them; its counters are int32 and its state an index, since every
// resource has one. Call Init before use. It is safe for concurrent use.
type Machine struct {
	mu          sync.Mutex
	since       int64 // Unix nanoseconds
	lastCheck   int64 // Unix nanoseconds; 0 before the first check
	lastLatency time.Duration
	reason      string
	lastErr     string
	// last is the latest transition (its at 0 before the first), older
	// the ones before it, oldest first, historyLen in all at most: a
	// resource whose health changed once, as every resource's does when
	// its first check passes, keeps its history inline. older is a
	// pointer, nil until a second transition, for the resources that
	// never have one.
	last  event
	older *[]event
	// fails and passes count the checks in a row that failed or passed,
	// probes the recovery probes since the quarantine began, for backoff;
	// each stops at the largest int32 (addOne).
	fails, passes, probes int32
	state                 uint8 // index in eventStates
}

// Transition is a move of a Machine's state, for the caller's log. It is
// the zero Transition when the state did not change.
type Transition struct {
	From, To State
	Reason   string
}

// Moved reports whether t is a change of state.
func (t Transition) Moved() bool { return t.From != t.To }

// Init makes m a state machine in state starting.
func (m *Machine) Init() {
	m.since, m.state = time.Now().UnixNano(), stateIndex(string(Starting))
}

// stateLocked returns the state.
func (m *Machine) stateLocked() State { return State(eventStates[m.state]) }

// addOne adds one to a count of checks or probes, which stays at the
// largest int32 rather than wrap: a count past it would mean the same to
// the state machine.
func addOne(n *int32) {
	if *n < math.MaxInt32 {
		*n++
	}
}

// event is an Event as the history keeps it, in 32 bytes rather than 88:
// a thousand resources each remember at least their first change.
type event struct {
	at       int64 // Unix nanoseconds
	reason   string
	breaker  bool  // a breaker transition, not a health one
	from, to uint8 // indexes in eventStates
}

// eventStates are the states an event moves between: health states, then
// breaker states, then "" (no breaker) last, for any other.
var eventStates = [...]string{
	string(Starting), string(Healthy), string(Degraded), string(Unhealthy), string(Recovering),
	string(resilience.BreakerClosed), string(resilience.BreakerOpen), string(resilience.BreakerHalfOpen), string(resilience.BreakerNone),
}

func stateIndex(s string) uint8 {
	if i := slices.Index(eventStates[:], s); i >= 0 {
		return uint8(i)
	}
	return uint8(len(eventStates) - 1)
}

func newEvent(at int64, breaker bool, from, to, reason string) event {
	return event{at: at, reason: reason, breaker: breaker, from: stateIndex(from), to: stateIndex(to)}
}

// unixTime is the time of n Unix nanoseconds, the zero time for 0.
func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// public is e as reports show it.
func (e event) public() Event {
	kind := "health"
	if e.breaker {
		kind = "breaker"
	}
	return Event{At: time.Unix(0, e.at), Kind: kind, From: eventStates[e.from], To: eventStates[e.to], Reason: e.reason}
}

// historyLocked is the history as reports show it, oldest first.
func (m *Machine) historyLocked() []Event {
	if m.last.at == 0 {
		return []Event{}
	}
	var older []event
	if m.older != nil {
		older = *m.older
	}
	out := make([]Event, 0, len(older)+1)
	for _, e := range older {
		out = append(out, e.public())
	}
	return append(out, m.last.public())
}

// recordLocked appends an event to the bounded history.
func (m *Machine) recordLocked(e event) {
	if m.last.at != 0 {
		if m.older == nil {
			m.older = new([]event)
		}
		if len(*m.older) == historyLen-1 {
			*m.older = slices.Delete(*m.older, 0, 1)
		}
		*m.older = append(*m.older, m.last)
	}
	m.last = e
}

// moveLocked changes the state, recording the transition, which it
// returns.
func (m *Machine) moveLocked(to State, reason string) Transition {
	from := m.stateLocked()
	if to == from && reason == m.reason {
		return Transition{}
	}
	m.state, m.reason = stateIndex(string(to)), reason
	if to == from {
		return Transition{} // same state, new reason: not a transition
	}
	m.since = time.Now().UnixNano()
	m.recordLocked(newEvent(m.since, false, string(from), string(to), reason))
	return Transition{From: from, To: to, Reason: reason}
}

// BreakerChanged records a circuit breaker transition in the history.
func (m *Machine) BreakerChanged(from, to resilience.BreakerState, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recordLocked(newEvent(time.Now().UnixNano(), true, string(from), string(to), reason))
}

// Reset starts the state machine over, after its resource was configured
// again.
func (m *Machine) Reset(reason string) Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fails, m.passes, m.probes = 0, 0, 0
	return m.moveLocked(Starting, reason)
}

// MarkNotRunning records that the resource is not running (failed,
// blocked, unavailable), which is unhealthy. Each further call while it
// stays so lengthens the backoff of the attempts to bring it back.
func (m *Machine) MarkNotRunning(reason string) Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stateLocked() == Unhealthy {
		addOne(&m.probes)
	} else {
		m.probes = 0
	}
	// Only passes made since the quarantine began lift it.
	m.passes = 0
	return m.moveLocked(Unhealthy, reason)
}

// Observe applies the outcome of one check that took latency, under
// settings set, and returns the state before and after, and the
// transition (the zero Transition for none). dep names a dependency that
// is unhealthy, if any.
func (m *Machine) Observe(set *Settings, err error, latency time.Duration, dep string) (from, to State, t Transition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	from = m.stateLocked()
	m.lastCheck, m.lastLatency, m.lastErr = time.Now().UnixNano(), latency, ""
	if err != nil {
		m.lastErr = err.Error()
		addOne(&m.fails)
		m.passes = 0
		failed := fmt.Sprintf("health check failed (%d in a row, unhealthy_after = %d): %v", m.fails, set.UnhealthyAfter, err)
		switch {
		case from == Unhealthy:
			addOne(&m.probes)
			m.reason = fmt.Sprintf("quarantined; recovery probe %d failed: %v", m.probes, err)
		case from == Recovering:
			addOne(&m.probes)
			t = m.moveLocked(Unhealthy, "a check failed while recovering: "+err.Error())
		case int(m.fails) >= set.UnhealthyAfter:
			m.probes = 0
			t = m.moveLocked(Unhealthy, failed)
		default:
			t = m.moveLocked(Degraded, failed)
		}
		return from, m.stateLocked(), t
	}
	m.fails = 0
	addOne(&m.passes)
	switch {
	case from.Quarantined() && int(m.passes) < set.HealthyAfter:
		t = m.moveLocked(Recovering, fmt.Sprintf("health check passed (%d in a row, healthy_after = %d)", m.passes, set.HealthyAfter))
	case dep != "":
		t = m.moveLocked(Degraded, "dependency "+dep)
	default:
		m.probes = 0
		reason := "checks pass"
		if from.Quarantined() {
			reason = fmt.Sprintf("health check passed (%d in a row, healthy_after = %d); quarantine lifted", m.passes, set.HealthyAfter)
		}
		t = m.moveLocked(Healthy, reason)
	}
	return from, m.stateLocked(), t
}

// Current returns the state.
func (m *Machine) Current() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stateLocked()
}

// NextCheck returns the delay from now until the next check under
// settings set: the interval, or while quarantined a backoff that doubles
// per failed probe up to four intervals; plus jitter (see Jittered).
func (m *Machine) NextCheck(set *Settings, now time.Time) time.Duration {
	m.mu.Lock()
	d := set.Interval
	if m.stateLocked() == Unhealthy {
		d = set.Interval << min(m.probes, 2)
		d = min(d, maxProbeBackoff*set.Interval)
	}
	m.mu.Unlock()
	return Jittered(now, d, set.Jitter)
}

// CheckGrid is the spacing of the moments checks are aligned to.
const CheckGrid = time.Second

// Jittered returns d plus up to jitter: a whole multiple of CheckGrid
// after now+d when the jitter spans one, else a random amount. Checks due
// at about the same time then run together, and their calls share the
// plugin connection's writes and wake-ups (with a thousand resources this
// cuts the idle CPU of host and plugin about threefold;
// docs/PERFORMANCE.md).
func Jittered(now time.Time, d, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return d
	}
	at := now.Add(d)
	first := at.Truncate(CheckGrid)
	if first.Before(at) {
		first = first.Add(CheckGrid)
	}
	last := at.Add(jitter).Truncate(CheckGrid)
	if last.Before(first) {
		return d + rand.N(jitter)
	}
	n := int64(last.Sub(first)/CheckGrid) + 1
	return first.Add(time.Duration(rand.Int64N(n)) * CheckGrid).Sub(now)
}

// Report returns the resource's health as the machine knows it; the
// caller fills in ID, Type and Breaker.
func (m *Machine) Report() Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	state := m.stateLocked()
	return Resource{
		State: state, Reason: m.reason, Since: time.Unix(0, m.since), Quarantined: state.Quarantined(),
		ConsecutiveFailures: int(m.fails), ConsecutivePasses: int(m.passes),
		LastCheck: unixTime(m.lastCheck), LastLatency: m.lastLatency, LastError: m.lastErr,
		History: m.historyLocked(),
	}
}
