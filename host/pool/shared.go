package pool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Selection is how a shared pool picks a replica for a lease.
type Selection string

const (
	// RoundRobin takes the replicas in turn. It is the default.
	RoundRobin Selection = "round_robin"
	// Weighted picks at random, weighting each replica by its recent
	// success rate, so that a degraded replica gets less traffic.
	Weighted Selection = "weighted"
	// LeastLoaded picks two replicas at random and takes the one with
	// the lower load: leases in flight times recent latency.
	LeastLoaded Selection = "least_loaded"
)

// SharedConfig configures a Shared pool. Each field's zero value means the
// default it documents.
type SharedConfig[T any] struct {
	// Name names the pool in errors.
	Name string
	// Open opens a replica. Required.
	Open func(ctx context.Context) (T, error)
	// Close closes a replica. Nil means replicas need no closing.
	Close func(ctx context.Context, v T)
	// OnError, when set, hears of failed background reopens.
	OnError func(op string, err error)
	// Replicas is how many instances the pool keeps. Default 1.
	Replicas int
	// Selection picks a replica per lease. Default RoundRobin.
	Selection Selection
	// OpenTimeout bounds each background reopen. Default 30s.
	OpenTimeout time.Duration
	// CallTimeout bounds each Close. Default 10s.
	CallTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay between attempts to
	// reopen a broken replica. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// StatWindow is the span of the sliding window that Stat.Window
	// summarizes. Default DefaultStatWindow, 5 minutes.
	StatWindow time.Duration
}

// slot is one opened replica value. A broken replica gets a new slot.
type slot[T any] struct {
	value T
}

type replica[T any] struct {
	cur       atomic.Pointer[slot[T]] // nil while the replica is being reopened
	inflight  atomic.Int64
	latency   atomic.Int64  // EWMA of call latency, ns
	errorRate atomic.Uint64 // EWMA of the error rate, float64 bits
	reopening bool          // guarded by Shared.mu
}

// Shared is the shared pool: a fixed number of replicas, each safe for
// concurrent use, with leases counting the use in flight on each.
type Shared[T any] struct {
	cfg      SharedConfig[T]
	replicas []*replica[T]
	next     atomic.Uint64
	acquires atomic.Int64

	// bg is the context of the background reopens, made by the first
	// one (guarded by mu until then; reopens read it freely) and canceled
	// by Close. A pool whose replicas never break has none.
	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // background reopens

	isClosed atomic.Bool // set by Close; read without the lock on the hot path

	// mu guards closed, the replicas' reopening flags, st, leases and
	// win. Acquire and the end of a lease take it briefly, to record the
	// leases in flight in the window.
	mu      sync.Mutex
	closed  bool
	st      counters
	changed chan struct{} // made by Close; closed and replaced when a lease ends after it
	leases  int           // leases in flight, on every replica
	// win is the sliding window of Stat.Window, allocated by the first
	// lease: until then it would hold nothing but the pool's age, which
	// stat computes from born. An idle pool (a resource only health
	// checks touch, through Probe) keeps no window.
	win  *window
	born int64 // nanotime of NewShared
}

// windowLocked returns s.win, allocating it as it would be had it existed since
// the pool began. Call with s.mu held.
func (s *Shared[T]) windowLocked() *window {
	if s.win == nil {
		s.win = new(window)
		s.win.init(s.born, s.cfg.StatWindow)
	}
	return s.win
}

// NewShared returns a shared pool. It opens nothing: call Warm.
func NewShared[T any](cfg SharedConfig[T]) (*Shared[T], error) {
	if cfg.Open == nil {
		return nil, errors.New("pool: SharedConfig.Open is required")
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("pool %s: replicas must not be negative", cfg.Name)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	switch cfg.Selection {
	case "":
		cfg.Selection = RoundRobin
	case RoundRobin, Weighted, LeastLoaded:
	default:
		return nil, fmt.Errorf("pool %s: unknown selection %q", cfg.Name, cfg.Selection)
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	s := &Shared[T]{cfg: cfg, born: nanotime()}
	for range cfg.Replicas {
		s.replicas = append(s.replicas, &replica[T]{})
	}
	return s, nil
}

// Warm opens every replica not open yet, and returns the first error.
func (s *Shared[T]) Warm(ctx context.Context) error {
	for _, r := range s.replicas {
		if r.cur.Load() != nil {
			continue
		}
		v, err := s.cfg.Open(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.closeValue(v)
			return fmt.Errorf("pool %s: %w", s.cfg.Name, ErrClosed)
		}
		r.cur.Store(&slot[T]{value: v})
		s.st.created++
		s.mu.Unlock()
	}
	return nil
}

// SharedLease is one use of a replica. Call Release exactly once; Observe
// before it to feed the replica's latency and error rate.
type SharedLease[T any] struct {
	s    *Shared[T]
	r    *replica[T]
	sl   *slot[T]
	done atomic.Bool
}

// Value returns the replica's instance.
func (l *SharedLease[T]) Value() T { return l.sl.value }

// Observe records one call's latency and whether it failed, for the
// weighted and least-loaded selections.
func (l *SharedLease[T]) Observe(latency time.Duration, failed bool) {
	const alpha = 0.2
	old := l.r.latency.Load()
	if old == 0 {
		l.r.latency.Store(int64(latency))
	} else {
		l.r.latency.Store(old + int64(alpha*float64(int64(latency)-old)))
	}
	x := 0.0
	if failed {
		x = 1
	}
	rate := math.Float64frombits(l.r.errorRate.Load())
	l.r.errorRate.Store(math.Float64bits(rate + alpha*(x-rate)))
}

// Release ends the lease. Later calls do nothing.
func (l *SharedLease[T]) Release() {
	if l.done.Swap(true) {
		return
	}
	l.r.inflight.Add(-1)
	l.s.ended()
}

// Destroy ends the lease and replaces the replica, which is broken: it is
// closed and reopened in the background, and no new lease gets it.
func (l *SharedLease[T]) Destroy() {
	if l.done.Swap(true) {
		return
	}
	l.r.inflight.Add(-1)
	l.s.replace(l.r, l.sl)
	l.s.ended()
}

// ended records the end of a lease, and wakes Close.
func (s *Shared[T]) ended() {
	now := nanotime()
	s.mu.Lock()
	s.leases--
	s.windowLocked().setLevel(now, s.leases)
	s.wakeCloseLocked()
	s.mu.Unlock()
}

// wakeCloseLocked wakes a Close waiting for the uses in flight to end.
// Call with s.mu held.
func (s *Shared[T]) wakeCloseLocked() {
	if s.closed && s.changed != nil {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// Acquire leases a replica chosen by the pool's selection. It does not
// wait: when no replica is open it fails at once with ErrNoReplica.
func (s *Shared[T]) Acquire(ctx context.Context) (*SharedLease[T], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed.Load() {
		return nil, fmt.Errorf("pool %s: %w", s.cfg.Name, ErrClosed)
	}
	r, sl := s.pick()
	if r == nil {
		return nil, fmt.Errorf("pool %s: all %d replicas are being reopened: %w", s.cfg.Name, len(s.replicas), ErrNoReplica)
	}
	s.acquires.Add(1)
	now := nanotime()
	s.mu.Lock()
	s.leases++
	s.windowLocked().hit(now, s.leases)
	s.mu.Unlock()
	return &SharedLease[T]{s: s, r: r, sl: sl}, nil
}

// Probe runs check on the next open replica without leasing it, for a
// health check: the replica counts it in flight while it runs, and its
// latency and outcome feed the replica's figures (failed says which
// errors count as failures), but the pool's acquires, leases and window
// do not count it, as it is no caller's. Like Acquire it does not wait:
// with no replica open it fails at once with ErrNoReplica.
func (s *Shared[T]) Probe(ctx context.Context, check func(context.Context, T) error, failed func(error) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed.Load() {
		return fmt.Errorf("pool %s: %w", s.cfg.Name, ErrClosed)
	}
	r, sl := s.pick()
	if r == nil {
		return fmt.Errorf("pool %s: all %d replicas are being reopened: %w", s.cfg.Name, len(s.replicas), ErrNoReplica)
	}
	l := SharedLease[T]{s: s, r: r, sl: sl}
	began := time.Now()
	err := check(ctx, sl.value)
	l.Observe(time.Since(began), err != nil && failed(err))
	r.inflight.Add(-1)
	if s.isClosed.Load() {
		// Close counts probes among the uses in flight: wake it.
		s.mu.Lock()
		s.wakeCloseLocked()
		s.mu.Unlock()
	}
	return err
}

func (s *Shared[T]) pick() (*replica[T], *slot[T]) {
	n := len(s.replicas)
	switch s.cfg.Selection {
	case LeastLoaded:
		if n > 1 {
			i := rand.IntN(n)
			j := (i + 1 + rand.IntN(n-1)) % n // a different replica
			a, b := s.replicas[i], s.replicas[j]
			if load(b) < load(a) {
				a, b = b, a
			}
			for _, r := range []*replica[T]{a, b} {
				if r, sl := s.take(r); r != nil {
					return r, sl
				}
			}
		}
	case Weighted:
		if n > 1 {
			var total float64
			weights := make([]float64, n)
			for i, r := range s.replicas {
				if r.cur.Load() != nil {
					rate := math.Float64frombits(r.errorRate.Load())
					weights[i] = math.Max(0.01, (1-rate)*(1-rate))
					total += weights[i]
				}
			}
			x := rand.Float64() * total
			for i, w := range weights {
				if x -= w; w > 0 && x <= 0 {
					if r, sl := s.take(s.replicas[i]); r != nil {
						return r, sl
					}
				}
			}
		}
	}
	// Round robin, and the fallback of the others: the next open replica.
	start := s.next.Add(1)
	for i := range n {
		if r, sl := s.take(s.replicas[(int(start)+i)%n]); r != nil {
			return r, sl
		}
	}
	return nil, nil
}

func load[T any](r *replica[T]) float64 {
	return float64(r.inflight.Load()+1) * float64(r.latency.Load()+1)
}

// take counts a lease on r if it is open.
func (s *Shared[T]) take(r *replica[T]) (*replica[T], *slot[T]) {
	sl := r.cur.Load()
	if sl == nil {
		return nil, nil
	}
	r.inflight.Add(1)
	return r, sl
}

// replace closes a broken replica and reopens it in the background, unless
// another lease already did.
func (s *Shared[T]) replace(r *replica[T], broken *slot[T]) {
	s.mu.Lock()
	if s.closed || !r.cur.CompareAndSwap(broken, nil) {
		s.mu.Unlock()
		return
	}
	s.st.destroyedBroken++
	r.reopening = true
	if s.bg == nil {
		s.bg, s.cancel = context.WithCancel(context.Background())
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.reopen(r, broken)
}

func (s *Shared[T]) reopen(r *replica[T], broken *slot[T]) {
	defer s.wg.Done()
	s.closeValue(broken.value)
	backoff := s.cfg.MinBackoff
	for {
		ctx, cancel := context.WithTimeout(s.bg, s.cfg.OpenTimeout)
		v, err := s.cfg.Open(ctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			r.reopening = false
			if s.closed {
				s.mu.Unlock()
				s.closeValue(v)
				return
			}
			r.cur.Store(&slot[T]{value: v})
			s.st.created++
			s.mu.Unlock()
			return
		}
		if s.cfg.OnError != nil && s.bg.Err() == nil {
			s.cfg.OnError("open", err)
		}
		select {
		case <-s.bg.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

func (s *Shared[T]) closeValue(v T) {
	if s.cfg.Close == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CallTimeout)
	defer cancel()
	s.cfg.Close(ctx, v)
}

// windowStatLocked summarizes the window; a pool without one yet reads
// as a window that has recorded nothing since the pool began.
func (s *Shared[T]) windowStatLocked() WindowStat {
	now := nanotime()
	if s.win != nil {
		return s.win.stat(now, len(s.replicas), nil)
	}
	var w window
	w.init(s.born, s.cfg.StatWindow)
	return w.stat(now, len(s.replicas), nil)
}

// ReplicaStat describes one replica of a shared pool.
type ReplicaStat struct {
	Open      bool          `json:"open"`
	InFlight  int64         `json:"in_flight"`
	Latency   time.Duration `json:"latency_ns"`
	ErrorRate float64       `json:"error_rate"`
}

// Stat returns a snapshot: Total counts open replicas, InUse the leases in
// flight, Constructing the replicas being reopened, MaxSize the replicas
// configured. Window counts the acquires and the leases in flight, per
// replica for the utilization, and gives no advice (see WindowStat).
func (s *Shared[T]) Stat() Stat {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stat{
		MaxSize: len(s.replicas), MinSize: len(s.replicas),
		AcquireCount: s.acquires.Load(), Created: s.st.created,
		DestroyedBroken: s.st.destroyedBroken, DestroyedClosed: s.st.destroyedClosed,
		Window: s.windowStatLocked(),
	}
	for _, r := range s.replicas {
		rs := ReplicaStat{
			Open: r.cur.Load() != nil, InFlight: r.inflight.Load(),
			Latency: time.Duration(r.latency.Load()), ErrorRate: math.Float64frombits(r.errorRate.Load()),
		}
		if rs.Open {
			st.Total++
			if rs.InFlight == 0 {
				st.Idle++
			}
		}
		if r.reopening {
			st.Constructing++
		}
		st.InUse += int(rs.InFlight)
		st.Replicas = append(st.Replicas, rs)
	}
	return st
}

// Close stops new leases, waits until ctx ends for the leases in flight,
// closes every replica, and stops the reopens in progress. It is safe to
// call more than once.
func (s *Shared[T]) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.isClosed.Store(true)
	s.changed = make(chan struct{})
	cancelReopens := s.cancel
	s.mu.Unlock()
	var err error
	for {
		// Take the channel before counting, so that a release between the
		// two closes the channel this loop waits on.
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		var busy int64
		for _, r := range s.replicas {
			busy += r.inflight.Load()
		}
		if busy == 0 {
			break
		}
		select {
		case <-ch:
			continue
		case <-ctx.Done():
			err = fmt.Errorf("pool %s: closed with %d leases in flight: %w", s.cfg.Name, busy, ctx.Err())
		}
		break
	}
	if cancelReopens != nil {
		cancelReopens()
	}
	s.wg.Wait()
	for _, r := range s.replicas {
		if sl := r.cur.Swap(nil); sl != nil {
			s.closeValue(sl.value)
			s.mu.Lock()
			s.st.destroyedClosed++
			s.mu.Unlock()
		}
	}
	return err
}
