package api

import (
	"encoding/json"
	"time"
)

// ResourceList is the body of GET /v1/resources: a page of resources in
// the order they were declared, and, once for each type on the page, what
// the type offers. Next, when set, is the Page.After of the next page.
type ResourceList struct {
	Resources []ResourceSummary `json:"resources"`
	// Types describes each resource type of the page's resources, by
	// type name; a resource's operations are its type's.
	Types map[string]TypeInfo `json:"types"`
	// Total is how many resources the host has.
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// ResourceSummary is one resource in a listing. GET /v1/resources/{name}
// (Client.Resource) gives the whole of it: settings, statistics, leases,
// resilience.
type ResourceSummary struct {
	ID        string        `json:"id"`
	Type      string        `json:"type"`
	Name      string        `json:"name"`
	State     ResourceState `json:"state"`
	Error     string        `json:"error,omitempty"`
	Health    HealthState   `json:"health"`
	DependsOn []string      `json:"depends_on,omitempty"`
	// Pool counts the resource's instances.
	Pool PoolSummary `json:"pool"`
}

// PoolSummary counts a pool's instances and leases.
type PoolSummary struct {
	Total   int `json:"total"`
	Idle    int `json:"idle"`
	InUse   int `json:"in_use"`
	MaxSize int `json:"max_size"`
	Waiting int `json:"waiting"`
	Leases  int `json:"leases"`
}

// TypeInfo is what a resource type offers, listed once per type.
type TypeInfo struct {
	Plugin       string      `json:"plugin"`
	Pooling      Pooling     `json:"pooling"`
	Capabilities []string    `json:"capabilities"`
	Operations   []Operation `json:"operations"`
}

// Resource is the body of GET /v1/resources/{name}: one resource in full.
type Resource struct {
	ID     string        `json:"id"`
	Type   string        `json:"type"`
	Name   string        `json:"name"`
	Plugin string        `json:"plugin"`
	State  ResourceState `json:"state"`
	Error  string        `json:"error,omitempty"`
	// Critical reports whether the host is ready (GET /readyz) only
	// while the resource is: false for a resource whose block says
	// critical = false.
	Critical     bool        `json:"critical"`
	Pooling      Pooling     `json:"pooling"`
	Capabilities []string    `json:"capabilities"`
	DependsOn    []string    `json:"depends_on"`
	Operations   []Operation `json:"operations"`
	Pool         Pool        `json:"pool"`
	Resilience   Resilience  `json:"resilience"`
	Health       HealthState `json:"health"`
}

// Operation describes one operation of a resource type.
type Operation struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Idempotent operations may be retried by the host's resilience
	// policies.
	Idempotent bool `json:"idempotent"`
	// IdempotentWhen says which calls of an operation that is not
	// idempotent are, and so may be retried ("method is GET, HEAD; or
	// idempotency_key is set"); empty when none are.
	IdempotentWhen string `json:"idempotent_when,omitempty"`
	// Stream is how the operation streams; empty for one called with
	// Client.Invoke.
	Stream StreamMode `json:"stream,omitempty"`
	Args   []Arg      `json:"args"`
}

// Arg describes one argument of an operation, or one setting of a
// resource type.
type Arg struct {
	Name string `json:"name"`
	// Type is the argument's type: string, int, float, bool, duration,
	// list(T) or map(T).
	Type     string `json:"type"`
	Required bool   `json:"required"`
	// Default is the JSON value an optional argument takes when not
	// given; empty for none.
	Default     json.RawMessage `json:"default,omitempty"`
	Sensitive   bool            `json:"sensitive,omitempty"`
	Description string          `json:"description,omitempty"`
}

// Pool describes a resource's pool: its mode, the settings of its pool
// block, a snapshot of its state and the leases out.
type Pool struct {
	Mode     Pooling      `json:"mode"`
	Settings PoolSettings `json:"settings"`
	Stat     PoolStat     `json:"stat"`
	// Leases are the leases out, oldest first.
	Leases []Lease `json:"leases"`
}

// PoolSettings are the settings of a resource's pool block in effect,
// defaults filled in. Durations are Go duration strings; "0s" means never
// (or no limit).
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

// PoolStat is a snapshot of a pool. Durations travel as nanoseconds.
type PoolStat struct {
	// Total is how many instances are open: idle, in use or being reset.
	Total int `json:"total"`
	// Idle is how many instances wait for a lease.
	Idle int `json:"idle"`
	// InUse is how many instances are leased (or being reset).
	InUse int `json:"in_use"`
	// Constructing is how many opens are in progress.
	Constructing int `json:"constructing"`
	// MinSize and MaxSize are the pool's limits.
	MinSize int `json:"min_size"`
	MaxSize int `json:"max_size"`
	// Waiting is how many callers wait for an instance now.
	Waiting int `json:"waiting"`

	// AcquireCount counts successful acquires; AcquireDuration is their
	// total wait.
	AcquireCount    int64         `json:"acquire_count"`
	AcquireDuration time.Duration `json:"acquire_duration_ns"`
	// EmptyAcquireCount counts acquires that found no idle instance.
	EmptyAcquireCount int64 `json:"empty_acquire_count"`
	// CanceledAcquireCount counts acquires ended by their caller.
	CanceledAcquireCount int64 `json:"canceled_acquire_count"`
	// TimeoutCount counts acquires that gave up.
	TimeoutCount int64 `json:"timeout_count"`
	// ResetCount counts the resets of released instances.
	ResetCount int64 `json:"reset_count"`

	// Created counts instances opened; Destroyed* count those closed, by
	// reason.
	Created           int64 `json:"created"`
	DestroyedIdle     int64 `json:"destroyed_idle"`
	DestroyedLifetime int64 `json:"destroyed_lifetime"`
	DestroyedBroken   int64 `json:"destroyed_broken"`
	DestroyedClosed   int64 `json:"destroyed_closed"`

	// Replicas describes each replica of a shared pool.
	Replicas []ReplicaStat `json:"replicas,omitempty"`
	// Window summarizes the last few minutes.
	Window WindowStat `json:"window"`
}

// ReplicaStat describes one replica of a shared pool.
type ReplicaStat struct {
	Open      bool          `json:"open"`
	InFlight  int64         `json:"in_flight"`
	Latency   time.Duration `json:"latency_ns"`
	ErrorRate float64       `json:"error_rate"`
}

// WindowStat summarizes a pool's acquires, their waits and its
// utilization over the last few minutes; Window is zero from a host that
// keeps no window.
type WindowStat struct {
	Window   time.Duration `json:"window_ns"`
	Acquires int64         `json:"acquires"`
	Waited   int64         `json:"waited"`
	Timeouts int64         `json:"timeouts"`
	WaitP50  time.Duration `json:"wait_p50_ns"`
	WaitP95  time.Duration `json:"wait_p95_ns"`
	WaitP99  time.Duration `json:"wait_p99_ns"`
	WaitMax  time.Duration `json:"wait_max_ns"`
	// InUseMean and InUsePeak are the instances in use (for a shared
	// pool, the leases in flight), their time-weighted mean and most.
	InUseMean float64 `json:"in_use_mean"`
	InUsePeak int     `json:"in_use_peak"`
	// UtilizationMean and UtilizationPeak are InUseMean and InUsePeak over
	// the pool's size (for a shared pool, per replica).
	UtilizationMean float64 `json:"utilization_mean"`
	UtilizationPeak float64 `json:"utilization_peak"`
	// Advice recommends a max_size when the window shows the pool too
	// small or too large; empty otherwise.
	Advice string `json:"advice"`
}

// Lease describes a lease that is out.
type Lease struct {
	Owner Owner         `json:"owner"`
	Held  time.Duration `json:"held_ns"`
}

// Resilience is the state and counts of a resource's resilience policies.
type Resilience struct {
	// Breaker is the circuit breaker's state; empty without one.
	Breaker BreakerState `json:"breaker,omitempty"`
	// BreakerOpenFor is how long an open breaker stays open.
	BreakerOpenFor time.Duration `json:"breaker_open_for_ns,omitempty"`
	// Retries counts attempts after the first, since start.
	Retries uint64 `json:"retries"`
	// Rejected counts calls refused by an open breaker or a full bulkhead.
	Rejected uint64 `json:"rejected"`
}

// Plugin describes a plugin, or a driver compiled into the host, in the
// body of GET /v1/plugins.
type Plugin struct {
	Name string `json:"name"`
	// Path is the binary's path, "(in process)" for a compiled-in driver.
	Path string `json:"path"`
	// SHA256 is the checksum of the binary last started.
	SHA256 string `json:"sha256"`
	// Version is the driver's version; Driver its own name.
	Version  string      `json:"version"`
	Driver   string      `json:"driver"`
	Protocol int         `json:"protocol"`
	Types    []string    `json:"types"`
	PID      int         `json:"pid"`
	State    PluginState `json:"state"`
	Restarts int         `json:"restarts"`
	// Generation counts starts; it changes on every restart.
	Generation uint64 `json:"generation"`
	// LastError is why the plugin last exited or failed to start.
	LastError string `json:"last_error,omitempty"`
	// Failures counts the failures in a row.
	Failures int `json:"failures,omitempty"`
	// NextRestart is when the next start is due, while restarting.
	NextRestart time.Time `json:"next_restart,omitzero"`
}
