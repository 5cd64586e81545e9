// Package memory is the nebula-resource driver for an in-process key-value
// cache built on github.com/maypok86/otter/v2.
//
// A resource of type "memory" owns one cache: its first operation builds it
// (a configured resource that is never used costs a few hundred bytes, not
// the cache's tables and its cleanup goroutine), every instance opened from
// the resource is a cheap handle on that same cache, and Resource.Close
// drops it. Keys and values are strings. The cache may be
// bounded by entry count (max_entries) or by bytes (max_bytes, where an
// entry weighs len(key)+len(value)), and entries may expire (default_ttl, or
// the ttl argument of set, mset and expire).
//
// The type has the kv capability (sdk.CapabilityKV): it offers
// sdk.KVOperations with the sdk's arguments and results, so that a
// workflow can move between it and Redis without changing its calls, and
// one operation of its own, stats. Where the contract leaves room:
//
//   - get, mget and ttl of a missing or expired key answer found false;
//     they are not errors.
//   - incr and decr of a value that is not a base-10 integer, or that
//     would overflow an int64, fail with invalid_argument; an existing
//     key keeps its expiry, a missing one counts from 0 and gets
//     default_ttl.
//   - mset writes its keys one by one, not atomically.
//   - scan matches keys against a Redis-style glob (*, ?, [abc], [a-z],
//     [^abc], \ escapes; * matches / too) and returns them in byte order.
//     The cache has no ordered iteration, so every page walks all the
//     keys and keeps the count smallest above the cursor, which is the
//     last key returned. A key present for the whole scan is returned
//     exactly once; one added or removed meanwhile may or may not be.
//   - command fails with unimplemented: the cache has no commands beyond
//     the operations above.
//
// It has no pub/sub capability: a channel in one host's memory would reach
// only callers of that host, so messaging that works on one host would
// silently lose messages once the workflow runs on several.
//
// The plugin binary is cmd/nebula-plugin-memory:
//
//	func main() { sdk.Serve(memory.New(), otelexport.Option()) }
package memory

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "memory"

// Config is the configuration of a memory resource. Its zero value is an
// unbounded cache whose entries never expire.
type Config struct {
	// MaxEntries bounds the number of entries; 0 means no entry limit.
	MaxEntries int `nebula:"max_entries" default:"0" doc:"Maximum number of entries; 0 means no entry limit. Cannot be combined with max_bytes."`
	// MaxBytes bounds the total weight, len(key)+len(value) summed over
	// the entries; 0 means no byte limit.
	MaxBytes int `nebula:"max_bytes" default:"0" doc:"Maximum total size of keys and values in bytes; 0 means no byte limit. Cannot be combined with max_entries."`
	// DefaultTTL is how long an entry lives when set gives no ttl; 0 means
	// entries never expire.
	DefaultTTL time.Duration `nebula:"default_ttl" default:"0s" doc:"How long an entry lives when set gives no ttl; 0 means entries do not expire."`
}

// New returns the memory driver.
func New() sdk.Driver { return sdk.NewDriver("memory", release.Version(), memoryType) }

const description = "An in-process key-value cache of strings with optional size bounds and expiry, shared by every instance of the resource. " +
	"It has no pub/sub: messages in one host's memory would reach only that host's callers, and be lost between hosts once a workflow runs on several."

// memoryType is the driver's one resource type, "memory".
var memoryType = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  description,
	Capabilities: []string{sdk.CapabilityKV},
	Pooling:      sdk.PoolingShared,
	Configure:    configure,
	Operations:   operations,
}

// Validate checks that the size limits are not negative and that at most
// one of max_entries and max_bytes is set.
func (c Config) Validate() error {
	var errs []error
	if c.MaxEntries < 0 {
		errs = append(errs, sdk.AttributeError("max_entries", "must not be negative",
			"Set a positive number of entries, or 0 for no entry limit."))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, sdk.AttributeError("max_bytes", "must not be negative",
			"Set a positive number of bytes, or 0 for no byte limit."))
	}
	if c.MaxEntries > 0 && c.MaxBytes > 0 {
		errs = append(errs, sdk.AttributeError("max_bytes", "cannot be combined with max_entries",
			"Bound the cache either by entry count (max_entries) or by size (max_bytes), not both."))
	}
	if c.DefaultTTL < 0 {
		errs = append(errs, sdk.AttributeError("default_ttl", "must not be negative",
			`Set a positive duration such as "5m", or "0s" for entries that do not expire.`))
	}
	return errors.Join(errs...)
}

// configure prepares a resource; its first operation builds its cache.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	opts := &otter.Options[string, item]{
		StatsRecorder:    stats.NewCounter(),
		ExpiryCalculator: expiry{},
	}
	switch {
	case cfg.MaxEntries > 0:
		opts.MaximumSize = cfg.MaxEntries
	case cfg.MaxBytes > 0:
		opts.MaximumWeight = uint64(cfg.MaxBytes)
		opts.Weigher = weigh
	}
	return &Resource{name: name, defaultTTL: cfg.DefaultTTL, opts: opts}, nil
}

// item is what the cache stores for a key.
type item struct {
	value string
	// ttl is the lifetime a write gives the entry; 0 means no expiry.
	ttl time.Duration
	// keepTTL makes an update keep the entry's current expiry (incr).
	keepTTL bool
}

// weigh is the entry's weight for max_bytes: len(key)+len(value).
func weigh(key string, it item) uint32 {
	n := uint64(len(key)) + uint64(len(it.value))
	return uint32(min(n, math.MaxUint32))
}

// never is the lifetime otter treats as no expiry.
const never = time.Duration(math.MaxInt64)

// expiry gives each entry the lifetime its write asked for. Reads do not
// change it; an update with keepTTL keeps it.
type expiry struct{}

func (expiry) ExpireAfterCreate(e otter.Entry[string, item]) time.Duration {
	return lifetime(e.Value)
}

func (expiry) ExpireAfterUpdate(e otter.Entry[string, item], _ item) time.Duration {
	if e.Value.keepTTL {
		return e.ExpiresAfter()
	}
	return lifetime(e.Value)
}

func (expiry) ExpireAfterRead(e otter.Entry[string, item]) time.Duration {
	return e.ExpiresAfter()
}

func lifetime(it item) time.Duration {
	if it.ttl <= 0 {
		return never
	}
	return it.ttl
}

var _ otter.ExpiryCalculator[string, item] = expiry{}
