package memory

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The kv capability's operations (sdk.KVOperations), with the sdk's
// arguments and results; the SDK has checked the arguments against the
// capability's rules (their Validate methods) before an operation runs. The functions passed to the cache's Compute run
// under the key's bucket lock, so that reading a key and writing it is
// atomic; they must not call the cache.

// lifetime returns the time to live a write gives an entry: ttl, or the
// resource's default_ttl when ttl is 0.
func (i *Instance) lifetime(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return i.res.defaultTTL
	}
	return ttl
}

func (i *Instance) get(_ context.Context, c *otter.Cache[string, item], args sdk.KVKeyArgs) (any, error) {
	return i.lookup(c, args.Key), nil
}

// lookup reads one key for get and mget, and counts the hit or miss.
func (i *Instance) lookup(c *otter.Cache[string, item], key string) sdk.KVGetResult {
	it, ok := c.GetIfPresent(key)
	if !ok {
		i.res.misses.Add(1)
		return sdk.KVGetResult{}
	}
	i.res.hits.Add(1)
	return sdk.KVGetResult{Value: it.value, Found: true}
}

func (i *Instance) set(_ context.Context, c *otter.Cache[string, item], args sdk.KVSetArgs) (any, error) {
	it := item{value: args.Value, ttl: i.lifetime(args.TTL)}
	only, err := args.Condition()
	if err != nil {
		return nil, err
	}
	if only == sdk.KVAlways {
		c.Set(args.Key, it)
		return sdk.KVSetResult{OK: true}, nil
	}
	wantPresent := only == sdk.KVIfPresent
	stored := false
	c.Compute(args.Key, func(old item, found bool) (item, otter.ComputeOp) {
		if found != wantPresent {
			return old, otter.CancelOp
		}
		stored = true
		return it, otter.WriteOp
	})
	return sdk.KVSetResult{OK: stored}, nil
}

func (i *Instance) mset(_ context.Context, c *otter.Cache[string, item], args sdk.KVMSetArgs) (any, error) {
	ttl := i.lifetime(args.TTL)
	// Each key is written on its own: a concurrent reader may see some of
	// the values before the others.
	for k, v := range args.Values {
		c.Set(k, item{value: v, ttl: ttl})
	}
	return sdk.KVSetResult{OK: true}, nil
}

func (i *Instance) mget(_ context.Context, c *otter.Cache[string, item], args sdk.KVKeysArgs) (any, error) {
	keys := args.Keys
	values := make([]sdk.KVGetResult, len(keys))
	for n, k := range keys {
		values[n] = i.lookup(c, k)
	}
	return sdk.KVMGetResult{Values: values}, nil
}

// delete counts the keys it removed; a key named twice is removed once.
func (i *Instance) delete(_ context.Context, c *otter.Cache[string, item], args sdk.KVKeysArgs) (any, error) {
	keys := args.Keys
	var n int64
	for _, k := range keys {
		if _, deleted := c.Invalidate(k); deleted {
			n++
		}
	}
	return sdk.KVCountResult{Count: n}, nil
}

// exists counts the keys present; as in Redis, a key named twice counts
// twice.
func (i *Instance) exists(_ context.Context, c *otter.Cache[string, item], args sdk.KVKeysArgs) (any, error) {
	keys := args.Keys
	var n int64
	for _, k := range keys {
		if _, ok := c.GetEntryQuietly(k); ok {
			n++
		}
	}
	return sdk.KVCountResult{Count: n}, nil
}

// expire rewrites the key's entry with its value and the new lifetime,
// which the expiry calculator gives it (0s: none, whatever default_ttl
// is).
func (i *Instance) expire(_ context.Context, c *otter.Cache[string, item], args sdk.KVExpireArgs) (any, error) {
	var n int64
	c.Compute(args.Key, func(old item, found bool) (item, otter.ComputeOp) {
		if !found {
			return old, otter.CancelOp
		}
		n = 1
		return item{value: old.value, ttl: args.TTL}, otter.WriteOp
	})
	return sdk.KVCountResult{Count: n}, nil
}

func (i *Instance) ttl(_ context.Context, c *otter.Cache[string, item], args sdk.KVKeyArgs) (any, error) {
	e, ok := c.GetEntryQuietly(args.Key)
	if !ok {
		return sdk.KVTTLResult{}, nil
	}
	return sdk.KVTTLResult{TTL: formatTTL(e), Found: true}, nil
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

func (i *Instance) incr(_ context.Context, c *otter.Cache[string, item], args sdk.KVIncrArgs) (any, error) {
	return i.add(c, args.Key, args.By)
}

func (i *Instance) decr(_ context.Context, c *otter.Cache[string, item], args sdk.KVIncrArgs) (any, error) {
	if args.By == math.MinInt64 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "decrementing key %q by %d would overflow", args.Key, args.By)
	}
	return i.add(c, args.Key, -args.By)
}

// add adds by to the integer value of key, atomically: a missing key counts
// from 0 and gets default_ttl, an existing one keeps its expiry.
func (i *Instance) add(c *otter.Cache[string, item], key string, by int64) (any, error) {
	var (
		result int64
		opErr  error
	)
	c.Compute(key, func(old item, found bool) (item, otter.ComputeOp) {
		var n int64
		if found {
			v, ok := parseInteger(old.value)
			if !ok {
				opErr = sdk.Errorf(sdk.KindInvalidArgument, "value of key %q is not an integer", key)
				return old, otter.CancelOp
			}
			n = v
		}
		if (by > 0 && n > math.MaxInt64-by) || (by < 0 && n < math.MinInt64-by) {
			opErr = sdk.Errorf(sdk.KindInvalidArgument, "adding %d to key %q (%d) would overflow", by, key, n)
			return old, otter.CancelOp
		}
		result = n + by
		if found {
			return item{value: strconv.FormatInt(result, 10), keepTTL: true}, otter.WriteOp
		}
		return item{value: strconv.FormatInt(result, 10), ttl: i.res.defaultTTL}, otter.WriteOp
	})
	if opErr != nil {
		return nil, opErr
	}
	return sdk.KVIncrResult{Value: result}, nil
}

// parseInteger parses a value as incr and decr read it: a base-10 int64
// in the form FormatInt writes, as Redis reads it ("+1", " 1" and "01"
// are not integers).
func parseInteger(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != s {
		return 0, false
	}
	return v, true
}

// command is part of the kv contract for what the other operations do not
// cover. The cache holds strings under keys and nothing else, so there is
// nothing left for a raw command to reach; rather than imitate a few
// Redis commands (and let a workflow believe the rest work), it refuses
// every command.
func (i *Instance) command(_ context.Context, _ *otter.Cache[string, item], args sdk.KVCommandArgs) (any, error) {
	return nil, sdk.Errorf(sdk.KindUnimplemented,
		"the memory plugin has no raw commands: get, set, delete, exists, expire, ttl, incr, decr, mget, mset and scan are all it offers")
}
