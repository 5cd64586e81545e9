package health

import (
	"context"
	"slices"
	"sync"
	"time"
)

// maxRounds bounds the rounds of grouped jobs (the health checks due
// together, and the recoveries among them) that run at once, whatever the
// number of resources.
const maxRounds = 64

// roundWindow is how far apart the due times of jobs may lie for them to
// run in one round: a job runs up to this much early, so that the checks
// the host aligns to the same whole second (see Jittered) go together.
const roundWindow = 2 * time.Millisecond

// Scheduler runs the host's timed background work from one goroutine and
// a timer heap: each resource's health checks and the sweep of leases held
// past their lease_timeout. A resource costs a heap entry, not a goroutine
// and a timer of its own. Short jobs without I/O run on the scheduler's
// goroutine. Jobs that call a plugin belong to a group: the group's jobs
// due at about the same moment are handed to it together, as one round on
// one goroutine, at most maxRounds rounds at once; a thousand health
// checks due together are one round, not a thousand goroutines each
// waiting for its answer.
//
// Lifecycle: NewScheduler, add jobs, start (which counts its goroutine in
// the host's WaitGroup); canceling the context passed to start stops it,
// and the WaitGroup joins it and every round it started.
type Scheduler struct {
	wg    *sync.WaitGroup
	slots chan struct{} // one per round running
	wake  chan struct{} // buffered 1: a job was added or came back
	epoch time.Time     // the zero of clock

	mu   sync.Mutex // guards jobs; never held while a job runs
	jobs jobHeap
}

// job is one recurring piece of work, due at a moment on the scheduler's
// clock. Jobs are values in the scheduler's heap, so that scheduling one
// allocates nothing and a resource keeps no job of its own: the resource
// is its health checks' task.
type job struct {
	due  int64 // on the scheduler's clock (clock)
	task Task
}

// task is the work of a job: an inlineFunc, or a member of a Group.
type Task interface {
	// group is the group whose rounds run the task; nil for an
	// inlineFunc.
	Group() Group
}

// inlineFunc is a task that is a short function without I/O; it runs on
// the scheduler's goroutine and returns the delay until its next run.
type inlineFunc func() time.Duration

func (inlineFunc) Group() Group { return nil }

// Group runs rounds of its tasks.
type Group interface {
	// runRound runs each of ts once; as each run ends it calls next with
	// the task and the delay until its next run (negative: never again),
	// exactly once per task, from any goroutine, and it returns once every
	// run has ended.
	RunRound(ts []Task, next func(Task, time.Duration))
}

func NewScheduler(wg *sync.WaitGroup) *Scheduler {
	return &Scheduler{wg: wg, slots: make(chan struct{}, maxRounds), wake: make(chan struct{}, 1), epoch: time.Now()}
}

// clock is the time in nanoseconds since the scheduler was made, on the
// monotonic clock: a job's due time in 8 bytes rather than a time.Time's
// 24, which wall clock changes do not move.
func (s *Scheduler) clock() int64 { return int64(time.Since(s.epoch)) }

// add runs run first after delay, on the scheduler's goroutine: it must be
// short and without I/O. It returns the delay until its next run.
func (s *Scheduler) Add(delay time.Duration, run func() time.Duration) {
	s.Schedule(inlineFunc(run), delay)
}

// reserve makes room for n more jobs at once: the thousand jobs of a
// thousand resources then take one heap that fits them, not the up to a
// quarter more that growing it one job at a time leaves.
func (s *Scheduler) Reserve(n int) {
	s.mu.Lock()
	s.jobs = slices.Grow(s.jobs, n)
	s.mu.Unlock()
}

// schedule runs t first after delay.
func (s *Scheduler) Schedule(t Task, delay time.Duration) {
	s.push(job{due: s.clock() + int64(delay), task: t})
}

func (s *Scheduler) push(j job) {
	s.mu.Lock()
	s.jobs.push(j)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// start runs the scheduler until ctx is canceled.
func (s *Scheduler) Start(ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
}

func (s *Scheduler) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		due    []job // the jobs due now, reused
		groups []Group
		rounds [][]Task
	)
	next := func(t Task, d time.Duration) {
		if ctx.Err() == nil && d >= 0 {
			s.Schedule(t, d)
		}
	}
	for {
		s.mu.Lock()
		wait, now := time.Hour, s.clock()
		for len(s.jobs) > 0 && s.jobs[0].due <= now+int64(roundWindow) {
			due = append(due, s.jobs.pop())
		}
		if len(s.jobs) > 0 {
			wait = time.Duration(s.jobs[0].due - now)
		}
		s.mu.Unlock()
		if len(due) == 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-timer.C:
			}
			continue
		}
		for _, j := range due {
			if f, ok := j.task.(inlineFunc); ok {
				s.Schedule(f, f())
				continue
			}
			g := j.task.Group()
			k := slices.Index(groups, g)
			if k < 0 {
				k, groups, rounds = len(groups), append(groups, g), append(rounds, nil)
			}
			rounds[k] = append(rounds[k], j.task)
		}
		clear(due)
		due = due[:0]
		for k, g := range groups {
			select {
			case <-ctx.Done():
				return
			case s.slots <- struct{}{}:
			}
			s.wg.Add(1)
			go func(ts []Task) {
				defer s.wg.Done()
				g.RunRound(ts, next)
				<-s.slots
			}(rounds[k])
		}
		clear(groups)
		groups, rounds = groups[:0], rounds[:0]
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
