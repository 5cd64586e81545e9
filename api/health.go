package api

import "time"

// HealthReport is the health of a host's resources, with aggregates: each
// resource type, and the host as a whole, take the worst state of their
// resources.
type HealthReport struct {
	Status    HealthState            `json:"status"`
	Types     map[string]HealthState `json:"types"`
	Resources []ResourceHealth       `json:"resources"`
	// Credentials are the state of each credential block; none when the
	// configuration has none.
	Credentials []CredentialHealth `json:"credentials,omitempty"`
	// QuotaStore is the state of the Redis the tenants' rate quotas are
	// shared through; nil when there is none.
	QuotaStore *QuotaStoreHealth `json:"quota_store,omitempty"`
}

// CredentialHealth is the state of one credential. It never holds the
// credential's value.
type CredentialHealth struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// State is "ok", "stale" (the last refresh failed; the last good
	// value serves until it expires), "expired" or "pending".
	State string `json:"state"`
	// Version counts the values read, from 1; it grows when the value
	// changes.
	Version   uint64    `json:"version"`
	Expires   time.Time `json:"expires,omitzero"`
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// QuotaStoreHealth is the state of the shared store of rate quotas.
type QuotaStoreHealth struct {
	// Resource is the redis resource the store is.
	Resource string `json:"resource"`
	// Degraded is true while the store fails and each host applies the
	// rate quotas by itself.
	Degraded  bool      `json:"degraded"`
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// HealthPage is the body of GET /v1/health: the host's overall status and
// each type's, over every resource, and a page of the resources' health.
// Next, when set, is the Page.After of the next page.
type HealthPage struct {
	HealthReport
	// Total is how many resources the host has.
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// ResourceHealth is one resource's health.
type ResourceHealth struct {
	ID    string      `json:"id"`
	Type  string      `json:"type"`
	State HealthState `json:"state"`
	// Reason says why the resource is in its state.
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Quarantined resources take no new leases.
	Quarantined bool `json:"quarantined"`
	// ConsecutiveFailures and ConsecutivePasses count the checks in a row
	// that failed or passed.
	ConsecutiveFailures int `json:"consecutive_failures"`
	ConsecutivePasses   int `json:"consecutive_passes"`
	// LastCheck is when the last check ended (zero before the first),
	// LastLatency how long it took, and LastError what it failed with.
	LastCheck   time.Time     `json:"last_check,omitzero"`
	LastLatency time.Duration `json:"last_latency_ns"`
	LastError   string        `json:"last_error,omitempty"`
	// Breaker is the state of the resource's circuit breaker; empty
	// without one.
	Breaker BreakerState `json:"breaker,omitempty"`
	// History holds the latest state changes, oldest first.
	History []HealthEvent `json:"history"`
}

// HealthEvent is one state change of a resource's health or of its
// circuit breaker.
type HealthEvent struct {
	At time.Time `json:"at"`
	// Kind is "health" or "breaker".
	Kind   string `json:"kind"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}
