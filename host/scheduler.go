package host

import (
	"container/heap"
	"context"
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

	mu   sync.Mutex // guards jobs; never held while a job runs
	jobs jobHeap
}

// job is one recurring piece of work: its task's run does it once and
// returns the delay until its next run. A resource's health check job is
// part of the resource, so that scheduling it allocates nothing.
type job struct {
	due    time.Time
	task   task
	inline bool // short and without I/O: runs on the scheduler's goroutine
}

// task is the work of a job.
type task interface {
	run() time.Duration
}

// taskFunc is a task that is a function.
type taskFunc func() time.Duration

func (f taskFunc) run() time.Duration { return f() }

func newScheduler(wg *sync.WaitGroup) *scheduler {
	return &scheduler{wg: wg, slots: make(chan struct{}, maxConcurrentChecks), wake: make(chan struct{}, 1)}
}

// add schedules run first after delay.
func (s *scheduler) add(delay time.Duration, inline bool, run func() time.Duration) {
	s.push(&job{due: time.Now().Add(delay), task: taskFunc(run), inline: inline})
}

// schedule schedules j, whose task is set, first after delay.
func (s *scheduler) schedule(j *job, delay time.Duration) {
	j.due = time.Now().Add(delay)
	s.push(j)
}

func (s *scheduler) push(j *job) {
	s.mu.Lock()
	heap.Push(&s.jobs, j)
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
		var next *job
		wait := time.Hour
		if len(s.jobs) > 0 {
			if wait = time.Until(s.jobs[0].due); wait <= 0 {
				next = heap.Pop(&s.jobs).(*job)
			}
		}
		s.mu.Unlock()
		if next == nil {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-timer.C:
			}
			continue
		}
		if next.inline {
			next.due = time.Now().Add(next.task.run())
			s.push(next)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case s.slots <- struct{}{}:
		}
		s.wg.Add(1)
		go func(j *job) {
			defer s.wg.Done()
			d := j.task.run()
			<-s.slots
			if ctx.Err() == nil {
				j.due = time.Now().Add(d)
				s.push(j)
			}
		}(next)
	}
}

// jobHeap orders jobs by due time, for container/heap.
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)        { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	n := len(old)
	j := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return j
}
