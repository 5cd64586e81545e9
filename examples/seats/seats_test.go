package seats_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/examples/seats"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/hosttest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestMain checks, once every test has run, that none left a goroutine
// running, and removes the plugin the integration tests built.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if plugin.dir != "" {
			_ = os.RemoveAll(plugin.dir)
		}
	}))
}

// The unit tests: an in-process host whose resource "memory.seats"
// stands in for the Redis of production. hosttest fails a test that
// leaves a lease out or a goroutine running.

const memoryConfig = `
resource "memory" "seats" {}
`

func booker(h *hosttest.Host) *seats.Booker {
	return &seats.Booker{Host: h.Host, Resource: "memory.seats", Capacity: 10, Timeout: 200 * time.Millisecond}
}

func TestReserveCountsTheSeatsTaken(t *testing.T) {
	h := hosttest.New(t, memoryConfig)
	b := booker(h)
	for i, want := range []int64{3, 7, 10} {
		n := []int64{3, 4, 3}[i]
		taken, err := reserve(b)(t.Context(), "concert", n)
		if err != nil || taken != want {
			t.Fatalf("reserve %d: %d, %v; want %d taken", n, taken, err, want)
		}
	}
}

// leaky runs the tests against a copy of Reserve that forgets to release
// its lease when the event is sold out: docs/testing.md shows how the
// sold-out test then fails.
var leaky = flag.Bool("leaky", false, "test leakyReserve, which leaks a lease when sold out, instead of Reserve")

func reserve(b *seats.Booker) func(ctx context.Context, event string, n int64) (int64, error) {
	if *leaky {
		return func(ctx context.Context, event string, n int64) (int64, error) { return leakyReserve(ctx, b, event, n) }
	}
	return b.Reserve
}

func TestSoldOutTakesNoSeats(t *testing.T) {
	h := hosttest.New(t, memoryConfig)
	b := booker(h)
	if _, err := reserve(b)(t.Context(), "concert", 8); err != nil {
		t.Fatal(err)
	}
	if _, err := reserve(b)(t.Context(), "concert", 3); !errors.Is(err, seats.ErrSoldOut) {
		t.Fatalf("3 more seats of 10 with 8 taken: %v, want ErrSoldOut", err)
	}
	// The 2 seats left can still be had.
	if taken, err := reserve(b)(t.Context(), "concert", 2); err != nil || taken != 10 {
		t.Fatalf("the last 2 seats: %d, %v", taken, err)
	}
}

func TestConcurrentReservationsNeverOverbook(t *testing.T) {
	h := hosttest.New(t, memoryConfig)
	b := booker(h)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, soldOut int
	for range 25 {
		wg.Go(func() {
			_, err := b.Reserve(t.Context(), "concert", 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, seats.ErrSoldOut):
				soldOut++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 10 || soldOut != 15 {
		t.Fatalf("%d reserved, %d sold out; want 10 and 15", ok, soldOut)
	}
}

func TestAnUnavailableStoreMeansTryLater(t *testing.T) {
	h := hosttest.New(t, memoryConfig)
	store := h.Resource("memory.seats")
	store.Fail(sdk.KindUnavailable)

	_, err := booker(h).Reserve(t.Context(), "concert", 1)
	if !errors.Is(err, seats.ErrTryLater) {
		t.Fatalf("reserve with the store down: %v, want ErrTryLater", err)
	}
	// One incr reached the store, and failed; nothing else was tried.
	calls := store.Calls()
	if len(calls) != 1 || calls[0].Operation != "incr" || calls[0].Kind != sdk.KindUnavailable {
		t.Fatalf("calls: %+v", calls)
	}
	var args struct {
		Key string `json:"key"`
		By  int64  `json:"by"`
	}
	if err := json.Unmarshal(calls[0].Args, &args); err != nil || args.Key != "seats:concert" || args.By != 1 {
		t.Fatalf("incr's arguments: %s", calls[0].Args)
	}

	store.Recover()
	if _, err := booker(h).Reserve(t.Context(), "concert", 1); err != nil {
		t.Fatalf("reserve once the store is back: %v", err)
	}
}

func TestASlowStoreMeansTryLaterWithinTheTimeout(t *testing.T) {
	h := hosttest.New(t, memoryConfig)
	h.Resource("memory.seats").Slow(5 * time.Second)

	began := time.Now()
	_, err := booker(h).Reserve(t.Context(), "concert", 1)
	if !errors.Is(err, seats.ErrTryLater) {
		t.Fatalf("reserve with a store 5s slow: %v, want ErrTryLater", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("reserve gave up after %v, want about its 200ms timeout", took)
	}
}

func TestAQuarantinedStoreMeansTryLater(t *testing.T) {
	h := hosttest.New(t, `
resource "memory" "seats" {
  health {
    interval        = "20ms"
    jitter          = "1ms"
    timeout         = "20ms"
    unhealthy_after = 2
  }
}
`)
	h.Resource("memory.seats").Partition()
	h.AwaitHealth("memory.seats", host.HealthUnhealthy, 5*time.Second)
	if _, err := booker(h).Reserve(t.Context(), "concert", 1); !errors.Is(err, seats.ErrTryLater) {
		t.Fatalf("reserve with the store quarantined: %v, want ErrTryLater", err)
	}
	h.Resource("memory.seats").Recover()
	h.AwaitHealth("memory.seats", host.HealthHealthy, 5*time.Second)
	if _, err := booker(h).Reserve(t.Context(), "concert", 1); err != nil {
		t.Fatalf("reserve once the store recovered: %v", err)
	}
}

// leakyReserve is Reserve as it might be written by hand with Acquire:
// on the sold-out path it returns without releasing its lease.
func leakyReserve(ctx context.Context, b *seats.Booker, event string, n int64) (int64, error) {
	l, err := b.Host.Acquire(ctx, b.Resource, host.ForWorkflow("booking"), host.ForStep("reserve-seats"))
	if err != nil {
		return 0, err
	}
	raw, err := l.Invoke(ctx, "incr", map[string]any{"key": "seats:" + event, "by": n})
	if err != nil {
		l.Release()
		return 0, err
	}
	var res sdk.KVIncrResult
	if err := json.Unmarshal(raw, &res); err != nil {
		l.Release()
		return 0, err
	}
	if res.Value > b.Capacity {
		if _, err := l.Invoke(ctx, "decr", map[string]any{"key": "seats:" + event, "by": n}); err != nil {
			l.Release()
			return 0, err
		}
		return 0, seats.ErrSoldOut // the bug: l is never released
	}
	l.Release()
	return res.Value, nil
}
