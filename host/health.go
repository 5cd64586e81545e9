package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/internal/kinded"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Defaults of the health block's settings.
const (
	defaultHealthInterval = 15 * time.Second
	defaultHealthTimeout  = 5 * time.Second
	defaultUnhealthyAfter = 3
	defaultHealthyAfter   = 2
	// healthHistory is how many transitions a resource remembers.
	healthHistory = 32
	// maxProbeBackoff caps the delay between recovery probes, in
	// intervals.
	maxProbeBackoff = 4
)

// HealthState is where a resource stands with its health checks:
//
//	starting → healthy ⇄ degraded → unhealthy (quarantined) → recovering → healthy
//
// A degraded resource still serves: a check failed, fewer times in a row
// than unhealthy_after, or a resource it depends on is unhealthy. An
// unhealthy one is quarantined: it takes no new leases, its idle instances
// are closed, and the host probes it with backoff. The first probe that
// passes makes it recovering; healthy_after passes in a row make it
// healthy, with its pool warmed again.
type HealthState string

// The health states. A resource that is not running (failed, blocked,
// unavailable) reports HealthUnhealthy.
const (
	HealthStarting   HealthState = "starting"
	HealthHealthy    HealthState = "healthy"
	HealthDegraded   HealthState = "degraded"
	HealthUnhealthy  HealthState = "unhealthy"
	HealthRecovering HealthState = "recovering"
)

// severity orders health states from best to worst, for aggregates.
func (s HealthState) severity() int {
	switch s {
	case HealthHealthy:
		return 0
	case HealthStarting:
		return 1
	case HealthDegraded:
		return 2
	case HealthRecovering:
		return 3
	}
	return 4
}

// quarantined reports whether a resource in this state takes no leases.
func (s HealthState) quarantined() bool { return s == HealthUnhealthy || s == HealthRecovering }

// HealthEvent is one state change of a resource's health or of its circuit
// breaker.
type HealthEvent struct {
	At time.Time `json:"at"`
	// Kind is "health" or "breaker".
	Kind   string `json:"kind"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// ResourceHealth is a resource's health, for GET /v1/health and
// `nebula-host health`.
type ResourceHealth struct {
	ID    string      `json:"id"`
	Type  string      `json:"type"`
	State HealthState `json:"state"`
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
	Breaker BreakerState `json:"breaker,omitempty"`
	// History holds the latest state changes, oldest first.
	History []HealthEvent `json:"history"`
}

// HealthReport is the health of every resource, with aggregates: each
// resource type, and the host as a whole, take the worst state of their
// resources.
type HealthReport struct {
	Status    HealthState            `json:"status"`
	Types     map[string]HealthState `json:"types"`
	Resources []ResourceHealth       `json:"resources"`
}

// healthSettings are a health block with defaults filled in.
type healthSettings struct {
	interval, timeout, jitter    time.Duration
	unhealthyAfter, healthyAfter int
}

func healthSettingsOf(h config.Health) healthSettings {
	s := healthSettings{
		interval:       cmp.Or(h.Interval, defaultHealthInterval),
		unhealthyAfter: cmp.Or(h.UnhealthyAfter, defaultUnhealthyAfter),
		healthyAfter:   cmp.Or(h.HealthyAfter, defaultHealthyAfter),
	}
	s.timeout = cmp.Or(h.Timeout, min(defaultHealthTimeout, s.interval))
	s.jitter = cmp.Or(h.Jitter, s.interval/10)
	return s
}

// health is one resource's health state machine, part of the resource.
// The resource's methods that move it (observeCheck, markNotRunning,
// resetHealth) take its settings and its logger from the resource, so
// that it keeps no pointer back; its counters are int32 and its state an
// index, since every resource has one.
type health struct {
	mu          sync.Mutex
	since       int64 // Unix nanoseconds
	lastCheck   int64 // Unix nanoseconds; 0 before the first check
	lastLatency time.Duration
	reason      string
	lastErr     string
	// last is the latest transition (its at 0 before the first), older
	// the ones before it, oldest first, healthHistory in all at most: a
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

// init makes h a state machine in state starting.
func (h *health) init() {
	h.since, h.state = time.Now().UnixNano(), stateIndex(string(HealthStarting))
}

// stateLocked returns the state.
func (h *health) stateLocked() HealthState { return HealthState(eventStates[h.state]) }

// addOne adds one to a count of checks or probes, which stays at the
// largest int32 rather than wrap: a count past it would mean the same to
// the state machine.
func addOne(n *int32) {
	if *n < math.MaxInt32 {
		*n++
	}
}

// event is a HealthEvent as the history keeps it, in 32 bytes rather than
// 88: a thousand resources each remember at least their first change.
type event struct {
	at       int64 // Unix nanoseconds
	reason   string
	breaker  bool  // a breaker transition, not a health one
	from, to uint8 // indexes in eventStates
}

// eventStates are the states an event moves between: health states, then
// breaker states, then "" (no breaker) last, for any other.
var eventStates = [...]string{
	string(HealthStarting), string(HealthHealthy), string(HealthDegraded), string(HealthUnhealthy), string(HealthRecovering),
	string(BreakerClosed), string(BreakerOpen), string(BreakerHalfOpen), string(BreakerNone),
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
func (e event) public() HealthEvent {
	kind := "health"
	if e.breaker {
		kind = "breaker"
	}
	return HealthEvent{At: time.Unix(0, e.at), Kind: kind, From: eventStates[e.from], To: eventStates[e.to], Reason: e.reason}
}

// historyLocked is the history as reports show it, oldest first.
func (h *health) historyLocked() []HealthEvent {
	if h.last.at == 0 {
		return []HealthEvent{}
	}
	var older []event
	if h.older != nil {
		older = *h.older
	}
	out := make([]HealthEvent, 0, len(older)+1)
	for _, e := range older {
		out = append(out, e.public())
	}
	return append(out, h.last.public())
}

// recordLocked appends an event to the bounded history.
func (h *health) recordLocked(e event) {
	if h.last.at != 0 {
		if h.older == nil {
			h.older = new([]event)
		}
		if len(*h.older) == healthHistory-1 {
			*h.older = slices.Delete(*h.older, 0, 1)
		}
		*h.older = append(*h.older, h.last)
	}
	h.last = e
}

// moveHealthLocked changes r's health state, logging and recording the
// transition. r.health.mu is held.
func (r *resource) moveHealthLocked(to HealthState, reason string) {
	h := &r.health
	from := h.stateLocked()
	if to == from && reason == h.reason {
		return
	}
	h.state, h.reason = stateIndex(string(to)), reason
	if to == from {
		return // same state, new reason: not a transition
	}
	h.since = time.Now().UnixNano()
	h.recordLocked(newEvent(h.since, false, string(from), string(to), reason))
	level := slog.LevelInfo
	if to.severity() > from.severity() {
		level = slog.LevelWarn
	}
	r.logger().Log(context.Background(), level, "health "+string(to), "from", string(from), "reason", reason)
}

// breakerChanged records a circuit breaker transition in the history.
func (h *health) breakerChanged(from, to BreakerState, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recordLocked(newEvent(time.Now().UnixNano(), true, string(from), string(to), reason))
}

// resetHealth starts r's health state machine over, after r was
// configured again.
func (r *resource) resetHealth(reason string) {
	h := &r.health
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fails, h.passes, h.probes = 0, 0, 0
	r.moveHealthLocked(HealthStarting, reason)
}

// markNotRunning records that r is not running (failed, blocked,
// unavailable), which is unhealthy. Each further call while it stays so
// lengthens the backoff of the attempts to bring it back.
func (r *resource) markNotRunning(reason string) {
	h := &r.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stateLocked() == HealthUnhealthy {
		addOne(&h.probes)
	} else {
		h.probes = 0
	}
	r.moveHealthLocked(HealthUnhealthy, reason)
}

// observeCheck applies the outcome of one of r's checks and returns the
// health state before and after. dep names a dependency that is
// unhealthy, if any.
func (r *resource) observeCheck(err error, latency time.Duration, dep string) (from, to HealthState) {
	h, set := &r.health, r.checks
	h.mu.Lock()
	defer h.mu.Unlock()
	from = h.stateLocked()
	h.lastCheck, h.lastLatency, h.lastErr = time.Now().UnixNano(), latency, ""
	if err != nil {
		h.lastErr = err.Error()
		addOne(&h.fails)
		h.passes = 0
		failed := fmt.Sprintf("health check failed (%d in a row, unhealthy_after = %d): %v", h.fails, set.unhealthyAfter, err)
		switch {
		case from == HealthUnhealthy:
			addOne(&h.probes)
			h.reason = fmt.Sprintf("quarantined; recovery probe %d failed: %v", h.probes, err)
		case from == HealthRecovering:
			addOne(&h.probes)
			r.moveHealthLocked(HealthUnhealthy, "a check failed while recovering: "+err.Error())
		case int(h.fails) >= set.unhealthyAfter:
			h.probes = 0
			r.moveHealthLocked(HealthUnhealthy, failed)
		default:
			r.moveHealthLocked(HealthDegraded, failed)
		}
		return from, h.stateLocked()
	}
	h.fails = 0
	addOne(&h.passes)
	switch {
	case from.quarantined() && int(h.passes) < set.healthyAfter:
		r.moveHealthLocked(HealthRecovering, fmt.Sprintf("health check passed (%d in a row, healthy_after = %d)", h.passes, set.healthyAfter))
	case dep != "":
		r.moveHealthLocked(HealthDegraded, "dependency "+dep)
	default:
		h.probes = 0
		reason := "checks pass"
		if from.quarantined() {
			reason = fmt.Sprintf("health check passed (%d in a row, healthy_after = %d); quarantine lifted", h.passes, set.healthyAfter)
		}
		r.moveHealthLocked(HealthHealthy, reason)
	}
	return from, h.stateLocked()
}

// current returns the state.
func (h *health) current() HealthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stateLocked()
}

// nextCheck returns the delay from now until r's next check: the
// interval, or while quarantined a backoff that doubles per failed probe
// up to four intervals; plus jitter. When the jitter spans at least
// checkGrid, the check lands on a whole multiple of checkGrid within it,
// picked at random: checks due at about the same time then run together,
// and their calls share the plugin connection's writes and wake-ups (with
// a thousand resources this cuts the idle CPU of host and plugin about
// threefold; docs/PERFORMANCE.md).
func (r *resource) nextCheck(now time.Time) time.Duration {
	h, set := &r.health, r.checks
	h.mu.Lock()
	d := set.interval
	if h.stateLocked() == HealthUnhealthy {
		d = set.interval << min(h.probes, 2)
		d = min(d, maxProbeBackoff*set.interval)
	}
	h.mu.Unlock()
	return jittered(now, d, set.jitter)
}

// checkGrid is the spacing of the moments checks are aligned to.
const checkGrid = time.Second

// jittered returns d plus up to jitter: a whole multiple of checkGrid
// after now+d when the jitter spans one, else a random amount.
func jittered(now time.Time, d, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return d
	}
	at := now.Add(d)
	first := at.Truncate(checkGrid)
	if first.Before(at) {
		first = first.Add(checkGrid)
	}
	last := at.Add(jitter).Truncate(checkGrid)
	if last.Before(first) {
		return d + rand.N(jitter)
	}
	n := int64(last.Sub(first)/checkGrid) + 1
	return first.Add(time.Duration(rand.Int64N(n)) * checkGrid).Sub(now)
}

func (h *health) report() ResourceHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	state := h.stateLocked()
	return ResourceHealth{
		State: state, Reason: h.reason, Since: time.Unix(0, h.since), Quarantined: state.quarantined(),
		ConsecutiveFailures: int(h.fails), ConsecutivePasses: int(h.passes),
		LastCheck: unixTime(h.lastCheck), LastLatency: h.lastLatency, LastError: h.lastErr,
		History: h.historyLocked(),
	}
}

// watchHealth schedules each resource's health checks on the host's
// scheduler. The first check of each comes soon after start, so that
// health says something early: at the next whole checkGrid, where the
// first checks of every resource go together (in one round, runRound: a
// plugin's in one call), or for an interval shorter than that at a
// random moment within it; each next one the interval (or the
// quarantine's backoff) plus jitter after the last one ended. They run
// until Close.
func (h *Host) watchHealth() {
	h.sched.reserve(len(h.order))
	now := time.Now()
	tick := now.Truncate(checkGrid).Add(checkGrid).Sub(now)
	for _, r := range h.order {
		first := tick
		if r.checks.interval < checkGrid {
			first = rand.N(r.checks.interval) + 1
		}
		h.sched.schedule(r, first)
	}
}

// group makes r's health checks, the task of its job in the host's
// scheduler, go in the host's rounds (runRound).
func (r *resource) group() taskGroup { return r.host }

// maxAloneChecks bounds the checks of a round that run by themselves at
// once: recoveries, checks of quarantined resources, and checks that must
// open an instance first; and the quarantines and recoveries that the
// round's results start.
const maxAloneChecks = 16

// runRound checks the resources whose checks fell due together. Those
// whose check needs no more than a pooled instance's Check, almost all of
// them, are checked together with sdk.CheckAll: one call per plugin, and
// no goroutine per check waiting for its answer. The others (a recovery,
// a quarantined resource's probe of a fresh instance, an exclusive pool
// that must open an instance first) are checked each by itself, at most
// maxAloneChecks at once, as are the quarantines and recoveries that the
// results start. Each resource's next check is scheduled as soon as its
// own has ended.
func (h *Host) runRound(ts []task, next func(task, time.Duration)) {
	var (
		checks []roundCheck
		items  []sdk.CheckItem
		alone  []*resource
		slots  = make(chan struct{}, maxAloneChecks)
		wg     sync.WaitGroup // the checks and settles by themselves
		feed   sync.WaitGroup // what starts them
	)
	finish := func(r *resource) { next(r, r.nextCheck(time.Now())) }
	byItself := func(f func()) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			f()
		})
	}
	for _, t := range ts {
		r := t.(*resource)
		c, ok := h.startCheck(r)
		switch {
		case !ok:
			alone = append(alone, r)
		case c.pc.err != nil:
			h.checkedAlone(r, 0, c.pc.err, c.dep)
			finish(r)
		case c.pc.inst == nil:
			finish(r) // nothing to check now
		default:
			checks = append(checks, c)
			items = append(items, sdk.CheckItem{Instance: c.pc.inst, Timeout: r.checks.timeout})
		}
	}
	if len(alone) > 0 {
		feed.Go(func() {
			for _, r := range alone {
				byItself(func() {
					h.healthTick(r)
					finish(r)
				})
			}
		})
	}
	if len(checks) > 0 {
		began := time.Now()
		sdk.CheckAll(h.life, items, func(i int, err error) {
			c := &checks[i]
			c.g.pool.endCheck(c.pc, err)
			from, to, settle := h.checked(c.r, time.Since(began), err, c.dep)
			if !settle {
				finish(c.r)
				return
			}
			// A quarantine or recovery to carry out, with I/O: off the
			// way of the results after this one.
			feed.Go(func() {
				byItself(func() {
					h.settle(c.r, from, to, c.dep)
					finish(c.r)
				})
			})
		})
	}
	feed.Wait()
	wg.Wait()
}

// roundCheck is one resource's check in a round.
type roundCheck struct {
	r   *resource
	g   *generation
	pc  poolCheck
	dep string // an unhealthy dependency, found before the check
}

// startCheck begins r's check in a round, without I/O. ok is false when
// the check cannot go with the round's: r must be recovered or is
// quarantined (healthTick then checks it). c.pc.inst is nil when there is
// nothing to check now: r is not started, closed, or every instance of
// its exclusive pool is leased.
func (h *Host) startCheck(r *resource) (c roundCheck, ok bool) {
	if _, gen, err := r.prov.driver(); err == nil {
		if _, stale := r.stale(gen); stale {
			return c, false
		}
	}
	switch r.lifecycle() {
	case StateClosed, StatePending:
		return c, true
	case StateReady:
	default:
		return c, false
	}
	if r.health.current().quarantined() {
		return c, false
	}
	r.mu.Lock()
	g := r.cur
	r.mu.Unlock()
	if g == nil {
		return c, false
	}
	pc, open := g.pool.startCheck()
	if open {
		return c, false
	}
	return roundCheck{r: r, g: g, pc: pc, dep: h.unhealthyDependency(r)}, true
}

// healthTick runs one check of r by itself, or one attempt to bring back
// a resource that is not running.
func (h *Host) healthTick(r *resource) {
	if _, gen, err := r.prov.driver(); err == nil {
		if old, stale := r.stale(gen); stale {
			// The plugin restarted under a configure that was in flight:
			// the resource belongs to a process that is gone.
			r.pluginExited(old)
		}
	}
	switch state := r.lifecycle(); state {
	case StateClosed, StatePending:
		return
	case StateFailed, StateUnavailable, StateBlocked:
		h.recoverResource(r, state)
		return
	}
	dep := h.unhealthyDependency(r)
	quarantined := r.health.current().quarantined()
	ctx, cancel := context.WithTimeout(h.life, r.checks.timeout)
	began := time.Now()
	checked, err := r.healthCheck(ctx, quarantined)
	took := time.Since(began)
	cancel()
	if checked {
		h.checkedAlone(r, took, err, dep)
	}
}

// checkedAlone is checked and settle, one after the other.
func (h *Host) checkedAlone(r *resource, took time.Duration, err error, dep string) {
	if from, to, settle := h.checked(r, took, err, dep); settle {
		h.settle(r, from, to, dep)
	}
}

// checked records the result of a check of r that took took; dep is the
// unhealthy dependency found before it. settle is true when the result
// moves r into quarantine or out of it, which settle then carries out.
func (h *Host) checked(r *resource, took time.Duration, err error, dep string) (from, to HealthState, settle bool) {
	if h.life.Err() != nil {
		return from, to, false
	}
	h.tel.m.observeCheck(r, took, err)
	if err != nil {
		err = h.secrets.Error(err)
	}
	from, to = r.observeCheck(err, took, dep)
	return from, to, to == HealthUnhealthy && !from.quarantined() || from.quarantined() && !to.quarantined()
}

// settle quarantines r, or lifts its quarantine, after a check moved its
// health from from to to.
func (h *Host) settle(r *resource, from, to HealthState, dep string) {
	switch {
	case to == HealthUnhealthy && !from.quarantined():
		n := r.quarantine()
		r.logger().Warn("resource quarantined: new leases fail until it recovers", "closed_idle_instances", n)
	case from.quarantined() && !to.quarantined():
		wctx, wcancel := timeoutContext(h.life, h.o.callTimeout)
		err := r.rewarm(wctx)
		wcancel()
		if err != nil {
			r.observeCheck(fmt.Errorf("warm the pool again: %w", h.secrets.Error(err)), 0, dep)
			return
		}
		r.logger().Info("resource recovered: quarantine lifted")
	}
}

// recoverResource tries to configure again a resource that failed to
// start, was blocked by a dependency, or lost its plugin and could not be
// configured on the new one. Each failure backs off.
func (h *Host) recoverResource(r *resource, state ResourceState) {
	if dep := h.failedDependency(r); dep != "" {
		r.markNotRunning(fmt.Sprintf("%s: its dependency %s is not ready", state, dep))
		return
	}
	if _, _, err := r.prov.driver(); err != nil {
		r.markNotRunning(fmt.Sprintf("%s: plugin %s is not running", state, r.prov.name))
		return
	}
	failState := state
	if failState == StateBlocked {
		failState = StateFailed // its dependencies are ready now: the failure is its own
	}
	ctx, cancel := timeoutContext(h.life, h.o.callTimeout)
	defer cancel()
	if err := r.configure(ctx, failState); err != nil {
		return // setFailed recorded it
	}
	r.resetHealth("configured again after being " + string(state))
	r.logger().Info("resource ready after recovery", "was", string(state))
}

// unhealthyDependency describes the first dependency of r that is not
// running or is quarantined, or returns "".
func (h *Host) unhealthyDependency(r *resource) string {
	for _, id := range r.deps {
		d := findResource(h.resources, id)
		if d == nil {
			continue
		}
		if s := d.lifecycle(); s != StateReady {
			return fmt.Sprintf("%s is %s", id, s)
		}
		if s := d.health.current(); s.quarantined() {
			return fmt.Sprintf("%s is %s", id, s)
		}
	}
	return ""
}

// Health reports the health of every resource and the aggregates.
func (h *Host) Health() HealthReport {
	h.mu.Lock()
	order := append([]*resource(nil), h.order...)
	h.mu.Unlock()
	rep := HealthReport{Status: HealthHealthy, Types: map[string]HealthState{}, Resources: make([]ResourceHealth, 0, len(order))}
	for _, r := range order {
		rh := r.healthReport()
		rep.Resources = append(rep.Resources, rh)
		if t, ok := rep.Types[rh.Type]; !ok || rh.State.severity() > t.severity() {
			rep.Types[rh.Type] = rh.State
		}
		if rh.State.severity() > rep.Status.severity() {
			rep.Status = rh.State
		}
	}
	return rep
}

// healthReport is r's health; a resource that is not running is unhealthy
// with the reason it is not.
func (r *resource) healthReport() ResourceHealth {
	rh := r.health.report()
	rh.ID, rh.Type = r.id, r.typ()
	rh.Reason, rh.LastError = r.host.secrets.String(rh.Reason), r.host.secrets.String(rh.LastError)
	for i := range rh.History {
		rh.History[i].Reason = r.host.secrets.String(rh.History[i].Reason)
	}
	rh.Breaker = r.pol.Info().Breaker
	r.mu.Lock()
	state, why := r.stateLocked(), r.reasonLocked()
	r.mu.Unlock()
	switch state {
	case StateReady:
	case StatePending:
		rh.State, rh.Reason = HealthStarting, "not started yet"
	default:
		rh.State, rh.Quarantined = HealthUnhealthy, true
		rh.Reason = string(state)
		if why != "" {
			rh.Reason += ": " + r.host.secrets.String(why)
		}
	}
	return rh
}

// lifecycle returns the resource's state.
func (r *resource) lifecycle() ResourceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stateLocked()
}

// stale reports whether r is ready on a plugin generation other than
// gen, and returns that generation.
func (r *resource) stale(gen uint64) (old uint64, stale bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stateLocked() != StateReady || r.cur == nil || r.cur.n == gen {
		return 0, false
	}
	return r.cur.n, true
}

// healthCheck checks r once. Normally it checks a pooled instance: the one
// idle longest, or a fresh one when the pool is empty, never one a lease
// holds (then it checks nothing and says so). While r is quarantined it
// checks a fresh instance outside the pool, which holds only suspects.
func (r *resource) healthCheck(ctx context.Context, quarantined bool) (checked bool, err error) {
	r.mu.Lock()
	g := r.cur
	r.mu.Unlock()
	if g == nil {
		return true, sdk.Errorf(sdk.KindUnavailable, "%s has no pool", r.id)
	}
	if !quarantined {
		return g.pool.healthCheck(ctx)
	}
	inst, err := g.res.Open(ctx)
	if err != nil {
		return true, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
		defer cancel()
		_ = inst.Close(cctx)
	}()
	return true, inst.Check(ctx)
}

// quarantine stops new leases and closes the pool's idle instances, which
// the failed checks make suspect. It returns how many it closed.
func (r *resource) quarantine() int {
	r.mu.Lock()
	g := r.cur
	r.mu.Unlock()
	if g == nil {
		return 0
	}
	return g.pool.drainIdle()
}

// rewarm opens the pool's minimum of instances again after a quarantine.
func (r *resource) rewarm(ctx context.Context) error {
	r.mu.Lock()
	g := r.cur
	r.mu.Unlock()
	if g == nil {
		return sdk.Errorf(sdk.KindUnavailable, "%s has no pool", r.id)
	}
	return g.pool.warm(ctx)
}

// quarantinedError is the error a lease gets on a quarantined resource.
func (r *resource) quarantinedError() error {
	rh := r.healthReport()
	msg := fmt.Sprintf("%s is quarantined (%s since %s): %s", r.id, rh.State, rh.Since.Format(time.RFC3339), rh.Reason)
	return kinded.Msg(sdk.KindUnavailable, errors.Join(ErrQuarantined, ErrNotReady), msg)
}
