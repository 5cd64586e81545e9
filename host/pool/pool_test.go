package pool_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is a fake plugin for the pool: it counts opens, closes and the
// most opens ever in progress at once, and can be told to fail.
type backend struct {
	next, open, closes atomic.Int64
	opening, maxOpen   atomic.Int64
	failOpen           atomic.Bool
	failReset          atomic.Bool
	openDelay          time.Duration
	mu                 sync.Mutex
	live               map[int64]bool
}

type inst struct {
	id     int64
	broken atomic.Bool
}

func newBackend() *backend { return &backend{live: map[int64]bool{}} }

func (b *backend) Open(ctx context.Context) (*inst, error) {
	n := b.opening.Add(1)
	defer b.opening.Add(-1)
	for {
		m := b.maxOpen.Load()
		if n <= m || b.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	if b.openDelay > 0 {
		select {
		case <-time.After(b.openDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if b.failOpen.Load() {
		return nil, errors.New("backend down")
	}
	i := &inst{id: b.next.Add(1)}
	b.open.Add(1)
	b.mu.Lock()
	b.live[i.id] = true
	b.mu.Unlock()
	return i, nil
}

func (b *backend) Close(_ context.Context, i *inst) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.live[i.id] {
		panic("instance closed twice")
	}
	delete(b.live, i.id)
	b.open.Add(-1)
	b.closes.Add(1)
}

func (b *backend) Reset(_ context.Context, i *inst) error {
	if b.failReset.Load() || i.broken.Load() {
		return errors.New("reset failed")
	}
	return nil
}

// NeedsReset says the instances are clean, and go back to the pool at
// once, unless a reset is to fail.
func (b *backend) NeedsReset(i *inst) bool { return b.failReset.Load() || i.broken.Load() }

func (b *backend) Check(_ context.Context, i *inst) error {
	if i.broken.Load() {
		return errors.New("broken")
	}
	return nil
}

func newPool(t testing.TB, b *backend, mod func(*pool.Config[*inst])) *pool.Pool[*inst] {
	t.Helper()
	cfg := pool.Config[*inst]{Name: "test.pool", Open: b.Open, Close: b.Close, Reset: b.Reset, NeedsReset: b.NeedsReset, Check: b.Check, MaxSize: 4, MaintenanceInterval: 10 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func TestStress(t *testing.T) {
	d := time.Second
	if v := os.Getenv("NEBULA_STRESS"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("NEBULA_STRESS=%q: %v", v, err)
		}
	}
	const size = 8
	b := newBackend()
	p, err := pool.New(pool.Config[*inst]{
		Name: "stress", Open: b.Open, Close: b.Close, Reset: b.Reset, Check: b.Check,
		MinSize: 2, MaxSize: size, MaxIdle: 6, IdleTimeout: 20 * time.Millisecond,
		MaxLifetime: 50 * time.Millisecond, ValidateAfterIdle: 5 * time.Millisecond,
		MaintenanceInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}

	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		inUse    sync.Map // instance id → true while leased
		doubles  atomic.Int64
		brokenTo atomic.Int64 // broken instances handed out again
		unexpect atomic.Value
	)
	for w := range 2 * size {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				var ctx context.Context
				var cancel context.CancelFunc
				switch rng.IntN(4) {
				case 0: // a tiny deadline
					ctx, cancel = context.WithTimeout(context.Background(), time.Duration(rng.IntN(200))*time.Microsecond)
				case 1: // canceled soon
					ctx, cancel = context.WithCancel(context.Background())
					time.AfterFunc(time.Duration(rng.IntN(100))*time.Microsecond, cancel)
				default:
					ctx, cancel = context.WithTimeout(context.Background(), time.Second)
				}
				l, err := p.Acquire(ctx)
				cancel()
				if err != nil {
					if !errors.Is(err, pool.ErrExhausted) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, pool.ErrClosed) {
						unexpect.Store(err)
					}
					continue
				}
				i := l.Value()
				if i.broken.Load() {
					brokenTo.Add(1)
				}
				if _, loaded := inUse.LoadOrStore(i.id, true); loaded {
					doubles.Add(1)
				}
				time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
				inUse.Delete(i.id)
				switch rng.IntN(10) {
				case 0:
					i.broken.Store(true) // a bad instance, reported
					l.Destroy()
				case 1:
					i.broken.Store(true) // a bad instance the reset finds
					l.Release()
				default:
					l.Release()
				}
				l.Release() // releasing twice is harmless
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	if v := unexpect.Load(); v != nil {
		t.Errorf("unexpected acquire error: %v", v)
	}
	if n := doubles.Load(); n > 0 {
		t.Errorf("%d times an instance was leased to two callers at once", n)
	}
	if n := brokenTo.Load(); n > 0 {
		t.Errorf("%d times a broken instance reached a caller again", n)
	}
	if n := b.open.Load(); n != 0 {
		t.Errorf("%d instances leaked open after Close", n)
	}
	if n := b.maxOpen.Load(); n > size {
		t.Errorf("%d opens in progress at once, more than max_size %d", n, size)
	}
	st := p.Stat()
	// Every instance opened was closed, including those opened just as
	// the pool closed, which it never counted as created.
	if st.Total != 0 || b.next.Load() != b.closes.Load() || st.Created > b.closes.Load() {
		t.Errorf("after Close: stat %+v, opened %d, closed %d", st, b.next.Load(), b.closes.Load())
	}
	// The window, of 5m by default, saw every acquire, once, including
	// those given up as an instance was handed over.
	if w := st.Window; d < 4*time.Minute && (w.Acquires != st.AcquireCount || w.Timeouts != st.TimeoutCount || w.InUsePeak > size || w.Waited > w.Acquires) {
		t.Errorf("window %+v, stat %+v", w, st)
	}
	t.Logf("%v: %d acquires, %d created, destroyed idle %d lifetime %d broken %d, %d timeouts, %d canceled; window %+v",
		d, st.AcquireCount, st.Created, st.DestroyedIdle, st.DestroyedLifetime, st.DestroyedBroken, st.TimeoutCount, st.CanceledAcquireCount, st.Window)
}

func TestMaxSizeBoundsConcurrentOpens(t *testing.T) {
	b := newBackend()
	b.openDelay = 2 * time.Millisecond
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 10 })
	var wg sync.WaitGroup
	var concurrent, peak atomic.Int64
	for range 100 {
		wg.Go(func() {
			for range 20 {
				l, err := p.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := concurrent.Add(1)
				for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
				}
				time.Sleep(100 * time.Microsecond)
				concurrent.Add(-1)
				l.Release()
			}
		})
	}
	wg.Wait()
	if n := b.maxOpen.Load(); n > 10 {
		t.Errorf("%d concurrent Opens, max_size is 10", n)
	}
	if n := peak.Load(); n > 10 {
		t.Errorf("%d leases at once, max_size is 10", n)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := b.open.Load(); n != 0 {
		t.Errorf("%d instances open after Close", n)
	}
}

func TestWaitersAreServedFirstComeFirstServed(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 1 })
	held, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			l, err := p.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			time.Sleep(time.Millisecond)
			l.Release()
		})
		waitFor(t, func() bool { return p.Stat().Waiting == i+1 })
	}
	held.Release()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d served in place %d", got, want)
		}
		want++
	}
}

func TestExhaustionSaysWhichPoolItsSizeWaitersAndWait(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 2; c.AcquireTimeout = 30 * time.Millisecond })
	l1, _ := p.Acquire(context.Background())
	l2, _ := p.Acquire(context.Background())
	defer l1.Release()
	defer l2.Release()
	_, err := p.Acquire(context.Background())
	var ee *pool.ExhaustedError
	if !errors.As(err, &ee) || !errors.Is(err, pool.ErrExhausted) || !errors.Is(err, pool.ErrAcquireTimeout) {
		t.Fatalf("got %v, want an ExhaustedError by the acquire timeout", err)
	}
	if ee.Pool != "test.pool" || ee.Size != 2 || ee.MaxSize != 2 || ee.Waiting != 1 || ee.Waited < 30*time.Millisecond {
		t.Fatalf("got %+v", ee)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pool.ErrExhausted) {
		t.Fatalf("deadline: got %v", err)
	}
	if st := p.Stat(); st.TimeoutCount != 2 {
		t.Fatalf("timeouts = %d, want 2", st.TimeoutCount)
	}
}

func TestReleaseResetsAndAFailedResetClosesTheInstance(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 1 })
	l, _ := p.Acquire(context.Background())
	first := l.Value()
	l.Release()
	l, _ = p.Acquire(context.Background())
	if l.Value() != first {
		t.Fatal("a clean instance was not reused")
	}
	b.failReset.Store(true)
	l.Release() // the reset fails in the background
	l, _ = p.Acquire(context.Background())
	b.failReset.Store(false)
	if l.Value() == first {
		t.Fatal("an instance whose reset failed was reused")
	}
	l.Release()
	if st := p.Stat(); st.DestroyedBroken != 1 || st.Created != 2 {
		t.Fatalf("stat %+v", st)
	}
}

func TestValidateAfterIdleReplacesABrokenInstance(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.ValidateAfterIdle = time.Millisecond; c.Reset = nil })
	l, _ := p.Acquire(context.Background())
	bad := l.Value()
	l.Release()
	bad.broken.Store(true)
	time.Sleep(3 * time.Millisecond)
	l, err := p.Acquire(context.Background())
	if err != nil || l.Value() == bad {
		t.Fatalf("got %v %v: the broken idle instance was handed out", l.Value(), err)
	}
	l.Release()
}

func TestIdleTimeoutAndLifetimeEvictDownToMinSize(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) {
		c.MinSize, c.MaxSize, c.IdleTimeout = 1, 4, 20*time.Millisecond
	})
	var ls []pool.Lease[*inst]
	for range 4 {
		l, _ := p.Acquire(context.Background())
		ls = append(ls, l)
	}
	for _, l := range ls {
		l.Release()
	}
	waitFor(t, func() bool { return p.Stat().Total == 1 })
	if st := p.Stat(); st.DestroyedIdle != 3 {
		t.Fatalf("stat %+v", st)
	}

	b2 := newBackend()
	p2 := newPool(t, b2, func(c *pool.Config[*inst]) {
		c.MinSize, c.MaxLifetime, c.LifetimeJitter = 2, 20*time.Millisecond, 10*time.Millisecond
	})
	if err := p2.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p2.Stat().DestroyedLifetime >= 2 && p2.Stat().Total == 2 })
}

func TestMaintainerWarmsToMinSize(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MinSize = 3 })
	waitFor(t, func() bool { return p.Stat().Idle == 3 })
}

func TestFIFOAndLIFOOrder(t *testing.T) {
	for _, tc := range []struct {
		order pool.Order
		first bool
	}{{pool.LIFO, false}, {pool.FIFO, true}} {
		t.Run(string(tc.order), func(t *testing.T) {
			b := newBackend()
			p := newPool(t, b, func(c *pool.Config[*inst]) { c.Order = tc.order })
			a, _ := p.Acquire(context.Background())
			c, _ := p.Acquire(context.Background())
			ia, ic := a.Value(), c.Value()
			a.Release()
			c.Release()
			l, _ := p.Acquire(context.Background())
			defer l.Release()
			if got := l.Value() == ia; got != tc.first {
				t.Fatalf("%s handed out %d (released %d then %d)", tc.order, l.Value().id, ia.id, ic.id)
			}
		})
	}
}

func TestCloseWaitsForLeasesThenTakesThemBack(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, nil)
	l, _ := p.Acquire(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.Release()
	}()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.open.Load() != 0 {
		t.Fatal("instance left open")
	}

	b2 := newBackend()
	p2 := newPool(t, b2, nil)
	stuck, _ := p2.Acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p2.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck lease: %v", err)
	}
	if b2.open.Load() != 0 || stuck.Active() {
		t.Fatal("the stuck lease's instance was not taken back")
	}
	stuck.Release() // harmless
	if _, err := p2.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
}

func TestConfigIsValidated(t *testing.T) {
	open := func(context.Context) (int, error) { return 0, nil }
	for name, cfg := range map[string]pool.Config[int]{
		"no open":   {},
		"min > max": {Open: open, MinSize: 5, MaxSize: 2},
		"negative":  {Open: open, MaxIdle: -1},
		"bad order": {Open: open, Order: "random"},
	} {
		if _, err := pool.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTryAcquireIdleNeverOpensNorTakesABusyInstance(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 2 })
	if _, ok := p.TryAcquireIdle(); ok {
		t.Fatal("TryAcquireIdle on an empty pool returned a lease")
	}
	if got := b.open.Load(); got != 0 {
		t.Fatalf("TryAcquireIdle opened %d instances", got)
	}
	busy, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.TryAcquireIdle(); ok {
		t.Fatal("TryAcquireIdle took the busy instance")
	}
	busy.Release()
	l, ok := p.TryAcquireIdle()
	if !ok || l.Value() != busy.Value() {
		t.Fatalf("TryAcquireIdle = %v, want the idle instance", ok)
	}
	if st := p.Stat(); st.InUse != 1 || st.AcquireCount != 1 {
		t.Fatalf("stat = %+v: want 1 in use and the health lease not counted as an acquire", st)
	}
	l.Release()
}

func TestDrainIdleClosesOnlyIdleInstances(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 3 })
	ls := make([]pool.Lease[*inst], 3)
	for i := range ls {
		var err error
		if ls[i], err = p.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ls[0].Release()
	ls[1].Release()
	if n := p.DrainIdle(); n != 2 {
		t.Fatalf("DrainIdle closed %d, want the 2 idle ones", n)
	}
	if got := b.open.Load(); got != 1 {
		t.Fatalf("%d instances open, want the leased one", got)
	}
	if st := p.Stat(); st.Total != 1 || st.DestroyedBroken != 2 {
		t.Fatalf("stat = %+v", st)
	}
	ls[2].Release()
}

func TestReleaseDoesNotWaitForAResetAndOnlyDirtyInstancesGetOne(t *testing.T) {
	b := newBackend()
	var resets atomic.Int64
	var dirty atomic.Bool
	unblock := make(chan struct{})
	p := newPool(t, b, func(c *pool.Config[*inst]) {
		c.MaxSize = 1
		c.NeedsReset = func(*inst) bool { return dirty.Load() }
		c.Reset = func(ctx context.Context, i *inst) error {
			resets.Add(1)
			select {
			case <-unblock:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}
	})
	// A clean instance goes back with no reset.
	l, _ := p.Acquire(context.Background())
	first := l.Value()
	l.Release()
	if n := resets.Load(); n != 0 {
		t.Fatalf("a clean instance was reset %d times", n)
	}
	// A dirty one is reset in the background: Release returns at once,
	// and the next caller gets the instance only after its reset.
	l, _ = p.Acquire(context.Background())
	dirty.Store(true)
	began := time.Now()
	l.Release()
	if took := time.Since(began); took > time.Second {
		t.Fatalf("Release waited %v for the reset", took)
	}
	got := make(chan *inst, 1)
	go func() {
		l, err := p.Acquire(context.Background())
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		got <- l.Value()
		l.Release()
	}()
	select {
	case <-got:
		t.Fatal("a caller got the instance before its reset ended")
	case <-time.After(50 * time.Millisecond):
	}
	dirty.Store(false)
	close(unblock)
	if v := <-got; v != first {
		t.Fatal("the reset instance was not handed to the waiting caller")
	}
	if n := resets.Load(); n != 1 {
		t.Fatalf("%d resets, want 1", n)
	}
	if n := p.Stat().ResetCount; n != 1 {
		t.Fatalf("Stat().ResetCount = %d, want 1", n)
	}
}

// TestAWaiterGetsTheErrorOfTheOpenMadeForIt: when the instance a waiter
// waits for is destroyed and the open that replaces it fails (the backend
// is down), the waiter gets that error at once, not an exhaustion at the
// acquire timeout: nothing was in use, the backend was unreachable.
func TestAWaiterGetsTheErrorOfTheOpenMadeForIt(t *testing.T) {
	b := newBackend()
	p := newPool(t, b, func(c *pool.Config[*inst]) { c.MaxSize = 1; c.AcquireTimeout = 5 * time.Second })
	l, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 3
	got := make(chan error, waiters)
	began := time.Now()
	for range waiters {
		go func() {
			l2, err := p.Acquire(context.Background())
			if err == nil {
				l2.Release()
			}
			got <- err
		}()
	}
	waitFor(t, func() bool { return p.Stat().Waiting == waiters })
	b.failOpen.Store(true)
	l.Destroy()
	for range waiters {
		err = <-got
		if err == nil || errors.Is(err, pool.ErrExhausted) || !strings.Contains(err.Error(), "backend down") {
			t.Fatalf("a waiter got %v, want the open's error", err)
		}
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the waiters got their errors after %v, want them at once", took)
	}
	// The backend back, the next acquire opens again.
	b.failOpen.Store(false)
	l3, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatalf("acquire after the backend came back: %v", err)
	}
	l3.Release()
}

// TestMaxIdleBelowMinSizeIsRefused: a pool whose max_idle is below its
// min_size would close, as beyond max_idle, the instances it opens to
// reach min_size, and open them again forever. New refuses it, naming
// both settings.
func TestMaxIdleBelowMinSizeIsRefused(t *testing.T) {
	open := func(context.Context) (int, error) { return 0, nil }
	p, err := pool.New(pool.Config[int]{Name: "churn", Open: open, MinSize: 3, MaxSize: 4, MaxIdle: 1})
	if err == nil {
		_ = p.Close(context.Background())
		t.Fatal("New accepted max_idle 1 below min_size 3")
	}
	for _, want := range []string{"pool churn", "max_idle 1", "min_size 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestNoAcceptedSizesChurn: whatever sizes New accepts, warming and
// maintaining an unused pool opens min_size instances once and closes
// none. The maintainer's hour runs on the fake clock of a bubble.
func TestNoAcceptedSizesChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens atomic.Int64
		open := func(context.Context) (int, error) {
			if n := opens.Add(1); n <= 100 {
				return int(n), nil
			}
			return 0, errors.New("opened 100 instances: the pool churns")
		}
		for maxSize := 1; maxSize <= 3; maxSize++ {
			for minSize := 0; minSize <= maxSize; minSize++ {
				for maxIdle := 0; maxIdle <= maxSize+1; maxIdle++ {
					opens.Store(0)
					p, err := pool.New(pool.Config[int]{
						Name: "churn", Open: open, MinSize: minSize, MaxSize: maxSize, MaxIdle: maxIdle,
						IdleTimeout: time.Minute, MaintenanceInterval: time.Second, OpenTimeout: time.Second,
					})
					if err != nil {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					werr := p.Warm(ctx)
					cancel()
					time.Sleep(time.Hour)
					synctest.Wait()
					st := p.Stat()
					_ = p.Close(context.Background())
					if werr != nil || opens.Load() != int64(minSize) || st.Total != minSize || st.DestroyedIdle != 0 {
						t.Errorf("min_size %d, max_size %d, max_idle %d: Warm: %v; after an hour %d opens, %d open, %d closed idle; want %d, %d, 0",
							minSize, maxSize, maxIdle, werr, opens.Load(), st.Total, st.DestroyedIdle, minSize, minSize)
					}
				}
			}
		}
	})
}

// slowCloser is a backend for Close's tests whose Close takes a second of
// a bubble's fake clock, and which counts the closes done.
type slowCloser struct {
	next   atomic.Int64
	closed atomic.Int64
}

func (b *slowCloser) open(context.Context) (int64, error) { return b.next.Add(1), nil }

func (b *slowCloser) close(context.Context, int64) {
	time.Sleep(time.Second)
	b.closed.Add(1)
}

func newSlowClosePool(t *testing.T, b *slowCloser) *pool.Pool[int64] {
	t.Helper()
	p, err := pool.New(pool.Config[int64]{Name: "slow", Open: b.open, Close: b.close, MaxSize: 4, MaintenanceInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCloseWithADoneContextWaitsForADestroyedInstance: Close whose context
// is done, with no lease out but a destroyed instance still closing,
// waits for that close, as for every goroutine of the pool, and so
// succeeds: nothing was left. It used to say it "closed 0 leased instances
// after the deadline".
func TestCloseWithADoneContextWaitsForADestroyedInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &slowCloser{}
		p := newSlowClosePool(t, b)
		l, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l.Destroy()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close with nothing leased and a destroyed instance closing: %v", err)
		}
		if n := b.closed.Load(); n != 1 {
			t.Errorf("%d instances closed when Close returned, want 1", n)
		}
	})
}

// TestCloseSaysWhatWasStillClosingAndWhatItTookBack: when Close's context
// ends, its error counts the leases it took back and the closes it could
// not wait for: here a lease released after Close began, whose instance
// its holder is closing.
func TestCloseSaysWhatWasStillClosingAndWhatItTookBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &slowCloser{}
		p := newSlowClosePool(t, b)
		l, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		released := make(chan struct{})
		go func() {
			defer close(released)
			time.Sleep(50 * time.Millisecond)
			l.Release() // closes the instance, for a second
		}()
		err = p.Close(ctx)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 instance still closing") ||
			strings.Contains(err.Error(), "leased") {
			t.Errorf("Close while a released instance closes: %v; want 1 instance still closing, none taken back", err)
		}
		<-released

		p = newSlowClosePool(t, b)
		for range 2 {
			if _, err := p.Acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		err = p.Close(ctx)
		if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "2 leased instances taken back and closed") ||
			strings.Contains(err.Error(), "still") {
			t.Errorf("Close with 2 leases out: %v; want 2 leased instances taken back and closed, nothing still closing", err)
		}
	})
}

// TestCloseTakesBackAnInstanceBeingResetAndClosesItOnce: an instance
// whose reset is still running when Close's context ends is taken back
// and closed by Close; the reset's end must not close it again.
func TestCloseTakesBackAnInstanceBeingResetAndClosesItOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		closes := map[int64]int{}
		p, err := pool.New(pool.Config[int64]{
			Name: "reset", MaxSize: 1, MaintenanceInterval: time.Hour,
			Open: func(context.Context) (int64, error) { return 1, nil },
			Close: func(_ context.Context, v int64) {
				mu.Lock()
				defer mu.Unlock()
				closes[v]++
			},
			Reset: func(context.Context, int64) error {
				time.Sleep(time.Second)
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		l, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l.Release() // resets for a second
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = p.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "1 leased instance taken back") {
			t.Errorf("Close during a reset: %v; want the instance taken back", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if closes[1] != 1 {
			t.Errorf("instance closed %d times, want once", closes[1])
		}
	})
}
