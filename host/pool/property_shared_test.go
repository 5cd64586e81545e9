package pool_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

// sharedOpener is propBackend as the Opener of a shared pool.
type sharedOpener struct{ *propBackend }

func (sharedOpener) Name() string                              { return "prop" }
func (o sharedOpener) Open(ctx context.Context) (int64, error) { return o.open(ctx) }
func (o sharedOpener) Close(ctx context.Context, v int64)      { o.close(ctx, v) }
func (sharedOpener) OnError(string, error)                     {}

// sharedModel is what a shared pool should hold: the instance of each
// replica and the leases out. Reopens are awaited, so every replica is
// open between steps.
type sharedModel struct {
	t         *rapid.T
	s         *pool.Shared[int64]
	b         *propBackend
	selection pool.Selection

	replica  map[int64]int // instance -> replica that opened it
	current  []int64       // instance of each replica
	leases   []*pool.SharedLease[int64]
	acquires int64
	next     int // round robin position
	broken   int64
}

func newSharedModel(t *rapid.T) *sharedModel {
	n := rapid.IntRange(1, 4).Draw(t, "replicas")
	sel := rapid.SampledFrom([]pool.Selection{pool.RoundRobin, pool.Weighted, pool.LeastLoaded}).Draw(t, "selection")
	b := &propBackend{closed: map[int64]int{}}
	s, err := pool.NewShared[int64](sharedOpener{b}, pool.SharedConfig{Replicas: n, Selection: sel})
	if err != nil {
		t.Fatalf("NewShared: %v", err)
	}
	if err := s.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	m := &sharedModel{t: t, s: s, b: b, selection: sel, replica: map[int64]int{}}
	for i := range n {
		v := int64(i + 1)
		m.replica[v] = i
		m.current = append(m.current, v)
	}
	return m
}

func (m *sharedModel) acquire(t *rapid.T) {
	l, err := m.s.Acquire(context.Background())
	if err != nil {
		t.Fatalf("Acquire with every replica open: %v", err)
	}
	v := l.Value()
	i, ok := m.replica[v]
	if !ok || m.current[i] != v {
		t.Fatalf("leased instance %d, which is no replica's current instance %v", v, m.current)
	}
	if m.selection == pool.RoundRobin && len(m.current) > 1 {
		m.next++
		if want := m.next % len(m.current); i != want {
			t.Fatalf("round robin leased replica %d, want %d", i, want)
		}
	}
	m.leases = append(m.leases, l)
	m.acquires++
}

func (m *sharedModel) take(t *rapid.T) *pool.SharedLease[int64] {
	if len(m.leases) == 0 {
		t.Skip("no lease out")
	}
	i := rapid.IntRange(0, len(m.leases)-1).Draw(t, "lease")
	l := m.leases[i]
	m.leases = slices.Delete(m.leases, i, i+1)
	return l
}

func (m *sharedModel) release(t *rapid.T) {
	l := m.take(t)
	l.Release()
	l.Release() // later calls do nothing
}

func (m *sharedModel) destroy(t *rapid.T) {
	l := m.take(t)
	v := l.Value()
	i := m.replica[v]
	l.Destroy()
	if m.current[i] != v {
		return // already replaced by an earlier Destroy
	}
	m.broken++
	deadline := time.Now().Add(serveTimeout)
	for {
		st := m.s.Stat()
		if st.Constructing == 0 && st.Replicas[i].Open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %d not reopened within %v", i, serveTimeout)
		}
		time.Sleep(50 * time.Microsecond)
	}
	m.b.mu.Lock()
	nv := m.b.next
	m.b.mu.Unlock()
	m.replica[nv] = i
	m.current[i] = nv
	if n := m.b.closedCount(v); n != 1 {
		t.Fatalf("broken instance %d closed %d times, want once", v, n)
	}
}

func (m *sharedModel) check(t *rapid.T) {
	st := m.s.Stat()
	n := len(m.current)
	if st.Total != n || st.MaxSize != n || st.Constructing != 0 {
		t.Fatalf("Stat: %d open, %d being reopened, %d configured; want %d, 0, %d", st.Total, st.Constructing, st.MaxSize, n, n)
	}
	if st.InUse != len(m.leases) || st.AcquireCount != m.acquires || st.DestroyedBroken != m.broken {
		t.Fatalf("Stat: %d in use, %d acquires, %d broken; want %d, %d, %d",
			st.InUse, st.AcquireCount, st.DestroyedBroken, len(m.leases), m.acquires, m.broken)
	}
	if want := int64(n) + m.broken; st.Created != want {
		t.Fatalf("Stat: %d created, want %d", st.Created, want)
	}
	inflight := make([]int64, n)
	for _, l := range m.leases {
		inflight[m.replica[l.Value()]]++
	}
	idle := 0
	for i, r := range st.Replicas {
		if r.InFlight != inflight[i] {
			t.Fatalf("replica %d: %d leases in flight, want %d", i, r.InFlight, inflight[i])
		}
		if r.InFlight == 0 {
			idle++
		}
	}
	if st.Idle != idle {
		t.Fatalf("Stat: %d idle replicas, want %d", st.Idle, idle)
	}
}

func (m *sharedModel) close(t *rapid.T) {
	if len(m.leases) == 0 {
		if err := m.s.Close(context.Background()); err != nil {
			t.Fatalf("Close with no lease out: %v", err)
		}
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.s.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close with %d leases out: %v, want context.Canceled", len(m.leases), err)
		}
	}
	for _, l := range m.leases {
		l.Release()
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

func TestSharedPoolProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newSharedModel(t)
		closed := false
		defer func() {
			if !closed { // a failed step: still stop the reopens, at once
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_ = m.s.Close(ctx)
			}
		}()
		t.Repeat(map[string]func(*rapid.T){
			"acquire": m.acquire,
			"release": m.release,
			"destroy": m.destroy,
			"":        m.check,
		})
		closed = true
		m.close(t)
	})
}
