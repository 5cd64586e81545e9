package host

import (
	"context"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/pool"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// instancePool is the seam between a resource and the way its type pools
// instances: exclusive (one lease per instance) or shared (replicas).
type instancePool interface {
	// acquire leases an instance; a shared pool's lease is into.
	acquire(ctx context.Context, into *pool.SharedLease[sdk.Instance]) (poolLease, error)
	warm(ctx context.Context) error
	stat() pool.Stat
	close(ctx context.Context) error
	// healthCheck checks one instance without taking one a lease holds;
	// checked is false when it found none it could check.
	healthCheck(ctx context.Context) (checked bool, err error)
	// startCheck is healthCheck's first step without I/O: it takes the
	// instance to check, which endCheck gives back with the result. c.inst
	// is nil when there is none to check; c.err is set when the check
	// failed already. open is true when the pool would have to open an
	// instance first: healthCheck does that.
	startCheck() (c poolCheck, open bool)
	endCheck(c poolCheck, err error)
	// drainIdle closes the idle instances and returns how many.
	drainIdle() int
}

// poolCheck is a health check of one pooled instance, from startCheck to
// endCheck: the instance, and what holds it (a lease, or a probe).
type poolCheck struct {
	inst  sdk.Instance
	err   error
	lease pool.Lease[sdk.Instance]
	probe pool.SharedProbe[sdk.Instance]
}

// poolLease is one lease of an instance from an instancePool.
type poolLease interface {
	instance() sdk.Instance
	release()
	destroy()
	observe(latency time.Duration, err error)
}

// newInstancePool builds the pool g's resource's type asks for, with the
// settings of its pool block, on g's instances.
func newInstancePool(g *generation) (instancePool, error) {
	r := g.r
	ps := effectivePool(r.set.pool)
	if r.rtype.Pooling == sdk.PoolingExclusive {
		p, err := pool.New(pool.Config[sdk.Instance]{
			Name:              r.id,
			Open:              g.Open,
			Close:             g.Close,
			Check:             func(ctx context.Context, i sdk.Instance) error { return i.Check(ctx) },
			Reset:             resetInstance,
			NeedsReset:        needsReset,
			OnError:           g.OnError,
			MinSize:           ps.MinSize,
			MaxSize:           ps.MaxSize,
			MaxIdle:           ps.MaxIdle,
			IdleTimeout:       ps.IdleTimeout,
			MaxLifetime:       ps.MaxLifetime,
			LifetimeJitter:    ps.LifetimeJitter,
			AcquireTimeout:    ps.AcquireTimeout,
			ValidateAfterIdle: ps.ValidateAfterIdle,
			Order:             pool.Order(ps.Order),
		})
		if err != nil {
			return nil, err
		}
		return exclusivePool{p}, nil
	}
	s, err := pool.NewShared[sdk.Instance](g, pool.SharedConfig{
		Replicas:  ps.Replicas,
		Selection: pool.Selection(ps.Selection),
	})
	if err != nil {
		return nil, err
	}
	return sharedPool{s}, nil
}

// generation is a resource configured on one generation of its plugin:
// the plugin's sdk.Resource and the pool of its instances, in one
// allocation. It opens and closes the pool's instances on res (a shared
// pool's pool.Opener, the source of an exclusive pool's callbacks), so
// that a pool left by a plugin that exited keeps to its own generation.
type generation struct {
	r    *resource
	res  sdk.Resource
	pool instancePool
	n    uint64 // the plugin's generation
}

// Name names the pool after the resource.
func (g *generation) Name() string { return g.r.id }

// Open opens an instance and records how long it took.
func (g *generation) Open(ctx context.Context) (sdk.Instance, error) {
	began := time.Now()
	i, err := g.res.Open(ctx)
	if err == nil {
		g.r.host.tel.m.observeCreate(g.r, time.Since(began))
	}
	return i, err
}

// Close closes an instance; a failure is only logged, at debug level.
func (g *generation) Close(ctx context.Context, i sdk.Instance) {
	if err := i.Close(ctx); err != nil {
		g.r.logger().Debug("closing an instance failed", "error", err)
	}
}

// OnError logs a failure of the pool's own: a background open, reset or
// check.
func (g *generation) OnError(op string, err error) {
	g.r.logger().Warn("pool "+op+" failed", "error", err)
}

// effectivePool fills what the pool package cannot know: an unset
// max_size grows to min_size, so that min_size alone is a valid setting on
// any machine.
func effectivePool(p config.Pool) config.Pool {
	if p.MaxSize == 0 && p.MinSize > pool.DefaultMaxSize() {
		p.MaxSize = p.MinSize
	}
	return p
}

// needsReset reports whether an instance whose lease ends needs its
// Reset: one that can reset and does not report a clean session.
func needsReset(i sdk.Instance) bool {
	if _, ok := i.(sdk.Resetter); !ok {
		return false
	}
	s, ok := i.(sdk.SessionReporter)
	return !ok || !s.SessionClean()
}

func resetInstance(ctx context.Context, i sdk.Instance) error {
	if r, ok := i.(sdk.Resetter); ok {
		return r.Reset(ctx)
	}
	return nil
}

type exclusivePool struct{ p *pool.Pool[sdk.Instance] }

func (x exclusivePool) acquire(ctx context.Context, _ *pool.SharedLease[sdk.Instance]) (poolLease, error) {
	l, err := x.p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return exclusiveLease{l}, nil
}

// warm opens MinSize instances, and at least one, so that a resource that
// cannot open a session fails at start, not at its first lease.
func (x exclusivePool) warm(ctx context.Context) error {
	if err := x.p.Warm(ctx); err != nil {
		return err
	}
	if x.p.Stat().Total > 0 {
		return nil
	}
	l, err := x.p.Acquire(ctx)
	if err != nil {
		return err
	}
	l.Release()
	return nil
}

func (x exclusivePool) stat() pool.Stat { return x.p.Stat() }
func (x exclusivePool) drainIdle() int  { return x.p.DrainIdle() }

// healthCheck checks the instance idle longest, or a fresh one when the
// pool is empty. When every instance is leased it checks nothing: the
// leases' own calls show whether the backend works. A failed instance is
// closed.
func (x exclusivePool) healthCheck(ctx context.Context) (bool, error) {
	c, open := x.startCheck()
	if open {
		l, err := x.p.Acquire(ctx)
		if err != nil {
			return true, err
		}
		c = poolCheck{inst: l.Value(), lease: l}
	}
	if c.inst == nil {
		return false, nil
	}
	err := c.inst.Check(ctx)
	x.endCheck(c, err)
	return true, err
}

func (x exclusivePool) startCheck() (poolCheck, bool) {
	l, ok := x.p.TryAcquireIdle()
	if !ok {
		return poolCheck{}, x.p.Stat().Total == 0
	}
	return poolCheck{inst: l.Value(), lease: l}, false
}

func (x exclusivePool) endCheck(c poolCheck, err error) {
	if err != nil {
		c.lease.Destroy()
		return
	}
	c.lease.Release()
}

func (x exclusivePool) close(ctx context.Context) error { return x.p.Close(ctx) }

type exclusiveLease struct{ l pool.Lease[sdk.Instance] }

func (l exclusiveLease) instance() sdk.Instance       { return l.l.Value() }
func (l exclusiveLease) release()                     { l.l.Release() }
func (l exclusiveLease) destroy()                     { l.l.Destroy() }
func (l exclusiveLease) observe(time.Duration, error) {}

type sharedPool struct{ s *pool.Shared[sdk.Instance] }

func (x sharedPool) acquire(ctx context.Context, into *pool.SharedLease[sdk.Instance]) (poolLease, error) {
	if err := x.s.AcquireInto(ctx, into); err != nil {
		return nil, err
	}
	return sharedLease{into}, nil
}

func (x sharedPool) warm(ctx context.Context) error { return x.s.Warm(ctx) }
func (x sharedPool) stat() pool.Stat                { return x.s.Stat() }

// drainIdle does nothing: shared replicas are clients that reconnect by
// themselves, and a broken one is replaced when a call breaks it.
func (x sharedPool) drainIdle() int { return 0 }

// healthCheck checks the next replica; replicas are safe to use
// concurrently, so checking never takes one from a caller, and it is not
// counted as an acquire (pool.Shared.Probe).
func (x sharedPool) healthCheck(ctx context.Context) (bool, error) {
	c, _ := x.startCheck()
	if c.err != nil {
		return true, c.err
	}
	err := c.inst.Check(ctx)
	x.endCheck(c, err)
	return true, err
}

func (x sharedPool) startCheck() (poolCheck, bool) {
	p, err := x.s.StartProbe()
	if err != nil {
		return poolCheck{err: err}, false
	}
	return poolCheck{inst: p.Value(), probe: p}, false
}

func (x sharedPool) endCheck(c poolCheck, err error) {
	c.probe.End(err != nil && sdk.KindOf(err).Retryable())
}

func (x sharedPool) close(ctx context.Context) error { return x.s.Close(ctx) }

type sharedLease struct {
	l *pool.SharedLease[sdk.Instance]
}

func (l sharedLease) instance() sdk.Instance { return l.l.Value() }
func (l sharedLease) release()               { l.l.Release() }
func (l sharedLease) destroy()               { l.l.Destroy() }
func (l sharedLease) observe(d time.Duration, err error) {
	l.l.Observe(d, err != nil && sdk.KindOf(err).Retryable())
}
