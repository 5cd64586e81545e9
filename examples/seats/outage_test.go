package seats_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/examples/seats"
	"github.com/nebula-resource/nebula-resource/faults"
)

// The outage tests: the same host and Redis as the integration test, with
// a toxiproxy proxy (package faults) between them that slows and cuts the
// network, as a real outage would.

func TestASlowNetworkMeansTryLaterWithinTheTimeout(t *testing.T) {
	proxy := faults.Toxiproxy(t).Proxy(t, redisAddr(t))
	h := startHost(t, proxy.Addr())
	b := &seats.Booker{Host: h, Resource: "redis.seats", Capacity: 10, Timeout: 300 * time.Millisecond}
	event := fmt.Sprintf("concert-%d", time.Now().UnixNano())
	if _, err := b.Reserve(t.Context(), event, 1); err != nil {
		t.Fatal(err)
	}

	toxic := proxy.AddLatency(t, time.Second, 0) // every reply a second late
	began := time.Now()
	_, err := b.Reserve(t.Context(), event, 1)
	if !errors.Is(err, seats.ErrTryLater) {
		t.Fatalf("reserve over a network 1s slow: %v, want ErrTryLater", err)
	}
	if took := time.Since(began); took > 900*time.Millisecond {
		t.Fatalf("reserve gave up after %v, want about its 300ms timeout", took)
	}

	proxy.Remove(t, toxic)
	awaitReserve(t, b, event)
}

func TestRedisDownMeansTryLaterAndBackMeansBooked(t *testing.T) {
	proxy := faults.Toxiproxy(t).Proxy(t, redisAddr(t))
	h := startHost(t, proxy.Addr())
	b := &seats.Booker{Host: h, Resource: "redis.seats", Capacity: 10, Timeout: 500 * time.Millisecond}
	event := fmt.Sprintf("concert-%d", time.Now().UnixNano())
	if _, err := b.Reserve(t.Context(), event, 1); err != nil {
		t.Fatal(err)
	}

	proxy.Disable(t) // connections refused, open ones closed
	for range 3 {
		if _, err := b.Reserve(t.Context(), event, 1); !errors.Is(err, seats.ErrTryLater) {
			t.Fatalf("reserve with Redis down: %v, want ErrTryLater", err)
		}
	}

	proxy.Enable(t)
	if taken := awaitReserve(t, b, event); taken != 2 {
		t.Fatalf("%d seats taken after the outage, want 2: a failed reservation took seats", taken)
	}
}

// awaitReserve retries a reservation, as a workflow engine retries a step
// that failed with ErrTryLater, until it passes (at most 10 s).
func awaitReserve(t *testing.T, b *seats.Booker, event string) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		taken, err := b.Reserve(t.Context(), event, 1)
		if err == nil {
			return taken
		}
		if !errors.Is(err, seats.ErrTryLater) || time.Now().After(deadline) {
			t.Fatalf("reserve once the network is back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
