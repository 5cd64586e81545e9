package host

import (
	"context"
	"slices"
	"sync"
	"time"
)

// maxConcurrentChecks bounds the health checks (and recovery attempts) that
// run at once, whatever the number of resources.
const maxConcurrentChecks = 64

// scheduler runs the host's timed background work from one goroutine and
// a timer heap: each resource's health checks and the sweep of leases held
// past their lease_timeout. A resource costs a heap entry, not a goroutine
// and a timer of its own. Jobs that call a plugin run on goroutines of
// their own, at most maxConcurrentChecks at once; short jobs without I/O
// run on the scheduler's goroutine.
//
// Lifecycle: newScheduler, add jobs, start (which counts its goroutine in
// the host's WaitGroup); canceling the context passed to start stops it,
// and the WaitGroup joins it and every job it started.
type scheduler struct {
	wg    *sync.WaitGroup
	slots chan struct{} // one per job running off the scheduler's goroutine
	wake  chan struct{} // buffered 1: a job was added or came back
	epoch time.Time     // the zero of clock

	mu   sync.Mutex // guards jobs; never held while a job runs
	jobs jobHeap
}

// job is one recurring piece of work: its task's run does it once and
// returns the delay until its next run. Jobs are values in the
// scheduler's heap, so that scheduling one allocates nothing and a
// resource keeps no job of its own: the resource is its health checks'
// task.
type job struct {
	due  int64 // on the scheduler's clock (clock)
	task task
}

// task is the work of a job.
type task interface {
	run() time.Duration
}

// taskFunc is a task that is a function; it runs on a goroutine of its
// own.
type taskFunc func() time.Duration

func (f taskFunc) run() time.Duration { return f() }

// inlineFunc is a task that is a short function without I/O; it runs on
// the scheduler's goroutine.
type inlineFunc func() time.Duration

func (f inlineFunc) run() time.Duration { return f() }

func newScheduler(wg *sync.WaitGroup) *scheduler {
	return &scheduler{wg: wg, slots: make(chan struct{}, maxConcurrentChecks), wake: make(chan struct{}, 1), epoch: time.Now()}
}

// clock is the time in nanoseconds since the scheduler was made, on the
// monotonic clock: a job's due time in 8 bytes rather than a time.Time's
// 24, which wall clock changes do not move.
func (s *scheduler) clock() int64 { return int64(time.Since(s.epoch)) }

// add schedules run first after delay. An inline run is short and without
// I/O, and runs on the scheduler's goroutine.
func (s *scheduler) add(delay time.Duration, inline bool, run func() time.Duration) {
	if inline {
		s.schedule(inlineFunc(run), delay)
	} else {
		s.schedule(taskFunc(run), delay)
	}
}

// reserve makes room for n more jobs at once: the thousand jobs of a
// thousand resources then take one heap that fits them, not the up to a
// quarter more that growing it one job at a time leaves.
func (s *scheduler) reserve(n int) {
	s.mu.Lock()
	s.jobs = slices.Grow(s.jobs, n)
	s.mu.Unlock()
}

// schedule runs t first after delay.
func (s *scheduler) schedule(t task, delay time.Duration) {
	s.push(job{due: s.clock() + int64(delay), task: t})
}

func (s *scheduler) push(j job) {
	s.mu.Lock()
	s.jobs.push(j)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// start runs the scheduler until ctx is canceled.
func (s *scheduler) start(ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
}

func (s *scheduler) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var next job
		wait := time.Hour
		if len(s.jobs) > 0 {
			if wait = time.Duration(s.jobs[0].due - s.clock()); wait <= 0 {
				next = s.jobs.pop()
			}
		}
		s.mu.Unlock()
		if next.task == nil {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-timer.C:
			}
			continue
		}
		if _, inline := next.task.(inlineFunc); inline {
			s.schedule(next.task, next.task.run())
			continue
		}
		select {
		case <-ctx.Done():
			return
		case s.slots <- struct{}{}:
		}
		s.wg.Add(1)
		go func(t task) {
			defer s.wg.Done()
			d := t.run()
			<-s.slots
			if ctx.Err() == nil {
				s.schedule(t, d)
			}
		}(next.task)
	}
}

// jobHeap is a binary min-heap of jobs by due time. It is kept by hand
// rather than with container/heap, whose Push and Pop would box, and so
// allocate, each job they move.
type jobHeap []job

func (h *jobHeap) push(j job) {
	*h = append(*h, j)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].due <= s[i].due {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

// pop removes and returns the job due first; h must not be empty.
func (h *jobHeap) pop() job {
	s := *h
	first, n := s[0], len(s)-1
	s[0], s[n] = s[n], job{}
	s = s[:n]
	for i := 0; ; {
		least := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < n && s[c].due < s[least].due {
				least = c
			}
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	*h = s
	return first
}
