package pool_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

// sharedBackend is a backend as the Opener of a shared pool.
type sharedBackend struct{ *backend }

func (sharedBackend) Name() string          { return "test.shared" }
func (sharedBackend) OnError(string, error) {}

func newShared(t *testing.T, b *backend, replicas int, sel pool.Selection) *pool.Shared[*inst] {
	t.Helper()
	return newSharedWith(t, b, pool.SharedConfig{
		Replicas: replicas, Selection: sel,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
}

// newSharedWith returns a warm shared pool of cfg, closed by the test's
// cleanup.
func newSharedWith(t *testing.T, b *backend, cfg pool.SharedConfig) *pool.Shared[*inst] {
	t.Helper()
	s, err := pool.NewShared[*inst](sharedBackend{b}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func TestSharedRoundRobinSpreadsLeasesAndCountsThem(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 3, pool.RoundRobin)
	seen := map[int64]int{}
	var leases []*pool.SharedLease[*inst]
	for range 9 {
		l, err := s.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		seen[l.Value().id]++
		leases = append(leases, l)
	}
	if len(seen) != 3 {
		t.Fatalf("leases went to %d replicas, want 3: %v", len(seen), seen)
	}
	if st := s.Stat(); st.InUse != 9 || st.Total != 3 || st.AcquireCount != 9 {
		t.Fatalf("stat %+v", st)
	}
	for _, l := range leases {
		l.Release()
		l.Release()
	}
	if st := s.Stat(); st.InUse != 0 || st.Idle != 3 {
		t.Fatalf("after release: %+v", st)
	}
}

func TestSharedAcquireIntoFillsTheCallersLeaseWithoutAllocating(t *testing.T) {
	s := newShared(t, newBackend(), 2, pool.RoundRobin)
	var leases [2]pool.SharedLease[*inst]
	for i := range leases {
		if err := s.AcquireInto(context.Background(), &leases[i]); err != nil {
			t.Fatal(err)
		}
	}
	if leases[0].Value() == leases[1].Value() {
		t.Fatal("round robin gave both leases the same replica")
	}
	if st := s.Stat(); st.InUse != 2 || st.AcquireCount != 2 {
		t.Fatalf("stat %+v", st)
	}
	for i := range leases {
		leases[i].Release()
	}
	if st := s.Stat(); st.InUse != 0 {
		t.Fatalf("after release: %+v", st)
	}
	var l pool.SharedLease[*inst]
	if n := testing.AllocsPerRun(100, func() {
		l = pool.SharedLease[*inst]{}
		if err := s.AcquireInto(context.Background(), &l); err != nil {
			t.Fatal(err)
		}
		l.Release()
	}); n != 0 {
		t.Fatalf("%v allocations per AcquireInto and Release", n)
	}
}

func TestSharedWeightedSendsLessTrafficToAFailingReplica(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 2, pool.Weighted)
	// Teach the pool that one replica fails: ten failed calls on it (the
	// weighting makes it ever rarer to pick, so count them rather than the
	// leases), and successes on the other.
	var bad int64
	for failures, i := 0, 0; failures < 10; i++ {
		if i > 100_000 {
			t.Fatal("the failing replica stopped being picked before it had failed ten times")
		}
		l, _ := s.Acquire(context.Background())
		if bad == 0 {
			bad = l.Value().id
		}
		failed := l.Value().id == bad
		if failed {
			failures++
		}
		l.Observe(time.Millisecond, failed)
		l.Release()
	}
	hits := 0
	for range 1000 {
		l, _ := s.Acquire(context.Background())
		if l.Value().id == bad {
			hits++
		}
		l.Release()
	}
	if hits > 100 {
		t.Fatalf("the failing replica got %d of 1000 leases", hits)
	}
}

// A replica whose calls fail at once has the lowest latency of all: the
// least-loaded selection must not take it for the least loaded, and must
// still try it now and then, to see it recover.
func TestSharedLeastLoadedAvoidsAReplicaThatFailsFast(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 4, pool.LeastLoaded)
	var bad int64
	hits := 0
	const calls = 4000
	for i := range calls {
		l, _ := s.Acquire(context.Background())
		if bad == 0 {
			bad = l.Value().id
		}
		if l.Value().id == bad {
			l.Observe(time.Microsecond, true) // fails at once
			if i >= calls/2 {
				hits++
			}
		} else {
			l.Observe(time.Millisecond, false)
		}
		l.Release()
	}
	// Once learnt: a pick in a hundred probes the loser of its pair, and
	// the failing replica is in half of the pairs.
	if hits == 0 || hits > calls/2/50 {
		t.Fatalf("the replica that fails fast got %d of the last %d leases, want a few probes (0 < n <= %d)", hits, calls/2, calls/2/50)
	}
	// It recovers: its calls pass, as fast as the others'; probes bring
	// its error rate down, and it gets its share again.
	recovered := 0
	for i := range 20000 {
		l, _ := s.Acquire(context.Background())
		l.Observe(time.Millisecond, false)
		if l.Value().id == bad && i >= 15000 {
			recovered++
		}
		l.Release()
	}
	if recovered < 5000/4/2 {
		t.Fatalf("after recovering, the replica got %d of the last 5000 leases, want about a quarter", recovered)
	}
}

func TestSharedLeastLoadedAvoidsTheBusyReplica(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 2, pool.LeastLoaded)
	busy, _ := s.Acquire(context.Background())
	defer busy.Release()
	var held []*pool.SharedLease[*inst]
	defer func() {
		for _, l := range held {
			l.Release()
		}
	}()
	for range 20 { // load the same replica
		l, _ := s.Acquire(context.Background())
		if l.Value() == busy.Value() {
			held = append(held, l)
		} else {
			l.Release()
		}
	}
	other := 0
	for range 200 {
		l, _ := s.Acquire(context.Background())
		if l.Value() != busy.Value() {
			other++
		}
		l.Release()
	}
	if other < 190 {
		t.Fatalf("only %d of 200 leases avoided the loaded replica", other)
	}
}

func TestNewSharedChecksItsConfig(t *testing.T) {
	b := sharedBackend{newBackend()}
	for _, c := range []struct {
		o    pool.Opener[*inst]
		cfg  pool.SharedConfig
		want string
	}{
		{nil, pool.SharedConfig{}, "needs an Opener"},
		{b, pool.SharedConfig{Replicas: -1}, "pool test.shared: replicas must not be negative"},
		{b, pool.SharedConfig{Selection: "random"}, `pool test.shared: unknown selection "random"`},
		{b, pool.SharedConfig{Replicas: 3, Selection: "random"}, `pool test.shared: unknown selection "random"`},
	} {
		if _, err := pool.NewShared(c.o, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewShared(%+v): %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}

// TestSharedReplacesABrokenReplica runs with the default settings, which a
// pool of one replica keeps none of, and counts every replica from its
// open to its close.
func TestSharedReplacesABrokenReplica(t *testing.T) {
	b := newBackend()
	s := newSharedWith(t, b, pool.SharedConfig{})
	l, _ := s.Acquire(context.Background())
	broken := l.Value()
	l.Destroy()
	waitFor(t, func() bool { return s.Stat().Total == 1 })
	l, err := s.Acquire(context.Background())
	if err != nil || l.Value() == broken {
		t.Fatalf("got %v %v", l, err)
	}
	l.Release()
	if st := s.Stat(); st.DestroyedBroken != 1 || st.Created != 2 || st.Constructing != 0 {
		t.Fatalf("stat %+v", st)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stat(); st.Total != 0 || st.Created != 2 || st.DestroyedBroken != 1 || st.DestroyedClosed != 1 || st.Constructing != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	if b.open.Load() != 0 {
		t.Fatal("replicas left open")
	}
}

// TestSharedWarmLeavesAReplicaBeingReopenedToItsReopen: Warm opens the
// replicas never opened, not one a broken lease left to the background
// reopen, which would then open a second value for it.
func TestSharedWarmLeavesAReplicaBeingReopenedToItsReopen(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 2, pool.RoundRobin)
	b.failOpen.Store(true)
	l, _ := s.Acquire(context.Background())
	l.Destroy()
	if st := s.Stat(); st.Total != 1 || st.Constructing != 1 {
		t.Fatalf("after Destroy: %+v", st)
	}
	if err := s.Warm(context.Background()); err != nil {
		t.Fatalf("Warm tried to open the replica being reopened: %v", err)
	}
	b.failOpen.Store(false)
	waitFor(t, func() bool { return s.Stat().Total == 2 })
	if st := s.Stat(); st.Created != 3 || st.Constructing != 0 || b.open.Load() != 2 {
		t.Fatalf("after the reopen: %+v, %d open", st, b.open.Load())
	}
}

// TestSharedCloseStopsAReopenThatKeepsFailing: Close cancels a reopen
// waiting out its backoff, joins it, and the replica no longer counts as
// being reopened.
func TestSharedCloseStopsAReopenThatKeepsFailing(t *testing.T) {
	b := newBackend()
	s := newSharedWith(t, b, pool.SharedConfig{MinBackoff: time.Hour})
	b.failOpen.Store(true)
	l, _ := s.Acquire(context.Background())
	l.Destroy()
	waitFor(t, func() bool { return b.closes.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stat(); st.Constructing != 0 || st.Created != 1 || st.DestroyedBroken != 1 || st.DestroyedClosed != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	if err := s.Warm(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Warm after Close: %v", err)
	}
}

func TestSharedFailsFastWhenNoReplicaIsOpen(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 1, pool.RoundRobin)
	b.failOpen.Store(true)
	l, _ := s.Acquire(context.Background())
	l.Destroy()
	if _, err := s.Acquire(context.Background()); !errors.Is(err, pool.ErrNoReplica) {
		t.Fatalf("got %v, want ErrNoReplica", err)
	}
	b.failOpen.Store(false)
	waitFor(t, func() bool { return s.Stat().Total == 1 })
}

func TestSharedCloseWaitsForLeasesInFlight(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 2, pool.RoundRobin)
	var wg sync.WaitGroup
	for range 8 {
		l, _ := s.Acquire(context.Background())
		wg.Go(func() {
			time.Sleep(10 * time.Millisecond)
			l.Release()
		})
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if b.open.Load() != 0 {
		t.Fatal("replicas left open")
	}
	if _, err := s.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
}

func TestASecondSharedCloseWaitsForTheFirstAndSaysWhatItSaid(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 2, pool.RoundRobin)
	l, _ := s.Acquire(context.Background())

	// The second Close, made while the first waits for the lease, returns
	// when the first does, with its error.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- s.Close(ctx) }()
	for { // until the first Close has begun
		other, err := s.Acquire(context.Background())
		if errors.Is(err, pool.ErrClosed) {
			break
		}
		other.Release()
		time.Sleep(time.Millisecond)
	}
	second := s.Close(context.Background())
	err := <-first
	if err == nil || !strings.Contains(err.Error(), "1 lease in flight") {
		t.Fatalf("first Close: %v, want it to report the lease in flight", err)
	}
	if second != err {
		t.Fatalf("second Close: %v, want the first's error %v", second, err)
	}
	l.Release()
	if third := s.Close(context.Background()); third != err {
		t.Fatalf("third Close: %v, want the first's error", third)
	}
}

func TestSharedProbeChecksAReplicaWithoutCountingAnAcquire(t *testing.T) {
	b := newBackend()
	s := newShared(t, b, 2, pool.RoundRobin)
	seen := map[int64]int{}
	boom := errors.New("boom")
	for i := range 10 {
		err := s.Probe(context.Background(), func(_ context.Context, v *inst) error {
			seen[v.id]++
			if st := s.Stat(); st.InUse != 1 {
				t.Errorf("while a probe runs: in use %d, want 1", st.InUse)
			}
			if i == 9 {
				return boom
			}
			return nil
		}, func(error) bool { return true })
		if (i == 9) != errors.Is(err, boom) {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	if len(seen) != 2 {
		t.Errorf("probes went to %d replicas, want both: %v", len(seen), seen)
	}
	st := s.Stat()
	if st.AcquireCount != 0 || st.Window.Acquires != 0 || st.InUse != 0 || st.Window.Window <= 0 {
		t.Errorf("after 10 probes: acquires %d, window %+v, in use %d: want no acquire counted and the pool's age as the window", st.AcquireCount, st.Window, st.InUse)
	}
	failing := 0
	for _, r := range st.Replicas {
		if r.ErrorRate > 0 {
			failing++
		}
	}
	if failing != 1 {
		t.Errorf("replicas with an error rate: %d, want the one the failed probe checked", failing)
	}
	l, err := s.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if st := s.Stat(); st.AcquireCount != 1 || st.Window.Acquires != 1 {
		t.Errorf("after an acquire: %+v", st)
	}
}

// TestSharedCloseReturnsWhenAProbeInFlightEnds: Close waits for a health
// probe in flight like for a lease, and returns as soon as it ends rather
// than at its deadline.
func TestSharedCloseReturnsWhenAProbeInFlightEnds(t *testing.T) {
	s := newShared(t, newBackend(), 1, pool.RoundRobin)
	inCheck, finish := make(chan struct{}), make(chan struct{})
	probed := make(chan error, 1)
	go func() {
		probed <- s.Probe(context.Background(), func(context.Context, *inst) error {
			close(inCheck)
			<-finish
			return nil
		}, func(error) bool { return true })
	}()
	<-inCheck
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- s.Close(ctx)
	}()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a probe in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(finish)
	if err := <-probed; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close still waits 2 s after the probe in flight ended")
	}
}

// idleOpener is an Opener shaped as the host's: a pointer to its owner and
// the interface value it opens replicas from, 24 B per pool.
type idleOpener struct {
	name *string
	res  io.Closer
}

func (o *idleOpener) Name() string                            { return *o.name }
func (o *idleOpener) Open(context.Context) (io.Closer, error) { return o.res, nil }
func (o *idleOpener) Close(_ context.Context, c io.Closer)    { _ = c.Close() }
func (o *idleOpener) OnError(string, error)                   {}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// TestIdleSharedPoolMemory measures what a host keeps per idle resource of
// a shared type: a pool of one replica with the default settings, warm,
// probed as by a health check and read by Stat, with its opener. The heap
// that 1,000 of them keep is under 160 B each (the replica's value costs
// nothing itself).
func TestIdleSharedPoolMemory(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	name := "memory.idle"
	pools := make([]*pool.Shared[io.Closer], n)
	t.Cleanup(func() {
		for _, s := range pools {
			if s != nil {
				_ = s.Close(ctx)
			}
		}
	})
	before := liveHeap()
	for i := range pools {
		s, err := pool.NewShared[io.Closer](&idleOpener{name: &name, res: nopCloser{}}, pool.SharedConfig{})
		if err != nil {
			t.Fatal(err)
		}
		pools[i] = s
		if err := s.Warm(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Probe(ctx, func(context.Context, io.Closer) error { return nil }, func(error) bool { return true }); err != nil {
			t.Fatal(err)
		}
		if st := s.Stat(); st.Idle != 1 {
			t.Fatalf("stat %+v, want one idle replica", st)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(pools)
	per := float64(after-before) / n
	t.Logf("%d idle shared pools: %.0f B each (%d B)", n, per, after-before)
	if per >= 160 {
		t.Errorf("%.0f B of heap per idle shared pool, want under 160 B", per)
	}
}
