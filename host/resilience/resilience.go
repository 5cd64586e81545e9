package resilience

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/budget"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/common"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/internal/kinded"
	"github.com/nebula-resource/nebula-resource/host/redact"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Defaults of the resilience block's settings, used where a block is
// declared and a setting is not.
const (
	defaultMaxAttempts      = 3
	defaultBackoff          = 100 * time.Millisecond
	defaultMaxBackoff       = 10 * time.Second
	defaultRetryBudget      = 0.2
	defaultBudgetFloor      = 3 // retries in flight always allowed, whatever the ratio
	defaultFailureThreshold = 5
	defaultBreakerWindow    = time.Minute
	defaultOpenFor          = 30 * time.Second
	defaultHalfOpenProbes   = 1
)

// BreakerState is the state of a resource's circuit breaker.
type BreakerState string

// The states of a circuit breaker. A resource without a circuit_breaker
// block reports BreakerNone.
const (
	BreakerNone     BreakerState = ""
	BreakerClosed   BreakerState = "closed"
	BreakerOpen     BreakerState = "open"
	BreakerHalfOpen BreakerState = "half_open"
)

func stateOf(s circuitbreaker.State) BreakerState {
	switch s {
	case circuitbreaker.OpenState:
		return BreakerOpen
	case circuitbreaker.HalfOpenState:
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// Policies are a resource's resilience policies. The host applies them
// around every call to the resource's plugin, outermost first:
//
//	total timeout → retry → circuit breaker → bulkhead → attempt timeout → call
//
// Retry is only for operations the plugin declared idempotent, and only
// after an error of retryable kind. The caller's context bounds it all.
// A nil *Policies declares none: calls run as they are.
type Policies struct {
	name    string
	cfg     *config.Resilience // the resource's, not copied
	secrets *redact.Set        // masks secrets in the breaker's reasons

	breaker  circuitbreaker.CircuitBreaker[any] // nil without a circuit_breaker block
	bulk     bulkhead.Bulkhead[any]             // nil without a bulkhead block
	gate     chan struct{}                      // admits max_concurrent + max_queue calls to the bulkhead
	once     failsafe.Executor[any]             // every policy but retry; nil when there are none
	retrying failsafe.Executor[any]             // with retry, for idempotent operations; nil without a retry block
	streams  failsafe.Executor[any]             // retry alone, for streams (RunStream); nil without a retry block

	hooks    Hooks
	lastFail atomic.Pointer[string] // the last failure the breaker counted, for its reason

	mu       sync.Mutex
	retries  uint64 // attempts after the first, since start
	rejected uint64 // calls refused by an open breaker or a full bulkhead
}

// Hooks tell the resource what the policies did, for its log, its
// health history and its metrics. They are called on the goroutine of
// the call that caused them and must not block.
type Hooks interface {
	// BreakerChanged is told of each breaker transition, with its reason.
	BreakerChanged(from, to BreakerState, reason string)
	// Retried is told of each attempt after the first.
	Retried()
	// Rejected is told of each call refused by an open breaker
	// (byBreaker) or a full bulkhead.
	Rejected(byBreaker bool)
}

// New builds the policies a resilience block declares for the resource
// named name, or returns nil for a block that declares none: a nil
// *Policies runs calls as they are, and most resources need nothing more.
// cfg is kept, not copied; secrets masks secrets in the breaker's
// reasons.
func New(name string, cfg *config.Resilience, secrets *redact.Set, hooks Hooks) *Policies {
	if cfg.Timeout <= 0 && cfg.AttemptTimeout <= 0 && cfg.Retry == nil && cfg.CircuitBreaker == nil && cfg.Bulkhead == nil {
		return nil
	}
	p := &Policies{name: name, cfg: cfg, secrets: secrets, hooks: hooks}
	var inner []failsafe.Policy[any] // below retry, outermost first
	if cb := cfg.CircuitBreaker; cb != nil {
		p.breaker = p.buildBreaker(*cb)
		inner = append(inner, p.breaker)
	}
	if b := cfg.Bulkhead; b != nil {
		bb := bulkhead.NewBuilder[any](uint(b.MaxConcurrent))
		if b.MaxQueue > 0 {
			// The gate bounds the queue; a queued call waits as long as
			// its context lets it.
			bb = bb.WithMaxWaitTime(time.Duration(1<<63 - 1))
		}
		p.bulk = bb.Build()
		p.gate = make(chan struct{}, b.MaxConcurrent+b.MaxQueue)
		inner = append(inner, gatePolicy{p.gate}, p.bulk)
	}
	if cfg.AttemptTimeout > 0 {
		inner = append(inner, timeout.New[any](cfg.AttemptTimeout))
	}
	var outer []failsafe.Policy[any]
	if cfg.Timeout > 0 {
		outer = append(outer, timeout.New[any](cfg.Timeout))
	}
	if all := append(append([]failsafe.Policy[any]{}, outer...), inner...); len(all) > 0 {
		p.once = failsafe.With(all...)
	}
	if cfg.Retry != nil {
		// One retry policy, and so one retry budget, for calls and
		// streams alike.
		retry := p.buildRetry(*cfg.Retry)
		all := append(append(append([]failsafe.Policy[any]{}, outer...), retry), inner...)
		p.retrying = failsafe.With(all...)
		p.streams = failsafe.With(retry)
	}
	return p
}

// maxRetryAfter bounds the wait a backend's Retry-After imposes on one
// retry: a server that asks for an hour gets its call failed by the
// caller's deadline, or retried after this.
const maxRetryAfter = 5 * time.Minute

func (p *Policies) buildRetry(r config.Retry) failsafe.Policy[any] {
	attempts := cmp.Or(r.MaxAttempts, defaultMaxAttempts)
	base := cmp.Or(r.Backoff, defaultBackoff)
	ceiling := cmp.Or(r.MaxBackoff, max(defaultMaxBackoff, base))
	rate := r.Budget
	if rate == 0 {
		rate = defaultRetryBudget
	}
	b := budget.NewBuilder().WithMaxRate(rate).WithMinConcurrency(defaultBudgetFloor).Build()
	return retrypolicy.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return Retryable(err) }).
		WithMaxAttempts(attempts).
		// Exponential backoff with full jitter: a delay drawn uniformly
		// from [0, min(max_backoff, backoff × 2^retry)); or, when the
		// backend asked for a wait (Retry-After), that wait, which
		// max_backoff does not cut: retrying sooner would be refused
		// again. The caller's deadline still bounds it.
		WithDelayFunc(func(e failsafe.ExecutionAttempt[any]) time.Duration {
			if ra := sdk.RetryAfterOf(e.LastError()); ra > 0 {
				return min(ra, maxRetryAfter)
			}
			d := base << min(e.Retries(), 30)
			if d <= 0 || d > ceiling {
				d = ceiling
			}
			return rand.N(d) + 1
		}).
		WithBudget(b).
		ReturnLastFailure().
		OnRetry(func(failsafe.ExecutionEvent[any]) {
			p.mu.Lock()
			p.retries++
			p.mu.Unlock()
			p.hooks.Retried()
		}).
		Build()
}

func (p *Policies) buildBreaker(c config.CircuitBreaker) circuitbreaker.CircuitBreaker[any] {
	b := circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return p.breakerFailure(err) }).
		WithDelay(cmp.Or(c.OpenFor, defaultOpenFor)).
		WithSuccessThreshold(uint(cmp.Or(c.HalfOpenProbes, defaultHalfOpenProbes)))
	threshold := uint(cmp.Or(c.FailureThreshold, defaultFailureThreshold))
	switch {
	case c.FailureRatio > 0:
		// The ratio applies once failure_threshold calls (at least one)
		// were made in the window.
		b = b.WithFailureRateThreshold(c.FailureRatio, max(uint(c.FailureThreshold), 1), cmp.Or(c.Window, defaultBreakerWindow))
	case c.Window > 0:
		b = b.WithFailureThresholdPeriod(threshold, c.Window)
	default:
		b = b.WithFailureThreshold(threshold)
	}
	return b.OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
		from, to := stateOf(e.OldState), stateOf(e.NewState)
		reason := ""
		switch to {
		case BreakerOpen:
			m := e.Metrics()
			reason = fmt.Sprintf("%d of %d recent calls failed", m.Failures(), m.Executions())
			if last := p.lastFail.Load(); last != nil {
				reason += "; last error: " + *last
			}
		case BreakerHalfOpen:
			reason = "open_for elapsed; letting probe calls through"
		case BreakerClosed:
			reason = "probe calls succeeded"
		}
		p.hooks.BreakerChanged(from, to, reason)
	}).Build()
}

// Run performs a call under the policies. attempt is called once per
// attempt with the attempt's context; idempotent allows retries.
func (p *Policies) Run(ctx context.Context, idempotent bool, attempt func(context.Context) (any, error)) (any, error) {
	var ex failsafe.Executor[any]
	if p != nil {
		ex = p.once
		if idempotent && p.retrying != nil {
			ex = p.retrying
		}
	}
	return p.run(ctx, ex, attempt)
}

// RunStream performs a streaming call, which no timeout policy bounds
// (only ctx does): each attempt passes the circuit breaker and the
// bulkhead (Admit), and, when idempotent allows it and the resource
// retries, an attempt that failed with a retryable error is retried as
// Run retries. attempt marks Final an error after which the call cannot
// be repeated: one after bytes of the stream reached the caller.
func (p *Policies) RunStream(ctx context.Context, idempotent bool, attempt func(context.Context) (any, error)) (any, error) {
	one := func(ctx context.Context) (any, error) {
		done, err := p.Admit(ctx)
		if err != nil {
			return nil, Final(err)
		}
		v, err := attempt(ctx)
		done(err)
		return v, err
	}
	if p == nil || !idempotent || p.streams == nil {
		v, err := one(ctx)
		return v, Unmark(err)
	}
	return p.run(ctx, p.streams, one)
}

// run performs a call under ex, a chain of the policies, or as it is when
// ex is nil.
func (p *Policies) run(ctx context.Context, ex failsafe.Executor[any], attempt func(context.Context) (any, error)) (any, error) {
	if ex == nil {
		v, err := attempt(ctx)
		return v, Unmark(err)
	}
	began := time.Now()
	var attempts int
	var last error
	v, err := ex.WithContext(ctx).GetWithExecution(func(e failsafe.Execution[any]) (any, error) {
		attempts++
		v, err := attempt(e.Context())
		if err != nil && (last == nil || ctx.Err() == nil) {
			// An attempt the caller's deadline cut off says nothing
			// new: keep the failure before it as the last error.
			last = err
			if e.Context().Err() != nil && ctx.Err() == nil && p.cfg.AttemptTimeout > 0 {
				// Cut off by a timeout policy, not by the caller.
				last = p.attemptTimedOut(attempts)
			}
		}
		if err != nil && ctx.Err() != nil {
			// The caller's own context ended the attempt: that says
			// nothing about the backend, and is not retried.
			err = callerEnded{err}
		}
		return v, err
	})
	if err == nil {
		return v, nil
	}
	return nil, p.explain(ctx, err, Unmark(last), attempts, time.Since(began))
}

// explain turns what the policies returned into an error of the right kind
// that says which policy ended the call.
func (p *Policies) explain(ctx context.Context, err, last error, attempts int, took time.Duration) error {
	lastSaid := func() string {
		if last == nil {
			return ""
		}
		return fmt.Sprintf(" (after %d attempts; last error: %v)", attempts, last)
	}
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen):
		p.countRejected(true)
		return kinded.New(sdk.KindUnavailable, ErrCircuitOpen, "circuit breaker of %s is open: calls fail fast for another %s%s",
			p.name, p.breaker.RemainingDelay().Round(time.Millisecond), lastSaid())
	case errors.Is(err, bulkhead.ErrFull):
		p.countRejected(false)
		b := p.cfg.Bulkhead
		return kinded.New(sdk.KindResourceExhausted, ErrBulkheadFull, "bulkhead of %s is full: %d calls in flight (max_concurrent) and %d waiting (max_queue)",
			p.name, b.MaxConcurrent, b.MaxQueue)
	case errors.Is(err, timeout.ErrExceeded):
		if p.cfg.Timeout > 0 && took >= p.cfg.Timeout {
			return kinded.New(sdk.KindTimeout, context.DeadlineExceeded, "call timed out after %s (resilience timeout)%s", p.cfg.Timeout, lastSaid())
		}
		return p.attemptTimedOut(attempts)
	case errors.Is(err, budget.ErrExceeded):
		if last == nil {
			return sdk.WrapError(sdk.KindResourceExhausted, err, "retry budget of "+p.name+" exhausted")
		}
		return fmt.Errorf("retry budget of %s exhausted after %d attempts: %w", p.name, attempts, last)
	case ctx.Err() != nil && last != nil:
		return kinded.Bare(sdk.KindOf(ctx.Err()), ctx.Err(), fmt.Sprintf("%v after %d attempts; last error: %v", ctx.Err(), attempts, last))
	case attempts > 1:
		return fmt.Errorf("after %d attempts: %w", attempts, Unmark(err))
	}
	return Unmark(err)
}

func (p *Policies) attemptTimedOut(attempt int) error {
	return kinded.New(sdk.KindTimeout, context.DeadlineExceeded, "attempt %d timed out after %s (attempt_timeout)", attempt, p.cfg.AttemptTimeout)
}

// Admit lets a streaming call through the breaker and the bulkhead, which
// is all that applies to a stream: it cannot be retried, and only the
// caller's context bounds it. Call done with the call's outcome.
func (p *Policies) Admit(ctx context.Context) (done func(error), err error) {
	if p == nil {
		return func(error) {}, nil
	}
	if p.breaker != nil && !p.breaker.TryAcquirePermit() {
		return nil, p.explain(ctx, circuitbreaker.ErrOpen, nil, 0, 0)
	}
	record := func(err error) {
		if err != nil && ctx.Err() != nil {
			err = callerEnded{err}
		}
		if p.breaker != nil {
			if p.breakerFailure(err) {
				p.breaker.RecordFailure()
			} else {
				p.breaker.RecordSuccess()
			}
		}
	}
	if p.bulk == nil {
		return record, nil
	}
	select {
	case p.gate <- struct{}{}:
	default:
		record(nil)
		return nil, p.explain(ctx, bulkhead.ErrFull, nil, 0, 0)
	}
	if err := p.bulk.AcquirePermitWithMaxWait(ctx, p.maxWait()); err != nil {
		<-p.gate
		record(nil)
		if errors.Is(err, bulkhead.ErrFull) {
			return nil, p.explain(ctx, err, nil, 0, 0)
		}
		return nil, sdk.WrapError(sdk.KindOf(err), err, "wait for the bulkhead of "+p.name)
	}
	return func(err error) {
		p.bulk.ReleasePermit()
		<-p.gate
		record(err)
	}, nil
}

func (p *Policies) maxWait() time.Duration {
	if p.cfg.Bulkhead.MaxQueue > 0 {
		return time.Duration(1<<63 - 1)
	}
	return 0
}

// Record counts a failure that happened after a stream was admitted (a
// row stream that broke, say) against the breaker. ctx is the caller's:
// a stream its own context ended is not counted.
func (p *Policies) Record(ctx context.Context, err error) {
	if p == nil || ctx.Err() != nil {
		return
	}
	if p.breaker != nil && p.breakerFailure(err) {
		p.breaker.RecordFailure()
	}
}

func (p *Policies) countRejected(byBreaker bool) {
	p.mu.Lock()
	p.rejected++
	p.mu.Unlock()
	p.hooks.Rejected(byBreaker)
}

// breakerFailure reports whether err says the backend is failing, which
// is all a circuit breaker counts: see BackendFailing. An error the caller
// caused is never counted, whatever kind the driver gave it, when the host
// can tell it is the caller's: the caller's context ended it, or its chain
// holds an error of a caller's kind (an invalid_argument wrapped in an
// internal, say). Neither are the host's own refusals (an open breaker, a
// full bulkhead): they are the policies working, not the backend failing.
func (p *Policies) breakerFailure(err error) bool {
	if err == nil {
		return false
	}
	var ce callerEnded
	switch {
	case errors.As(err, &ce), errors.Is(err, circuitbreaker.ErrOpen), errors.Is(err, bulkhead.ErrFull),
		errors.Is(err, budget.ErrExceeded), CallersMistake(err):
		return false
	}
	failed := errors.Is(err, timeout.ErrExceeded) || BackendFailing(sdk.KindOf(err))
	if failed {
		msg := p.secrets.String(Unmark(err).Error())
		p.lastFail.Store(&msg)
	}
	return failed
}

// BackendFailing reports whether an error of kind k means the backend (or
// the plugin that reaches it) is failing: it could not be reached, or it
// did not answer in time. Every other kind is an answer: the backend
// worked and said no. internal and unknown are not counted either: the
// backend answered, and a request that trips a bug or an error a driver
// did not classify is most often the caller's own (a bad argument the
// driver did not foresee), which must not fail every other caller's calls.
// docs/resilience.md gives the reasons for each kind.
func BackendFailing(k sdk.Kind) bool {
	return k == sdk.KindUnavailable || k == sdk.KindTimeout
}

// callerKinds are the sentinels of the kinds that say the caller erred.
var callerKinds = []error{
	sdk.ErrInvalidArgument, sdk.ErrNotFound, sdk.ErrAlreadyExists, sdk.ErrConflict,
	sdk.ErrPermissionDenied, sdk.ErrUnauthenticated, sdk.ErrFailedPrecondition,
	sdk.ErrUnimplemented, sdk.ErrCanceled,
}

// CallersMistake reports whether any error in err's chain has a kind that
// says the caller erred.
func CallersMistake(err error) bool {
	for _, k := range callerKinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// Info describes a resource's resilience policies and their state.
type Info struct {
	// Breaker is the circuit breaker's state; empty without one.
	Breaker BreakerState `json:"breaker,omitempty"`
	// BreakerOpenFor is how long an open breaker stays open, when open.
	BreakerOpenFor time.Duration `json:"breaker_open_for_ns,omitempty"`
	// Retries counts attempts after the first, since start.
	Retries uint64 `json:"retries"`
	// Rejected counts calls refused by an open breaker or a full bulkhead.
	Rejected uint64 `json:"rejected"`
}

// Info returns the policies' state and counts; the zero Info for nil.
func (p *Policies) Info() Info {
	if p == nil {
		return Info{}
	}
	p.mu.Lock()
	ri := Info{Retries: p.retries, Rejected: p.rejected}
	p.mu.Unlock()
	if p.breaker != nil {
		ri.Breaker = stateOf(p.breaker.State())
		if ri.Breaker == BreakerOpen {
			// The breaker moves to half-open only when a call comes;
			// without calls it would read open forever. Once open_for
			// has passed it lets the next call through: say so.
			if ri.BreakerOpenFor = p.breaker.RemainingDelay(); ri.BreakerOpenFor <= 0 {
				ri.Breaker, ri.BreakerOpenFor = BreakerHalfOpen, 0
			}
		}
	}
	return ri
}

// Retryable reports whether an attempt that failed with err may be tried
// again: its kind says so, and no policy or lease state forbids it.
func Retryable(err error) bool {
	var f finalError
	var ce callerEnded
	switch {
	case err == nil, errors.As(err, &f), errors.As(err, &ce), errors.Is(err, circuitbreaker.ErrOpen), errors.Is(err, bulkhead.ErrFull):
		return false
	case errors.Is(err, timeout.ErrExceeded):
		return true
	}
	return sdk.IsRetryable(err)
}

// finalError marks an attempt's error as not worth retrying whatever its
// kind: the lease's instance broke, or the resource is quarantined.
type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }
func (e finalError) Unwrap() error { return e.err }

// Final marks err as not worth retrying whatever its kind (Retryable
// says no); Unmark removes the mark. It returns nil for nil.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return finalError{err}
}

// Unmark removes the marks put on an attempt's error (Final's, and the
// policies' own for an attempt the caller's context ended) before it
// reaches the caller.
func Unmark(err error) error {
	for {
		switch e := err.(type) {
		case finalError:
			err = e.err
		case callerEnded:
			err = e.err
		default:
			return err
		}
	}
}

// callerEnded marks an attempt's error that came after the caller's own
// context ended (canceled, or past the caller's deadline): the breaker
// does not count it and retry does not retry it.
type callerEnded struct{ err error }

func (e callerEnded) Error() string { return e.err.Error() }
func (e callerEnded) Unwrap() error { return e.err }

// gatePolicy admits at most cap(gate) executions to what it wraps and
// fails the rest at once with bulkhead.ErrFull: placed in front of a
// failsafe bulkhead, it bounds the bulkhead's queue.
type gatePolicy struct{ gate chan struct{} }

func (g gatePolicy) ToExecutor(any) any { return g }

func (g gatePolicy) Apply(inner func(failsafe.Execution[any]) *common.PolicyResult[any]) func(failsafe.Execution[any]) *common.PolicyResult[any] {
	return func(e failsafe.Execution[any]) *common.PolicyResult[any] {
		select {
		case g.gate <- struct{}{}:
		default:
			return &common.PolicyResult[any]{Error: bulkhead.ErrFull, Done: true}
		}
		defer func() { <-g.gate }()
		return inner(e)
	}
}
