package pool

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Order is the order in which idle instances are handed out.
type Order string

const (
	// LIFO hands out the most recently used instance first, so that the
	// others age out when load falls. It is the default.
	LIFO Order = "lifo"
	// FIFO hands out the least recently used instance first, spreading
	// use over every instance.
	FIFO Order = "fifo"
)

// Config configures a Pool. Each field's zero value means the default it
// documents.
type Config[T any] struct {
	// Name names the pool in errors, for example "postgres.main".
	Name string
	// Open opens an instance. Required.
	Open func(ctx context.Context) (T, error)
	// Close closes an instance. Nil means instances need no closing.
	Close func(ctx context.Context, v T)
	// Check reports whether an instance still works. It is called on an
	// instance idle for longer than ValidateAfterIdle before it is handed
	// out. Nil means no check.
	Check func(ctx context.Context, v T) error
	// Reset returns an instance to a clean state when its lease ends. An
	// instance whose Reset fails is closed, not reused. Nil means no reset.
	Reset func(ctx context.Context, v T) error
	// NeedsReset reports whether an instance whose lease ends needs its
	// Reset; nil means every one does. One that needs none goes back at
	// once; one that does is reset in the background, and reaches no
	// other caller before its reset has succeeded.
	NeedsReset func(v T) bool
	// OnError, when set, hears of failures no caller sees: background
	// opens, resets and checks. op is "open", "reset" or "check".
	OnError func(op string, err error)

	// MinSize is how many instances the pool keeps open, idle or not.
	MinSize int
	// MaxSize caps the instances open at once. Default max(4, NumCPU).
	MaxSize int
	// MaxIdle caps the idle instances; an instance released beyond it is
	// closed. Zero means MaxSize; it must not be less than MinSize.
	MaxIdle int
	// IdleTimeout closes an instance idle for longer, down to MinSize.
	// Zero means never.
	IdleTimeout time.Duration
	// MaxLifetime closes an instance older than this (plus up to
	// LifetimeJitter) once it is idle. Zero means never.
	MaxLifetime time.Duration
	// LifetimeJitter spreads expiries so that instances opened together do
	// not all close together. Zero means MaxLifetime/10.
	LifetimeJitter time.Duration
	// AcquireTimeout bounds how long Acquire waits for an instance, on
	// top of the caller's context. Zero means only the context.
	AcquireTimeout time.Duration
	// ValidateAfterIdle makes Acquire Check an instance idle longer than
	// this before handing it out, and replace it if the check fails. Zero
	// means never.
	ValidateAfterIdle time.Duration
	// Order of idle instances. Default LIFO.
	Order Order
	// MaintenanceInterval is how often the pool evicts idle and expired
	// instances and refills to MinSize. Default 1s.
	MaintenanceInterval time.Duration
	// OpenTimeout bounds opens the pool does in the background. Default 30s.
	OpenTimeout time.Duration
	// CallTimeout bounds each Close, Reset and background Check. Default 10s.
	CallTimeout time.Duration
	// StatWindow is the span of the sliding window that Stat.Window
	// summarizes. Default DefaultStatWindow, 5 minutes.
	StatWindow time.Duration
}

// DefaultMaxSize is the MaxSize of a pool that sets none: max(4, NumCPU),
// as in pgxpool.
func DefaultMaxSize() int { return max(4, runtime.NumCPU()) }

// start is the origin of nanotime; time.Since is cheaper than time.Now.
// It is midnight UTC on 1 January 2000, where the fake clock of a
// testing/synctest bubble starts, but carries the monotonic reading of the
// moment the package was loaded, so that time.Since reads the monotonic
// clock outside a bubble. Inside one, where time.Now has no monotonic
// reading, nanotime is then the bubble's time, from 0: never negative, as
// the window requires, and advanced by the bubble's fake clock, so that
// tests can step the pools' timeouts and lifetimes. A clock set before
// 2000 starts nanotime at 0 when the package is loaded instead.
var start = func() time.Time {
	now := time.Now()
	if d := now.Sub(bubbleEpoch); d > 0 {
		return now.Add(-d)
	}
	return now
}()

// bubbleEpoch is where the clock of a testing/synctest bubble starts.
var bubbleEpoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

func nanotime() int64 { return int64(time.Since(start)) }

type entry[T any] struct {
	value     T
	created   int64 // nanotime
	expires   int64 // nanotime; 0 means never
	idleSince int64 // nanotime of the last release
	acquired  int64 // nanotime of the current lease
	gen       uint64
	inUse     bool
}

type handoff[T any] struct {
	e   *entry[T]
	gen uint64
	// err, instead of an instance: the open made for the waiter failed.
	err error
}

type waiter[T any] struct {
	ch     chan handoff[T] // buffered 1; closed when the pool closes
	queued bool
	// epoch is set by handOffLocked: the window bucket that counted the
	// acquire, to take it back from if the waiter gives the instance up.
	// Its low 32 bits are enough, and keep the waiter at 24 bytes.
	epoch uint32
	begin int64 // nanotime the acquire began, for the wait statistics
}

// delivery is a handoff decided under the lock and sent after it, so that
// the woken waiter does not run into the lock still held.
type delivery[T any] struct {
	w *waiter[T]
	h handoff[T]
}

func (d delivery[T]) send() {
	if d.w != nil {
		d.w.ch <- d.h
	}
}

// Pool is the exclusive pool: each lease has sole use of one instance until
// Release. Its methods are safe for concurrent use.
type Pool[T any] struct {
	cfg Config[T]

	// bg is canceled by Close; background opens run under it.
	bg       context.Context
	cancel   context.CancelFunc
	stop     chan struct{}
	wg       sync.WaitGroup // background goroutines: the maintainer, opens for waiters
	closeMu  sync.Mutex     // serializes Close
	closeErr error

	// mu guards every field below. It is never held across Open, Close,
	// Check or Reset.
	mu           sync.Mutex
	idle         deque[*entry[T]]
	all          map[*entry[T]]struct{}
	constructing int
	closing      int       // instances being closed outside the lock
	waiters      list.List // of *waiter[T], first come first served
	closed       bool
	drained      chan struct{} // closed and replaced when an instance goes away after Close
	st           counters
	// win is the sliding window of Stat.Window. Its level is the
	// instances in use, len(all) - idle.len(): levelLocked records it
	// wherever that may have changed.
	win window
}

type counters struct {
	acquires          int64
	acquireNanos      int64
	emptyAcquires     int64
	canceledAcquires  int64
	timeouts          int64
	created           int64
	destroyedIdle     int64
	destroyedLifetime int64
	destroyedBroken   int64
	destroyedClosed   int64
	resets            int64
}

// New returns a pool and starts its maintainer. It opens nothing: call
// Warm to open MinSize instances now, or let the maintainer do it.
func New[T any](cfg Config[T]) (*Pool[T], error) {
	if cfg.Open == nil {
		return nil, errors.New("pool: Config.Open is required")
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize()
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = cfg.MaxSize
	}
	switch {
	case cfg.MaxSize < 0, cfg.MinSize < 0, cfg.MaxIdle < 0:
		return nil, fmt.Errorf("pool %s: sizes must not be negative", cfg.Name)
	case cfg.MinSize > cfg.MaxSize:
		return nil, fmt.Errorf("pool %s: min_size %d is greater than max_size %d", cfg.Name, cfg.MinSize, cfg.MaxSize)
	case cfg.MaxIdle < cfg.MinSize:
		// The pool would close, as beyond max_idle, the idle instances it
		// opens to reach min_size, and open them again, forever.
		return nil, fmt.Errorf("pool %s: max_idle %d is less than min_size %d; raise max_idle or lower min_size", cfg.Name, cfg.MaxIdle, cfg.MinSize)
	}
	if cfg.LifetimeJitter == 0 {
		cfg.LifetimeJitter = cfg.MaxLifetime / 10
	}
	switch cfg.Order {
	case "":
		cfg.Order = LIFO
	case LIFO, FIFO:
	default:
		return nil, fmt.Errorf("pool %s: unknown order %q", cfg.Name, cfg.Order)
	}
	if cfg.MaintenanceInterval <= 0 {
		cfg.MaintenanceInterval = time.Second
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	bg, cancel := context.WithCancel(context.Background())
	p := &Pool[T]{
		cfg: cfg, bg: bg, cancel: cancel, stop: make(chan struct{}),
		all: map[*entry[T]]struct{}{}, drained: make(chan struct{}),
	}
	p.win.init(nanotime(), cfg.StatWindow)
	p.wg.Add(1)
	go p.maintain()
	return p, nil
}

// Lease is the use of one instance, from Acquire to Release or Destroy.
// It is a small value; copies refer to the same lease, and every method
// after the first Release or Destroy does nothing.
type Lease[T any] struct {
	p   *Pool[T]
	e   *entry[T]
	gen uint64
}

// Value returns the leased instance.
func (l Lease[T]) Value() T { return l.e.value }

// Release ends the lease: the instance is handed to the first waiter or
// kept idle, after a reset (Config.Reset) in the background when it needs
// one (Config.NeedsReset). An instance whose reset fails is closed.
// Release does not wait for the reset.
func (l Lease[T]) Release() {
	if l.p != nil {
		l.p.release(l.e, l.gen)
	}
}

// Destroy ends the lease and closes the instance, which is broken: it never
// reaches another caller.
func (l Lease[T]) Destroy() {
	if l.p != nil {
		l.p.destroy(l.e, l.gen, &l.p.st.destroyedBroken)
	}
}

// Active reports whether the lease has not ended.
func (l Lease[T]) Active() bool {
	if l.p == nil {
		return false
	}
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.e.inUse && l.e.gen == l.gen
}

// Acquire returns a lease on an idle instance, opens a new one when the
// pool is below MaxSize, or waits its turn. A wait that ends by the
// caller's deadline or AcquireTimeout returns an *ExhaustedError; one that
// ends by cancellation returns the context's error.
func (p *Pool[T]) Acquire(ctx context.Context) (Lease[T], error) {
	begin := nanotime()
	if err := ctx.Err(); err != nil {
		p.mu.Lock()
		p.st.canceledAcquires++
		p.mu.Unlock()
		return Lease[T]{}, err
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return Lease[T]{}, fmt.Errorf("pool %s: %w", p.cfg.Name, ErrClosed)
		}
		if p.idle.len() > 0 {
			var e *entry[T]
			if p.cfg.Order == FIFO {
				e = p.idle.popFront()
			} else {
				e = p.idle.popBack()
			}
			now := begin // one clock read per acquire: the hit path is short
			gen, ok := p.claimLocked(e, now)
			if !ok {
				p.mu.Unlock()
				p.closeValue(e.value)
				continue
			}
			validate := p.cfg.ValidateAfterIdle > 0 && p.cfg.Check != nil && now-e.idleSince > int64(p.cfg.ValidateAfterIdle)
			if !validate {
				p.st.acquires++
				p.win.hit(now, len(p.all)-p.idle.len())
				p.mu.Unlock()
				return Lease[T]{p: p, e: e, gen: gen}, nil
			}
			p.levelLocked(now)
			p.mu.Unlock()
			if err := p.check(ctx, e.value); err != nil {
				if ctx.Err() != nil {
					p.release(e, gen)
					return Lease[T]{}, ctx.Err()
				}
				p.destroy(e, gen, &p.st.destroyedBroken)
				continue
			}
			now = nanotime()
			p.mu.Lock()
			p.st.acquires++
			p.st.acquireNanos += now - begin
			p.win.acquired(now, now-begin, false)
			p.mu.Unlock()
			return Lease[T]{p: p, e: e, gen: gen}, nil
		}
		if len(p.all)+p.constructing < p.cfg.MaxSize {
			p.constructing++
			p.st.emptyAcquires++
			p.mu.Unlock()
			return p.openForCaller(ctx, begin)
		}
		p.st.emptyAcquires++
		w := &waiter[T]{ch: make(chan handoff[T], 1), queued: true, begin: begin}
		el := p.waiters.PushBack(w)
		p.mu.Unlock()
		return p.wait(ctx, w, el, begin)
	}
}

// TryAcquireIdle returns a lease on the instance idle longest, without
// waiting and without opening one; ok is false when none is idle. It is
// for background work such as health checks, which must never take a busy
// instance or make a caller wait, and it is not counted as an acquire.
func (p *Pool[T]) TryAcquireIdle() (l Lease[T], ok bool) {
	for {
		p.mu.Lock()
		if p.closed || p.idle.len() == 0 {
			p.mu.Unlock()
			return Lease[T]{}, false
		}
		e := p.idle.popFront() // released longest ago, in either order
		now := nanotime()
		gen, ok := p.claimLocked(e, now)
		p.levelLocked(now)
		p.mu.Unlock()
		if !ok {
			p.closeValue(e.value)
			continue
		}
		return Lease[T]{p: p, e: e, gen: gen}, true
	}
}

// claimLocked leases an entry just taken from the idle list, at now, and
// returns the lease's generation. An entry past its lifetime is removed
// instead (ok is false); the caller closes it after unlocking.
func (p *Pool[T]) claimLocked(e *entry[T], now int64) (gen uint64, ok bool) {
	if e.expires != 0 && now >= e.expires {
		p.removeLocked(e, &p.st.destroyedLifetime)
		return 0, false
	}
	e.inUse = true
	e.gen++
	e.acquired = now
	return e.gen, true
}

// levelLocked records in the window the instances in use at now.
func (p *Pool[T]) levelLocked(now int64) {
	p.win.setLevel(now, len(p.all)-p.idle.len())
}

// DrainIdle closes every idle instance and returns how many it closed; they
// count as destroyed broken. The host calls it when health checks find the
// backend down, since the idle sessions are then most likely dead.
func (p *Pool[T]) DrainIdle() int {
	p.mu.Lock()
	var doomed []T
	p.idle.filter(func(e *entry[T]) bool {
		p.removeLocked(e, &p.st.destroyedBroken)
		doomed = append(doomed, e.value)
		return false
	})
	p.mu.Unlock()
	for _, v := range doomed {
		p.closeValue(v)
	}
	return len(doomed)
}

func (p *Pool[T]) openForCaller(ctx context.Context, begin int64) (Lease[T], error) {
	octx, cancel := p.boundAcquire(ctx)
	v, err := p.cfg.Open(octx)
	cancel()
	p.mu.Lock()
	p.constructing--
	p.notifyLocked()
	if err != nil {
		// The slot this caller held is free again: let a waiter use it.
		p.fillForWaitersLocked()
		p.mu.Unlock()
		return Lease[T]{}, err
	}
	if p.closed {
		p.closing++
		p.mu.Unlock()
		p.closeValue(v)
		return Lease[T]{}, fmt.Errorf("pool %s: %w", p.cfg.Name, ErrClosed)
	}
	e := p.addLocked(v)
	e.inUse = true
	e.gen++
	e.acquired = nanotime()
	p.st.acquires++
	p.st.acquireNanos += e.acquired - begin
	p.win.acquired(e.acquired, e.acquired-begin, true)
	p.levelLocked(e.acquired)
	gen := e.gen
	p.mu.Unlock()
	return Lease[T]{p: p, e: e, gen: gen}, nil
}

func (p *Pool[T]) boundAcquire(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.cfg.AcquireTimeout > 0 {
		return context.WithTimeout(ctx, p.cfg.AcquireTimeout)
	}
	return ctx, noCancel
}

func noCancel() {}

func (p *Pool[T]) wait(ctx context.Context, w *waiter[T], el *list.Element, begin int64) (Lease[T], error) {
	var timeout <-chan time.Time
	if p.cfg.AcquireTimeout > 0 {
		left := time.Duration(int64(p.cfg.AcquireTimeout) - (nanotime() - begin))
		t := time.NewTimer(left)
		defer t.Stop()
		timeout = t.C
	}
	var cause error
	select {
	case h, ok := <-w.ch:
		if !ok {
			return Lease[T]{}, fmt.Errorf("pool %s: %w", p.cfg.Name, ErrClosed)
		}
		if h.err != nil {
			return Lease[T]{}, h.err
		}
		return Lease[T]{p: p, e: h.e, gen: h.gen}, nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timeout:
		cause = ErrAcquireTimeout
	}

	now := nanotime()
	p.mu.Lock()
	if !w.queued {
		// An instance was handed over as the wait ended: give it back.
		p.mu.Unlock()
		// Not ok: Close closed the channel, and nothing was handed over;
		// nor by an open's error.
		h, ok := <-w.ch
		ok = ok && h.err == nil
		var wait int64
		if ok {
			wait = h.e.acquired - begin // as handOffLocked counted it
			p.release(h.e, h.gen)
		}
		p.mu.Lock()
		if ok { // handOffLocked counted an acquire this caller gave up
			p.st.acquires--
			p.win.unacquire(w.epoch, wait)
		}
	} else {
		p.waiters.Remove(el)
		w.queued = false
	}
	waiting := p.waiters.Len() + 1
	size := len(p.all)
	if errors.Is(cause, context.Canceled) {
		p.st.canceledAcquires++
		p.mu.Unlock()
		return Lease[T]{}, cause
	}
	p.st.timeouts++
	p.win.timedOut(now, now-begin)
	p.mu.Unlock()
	return Lease[T]{}, &ExhaustedError{
		Pool: p.cfg.Name, Size: size, MaxSize: p.cfg.MaxSize, Waiting: waiting,
		Waited: time.Duration(nanotime() - begin), Err: cause,
	}
}

func (p *Pool[T]) check(ctx context.Context, v T) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	err := p.cfg.Check(ctx, v)
	if err != nil && ctx.Err() == nil && p.cfg.OnError != nil {
		p.cfg.OnError("check", err)
	}
	return err
}

// release ends a lease: hand the instance over or keep it idle, after a
// reset in the background when it needs one. The releasing caller never
// waits for a reset.
func (p *Pool[T]) release(e *entry[T], gen uint64) {
	reset := p.cfg.Reset != nil && (p.cfg.NeedsReset == nil || p.cfg.NeedsReset(e.value))
	now := nanotime() // read before the lock, to keep it short
	p.mu.Lock()
	if !e.inUse || e.gen != gen {
		p.mu.Unlock()
		return
	}
	e.gen++ // the lease is over; copies of it are now stale
	if !reset || p.closed {
		closeIt, d := p.putBackLocked(e, now)
		p.levelLocked(now)
		p.mu.Unlock()
		d.send()
		if closeIt {
			p.closeValue(e.value)
		}
		return
	}
	p.st.resets++
	p.wg.Add(1) // under mu, with closing counted: Close cannot be in wg.Wait yet
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.resetAndPutBack(e)
	}()
}

// resetAndPutBack resets a released instance, which stays in use until
// then, and hands it over or keeps it idle; one whose reset fails is
// closed.
func (p *Pool[T]) resetAndPutBack(e *entry[T]) {
	ctx, cancel := context.WithTimeout(p.bg, p.cfg.CallTimeout)
	err := p.cfg.Reset(ctx, e.value)
	cancel()
	now := nanotime()
	p.mu.Lock()
	if _, ok := p.all[e]; !ok {
		// Close took the instance back when its context ended, and
		// closes it: it is no longer the pool's.
		p.mu.Unlock()
		return
	}
	var closeIt bool
	var d delivery[T]
	if err != nil {
		if p.cfg.OnError != nil {
			p.cfg.OnError("reset", err)
		}
		p.removeLocked(e, &p.st.destroyedBroken)
		p.fillForWaitersLocked()
		closeIt = true
	} else {
		closeIt, d = p.putBackLocked(e, now)
	}
	p.levelLocked(now)
	p.mu.Unlock()
	d.send()
	if closeIt {
		p.closeValue(e.value)
	}
}

// putBackLocked hands a released instance to the first waiter (the
// returned delivery, to send after unlocking) or keeps it idle. It reports
// whether the instance must be closed instead.
func (p *Pool[T]) putBackLocked(e *entry[T], now int64) (bool, delivery[T]) {
	switch {
	case p.closed:
		p.removeLocked(e, &p.st.destroyedClosed)
		return true, delivery[T]{}
	case e.expires != 0 && now >= e.expires:
		p.removeLocked(e, &p.st.destroyedLifetime)
		p.fillForWaitersLocked()
		return true, delivery[T]{}
	}
	if d, ok := p.handOffLocked(e, now); ok {
		return false, d
	}
	if p.idle.len() >= p.cfg.MaxIdle {
		p.removeLocked(e, &p.st.destroyedIdle)
		return true, delivery[T]{}
	}
	e.inUse = false
	e.idleSince = now
	p.idle.pushBack(e)
	return false, delivery[T]{}
}

// handOffLocked leases e to the first waiter, if there is one, and counts
// its acquire. The caller sends the delivery after unlocking.
func (p *Pool[T]) handOffLocked(e *entry[T], now int64) (delivery[T], bool) {
	front := p.waiters.Front()
	if front == nil {
		return delivery[T]{}, false
	}
	w := p.waiters.Remove(front).(*waiter[T])
	w.queued = false
	e.inUse = true
	e.gen++
	e.acquired = now
	p.st.acquires++
	p.st.acquireNanos += now - w.begin
	p.win.acquired(now, now-w.begin, true)
	w.epoch = uint32(p.win.epoch)
	return delivery[T]{w: w, h: handoff[T]{e: e, gen: e.gen}}, true
}

// destroy ends a lease and closes its instance in the background, as
// puddle does: closing a broken session can block (on a call still running
// in it, say), and the caller should not wait for that. Close waits for it.
func (p *Pool[T]) destroy(e *entry[T], gen uint64, reason *int64) {
	p.mu.Lock()
	if !e.inUse || e.gen != gen {
		p.mu.Unlock()
		return
	}
	e.gen++
	p.removeLocked(e, reason)
	p.levelLocked(nanotime())
	p.fillForWaitersLocked()
	p.wg.Add(1) // under mu, with closing counted: Close cannot be in wg.Wait yet
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.closeValue(e.value)
	}()
}

func (p *Pool[T]) addLocked(v T) *entry[T] {
	now := nanotime()
	e := &entry[T]{value: v, created: now, idleSince: now}
	if p.cfg.MaxLifetime > 0 {
		e.expires = now + int64(p.cfg.MaxLifetime)
		if p.cfg.LifetimeJitter > 0 {
			e.expires += rand.Int64N(int64(p.cfg.LifetimeJitter))
		}
	}
	p.all[e] = struct{}{}
	p.st.created++
	return e
}

func (p *Pool[T]) removeLocked(e *entry[T], reason *int64) {
	if _, ok := p.all[e]; !ok {
		return
	}
	delete(p.all, e)
	e.inUse = false
	*reason++
	p.closing++ // every removal is followed by closeValue, which counts it down
	p.notifyLocked()
}

// notifyLocked wakes Close, which waits for instances to go away.
func (p *Pool[T]) notifyLocked() {
	if p.closed {
		close(p.drained)
		p.drained = make(chan struct{})
	}
}

// fillForWaitersLocked opens instances in the background for waiters that
// no open in progress will serve, within MaxSize.
func (p *Pool[T]) fillForWaitersLocked() {
	for !p.closed && p.waiters.Len() > p.constructing && len(p.all)+p.constructing < p.cfg.MaxSize {
		p.constructing++
		p.wg.Add(1)
		go p.openInBackground()
	}
}

// openInBackground opens one instance for the pool, for a waiter or to
// reach MinSize.
func (p *Pool[T]) openInBackground() {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.bg, p.cfg.OpenTimeout)
	v, err := p.cfg.Open(ctx)
	cancel()
	err = p.adopt(v, err)
	if err != nil && !errors.Is(err, ErrClosed) && p.cfg.OnError != nil && p.bg.Err() == nil {
		p.cfg.OnError("open", err)
	}
}

// adopt finishes an open that was counted in p.constructing: it hands the
// new instance to the first waiter or keeps it idle, or closes it when the
// pool closed meanwhile. It returns the open's error, or an error wrapping
// ErrClosed.
func (p *Pool[T]) adopt(v T, openErr error) error {
	p.mu.Lock()
	p.constructing--
	p.notifyLocked()
	if openErr != nil {
		// The open was made for a waiter (or to reach MinSize): the first
		// waiter gets its error now, as a caller that opens for itself
		// does, rather than an exhaustion at its acquire timeout with
		// nothing in use.
		var d delivery[T]
		if front := p.waiters.Front(); front != nil && !p.closed && !errors.Is(openErr, context.Canceled) {
			w := p.waiters.Remove(front).(*waiter[T])
			w.queued = false
			d = delivery[T]{w: w, h: handoff[T]{err: openErr}}
			// The waiters behind it get opens of their own, whose errors
			// (or instances) reach them in turn.
			p.fillForWaitersLocked()
		}
		p.mu.Unlock()
		d.send()
		return openErr
	}
	if p.closed {
		p.closing++
		p.mu.Unlock()
		p.closeValue(v)
		return fmt.Errorf("pool %s: %w", p.cfg.Name, ErrClosed)
	}
	e := p.addLocked(v)
	e.inUse = true // putBackLocked expects a leased instance
	now := nanotime()
	closeIt, d := p.putBackLocked(e, now)
	p.levelLocked(now)
	p.mu.Unlock()
	d.send()
	if closeIt {
		p.closeValue(v)
	}
	return nil
}

// closeValue closes an instance removed from the pool (or never added),
// outside the lock, and lets Close know it is done. The caller counted it
// in p.closing under the lock.
func (p *Pool[T]) closeValue(v T) {
	if p.cfg.Close != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.bg), p.cfg.CallTimeout)
		p.cfg.Close(ctx, v)
		cancel()
	}
	p.mu.Lock()
	p.closing--
	p.notifyLocked()
	p.mu.Unlock()
}

// Warm opens instances until the pool holds MinSize, and returns the first
// error.
func (p *Pool[T]) Warm(ctx context.Context) error {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return fmt.Errorf("pool %s: %w", p.cfg.Name, ErrClosed)
		}
		if len(p.all)+p.constructing >= p.cfg.MinSize {
			p.mu.Unlock()
			return nil
		}
		p.constructing++
		p.mu.Unlock()
		if err := p.adopt(p.cfg.Open(ctx)); err != nil {
			return err
		}
	}
}

// maintain evicts idle and expired instances and refills to MinSize, every
// MaintenanceInterval, until Close.
func (p *Pool[T]) maintain() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.MaintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.evict()
		p.mu.Lock()
		for !p.closed && len(p.all)+p.constructing < p.cfg.MinSize {
			p.constructing++
			p.wg.Add(1)
			go p.openInBackground()
		}
		p.mu.Unlock()
	}
}

// evict closes idle instances past IdleTimeout (down to MinSize) and idle
// instances past their lifetime.
func (p *Pool[T]) evict() {
	p.mu.Lock()
	now := nanotime()
	var doomed []T
	keep := len(p.all)
	p.idle.filter(func(e *entry[T]) bool {
		switch {
		case e.expires != 0 && now >= e.expires:
			p.removeLocked(e, &p.st.destroyedLifetime)
		case p.cfg.IdleTimeout > 0 && now-e.idleSince > int64(p.cfg.IdleTimeout) && keep > p.cfg.MinSize:
			p.removeLocked(e, &p.st.destroyedIdle)
		default:
			return true
		}
		keep--
		doomed = append(doomed, e.value)
		return false
	})
	p.mu.Unlock()
	for _, v := range doomed {
		p.closeValue(v)
	}
}

// Close stops the pool: waiters fail with ErrClosed, idle instances close
// now, and leased ones close when released. Close waits for the leases
// out, for opens in progress and for instances being closed, until ctx
// ends; then it closes the leased instances itself (their holders'
// Release does nothing), and an open still in progress closes its
// instance when it returns. Close waits for the pool's goroutines, and is
// safe to call more than once.
//
// Close returns nil when every instance was closed, even if ctx ended
// meanwhile. Otherwise its error says how many leased instances it took
// back and how many opens and closes were still in progress when it
// returned, and wraps ctx's error.
func (p *Pool[T]) Close(ctx context.Context) error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.closeErr
	}
	p.closed = true
	for el := p.waiters.Front(); el != nil; el = el.Next() {
		w := el.Value.(*waiter[T])
		w.queued = false
		close(w.ch)
	}
	p.waiters.Init()
	var idle []T
	for p.idle.len() > 0 {
		e := p.idle.popBack()
		p.removeLocked(e, &p.st.destroyedClosed)
		idle = append(idle, e.value)
	}
	p.mu.Unlock()
	close(p.stop)
	for _, v := range idle {
		p.closeValue(v)
	}

	taken, expired := 0, false
	for !expired {
		p.mu.Lock()
		left := len(p.all) + p.constructing + p.closing
		drained := p.drained
		p.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-drained:
			continue
		case <-ctx.Done():
			expired = true
		}
		taken = p.takeBack()
	}
	p.cancel()
	p.wg.Wait()
	if !expired {
		return nil
	}
	p.mu.Lock()
	opening, closing := p.constructing, p.closing
	p.mu.Unlock()
	var left []string
	if taken > 0 {
		left = append(left, plural(taken, "leased instance")+" taken back and closed")
	}
	if closing > 0 {
		left = append(left, plural(closing, "instance")+" still closing")
	}
	if opening > 0 {
		left = append(left, plural(opening, "open")+" still in progress")
	}
	if len(left) > 0 {
		p.closeErr = fmt.Errorf("pool %s: closed after its context ended, with %s: %w", p.cfg.Name, strings.Join(left, ", "), ctx.Err())
	}
	return p.closeErr
}

// takeBack ends the leases still out when Close's context ends, closes
// their instances, and returns how many it took. The instances being
// reset count among them.
func (p *Pool[T]) takeBack() int {
	p.mu.Lock()
	var taken []T
	for e := range p.all {
		e.gen++
		p.removeLocked(e, &p.st.destroyedClosed)
		taken = append(taken, e.value)
	}
	p.levelLocked(nanotime())
	p.mu.Unlock()
	for _, v := range taken {
		p.closeValue(v)
	}
	return len(taken)
}

// plural returns n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
