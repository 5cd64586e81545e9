package host

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/credential"
	"github.com/nebula-resource/nebula-resource/host/health"
	"github.com/nebula-resource/nebula-resource/host/internal/kinded"
	"github.com/nebula-resource/nebula-resource/host/pool"
	"github.com/nebula-resource/nebula-resource/host/resilience"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// ResourceState is where a resource is in its life.
type ResourceState string

// The states of a resource.
const (
	StatePending     ResourceState = "pending"     // declared, not started yet
	StateReady       ResourceState = "ready"       // serving leases
	StateUnavailable ResourceState = "unavailable" // its plugin is restarting, or reconfiguring failed
	StateFailed      ResourceState = "failed"      // it could not be started
	StateBlocked     ResourceState = "blocked"     // not started because a dependency did not start
	StateClosed      ResourceState = "closed"
)

// resourceStates are the states by their index, which is how a resource
// keeps its state: in a byte, not a string's 16. Pending is 0, the state
// of a resource not started yet.
var resourceStates = [...]ResourceState{StatePending, StateReady, StateUnavailable, StateFailed, StateBlocked, StateClosed}

// closeGrace bounds closing a resource's sessions after the shutdown
// deadline has passed.
const closeGrace = 5 * time.Second

// resource is one configured resource, its pool of instances and the
// leases out on it. A host's resources are one allocation
// (Host.resources), and what resources alike have in common is shared
// (resourceSpec): a thousand idle resources cost a thousand of this
// struct.
type resource struct {
	id string // "type.name"; typ and name are its two parts
	// *resourceSpec is what the resource's block says, and its type:
	// shared by the resources alike, never changed, read as fields of the
	// resource's own (r.config, r.host).
	*resourceSpec
	pol    *resilience.Policies // nil when the resource declares no resilience policy
	health health.Machine
	series atomic.Pointer[series] // its metric series; nil until its first lease

	cfgMu sync.Mutex // serializes configure: start, plugin restarts and recovery

	mu      sync.Mutex // guards the fields below; never held across a plugin call
	state   uint8      // index in resourceStates (stateLocked)
	lastErr error
	cur     *generation // what the resource is on its plugin; nil unless ready
	leases  *leaseSet   // nil until the first lease

	// credNames are the credentials its block refers to; nil when none.
	credNames []string
	// credSeen is the store of credentials, and the versions of the
	// credNames' values in it, that the resource is configured with. A
	// reload that leaves the resource unchanged stores the new store's.
	credSeen atomic.Pointer[credSeen]
	// successor is the resource that replaced this one in a reload or a
	// credential rotation; a lease asked of this one, closed, goes there.
	successor atomic.Pointer[resource]
	// optional is set for a resource that is not critical (critical =
	// false, or the quota store unless it says critical = true): the host
	// is ready while it is not, and starts without it. A reload that
	// leaves the resource unchanged sets it anew.
	optional atomic.Bool
}

// credSeen is a credential store and versions of values in it.
type credSeen struct {
	store    *credential.Store
	versions []uint64
}

// leaseSet is the leases out on a resource. The first lease allocates
// it, so that a resource never leased keeps one nil pointer for it.
type leaseSet struct {
	out map[*Lease]struct{}
	// ended is nil until close waits on it; closed and dropped when a
	// lease ends.
	ended chan struct{}
}

// all returns the leases out; none for a nil set.
func (s *leaseSet) all() map[*Lease]struct{} {
	if s == nil {
		return nil
	}
	return s.out
}

// resourceKind is a resource type on a host: what every resource of the
// type shares, whatever its block says.
type resourceKind struct {
	// rtype is the type with the operations the host adds (sql).
	rtype *sdk.ResourceType
	// pluginType is the type as the plugin described it.
	pluginType *sdk.ResourceType
	// ops are rtype's operations by name, each with its compiled
	// argument checker.
	ops map[string]*operation
	// series are the metric series of the type's resources, when the
	// series are per type; nil until a resource of the type is leased.
	series atomic.Pointer[series]
	prov   *provider
	// host gives the resources the host's logger (to which logger adds
	// the resource when there is something to say, so that an idle
	// resource keeps no handler of its own), its secrets (masked in what a
	// resource reports about itself) and its telemetry.
	host *Host
}

// resourceSpec is what a resource block says, copied out of the
// config.Resource so that the host keeps nothing of the parsed
// configuration once started, with the kind of its type; shared by the
// resources of a kind whose blocks say the same.
type resourceSpec struct {
	*resourceKind
	// config is the driver's configuration (JSON).
	config json.RawMessage
	// deps are the ids of the resource's dependencies; nil when none.
	deps []string
	// set is the block's pool and resilience settings, checks its health
	// block's.
	set    *settings
	checks *health.Settings
	// endpoint is what the semantic conventions say of the backend.
	endpoint *endpoint
}

// specKey is a resourceSpec as a comparable value.
type specKey struct {
	kind         *resourceKind
	config, deps string // deps joined by NULs
	set          *settings
	checks       *health.Settings
	endpoint     *endpoint
}

// sharedInfo holds the immutable data that resources alike share, so
// that a thousand resources of one type keep one copy of it: their kind
// and their spec, and the parts of specs (settings, endpoints) that
// resources configured otherwise may still share.
type sharedInfo struct {
	kinds     map[string]*resourceKind
	specs     map[specKey]*resourceSpec
	endpoints map[endpoint]*endpoint
	health    map[health.Settings]*health.Settings
	settings  map[settingsKey]*settings
}

func newSharedInfo() *sharedInfo {
	return &sharedInfo{
		kinds: map[string]*resourceKind{}, specs: map[specKey]*resourceSpec{}, endpoints: map[endpoint]*endpoint{},
		health: map[health.Settings]*health.Settings{}, settings: map[settingsKey]*settings{},
	}
}

// settings are a resource block's pool and resilience blocks.
type settings struct {
	// settingsKey holds the blocks by value; pool is the pool block.
	settingsKey
	// res is the resilience block; its pointers point into settingsKey.
	res config.Resilience
}

// settingsKey is settings as a comparable value: the resilience block's
// optional blocks by value, with whether each is set.
type settingsKey struct {
	pool                    config.Pool
	timeout, attemptTimeout time.Duration
	retry                   config.Retry
	breaker                 config.CircuitBreaker
	bulkhead                config.Bulkhead
	hasRetry, hasBreaker    bool
	hasBulkhead             bool
}

func (si *sharedInfo) settingsOf(r *config.Resource) *settings {
	rs := r.Resilience
	k := settingsKey{pool: r.Pool, timeout: rs.Timeout, attemptTimeout: rs.AttemptTimeout}
	if rs.Retry != nil {
		k.retry, k.hasRetry = *rs.Retry, true
	}
	if rs.CircuitBreaker != nil {
		k.breaker, k.hasBreaker = *rs.CircuitBreaker, true
	}
	if rs.Bulkhead != nil {
		k.bulkhead, k.hasBulkhead = *rs.Bulkhead, true
	}
	if s, ok := si.settings[k]; ok {
		return s
	}
	s := &settings{settingsKey: k}
	s.res = config.Resilience{Timeout: k.timeout, AttemptTimeout: k.attemptTimeout}
	if k.hasRetry {
		s.res.Retry = &s.retry
	}
	if k.hasBreaker {
		s.res.CircuitBreaker = &s.breaker
	}
	if k.hasBulkhead {
		s.res.Bulkhead = &s.bulkhead
	}
	si.settings[k] = s
	return s
}

// kind returns the kind of type t, served by p on h: a new one when
// another provider served the type before (a plugin upgrade).
func (si *sharedInfo) kind(t sdk.ResourceType, p *provider, h *Host) *resourceKind {
	if k, ok := si.kinds[t.Name]; ok && k.prov == p {
		return k
	}
	withSQL := withSQLOperations(t)
	k := &resourceKind{rtype: &withSQL, pluginType: &t, prov: p, host: h, ops: compileOperations(withSQL)}
	si.kinds[t.Name] = k
	return k
}

// spec returns the spec of r, of the kind k.
func (si *sharedInfo) spec(r *config.Resource, k *resourceKind) *resourceSpec {
	deps := r.Dependencies()
	key := specKey{
		kind: k, config: string(r.Config), deps: strings.Join(deps, "\x00"), set: si.settingsOf(r),
		checks: si.healthSettings(r.Health), endpoint: si.endpoint(endpointOf(k.prov.info.Name, r.Config)),
	}
	if s, ok := si.specs[key]; ok {
		return s
	}
	s := &resourceSpec{resourceKind: k, config: r.Config, set: key.set, checks: key.checks, endpoint: key.endpoint}
	if len(deps) > 0 {
		s.deps = deps
	}
	si.specs[key] = s
	return s
}

// prune forgets the specs no resource of rs has, so that the specs of
// the configurations that reloads and rotations replaced do not pile up.
func (si *sharedInfo) prune(rs []*resource) {
	inUse := make(map[*resourceSpec]bool, len(rs))
	for _, r := range rs {
		inUse[r.resourceSpec] = true
	}
	for k, s := range si.specs {
		if !inUse[s] {
			delete(si.specs, k)
		}
	}
}

func (si *sharedInfo) endpoint(e endpoint) *endpoint {
	if p, ok := si.endpoints[e]; ok {
		return p
	}
	si.endpoints[e] = &e
	return &e
}

func (si *sharedInfo) healthSettings(h config.Health) *health.Settings {
	s := health.SettingsOf(h)
	if p, ok := si.health[s]; ok {
		return p
	}
	si.health[s] = &s
	return &s
}

// init makes r, in state pending, the resource of block c, of type t
// served by p on h; id is c's id.
func (r *resource) init(id string, c *config.Resource, t sdk.ResourceType, si *sharedInfo, p *provider, h *Host) {
	r.id, r.resourceSpec = id, si.spec(c, si.kind(t, p, h))
	r.credNames = credNames(c)
	r.optional.Store(!h.critical(c))
	r.health.Init()
	r.pol = resilience.New(r.id, &r.set.res, h.secrets, r)
}

// pooling is how the resource's type pools its instances.
func (r *resource) pooling() sdk.Pooling {
	if r.rtype.Pooling == "" {
		return sdk.PoolingShared
	}
	return r.rtype.Pooling
}

// findResource returns the resource of rs, sorted by id, whose id is id;
// nil if none.
func findResource(rs []*resource, id string) *resource {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].id >= id })
	if i < len(rs) && rs[i].id == id {
		return rs[i]
	}
	return nil
}

// typ is the resource's type, the first part of its id.
func (r *resource) typ() string { return r.id[:strings.IndexByte(r.id, '.')] }

// name is the resource's name, the second part of its id.
func (r *resource) name() string { return r.id[strings.IndexByte(r.id, '.')+1:] }

// logger returns the host's logger with the resource's attributes.
func (r *resource) logger() *slog.Logger {
	return r.host.log.With("resource", r.id, "type", r.typ())
}

// Retried, Rejected and BreakerChanged are the resource's
// resilience.Hooks.
func (r *resource) Retried() { r.host.tel.m.inc(retriesOf, r) }

func (r *resource) Rejected(byBreaker bool) {
	if byBreaker {
		r.host.tel.m.inc(breakerRejectOf, r)
	} else {
		r.host.tel.m.inc(bulkheadRejectOf, r)
	}
}

// BreakerChanged logs a transition of the resource's circuit breaker,
// records it in the health history and counts it.
func (r *resource) BreakerChanged(from, to BreakerState, reason string) {
	level := slog.LevelInfo
	if to == BreakerOpen {
		level = slog.LevelWarn
	}
	r.logger().Log(context.Background(), level, "circuit breaker "+string(to), "from", string(from), "reason", reason)
	r.health.BreakerChanged(from, to, reason)
	r.host.tel.m.inc(transitionsOf, r, string(to))
}

// stateLocked returns the resource's state.
func (r *resource) stateLocked() ResourceState { return resourceStates[r.state] }

// setStateLocked changes the resource's state.
func (r *resource) setStateLocked(s ResourceState) {
	r.state = uint8(slices.Index(resourceStates[:], s))
}

// configure configures the resource on the provider's current plugin and
// warms its pool. On failure it leaves the resource in failState.
func (r *resource) configure(ctx context.Context, failState ResourceState) error {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	if r.lifecycle() == StateReady {
		return nil // configured meanwhile, by a plugin restart or recovery
	}
	err := r.tryConfigure(ctx)
	if err != nil {
		r.setFailed(failState, err)
	}
	return err
}

func (r *resource) setFailed(state ResourceState, err error) {
	r.mu.Lock()
	closed := r.stateLocked() == StateClosed
	if !closed {
		r.setStateLocked(state)
		r.lastErr = err
	}
	r.mu.Unlock()
	if !closed {
		r.markNotRunning(r.host.secrets.String(fmt.Sprintf("%s: %v", state, err)))
	}
}

func (r *resource) tryConfigure(ctx context.Context) error {
	d, gen, err := r.prov.driver()
	if err != nil {
		return err
	}
	res, err := d.Configure(ctx, sdk.ConfigureRequest{Type: r.typ(), Name: r.name(), Config: r.config})
	if err != nil {
		return err
	}
	g := &generation{r: r, res: res, n: gen}
	p, err := newInstancePool(g)
	if err == nil {
		if err = p.warm(ctx); err != nil {
			err = fmt.Errorf("open the first instances: %w", err)
		}
	}
	if err != nil {
		if p != nil {
			_ = p.close(ctx)
		}
		_ = res.Close(ctx)
		return err
	}
	g.pool = p
	r.mu.Lock()
	if r.stateLocked() == StateClosed {
		r.mu.Unlock()
		// The host closed meanwhile; nothing else will close these.
		cctx := context.WithoutCancel(ctx)
		_ = p.close(cctx)
		_ = res.Close(cctx)
		return fmt.Errorf("%s: %w", r.id, ErrClosed)
	}
	r.cur = g
	r.setStateLocked(StateReady)
	r.lastErr = nil
	r.mu.Unlock()
	return nil
}

// pluginExited marks the resource unavailable if it belonged to the plugin
// generation that exited, and drops its pool: the sessions died with the
// process.
func (r *resource) pluginExited(gen uint64) {
	r.mu.Lock()
	g := r.cur
	if g == nil || g.n != gen || r.stateLocked() == StateClosed {
		r.mu.Unlock()
		return
	}
	r.cur = nil
	r.setStateLocked(StateUnavailable)
	why := sdk.Errorf(sdk.KindUnavailable, "plugin %s exited; restarting", r.prov.name)
	r.lastErr = why
	// Counted while the resource is not closed: before Host.shutdown,
	// which closes it first, waits.
	r.host.wg.Add(1)
	r.mu.Unlock()
	r.markNotRunning(why.Error())
	// Leases out fail fast against the dead plugin and come back soon; one
	// a caller holds without calling is taken back after 2 s. The plugin
	// restarts meanwhile: this runs on the supervisor's goroutine.
	go func() {
		defer r.host.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = g.pool.close(ctx)
	}()
}

// acquire leases an instance from the pool, in a span of its own.
func (r *resource) acquire(ctx context.Context, h *Host, owner Owner) (*Lease, error) {
	ctx, span := r.startSpan(ctx, "acquire", owner)
	began := time.Now()
	l, err := r.acquireLease(ctx, h, owner)
	r.host.tel.m.observeAcquire(r, time.Since(began))
	endSpan(span, err)
	return l, err
}

func (r *resource) acquireLease(ctx context.Context, h *Host, owner Owner) (*Lease, error) {
	r.mu.Lock()
	if r.stateLocked() != StateReady {
		if next := r.successor.Load(); next != nil && r.stateLocked() == StateClosed {
			r.mu.Unlock()
			return next.acquireLease(ctx, h, owner) // replaced: the lease is the new one's
		}
		err := r.notReadyLocked()
		r.mu.Unlock()
		return nil, err
	}
	g := r.cur
	r.mu.Unlock()
	if r.health.Current().Quarantined() {
		return nil, r.quarantinedError()
	}
	unquota, err := h.admit(ctx, owner, r.id)
	if err != nil {
		return nil, err
	}

	l := newLease()
	pl, err := g.pool.acquire(ctx, &l.shared)
	if err != nil {
		leases.Put(l)
		if unquota != nil {
			unquota()
		}
		if next := r.successor.Load(); next != nil && errors.Is(err, pool.ErrClosed) {
			return next.acquireLease(ctx, h, owner) // replaced meanwhile
		}
		// An open refused for its credentials reads them again, once:
		// when they changed, the resource is configured anew with them
		// and the lease comes from there.
		if sdk.KindOf(err) == sdk.KindUnauthenticated && h.refreshCredentials(ctx, r) {
			return r.successor.Load().acquireLease(ctx, h, owner)
		}
		return nil, r.acquireError(err)
	}
	l.h, l.r, l.pl, l.inst, l.gen, l.owner, l.acquired, l.unquota = h, r, pl, pl.instance(), g.n, owner, time.Now(), unquota
	r.mu.Lock()
	if r.stateLocked() == StateClosed || r.cur != g {
		r.mu.Unlock()
		pl.release()
		if unquota != nil {
			unquota()
		}
		if next := r.successor.Load(); next != nil {
			leases.Put(l)
			return next.acquireLease(ctx, h, owner) // replaced meanwhile
		}
		return nil, r.acquireError(pool.ErrClosed)
	}
	if r.leases == nil {
		r.leases = &leaseSet{out: make(map[*Lease]struct{})}
	}
	r.leases.out[l] = struct{}{}
	r.mu.Unlock()
	return l, nil
}

// acquireError gives a pool's error its kind.
func (r *resource) acquireError(err error) error {
	var ee *pool.ExhaustedError
	switch {
	case errors.As(err, &ee):
		return kinded.Msg(sdk.KindResourceExhausted, err, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return sdk.WrapError(sdk.KindOf(err), err, "acquire "+r.id)
	case errors.Is(err, pool.ErrClosed), errors.Is(err, pool.ErrNoReplica):
		return newError(sdk.KindUnavailable, ErrNotReady, "%s: %v", r.id, err)
	}
	if sdk.KindOf(err) == sdk.KindUnknown {
		return sdk.WrapError(sdk.KindUnavailable, err, "open an instance of "+r.id)
	}
	return err
}

// leaseEnded forgets a lease.
func (r *resource) leaseEnded(l *Lease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.unquota != nil {
		l.unquota()
		l.unquota = nil
	}
	if _, ok := r.leases.all()[l]; ok {
		delete(r.leases.out, l)
		if r.leases.ended != nil {
			close(r.leases.ended)
			r.leases.ended = nil
		}
	}
}

func (r *resource) notReadyLocked() error {
	if r.stateLocked() == StateClosed {
		return sdk.WrapError(sdk.KindUnavailable, ErrClosed, r.id+" is closed")
	}
	msg := fmt.Sprintf("%s is %s", r.id, r.stateLocked())
	if why := r.reasonLocked(); why != "" {
		msg += ": " + why
	}
	return newError(sdk.KindUnavailable, ErrNotReady, "%s", msg)
}

// reasonLocked says why the resource is not ready, preferring what its
// plugin's supervisor knows while a restart is failing.
func (r *resource) reasonLocked() string {
	if r.stateLocked() == StateUnavailable && r.prov.sup != nil {
		pi := r.prov.sup.Info()
		switch {
		case pi.State == supervisor.StateCrashLoop:
			return fmt.Sprintf("plugin %s is crash-looping: it failed %d times in a row, next restart in %v (last error: %s)",
				r.prov.name, pi.Failures, max(time.Until(pi.NextRestart), 0).Round(time.Millisecond), pi.LastError)
		case pi.State == supervisor.StateRestarting && pi.LastError != "":
			return fmt.Sprintf("plugin %s is restarting (last error: %s)", r.prov.name, pi.LastError)
		}
	}
	if r.lastErr != nil {
		return r.lastErr.Error()
	}
	return ""
}

// close stops new leases, waits for the leases out to come back (until ctx
// ends), then closes the pool and the resource. The pools of plugin
// generations that exited close in the background still; Host.shutdown
// waits for them.
func (r *resource) close(ctx context.Context) error {
	r.mu.Lock()
	if r.stateLocked() == StateClosed {
		r.mu.Unlock()
		return nil
	}
	r.setStateLocked(StateClosed)
drain:
	for len(r.leases.all()) > 0 {
		if r.leases.ended == nil {
			r.leases.ended = make(chan struct{})
		}
		ch := r.leases.ended
		r.mu.Unlock()
		select {
		case <-ch:
			r.mu.Lock()
		case <-ctx.Done():
			r.mu.Lock()
			for l := range r.leases.all() {
				r.logger().Warn("closing with a lease still out", "owner", l.owner.String(), "held", time.Since(l.acquired).Round(time.Millisecond).String())
			}
			break drain
		}
	}
	g := r.cur
	r.cur = nil
	r.mu.Unlock()
	if g == nil {
		return nil
	}

	// The pool waits for its leases no longer than ctx; past the deadline
	// it takes them back at once and closes each instance within its own
	// call timeout. Unconfiguring still gets a short, bounded chance, so
	// that one stuck lease does not keep the resource configured.
	var errs []error
	if err := g.pool.close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close %s pool: %w", r.id, err))
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
		defer cancel()
	}
	if err := g.res.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("unconfigure %s: %w", r.id, err))
	}
	return errors.Join(errs...)
}

// overdue returns the leases held past the resource's lease timeout that
// have not been reported yet, marking them reported.
func (r *resource) overdue(now time.Time) []*Lease {
	limit := r.set.pool.LeaseTimeout
	if limit <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Lease
	for l := range r.leases.all() {
		if now.Sub(l.acquired) > limit && l.markReported() {
			out = append(out, l)
		}
	}
	return out
}

// ResourceInfo describes a resource for listings and the admin endpoint.
type ResourceInfo struct {
	ID     string        `json:"id"`
	Type   string        `json:"type"`
	Name   string        `json:"name"`
	Plugin string        `json:"plugin"`
	State  ResourceState `json:"state"`
	Error  string        `json:"error,omitempty"`
	// Critical reports whether the host is ready only while the resource
	// is (Host.Ready).
	Critical     bool            `json:"critical"`
	Pooling      sdk.Pooling     `json:"pooling"`
	Capabilities []string        `json:"capabilities"`
	DependsOn    []string        `json:"depends_on"`
	Operations   []OperationInfo `json:"operations"`
	Pool         PoolInfo        `json:"pool"`
	Resilience   ResilienceInfo  `json:"resilience"`
	Health       HealthState     `json:"health"`
}

// OperationInfo describes one operation of a resource.
type OperationInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Idempotent  bool   `json:"idempotent"`
	// IdempotentWhen says which calls of an operation that is not
	// idempotent are, and so may be retried: "method is GET, HEAD";
	// empty when none are.
	IdempotentWhen string         `json:"idempotent_when,omitempty"`
	Stream         sdk.StreamMode `json:"stream,omitempty"`
	Args           []ArgInfo      `json:"args"`
}

// ArgInfo describes one argument of an operation.
type ArgInfo struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Required    bool            `json:"required"`
	Default     json.RawMessage `json:"default,omitempty"`
	Sensitive   bool            `json:"sensitive,omitempty"`
	Description string          `json:"description,omitempty"`
}

// PoolInfo describes a resource's pool: its mode, the settings of its
// pool block, and a snapshot of its state.
type PoolInfo struct {
	Mode     sdk.Pooling  `json:"mode"`
	Settings PoolSettings `json:"settings"`
	Stat     pool.Stat    `json:"stat"`
	// Leases are the leases out, oldest first.
	Leases []LeaseInfo `json:"leases"`
}

// PoolSettings are the settings of a resource's pool block in effect,
// defaults filled in. Durations of "0s" mean never (or no limit).
type PoolSettings struct {
	MinSize           int    `json:"min_size"`
	MaxSize           int    `json:"max_size"`
	MaxIdle           int    `json:"max_idle"`
	Replicas          int    `json:"replicas"`
	IdleTimeout       string `json:"idle_timeout"`
	MaxLifetime       string `json:"max_lifetime"`
	LifetimeJitter    string `json:"lifetime_jitter"`
	AcquireTimeout    string `json:"acquire_timeout"`
	ValidateAfterIdle string `json:"validate_after_idle"`
	LeaseTimeout      string `json:"lease_timeout"`
	Reclaim           bool   `json:"reclaim"`
	Order             string `json:"order"`
	Selection         string `json:"selection"`
	// DrainTimeout bounds how long a replaced configuration serves its
	// leases out (a reload, a credential rotation).
	DrainTimeout string `json:"drain_timeout"`
}

// poolSettings returns the pool settings in effect: those written, with
// the pool's defaults in place of zeros.
func poolSettings(p config.Pool, mode sdk.Pooling) PoolSettings {
	p = effectivePool(p)
	if mode == sdk.PoolingExclusive {
		if p.MaxSize == 0 {
			p.MaxSize = pool.DefaultMaxSize()
		}
		if p.MaxIdle == 0 {
			p.MaxIdle = p.MaxSize
		}
		if p.Order == "" {
			p.Order = string(pool.LIFO)
		}
		if p.LifetimeJitter == 0 {
			p.LifetimeJitter = p.MaxLifetime / 10
		}
	} else {
		p.Replicas = max(p.Replicas, 1)
		if p.Selection == "" {
			p.Selection = string(pool.RoundRobin)
		}
	}
	d := func(v time.Duration) string { return v.String() }
	return PoolSettings{
		MinSize: p.MinSize, MaxSize: p.MaxSize, MaxIdle: p.MaxIdle, Replicas: p.Replicas,
		IdleTimeout: d(p.IdleTimeout), MaxLifetime: d(p.MaxLifetime), LifetimeJitter: d(p.LifetimeJitter),
		AcquireTimeout: d(p.AcquireTimeout), ValidateAfterIdle: d(p.ValidateAfterIdle), LeaseTimeout: d(p.LeaseTimeout),
		Reclaim: p.Reclaim, Order: p.Order, Selection: p.Selection, DrainTimeout: d(cmp.Or(p.DrainTimeout, defaultDrainTimeout)),
	}
}

// LeaseInfo describes a lease that is out.
type LeaseInfo struct {
	Owner Owner         `json:"owner"`
	Held  time.Duration `json:"held_ns"`
}

// OperationInfos describes operations for listings.
func OperationInfos(ops []sdk.Operation) []OperationInfo {
	out := make([]OperationInfo, 0, len(ops))
	for _, op := range ops {
		oi := OperationInfo{Name: op.Name, Description: op.Description, Idempotent: op.Idempotent, IdempotentWhen: idempotentWhen(op), Stream: op.Stream, Args: []ArgInfo{}}
		for _, a := range op.Args.Attributes {
			oi.Args = append(oi.Args, ArgInfo{
				Name: a.Name, Type: a.Type.String(), Required: a.Required, Default: a.Default,
				Sensitive: a.Sensitive, Description: a.Description,
			})
		}
		out = append(out, oi)
	}
	return out
}

func (r *resource) info() ResourceInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	pooling := r.pooling()
	ri := ResourceInfo{
		ID: r.id, Type: r.typ(), Name: r.name(), Plugin: r.prov.name, State: r.stateLocked(),
		Critical: !r.optional.Load(), Pooling: pooling, Capabilities: append([]string{}, r.rtype.Capabilities...),
		DependsOn:  append([]string{}, r.deps...),
		Operations: OperationInfos(r.rtype.Operations),
		Pool:       PoolInfo{Mode: pooling, Settings: poolSettings(r.set.pool, pooling), Leases: []LeaseInfo{}},
	}
	if r.cur != nil {
		ri.Pool.Stat = r.cur.pool.stat()
	}
	ri.Resilience = r.pol.Info()
	ri.Health = r.health.Current()
	now := time.Now()
	for l := range r.leases.all() {
		ri.Pool.Leases = append(ri.Pool.Leases, LeaseInfo{Owner: l.owner, Held: now.Sub(l.acquired)})
	}
	slices.SortFunc(ri.Pool.Leases, func(a, b LeaseInfo) int { return cmp.Compare(b.Held, a.Held) })
	if r.stateLocked() != StateReady {
		ri.Error = r.host.secrets.String(r.reasonLocked())
	}
	return ri
}

// timeoutContext bounds a lifecycle call that has no deadline of its own.
func timeoutContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
