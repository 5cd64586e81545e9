package host

import "github.com/nebula-resource/nebula-resource/host/resilience"

// BreakerState is the state of a resource's circuit breaker.
type BreakerState = resilience.BreakerState

// The states of a circuit breaker. A resource without a circuit_breaker
// block reports BreakerNone.
const (
	BreakerNone     = resilience.BreakerNone
	BreakerClosed   = resilience.BreakerClosed
	BreakerOpen     = resilience.BreakerOpen
	BreakerHalfOpen = resilience.BreakerHalfOpen
)

// ResilienceInfo describes a resource's resilience policies and their
// state.
type ResilienceInfo = resilience.Info
