package host

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// ResourceState is where a resource is in its life.
type ResourceState string

// The states of a resource.
const (
	StatePending     ResourceState = "pending"     // declared, not configured yet
	StateReady       ResourceState = "ready"       // serving leases
	StateUnavailable ResourceState = "unavailable" // its plugin is restarting, or reconfiguring failed
	StateFailed      ResourceState = "failed"      // it could not be started
	StateClosed      ResourceState = "closed"
)

// closeGrace bounds closing a resource's sessions after the shutdown
// deadline has passed.
const closeGrace = 5 * time.Second

// resource is one configured resource and its instances.
//
// In this version a resource keeps one instance, shared by every lease
// (shared pooling with one replica); pooling modes and sizes arrive with
// the pool engine, behind acquire and release.
type resource struct {
	id    string
	cfg   *config.Resource
	rtype sdk.ResourceType
	prov  *provider
	log   *slog.Logger

	mu       sync.Mutex // guards the fields below; never held across a plugin call
	state    ResourceState
	lastErr  error
	res      sdk.Resource
	inst     sdk.Instance
	gen      uint64 // generation of the plugin that res and inst belong to
	inflight int
	acquires uint64
	changed  chan struct{} // closed and replaced when inflight drops or state changes
}

func newResource(r *config.Resource, t sdk.ResourceType, p *provider, log *slog.Logger) *resource {
	return &resource{
		id: r.ID(), cfg: r, rtype: t, prov: p,
		log:     log.With("resource", r.ID(), "type", r.Type),
		state:   StatePending,
		changed: make(chan struct{}),
	}
}

func (r *resource) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// configure configures the resource on the provider's current plugin and
// opens its instance. On failure it leaves the resource in state failed
// (first start) or unavailable (after a plugin restart).
func (r *resource) configure(ctx context.Context, failState ResourceState) error {
	err := r.tryConfigure(ctx)
	if err != nil {
		r.mu.Lock()
		if r.state != StateClosed {
			r.state, r.lastErr = failState, err
			r.notifyLocked()
		}
		r.mu.Unlock()
	}
	return err
}

func (r *resource) tryConfigure(ctx context.Context) error {
	d, gen, err := r.prov.driver()
	if err != nil {
		return err
	}
	res, err := d.Configure(ctx, sdk.ConfigureRequest{Type: r.cfg.Type, Name: r.cfg.Name, Config: r.cfg.Config})
	if err != nil {
		return err
	}
	inst, err := res.Open(ctx)
	if err != nil {
		_ = res.Close(ctx)
		return fmt.Errorf("open the first instance: %w", err)
	}
	r.mu.Lock()
	if r.state == StateClosed {
		r.mu.Unlock()
		// The host closed meanwhile; nothing else will close these.
		cctx := context.WithoutCancel(ctx)
		_ = inst.Close(cctx)
		_ = res.Close(cctx)
		return fmt.Errorf("%s: %w", r.id, ErrClosed)
	}
	r.res, r.inst, r.gen = res, inst, gen
	r.state, r.lastErr = StateReady, nil
	r.notifyLocked()
	r.mu.Unlock()
	return nil
}

// pluginExited marks the resource unavailable if it belonged to the plugin
// generation that exited. Its sessions died with the process.
func (r *resource) pluginExited(gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen != gen || r.state == StateClosed {
		return
	}
	r.res, r.inst = nil, nil
	r.state = StateUnavailable
	r.lastErr = sdk.Errorf(sdk.KindUnavailable, "plugin %s exited; restarting", r.prov.name)
	r.notifyLocked()
}

// acquire returns the instance for one more user.
func (r *resource) acquire() (sdk.Instance, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateReady {
		return nil, 0, r.notReadyLocked()
	}
	r.inflight++
	r.acquires++
	return r.inst, r.gen, nil
}

func (r *resource) notReadyLocked() error {
	if r.state == StateClosed {
		return sdk.WrapError(sdk.KindUnavailable, ErrClosed, r.id+" is closed")
	}
	msg := fmt.Sprintf("%s is %s", r.id, r.state)
	if why := r.reasonLocked(); why != "" {
		msg += ": " + why
	}
	return newError(sdk.KindUnavailable, ErrNotReady, "%s", msg)
}

// reasonLocked says why the resource is not ready, preferring what its
// plugin's supervisor knows while a restart is failing.
func (r *resource) reasonLocked() string {
	if r.state == StateUnavailable && r.prov.sup != nil {
		if pi := r.prov.sup.Info(); pi.State == supervisor.StateRestarting && pi.LastError != "" {
			return fmt.Sprintf("plugin %s is restarting (last error: %s)", r.prov.name, pi.LastError)
		}
	}
	if r.lastErr != nil {
		return r.lastErr.Error()
	}
	return ""
}

func (r *resource) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if r.inflight == 0 {
		r.notifyLocked()
	}
}

// close stops new leases, waits for the leases out to come back (until ctx
// ends), then closes the instance and the resource.
func (r *resource) close(ctx context.Context) error {
	r.mu.Lock()
	if r.state == StateClosed {
		r.mu.Unlock()
		return nil
	}
	r.state = StateClosed
	r.notifyLocked()
drain:
	for r.inflight > 0 {
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
			r.mu.Lock()
		case <-ctx.Done():
			r.mu.Lock()
			r.log.Warn("closing with leases still out", "leases", r.inflight)
			break drain
		}
	}
	res, inst := r.res, r.inst
	r.res, r.inst = nil, nil
	r.mu.Unlock()

	// The drain may have used up ctx; closing still gets a short, bounded
	// chance, so that one stuck lease does not keep every other session
	// open.
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
		defer cancel()
	}
	var err error
	if inst != nil {
		if cerr := inst.Close(ctx); cerr != nil {
			err = fmt.Errorf("close %s instance: %w", r.id, cerr)
		}
	}
	if res != nil {
		if cerr := res.Close(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("unconfigure %s: %w", r.id, cerr)
		}
	}
	return err
}

// ResourceInfo describes a resource for listings and the admin endpoint.
type ResourceInfo struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Plugin       string          `json:"plugin"`
	State        ResourceState   `json:"state"`
	Error        string          `json:"error,omitempty"`
	Pooling      sdk.Pooling     `json:"pooling"`
	Capabilities []string        `json:"capabilities"`
	DependsOn    []string        `json:"depends_on"`
	Operations   []OperationInfo `json:"operations"`
	Pool         PoolStat        `json:"pool"`
}

// OperationInfo describes one operation of a resource.
type OperationInfo struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Idempotent  bool           `json:"idempotent"`
	Stream      sdk.StreamMode `json:"stream,omitempty"`
	Args        []ArgInfo      `json:"args"`
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

// PoolStat counts a resource's instances and leases.
type PoolStat struct {
	// Instances is how many sessions are open.
	Instances int `json:"instances"`
	// InUse is how many leases are out.
	InUse int `json:"in_use"`
	// Acquires counts leases granted since start.
	Acquires uint64 `json:"acquires"`
}

// OperationInfos describes operations for listings.
func OperationInfos(ops []sdk.Operation) []OperationInfo {
	out := make([]OperationInfo, 0, len(ops))
	for _, op := range ops {
		oi := OperationInfo{Name: op.Name, Description: op.Description, Idempotent: op.Idempotent, Stream: op.Stream, Args: []ArgInfo{}}
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
	pooling := r.rtype.Pooling
	if pooling == "" {
		pooling = sdk.PoolingShared
	}
	ri := ResourceInfo{
		ID: r.id, Type: r.cfg.Type, Name: r.cfg.Name, Plugin: r.prov.name, State: r.state,
		Pooling: pooling, Capabilities: append([]string{}, r.rtype.Capabilities...),
		DependsOn:  append([]string{}, r.cfg.DependsOn...),
		Operations: OperationInfos(r.rtype.Operations),
		Pool:       PoolStat{InUse: r.inflight, Acquires: r.acquires},
	}
	if r.inst != nil {
		ri.Pool.Instances = 1
	}
	if r.state != StateReady {
		ri.Error = r.reasonLocked()
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
