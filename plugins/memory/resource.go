package memory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured memory cache. Its instances share the cache.
type Resource struct {
	name       string
	defaultTTL time.Duration
	// opts builds the cache, on the first operation: an idle resource
	// holds no cache and no cleanup goroutine.
	opts *otter.Options[string, item]

	mu     sync.Mutex // serializes building and dropping the cache
	closed atomic.Bool
	// cache is nil until the first operation, and once the resource is
	// closed.
	cache atomic.Pointer[otter.Cache[string, item]]
	// hits and misses count the keys get and mget looked up and found or
	// did not find. The cache's own counters also count the lookups of
	// the operations that read a key to write it (set with a mode,
	// expire, incr, decr), which are not reads of the cache's data.
	hits, misses atomic.Uint64
}

// Open returns a handle on the resource's cache.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close drops the cache and stops its background work. Calls on the
// resource and its instances fail as unavailable afterwards. Close is safe
// to call more than once.
func (r *Resource) Close(context.Context) error {
	r.mu.Lock()
	r.closed.Store(true)
	c := r.cache.Swap(nil)
	r.mu.Unlock()
	if c != nil {
		c.StopAllGoroutines()
		c.InvalidateAll()
	}
	return nil
}

// build returns the resource's cache, building it the first time.
func (r *Resource) build() (*otter.Cache[string, item], error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil, r.closedError()
	}
	if c := r.cache.Load(); c != nil {
		return c, nil
	}
	c, err := otter.New(r.opts)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInternal, err, "building the cache of memory resource "+r.name)
	}
	r.cache.Store(c)
	return c, nil
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "memory resource %q is closed", r.name)
}

// Instance is a handle on a resource's cache. It is safe for concurrent use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the instance and its resource are open. It does
// not build the cache.
func (i *Instance) Check(context.Context) error {
	if i.closed.Load() {
		return sdk.Errorf(sdk.KindUnavailable, "instance of memory resource %q is closed", i.res.name)
	}
	if i.res.closed.Load() {
		return i.res.closedError()
	}
	return nil
}

// Close closes the handle; the cache stays with the resource.
func (i *Instance) Close(context.Context) error {
	i.closed.Store(true)
	return nil
}

func (i *Instance) cache() (*otter.Cache[string, item], error) {
	if i.closed.Load() {
		return nil, sdk.Errorf(sdk.KindUnavailable, "instance of memory resource %q is closed", i.res.name)
	}
	if c := i.res.cache.Load(); c != nil {
		return c, nil
	}
	return i.res.build()
}

// onCache makes a typed operation of fn, which works on the resource's
// cache: the call fails at once when its context has ended, and the
// first call builds the cache.
func onCache[A any](name string, fn func(*Instance, context.Context, *otter.Cache[string, item], A) (any, error)) func(*Instance, context.Context, A) (any, error) {
	return func(i *Instance, ctx context.Context, args A) (any, error) {
		if err := ctx.Err(); err != nil {
			return nil, sdk.WrapError(sdk.KindOf(err), err, "memory "+name)
		}
		c, err := i.cache()
		if err != nil {
			return nil, err
		}
		return fn(i, ctx, c, args)
	}
}

// operations are the kv capability's operations, with the sdk's names,
// arguments and descriptions, and memory's own stats.
var operations = []sdk.Op[*Instance]{
	sdk.NewOp("get", "", onCache("get", (*Instance).get)),
	sdk.NewOp("set", "", onCache("set", (*Instance).set)),
	sdk.NewOp("delete", "", onCache("delete", (*Instance).delete)),
	sdk.NewOp("exists", "", onCache("exists", (*Instance).exists)),
	sdk.NewOp("expire", "", onCache("expire", (*Instance).expire)),
	sdk.NewOp("ttl", "", onCache("ttl", (*Instance).ttl)),
	sdk.NewOp("incr", "", onCache("incr", (*Instance).incr)),
	sdk.NewOp("decr", "", onCache("decr", (*Instance).decr)),
	sdk.NewOp("mget", "", onCache("mget", (*Instance).mget)),
	sdk.NewOp("mset", "", onCache("mset", (*Instance).mset)),
	sdk.NewOp("scan", "", onCache("scan", (*Instance).scan)),
	sdk.NewOp("command", "", onCache("command", (*Instance).command)),
	sdk.NewOp("stats", "Returns the number of entries, the keys get and mget found (hits) and did not find (misses), evictions and the weighted size (bytes, when max_bytes is set) of the cache.",
		onCache("stats", (*Instance).stats)).Idempotent(),
}

type (
	statsArgs   struct{}
	statsResult struct {
		Entries      int    `json:"entries"`
		Hits         uint64 `json:"hits"`
		Misses       uint64 `json:"misses"`
		Evictions    uint64 `json:"evictions"`
		WeightedSize uint64 `json:"weighted_size"`
	}
)

func (i *Instance) stats(_ context.Context, c *otter.Cache[string, item], args statsArgs) (any, error) {
	// Run pending maintenance so that entries and evictions are current.
	c.CleanUp()
	return statsResult{
		Entries:      c.EstimatedSize(),
		Hits:         i.res.hits.Load(),
		Misses:       i.res.misses.Load(),
		Evictions:    c.Stats().Evictions,
		WeightedSize: c.WeightedSize(),
	}, nil
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
