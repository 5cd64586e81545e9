package host_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestCallerMistakesNeverOpenTheBreaker is the case against the
// real localfs plugin: one caller sends file names too long for the file
// system (ENAMETOOLONG), paths through a file and the like, many more than
// the breaker's threshold; the breaker stays closed, another caller's calls
// keep working all along, and the metrics count the calls as
// invalid_argument.
func TestCallerMistakesNeverOpenTheBreaker(t *testing.T) {
	dir := t.TempDir()
	cfg := loadHCL(t, `
resource "localfs" "files" {
  root = "`+dir+`"
  resilience {
    circuit_breaker {
      failure_threshold = 3
      open_for          = "1m"
    }
  }
}`)
	h := startHost(t, cfg, host.WithPluginDir(binDir), host.WithLogger(quietLogger()))
	srv := httptest.NewServer(promhttp.HandlerFor(h.Gatherer(), promhttp.HandlerOpts{}))
	defer srv.Close()
	ctx := t.Context()
	if _, err := h.Invoke(ctx, "localfs.files", "list", `{}`); err != nil {
		t.Fatal(err)
	}
	lease, err := h.Acquire(ctx, "localfs.files")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lease.InvokeStream(ctx, "put", `{"key":"f.txt"}`, strings.NewReader("data"), nil); err != nil {
		t.Fatal(err)
	}
	lease.Release()

	long := strings.Repeat("n", 300)
	mistakes := []struct{ op, args string }{
		{"stat", `{"key":"` + long + `"}`},
		{"delete", `{"keys":["` + long + `"]}`},
		{"list", `{"limit":0}`},
		{"move", `{"from":"f.txt","to":"` + long + `"}`},
		{"stat", `{"key":"f.txt/x"}`},
		{"stat", `{"key":"../outside"}`},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	wg.Go(func() { // the careless caller
		for round := range 10 {
			for _, m := range mistakes {
				_, err := h.Invoke(ctx, "localfs.files", m.op, m.args)
				switch k := sdk.KindOf(err); {
				case err == nil, k == sdk.KindInternal, k == sdk.KindUnknown, k == sdk.KindUnavailable, k == sdk.KindTimeout:
					mu.Lock()
					bad = append(bad, fmt.Sprintf("round %d, %s %.80s: kind %q: %.200v", round, m.op, m.args, k, err))
					mu.Unlock()
				}
			}
		}
	})
	wg.Go(func() { // another caller, who does nothing wrong
		for i := range 30 {
			if _, err := h.Invoke(ctx, "localfs.files", "stat", `{"key":"f.txt"}`); err != nil {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("the other caller's call %d failed: %v", i, err))
				mu.Unlock()
			}
		}
	})
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	if ri, _ := h.DescribeResource("localfs.files"); ri.Resilience.Breaker != host.BreakerClosed || ri.Resilience.Rejected != 0 {
		t.Fatalf("breaker = %q with %d rejected calls after the caller's mistakes, want closed and none", ri.Resilience.Breaker, ri.Resilience.Rejected)
	}
	fams, _ := scrape(t, srv.URL)
	if n := value(fams, "nebula_call_duration_seconds", "operation=stat", "outcome=invalid_argument"); n < 20 {
		t.Errorf("stat calls with outcome invalid_argument = %v, want at least 20 (10 names too long, 10 paths through a file)", n)
	}
	for _, k := range []string{"internal", "unknown", "unavailable"} {
		if n := value(fams, "nebula_call_duration_seconds", "outcome="+k); n > 0 {
			t.Errorf("%v calls counted with outcome %s", n, k)
		}
	}
}

// TestBreakerCountsOnlyBackendFailures: of all kinds, only unavailable
// and timeout open the breaker; an answer of any other kind, internal and
// unknown included, leaves it closed however many come.
func TestBreakerCountsOnlyBackendFailures(t *testing.T) {
	for _, k := range sdk.Kinds {
		opens := k == sdk.KindUnavailable || k == sdk.KindTimeout
		t.Run(fmt.Sprintf("%s opens it: %v", k, opens), func(t *testing.T) {
			f := newFlaky(-1, k)
			h := flakyHost(t, f, `
    circuit_breaker {
      failure_threshold = 2
      open_for          = "1h"
    }`)
			for range 5 {
				_, _ = h.Invoke(t.Context(), "flaky.x", "put", nil)
			}
			ri, _ := h.DescribeResource("flaky.x")
			if got := ri.Resilience.Breaker == host.BreakerOpen; got != opens {
				t.Fatalf("after 5 failures of kind %s the breaker is %s", k, ri.Resilience.Breaker)
			}
		})
	}
}

// TestBreakerIgnoresCallerKindsWrappedInABackendKind: a driver that wraps
// a caller's mistake in an error of a backend kind does not trip the
// breaker either, when the chain still says whose mistake it is.
func TestBreakerIgnoresCallerKindsWrappedInABackendKind(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	h := startHost(t, loadHCL(t, `resource "flaky" "x" {
  resilience {
    circuit_breaker {
      failure_threshold = 2
      open_for          = "1h"
    }
  }
}`), host.WithDriver("flaky", wrappingDriver{f}), host.WithLogger(quietLogger()))
	for range 5 {
		_, err := h.Invoke(t.Context(), "flaky.x", "put", nil)
		if sdk.KindOf(err) != sdk.KindUnavailable {
			t.Fatalf("err = %v, want the driver's unavailable", err)
		}
	}
	if ri, _ := h.DescribeResource("flaky.x"); ri.Resilience.Breaker != host.BreakerClosed {
		t.Fatalf("breaker = %q, want closed", ri.Resilience.Breaker)
	}
}

// wrappingDriver answers every call with an unavailable error that wraps
// an invalid_argument one.
type wrappingDriver struct{ *flaky }

func (d wrappingDriver) Configure(context.Context, sdk.ConfigureRequest) (sdk.Resource, error) {
	return wrappingResource(d), nil
}

type wrappingResource struct{ *flaky }

func (r wrappingResource) Open(context.Context) (sdk.Instance, error) { return r, nil }
func (r wrappingResource) Close(context.Context) error                { return nil }
func (r wrappingResource) Check(context.Context) error                { return nil }
func (r wrappingResource) Invoke(context.Context, sdk.InvokeRequest) (any, error) {
	return nil, sdk.WrapError(sdk.KindUnavailable, sdk.Errorf(sdk.KindInvalidArgument, "bad key"), "driver gave up")
}

// TestCallersOwnDeadlineDoesNotOpenTheBreaker: calls that end because the
// caller's own context ran out are timeouts, but the caller's doing; they
// are neither counted by the breaker nor retried.
func TestCallersOwnDeadlineDoesNotOpenTheBreaker(t *testing.T) {
	f := newFlaky(0, sdk.KindUnavailable)
	h := flakyHost(t, f, `
    circuit_breaker {
      failure_threshold = 2
      open_for          = "1h"
    }`+fiveAttempts)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		_, err := h.Invoke(ctx, "flaky.x", "wait", nil)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, host.ErrCircuitOpen) {
			t.Fatalf("call %d: err = %v, want the caller's deadline", i+1, err)
		}
	}
	if got := f.calls.Load(); got != 5 {
		t.Errorf("%d calls reached the driver, want 5 (a call the caller ended is not retried)", got)
	}
	if ri, _ := h.DescribeResource("flaky.x"); ri.Resilience.Breaker != host.BreakerClosed {
		t.Fatalf("breaker = %q after the caller's own deadlines, want closed", ri.Resilience.Breaker)
	}
	if _, err := h.Invoke(t.Context(), "flaky.x", "get", nil); err != nil {
		t.Fatalf("a call after them: %v", err)
	}
}
