package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// flaky is an in-process driver whose calls fail on a script, and which
// counts every call that reaches it: the exact-count resilience tests read
// those counts.
type flaky struct {
	calls    atomic.Int64          // Invoke calls that reached the driver
	failures atomic.Int64          // calls still to fail; negative fails forever
	kind     sdk.Kind              // the kind they fail with
	after    time.Duration         // the Retry-After they carry, when set
	block    chan struct{}         // when set, "wait" blocks until it is closed
	waiting  atomic.Int64          // calls blocked in "wait"
	checkErr atomic.Pointer[error] // what Check fails with on flakyx, when set
	checks   atomic.Int64
}

// methodArgs are the arguments of the operations whose method says
// whether they are idempotent.
var methodArgs = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "method", Type: sdk.String, Default: json.RawMessage(`"GET"`)},
	{Name: "sent", Type: sdk.Int, Default: json.RawMessage(`0`)},
}}

func newFlaky(fail int, kind sdk.Kind) *flaky {
	f := &flaky{kind: kind, block: make(chan struct{})}
	f.failures.Store(int64(fail))
	return f
}

func (f *flaky) Info() sdk.DriverInfo {
	ops := []sdk.Operation{
		{Name: "get", Description: "an idempotent read", Idempotent: true},
		{Name: "put", Description: "a write that is not idempotent"},
		{Name: "mark", Description: "a write that a call may mark idempotent", Args: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: sdk.IdempotentArg, Type: sdk.Bool, Default: json.RawMessage("false")},
		}}},
		{Name: "wait", Description: "blocks until the test lets it go, or its context ends", Idempotent: true},
		{Name: "keyed", Description: "a write that a call makes idempotent with a key", Args: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: sdk.IdempotencyKeyArg, Type: sdk.String, Default: json.RawMessage(`""`)},
		}}},
		{Name: "request", Description: "a request whose method says whether it is idempotent", Args: methodArgs,
			IdempotentIf: &sdk.ArgIn{Arg: "method", Values: []string{"GET", "PUT"}}},
		{Name: "download", Description: "streams `sent` bytes, then fails on the script", Stream: sdk.StreamDownload, Args: methodArgs,
			IdempotentIf: &sdk.ArgIn{Arg: "method", Values: []string{"GET"}}},
		{Name: "upload", Description: "reads its input, then fails on the script", Stream: sdk.StreamUpload, Args: methodArgs,
			IdempotentIf: &sdk.ArgIn{Arg: "method", Values: []string{"GET"}}},
	}
	return sdk.DriverInfo{Name: "flaky", Version: "1.0.0", Types: []sdk.ResourceType{
		{Name: "flaky", Description: "fails on a script", Operations: ops},
		{Name: "flakyx", Description: "fails on a script, one lease per instance", Pooling: sdk.PoolingExclusive, Operations: ops},
	}}
}

func (f *flaky) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	return flakyResource{f, req.Type}, nil
}

// flakyResource and flakyInstance know their type: Check fails only for
// the exclusive type "flakyx", so that a test can make one resource
// unhealthy and watch another that depends on it.
type flakyResource struct {
	*flaky
	typ string
}

func (r flakyResource) Open(context.Context) (sdk.Instance, error) { return flakyInstance(r), nil }
func (r flakyResource) Close(context.Context) error                { return nil }

type flakyInstance struct {
	*flaky
	typ string
}

func (i flakyInstance) Close(context.Context) error { return nil }

func (i flakyInstance) Check(context.Context) error {
	i.checks.Add(1)
	if err := i.checkErr.Load(); err != nil && i.typ == "flakyx" {
		return *err
	}
	return nil
}

func (i flakyInstance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	return i.flaky.invoke(ctx, req)
}

// InvokeStream performs download, which writes the bytes its argument
// sent asks for before it fails or succeeds on the script, and upload,
// which reads its input first.
func (i flakyInstance) InvokeStream(ctx context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	var a struct {
		Sent int `json:"sent"`
	}
	if err := json.Unmarshal(req.Args, &a); err != nil {
		return nil, err
	}
	if in != nil {
		if _, err := io.Copy(io.Discard, in); err != nil {
			return nil, err
		}
	}
	if a.Sent > 0 {
		if _, err := out.Write(make([]byte, a.Sent)); err != nil {
			return nil, err
		}
	}
	return i.flaky.invoke(ctx, req)
}

func (f *flaky) invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	f.calls.Add(1)
	if req.Operation == "wait" {
		f.waiting.Add(1)
		defer f.waiting.Add(-1)
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(), "wait")
		}
	}
	if n := f.failures.Load(); n != 0 {
		if n > 0 {
			f.failures.Add(-1)
		}
		if f.after > 0 {
			return nil, &sdk.Error{Kind: f.kind, Message: "scripted failure", RetryAfter: f.after}
		}
		return nil, sdk.Errorf(f.kind, "scripted failure")
	}
	return map[string]bool{"ok": true}, nil
}

func flakyHost(t *testing.T, f *flaky, resilience string) *host.Host {
	t.Helper()
	cfg := loadHCL(t, `resource "flaky" "x" {
  resilience {
`+resilience+`
  }
}`)
	return startHost(t, cfg, host.WithDriver("flaky", f), host.WithLogger(quietLogger()))
}

const fiveAttempts = `
    retry {
      max_attempts = 5
      backoff      = "1ms"
      max_backoff  = "5ms"
    }`

func TestRetryStopsAtTheFirstSuccess(t *testing.T) {
	f := newFlaky(3, sdk.KindUnavailable)
	h := flakyHost(t, f, fiveAttempts)
	if _, err := h.Invoke(t.Context(), "flaky.x", "get", nil); err != nil {
		t.Fatalf("get after 3 failures: %v", err)
	}
	if got := f.calls.Load(); got != 4 {
		t.Fatalf("%d calls reached the plugin, want exactly 4 (3 failures, then the success)", got)
	}
}

// A failure that carries a Retry-After is retried after that wait, not
// after the policy's backoff (1 to 5 ms here), and max_backoff does not
// cut it.
func TestRetryWaitsWhatTheBackendAsks(t *testing.T) {
	f := newFlaky(1, sdk.KindUnavailable)
	f.after = 400 * time.Millisecond
	h := flakyHost(t, f, fiveAttempts)
	began := time.Now()
	if _, err := h.Invoke(t.Context(), "flaky.x", "get", nil); err != nil {
		t.Fatalf("get after a failure that asked for 400ms: %v", err)
	}
	if took := time.Since(began); took < f.after || took > f.after+time.Second {
		t.Fatalf("the retry came after %v, want about %v", took, f.after)
	}
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("%d calls, want 2", got)
	}
}

// A Retry-After longer than the caller's deadline fails the call at the
// deadline rather than holding it past.
func TestRetryAfterBeyondTheDeadlineEndsAtTheDeadline(t *testing.T) {
	f := newFlaky(1, sdk.KindUnavailable)
	f.after = time.Minute
	h := flakyHost(t, f, fiveAttempts)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := h.Invoke(ctx, "flaky.x", "get", nil)
	if err == nil || time.Since(began) > 2*time.Second {
		t.Fatalf("err = %v after %v, want a failure at the 200ms deadline", err, time.Since(began))
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	f := newFlaky(-1, sdk.KindUnavailable)
	h := flakyHost(t, f, fiveAttempts)
	_, err := h.Invoke(t.Context(), "flaky.x", "get", nil)
	if sdk.KindOf(err) != sdk.KindUnavailable || !strings.Contains(err.Error(), "after 5 attempts") {
		t.Fatalf("err = %v (kind %s), want unavailable after 5 attempts", err, sdk.KindOf(err))
	}
	if got := f.calls.Load(); got != 5 {
		t.Fatalf("%d calls reached the plugin, want exactly 5", got)
	}
}

func TestNonRetryableErrorIsTriedOnce(t *testing.T) {
	f := newFlaky(-1, sdk.KindInvalidArgument)
	h := flakyHost(t, f, fiveAttempts)
	_, err := h.Invoke(t.Context(), "flaky.x", "get", nil)
	if sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("err = %v, want invalid_argument", err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d calls reached the plugin, want exactly 1", got)
	}
}

func TestNonIdempotentOperationIsNeverRetried(t *testing.T) {
	for _, via := range []string{"host", "lease"} {
		t.Run(via, func(t *testing.T) {
			f := newFlaky(-1, sdk.KindUnavailable)
			h := flakyHost(t, f, fiveAttempts)
			var err error
			if via == "host" {
				_, err = h.Invoke(t.Context(), "flaky.x", "put", nil)
			} else {
				err = host.Use(t.Context(), h, "flaky.x", func(l *host.Lease) error {
					_, err := l.Invoke(t.Context(), "put", nil)
					return err
				})
			}
			if !errors.Is(err, sdk.ErrUnavailable) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			if got := f.calls.Load(); got != 1 {
				t.Fatalf("%d calls reached the plugin, want exactly 1", got)
			}
		})
	}
}

// A write whose operation declares the argument sdk.IdempotentArg is
// retried only in the calls that set it to true.
func TestAWriteIsRetriedOnlyWhenTheCallMarksItIdempotent(t *testing.T) {
	for _, tc := range []struct {
		args  string
		calls int64
	}{{`{}`, 1}, {`{"idempotent":false}`, 1}, {`{"idempotent":true}`, 4}} {
		for _, via := range []string{"host", "lease"} {
			t.Run(tc.args+"/"+via, func(t *testing.T) {
				f := newFlaky(3, sdk.KindUnavailable)
				h := flakyHost(t, f, fiveAttempts)
				var err error
				if via == "host" {
					_, err = h.Invoke(t.Context(), "flaky.x", "mark", tc.args)
				} else {
					err = host.Use(t.Context(), h, "flaky.x", func(l *host.Lease) error {
						_, err := l.Invoke(t.Context(), "mark", tc.args)
						return err
					})
				}
				if got := f.calls.Load(); got != tc.calls {
					t.Fatalf("%d calls reached the plugin (err %v), want %d", got, err, tc.calls)
				}
				if (tc.calls == 1) != errors.Is(err, sdk.ErrUnavailable) {
					t.Fatalf("err = %v", err)
				}
			})
		}
	}
}

// A call makes itself idempotent with a key (sdk.IdempotencyKeyArg), or
// by the value of the argument the operation's IdempotentIf names.
func TestACallIsRetriedWhenItsKeyOrMethodMakesItIdempotent(t *testing.T) {
	for _, tc := range []struct {
		op, args string
		calls    int64
	}{
		{"keyed", `{}`, 1}, {"keyed", `{"idempotency_key":""}`, 1}, {"keyed", `{"idempotency_key":"k-1"}`, 4},
		{"request", `{}`, 4}, {"request", `{"method":"PUT"}`, 4}, {"request", `{"method":"POST"}`, 1}, {"request", `{"method":"get"}`, 1},
	} {
		t.Run(tc.op+tc.args, func(t *testing.T) {
			f := newFlaky(3, sdk.KindUnavailable)
			h := flakyHost(t, f, fiveAttempts)
			_, err := h.Invoke(t.Context(), "flaky.x", tc.op, tc.args)
			if got := f.calls.Load(); got != tc.calls {
				t.Fatalf("%d calls reached the plugin (err %v), want %d", got, err, tc.calls)
			}
			if (tc.calls == 1) != errors.Is(err, sdk.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// A stream is retried, when its call is idempotent, only while another
// attempt is the same as the first: it has no input, and nothing of it
// reached the caller.
func TestAStreamIsRetriedOnlyBeforeAnythingMoved(t *testing.T) {
	for _, tc := range []struct {
		name, op, args string
		input          bool
		calls          int64
	}{
		{"download", "download", `{}`, false, 4},
		{"download not idempotent", "download", `{"method":"POST"}`, false, 1},
		{"download that sent bytes", "download", `{"sent":10}`, false, 1},
		{"upload", "upload", `{}`, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(3, sdk.KindUnavailable)
			h := flakyHost(t, f, fiveAttempts)
			var in io.Reader
			if tc.input {
				in = strings.NewReader("body")
			}
			var out bytes.Buffer
			err := host.Use(t.Context(), h, "flaky.x", func(l *host.Lease) error {
				_, err := l.InvokeStream(t.Context(), tc.op, tc.args, in, &out)
				return err
			})
			if got := f.calls.Load(); got != tc.calls {
				t.Fatalf("%d calls reached the plugin (err %v), want %d", got, err, tc.calls)
			}
			if (tc.calls == 1) != errors.Is(err, sdk.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// Listings say which calls of an operation that is not idempotent are.
func TestListingsSayWhenACallIsIdempotent(t *testing.T) {
	h := flakyHost(t, newFlaky(0, sdk.KindUnavailable), fiveAttempts)
	ri, err := h.DescribeResource("flaky.x")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"get": "", "put": "", "mark": "idempotent is true", "keyed": "idempotency_key is set",
		"request": "method is GET, PUT", "download": "method is GET",
	}
	for _, op := range ri.Operations {
		if w, ok := want[op.Name]; ok && op.IdempotentWhen != w {
			t.Errorf("%s: idempotent_when %q, want %q", op.Name, op.IdempotentWhen, w)
		}
	}
}

func TestBreakerOpensAfterExactlyThresholdFailures(t *testing.T) {
	f := newFlaky(-1, sdk.KindUnavailable)
	var logs syncBuffer
	cfg := loadHCL(t, `resource "flaky" "x" {
  resilience {
    circuit_breaker {
      failure_threshold = 3
      open_for          = "300ms"
    }
  }
}`)
	h := startHost(t, cfg, host.WithDriver("flaky", f), host.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for i := 1; i <= 3; i++ {
		if _, err := h.Invoke(t.Context(), "flaky.x", "get", nil); !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, host.ErrCircuitOpen) {
			t.Fatalf("call %d: err = %v, want the plugin's unavailable error", i, err)
		}
	}
	if got := f.calls.Load(); got != 3 {
		t.Fatalf("%d calls reached the plugin, want 3", got)
	}
	_, err := h.Invoke(t.Context(), "flaky.x", "get", nil)
	if !errors.Is(err, host.ErrCircuitOpen) || sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("call 4: err = %v, want circuit open of kind unavailable", err)
	}
	if got := f.calls.Load(); got != 3 {
		t.Fatalf("the call on the open breaker reached the plugin (%d calls)", got)
	}
	if ri, _ := h.DescribeResource("flaky.x"); ri.Resilience.Breaker != host.BreakerOpen {
		t.Fatalf("breaker = %q, want open", ri.Resilience.Breaker)
	}

	// After open_for a probe goes through; its success closes the breaker.
	f.failures.Store(0)
	time.Sleep(350 * time.Millisecond)
	if _, err := h.Invoke(t.Context(), "flaky.x", "get", nil); err != nil {
		t.Fatalf("probe after open_for: %v", err)
	}
	if ri, _ := h.DescribeResource("flaky.x"); ri.Resilience.Breaker != host.BreakerClosed {
		t.Fatalf("breaker = %q after a good probe, want closed", ri.Resilience.Breaker)
	}

	// Each transition is logged with its reason, and kept in the history.
	for _, want := range []string{
		`msg="circuit breaker open" resource=flaky.x type=flaky from=closed reason="3 of 3 recent calls failed; last error: scripted failure"`,
		`msg="circuit breaker half_open"`,
		`msg="circuit breaker closed"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	var path []string
	for _, e := range healthOf(h, "flaky.x").History {
		if e.Kind == "breaker" {
			path = append(path, e.From+"→"+e.To)
		}
	}
	if got := strings.Join(path, " "); got != "closed→open open→half_open half_open→closed" {
		t.Fatalf("breaker history %q", got)
	}
}

func TestBreakerIgnoresBadRequests(t *testing.T) {
	f := newFlaky(-1, sdk.KindInvalidArgument)
	h := flakyHost(t, f, `
    circuit_breaker {
      failure_threshold = 2
    }`)
	for i := 0; i < 5; i++ {
		if _, err := h.Invoke(t.Context(), "flaky.x", "get", nil); errors.Is(err, host.ErrCircuitOpen) {
			t.Fatalf("call %d: the breaker opened on invalid arguments", i+1)
		}
	}
	if got := f.calls.Load(); got != 5 {
		t.Fatalf("%d calls reached the plugin, want 5", got)
	}
}

func TestBulkheadBoundsCallsInFlightAndItsQueue(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	h := flakyHost(t, f, `
    bulkhead {
      max_concurrent = 2
      max_queue      = 1
    }`)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			_, err := h.Invoke(t.Context(), "flaky.x", "wait", nil)
			errs <- err
		})
	}
	// Two run, one waits in the queue: the fourth call has no room.
	waitFor(t, 5*time.Second, "two calls in flight", func() bool { return f.waiting.Load() == 2 })
	time.Sleep(20 * time.Millisecond) // let the third reach the queue
	_, err := h.Invoke(t.Context(), "flaky.x", "get", nil)
	if !errors.Is(err, host.ErrBulkheadFull) || sdk.KindOf(err) != sdk.KindResourceExhausted {
		t.Fatalf("fourth call: err = %v, want bulkhead full of kind resource_exhausted", err)
	}
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("%d calls reached the plugin while two were in flight, want 2", got)
	}
	close(f.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a call in flight or queued failed: %v", err)
		}
	}
	if got := f.calls.Load(); got != 3 {
		t.Fatalf("%d calls reached the plugin, want 3 (the queued one ran)", got)
	}
}

func TestAttemptTimeoutEndsEachAttempt(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	h := flakyHost(t, f, `
    attempt_timeout = "50ms"
    retry {
      max_attempts = 3
      backoff      = "1ms"
    }`)
	_, err := h.Invoke(t.Context(), "flaky.x", "wait", nil)
	if sdk.KindOf(err) != sdk.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (kind %s), want timeout", err, sdk.KindOf(err))
	}
	if got := f.calls.Load(); got != 3 {
		t.Fatalf("%d calls reached the plugin, want 3 timed-out attempts", got)
	}
}

func TestCallersDeadlineWinsOverRetries(t *testing.T) {
	f := newFlaky(-1, sdk.KindUnavailable)
	h := flakyHost(t, f, `
    timeout = "1m"
    retry {
      max_attempts = 1000
      backoff      = "20ms"
      max_backoff  = "20ms"
    }`)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := h.Invoke(ctx, "flaky.x", "get", nil)
	if sdk.KindOf(err) != sdk.KindTimeout || !strings.Contains(err.Error(), "last error: scripted failure") {
		t.Fatalf("err = %v (kind %s), want timeout naming the last error", err, sdk.KindOf(err))
	}
	if took := time.Since(began); took < 150*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the call took %v, want it to end at the caller's deadline", took)
	}
}

func TestRetryOnALeaseStopsWhenItsExclusiveInstanceBreaks(t *testing.T) {
	f := newFlaky(-1, sdk.KindUnavailable)
	cfg := loadHCL(t, `resource "flakyx" "x" {
  resilience {`+fiveAttempts+`
  }
}`)
	h := startHost(t, cfg, host.WithDriver("flaky", f), host.WithLogger(quietLogger()))
	err := host.Use(t.Context(), h, "flakyx.x", func(l *host.Lease) error {
		_, err := l.Invoke(t.Context(), "get", nil)
		return err
	})
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d calls reached the plugin on a broken session, want 1", got)
	}
	// Through Host.Invoke each attempt takes a fresh instance, so retries
	// do happen.
	f.calls.Store(0)
	if _, err := h.Invoke(t.Context(), "flakyx.x", "get", nil); !strings.Contains(fmt.Sprint(err), "after 5 attempts") {
		t.Fatalf("err = %v, want 5 attempts", err)
	}
	if got := f.calls.Load(); got != 5 {
		t.Fatalf("%d calls reached the plugin, want 5", got)
	}
}

func TestRetryBudgetCapsRetriesUnderConcurrentFailure(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	h := flakyHost(t, f, `
    attempt_timeout = "300ms"
    retry {
      max_attempts = 3
      backoff      = "1ms"
      max_backoff  = "1ms"
      budget       = 0.2
    }`)
	const callers = 10
	var wg sync.WaitGroup
	var budgeted atomic.Int64
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			_, err := h.Invoke(t.Context(), "flaky.x", "wait", nil)
			if sdk.KindOf(err) != sdk.KindTimeout {
				t.Errorf("err = %v, want timeout", err)
			}
			if strings.Contains(fmt.Sprint(err), "retry budget of flaky.x exhausted") {
				budgeted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	// Without a budget every caller makes 3 attempts. With 20 % of the
	// calls in flight allowed to be retries (and at least 3), most callers
	// are refused their retries.
	if got := f.calls.Load(); got >= callers*3 {
		t.Fatalf("%d calls reached the plugin: the budget did not cap the retries", got)
	}
	if budgeted.Load() == 0 {
		t.Fatal("no call reported the retry budget exhausted")
	}
	t.Logf("%d calls reached the plugin for %d callers; %d were refused a retry by the budget", f.calls.Load(), callers, budgeted.Load())
}
