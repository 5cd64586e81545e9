package hosttest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource controls one resource of a test host: the faults its calls
// meet, and the record of the calls it received. Get it with
// [Host.Resource]. Its methods are safe to call while the resource is in
// use; a fault applies to the calls that begin after it is set.
//
// Faults act where a backend's would: on the calls that reach the driver,
// after the host's checks of the arguments and its resilience policies
// (timeouts, retries, circuit breaker). A call the host refuses before it
// reaches the driver (an unknown operation, an argument of the wrong type)
// meets no fault and is not recorded.
type Resource struct {
	id string

	mu        sync.Mutex
	fail      []failRule
	slow      time.Duration
	slowOps   []string
	partition chan struct{} // closed by Recover; nil when not partitioned
	calls     []Call
	secrets   []string // the resource's sensitive settings, masked in Calls
	sensitive map[string][]string
}

// failRule makes calls fail with kind.
type failRule struct {
	kind sdk.Kind
	ops  []string // the operations it applies to; all when empty
	left int      // calls left to fail; -1 for every call
}

func (f *failRule) applies(op string) bool {
	return len(f.ops) == 0 || slices.Contains(f.ops, op)
}

// ID is the resource's id, TYPE.NAME.
func (r *Resource) ID() string { return r.id }

// Fail makes the resource's calls fail with an error of kind, as a
// backend's would: of the operations ops, or of every operation when ops
// is empty. SQL statements are the operations "query", "exec", "batch",
// "begin", "commit" and "rollback". Health checks go on passing: to make
// the backend unreachable, use [Resource.Partition]. A later Fail adds to
// the earlier ones; Recover clears them.
func (r *Resource) Fail(kind sdk.Kind, ops ...string) {
	r.addFail(failRule{kind: kind, ops: ops, left: -1})
}

// FailNext makes the next n calls of ops (of any operation when ops is
// empty) fail with an error of kind; the calls after them succeed again.
// It is how a test checks that a retry policy retries, or that a
// workflow's own retry loop gives up.
func (r *Resource) FailNext(n int, kind sdk.Kind, ops ...string) {
	if n > 0 {
		r.addFail(failRule{kind: kind, ops: ops, left: n})
	}
}

func (r *Resource) addFail(f failRule) {
	if f.kind == "" {
		f.kind = sdk.KindUnavailable
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = append(r.fail, f)
}

// Slow adds d to every call of ops before it reaches the driver; with no
// ops, to every call, health check and new session (Open) of the
// resource, as a slow network would. A call whose context ends first fails
// as the context says: timeout past its deadline, canceled when canceled.
// Slow(0) removes the delay.
func (r *Resource) Slow(d time.Duration, ops ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slow, r.slowOps = d, ops
}

// Partition cuts the resource off, as a network partition would: its
// calls, health checks and new sessions hang until their context ends
// (they fail as timeout past a deadline) or until Recover, when those
// still waiting go on to the driver. With health checks configured, the
// host quarantines the resource after unhealthy_after failed checks.
func (r *Resource) Partition() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.partition == nil {
		r.partition = make(chan struct{})
	}
}

// Recover removes every fault: the partition (calls that were waiting
// on it go on), the delay and the failures. The host lifts a quarantine
// at its next passing health checks, as after a real outage.
func (r *Resource) Recover() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.partition != nil {
		close(r.partition)
		r.partition = nil
	}
	r.fail, r.slow, r.slowOps = nil, 0, nil
}

// Calls returns the calls the resource received, oldest first: each
// operation and SQL statement that reached the driver, with its arguments
// (sensitive ones masked) and outcome. Health checks are not recorded.
func (r *Resource) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// ResetCalls forgets the calls recorded so far.
func (r *Resource) ResetCalls() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Reached reports how many recorded calls were of operation op.
func (r *Resource) Reached(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.Operation == op {
			n++
		}
	}
	return n
}

// before applies the faults to a call of op (op is "" for a health check
// or an Open) and returns the error the call fails with, or nil to let it
// reach the driver; injected says whether a fault made the error.
func (r *Resource) before(ctx context.Context, op string) (err error, injected bool) {
	r.mu.Lock()
	part := r.partition
	slow := r.slow
	if len(r.slowOps) > 0 && (op == "" || !slices.Contains(r.slowOps, op)) {
		slow = 0 // slowed for other operations only
	}
	r.mu.Unlock()

	if part != nil {
		select {
		case <-part:
		case <-ctx.Done():
			return fmt.Errorf("partitioned by hosttest: %w", ctx.Err()), true
		}
	}
	if slow > 0 {
		t := time.NewTimer(slow)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("slowed by hosttest (%v): %w", slow, ctx.Err()), true
		}
	}
	if op == "" {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.fail {
		f := &r.fail[i]
		if f.left == 0 || !f.applies(op) {
			continue
		}
		if f.left > 0 {
			f.left--
		}
		return sdk.Errorf(f.kind, "%s: %s injected by hosttest", op, f.kind), true
	}
	return nil, false
}
