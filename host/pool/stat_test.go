package pool_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

func TestStatWindowCountsWaitsTimeoutsAndUse(t *testing.T) {
	ctx := context.Background()
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 1 })
	l1, err := p.Acquire(ctx) // opens the instance: waits for the open
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		l, err := p.Acquire(ctx) // waits for l1
		if err == nil {
			l.Release()
		}
		done <- err
	}()
	waitFor(t, func() bool { return p.Stat().Waiting == 1 })
	l1.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l2, err := p.Acquire(ctx) // takes it idle
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
	_, err = p.Acquire(tctx)
	cancel()
	if !errors.Is(err, pool.ErrExhausted) {
		t.Fatalf("got %v, want a timeout", err)
	}
	l2.Release()

	st := p.Stat()
	w := st.Window
	if w.Acquires != 3 || w.Waited != 2 || w.Timeouts != 1 || w.Acquires != st.AcquireCount || w.Timeouts != st.TimeoutCount {
		t.Fatalf("window %+v of stat %+v: want 3 acquires, 2 that waited, 1 timeout", w, st)
	}
	// The timeout waited 2ms at least; the p99 is the longest wait, to
	// within 12.5 %; of the 4 acquires, 1 waited 0, and the p50 is the
	// open's.
	if w.WaitMax < 2*time.Millisecond || w.WaitP99 > w.WaitMax || w.WaitP99 < w.WaitMax*7/8 || w.WaitP50 <= 0 || w.WaitP50 > w.WaitMax {
		t.Fatalf("waits %+v", w)
	}
	if w.InUsePeak != 1 || w.UtilizationPeak != 1 || w.UtilizationMean <= 0 || w.UtilizationMean > 1 || w.Window <= 0 || w.Window > time.Minute || w.Advice != "" {
		t.Fatalf("utilization %+v", w)
	}

	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"window":{"window_ns":`, `"acquires":3,"waited":2,"timeouts":1,"wait_p50_ns":`, `"wait_p95_ns":`, `"wait_p99_ns":`, `"wait_max_ns":`, `"utilization_mean":`, `"utilization_peak":1,`, `"advice":""`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("no %s in %s", key, js)
		}
	}
}

func TestStatWindowOfASharedPoolCountsLeasesInFlight(t *testing.T) {
	s := newShared(t, newBackend(), 2, pool.RoundRobin)
	var leases []*pool.SharedLease[*inst]
	for range 3 {
		l, err := s.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	w := s.Stat().Window
	if w.Acquires != 3 || w.InUsePeak != 3 || w.UtilizationPeak != 1.5 || w.Waited != 0 || w.WaitMax != 0 || w.Advice != "" {
		t.Fatalf("with 3 leases on 2 replicas: %+v", w)
	}
	for _, l := range leases {
		l.Release()
	}
	leases[0].Release() // twice: counted once
	leases[1].Destroy() // after Release: does nothing
	w = s.Stat().Window
	if w.Acquires != 3 || w.InUsePeak != 3 || w.InUseMean <= 0 || w.InUseMean > 3 {
		t.Fatalf("after the leases: %+v", w)
	}
	l, err := s.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if w := s.Stat().Window; w.Acquires != 4 || w.InUsePeak != 3 {
		t.Fatalf("after one more lease: %+v", w)
	}
}
