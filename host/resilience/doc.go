// Package resilience provides a resource's resilience policies, built on
// failsafe-go from its resilience block (config.Resilience): a total
// timeout, retry with exponential backoff, full jitter and a retry
// budget, a circuit breaker, a bulkhead with a bounded queue, and a
// timeout per attempt.
//
// [New] builds the [Policies]; [Policies.Run] runs a call's attempts under
// them, and [Policies.Admit] lets a stream through the breaker and the
// bulkhead, which is all that applies to one. [Policies.Info] reports the
// breaker's state and the counts of retries and rejections, and [Hooks]
// tell the host of each transition, retry and rejection as it happens.
//
// The package also holds the rules the policies follow: which errors say
// the backend is failing and count against the breaker ([BackendFailing];
// never a caller's mistake, [CallersMistake], nor an attempt the caller's
// own context ended), which may be tried again ([Retryable], [Final]),
// and the errors the policies fail a call with, which say which policy
// ended it ([ErrCircuitOpen], [ErrBulkheadFull], timeouts of kind timeout).
//
// It needs no host: a Policies is built from a config block, and an
// attempt is a function.
package resilience

import "errors"

var (
	// ErrCircuitOpen means the resource's circuit breaker is open: the call
	// failed fast without reaching the plugin. Errors wrapping it are of
	// kind unavailable.
	ErrCircuitOpen = errors.New("circuit breaker open")
	// ErrBulkheadFull means the resource's bulkhead had no room for the
	// call. Errors wrapping it are of kind resource_exhausted.
	ErrBulkheadFull = errors.New("bulkhead full")
)
