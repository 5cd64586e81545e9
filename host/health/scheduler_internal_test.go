package health

import (
	"context"
	"slices"
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
				got := Jittered(now, c.d, c.jitter)
				if got < c.d || got > c.d+c.jitter {
					t.Fatalf("Jittered(%v, %v) = %v, want within [%v, %v]", c.d, c.jitter, got, c.d, c.d+c.jitter)
				}
				if on := now.Add(got).Truncate(CheckGrid).Equal(now.Add(got)); c.wantOnTheGrid && !on {
					t.Fatalf("Jittered(%v, %v) = %v: %v is not on the %v grid", c.d, c.jitter, got, now.Add(got), CheckGrid)
				}
				seen[got] = true
			}
			if c.jitter >= 1500*time.Millisecond && len(seen) < 2 {
				t.Errorf("Jittered(%v, %v) always %v: the grid points are not picked at random", c.d, c.jitter, seen)
			}
		})
	}
}

// testGroup runs rounds of testTasks: it sleeps for slow, then gives
// each task its next run after every, counting rounds and the most that
// ran at once.
type testGroup struct {
	slow, every   time.Duration
	mu            sync.Mutex
	sizes         []int // of each round, in order
	running, most atomic.Int64
}

type testTask struct{ g *testGroup }

func (t testTask) Group() Group { return t.g }

func (g *testGroup) RunRound(ts []Task, next func(Task, time.Duration)) {
	n := g.running.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	g.mu.Lock()
	g.sizes = append(g.sizes, len(ts))
	g.mu.Unlock()
	time.Sleep(g.slow)
	g.running.Add(-1)
	for _, t := range ts {
		next(t, g.every)
	}
}

func (g *testGroup) rounds() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

func TestJobsDueTogetherRunInOneRound(t *testing.T) {
	var wg sync.WaitGroup
	s := NewScheduler(&wg)
	g := &testGroup{every: time.Hour}
	due := s.clock() + int64(20*time.Millisecond)
	for range 1000 {
		s.push(job{due: due, task: testTask{g}})
	}
	other := &testGroup{every: time.Hour}
	s.push(job{due: due + int64(roundWindow/2), task: testTask{other}})
	ctx, cancel := context.WithCancel(t.Context())
	s.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for len(g.rounds()) == 0 || len(other.rounds()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no round ran within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if got := g.rounds(); !slices.Equal(got, []int{1000}) {
		t.Fatalf("1,000 jobs due together ran in rounds of %v, want one round of 1000", got)
	}
	if got := other.rounds(); !slices.Equal(got, []int{1}) {
		t.Fatalf("the other group's job ran in rounds of %v, want a round of its own", got)
	}
}

func TestSchedulerRunsJobsAgainAndStopsWithItsContext(t *testing.T) {
	var wg sync.WaitGroup
	s := NewScheduler(&wg)
	var quick atomic.Int64
	s.Add(time.Millisecond, func() time.Duration { quick.Add(1); return 5 * time.Millisecond })
	groups := make([]*testGroup, 3*maxRounds)
	for i := range groups {
		groups[i] = &testGroup{slow: 2 * time.Millisecond, every: 10 * time.Millisecond}
		s.Schedule(testTask{groups[i]}, time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s.Start(ctx)
	ran := func() (n int) {
		for _, g := range groups {
			n += len(g.rounds())
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for quick.Load() < 5 || ran() < 6*maxRounds {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: the inline job ran %d times, the rounds %d", quick.Load(), ran())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait() // the scheduler and every round it started end
	var running, most int64
	for _, g := range groups {
		running += g.running.Load()
		most += g.most.Load() // each group runs one round at a time: its job is in one
	}
	if running != 0 {
		t.Errorf("%d rounds still running after the scheduler stopped", running)
	}
	for _, g := range groups {
		if m := g.most.Load(); m > 1 {
			t.Errorf("a group with one job ran %d rounds at once", m)
		}
	}
}
