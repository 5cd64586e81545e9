package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

// This file checks the exclusive pool against a model with rapid: random
// sequences of acquires, releases, destroys, cancellations of waiters and
// warms, then a Close, must leave the pool in the state the model predicts
// after every step. Run more cases with -rapid.checks=N; a failure prints
// the seed to replay it with -rapid.seed.

// serveTimeout bounds how long a waiter the model expects to be served may
// take to return from Acquire.
const serveTimeout = 5 * time.Second

// propLease is what the property needs of a lease.
type propLease interface {
	Value() int64
	Release()
	Destroy()
}

// exclusive is the pool under test: the real one, or a broken copy.
type exclusive interface {
	Acquire(ctx context.Context) (propLease, error)
	Warm(ctx context.Context) error
	Stat() pool.Stat
	Close(ctx context.Context) error
}

type realPool struct{ *pool.Pool[int64] }

func (p realPool) Acquire(ctx context.Context) (propLease, error) {
	l, err := p.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// propBackend opens instances numbered from 1 in order and records each
// close, and any second close of the same instance.
type propBackend struct {
	mu      sync.Mutex
	next    int64
	closed  map[int64]int
	doubled []int64
}

func (b *propBackend) open(context.Context) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return b.next, nil
}

func (b *propBackend) close(_ context.Context, v int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed[v]++
	if b.closed[v] > 1 {
		b.doubled = append(b.doubled, v)
	}
}

func (b *propBackend) closedCount(v int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed[v]
}

// acquired is the outcome of a waiter's Acquire.
type acquired struct {
	waiter int
	lease  propLease
	err    error
}

type propWaiter struct {
	id     int
	cancel context.CancelFunc
}

// poolModel is what the pool should hold. Opens are serialized (the
// property waits for each background open it causes), so the model knows
// the number of every instance the backend opens.
type poolModel struct {
	t       *rapid.T
	p       exclusive
	b       *propBackend
	cfg     pool.Config[int64]
	results chan acquired

	created, acquires, empty, canceled int64
	destroyedBroken, destroyedIdle     int64

	idle    []int64        // oldest release first
	leases  []propLease    // leases out, in the order they were granted
	held    map[int64]bool // values of leases out
	waiters []propWaiter   // queued, first come first
	nextW   int
}

func newPoolModel(t *rapid.T, broken bool) *poolModel {
	maxSize := rapid.IntRange(1, 4).Draw(t, "max_size")
	minSize := rapid.IntRange(0, maxSize).Draw(t, "min_size")
	maxIdle := rapid.IntRange(max(minSize, 1), maxSize).Draw(t, "max_idle")
	order := rapid.SampledFrom([]pool.Order{pool.LIFO, pool.FIFO}).Draw(t, "order")
	b := &propBackend{closed: map[int64]int{}}
	cfg := pool.Config[int64]{
		Name: "prop", Open: b.open, Close: b.close,
		MinSize: minSize, MaxSize: maxSize, MaxIdle: maxIdle, Order: order,
		MaintenanceInterval: time.Hour, // no background warming or eviction
	}
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	var sut exclusive = realPool{p}
	if broken {
		sut = &lostWakeup{exclusive: sut}
	}
	return &poolModel{
		t: t, p: sut, b: b, cfg: cfg, held: map[int64]bool{},
		results: make(chan acquired, 64),
	}
}

func (m *poolModel) total() int { return len(m.leases) + len(m.idle) }

// grant records a lease the pool handed out.
func (m *poolModel) grant(l propLease, want int64) {
	m.t.Helper()
	v := l.Value()
	if v != want {
		m.t.Fatalf("leased instance %d, want %d", v, want)
	}
	if m.held[v] {
		m.t.Fatalf("instance %d leased twice", v)
	}
	if n := m.b.closedCount(v); n > 0 {
		m.t.Fatalf("leased instance %d, which was closed", v)
	}
	m.held[v] = true
	m.leases = append(m.leases, l)
	m.acquires++
}

// serve waits for the first waiter to return from Acquire with want.
func (m *poolModel) serve(want int64) {
	m.t.Helper()
	front := m.waiters[0]
	r := m.next()
	if r.waiter != front.id {
		m.t.Fatalf("waiter %d was served before waiter %d, who came first", r.waiter, front.id)
	}
	if r.err != nil {
		m.t.Fatalf("waiter %d: %v", r.waiter, r.err)
	}
	front.cancel()
	m.waiters = m.waiters[1:]
	m.grant(r.lease, want)
}

func (m *poolModel) next() acquired {
	m.t.Helper()
	select {
	case r := <-m.results:
		return r
	case <-time.After(serveTimeout):
		m.t.Fatalf("no waiter returned from Acquire within %v", serveTimeout)
		return acquired{}
	}
}

// waitQueued waits until the pool counts the waiters the model has.
func (m *poolModel) waitQueued() {
	m.t.Helper()
	deadline := time.Now().Add(serveTimeout)
	for m.p.Stat().Waiting != len(m.waiters) {
		if time.Now().After(deadline) {
			m.t.Fatalf("pool counts %d waiters, want %d", m.p.Stat().Waiting, len(m.waiters))
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func (m *poolModel) acquire(t *rapid.T) {
	switch {
	case len(m.idle) > 0:
		var v int64
		if m.cfg.Order == pool.FIFO {
			v, m.idle = m.idle[0], m.idle[1:]
		} else {
			v, m.idle = m.idle[len(m.idle)-1], m.idle[:len(m.idle)-1]
		}
		l, err := m.p.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Acquire with %d idle: %v", len(m.idle)+1, err)
		}
		m.grant(l, v)
	case m.total() < m.cfg.MaxSize:
		m.empty++
		m.created++
		l, err := m.p.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Acquire below max_size: %v", err)
		}
		m.grant(l, m.created)
	default:
		m.empty++
		ctx, cancel := context.WithCancel(context.Background())
		w := propWaiter{id: m.nextW, cancel: cancel}
		m.nextW++
		m.waiters = append(m.waiters, w)
		go func() {
			l, err := m.p.Acquire(ctx)
			m.results <- acquired{waiter: w.id, lease: l, err: err}
		}()
		m.waitQueued()
	}
}

// take removes a lease the action draws from those out.
func (m *poolModel) take(t *rapid.T) propLease {
	if len(m.leases) == 0 {
		t.Skip("no lease out")
	}
	i := rapid.IntRange(0, len(m.leases)-1).Draw(t, "lease")
	l := m.leases[i]
	m.leases = slices.Delete(m.leases, i, i+1)
	delete(m.held, l.Value())
	return l
}

func (m *poolModel) release(t *rapid.T) {
	l := m.take(t)
	v := l.Value()
	l.Release()
	switch {
	case len(m.waiters) > 0:
		// The hand-off happens in Release: no waiter may be left waiting.
		if got := m.p.Stat().Waiting; got != len(m.waiters)-1 {
			t.Fatalf("after a release, %d waiters wait, want %d", got, len(m.waiters)-1)
		}
		m.serve(v)
	case len(m.idle) >= m.cfg.MaxIdle:
		m.destroyedIdle++
	default:
		m.idle = append(m.idle, v)
	}
}

func (m *poolModel) destroy(t *rapid.T) {
	l := m.take(t)
	l.Destroy()
	m.destroyedBroken++
	if len(m.waiters) > 0 {
		// The freed slot is opened again in the background for the first
		// waiter.
		m.created++
		m.serve(m.created)
	}
}

func (m *poolModel) cancel(t *rapid.T) {
	if len(m.waiters) == 0 {
		t.Skip("no waiter")
	}
	i := rapid.IntRange(0, len(m.waiters)-1).Draw(t, "waiter")
	w := m.waiters[i]
	w.cancel()
	r := m.next()
	if r.waiter != w.id || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled waiter %d: got waiter %d with lease %v, error %v; want context.Canceled", w.id, r.waiter, r.lease, r.err)
	}
	m.waiters = slices.Delete(m.waiters, i, i+1)
	m.canceled++
	m.waitQueued()
}

func (m *poolModel) warm(t *rapid.T) {
	if err := m.p.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	for m.total() < m.cfg.MinSize {
		m.created++
		m.idle = append(m.idle, m.created)
	}
	if total := m.p.Stat().Total; total < m.cfg.MinSize {
		t.Fatalf("after Warm the pool holds %d instances, below min_size %d", total, m.cfg.MinSize)
	}
}

// check compares the pool's Stat with the model.
func (m *poolModel) check(t *rapid.T) {
	st := m.p.Stat()
	want := pool.Stat{
		Total: m.total(), Idle: len(m.idle), InUse: len(m.leases),
		MinSize: m.cfg.MinSize, MaxSize: m.cfg.MaxSize, Waiting: len(m.waiters),
		AcquireCount: m.acquires, EmptyAcquireCount: m.empty, CanceledAcquireCount: m.canceled,
		Created: m.created, DestroyedIdle: m.destroyedIdle, DestroyedBroken: m.destroyedBroken,
	}
	got := st
	got.AcquireDuration, got.Window, got.Replicas = 0, pool.WindowStat{}, nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Stat differs from the model:\n got %+v\nwant %+v", got, want)
	}
	if st.Total > st.MaxSize {
		t.Fatalf("%d instances open, above max_size %d", st.Total, st.MaxSize)
	}
}

// close closes the pool: at once when leases are out, which it takes
// back, or waiting for the closes in progress when none is. Waiters fail
// with ErrClosed, every instance is closed exactly once, and the pool
// refuses acquires and ignores the stale leases.
func (m *poolModel) close(t *rapid.T) {
	if len(m.leases) == 0 {
		if err := m.p.Close(context.Background()); err != nil {
			t.Fatalf("Close with no lease out: %v", err)
		}
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // take the leases back at once
		if err := m.p.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close with %d leases out: %v, want context.Canceled", len(m.leases), err)
		}
	}
	for range m.waiters {
		if r := m.next(); !errors.Is(r.err, pool.ErrClosed) {
			t.Fatalf("waiter %d after Close: lease %v, error %v; want ErrClosed", r.waiter, r.lease, r.err)
		}
	}
	for _, w := range m.waiters {
		w.cancel()
	}
	for _, l := range m.leases {
		l.Release()
	}
	if _, err := m.p.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
	}
	if st := m.p.Stat(); st.Total != 0 || st.Waiting != 0 {
		t.Fatalf("after Close: %d instances, %d waiting; want none", st.Total, st.Waiting)
	}
	for v := int64(1); v <= m.created; v++ {
		if n := m.b.closedCount(v); n != 1 {
			t.Fatalf("instance %d closed %d times, want once", v, n)
		}
	}
	if len(m.b.doubled) > 0 {
		t.Fatalf("instances closed twice: %v", m.b.doubled)
	}
}

// exclusiveProperty runs one random sequence against the real pool, or
// against the broken copy when broken is set.
func exclusiveProperty(broken bool) func(*rapid.T) {
	return func(t *rapid.T) {
		m := newPoolModel(t, broken)
		closed := false
		defer func() {
			if !closed { // a failed step: still stop the pool's goroutines
				m.closeQuietly()
			}
		}()
		t.Repeat(map[string]func(*rapid.T){
			"acquire": m.acquire,
			"release": m.release,
			"destroy": m.destroy,
			"cancel":  m.cancel,
			"warm":    m.warm,
			"":        m.check,
		})
		closed = true
		m.close(t)
	}
}

// closeQuietly closes the pool and ends the waiters after a failed step.
func (m *poolModel) closeQuietly() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = m.p.Close(ctx)
	for _, w := range m.waiters {
		w.cancel()
	}
	for range m.waiters {
		select {
		case <-m.results:
		case <-time.After(serveTimeout):
			return
		}
	}
}

func TestExclusivePoolProperty(t *testing.T) {
	rapid.Check(t, exclusiveProperty(false))
}
