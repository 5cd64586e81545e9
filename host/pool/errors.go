package pool

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the pools.
var (
	// ErrClosed means the pool has been closed.
	ErrClosed = errors.New("pool closed")
	// ErrExhausted means every instance was in use and none came back
	// before the caller's deadline or the acquire timeout. Errors wrapping
	// it are *ExhaustedError values.
	ErrExhausted = errors.New("pool exhausted")
	// ErrNoReplica means every replica of a shared pool is closed and
	// being reopened.
	ErrNoReplica = errors.New("no replica open")
)

// ExhaustedError reports an acquire that waited for an instance in vain.
type ExhaustedError struct {
	// Pool names the pool, for example "postgres.main".
	Pool string
	// Size is how many instances the pool had; MaxSize its limit.
	Size, MaxSize int
	// Waiting is how many callers were waiting, this one included.
	Waiting int
	// Waited is how long this caller waited.
	Waited time.Duration
	// Err is what ended the wait: context.DeadlineExceeded, or
	// ErrAcquireTimeout when the pool's own acquire timeout ran out.
	Err error
}

// ErrAcquireTimeout is the cause of an ExhaustedError when the pool's
// acquire timeout, not the caller's deadline, ended the wait.
var ErrAcquireTimeout = errors.New("acquire timeout")

// Error says which pool, how full, how many waited and for how long.
func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("pool %s exhausted: all %d of %d instances in use, %d waiting; waited %v (%v)",
		e.Pool, e.Size, e.MaxSize, e.Waiting, e.Waited.Round(time.Microsecond), e.Err)
}

// Unwrap returns ErrExhausted and the cause.
func (e *ExhaustedError) Unwrap() []error { return []error{ErrExhausted, e.Err} }
