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
	// the lower load: leases in flight times the recent latency of its
	// successful calls, divided by the weight Weighted gives it, so that
	// a replica that fails fast does not look the least loaded. One pick
	// in a hundred takes the other, so that a replica that failed or
	// slowed is tried again and seen to recover.
	LeastLoaded Selection = "least_loaded"
)

// Opener opens, closes and names the replicas of a Shared pool. One value
// serves the whole pool, which calls its methods from any goroutine.
type Opener[T any] interface {
	// Name names the pool in errors, for example "redis.cache".
	Name() string
	// Open opens a replica.
	Open(ctx context.Context) (T, error)
	// Close closes a replica that Open returned, once. A replica that
	// needs no closing has an empty Close.
	Close(ctx context.Context, v T)
	// OnError hears of the failures no caller sees: op is "open" for a
	// background reopen of a broken replica.
	OnError(op string, err error)
}

// SharedConfig configures a Shared pool. Each field's zero value means the
// default it documents.
type SharedConfig struct {
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

// sharedSettings are a SharedConfig with its defaults applied.
type sharedSettings struct {
	selection                          Selection
	openTimeout, callTimeout           time.Duration
	minBackoff, maxBackoff, statWindow time.Duration
}

// defaultShared are the settings of a pool that sets none. The pools that
// have them keep no copy: they use this one.
var defaultShared = sharedSettings{
	selection:   RoundRobin,
	openTimeout: 30 * time.Second,
	callTimeout: 10 * time.Second,
	minBackoff:  100 * time.Millisecond,
	maxBackoff:  10 * time.Second,
	statWindow:  DefaultStatWindow,
}

// slot is one opened replica value. A broken replica gets a new slot.
type slot[T any] struct {
	value T
}

type replica[T any] struct {
	cur       atomic.Pointer[slot[T]] // nil while the replica is not open
	inflight  atomic.Int64
	latency   atomic.Int64  // EWMA of call latency, ns
	errorRate atomic.Uint64 // EWMA of the error rate, float64 bits
}

// Shared is the shared pool: a fixed number of replicas, each safe for
// concurrent use, with leases counting the use in flight on each.
//
// An idle pool of one replica with the default settings keeps only what
// it needs, in one allocation besides its replica's value and the
// caller's Opener: what other pools need (more replicas, other settings,
// a broken replica's reopen, the summary of the leases) is allocated by
// the first that does.
type Shared[T any] struct {
	o Opener[T]
	// ext holds the settings and the replicas of a pool with other
	// settings than the defaults or more than one replica, and is nil
	// otherwise. NewShared sets it; it never changes.
	ext *sharedExt[T]
	// one is the replica of a pool of one.
	one [1]replica[T]

	closed atomic.Bool // set by Close under mu; read without it on the hot path

	// mu guards bg and win, and every change of a replica from open to
	// not open or back, so that Stat counts them consistently. Acquire
	// and the end of a lease take it briefly, to record the leases in
	// flight in the window.
	mu sync.Mutex
	// bg is made by the first broken replica or by Close. A pool whose
	// replicas never break keeps none until it is closed.
	bg *sharedBackground[T]
	// win is the sliding window of Stat.Window and the acquires,
	// allocated by the first lease: until then it would hold nothing but
	// the pool's age, which stat computes from born. An idle pool (a
	// resource only health checks touch, through Probe) keeps no window.
	win  *sharedWindow
	born int64 // nanotime of NewShared
}

// sharedExt is what a Shared pool keeps beyond one replica with the
// default settings.
type sharedExt[T any] struct {
	settings sharedSettings
	// replicas are the pool's replicas when it has more than one (then
	// Shared.one is unused), and nil when it has one.
	replicas []replica[T]
	next     atomic.Uint64 // round robin cursor
}

// sharedBackground is the state of a pool after a replica broke or the
// pool closed. Shared.mu guards it, but for ctx and cancel, set before
// the first reopen starts and never changed after, and wg.
type sharedBackground[T any] struct {
	// ctx is the context of the background reopens, made by the first
	// and canceled by Close; nil if no replica broke.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // background reopens
	// reopening holds the replicas being reopened.
	reopening map[*replica[T]]bool
	// changed is made by Close, and closed and replaced when a use in
	// flight ends after it.
	changed chan struct{}
	// closed is made by Close and closed when it returns, with closeErr
	// its error, for the calls of Close after the first.
	closed   chan struct{}
	closeErr error

	destroyedBroken, destroyedClosed int64
}

// sharedWindow is the window of a pool that has been leased, and its
// acquires. Its level is the leases in flight.
type sharedWindow struct {
	window
	acquires int64
}

// NewShared returns a shared pool of the replicas o opens. It opens
// nothing: call Warm.
func NewShared[T any](o Opener[T], cfg SharedConfig) (*Shared[T], error) {
	if o == nil {
		return nil, errors.New("pool: NewShared needs an Opener")
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("pool %s: replicas must not be negative", o.Name())
	}
	n := max(cfg.Replicas, 1)
	set := defaultShared
	switch cfg.Selection {
	case "", RoundRobin:
	case Weighted, LeastLoaded:
		// One replica takes every lease whatever the selection.
		if n > 1 {
			set.selection = cfg.Selection
		}
	default:
		return nil, fmt.Errorf("pool %s: unknown selection %q", o.Name(), cfg.Selection)
	}
	set.openTimeout = positiveOr(cfg.OpenTimeout, set.openTimeout)
	set.callTimeout = positiveOr(cfg.CallTimeout, set.callTimeout)
	set.minBackoff = positiveOr(cfg.MinBackoff, set.minBackoff)
	set.maxBackoff = positiveOr(cfg.MaxBackoff, set.maxBackoff)
	set.statWindow = positiveOr(cfg.StatWindow, set.statWindow)
	s := &Shared[T]{o: o, born: nanotime()}
	if n > 1 || set != defaultShared {
		s.ext = &sharedExt[T]{settings: set}
		if n > 1 {
			s.ext.replicas = make([]replica[T], n)
		}
	}
	return s, nil
}

// positiveOr returns d if it is positive, and otherwise def.
func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// replicas returns the pool's replicas.
func (s *Shared[T]) replicas() []replica[T] {
	if s.ext != nil && s.ext.replicas != nil {
		return s.ext.replicas
	}
	return s.one[:]
}

// settings returns the pool's settings.
func (s *Shared[T]) settings() *sharedSettings {
	if s.ext != nil {
		return &s.ext.settings
	}
	return &defaultShared
}

// windowLocked returns s.win, allocating it as it would be had it existed since
// the pool began. Call with s.mu held.
func (s *Shared[T]) windowLocked() *sharedWindow {
	if s.win == nil {
		s.win = new(sharedWindow)
		s.win.init(s.born, s.settings().statWindow)
	}
	return s.win
}

// backgroundLocked returns s.bg, allocating it. Call with s.mu held.
func (s *Shared[T]) backgroundLocked() *sharedBackground[T] {
	if s.bg == nil {
		s.bg = new(sharedBackground[T])
	}
	return s.bg
}

// vacantLocked reports whether r is neither open nor being reopened.
// Call with s.mu held.
func (s *Shared[T]) vacantLocked(r *replica[T]) bool {
	return r.cur.Load() == nil && (s.bg == nil || !s.bg.reopening[r])
}

// Warm opens every replica that is neither open nor being reopened, and
// returns the first error.
func (s *Shared[T]) Warm(ctx context.Context) error {
	reps := s.replicas()
	for i := range reps {
		r := &reps[i]
		s.mu.Lock()
		closed, vacant := s.closed.Load(), s.vacantLocked(r)
		s.mu.Unlock()
		if closed {
			return fmt.Errorf("pool %s: %w", s.o.Name(), ErrClosed)
		}
		if !vacant {
			continue
		}
		v, err := s.o.Open(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		closed, vacant = s.closed.Load(), s.vacantLocked(r)
		if !closed && vacant {
			r.cur.Store(&slot[T]{value: v})
		}
		s.mu.Unlock()
		if closed || !vacant {
			// Closed, or opened by another Warm meanwhile.
			s.closeValue(v)
		}
		if closed {
			return fmt.Errorf("pool %s: %w", s.o.Name(), ErrClosed)
		}
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
func (l *SharedLease[T]) Observe(latency time.Duration, failed bool) { l.r.observe(latency, failed) }

func (r *replica[T]) observe(latency time.Duration, failed bool) {
	const alpha = 0.2
	x := 0.0
	if failed {
		// A failed call's time says nothing of how fast the replica
		// serves: one that fails at once would look the fastest.
		x = 1
	} else if old := r.latency.Load(); old == 0 {
		r.latency.Store(int64(latency))
	} else {
		r.latency.Store(old + int64(alpha*float64(int64(latency)-old)))
	}
	rate := math.Float64frombits(r.errorRate.Load())
	r.errorRate.Store(math.Float64bits(rate + alpha*(x-rate)))
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
	w := s.win // made by the lease's Acquire
	w.setLevel(now, w.level-1)
	s.wakeCloseLocked()
	s.mu.Unlock()
}

// wakeCloseLocked wakes a Close waiting for the uses in flight to end.
// Call with s.mu held.
func (s *Shared[T]) wakeCloseLocked() {
	if s.bg != nil && s.bg.changed != nil {
		close(s.bg.changed)
		s.bg.changed = make(chan struct{})
	}
}

// Acquire leases a replica chosen by the pool's selection. It does not
// wait: when no replica is open it fails at once with ErrNoReplica.
func (s *Shared[T]) Acquire(ctx context.Context) (*SharedLease[T], error) {
	l := new(SharedLease[T])
	if err := s.AcquireInto(ctx, l); err != nil {
		return nil, err
	}
	return l, nil
}

// AcquireInto is Acquire into a lease the caller provides, l, which must
// be a zero SharedLease: one that is a field of the caller's own lease
// costs the pool no allocation.
func (s *Shared[T]) AcquireInto(ctx context.Context, l *SharedLease[T]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("pool %s: %w", s.o.Name(), ErrClosed)
	}
	r, sl := s.pick()
	if r == nil {
		return s.noReplica()
	}
	now := nanotime()
	s.mu.Lock()
	w := s.windowLocked()
	w.acquires++
	w.hit(now, w.level+1)
	s.mu.Unlock()
	l.s, l.r, l.sl = s, r, sl
	return nil
}

func (s *Shared[T]) noReplica() error {
	return fmt.Errorf("pool %s: all %d replicas are being reopened: %w", s.o.Name(), len(s.replicas()), ErrNoReplica)
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
	p, err := s.StartProbe()
	if err != nil {
		return err
	}
	err = check(ctx, p.Value())
	p.End(err != nil && failed(err))
	return err
}

// StartProbe is Probe in two steps, for a caller that checks many
// replicas of many pools in one go: it takes the next open replica, whose
// value the caller checks; End gives the outcome back.
func (s *Shared[T]) StartProbe() (SharedProbe[T], error) {
	if s.closed.Load() {
		return SharedProbe[T]{}, fmt.Errorf("pool %s: %w", s.o.Name(), ErrClosed)
	}
	r, sl := s.pick()
	if r == nil {
		return SharedProbe[T]{}, s.noReplica()
	}
	return SharedProbe[T]{s: s, r: r, value: sl.value, began: time.Now()}, nil
}

// SharedProbe is a probe of one replica, from StartProbe until End.
type SharedProbe[T any] struct {
	s     *Shared[T]
	r     *replica[T]
	value T
	began time.Time
}

// Value is the replica's value, to check.
func (p SharedProbe[T]) Value() T { return p.value }

// End ends the probe; failed says whether the check failed in a way that
// counts against the replica. It must be called once.
func (p SharedProbe[T]) End(failed bool) {
	p.r.observe(time.Since(p.began), failed)
	p.r.inflight.Add(-1)
	if s := p.s; s.closed.Load() {
		// Close counts probes among the uses in flight: wake it.
		s.mu.Lock()
		s.wakeCloseLocked()
		s.mu.Unlock()
	}
}

func (s *Shared[T]) pick() (*replica[T], *slot[T]) {
	reps := s.replicas()
	n := len(reps)
	if n == 1 {
		return take(&reps[0])
	}
	switch s.ext.settings.selection {
	case LeastLoaded:
		i := rand.IntN(n)
		j := (i + 1 + rand.IntN(n-1)) % n // a different replica
		a, b := &reps[i], &reps[j]
		if lessLoaded(b, a) {
			a, b = b, a
		}
		if rand.IntN(100) == 0 {
			a, b = b, a // the loser's probe
		}
		for _, r := range []*replica[T]{a, b} {
			if r, sl := take(r); r != nil {
				return r, sl
			}
		}
	case Weighted:
		var total float64
		weights := make([]float64, n)
		for i := range reps {
			if reps[i].cur.Load() != nil {
				weights[i] = successWeight(&reps[i])
				total += weights[i]
			}
		}
		x := rand.Float64() * total
		for i, w := range weights {
			if x -= w; w > 0 && x <= 0 {
				if r, sl := take(&reps[i]); r != nil {
					return r, sl
				}
			}
		}
	}
	// Round robin, and the fallback of the others: the next open replica.
	start := s.ext.next.Add(1)
	for i := range n {
		if r, sl := take(&reps[(int(start)+i)%n]); r != nil {
			return r, sl
		}
	}
	return nil, nil
}

// lessLoaded reports whether a is less loaded than b, for LeastLoaded:
// leases in flight times latency, divided by the success weight. A
// replica with no successful call yet is taken to be as fast as the
// other: a replica that has only failed must not look the fastest.
func lessLoaded[T any](a, b *replica[T]) bool {
	la, lb := a.latency.Load(), b.latency.Load()
	if la == 0 {
		la = lb
	}
	if lb == 0 {
		lb = la
	}
	return load(a, la) < load(b, lb)
}

func load[T any](r *replica[T], latency int64) float64 {
	return float64(r.inflight.Load()+1) * float64(latency+1) / successWeight(r)
}

// successWeight is a replica's weight by its recent error rate, from 1
// down to 0.01, which keeps a failing replica tried now and then. A rate
// under 5 % weighs 1: a replica that recovered (its rate decays by a
// fifth with each success) competes again on equal terms, rather than
// losing every tie to a replica that never failed.
func successWeight[T any](r *replica[T]) float64 {
	rate := math.Float64frombits(r.errorRate.Load())
	if rate < 0.05 {
		return 1
	}
	return math.Max(0.01, (1-rate)*(1-rate))
}

// take counts a lease on r if it is open.
func take[T any](r *replica[T]) (*replica[T], *slot[T]) {
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
	if s.closed.Load() || !r.cur.CompareAndSwap(broken, nil) {
		s.mu.Unlock()
		return
	}
	bg := s.backgroundLocked()
	bg.destroyedBroken++
	if bg.ctx == nil {
		bg.ctx, bg.cancel = context.WithCancel(context.Background())
		bg.reopening = make(map[*replica[T]]bool)
	}
	bg.reopening[r] = true
	bg.wg.Add(1)
	s.mu.Unlock()
	go s.reopen(bg, r, broken)
}

func (s *Shared[T]) reopen(bg *sharedBackground[T], r *replica[T], broken *slot[T]) {
	defer bg.wg.Done()
	set := s.settings()
	s.closeValue(broken.value)
	backoff := set.minBackoff
	for {
		ctx, cancel := context.WithTimeout(bg.ctx, set.openTimeout)
		v, err := s.o.Open(ctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			delete(bg.reopening, r)
			closed := s.closed.Load()
			if !closed {
				r.cur.Store(&slot[T]{value: v})
			}
			s.mu.Unlock()
			if closed {
				s.closeValue(v)
			}
			return
		}
		if bg.ctx.Err() == nil {
			s.o.OnError("open", err)
		}
		select {
		case <-bg.ctx.Done():
			s.mu.Lock()
			delete(bg.reopening, r)
			s.mu.Unlock()
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, set.maxBackoff)
	}
}

func (s *Shared[T]) closeValue(v T) {
	ctx, cancel := context.WithTimeout(context.Background(), s.settings().callTimeout)
	defer cancel()
	s.o.Close(ctx, v)
}

// windowStatLocked summarizes the window; a pool without one yet reads
// as a window that has recorded nothing since the pool began.
func (s *Shared[T]) windowStatLocked() WindowStat {
	now := nanotime()
	n := len(s.replicas())
	if s.win != nil {
		return s.win.stat(now, n, nil)
	}
	var w window
	w.init(s.born, s.settings().statWindow)
	return w.stat(now, n, nil)
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
	reps := s.replicas()
	st := Stat{
		MaxSize: len(reps), MinSize: len(reps),
		Replicas: make([]ReplicaStat, 0, len(reps)),
		Window:   s.windowStatLocked(),
	}
	if s.win != nil {
		st.AcquireCount = s.win.acquires
	}
	if bg := s.bg; bg != nil {
		st.DestroyedBroken, st.DestroyedClosed = bg.destroyedBroken, bg.destroyedClosed
		st.Constructing = len(bg.reopening)
	}
	for i := range reps {
		r := &reps[i]
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
		st.InUse += int(rs.InFlight)
		st.Replicas = append(st.Replicas, rs)
	}
	// Every replica opened is open still, or was closed broken or by
	// Close: a replica becomes open or stops being open only under mu.
	st.Created = int64(st.Total) + st.DestroyedBroken + st.DestroyedClosed
	return st
}

// Close stops new leases, waits until ctx ends for the leases in flight,
// closes every replica, and stops the reopens in progress. It is safe to
// call more than once: a later call waits for the first (until its own
// ctx ends) and returns the first's error.
func (s *Shared[T]) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed.Load() {
		// Another Close came first: wait for it, and say what it said.
		done := s.bg.closed
		s.mu.Unlock()
		select {
		case <-done:
			return s.bg.closeErr
		case <-ctx.Done():
			return fmt.Errorf("pool %s: still closing: %w", s.o.Name(), ctx.Err())
		}
	}
	s.closed.Store(true)
	bg := s.backgroundLocked()
	bg.changed = make(chan struct{})
	bg.closed = make(chan struct{})
	s.mu.Unlock()
	var err error
	defer func() {
		bg.closeErr = err
		close(bg.closed)
	}()
	reps := s.replicas()
	for {
		// Take the channel before counting, so that a release between the
		// two closes the channel this loop waits on.
		s.mu.Lock()
		ch := bg.changed
		s.mu.Unlock()
		var busy int64
		for i := range reps {
			busy += reps[i].inflight.Load()
		}
		if busy == 0 {
			break
		}
		select {
		case <-ch:
			continue
		case <-ctx.Done():
			// Count again: a lease may have ended since.
			busy = 0
			for i := range reps {
				busy += reps[i].inflight.Load()
			}
			if busy > 0 {
				err = fmt.Errorf("pool %s: closed with %s in flight: %w", s.o.Name(), plural(int(busy), "lease"), ctx.Err())
			}
		}
		break
	}
	// No reopen starts once closed is set: bg.cancel is final.
	if bg.cancel != nil {
		bg.cancel()
	}
	bg.wg.Wait()
	for i := range reps {
		s.mu.Lock()
		sl := reps[i].cur.Swap(nil)
		if sl != nil {
			bg.destroyedClosed++
		}
		s.mu.Unlock()
		if sl != nil {
			s.closeValue(sl.value)
		}
	}
	return err
}
