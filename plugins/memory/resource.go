package memory

import (
	"context"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured memory cache. Its instances share the cache.
type Resource struct {
	name       string
	defaultTTL time.Duration
	// cache is nil once the resource is closed.
	cache atomic.Pointer[otter.Cache[string, item]]
}

// Open returns a handle on the resource's cache.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.cache.Load() == nil {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close drops the cache and stops its background work. Calls on the
// resource and its instances fail as unavailable afterwards. Close is safe
// to call more than once.
func (r *Resource) Close(context.Context) error {
	if c := r.cache.Swap(nil); c != nil {
		c.StopAllGoroutines()
		c.InvalidateAll()
	}
	return nil
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "memory resource %q is closed", r.name)
}

// Instance is a handle on a resource's cache. It is safe for concurrent use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the instance and its resource are open.
func (i *Instance) Check(context.Context) error {
	_, err := i.cache()
	return err
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
	c := i.res.cache.Load()
	if c == nil {
		return nil, i.res.closedError()
	}
	return c, nil
}

// Invoke performs one of the operations listed in the driver's Info.
func (i *Instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	op, ok := handlers[req.Operation]
	if !ok {
		return nil, sdk.Errorf(sdk.KindUnimplemented, "memory resource has no operation %q", req.Operation)
	}
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, "memory "+req.Operation)
	}
	c, err := i.cache()
	if err != nil {
		return nil, err
	}
	return op(i, c, req)
}

type handler func(i *Instance, c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error)

// The operations' arguments and results.
type (
	keyArgs struct {
		Key string `nebula:"key,required" doc:"The key."`
	}
	setArgs struct {
		Key   string        `nebula:"key,required" doc:"The key."`
		Value string        `nebula:"value,required" doc:"The value to store."`
		TTL   time.Duration `nebula:"ttl" doc:"How long the entry lives; unset or 0 uses the resource's default_ttl."`
	}
	incrArgs struct {
		Key string `nebula:"key,required" doc:"The key; a missing key counts from 0."`
		By  int64  `nebula:"by" default:"1" doc:"The amount to add; may be negative."`
	}
	statsArgs struct{}

	getResult struct {
		Value string `json:"value"`
		Found bool   `json:"found"`
	}
	deleteResult struct {
		Deleted bool `json:"deleted"`
	}
	existsResult struct {
		Exists bool `json:"exists"`
	}
	ttlResult struct {
		// TTL is the time left, as a Go duration string; empty when the
		// entry does not expire.
		TTL string `json:"ttl"`
	}
	incrResult struct {
		Value int64 `json:"value"`
	}
	statsResult struct {
		Entries      int    `json:"entries"`
		Hits         uint64 `json:"hits"`
		Misses       uint64 `json:"misses"`
		Evictions    uint64 `json:"evictions"`
		WeightedSize uint64 `json:"weighted_size"`
	}
)

var keySchema = sdk.MustSchemaFor(keyArgs{})

var operations = []sdk.Operation{
	{Name: "get", Description: "Returns the value of a key; a missing or expired key is a not_found error.", Args: keySchema, Idempotent: true},
	{Name: "set", Description: "Stores a value under a key, replacing any value it had, with an optional time to live.", Args: sdk.MustSchemaFor(setArgs{}), Idempotent: true},
	{Name: "delete", Description: "Removes a key and reports whether it was present.", Args: keySchema, Idempotent: true},
	{Name: "exists", Description: "Reports whether a key is present.", Args: keySchema, Idempotent: true},
	{Name: "ttl", Description: "Returns the time a key has left to live, or an empty string if it does not expire; a missing key is a not_found error.", Args: keySchema, Idempotent: true},
	{Name: "incr", Description: "Atomically adds to the integer value of a key (a missing key counts from 0), keeping its expiry, and returns the new value.", Args: sdk.MustSchemaFor(incrArgs{})},
	{Name: "stats", Description: "Returns the number of entries, hits, misses, evictions and weighted size (bytes, when max_bytes is set) of the cache.", Args: sdk.MustSchemaFor(statsArgs{}), Idempotent: true},
}

var handlers = map[string]handler{
	"get":    (*Instance).get,
	"set":    (*Instance).set,
	"delete": (*Instance).delete,
	"exists": (*Instance).exists,
	"ttl":    (*Instance).ttl,
	"incr":   (*Instance).incr,
	"stats":  (*Instance).stats,
}

func decodeKey(req sdk.InvokeRequest) (string, error) {
	var args keyArgs
	if err := req.Decode(&args); err != nil {
		return "", err
	}
	return args.Key, checkKey(args.Key)
}

func checkKey(key string) error {
	if key == "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "key must not be empty")
	}
	return nil
}

func (i *Instance) get(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	key, err := decodeKey(req)
	if err != nil {
		return nil, err
	}
	it, ok := c.GetIfPresent(key)
	if !ok {
		return nil, sdk.Errorf(sdk.KindNotFound, "key %q not found", key)
	}
	return getResult{Value: it.value, Found: true}, nil
}

func (i *Instance) set(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	var args setArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	if err := checkKey(args.Key); err != nil {
		return nil, err
	}
	if args.TTL < 0 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "ttl %s must not be negative", args.TTL)
	}
	ttl := args.TTL
	if ttl == 0 {
		ttl = i.res.defaultTTL
	}
	c.Set(args.Key, item{value: args.Value, ttl: ttl})
	return struct{}{}, nil
}

func (i *Instance) delete(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	key, err := decodeKey(req)
	if err != nil {
		return nil, err
	}
	_, deleted := c.Invalidate(key)
	return deleteResult{Deleted: deleted}, nil
}

func (i *Instance) exists(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	key, err := decodeKey(req)
	if err != nil {
		return nil, err
	}
	_, ok := c.GetEntryQuietly(key)
	return existsResult{Exists: ok}, nil
}

func (i *Instance) ttl(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	key, err := decodeKey(req)
	if err != nil {
		return nil, err
	}
	e, ok := c.GetEntryQuietly(key)
	if !ok {
		return nil, sdk.Errorf(sdk.KindNotFound, "key %q not found", key)
	}
	return ttlResult{TTL: formatTTL(e)}, nil
}

// forever is a time left beyond which an entry counts as not expiring.
const forever = 100 * 365 * 24 * time.Hour

func formatTTL(e otter.Entry[string, item]) string {
	if e.ExpiresAtNano == math.MaxInt64 {
		return ""
	}
	left := e.ExpiresAfter()
	switch {
	case left > forever:
		return ""
	case left >= time.Second:
		left = left.Truncate(time.Second)
	default:
		left = left.Truncate(time.Millisecond)
	}
	return left.String()
}

func (i *Instance) incr(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	var args incrArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	if err := checkKey(args.Key); err != nil {
		return nil, err
	}
	var (
		result int64
		opErr  error
	)
	// The function runs under the key's bucket lock, so concurrent incrs
	// of a key are serialized. It must not call the cache.
	c.Compute(args.Key, func(old item, found bool) (item, otter.ComputeOp) {
		var n int64
		if found {
			v, err := strconv.ParseInt(old.value, 10, 64)
			if err != nil {
				opErr = sdk.Errorf(sdk.KindFailedPrecondition, "value of key %q is not an integer", args.Key)
				return old, otter.CancelOp
			}
			n = v
		}
		if (args.By > 0 && n > math.MaxInt64-args.By) || (args.By < 0 && n < math.MinInt64-args.By) {
			opErr = sdk.Errorf(sdk.KindFailedPrecondition, "incrementing key %q by %d would overflow", args.Key, args.By)
			return old, otter.CancelOp
		}
		result = n + args.By
		if found {
			return item{value: strconv.FormatInt(result, 10), keepTTL: true}, otter.WriteOp
		}
		return item{value: strconv.FormatInt(result, 10), ttl: i.res.defaultTTL}, otter.WriteOp
	})
	if opErr != nil {
		return nil, opErr
	}
	return incrResult{Value: result}, nil
}

func (i *Instance) stats(c *otter.Cache[string, item], req sdk.InvokeRequest) (any, error) {
	var args statsArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	// Run pending maintenance so that entries and evictions are current.
	c.CleanUp()
	s := c.Stats()
	return statsResult{
		Entries:      c.EstimatedSize(),
		Hits:         s.Hits,
		Misses:       s.Misses,
		Evictions:    s.Evictions,
		WeightedSize: c.WeightedSize(),
	}, nil
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
