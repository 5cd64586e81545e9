package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/credential"
	"github.com/nebula-resource/nebula-resource/host/health"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// defaultDrainTimeout is how long a replaced or removed resource keeps
// serving the leases out on it when its pool block sets no drain_timeout.
const defaultDrainTimeout = 30 * time.Second

// ReloadReport says what a reload, or a credential rotation, changed.
type ReloadReport struct {
	// Added are the ids of the resources started.
	Added []string `json:"added,omitempty"`
	// Removed are the ids of the resources drained and stopped.
	Removed []string `json:"removed,omitempty"`
	// Changed are the ids of the resources whose configuration changed:
	// each was started anew beside the old one, which drains.
	Changed []string `json:"changed,omitempty"`
	// Unchanged counts the resources left as they were.
	Unchanged int `json:"unchanged"`
	// Upgraded are the plugins whose new binary the reload started, as
	// "NAME OLD-VERSION -> NEW-VERSION"; their resources are Changed.
	Upgraded []string `json:"upgraded,omitempty"`
	// RestartNeeded names changed settings that the reload did not
	// apply, such as the host block; filled by the caller of Reload that
	// knows the settings the host started with.
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// String says what changed in one line.
func (r ReloadReport) String() string {
	var parts []string
	for _, p := range []struct {
		what string
		ids  []string
	}{{"upgraded", r.Upgraded}, {"added", r.Added}, {"removed", r.Removed}, {"changed", r.Changed}} {
		if len(p.ids) > 0 {
			parts = append(parts, p.what+": "+strings.Join(p.ids, ", "))
		}
	}
	parts = append(parts, fmt.Sprintf("unchanged: %d", r.Unchanged))
	if len(r.RestartNeeded) > 0 {
		parts = append(parts, "apply at the next start: "+strings.Join(r.RestartNeeded, ", "))
	}
	return strings.Join(parts, "; ")
}

// Reload applies a new configuration to the running host without
// stopping it, in the manner of a rolling update:
//
//  1. The credentials of cfg are read (a credential that cannot be read
//     fails the reload) and every resource is decoded and validated, as
//     Start does. A configuration with errors changes nothing: the error
//     is a *DiagnosticsError with the file, line and column of each.
//  2. Each resource is compared with the running one of its id. One
//     whose block and credentials' values are the same is left alone:
//     its pool, leases and health go on. The others are started in
//     dependency order beside the running ones: configured and warmed
//     (min_size). If one fails to start, those started are stopped and
//     nothing changes.
//  3. The new set is swapped in: new leases go to the new resources. The
//     resources replaced or removed drain in the background: they serve
//     the leases out on them until released, for at most the pool's
//     drain_timeout (default 30s), and then close.
//
// A plugin whose binary changed since it started (installed anew by
// nebula-host plugins upgrade, say) is upgraded the same way: the new
// binary is checked (the lock file, the sha256 of its block) and started
// beside the running one, its resources are started on it as changed
// ones, and the old plugin stops once they have drained. A new binary
// that does not start, or that offers fewer types, fails the reload and
// the running plugin serves on.
//
// Otherwise the plugins are those the host started with: a resource of a
// type no running plugin offers is an error, and plugin, host, admin and
// telemetry blocks take effect at the next start.
func (h *Host) Reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	if cfg == nil {
		return ReloadReport{}, errors.New("host: reload: nil config")
	}
	h.mu.Lock()
	state := h.state
	h.mu.Unlock()
	if state != hostRunning {
		return ReloadReport{}, sdk.WrapError(sdk.KindFailedPrecondition, ErrNotStarted, "reload: the host is not running")
	}
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	store, err := h.openCredentials(ctx, cfg.Credentials)
	if err != nil {
		return ReloadReport{}, h.secrets.Error(fmt.Errorf("reload: %w", err))
	}
	cat, ups, err := h.startUpgrades(ctx, cfg, h.currentCatalog())
	var p *plan
	if err == nil {
		p, err = h.plan(ctx, cat, cfg, store)
	}
	if err == nil {
		p.catalog, p.upgrades = cat, ups
		for _, u := range ups {
			p.report.Upgraded = append(p.report.Upgraded, fmt.Sprintf("%s %s -> %s", u.new.name, u.old.info.Version, u.new.info.Version))
		}
		err = h.apply(ctx, p)
	}
	if err != nil {
		if len(ups) > 0 {
			closeProviders(ctx, newProviders(ups))
			err = fmt.Errorf("%w; the new plugin binaries were stopped and the running ones serve on", err)
		}
		if store != nil {
			store.Close()
		}
		return ReloadReport{}, h.secrets.Error(err)
	}
	old := h.creds.Swap(store)
	h.keepSource(cfg)
	if old != nil {
		old.Close()
	}
	h.log.Info("configuration reloaded", "report", p.report.String())
	return p.report, nil
}

// keepSource keeps cfg for rotations when it has credentials, and drops
// its syntax trees otherwise. reloadMu is held.
func (h *Host) keepSource(cfg *config.Config) {
	if len(cfg.Credentials) > 0 {
		h.src = cfg
		return
	}
	h.src = nil
	cfg.ReleaseSyntax()
}

// openCredentials reads the credentials of a configuration; nil when it
// has none. A change of one wakes the rotation loop.
func (h *Host) openCredentials(ctx context.Context, cs []*config.Credential) (*credential.Store, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	specs := make([]credential.Spec, len(cs))
	for i, c := range cs {
		specs[i] = credential.Spec{
			Name: c.Name, Source: c.Source, Vars: c.Variables, Path: c.Path, Format: c.Format,
			Command: c.Command, Dir: c.Dir, Timeout: c.Timeout, RefreshBefore: c.RefreshBefore, PollInterval: c.PollInterval,
		}
	}
	store, err := credential.New(specs, credential.Options{
		Logger: h.log.With("component", "credentials"),
		Secret: func(values ...string) { h.secrets.Add(values...) },
		OnChange: func(string) {
			select {
			case h.rotate <- struct{}{}:
			default: // a rotation is due already; it reads every value
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	if err := store.Start(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	return store, nil
}

// credentialValues returns the current values of every credential of
// store, for DecodeResources.
func credentialValues(store *credential.Store) (config.CredentialValues, map[string]uint64, error) {
	if store == nil {
		return nil, nil, nil
	}
	out, versions := config.CredentialValues{}, map[string]uint64{}
	var errs []error
	for _, st := range store.Status() {
		v, err := store.Get(st.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[st.Name], versions[st.Name] = v.Attrs, v.Version
	}
	return out, versions, errors.Join(errs...)
}

// plan is what a reload or rotation does: the resource table it makes,
// and what it starts and stops.
type plan struct {
	resources []*resource // sorted by id
	order     []*resource
	levels    [][]*resource
	tenants   *tenantTable
	// fresh are the resources to start (added, and the new ones of the
	// changed); retire are those to drain and close.
	fresh, retire []*resource
	// replaced maps each changed resource to its new one.
	replaced map[*resource]*resource
	// optional are the unchanged resources whose critical attribute
	// changed.
	optional []*resource
	report   ReloadReport
	// store and versions are the credentials the plan decoded with.
	store    *credential.Store
	versions map[string]uint64
	// catalog is the plugins the plan's resources are on; upgrades are
	// the plugins it replaces, stopped once their resources drained.
	catalog  *catalog
	upgrades []pluginUpgrade
}

// plan decodes cfg with the plugins of cat and the values of store's
// credentials, and compares it with the running resources. reloadMu is
// held.
func (h *Host) plan(ctx context.Context, cat *catalog, cfg *config.Config, store *credential.Store) (*plan, error) {
	h.mu.Lock()
	running := h.resources
	h.mu.Unlock()
	values, versions, err := credentialValues(store)
	if err != nil {
		return nil, err
	}
	var diags hcl.Diagnostics
	for _, rc := range cfg.Resources {
		if _, running := cat.types[rc.Type]; !running && slices.Contains(cat.installed, rc.Type) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Plugin not started", Subject: rc.TypeRange.Ptr(),
				Detail: fmt.Sprintf("Resource type %q is offered by an installed plugin that this host did not start, since it had no resource of the type; a reload uses the running plugins only. Restart the host to add %s.", rc.Type, rc.ID()),
			})
		}
	}
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	diags = cfg.DecodeResources(cat.schemas(), config.AlsoKnown(cat.installed...), config.Searched(cat.searched), config.WithCredentials(values))
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	rcs := cfg.Resources
	p := &plan{order: make([]*resource, len(rcs)), replaced: map[*resource]*resource{}, tenants: newTenantTable(cfg.Tenants),
		store: store, versions: versions}
	byID := map[string]*resource{}
	var checks []validation
	for i, rc := range rcs {
		prov := cat.types[rc.Type]
		t, _ := prov.info.Type(rc.Type)
		id := rc.ID()
		spec := h.si.spec(rc, h.si.kind(t, prov, h))
		old := findResource(running, id)
		if old != nil && old.resourceSpec == spec && slices.Equal(old.credNames, credNames(rc)) && old.lifecycle() == StateReady {
			p.order[i] = old
			p.report.Unchanged++
			if optional := !h.critical(rc); optional != old.optional.Load() {
				p.optional = append(p.optional, old)
			}
		} else {
			r := &resource{}
			r.init(id, rc, t, h.si, prov, h)
			if r.credNames != nil {
				r.credSeen.Store(&credSeen{store: store, versions: versionsOf(r.credNames, versions)})
			}
			p.order[i] = r
			p.fresh = append(p.fresh, r)
			checks = append(checks, validation{rc: rc, r: r})
			if old != nil {
				p.replaced[old] = r
				p.retire = append(p.retire, old)
				p.report.Changed = append(p.report.Changed, id)
			} else {
				p.report.Added = append(p.report.Added, id)
			}
		}
		byID[id] = p.order[i]
	}
	for _, r := range running {
		if _, kept := byID[r.id]; !kept {
			p.retire = append(p.retire, r)
			p.report.Removed = append(p.report.Removed, r.id)
		}
	}
	vdiags := h.validate(ctx, checks)
	if vdiags.HasErrors() {
		return nil, &DiagnosticsError{Diagnostics: vdiags, Files: cfg.Files}
	}
	p.resources = slices.Clone(p.order)
	slices.SortFunc(p.resources, func(a, b *resource) int { return strings.Compare(a.id, b.id) })
	for _, level := range cfg.Levels() {
		rs := make([]*resource, len(level))
		for i, rc := range level {
			rs[i] = byID[rc.ID()]
		}
		p.levels = append(p.levels, rs)
	}
	for _, ids := range [][]string{p.report.Added, p.report.Removed, p.report.Changed} {
		slices.Sort(ids)
	}
	for _, r := range p.fresh {
		h.secrets.Add(sensitiveValues(r.rtype.Config, r.config)...)
	}
	return p, nil
}

// versionsOf returns the versions of the credentials names, in order.
func versionsOf(names []string, versions map[string]uint64) []uint64 {
	if len(names) == 0 {
		return nil
	}
	out := make([]uint64, len(names))
	for i, n := range names {
		out[i] = versions[n]
	}
	return out
}

// credNames returns the names of the credentials rc refers to, sorted,
// without repeats; nil when none.
func credNames(rc *config.Resource) []string {
	if len(rc.Credentials) == 0 {
		return nil
	}
	names := make([]string, len(rc.Credentials))
	for i, ref := range rc.Credentials {
		names[i] = ref.Credential
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// apply starts p's fresh resources level by level, swaps p's table in,
// and drains what it replaces in the background. When a fresh resource
// fails to start, it stops those it started and changes nothing.
func (h *Host) apply(ctx context.Context, p *plan) error {
	if len(p.fresh) > 0 {
		fresh := map[*resource]bool{}
		for _, r := range p.fresh {
			fresh[r] = true
		}
		var failures []error
		for _, level := range p.levels {
			var wg sync.WaitGroup
			errs := make([]error, len(level))
			for i, r := range level {
				if !fresh[r] {
					continue
				}
				wg.Go(func() {
					cctx, cancel := timeoutContext(ctx, h.o.callTimeout)
					defer cancel()
					if err := r.configure(cctx, StateFailed); err != nil {
						errs[i] = h.callError(r, "start", err)
					}
				})
			}
			wg.Wait()
			failures = append(failures, slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
			if len(failures) > 0 {
				break
			}
		}
		if len(failures) > 0 {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			for _, r := range p.fresh {
				_ = r.close(cctx)
			}
			return fmt.Errorf("reload: nothing changed, since a resource did not start: %w", errors.Join(failures...))
		}
	}
	for _, r := range p.fresh {
		h.tel.m.addResource(r)
	}
	h.mu.Lock()
	if h.state != hostRunning {
		h.mu.Unlock()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, r := range p.fresh {
			_ = r.close(cctx)
		}
		return sdk.WrapError(sdk.KindUnavailable, ErrClosed, "reload")
	}
	h.resources, h.order, h.levels, h.tenants = p.resources, p.order, p.levels, p.tenants
	if p.catalog != nil {
		h.catalog = p.catalog
	}
	h.timeLeasesLocked()
	for old, r := range p.replaced {
		old.successor.Store(r)
	}
	for _, r := range p.optional {
		r.optional.Store(!r.optional.Load())
	}
	for _, r := range p.order {
		// The unchanged resources' values are the same in the plan's
		// store, which may be a new one.
		if seen := r.credSeen.Load(); seen != nil && seen.store != p.store {
			r.credSeen.Store(&credSeen{store: p.store, versions: versionsOf(r.credNames, p.versions)})
		}
	}
	h.wg.Add(len(p.retire))
	if len(p.upgrades) > 0 {
		h.wg.Add(1) // retireUpgraded
	}
	h.mu.Unlock()
	h.si.prune(p.order)
	h.scheduleChecks(p.fresh)
	for _, r := range p.fresh {
		r.logger().Info("resource ready", "plugin", r.prov.name, "pooling", string(r.pooling()))
	}
	var drained sync.WaitGroup
	for _, r := range p.retire {
		drained.Go(func() { h.retire(r, p.replaced[r] != nil) })
	}
	if len(p.upgrades) > 0 {
		go h.retireUpgraded(p.upgrades, &drained)
	}
	return nil
}

// retire drains r, replaced or removed, and closes it: it takes no new
// lease (one asked of it goes to its successor), serves those out until
// they are released or its drain_timeout passes, then closes its pool
// and unconfigures it. Counted in h.wg by apply.
func (h *Host) retire(r *resource, replaced bool) {
	defer h.wg.Done()
	drain := r.set.pool.DrainTimeout
	if drain <= 0 {
		drain = defaultDrainTimeout
	}
	ctx, cancel := context.WithTimeout(h.life, drain)
	defer cancel()
	began := time.Now()
	err := r.close(ctx)
	what := "removed"
	if replaced {
		what = "replaced"
	}
	if err != nil {
		r.logger().Warn("resource "+what+"; closing it failed", "error", h.secrets.Error(err), "drained_in", time.Since(began).Round(time.Millisecond).String())
		return
	}
	r.logger().Info("resource "+what+" and drained", "drained_in", time.Since(began).Round(time.Millisecond).String())
}

// scheduleChecks schedules the health checks of resources started after
// Start: the first within their interval.
func (h *Host) scheduleChecks(rs []*resource) {
	for _, r := range rs {
		first := rand.N(max(r.checks.Interval, health.CheckGrid)) + 1
		h.sched.Schedule(r, first)
	}
}

// rotateLoop configures anew the resources whose credentials changed,
// until Close. It runs only when the configuration has credentials.
func (h *Host) rotateLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.life.Done():
			return
		case <-h.rotate:
			if err := h.rotateCredentials(h.life); err != nil && h.life.Err() == nil {
				h.log.Error("credential rotation failed; the resources keep their current credentials", "error", h.secrets.Error(err))
			}
		}
	}
}

// rotateCredentials decodes the configuration again with the credentials'
// current values and swaps in the resources whose configuration changed
// (see Reload). It does nothing when nothing changed.
func (h *Host) rotateCredentials(ctx context.Context) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if h.src == nil {
		return nil
	}
	p, err := h.plan(ctx, h.currentCatalog(), h.src, h.creds.Load())
	if err != nil {
		return err
	}
	if len(p.fresh) == 0 && len(p.retire) == 0 {
		return nil
	}
	if err := h.apply(ctx, p); err != nil {
		return err
	}
	h.log.Info("credentials rotated", "report", p.report.String())
	return nil
}

// refreshCredentials is called when opening an instance of r failed
// authentication: it reads again the credentials r uses (once, shared
// with concurrent callers) and, when one changed, rotates r onto the new
// values. It reports whether r has a successor to retry on.
func (h *Host) refreshCredentials(ctx context.Context, r *resource) bool {
	if len(r.credNames) == 0 {
		return false
	}
	store := h.creds.Load()
	if store == nil {
		return false
	}
	r.logger().Info("an instance's open was refused for its credentials; reading them again", "credentials", strings.Join(r.credNames, ", "))
	// Compared with the values r was configured with: the store may have
	// read a new value already, and a rotation onto it be under way.
	changed := false
	cs := r.credSeen.Load()
	for i, name := range r.credNames {
		var seen uint64
		if cs != nil && cs.store == store {
			seen = cs.versions[i]
		} else if cur, err := store.Get(name); err == nil {
			seen = cur.Version // another store's versions: fetch anew
		}
		v, err := store.Refresh(ctx, name, seen)
		if err == nil && v.Version > seen {
			changed = true
		}
	}
	if !changed && r.successor.Load() == nil {
		return false
	}
	if err := h.rotateCredentials(ctx); err != nil {
		r.logger().Warn("rotation after an authentication failure failed", "error", h.secrets.Error(err))
	}
	return r.successor.Load() != nil
}

// CredentialHealth is the state of one credential, for health reports.
type CredentialHealth = health.Credential

// credentialHealth returns the state of every credential.
func (h *Host) credentialHealth() []CredentialHealth {
	store := h.creds.Load()
	if store == nil {
		return nil
	}
	sts := store.Status()
	out := make([]CredentialHealth, len(sts))
	for i, st := range sts {
		out[i] = CredentialHealth{
			Name: st.Name, Source: st.Source, State: st.State, Version: st.Version,
			Expires: st.Expires, FetchedAt: st.FetchedAt, LastError: h.secrets.String(st.LastError),
		}
	}
	return out
}

// validation is one resource to validate with its driver.
type validation struct {
	rc *config.Resource
	r  *resource
}

// CredentialValue returns the current value of a credential's attribute,
// for the admin API's identities whose token is a credential. The value
// is secret: the host masks it in everything it reports.
func (h *Host) CredentialValue(name, attr string) (string, error) {
	store := h.creds.Load()
	if store == nil {
		return "", newError(sdk.KindNotFound, credential.ErrUnknown, "no credential %q is declared", name)
	}
	v, err := store.Get(name)
	if err != nil {
		return "", err
	}
	s, ok := v.Attrs[attr]
	if !ok {
		return "", sdk.Errorf(sdk.KindNotFound, "credential %q has no attribute %q", name, attr)
	}
	return s, nil
}
