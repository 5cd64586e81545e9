package host

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestJitteredChecksLandOnTheGridWithinTheirJitter(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 900000000, time.UTC)
	for _, c := range []struct {
		name          string
		d, jitter     time.Duration
		wantOnTheGrid bool
	}{
		{"default 15s interval, 1.5s jitter", 15 * time.Second, 1500 * time.Millisecond, true},
		{"a jitter of exactly the grid", 10 * time.Second, time.Second, true},
		{"a jitter shorter than the grid", 500 * time.Millisecond, 50 * time.Millisecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				got := jittered(now, c.d, c.jitter)
				if got < c.d || got > c.d+c.jitter {
					t.Fatalf("jittered(%v, %v) = %v, want within [%v, %v]", c.d, c.jitter, got, c.d, c.d+c.jitter)
				}
				if on := now.Add(got).Truncate(checkGrid).Equal(now.Add(got)); c.wantOnTheGrid && !on {
					t.Fatalf("jittered(%v, %v) = %v: %v is not on the %v grid", c.d, c.jitter, got, now.Add(got), checkGrid)
				}
				seen[got] = true
			}
			if c.jitter >= 1500*time.Millisecond && len(seen) < 2 {
				t.Errorf("jittered(%v, %v) always %v: the grid points are not picked at random", c.d, c.jitter, seen)
			}
		})
	}
}

func TestSchedulerRunsJobsAgainAndStopsWithItsContext(t *testing.T) {
	var wg sync.WaitGroup
	s := newScheduler(&wg)
	var quick, slow, running, most atomic.Int64
	s.add(time.Millisecond, true, func() time.Duration { quick.Add(1); return 5 * time.Millisecond })
	for range 3 * maxConcurrentChecks {
		s.add(time.Millisecond, false, func() time.Duration {
			slow.Add(1)
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			running.Add(-1)
			return 10 * time.Millisecond
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	s.start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for quick.Load() < 5 || slow.Load() < 6*maxConcurrentChecks {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: the inline job ran %d times, the others %d", quick.Load(), slow.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait() // the scheduler and every job it started end
	if m := most.Load(); m > maxConcurrentChecks {
		t.Errorf("%d jobs ran at once, want at most %d", m, maxConcurrentChecks)
	}
}
