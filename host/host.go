package host

import (
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

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/credential"
	"github.com/nebula-resource/nebula-resource/host/health"
	"github.com/nebula-resource/nebula-resource/host/quota"
	"github.com/nebula-resource/nebula-resource/host/redact"
	"github.com/nebula-resource/nebula-resource/sdk"
)

type hostState int

// maxConcurrentStarts bounds the resources configured at once by Start,
// and those closed at once by Close: a thousand in flight together cost a
// heap peak (12 MB for 1,000 memory resources) and gain nothing over a
// few dozen.
const maxConcurrentStarts = 16

const (
	hostNew hostState = iota
	hostStarting
	hostRunning
	hostClosed
)

// Host runs resources: it starts their plugins, configures them, hands out
// leases, and keeps them working when plugins crash. Create one with New,
// call Start, and Close it when done. Its methods are safe for concurrent
// use.
type Host struct {
	cfg     *config.Config
	o       options
	log     *slog.Logger
	secrets *redact.Set

	// life is canceled by Close; background work (reconfiguring after a
	// plugin restart, watching leases) runs under it.
	life   context.Context
	cancel context.CancelFunc
	// wg counts the scheduler, the jobs it runs, and the closing of the
	// pools that plugins left when they exited (resource.pluginExited).
	wg sync.WaitGroup
	// sched runs the health checks and the sweep of overdue leases, from
	// one goroutine whatever the number of resources.
	sched *health.Scheduler

	warnings hcl.Diagnostics // found by prepare, before Start returns
	tel      *telemetry

	mu      sync.Mutex // guards the fields below; never held across a plugin call
	state   hostState
	catalog *catalog
	// resources are the resources sorted by id, found by binary search
	// (findResource). Those Start starts are all in one allocation, with
	// no map entry each, and not scattered amid the garbage that starting
	// them makes. Set by prepare; replaced, never changed, by a reload.
	resources []*resource
	order     []*resource   // declaration order
	levels    [][]*resource // dependency levels (config.Config.Levels), for starting and stopping in order
	// tenants are the tenant blocks; nil when there are none.
	tenants *tenantTable
	// timed are the resources that set a lease_timeout, whose leases are
	// swept every sweepEvery (timeLeasesLocked).
	timed      []*resource
	sweepEvery time.Duration

	// reloadMu serializes reloads and credential rotations (reload.go).
	reloadMu sync.Mutex
	// si holds what resources alike share (resourceSpec); specs equal
	// are one pointer, which is how a reload tells an unchanged resource.
	// Guarded by reloadMu after Start.
	si *sharedInfo
	// src is the configuration the resources were decoded from, kept
	// while credentials may rotate so that their resources can be
	// decoded again with new values; nil otherwise. Guarded by reloadMu.
	src *config.Config
	// creds are the credentials' current values; nil when the
	// configuration has none. Stored with reloadMu held.
	creds atomic.Pointer[credential.Store]
	// quota enforces the tenants' quotas; quotaStoreID is the redis
	// resource it shares rate quotas through, "" for none.
	quota        *quota.Limiter
	quotaStoreID string
	// rotate wakes the rotation loop (rotateLoop) after a credential
	// changed.
	rotate chan struct{}
}

// New returns a host for the configuration. It starts nothing; call Start.
func New(cfg *config.Config, opts ...Option) (*Host, error) {
	if cfg == nil {
		return nil, errors.New("host: nil config")
	}
	o := options{callTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	secrets := &redact.Set{}
	for _, v := range cfg.Variables {
		if v.Sensitive {
			secrets.Add(sensitiveStrings(v.Value)...)
		}
	}
	base := o.logger
	if base == nil {
		base = slog.Default()
	}
	log := slog.New(sdk.WithTraceIDs(secrets.Handler(base.Handler())))
	o.logger = log
	if o.version == "" {
		o.version = hostVersion()
	}
	life, cancel := context.WithCancel(context.Background())
	h := &Host{
		cfg: cfg, o: o, log: log, secrets: secrets,
		life: life, cancel: cancel,
	}
	h.sched = health.NewScheduler(&h.wg)
	h.rotate = make(chan struct{}, 1)
	h.quotaStoreID = cfg.Host.QuotaStore
	h.quota = quota.New(quota.Options{Store: h.quotaStore(cfg.Host.QuotaStore), Logger: log.With("component", "quota")})
	tel, err := newTelemetry(h, cfg.Telemetry, &h.o)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("host: telemetry: %w", err)
	}
	h.tel = tel
	return h, nil
}

// Start starts the plugins, decodes and validates every resource against
// the schema its plugin published, then configures the resources and warms
// their pools level by level (dependencies first, each level in parallel,
// 16 resources at a time). Once the resources are decoded and validated it
// releases the configuration's syntax trees (config.Config.ReleaseSyntax):
// the Config serves diagnostics still, but cannot be decoded again.
// A configuration problem is a *DiagnosticsError with source ranges. On any
// error Start stops what it started, unless WithPartialStart asks it to
// keep serving the resources that did start.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.state != hostNew {
		h.mu.Unlock()
		return errors.New("host: Start called twice or after Close")
	}
	h.state = hostStarting
	h.mu.Unlock()

	err := h.start(ctx)
	h.mu.Lock()
	closedMeanwhile := h.state == hostClosed
	if err == nil && !closedMeanwhile {
		h.state = hostRunning
	}
	h.mu.Unlock()
	if err == nil && !closedMeanwhile {
		return nil
	}
	// Stop what was started. When Close ran during Start, it may have
	// missed plugins and resources that Start created after it; stopping
	// again is safe.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	h.markClosed()
	_ = h.shutdown(cctx)
	if err == nil {
		err = ErrClosed
	}
	return h.secrets.Error(err)
}

func (h *Host) start(ctx context.Context) error {
	if _, err := h.prepare(ctx); err != nil {
		return err
	}
	// The resources are decoded, validated and copied: the syntax trees
	// would only cost memory from here on, and the host keeps nothing of
	// the configuration, so that it can be collected when the caller
	// drops it.
	h.reloadMu.Lock()
	h.keepSource(h.cfg) // kept only while credentials may rotate
	h.reloadMu.Unlock()
	h.cfg = nil
	for _, d := range h.warnings {
		h.log.Warn(config.FormatDiagnostic(d))
	}
	var failures []error
	// At most maxConcurrentStarts resources of a level start at once: a
	// thousand configures in flight together cost a heap peak the process
	// keeps long after, and gain nothing over a few dozen.
	slots := make(chan struct{}, maxConcurrentStarts)
	for _, level := range h.levels {
		var wg sync.WaitGroup
		errs := make([]error, len(level))
		for i, r := range level {
			if dep := h.failedDependency(r); dep != "" {
				err := newError(sdk.KindUnavailable, ErrDependencyFailed, "not started: its dependency %s did not start", dep)
				r.setFailed(StateBlocked, err)
				errs[i] = h.callError(r, "start", err)
				continue
			}
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				cctx, cancel := timeoutContext(ctx, h.o.callTimeout)
				defer cancel()
				if err := r.configure(cctx, StateFailed); err != nil {
					errs[i] = h.callError(r, "start", err)
					return
				}
				r.logger().Info("resource ready", "plugin", r.prov.name, "pooling", string(r.pooling()))
			})
		}
		wg.Wait()
		for i, err := range errs {
			switch {
			case err == nil:
			case level[i].id == h.quotaStoreID && level[i].optional.Load():
				// Recovered in the background like any resource that
				// failed to start; meanwhile each host applies the rate
				// quotas alone.
				h.log.Warn("the quota store did not start; each host applies the tenants' rate quotas alone until it does", "error", err)
			case level[i].optional.Load():
				h.log.Warn("a resource that is not critical did not start; the host starts without it and recovers it in the background", "resource", level[i].id, "error", err)
			default:
				failures = append(failures, err)
			}
		}
	}
	if len(failures) > 0 && !h.o.partialStart {
		return errors.Join(failures...)
	}
	for _, err := range failures {
		h.log.Error("resource not started", "error", err)
	}
	h.watchLeases()
	h.watchHealth()
	h.sched.Start(h.life)
	h.wg.Add(1)
	go h.rotateLoop()
	return nil
}

// failedDependency returns the first dependency of r that is not ready.
func (h *Host) failedDependency(r *resource) string {
	for _, dep := range r.deps {
		if d := h.find(dep); d != nil && d.lifecycle() != StateReady {
			return dep
		}
	}
	return ""
}

// watchLeases schedules the sweep that reports, and where configured
// reclaims, leases held past their resource's lease_timeout: every quarter
// of the shortest lease_timeout, between 10 ms and 1 s, over the resources
// that set one. It runs until Close.
func (h *Host) watchLeases() {
	h.mu.Lock()
	h.timeLeasesLocked()
	h.mu.Unlock()
	h.sched.Add(time.Second, func() time.Duration {
		h.mu.Lock()
		timed, every := h.timed, h.sweepEvery
		h.mu.Unlock()
		h.sweepLeases(timed, time.Now())
		return every
	})
}

// timeLeasesLocked finds the resources that set a lease_timeout, and how
// often their leases are swept: every quarter of the shortest
// lease_timeout, between 10 ms and 1 s (1 s when none sets one). h.mu is
// held.
func (h *Host) timeLeasesLocked() {
	var every time.Duration
	h.timed = nil
	for _, r := range h.order {
		if t := r.set.pool.LeaseTimeout; t > 0 {
			h.timed = append(h.timed, r)
			if every == 0 || t/4 < every {
				every = t / 4
			}
		}
	}
	if every == 0 {
		every = time.Second
	}
	h.sweepEvery = min(max(every, 10*time.Millisecond), time.Second)
}

// sweepLeases reports, and where configured reclaims, the leases of the
// resources held past their lease_timeout.
func (h *Host) sweepLeases(timed []*resource, now time.Time) {
	for _, r := range timed {
		for _, l := range r.overdue(now) {
			held := now.Sub(l.acquired).Round(time.Millisecond)
			attrs := []any{"resource", r.id, "held", held.String(), "lease_timeout", r.set.pool.LeaseTimeout.String(),
				"tenant", l.owner.Tenant, "workflow", l.owner.Workflow, "step", l.owner.Step}
			h.tel.m.inc(leaksOf, r)
			if r.set.pool.Reclaim && l.reclaim() {
				h.tel.m.inc(reclaimsOf, r)
				h.log.Warn("lease held past lease_timeout reclaimed", attrs...)
				continue
			}
			h.log.Warn("lease held past lease_timeout", attrs...)
		}
	}
}

// prepare starts the plugins and decodes and validates the resources.
func (h *Host) prepare(ctx context.Context) (*catalog, error) {
	cat, diags, err := loadCatalog(ctx, h.cfg, &h.o, hooks{onExit: h.pluginExited, onRestart: h.pluginRestarted})
	h.mu.Lock()
	h.catalog = cat
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var versions map[string]uint64 // of the credentials' values decoded
	if !diags.HasErrors() {
		store, err := h.openCredentials(ctx, h.cfg.Credentials)
		if err != nil {
			return nil, err
		}
		h.creds.Store(store)
		var values config.CredentialValues
		values, versions, err = credentialValues(store)
		if err != nil {
			return nil, err
		}
		diags = append(diags, h.cfg.DecodeResources(cat.schemas(), config.AlsoKnown(cat.installed...), config.Searched(cat.searched), config.WithCredentials(values))...)
	}
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diagnostics: diags, Files: h.cfg.Files}
	}
	for _, p := range cat.providers {
		h.tel.m.addPlugin(p.name)
	}
	rcs := h.cfg.Resources
	ids := idsOf(rcs)
	byID := make([]int, len(rcs)) // indexes in rcs, in id order
	for i := range byID {
		byID[i] = i
	}
	slices.SortFunc(byID, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	h.mu.Lock()
	all := make([]resource, len(rcs))
	h.resources = make([]*resource, len(rcs))
	h.order = make([]*resource, len(rcs))
	for k, i := range byID {
		h.resources[k] = &all[k]
		h.order[i] = &all[k]
	}
	si := newSharedInfo()
	h.si = si
	h.tenants = newTenantTable(h.cfg.Tenants)
	for i, rc := range rcs {
		p := cat.types[rc.Type]
		t, _ := p.info.Type(rc.Type)
		r := h.order[i]
		r.init(ids[i], rc, t, si, p, h)
		if r.credNames != nil {
			r.credSeen.Store(&credSeen{store: h.creds.Load(), versions: versionsOf(r.credNames, versions)})
		}
		h.tel.m.addResource(r)
		h.secrets.Add(sensitiveValues(t.Config, rc.Config)...)
	}
	for _, level := range h.cfg.Levels() {
		rs := make([]*resource, len(level))
		for i, rc := range level {
			rs[i] = findResource(h.resources, rc.ID())
		}
		h.levels = append(h.levels, rs)
	}
	h.mu.Unlock()
	vdiags := h.validateResources(ctx)
	for _, d := range vdiags {
		if d.Severity == hcl.DiagWarning {
			h.warnings = append(h.warnings, d)
		}
	}
	if vdiags.HasErrors() {
		return nil, &DiagnosticsError{Diagnostics: vdiags, Files: h.cfg.Files}
	}
	return cat, nil
}

// idsOf returns the ids of rcs, parts of one string: one allocation
// rather than one each.
func idsOf(rcs []*config.Resource) []string {
	ids := make([]string, len(rcs))
	for i, rc := range rcs {
		ids[i] = rc.ID()
	}
	all, start := strings.Join(ids, ""), 0
	for i, id := range ids {
		ids[i], start = all[start:start+len(id)], start+len(id)
	}
	return ids
}

// validateResources asks each resource's driver to check its config, and
// places the driver's complaints on the attributes they name.
func (h *Host) validateResources(ctx context.Context) hcl.Diagnostics {
	checks := make([]validation, len(h.cfg.Resources))
	for i, rc := range h.cfg.Resources {
		checks[i] = validation{rc: rc, r: h.order[i]}
	}
	return h.validate(ctx, checks)
}

// validate asks the driver of each resource to check its config, and
// places the driver's complaints on the attributes they name.
func (h *Host) validate(ctx context.Context, checks []validation) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, c := range checks {
		rc, r := c.rc, c.r
		if w := inertPoolSettings(r, rc); w != nil {
			diags = append(diags, w)
		}
		d, _, err := r.prov.driver()
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin not running", Detail: err.Error(), Subject: rc.DeclRange.Ptr()})
			continue
		}
		v, ok := d.(sdk.ConfigValidator)
		if !ok {
			continue
		}
		cctx, cancel := timeoutContext(ctx, h.o.callTimeout)
		err = v.ValidateConfig(cctx, sdk.ValidateRequest{Type: rc.Type, Name: rc.Name, Config: rc.Config})
		cancel()
		if err == nil {
			continue
		}
		attrs, _ := rc.Body.JustAttributes()
		for _, e := range flatten(err) {
			var ce *sdk.ConfigError
			if !errors.As(e, &ce) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Invalid resource configuration",
					Detail: h.secrets.String(fmt.Sprintf("Plugin %s refused %s: %v", r.prov.name, r.id, e)), Subject: rc.DeclRange.Ptr(),
				})
				continue
			}
			subject := rc.DeclRange.Ptr()
			if a, ok := attrs[ce.Attribute]; ok {
				subject = a.Expr.Range().Ptr()
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: h.secrets.String(ce.Summary), Detail: h.secrets.String(ce.Detail), Subject: subject,
			})
		}
	}
	return diags
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Validate checks a configuration the way Start would, without configuring
// anything: it starts the plugins, decodes every resource with its plugin's
// schema, asks each driver to validate, and stops the plugins. It returns
// nil, a *DiagnosticsError, or the error that kept a plugin from starting.
func Validate(ctx context.Context, cfg *config.Config, opts ...Option) error {
	_, err := Check(ctx, cfg, opts...)
	return err
}

// Check is Validate that also returns the warnings: settings that have no
// effect, such as a max_size on a resource of shared pooling. The
// diagnostics hold the warnings, and the errors when the error is a
// *DiagnosticsError.
func Check(ctx context.Context, cfg *config.Config, opts ...Option) (hcl.Diagnostics, error) {
	h, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = h.Close(cctx)
	}()
	_, err = h.prepare(ctx)
	diags := h.warnings
	var de *DiagnosticsError
	if errors.As(err, &de) {
		diags = append(diags, de.Diagnostics...)
	}
	return diags, h.secrets.Error(err)
}

// Inspect starts the plugins a configuration names, describes them, and
// stops them. Resources are neither decoded nor configured, so it works on
// configurations that do not validate yet. The plugins it returns are
// stopped: their state says so, and PID is zero.
func Inspect(ctx context.Context, cfg *config.Config, opts ...Option) ([]PluginInfo, map[string]sdk.ResourceType, error) {
	h, err := New(cfg, opts...)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = h.Close(cctx)
	}()
	cat, diags, err := loadCatalog(ctx, cfg, &h.o, hooks{})
	h.mu.Lock()
	h.catalog = cat
	h.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if diags.HasErrors() {
		return nil, nil, &DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	types := map[string]sdk.ResourceType{}
	for name, p := range cat.types {
		types[name], _ = p.info.Type(name)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = h.Close(cctx)
	return h.Plugins(), types, nil
}

// pluginExited runs on the plugin's supervisor goroutine when it exits.
func (h *Host) pluginExited(p *provider, gen uint64) {
	for _, r := range h.resourcesOf(p) {
		r.pluginExited(gen)
	}
}

// pluginRestarted runs on the plugin's supervisor goroutine after a
// restart: it configures the plugin's resources again.
func (h *Host) pluginRestarted(p *provider, _ sdk.Driver, _ uint64) {
	h.tel.m.pluginRestarted(p.name)
	for _, r := range h.resourcesOf(p) {
		// Only what the exit took down comes back: a resource that failed
		// or was blocked at start stays as it is.
		if r.lifecycle() != StateUnavailable {
			continue
		}
		ctx, cancel := timeoutContext(h.life, h.o.callTimeout)
		err := r.configure(ctx, StateUnavailable)
		cancel()
		if err != nil {
			r.logger().Error("reconfigure after plugin restart failed", "error", err)
			continue
		}
		r.resetHealth("configured again after plugin " + p.name + " restarted")
		r.logger().Info("resource ready again after plugin restart")
	}
}

// resourcesOf returns the provider's resources in dependency order.
func (h *Host) resourcesOf(p *provider) []*resource {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*resource
	for _, level := range h.levels {
		for _, r := range level {
			if r.prov == p {
				out = append(out, r)
			}
		}
	}
	return out
}

// Close stops taking leases, waits for the leases out to come back until
// ctx ends, closes every resource, and stops the plugins. It is safe to
// call more than once.
func (h *Host) Close(ctx context.Context) error {
	if !h.markClosed() {
		return nil
	}
	return h.shutdown(ctx)
}

// markClosed moves the host to closed and reports whether it was not
// closed already.
func (h *Host) markClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == hostClosed {
		return false
	}
	h.state = hostClosed
	h.cancel()
	return true
}

// shutdown closes the resources in reverse order, at most maxConcurrentStarts
// of a level at once, then the plugins. Every step is idempotent.
func (h *Host) shutdown(ctx context.Context) error {
	h.mu.Lock()
	levels, cat := h.levels, h.catalog
	h.mu.Unlock()
	var errs []error
	slots := make(chan struct{}, maxConcurrentStarts)
	for i := len(levels) - 1; i >= 0; i-- {
		var wg sync.WaitGroup
		lerrs := make([]error, len(levels[i]))
		for j, r := range levels[i] {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				lerrs[j] = r.close(ctx)
			})
		}
		wg.Wait()
		errs = append(errs, lerrs...)
	}
	h.wg.Wait()
	if store := h.creds.Swap(nil); store != nil {
		store.Close()
	}
	h.quota.Close()
	if cat != nil {
		if err := cat.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if h.tel.shutdown != nil {
		if err := h.tel.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush traces: %w", err))
		}
	}
	return h.secrets.Error(errors.Join(errs...))
}

// Acquire leases the named resource ("type.name"). Release the lease when
// done. Label it with its owner (WithOwner, ForTenant, ...) so that a lease
// kept too long is reported with who holds it.
//
// An unknown name is an error wrapping ErrUnknownResource; a resource that
// cannot serve now is an error of kind unavailable wrapping ErrNotReady; a
// pool whose instances stayed in use until ctx's deadline or the
// acquire_timeout is an error of kind resource_exhausted wrapping a
// *pool.ExhaustedError, which says which pool, its size, how many wait and
// how long this caller waited.
func (h *Host) Acquire(ctx context.Context, name string, opts ...AcquireOption) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, "acquire "+name)
	}
	owner := ownerOf(opts)
	if err := h.checkReach(owner, name); err != nil {
		return nil, err
	}
	r, err := h.resource(name)
	if err != nil {
		return nil, err
	}
	return r.acquire(ctx, h, owner)
}

// Invoke acquires the named resource, performs one operation and releases
// it. See Lease.Invoke.
//
// Each attempt takes its own lease, so that a retry of an idempotent
// operation runs on a working instance after the first one broke.
func (h *Host) Invoke(ctx context.Context, name, op string, args any, opts ...AcquireOption) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, "acquire "+name)
	}
	owner := ownerOf(opts)
	if err := h.checkReach(owner, name); err != nil {
		return nil, err
	}
	r, err := h.resource(name)
	if err != nil {
		return nil, err
	}
	if r.hostSQLOperation(op) {
		l, err := r.acquire(ctx, h, owner)
		if err != nil {
			return nil, err
		}
		defer l.Release()
		return l.Invoke(ctx, op, args)
	}
	o, raw, err := r.prepareCall(op, args, false)
	if err != nil {
		return nil, err
	}
	c := opCall(r, o, owner, raw) // each attempt on a lease of its own
	res, err := c.run(ctx)
	return r.result(h, op, res, err, raw)
}

// find returns the running resource whose id is id, or nil.
func (h *Host) find(id string) *resource {
	h.mu.Lock()
	defer h.mu.Unlock()
	return findResource(h.resources, id)
}

func (h *Host) resource(name string) (*resource, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case hostNew, hostStarting:
		return nil, sdk.WrapError(sdk.KindUnavailable, ErrNotStarted, "acquire "+name)
	case hostClosed:
		return nil, sdk.WrapError(sdk.KindUnavailable, ErrClosed, "acquire "+name)
	}
	if r := findResource(h.resources, name); r != nil {
		return r, nil
	}
	names := make([]string, len(h.resources)) // sorted, as the resources are
	for i, r := range h.resources {
		names[i] = r.id
	}
	msg := fmt.Sprintf("no resource named %q", name)
	if s := config.Suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, newError(sdk.KindNotFound, ErrUnknownResource, "%s", msg)
}

// callError wraps a plugin's error with the resource and operation, masking
// any secret the host knows.
//
// input is what the caller sent (arguments, a statement and its values):
// a secret that occurs in it is not masked, so that the answer does not
// confirm a guess (redact.Set.ErrorFor).
func (h *Host) callError(r *resource, op string, err error, input ...string) error {
	if ce, ok := err.(*CallError); ok {
		return ce
	}
	return &CallError{Resource: r.id, Operation: op, Err: h.secrets.ErrorFor(err, input)}
}

// Describe lists the resources in declaration order.
func (h *Host) Describe() []ResourceInfo {
	h.mu.Lock()
	order := append([]*resource(nil), h.order...)
	h.mu.Unlock()
	out := make([]ResourceInfo, 0, len(order))
	for _, r := range order {
		out = append(out, r.info())
	}
	return out
}

// DescribeResource describes one resource.
func (h *Host) DescribeResource(name string) (ResourceInfo, error) {
	h.mu.Lock()
	r := findResource(h.resources, name)
	h.mu.Unlock()
	if r == nil {
		_, err := h.resource(name)
		if err == nil {
			err = newError(sdk.KindNotFound, ErrUnknownResource, "no resource named %q", name)
		}
		return ResourceInfo{}, err
	}
	return r.info(), nil
}

// currentCatalog returns the catalog the host serves from now: a reload
// that upgrades a plugin replaces it.
func (h *Host) currentCatalog() *catalog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.catalog
}

// Plugins lists the plugins and in-process drivers, by name.
func (h *Host) Plugins() []PluginInfo {
	cat := h.currentCatalog()
	if cat == nil {
		return nil
	}
	out := make([]PluginInfo, 0, len(cat.providers))
	for _, p := range cat.providers {
		out = append(out, p.describe())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ready reports whether the host is running and every critical resource
// is ready and not quarantined. Every resource is critical but those whose
// block says critical = false, and the host block's quota_store unless its
// block says critical = true.
func (h *Host) Ready() bool {
	h.mu.Lock()
	running := h.state == hostRunning
	order := h.order
	h.mu.Unlock()
	if !running {
		return false
	}
	// Only the states: a readiness probe every few seconds must not
	// build the description of every resource (8 KiB each).
	for _, r := range order {
		if r.optional.Load() {
			continue
		}
		if r.lifecycle() != StateReady || r.health.Current().Quarantined() {
			return false
		}
	}
	return true
}

// critical reports whether the host is ready only while the resource of
// block c is: what its critical attribute says, else true but for the
// quota store, which is not served to callers and while it fails each
// host applies its tenants' rates alone (a Redis outage must not take
// every host sharing it out of its load balancer).
func (h *Host) critical(c *config.Resource) bool {
	if c.Critical != nil {
		return *c.Critical
	}
	return c.ID() != h.quotaStoreID
}

// inertPoolSettings warns about pool settings that do nothing for the
// resource's pooling mode.
func inertPoolSettings(r *resource, rc *config.Resource) *hcl.Diagnostic {
	p := rc.Pool
	var inert []string
	set := func(name string, on bool) {
		if on {
			inert = append(inert, name)
		}
	}
	mode := r.rtype.Pooling
	if mode == sdk.PoolingExclusive {
		set("replicas", p.Replicas != 0)
		set("selection", p.Selection != "")
	} else {
		mode = sdk.PoolingShared
		set("min_size", p.MinSize != 0)
		set("max_size", p.MaxSize != 0)
		set("max_idle", p.MaxIdle != 0)
		set("idle_timeout", p.IdleTimeout != 0)
		set("max_lifetime", p.MaxLifetime != 0)
		set("lifetime_jitter", p.LifetimeJitter != 0)
		set("acquire_timeout", p.AcquireTimeout != 0)
		set("validate_after_idle", p.ValidateAfterIdle != 0)
		set("order", p.Order != "")
	}
	if len(inert) == 0 {
		return nil
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Pool settings with no effect",
		Detail: fmt.Sprintf("Resource type %q pools its instances in %s mode, where these settings do nothing: %s. Remove them.",
			rc.Type, mode, strings.Join(inert, ", ")),
		Subject: rc.DeclRange.Ptr(),
	}
}
