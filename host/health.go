package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/host/health"
	"github.com/nebula-resource/nebula-resource/host/internal/kinded"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// HealthState is where a resource stands with its health checks; see
// health.State.
type HealthState = health.State

// The health states. A resource that is not running (failed, blocked,
// unavailable) reports HealthUnhealthy.
const (
	HealthStarting   = health.Starting
	HealthHealthy    = health.Healthy
	HealthDegraded   = health.Degraded
	HealthUnhealthy  = health.Unhealthy
	HealthRecovering = health.Recovering
)

// HealthEvent is one state change of a resource's health or of its circuit
// breaker.
type HealthEvent = health.Event

// ResourceHealth is a resource's health, for GET /v1/health and
// `nebula-host health`.
type ResourceHealth = health.Resource

// HealthReport is the health of every resource, with aggregates: each
// resource type, and the host as a whole, take the worst state of their
// resources.
type HealthReport = health.Report

// logHealth logs a transition of r's health, if t is one.
func (r *resource) logHealth(t health.Transition) {
	if !t.Moved() {
		return
	}
	level := slog.LevelInfo
	if t.To.Severity() > t.From.Severity() {
		level = slog.LevelWarn
	}
	r.logger().Log(context.Background(), level, "health "+string(t.To), "from", string(t.From), "reason", t.Reason)
}

// resetHealth starts r's health state machine over, after r was
// configured again.
func (r *resource) resetHealth(reason string) { r.logHealth(r.health.Reset(reason)) }

// markNotRunning records that r is not running (failed, blocked,
// unavailable), which is unhealthy.
func (r *resource) markNotRunning(reason string) { r.logHealth(r.health.MarkNotRunning(reason)) }

// observeCheck applies the outcome of one of r's checks and returns the
// health state before and after. dep names a dependency that is
// unhealthy, if any.
func (r *resource) observeCheck(err error, latency time.Duration, dep string) (from, to HealthState) {
	from, to, t := r.health.Observe(r.checks, err, latency, dep)
	r.logHealth(t)
	return from, to
}

// nextCheck returns the delay from now until r's next check.
func (r *resource) nextCheck(now time.Time) time.Duration { return r.health.NextCheck(r.checks, now) }

// watchHealth schedules each resource's health checks on the host's
// scheduler. The first check of each comes soon after start, so that
// health says something early: at the next whole health.CheckGrid, where
// the first checks of every resource go together (in one round, runRound:
// a plugin's in one call), or for an interval shorter than that at a
// random moment within it; each next one the interval (or the
// quarantine's backoff) plus jitter after the last one ended. They run
// until Close.
func (h *Host) watchHealth() {
	h.sched.Reserve(len(h.order))
	now := time.Now()
	tick := now.Truncate(health.CheckGrid).Add(health.CheckGrid).Sub(now)
	for _, r := range h.order {
		first := tick
		if r.checks.Interval < health.CheckGrid {
			first = rand.N(r.checks.Interval) + 1
		}
		h.sched.Schedule(r, first)
	}
}

// Group makes r's health checks, the task of its job in the host's
// scheduler, go in the host's rounds (runRound).
func (r *resource) Group() health.Group { return (*rounds)(r.host) }

// rounds is the host as the health.Group of its resources' checks.
type rounds Host

// RunRound runs a round of checks: see runRound.
func (g *rounds) RunRound(ts []health.Task, next func(health.Task, time.Duration)) {
	(*Host)(g).runRound(ts, next)
}

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
func (h *Host) runRound(ts []health.Task, next func(health.Task, time.Duration)) {
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
		if r.lifecycle() == StateClosed {
			next(r, -1) // removed or replaced: its checks end
			continue
		}
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
			items = append(items, sdk.CheckItem{Instance: c.pc.inst, Timeout: r.checks.Timeout})
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
	if r.health.Current().Quarantined() {
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
	quarantined := r.health.Current().Quarantined()
	ctx, cancel := context.WithTimeout(h.life, r.checks.Timeout)
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
	return from, to, to == HealthUnhealthy && !from.Quarantined() || from.Quarantined() && !to.Quarantined()
}

// settle quarantines r, or lifts its quarantine, after a check moved its
// health from from to to.
func (h *Host) settle(r *resource, from, to HealthState, dep string) {
	switch {
	case to == HealthUnhealthy && !from.Quarantined():
		n := r.quarantine()
		r.logger().Warn("resource quarantined: new leases fail until it recovers", "closed_idle_instances", n)
	case from.Quarantined() && !to.Quarantined():
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
		d := h.find(id)
		if d == nil {
			continue
		}
		if s := d.lifecycle(); s != StateReady {
			return fmt.Sprintf("%s is %s", id, s)
		}
		if s := d.health.Current(); s.Quarantined() {
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
		if t, ok := rep.Types[rh.Type]; !ok || rh.State.Severity() > t.Severity() {
			rep.Types[rh.Type] = rh.State
		}
		if rh.State.Severity() > rep.Status.Severity() {
			rep.Status = rh.State
		}
	}
	// A credential that cannot be refreshed, or a quota store that fails,
	// degrades the host: it serves, on the last good value or on local
	// limits, but not as configured.
	degrade := func() {
		if health.Degraded.Severity() > rep.Status.Severity() {
			rep.Status = health.Degraded
		}
	}
	rep.Credentials = h.credentialHealth()
	for _, c := range rep.Credentials {
		if c.State != "ok" {
			degrade()
		}
	}
	if id := h.quotaStoreID; id != "" {
		st := h.quota.Status()
		rep.QuotaStore = &health.QuotaStore{Resource: id, Degraded: st.Degraded, Since: st.Since, LastError: h.secrets.String(st.LastError)}
		if st.Degraded {
			degrade()
		}
	}
	return rep
}

// healthReport is r's health; a resource that is not running is unhealthy
// with the reason it is not.
func (r *resource) healthReport() ResourceHealth {
	rh := r.health.Report()
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
