package quota

import (
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// ErrClosed means the limiter has been closed: Admit and Allow return
// errors wrapping it. Its kind is unavailable.
var ErrClosed error = &sdk.Error{Kind: sdk.KindUnavailable, Message: "quota limiter closed"}

// The limits an [ExceededError] names.
const (
	// LimitMaxLeases is a refusal because the tenant holds all the leases
	// its max_leases allows.
	LimitMaxLeases = "max_leases"
	// LimitRate is a refusal because the tenant is over its rate.
	LimitRate = "rate"
)

// ExceededError is a call refused because a tenant is over its quota on a
// resource. It unwraps to an *sdk.Error of kind resource_exhausted with
// the same message and RetryAfter, so that sdk.KindOf and
// sdk.RetryAfterOf work on it and the host reports it as such.
type ExceededError struct {
	// Key is the tenant and the resource.
	Key Key
	// Limit is the limit that refused the call: [LimitMaxLeases] or
	// [LimitRate].
	Limit string
	// Detail says who is over which limit, for example "tenant acme holds
	// 2 of its 2 leases on postgres.main".
	Detail string
	// RetryAfter is how long the caller should wait before trying again;
	// always > 0. For the rate it is when the limiter will admit the next
	// call; for max_leases an estimate: the mean time the key's recent
	// leases were held, at least 10ms, or 50ms before any lease ended.
	RetryAfter time.Duration
}

// Error says that the quota was exceeded, and Detail.
func (e *ExceededError) Error() string {
	return "quota exceeded: " + e.Detail
}

// Unwrap returns the error as the SDK knows it: kind resource_exhausted,
// with this error's message and RetryAfter.
func (e *ExceededError) Unwrap() error {
	return &sdk.Error{Kind: sdk.KindResourceExhausted, Message: e.Error(), RetryAfter: e.RetryAfter}
}
