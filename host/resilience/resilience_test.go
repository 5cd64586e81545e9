package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/redact"
	"github.com/nebula-resource/nebula-resource/host/resilience"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// hooks records what the policies told it.
type hooks struct {
	mu          sync.Mutex
	transitions []string // "from→to: reason"
	retries     int
	byBreaker   int
	byBulkhead  int
}

func (h *hooks) BreakerChanged(from, to resilience.BreakerState, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.transitions = append(h.transitions, fmt.Sprintf("%s→%s: %s", from, to, reason))
}

func (h *hooks) Retried() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.retries++
}

func (h *hooks) Rejected(byBreaker bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if byBreaker {
		h.byBreaker++
	} else {
		h.byBulkhead++
	}
}

// script is an attempt that fails with errs in turn, then succeeds, and
// counts its calls.
type script struct {
	mu    sync.Mutex
	errs  []error
	calls int
}

func (s *script) attempt(context.Context) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return nil, err
	}
	return "ok", nil
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func unavailable(n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = sdk.Errorf(sdk.KindUnavailable, "backend down (%d)", i+1)
	}
	return errs
}

func TestNoPoliciesRunCallsAsTheyAre(t *testing.T) {
	p := resilience.New("kv.main", &config.Resilience{}, nil, &hooks{})
	if p != nil {
		t.Fatalf("New of an empty block = %v, want nil", p)
	}
	s := &script{errs: []error{resilience.Final(sdk.Errorf(sdk.KindUnavailable, "down"))}}
	_, err := p.Run(context.Background(), true, s.attempt)
	if s.count() != 1 || err == nil || err.Error() != "down" {
		t.Fatalf("Run: %d calls, err %v; want 1 call and the error unmarked", s.count(), err)
	}
	done, err := p.Admit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done(nil)
	p.Record(context.Background(), errors.New("x"))
	if got := p.Info(); got != (resilience.Info{}) {
		t.Fatalf("Info of nil = %+v", got)
	}
}

func TestRetryRunsIdempotentAttemptsUntilOneSucceeds(t *testing.T) {
	h := &hooks{}
	p := resilience.New("kv.main", &config.Resilience{Retry: &config.Retry{MaxAttempts: 4, Backoff: time.Millisecond}}, nil, h)
	s := &script{errs: unavailable(2)}
	v, err := p.Run(context.Background(), true, s.attempt)
	if err != nil || v != "ok" || s.count() != 3 {
		t.Fatalf("Run = %v, %v after %d attempts; want ok after 3", v, err, s.count())
	}
	if h.retries != 2 || p.Info().Retries != 2 {
		t.Fatalf("retries: hook %d, info %d; want 2", h.retries, p.Info().Retries)
	}
}

func TestRetryGivesUpAfterMaxAttemptsWithTheLastError(t *testing.T) {
	p := resilience.New("kv.main", &config.Resilience{Retry: &config.Retry{MaxAttempts: 3, Backoff: time.Millisecond}}, nil, &hooks{})
	s := &script{errs: unavailable(5)}
	_, err := p.Run(context.Background(), true, s.attempt)
	if s.count() != 3 || !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "(3)") {
		t.Fatalf("%d attempts, err %v; want 3 and the third's error", s.count(), err)
	}
}

func TestRetrySkipsWhatMustNotBeRetried(t *testing.T) {
	cfg := &config.Resilience{Retry: &config.Retry{MaxAttempts: 5, Backoff: time.Millisecond}}
	for _, tc := range []struct {
		name       string
		err        error
		idempotent bool
	}{
		{"not idempotent", sdk.Errorf(sdk.KindUnavailable, "down"), false},
		{"a caller's mistake", sdk.Errorf(sdk.KindInvalidArgument, "bad key"), true},
		{"final", resilience.Final(sdk.Errorf(sdk.KindUnavailable, "instance broke")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := resilience.New("kv.main", cfg, nil, &hooks{})
			s := &script{errs: []error{tc.err, tc.err}}
			_, err := p.Run(context.Background(), tc.idempotent, s.attempt)
			if s.count() != 1 || err == nil || err.Error() != resilience.Unmark(tc.err).Error() {
				t.Fatalf("%d attempts, err %v; want 1 attempt and its error, unmarked", s.count(), err)
			}
		})
	}
}

func TestBreakerOpensOnBackendFailuresOnlyAndFailsFast(t *testing.T) {
	h := &hooks{}
	secrets := &redact.Set{}
	secrets.Add("hunter2")
	p := resilience.New("kv.main", &config.Resilience{CircuitBreaker: &config.CircuitBreaker{FailureThreshold: 3, OpenFor: time.Hour}}, secrets, h)
	ctx := context.Background()
	// Caller's mistakes, and a caller's kind wrapped in a backend kind,
	// never count.
	for _, err := range []error{
		sdk.Errorf(sdk.KindInvalidArgument, "bad"), sdk.Errorf(sdk.KindNotFound, "no"),
		sdk.WrapError(sdk.KindUnavailable, sdk.Errorf(sdk.KindInvalidArgument, "bad"), "wrapped"),
		sdk.Errorf(sdk.KindInternal, "bug"),
	} {
		for range 5 {
			s := &script{errs: []error{err}}
			if _, got := p.Run(ctx, false, s.attempt); got == nil {
				t.Fatal("want the attempt's error")
			}
		}
	}
	if got := p.Info().Breaker; got != resilience.BreakerClosed {
		t.Fatalf("breaker %q after callers' mistakes, want closed", got)
	}
	for i := range 3 {
		s := &script{errs: []error{sdk.Errorf(sdk.KindUnavailable, "dial tcp: password hunter2 refused")}}
		if _, err := p.Run(ctx, false, s.attempt); !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, resilience.ErrCircuitOpen) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	s := &script{}
	_, err := p.Run(ctx, false, s.attempt)
	if s.count() != 0 || !errors.Is(err, resilience.ErrCircuitOpen) || sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("after 3 failures: %d attempts, err %v; want none and ErrCircuitOpen", s.count(), err)
	}
	if _, err := p.Admit(ctx); !errors.Is(err, resilience.ErrCircuitOpen) {
		t.Fatalf("Admit on an open breaker: %v", err)
	}
	info := p.Info()
	if info.Breaker != resilience.BreakerOpen || info.BreakerOpenFor <= 0 || info.Rejected != 2 || h.byBreaker != 2 {
		t.Fatalf("info %+v, hook rejections %d; want open, 2 rejected", info, h.byBreaker)
	}
	if len(h.transitions) != 1 || !strings.HasPrefix(h.transitions[0], "closed→open: 3 of 3 recent calls failed; last error:") ||
		strings.Contains(h.transitions[0], "hunter2") || !strings.Contains(h.transitions[0], redact.Mask) {
		t.Fatalf("transitions %q; want one to open, with the secret masked", h.transitions)
	}
}

func TestBreakerIgnoresAttemptsTheCallersContextEnded(t *testing.T) {
	p := resilience.New("kv.main", &config.Resilience{CircuitBreaker: &config.CircuitBreaker{FailureThreshold: 1}}, nil, &hooks{})
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := p.Run(ctx, false, func(context.Context) (any, error) {
			cancel()
			return nil, sdk.Errorf(sdk.KindUnavailable, "connection reset")
		})
		if err == nil {
			t.Fatal("want the attempt's error")
		}
		done, err := p.Admit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithCancel(context.Background())
		scancel()
		done(nil)
		p.Record(sctx, sdk.Errorf(sdk.KindTimeout, "stream cut"))
	}
	if got := p.Info().Breaker; got != resilience.BreakerClosed {
		t.Fatalf("breaker %q, want closed", got)
	}
	// A stream's failure after admission counts when its caller is still
	// there.
	p.Record(context.Background(), sdk.Errorf(sdk.KindTimeout, "stream cut"))
	if got := p.Info().Breaker; got != resilience.BreakerOpen {
		t.Fatalf("breaker %q after a recorded failure, want open", got)
	}
}

func TestBulkheadAdmitsMaxConcurrentPlusQueueAndRejectsTheRest(t *testing.T) {
	h := &hooks{}
	p := resilience.New("kv.main", &config.Resilience{Bulkhead: &config.Bulkhead{MaxConcurrent: 1, MaxQueue: 1}}, nil, h)
	ctx := context.Background()
	first, err := p.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	release := make(chan struct{})
	go func() {
		// Until it holds the queue's place, the probes below may take
		// it, and this call finds the bulkhead full: it tries again.
		for {
			_, err := p.Run(ctx, false, func(context.Context) (any, error) {
				<-release
				return nil, nil
			})
			if !errors.Is(err, resilience.ErrBulkheadFull) {
				queued <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// Wait until the second call holds the queue's place: until then a
	// third waits in the queue, and its short context ends it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		_, err := p.Admit(actx)
		cancel()
		if errors.Is(err, resilience.ErrBulkheadFull) {
			if sdk.KindOf(err) != sdk.KindResourceExhausted || !strings.Contains(err.Error(), "1 calls in flight (max_concurrent) and 1 waiting (max_queue)") {
				t.Fatalf("full bulkhead: %v (%s)", err, sdk.KindOf(err))
			}
			break
		}
		if err == nil {
			t.Fatal("a call was admitted past max_concurrent")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued call never took its place: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	first(nil)
	close(release)
	if err := <-queued; err != nil {
		t.Fatalf("queued call: %v", err)
	}
	if p.Info().Rejected == 0 || p.Info().Rejected != uint64(h.byBulkhead) || h.byBreaker != 0 {
		t.Fatalf("info %+v, hooks %d by bulkhead, %d by breaker", p.Info(), h.byBulkhead, h.byBreaker)
	}
	done, err := p.Admit(ctx)
	if err != nil {
		t.Fatalf("Admit after every call ended: %v", err)
	}
	done(nil)
}

func TestAttemptTimeoutEndsEachAttemptAndSaysSo(t *testing.T) {
	p := resilience.New("kv.main", &config.Resilience{AttemptTimeout: 20 * time.Millisecond,
		Retry: &config.Retry{MaxAttempts: 2, Backoff: time.Millisecond}}, nil, &hooks{})
	attempts := 0
	_, err := p.Run(context.Background(), true, func(ctx context.Context) (any, error) {
		attempts++
		<-ctx.Done()
		return nil, sdk.WrapError(sdk.KindTimeout, ctx.Err(), "get")
	})
	if attempts != 2 || sdk.KindOf(err) != sdk.KindTimeout || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "attempt 2 timed out after 20ms (attempt_timeout)") {
		t.Fatalf("%d attempts, err %v", attempts, err)
	}
}

func TestTheRulesOfErrors(t *testing.T) {
	backend := sdk.Errorf(sdk.KindUnavailable, "down")
	for _, tc := range []struct {
		err                       error
		retryable, callersMistake bool
	}{
		{backend, true, false},
		{sdk.Errorf(sdk.KindTimeout, "slow"), true, false},
		{resilience.Final(backend), false, false},
		{sdk.Errorf(sdk.KindInvalidArgument, "bad"), false, true},
		{fmt.Errorf("wrapped: %w", sdk.WrapError(sdk.KindInternal, sdk.Errorf(sdk.KindNotFound, "gone"), "x")), false, true},
		{resilience.ErrCircuitOpen, false, false},
		{resilience.ErrBulkheadFull, false, false},
		{nil, false, false},
	} {
		if got := resilience.Retryable(tc.err); got != tc.retryable {
			t.Errorf("Retryable(%v) = %v", tc.err, got)
		}
		if got := resilience.CallersMistake(tc.err); got != tc.callersMistake {
			t.Errorf("CallersMistake(%v) = %v", tc.err, got)
		}
	}
	for k, want := range map[sdk.Kind]bool{sdk.KindUnavailable: true, sdk.KindTimeout: true, sdk.KindInternal: false,
		sdk.KindUnknown: false, sdk.KindInvalidArgument: false, sdk.KindResourceExhausted: false} {
		if got := resilience.BackendFailing(k); got != want {
			t.Errorf("BackendFailing(%s) = %v", k, got)
		}
	}
	if resilience.Final(nil) != nil || resilience.Unmark(resilience.Final(backend)) != backend {
		t.Error("Final and Unmark do not round-trip")
	}
}
