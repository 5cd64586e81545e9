package quota_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/quota"
	"github.com/nebula-resource/nebula-resource/sdk"
)

var acme = quota.Key{Tenant: "acme", Resource: "postgres.main"}

// fallbacks records the calls of Options.Fallback.
type fallbacks struct {
	mu    sync.Mutex
	calls []fallbackCall
}

type fallbackCall struct {
	down bool
	err  error
}

func (f *fallbacks) record(down bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fallbackCall{down, err})
}

func (f *fallbacks) get() []fallbackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fallbackCall(nil), f.calls...)
}

// funcCommander is a Commander made of a function, counting its calls.
type funcCommander struct {
	calls atomic.Int64
	fn    func(ctx context.Context, args []string) (any, error)
}

func (c *funcCommander) Command(ctx context.Context, args ...string) (any, error) {
	c.calls.Add(1)
	return c.fn(ctx, args)
}

// exceeded returns err as an *ExceededError, or fails the test.
func exceeded(t *testing.T, err error) *quota.ExceededError {
	t.Helper()
	var ee *quota.ExceededError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T), want an *quota.ExceededError", err, err)
	}
	return ee
}

func TestMaxLeasesHoldUnderConcurrentAdmits(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{MaxLeases: 2}

	var (
		holders, maxHolders      atomic.Int64
		admitted, refused, other atomic.Int64
		mu                       sync.Mutex
		firstBad                 error
	)
	bad := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstBad == nil {
			firstBad = err
		}
	}
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				release, err := l.Admit(context.Background(), acme, lim)
				if err != nil {
					refused.Add(1)
					var ee *quota.ExceededError
					switch {
					case !errors.As(err, &ee):
						other.Add(1)
						bad(fmt.Errorf("refusal %v (%T) is not an *ExceededError", err, err))
					case sdk.KindOf(err) != sdk.KindResourceExhausted:
						bad(fmt.Errorf("refusal %v has kind %s, want resource_exhausted", err, sdk.KindOf(err)))
					case sdk.RetryAfterOf(err) <= 0 || ee.RetryAfter <= 0:
						bad(fmt.Errorf("refusal %v has RetryAfter %v", err, sdk.RetryAfterOf(err)))
					case ee.Limit != quota.LimitMaxLeases || ee.Key != acme:
						bad(fmt.Errorf("refusal names limit %q of %v", ee.Limit, ee.Key))
					}
					time.Sleep(50 * time.Microsecond)
					continue
				}
				admitted.Add(1)
				n := holders.Add(1)
				for {
					m := maxHolders.Load()
					if n <= m || maxHolders.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
				// Count the holder out before the lease goes back, so
				// that the next holder cannot be counted with it.
				holders.Add(-1)
				release()
				release() // idempotent
			}
		})
	}
	wg.Wait()

	if firstBad != nil {
		t.Fatal(firstBad)
	}
	if m := maxHolders.Load(); m > 2 {
		t.Fatalf("%d concurrent holders, max_leases is 2", m)
	}
	if admitted.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("%d admitted, %d refused: want both", admitted.Load(), refused.Load())
	}
	u := l.Usage()
	if len(u) != 1 || u[0].Leases != 0 || u[0].Admitted != uint64(admitted.Load()) || u[0].Refused != uint64(refused.Load()) {
		t.Fatalf("usage %+v, want 0 leases, %d admitted, %d refused", u, admitted.Load(), refused.Load())
	}
	t.Logf("%d admitted, %d refused, at most %d holders", admitted.Load(), refused.Load(), maxHolders.Load())
}

func TestReleaseTwiceGivesBackOneLease(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{MaxLeases: 2}
	r1, err := l.Admit(context.Background(), acme, lim)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Admit(context.Background(), acme, lim)
	if err != nil {
		t.Fatal(err)
	}
	r1()
	r1()
	r3, err := l.Admit(context.Background(), acme, lim)
	if err != nil {
		t.Fatalf("after one release: %v", err)
	}
	if _, err := l.Admit(context.Background(), acme, lim); err == nil {
		t.Fatal("a third lease was admitted: releasing one lease twice gave back two")
	}
	if u := l.Usage(); u[0].Leases != 2 {
		t.Fatalf("usage %+v, want 2 leases out", u)
	}
	r2()
	r3()
	if u := l.Usage(); u[0].Leases != 0 || u[0].Admitted != 3 || u[0].Refused != 1 {
		t.Fatalf("usage %+v, want 0 leases, 3 admitted, 1 refused", u)
	}
}

// hammer calls Allow from goroutines every millisecond for d and returns
// how many were admitted, and how long it ran. A refusal other than by
// the rate, or with a RetryAfter over maxRetry, is returned as an error.
func hammer(t *testing.T, limiters []*quota.Limiter, perLimiter int, key quota.Key, lim quota.Limit, d time.Duration, maxRetry time.Duration) (int64, time.Duration, error) {
	t.Helper()
	var (
		admitted atomic.Int64
		mu       sync.Mutex
		firstBad error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, l := range limiters {
		for range perLimiter {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					err := l.Allow(context.Background(), key, lim)
					if err == nil {
						admitted.Add(1)
					} else {
						var ee *quota.ExceededError
						if !errors.As(err, &ee) || ee.Limit != quota.LimitRate || ee.RetryAfter <= 0 || ee.RetryAfter > maxRetry {
							mu.Lock()
							if firstBad == nil {
								firstBad = fmt.Errorf("refusal %v (%T), want a rate refusal with 0 < RetryAfter <= %v", err, err, maxRetry)
							}
							mu.Unlock()
						}
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	return admitted.Load(), time.Since(start), firstBad
}

// checkRate fails the test unless admitted is burst + rate × elapsed,
// within 10 % of the rate's part.
func checkRate(t *testing.T, admitted int64, elapsed time.Duration, lim quota.Limit) {
	t.Helper()
	steady := lim.Rate * elapsed.Seconds()
	want := float64(lim.EffectiveBurst()) + steady
	if math.Abs(float64(admitted)-want) > 0.1*steady {
		t.Fatalf("admitted %d in %v, want %.0f ± %.0f (burst %d + %v/s)", admitted, elapsed, want, 0.1*steady, lim.EffectiveBurst(), lim.Rate)
	}
	t.Logf("admitted %d in %v, want %.0f ± %.0f", admitted, elapsed, want, 0.1*steady)
}

func TestLocalRateAdmitsRateTimesTimePlusBurst(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{Rate: 100, Burst: 10}
	admitted, elapsed, err := hammer(t, []*quota.Limiter{l}, 4, acme, lim, 2*time.Second, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	checkRate(t, admitted, elapsed, lim)
	if st := l.Status(); st.Store != quota.StoreLocal || st.Degraded {
		t.Fatalf("status %+v, want local and not degraded", st)
	}
}

func TestBurstDefaultsToTheRateRoundedUp(t *testing.T) {
	for name, tc := range map[string]struct {
		lim  quota.Limit
		want int
		text string // the rate as the refusal writes it
	}{
		"rate 2.5":      {quota.Limit{Rate: 2.5}, 3, "2.5/s"},
		"rate 0.5":      {quota.Limit{Rate: 0.5}, 1, "30/m"},
		"rate 2/m":      {quota.Limit{Rate: 2.0 / 60}, 1, "2/m"},
		"rate 3/h":      {quota.Limit{Rate: 3.0 / 3600}, 1, "3/h"},
		"explicit":      {quota.Limit{Rate: 2.5, Burst: 5}, 5, "2.5/s"},
		"rate 1, max 1": {quota.Limit{Rate: 1, MaxLeases: 10}, 1, "1/s"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.lim.EffectiveBurst(); got != tc.want {
				t.Fatalf("EffectiveBurst %d, want %d", got, tc.want)
			}
			l := quota.New(quota.Options{})
			defer l.Close()
			for i := range tc.want {
				if err := l.Allow(context.Background(), acme, tc.lim); err != nil {
					t.Fatalf("call %d of the burst: %v", i+1, err)
				}
			}
			ee := exceeded(t, l.Allow(context.Background(), acme, tc.lim))
			wantDetail := fmt.Sprintf("tenant acme is over its rate of %s (burst %d) on postgres.main", tc.text, tc.want)
			if ee.Detail != wantDetail || ee.Error() != "quota exceeded: "+wantDetail {
				t.Fatalf("detail %q, want %q", ee.Detail, wantDetail)
			}
		})
	}
}

func TestFractionalRateIsPerSecond(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{Rate: 0.5}
	if err := l.Allow(context.Background(), acme, lim); err != nil {
		t.Fatal(err)
	}
	ee := exceeded(t, l.Allow(context.Background(), acme, lim))
	if ee.RetryAfter < 1900*time.Millisecond || ee.RetryAfter > 2*time.Second {
		t.Fatalf("RetryAfter %v at 0.5/s, want about 2s", ee.RetryAfter)
	}
}

func TestExceededErrorIsResourceExhaustedWithRetryAfter(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{MaxLeases: 1}

	release, err := l.Admit(context.Background(), acme, lim)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Admit(context.Background(), acme, lim)
	ee := exceeded(t, err)
	if ee.Limit != quota.LimitMaxLeases || ee.Detail != "tenant acme holds 1 of its 1 leases on postgres.main" {
		t.Fatalf("refusal %+v", ee)
	}
	if ee.RetryAfter != 50*time.Millisecond {
		t.Fatalf("RetryAfter %v before any lease ended, want 50ms", ee.RetryAfter)
	}
	for name, err := range map[string]error{"as is": err, "wrapped": fmt.Errorf("lease: %w", err)} {
		if k := sdk.KindOf(err); k != sdk.KindResourceExhausted {
			t.Errorf("%s: KindOf %s, want resource_exhausted", name, k)
		}
		if d := sdk.RetryAfterOf(err); d != 50*time.Millisecond {
			t.Errorf("%s: RetryAfterOf %v, want 50ms", name, d)
		}
		if !errors.Is(err, sdk.ErrResourceExhausted) || !sdk.IsRetryable(err) {
			t.Errorf("%s: not errors.Is sdk.ErrResourceExhausted, or not retryable", name)
		}
		var se *sdk.Error
		if !errors.As(err, &se) || se.Message != ee.Error() {
			t.Errorf("%s: the sdk.Error's message is not the refusal's", name)
		}
	}

	// After a lease held 30ms, the estimate is that hold time.
	time.Sleep(30 * time.Millisecond)
	release()
	release, err = l.Admit(context.Background(), acme, lim)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Admit(context.Background(), acme, lim)
	if d := sdk.RetryAfterOf(err); d < 30*time.Millisecond || d > time.Second {
		t.Fatalf("RetryAfter %v after a lease held 30ms, want about 30ms", d)
	}
	release()

	// Leases given back at once bring the estimate down to its floor.
	for range 60 {
		release, err := l.Admit(context.Background(), acme, lim)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	release, err = l.Admit(context.Background(), acme, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = l.Admit(context.Background(), acme, lim)
	if d := sdk.RetryAfterOf(err); d != 10*time.Millisecond {
		t.Fatalf("RetryAfter %v after short leases, want the floor of 10ms", d)
	}
}

func TestInvalidLimitsAreInvalidArguments(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	for name, tc := range map[string]struct {
		lim  quota.Limit
		word string
	}{
		"negative max_leases": {quota.Limit{MaxLeases: -1}, "max_leases"},
		"negative rate":       {quota.Limit{Rate: -1}, "rate"},
		"NaN rate":            {quota.Limit{Rate: math.NaN()}, "rate"},
		"infinite rate":       {quota.Limit{Rate: math.Inf(1)}, "rate"},
		"negative burst":      {quota.Limit{Rate: 1, Burst: -1}, "burst"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.lim.Validate(); err == nil || !strings.Contains(err.Error(), tc.word) {
				t.Fatalf("Validate: %v, want an error about %s", err, tc.word)
			}
			_, err := l.Admit(context.Background(), acme, tc.lim)
			if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), tc.word) {
				t.Fatalf("Admit: %v, want invalid_argument about %s", err, tc.word)
			}
			if err := l.Allow(context.Background(), acme, tc.lim); sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Fatalf("Allow: %v, want invalid_argument", err)
			}
		})
	}
	if err := (quota.Limit{}).Validate(); err != nil {
		t.Fatalf("the zero Limit: %v", err)
	}
}

func TestZeroLimitAdmitsEverythingAndCountsLeases(t *testing.T) {
	l := quota.New(quota.Options{})
	defer l.Close()
	var releases []func()
	for range 100 {
		r, err := l.Admit(context.Background(), acme, quota.Limit{})
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	other := quota.Key{Tenant: "a-first", Resource: "http.api"}
	if err := l.Allow(context.Background(), other, quota.Limit{}); err != nil {
		t.Fatal(err)
	}
	want := []quota.Usage{
		{Tenant: "a-first", Resource: "http.api", Admitted: 1},
		{Tenant: "acme", Resource: "postgres.main", Leases: 100, Admitted: 100},
	}
	if got := l.Usage(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("usage %+v, want %+v", got, want)
	}
	for _, r := range releases {
		r()
	}
	if got := l.Usage(); got[1].Leases != 0 {
		t.Fatalf("usage %+v after the releases, want 0 leases", got)
	}
}

func TestClosedLimiterRefusesButTakesLeasesBack(t *testing.T) {
	l := quota.New(quota.Options{})
	release, err := l.Admit(context.Background(), acme, quota.Limit{MaxLeases: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l.Close()
	_, err = l.Admit(context.Background(), acme, quota.Limit{MaxLeases: 1})
	if !errors.Is(err, quota.ErrClosed) || sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Admit after Close: %v, want ErrClosed of kind unavailable", err)
	}
	if err := l.Allow(context.Background(), acme, quota.Limit{}); !errors.Is(err, quota.ErrClosed) {
		t.Fatalf("Allow after Close: %v, want ErrClosed", err)
	}
	release()
	if u := l.Usage(); u[0].Leases != 0 {
		t.Fatalf("usage %+v, want the lease back", u)
	}
}

func TestCancelledCallerIsNotAStoreFailure(t *testing.T) {
	var fb fallbacks
	blocking := &funcCommander{fn: func(ctx context.Context, _ []string) (any, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("redis command EVALSHA: %w", ctx.Err())
	}}
	l := quota.New(quota.Options{Store: blocking, Fallback: fb.record})
	defer l.Close()
	lim := quota.Limit{Rate: 100}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Allow(ctx, acme, lim); !errors.Is(err, context.Canceled) || sdk.KindOf(err) != sdk.KindCanceled {
		t.Fatalf("Allow with a cancelled context: %v, want context.Canceled", err)
	}
	if n := blocking.calls.Load(); n != 0 {
		t.Fatalf("the store was called %d times for a cancelled context", n)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Admit(ctx, acme, lim); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Admit whose deadline passed in the store call: %v, want context.DeadlineExceeded", err)
	}
	if st := l.Status(); st.Degraded || len(fb.get()) != 0 {
		t.Fatalf("status %+v, fallbacks %v: the caller's deadline was taken for a store failure", st, fb.get())
	}
	if u := l.Usage(); u[0].Admitted != 0 || u[0].Refused != 0 {
		t.Fatalf("usage %+v: a cancelled call was counted", u)
	}
}

func TestStoreThatDoesNotAnswerIsBoundedAndFallsBack(t *testing.T) {
	var fb fallbacks
	blocking := &funcCommander{fn: func(ctx context.Context, _ []string) (any, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("redis command EVALSHA: %w", ctx.Err())
	}}
	l := quota.New(quota.Options{Store: blocking, Fallback: fb.record, RetryStore: time.Hour})
	defer l.Close()
	start := time.Now()
	if err := l.Allow(context.Background(), acme, quota.Limit{Rate: 100}); err != nil {
		t.Fatalf("Allow with a store that does not answer: %v, want admitted by the local limit", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("the store call took %v, want about 250ms", d)
	}
	calls := fb.get()
	if len(calls) != 1 || !calls[0].down || !strings.Contains(calls[0].err.Error(), "within 250ms") {
		t.Fatalf("fallbacks %v, want one down saying the store did not answer within 250ms", calls)
	}
	start = time.Now()
	if err := l.Allow(context.Background(), acme, quota.Limit{Rate: 100}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("a call after the failure took %v: it waited for the store", d)
	}
}

func TestFailingStoreFallsBackOnceAndCostsNothingPerCall(t *testing.T) {
	for name, fn := range map[string]func(ctx context.Context, args []string) (any, error){
		"error": func(ctx context.Context, args []string) (any, error) {
			return nil, fmt.Errorf("redis command %s: dial tcp 127.0.0.1:1: connect: connection refused", args[0])
		},
		"a reply redis_rate cannot read": func(ctx context.Context, args []string) (any, error) {
			return "not an array", nil
		},
		"a short array": func(ctx context.Context, args []string) (any, error) {
			return []any{json.Number("1")}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			var fb fallbacks
			store := &funcCommander{fn: fn}
			l := quota.New(quota.Options{Store: store, Fallback: fb.record, RetryStore: time.Hour})
			defer l.Close()
			lim := quota.Limit{Rate: 1, Burst: 10}

			var admitted, refused atomic.Int64
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					for range 5 {
						switch err := l.Allow(context.Background(), acme, lim); {
						case err == nil:
							admitted.Add(1)
						case sdk.KindOf(err) == sdk.KindResourceExhausted:
							refused.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if admitted.Load() != 10 || refused.Load() != 40 {
				t.Fatalf("%d admitted, %d refused; want the local burst of 10 admitted, 40 refused", admitted.Load(), refused.Load())
			}
			// The first calls may all have reached the store before one
			// of them failed; after, none.
			if n := store.calls.Load(); n < 1 || n > 10 {
				t.Fatalf("the store was called %d times", n)
			}
			calls := fb.get()
			if len(calls) != 1 || !calls[0].down || calls[0].err == nil {
				t.Fatalf("fallbacks %v, want one down with its error", calls)
			}
			st := l.Status()
			if st.Store != quota.StoreRedis || !st.Degraded || st.LastError == "" || st.LastError != calls[0].err.Error() || time.Since(st.Since) > time.Minute {
				t.Fatalf("status %+v", st)
			}
			before := store.calls.Load()
			for range 100 {
				_ = l.Allow(context.Background(), acme, lim)
			}
			if n := store.calls.Load() - before; n != 0 {
				t.Fatalf("the failing store was called %d times before RetryStore passed", n)
			}
		})
	}
}

func TestStoreIsTriedAgainAfterRetryStoreAndRecovers(t *testing.T) {
	var (
		fb   fallbacks
		down atomic.Bool
	)
	store := &funcCommander{fn: func(ctx context.Context, args []string) (any, error) {
		if down.Load() {
			return nil, errors.New("redis command EVALSHA: connection refused")
		}
		// What redis_rate's script answers when it admits: allowed,
		// remaining, retry_after, reset_after.
		return []any{json.Number("1"), json.Number("9"), "-1", "0.01"}, nil
	}}
	l := quota.New(quota.Options{Store: store, Fallback: fb.record, RetryStore: 50 * time.Millisecond})
	defer l.Close()
	lim := quota.Limit{Rate: 1000}
	allow := func() {
		t.Helper()
		if err := l.Allow(context.Background(), acme, lim); err != nil {
			t.Fatal(err)
		}
	}

	allow()
	if st := l.Status(); st.Degraded || st.Store != quota.StoreRedis || st.LastError != "" {
		t.Fatalf("status %+v with a store that answers", st)
	}
	down.Store(true)
	allow()
	failedAt := time.Now()
	if n := store.calls.Load(); n != 2 {
		t.Fatalf("%d store calls, want 2", n)
	}
	allow()
	if time.Since(failedAt) < 50*time.Millisecond {
		if n := store.calls.Load(); n != 2 {
			t.Fatalf("%d store calls before RetryStore passed, want 2", n)
		}
	}
	time.Sleep(60 * time.Millisecond)
	allow() // tries the store again: still down
	if n := store.calls.Load(); n != 3 {
		t.Fatalf("%d store calls after RetryStore, want 3", n)
	}
	if len(fb.get()) != 1 {
		t.Fatalf("fallbacks %v: a failed retry was reported again", fb.get())
	}

	down.Store(false)
	time.Sleep(60 * time.Millisecond)
	allow()
	calls := fb.get()
	if len(calls) != 2 || !calls[0].down || calls[1].down || calls[1].err != nil {
		t.Fatalf("fallbacks %v, want down then up", calls)
	}
	st := l.Status()
	if st.Degraded || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("status %+v after recovery: want not degraded, keeping the last error", st)
	}
	before := store.calls.Load()
	allow()
	allow()
	if n := store.calls.Load() - before; n != 2 {
		t.Fatalf("%d store calls for 2 admissions after recovery, want 2", n)
	}
}
