package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

// This file checks the exclusive and shared pools against models with
// rapid, as property_test.go does, with two more kinds of step: the clock
// advances, which lets the maintainer evict idle and expired instances
// and refill to min_size, and acquires time out; and Close comes at any
// step, with leases out, waiters waiting and instances closing, under a
// context that never ends, has ended, or ends later. Each case runs in a
// testing/synctest bubble (rapid.SyncTest), whose fake clock the pools
// read: the steps happen at multiples of clockGrid, and what the pools do
// on their own (a broken instance's close, an acquire's timeout) between
// them, so that the model knows the order of every event. A failure
// prints the seed to replay it with -rapid.seed.

const (
	// clockGrid is the unit of the clock steps, and of every timeout
	// and lifetime the models configure but two.
	clockGrid = 100 * time.Millisecond
	// tick is the pools' MaintenanceInterval.
	tick = time.Second
	// brokenClose is how long the backend takes to close a destroyed
	// instance; acquireTimeout the pool's AcquireTimeout when one is set.
	// Both are off the grid, so that what they end never coincides with a
	// step, a tick or a lifetime.
	brokenClose    = 1550 * time.Millisecond
	acquireTimeout = 2550 * time.Millisecond
)

// clockBackend opens instances numbered from 1 in order, takes
// brokenClose to close a destroyed one, and records each close.
type clockBackend struct {
	mu      sync.Mutex
	next    int64
	broken  map[int64]bool
	closed  map[int64]int
	doubled []int64
}

func newClockBackend() *clockBackend {
	return &clockBackend{broken: map[int64]bool{}, closed: map[int64]int{}}
}

func (b *clockBackend) open(context.Context) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return b.next, nil
}

func (b *clockBackend) close(_ context.Context, v int64) {
	b.mu.Lock()
	slow := b.broken[v]
	b.mu.Unlock()
	if slow {
		time.Sleep(brokenClose)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed[v]++
	if b.closed[v] > 1 {
		b.doubled = append(b.doubled, v)
	}
}

func (b *clockBackend) closedCount(v int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed[v]
}

func (b *clockBackend) markBroken(v int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken[v] = true
}

// clockEntry is an instance the model knows: its number, when it was
// opened and when it was last released. The maintainer opens several at
// once, in no set order: the model knows only that each of them is one
// of batch, until one is leased.
type clockEntry struct {
	v                  int64
	batch              *[]int64
	created, idleSince time.Duration
}

type clockLease struct {
	l pool.Lease[int64]
	e *clockEntry
}

type clockWaiter struct {
	id       int
	cancel   context.CancelFunc
	deadline time.Duration // 0: none
}

// clockModel is what the pool should hold at m.now, the bubble's time.
type clockModel struct {
	t       *rapid.T
	p       *pool.Pool[int64]
	b       *clockBackend
	cfg     pool.Config[int64]
	results chan acquired
	now     time.Duration
	begin   time.Time

	created, acquires, empty, canceled, timeouts                       int64
	destroyedIdle, destroyedLifetime, destroyedBroken, destroyedClosed int64

	idle    []*clockEntry // in the pool's order: oldest release first
	leases  []clockLease  // leases out
	stale   []clockLease  // leases Close took back
	held    map[int64]bool
	waiters []clockWaiter
	nextW   int
	closing []time.Duration // when each close of a destroyed instance ends

	// Close: whether it began, its deadline (0: none), whether that
	// passed, how many leases it took back, and what it returned.
	closed, passed bool
	deadline       time.Duration
	taken          int
	closeDone      chan error
	returned       bool
}

func newClockModel(t *rapid.T) *clockModel {
	maxSize := rapid.IntRange(1, 4).Draw(t, "max_size")
	minSize := rapid.IntRange(0, maxSize).Draw(t, "min_size")
	maxIdle := rapid.IntRange(max(minSize, 1), maxSize).Draw(t, "max_idle")
	b := newClockBackend()
	cfg := pool.Config[int64]{
		Name: "clock", Open: b.open, Close: b.close,
		MinSize: minSize, MaxSize: maxSize, MaxIdle: maxIdle,
		Order:               rapid.SampledFrom([]pool.Order{pool.LIFO, pool.FIFO}).Draw(t, "order"),
		IdleTimeout:         rapid.SampledFrom([]time.Duration{0, 1500 * time.Millisecond, 2500 * time.Millisecond}).Draw(t, "idle_timeout"),
		MaxLifetime:         rapid.SampledFrom([]time.Duration{0, 2 * time.Second, 3500 * time.Millisecond}).Draw(t, "max_lifetime"),
		LifetimeJitter:      time.Nanosecond, // no jitter: Int64N(1) is 0
		AcquireTimeout:      rapid.SampledFrom([]time.Duration{0, acquireTimeout}).Draw(t, "acquire_timeout"),
		MaintenanceInterval: tick,
	}
	m := &clockModel{
		t: t, b: b, cfg: cfg, held: map[int64]bool{}, begin: time.Now(),
		results: make(chan acquired, 64), closeDone: make(chan error, 1),
	}
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	m.p = p
	return m
}

func (m *clockModel) total() int { return len(m.leases) + len(m.idle) }

func (m *clockModel) expired(e *clockEntry, at time.Duration) bool {
	return m.cfg.MaxLifetime > 0 && at >= e.created+m.cfg.MaxLifetime
}

// settle waits until every goroutine of the bubble is blocked, and checks
// that the fake clock reads m.now.
func (m *clockModel) settle() {
	m.t.Helper()
	synctest.Wait()
	if now := time.Since(m.begin); now != m.now {
		m.t.Fatalf("the clock reads %v, the model %v", now, m.now)
	}
}

// grant records a lease the pool handed out on e.
func (m *clockModel) grant(l pool.Lease[int64], e *clockEntry) {
	m.t.Helper()
	v := l.Value()
	switch {
	case e.v != 0 && v != e.v:
		m.t.Fatalf("leased instance %d, want %d", v, e.v)
	case e.v == 0:
		i := slices.Index(*e.batch, v)
		if i < 0 {
			m.t.Fatalf("leased instance %d, want one of %v", v, *e.batch)
		}
		*e.batch = slices.Delete(*e.batch, i, i+1)
		e.v, e.batch = v, nil
	}
	if m.held[v] {
		m.t.Fatalf("instance %d leased twice", v)
	}
	if m.b.closedCount(v) > 0 {
		m.t.Fatalf("leased instance %d, which was closed", v)
	}
	m.held[v] = true
	m.leases = append(m.leases, clockLease{l: l, e: e})
	m.acquires++
}

// result returns the next waiter's result, which settle let arrive.
func (m *clockModel) result() acquired {
	m.t.Helper()
	select {
	case r := <-m.results:
		return r
	default:
		m.t.Fatalf("no waiter returned from Acquire")
		return acquired{}
	}
}

// serve checks that the first waiter got a lease on e.
func (m *clockModel) serve(e *clockEntry) {
	m.t.Helper()
	m.settle()
	front := m.waiters[0]
	r := m.result()
	if r.waiter != front.id {
		m.t.Fatalf("waiter %d was served before waiter %d, who came first", r.waiter, front.id)
	}
	if r.err != nil {
		m.t.Fatalf("waiter %d: %v", r.waiter, r.err)
	}
	front.cancel()
	m.waiters = m.waiters[1:]
	m.grant(r.lease.(pool.Lease[int64]), e)
}

func (m *clockModel) newEntry() *clockEntry {
	m.created++
	return &clockEntry{v: m.created, created: m.now, idleSince: m.now}
}

func (m *clockModel) acquire(t *rapid.T) {
	if m.closed {
		if _, err := m.p.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
		}
		return
	}
	for len(m.idle) > 0 {
		var e *clockEntry
		if m.cfg.Order == pool.FIFO {
			e, m.idle = m.idle[0], m.idle[1:]
		} else {
			e, m.idle = m.idle[len(m.idle)-1], m.idle[:len(m.idle)-1]
		}
		if m.expired(e, m.now) {
			m.destroyedLifetime++
			continue
		}
		l, err := m.p.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Acquire with an idle instance: %v", err)
		}
		m.grant(l, e)
		return
	}
	m.empty++
	if m.total() < m.cfg.MaxSize {
		l, err := m.p.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Acquire below max_size: %v", err)
		}
		m.grant(l, m.newEntry())
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := clockWaiter{id: m.nextW, cancel: cancel}
	if m.cfg.AcquireTimeout > 0 {
		w.deadline = m.now + m.cfg.AcquireTimeout
	}
	m.nextW++
	m.waiters = append(m.waiters, w)
	go func() {
		l, err := m.p.Acquire(ctx)
		m.results <- acquired{waiter: w.id, lease: l, err: err}
	}()
	m.settle()
	if got := m.p.Stat().Waiting; got != len(m.waiters) {
		t.Fatalf("pool counts %d waiters, want %d", got, len(m.waiters))
	}
}

// take removes a lease the action draws from those out, Close's taken
// back ones included.
func (m *clockModel) take(t *rapid.T) (clockLease, bool) {
	n := len(m.leases) + len(m.stale)
	if n == 0 {
		t.Skip("no lease out")
	}
	i := rapid.IntRange(0, n-1).Draw(t, "lease")
	if i >= len(m.leases) {
		return m.stale[i-len(m.leases)], false // stays: its release does nothing
	}
	l := m.leases[i]
	m.leases = slices.Delete(m.leases, i, i+1)
	delete(m.held, l.e.v)
	return l, true
}

func (m *clockModel) release(t *rapid.T) {
	l, active := m.take(t)
	l.l.Release()
	m.settle()
	switch e := l.e; {
	case !active:
	case m.closed:
		m.destroyedClosed++
		m.closeIfDone()
	case m.expired(e, m.now):
		m.destroyedLifetime++
		if len(m.waiters) > 0 {
			m.serve(m.newEntry())
		}
	case len(m.waiters) > 0:
		m.serve(e)
	case len(m.idle) >= m.cfg.MaxIdle:
		m.destroyedIdle++
	default:
		e.idleSince = m.now
		m.idle = append(m.idle, e)
	}
}

func (m *clockModel) destroy(t *rapid.T) {
	l, active := m.take(t)
	if active {
		m.b.markBroken(l.e.v)
	}
	l.l.Destroy()
	m.settle()
	if !active {
		return
	}
	m.destroyedBroken++
	m.closing = append(m.closing, m.now+brokenClose)
	if !m.closed && len(m.waiters) > 0 {
		// The freed slot is opened again in the background for the first
		// waiter.
		m.serve(m.newEntry())
	}
}

func (m *clockModel) cancel(t *rapid.T) {
	if len(m.waiters) == 0 {
		t.Skip("no waiter")
	}
	i := rapid.IntRange(0, len(m.waiters)-1).Draw(t, "waiter")
	w := m.waiters[i]
	w.cancel()
	m.settle()
	r := m.result()
	if r.waiter != w.id || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled waiter %d: got waiter %d with lease %v, error %v; want context.Canceled", w.id, r.waiter, r.lease, r.err)
	}
	m.waiters = slices.Delete(m.waiters, i, i+1)
	m.canceled++
}

func (m *clockModel) warm(t *rapid.T) {
	err := m.p.Warm(context.Background())
	if m.closed {
		if !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Warm after Close: %v, want ErrClosed", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Warm: %v", err)
	}
	for m.total() < m.cfg.MinSize {
		m.idle = append(m.idle, m.newEntry())
	}
}

// advance steps the clock by a few grid units, and plays the events in
// between in the model, in order: the maintainer's ticks, the acquires'
// timeouts, the ends of closes, and Close's deadline.
func (m *clockModel) advance(t *rapid.T) {
	d := time.Duration(rapid.IntRange(1, 40).Draw(t, "grid_units")) * clockGrid
	target := m.now + d
	time.Sleep(d)
	var timedOut []int
	for {
		next := target + 1
		if !m.closed {
			next = min(next, (m.now/tick+1)*tick)
		}
		for _, w := range m.waiters {
			if w.deadline != 0 {
				next = min(next, w.deadline)
			}
		}
		for _, c := range m.closing {
			next = min(next, c)
		}
		if m.closed && !m.passed && m.deadline != 0 {
			next = min(next, m.deadline)
		}
		if next > target {
			break
		}
		m.now = next
		if !m.closed && m.now%tick == 0 {
			m.maintain()
		}
		m.waiters = slices.DeleteFunc(m.waiters, func(w clockWaiter) bool {
			if w.deadline == m.now {
				timedOut = append(timedOut, w.id)
				m.timeouts++
				return true
			}
			return false
		})
		m.closing = slices.DeleteFunc(m.closing, func(c time.Duration) bool { return c == m.now })
		if m.closed && !m.passed && m.deadline == m.now {
			m.expire()
		}
		m.closeIfDone()
	}
	m.now = target
	m.settle()
	for range timedOut {
		r := m.result()
		if !slices.Contains(timedOut, r.waiter) || !errors.Is(r.err, pool.ErrAcquireTimeout) {
			t.Fatalf("waiter %d: lease %v, error %v; want waiters %v to time out", r.waiter, r.lease, r.err, timedOut)
		}
	}
	for _, id := range timedOut {
		m.cancelWaiter(id)
	}
}

func (m *clockModel) cancelWaiter(id int) {
	for _, w := range m.waiters {
		if w.id == id {
			w.cancel()
		}
	}
}

// maintain plays a maintainer's tick at m.now: instances idle past
// IdleTimeout go, down to MinSize, and expired ones, in the pool's order;
// then opens bring the pool back to MinSize.
func (m *clockModel) maintain() {
	keep := m.total()
	m.idle = slices.DeleteFunc(m.idle, func(e *clockEntry) bool {
		switch {
		case m.expired(e, m.now):
			m.destroyedLifetime++
		case m.cfg.IdleTimeout > 0 && m.now-e.idleSince > m.cfg.IdleTimeout && keep > m.cfg.MinSize:
			m.destroyedIdle++
		default:
			return false
		}
		keep--
		return true
	})
	if n := m.cfg.MinSize - m.total(); n > 0 {
		// The opens run at once, and adopt their instances in any order.
		batch := new([]int64)
		for range n {
			e := m.newEntry()
			*batch = append(*batch, e.v)
			e.v, e.batch = 0, batch
			m.idle = append(m.idle, e)
		}
	}
}

// close begins Close with a context that never ends, has ended, or ends
// a few grid units later, and plays it in the model: waiters fail with
// ErrClosed and idle instances close at once.
// drawCloseContext draws Close's context: one that never ends, one that
// has ended, or one whose deadline d comes a few grid units later.
func drawCloseContext(t *rapid.T) (ctx context.Context, cancel context.CancelFunc, d time.Duration) {
	ctx, cancel = context.Background(), func() {}
	switch rapid.IntRange(0, 2).Draw(t, "close_context") {
	case 1:
		ctx, cancel = context.WithCancel(ctx)
		cancel()
	case 2:
		d = time.Duration(rapid.IntRange(1, 30).Draw(t, "close_grid_units")) * clockGrid
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	return ctx, cancel, d
}

func (m *clockModel) close(t *rapid.T) {
	if m.closed {
		t.Skip("closed already")
	}
	ctx, cancel, d := drawCloseContext(t)
	if d > 0 {
		m.deadline = m.now + d
	}
	m.closed = true
	go func() {
		defer cancel()
		m.closeDone <- m.p.Close(ctx)
	}()
	m.settle()
	var ids []int
	for range m.waiters {
		r := m.result()
		if !errors.Is(r.err, pool.ErrClosed) {
			t.Fatalf("waiter %d after Close: lease %v, error %v; want ErrClosed", r.waiter, r.lease, r.err)
		}
		ids = append(ids, r.waiter)
	}
	for _, w := range m.waiters {
		w.cancel()
		if !slices.Contains(ids, w.id) {
			t.Fatalf("waiter %d did not return from Acquire after Close", w.id)
		}
	}
	m.waiters = nil
	m.destroyedClosed += int64(len(m.idle))
	m.idle = nil
	if ctx.Err() != nil {
		m.expireIfLeft()
	}
	m.closeIfDone()
}

// expireIfLeft plays Close's deadline now, if anything is left to wait
// for.
func (m *clockModel) expireIfLeft() {
	if len(m.leases)+len(m.closing) > 0 {
		m.expire()
	}
}

// expire plays the end of Close's context with leases out or instances
// closing: Close takes the leases back and closes them, then waits for
// the closes in the background.
func (m *clockModel) expire() {
	m.passed = true
	m.taken = len(m.leases)
	m.destroyedClosed += int64(len(m.leases))
	for _, l := range m.leases {
		delete(m.held, l.e.v)
	}
	m.stale = append(m.stale, m.leases...)
	m.leases = nil
}

// closeIfDone notes that Close has returned when nothing is left for it.
func (m *clockModel) closeIfDone() {
	if m.closed && !m.returned && len(m.leases) == 0 && len(m.closing) == 0 {
		m.returned = true
	}
}

// checkClose checks that Close returned when, and what, the model says.
func (m *clockModel) checkClose(t *rapid.T) {
	if !m.closed {
		return
	}
	select {
	case err := <-m.closeDone:
		if !m.returned {
			t.Fatalf("Close returned %v with %d leases out and %d instances closing", err, len(m.leases), len(m.closing))
		}
		m.closeDone = nil
		switch {
		case m.taken == 0 && err != nil:
			t.Fatalf("Close with nothing to take back: %v, want nil", err)
		case m.taken > 0:
			want := fmt.Sprintf("%d leased instance", m.taken)
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "still") {
				t.Fatalf("Close that took %d leases back: %v; want it to say %q and nothing still in progress", m.taken, err, want)
			}
		}
	default:
		if m.returned && m.closeDone != nil {
			t.Fatalf("Close has not returned, with nothing left to wait for")
		}
	}
}

// check compares the pool's Stat with the model, and Close's return.
func (m *clockModel) check(t *rapid.T) {
	m.checkClose(t)
	st := m.p.Stat()
	want := pool.Stat{
		Total: m.total(), Idle: len(m.idle), InUse: len(m.leases),
		MinSize: m.cfg.MinSize, MaxSize: m.cfg.MaxSize, Waiting: len(m.waiters),
		AcquireCount: m.acquires, EmptyAcquireCount: m.empty, CanceledAcquireCount: m.canceled,
		TimeoutCount: m.timeouts, Created: m.created, DestroyedIdle: m.destroyedIdle,
		DestroyedLifetime: m.destroyedLifetime, DestroyedBroken: m.destroyedBroken, DestroyedClosed: m.destroyedClosed,
	}
	got := st
	got.AcquireDuration, got.Window = 0, pool.WindowStat{}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("at %v Stat differs from the model:\n got %+v\nwant %+v", m.now, got, want)
	}
	if st.Total > st.MaxSize {
		t.Fatalf("%d instances open, above max_size %d", st.Total, st.MaxSize)
	}
	if len(m.b.doubled) > 0 {
		t.Fatalf("instances closed twice: %v", m.b.doubled)
	}
}

// finish closes the pool if no step did, releases the leases still out
// and lets the clock run until Close returns; then every instance opened
// was closed once.
func (m *clockModel) finish(t *rapid.T) {
	if !m.closed {
		m.close(t)
	}
	for len(m.leases) > 0 {
		m.release(t)
	}
	if !m.returned {
		last := slices.Max(m.closing)
		time.Sleep(last - m.now)
		m.now = last
		m.closing = nil
		m.closeIfDone()
		m.settle()
	}
	m.check(t)
	if m.closeDone != nil {
		t.Fatalf("Close has not returned")
	}
	for _, l := range m.stale {
		l.l.Release() // does nothing
	}
	if st := m.p.Stat(); st.Total != 0 || st.Waiting != 0 || st.Constructing != 0 {
		t.Fatalf("after Close: %+v; want nothing open, opening or waiting", st)
	}
	for v := int64(1); v <= m.created; v++ {
		if n := m.b.closedCount(v); n != 1 {
			t.Fatalf("instance %d closed %d times, want once", v, n)
		}
	}
}

// cleanup stops the pool's goroutines after a failed step, so that the
// bubble ends: waiters are canceled, leases released, and Close (begun
// here if no step did) returns.
func (m *clockModel) cleanup() {
	for _, w := range m.waiters {
		w.cancel()
	}
	for _, l := range m.leases {
		l.l.Release()
	}
	if !m.closed {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.p.Close(ctx)
	} else if m.closeDone != nil {
		<-m.closeDone
	}
	synctest.Wait()
}

func TestExclusivePoolClockProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rapid.SyncTest(t, func(t *rapid.T) {
			m := newClockModel(t)
			done := false
			defer func() {
				if !done {
					m.cleanup()
				}
			}()
			t.Repeat(map[string]func(*rapid.T){
				"acquire": m.acquire,
				"release": m.release,
				"destroy": m.destroy,
				"cancel":  m.cancel,
				"warm":    m.warm,
				"advance": m.advance,
				"close":   m.close,
				"":        m.check,
			})
			m.finish(t)
			done = true
		})
	})
}

// sharedClock is sharedModel with the clock and Close as steps. Close
// waits for the leases in flight until its context ends, then closes
// every replica.
type sharedClock struct {
	*sharedModel
	begin time.Time
	now   time.Duration

	closed, passed, returned bool
	deadline                 time.Duration // 0: none
	busy                     int           // leases in flight when the deadline passed
	closeDone                chan error
}

func (m *sharedClock) settle() {
	m.t.Helper()
	synctest.Wait()
	if now := time.Since(m.begin); now != m.now {
		m.t.Fatalf("the clock reads %v, the model %v", now, m.now)
	}
}

func (m *sharedClock) acquire(t *rapid.T) {
	if !m.closed {
		m.sharedModel.acquire(t)
		return
	}
	if _, err := m.s.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
	}
}

func (m *sharedClock) release(t *rapid.T) {
	if !m.closed {
		m.sharedModel.release(t)
		return
	}
	m.take(t).Release()
	m.settle()
	m.closeIfDone()
}

// destroy replaces a replica: once the bubble settles, the broken
// instance is closed and the replica reopened, unless Close began; then
// Close closes the replica.
func (m *sharedClock) destroy(t *rapid.T) {
	l := m.take(t)
	v := l.Value()
	i := m.replica[v]
	l.Destroy()
	m.settle()
	if m.closed {
		m.closeIfDone()
		return
	}
	if m.current[i] != v {
		return // already replaced by an earlier Destroy
	}
	m.broken++
	m.b.mu.Lock()
	nv := m.b.next
	m.b.mu.Unlock()
	m.replica[nv] = i
	m.current[i] = nv
	if n := m.b.closedCount(v); n != 1 {
		t.Fatalf("broken instance %d closed %d times, want once", v, n)
	}
}

func (m *sharedClock) closeIfDone() {
	if m.closed && !m.returned && len(m.leases) == 0 {
		m.returned = true
	}
}

// expire plays the end of Close's context: it stops waiting for the
// leases in flight.
func (m *sharedClock) expire() {
	m.passed, m.returned, m.busy = true, true, len(m.leases)
}

func (m *sharedClock) advance(t *rapid.T) {
	d := time.Duration(rapid.IntRange(1, 40).Draw(t, "grid_units")) * clockGrid
	time.Sleep(d)
	m.now += d
	if m.closed && !m.returned && m.deadline != 0 && m.deadline <= m.now {
		m.expire()
	}
	m.settle()
}

func (m *sharedClock) close(t *rapid.T) {
	if m.closed {
		t.Skip("closed already")
	}
	ctx, cancel, d := drawCloseContext(t)
	if d > 0 {
		m.deadline = m.now + d
	}
	m.closed = true
	go func() {
		defer cancel()
		m.closeDone <- m.s.Close(ctx)
	}()
	m.settle()
	m.closeIfDone()
	if ctx.Err() != nil && !m.returned {
		m.expire()
	}
}

func (m *sharedClock) check(t *rapid.T) {
	if !m.closed {
		m.sharedModel.check(t)
		return
	}
	select {
	case err := <-m.closeDone:
		m.closeDone = nil
		if !m.returned {
			t.Fatalf("Close returned %v with %d leases in flight", err, len(m.leases))
		}
		want := fmt.Sprintf("closed with %d leases in flight", m.busy)
		if m.busy == 1 {
			want = "closed with 1 lease in flight"
		}
		if !m.passed && err != nil || m.passed && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Fatalf("Close: %v; want nil, or %q if its context ended first", err, want)
		}
	default:
		if m.returned && m.closeDone != nil {
			t.Fatalf("Close has not returned, with %d leases in flight and its context ended: %v", len(m.leases), m.passed)
		}
	}
	if st := m.s.Stat(); st.InUse != len(m.leases) || st.AcquireCount != m.acquires {
		t.Fatalf("after Close: %d in use, %d acquires; want %d, %d", st.InUse, st.AcquireCount, len(m.leases), m.acquires)
	}
}

func (m *sharedClock) finish(t *rapid.T) {
	if !m.closed {
		m.close(t)
	}
	for len(m.leases) > 0 {
		m.release(t)
	}
	m.check(t)
	if m.closeDone != nil {
		t.Fatalf("Close has not returned with no lease in flight")
	}
	if _, err := m.s.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
	}
	if st := m.s.Stat(); st.Total != 0 || st.InUse != 0 {
		t.Fatalf("after Close: %d replicas open, %d in use; want none", st.Total, st.InUse)
	}
	for v := range m.replica {
		if n := m.b.closedCount(v); n != 1 {
			t.Fatalf("instance %d closed %d times, want once", v, n)
		}
	}
}

func TestSharedPoolClockProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rapid.SyncTest(t, func(t *rapid.T) {
			m := &sharedClock{sharedModel: newSharedModel(t), begin: time.Now(), closeDone: make(chan error, 1)}
			done := false
			defer func() {
				if !done { // a failed step: end the leases and Close
					for _, l := range m.leases {
						l.Release()
					}
					if !m.closed {
						_ = m.s.Close(context.Background())
					} else if m.closeDone != nil {
						<-m.closeDone
					}
				}
			}()
			t.Repeat(map[string]func(*rapid.T){
				"acquire": m.acquire,
				"release": m.release,
				"destroy": m.destroy,
				"advance": m.advance,
				"close":   m.close,
				"":        m.check,
			})
			m.finish(t)
			done = true
		})
	})
}
