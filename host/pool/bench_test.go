package pool_test

// Benchmarks of the exclusive pool against github.com/jackc/puddle/v2, the
// pool under pgxpool, on the same workloads. Every benchmark has two
// sub-benchmarks, impl=nebula and impl=puddle, so that
//
//	benchstat -col /impl bench.txt
//
// sets them side by side. The instance is an int; opening and closing it
// cost nothing and there is no Reset or Check, so what is measured is the
// pools' own bookkeeping. docs/PERFORMANCE.md records the results.

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/nebula-resource/nebula-resource/host/pool"
)

func openInt(context.Context) (int, error) { return 1, nil }

// newNebula returns a pool of at most size instances, warm instances of
// them already open and idle, closed when the benchmark ends.
func newNebula(tb testing.TB, size, warm int) *pool.Pool[int] {
	tb.Helper()
	p, err := pool.New(pool.Config[int]{
		Name:    "bench",
		Open:    openInt,
		Close:   func(context.Context, int) {},
		MinSize: warm,
		MaxSize: size,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	if err := p.Warm(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return p
}

// newPuddle is newNebula for puddle.
func newPuddle(tb testing.TB, size, warm int) *puddle.Pool[int] {
	tb.Helper()
	p, err := puddle.NewPool(&puddle.Config[int]{
		Constructor: openInt,
		Destructor:  func(int) {},
		MaxSize:     int32(size),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	for range warm {
		if err := p.CreateResource(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

// BenchmarkAcquireReleaseHit is the hot path: one goroutine, one idle
// instance, acquire and release.
func BenchmarkAcquireReleaseHit(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=nebula", func(b *testing.B) {
		p := newNebula(b, 1, 1)
		sum := 0
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			l, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sum += l.Value()
			l.Release()
		}
		b.StopTimer()
		if sum != b.N || p.Stat().Created != 1 {
			b.Fatalf("sum %d, created %d: not all hits", sum, p.Stat().Created)
		}
	})
	b.Run("impl=puddle", func(b *testing.B) {
		p := newPuddle(b, 1, 1)
		sum := 0
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			r, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sum += r.Value()
			r.Release()
		}
		b.StopTimer()
		if sum != b.N || p.Stat().TotalResources() != 1 {
			b.Fatalf("sum %d, total %d: not all hits", sum, p.Stat().TotalResources())
		}
	})
}

// BenchmarkAcquireReleaseParallel is the hot path from GOMAXPROCS
// goroutines on a pool of GOMAXPROCS warm instances: no caller waits for
// an instance, they only contend for the pool's lock.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	ctx := context.Background()
	size := runtime.GOMAXPROCS(0)
	b.Run("impl=nebula", func(b *testing.B) {
		p := newNebula(b, size, size)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l, err := p.Acquire(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				l.Release()
			}
		})
	})
	b.Run("impl=puddle", func(b *testing.B) {
		p := newPuddle(b, size, size)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r, err := p.Acquire(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				r.Release()
			}
		})
	})
}

const (
	contenders = 64
	contended  = 8
)

// BenchmarkContended has 64 goroutines share 8 warm instances. A holder
// yields the processor once (runtime.Gosched, as a call to the backend
// would) before it releases, so that instances are held while others run
// and most acquires wait in the queue. Besides ns/op (the throughput of
// the whole pool), it reports the 50th and 99th percentiles of how long
// one Acquire took, measured around the call.
//
// Its results have two regimes: about 0.7 µs/op when the goroutines run on
// one processor, about 2 µs/op when they run on two and every hand-over
// wakes a goroutine on the other. On a 2-core machine with other work on
// it the regime can change between runs, and -count runs each
// sub-benchmark all its times in a row, so compare the impls with -cpu 1,2
// and runs interleaved (-count=1 in a loop), as docs/PERFORMANCE.md does.
func BenchmarkContended(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=nebula", func(b *testing.B) {
		p := newNebula(b, contended, contended)
		runContended(b, func(lat []int64) error {
			for i := range lat {
				t0 := time.Now()
				l, err := p.Acquire(ctx)
				lat[i] = int64(time.Since(t0))
				if err != nil {
					return err
				}
				runtime.Gosched()
				l.Release()
			}
			return nil
		})
	})
	b.Run("impl=puddle", func(b *testing.B) {
		p := newPuddle(b, contended, contended)
		runContended(b, func(lat []int64) error {
			for i := range lat {
				t0 := time.Now()
				r, err := p.Acquire(ctx)
				lat[i] = int64(time.Since(t0))
				if err != nil {
					return err
				}
				runtime.Gosched()
				r.Release()
			}
			return nil
		})
	})
}

// runContended splits b.N acquires over the contenders, each running loop
// on its share of one latency slice allocated beforehand, and reports the
// percentiles of the latencies.
func runContended(b *testing.B, loop func(lat []int64) error) {
	lat := make([]int64, b.N)
	shares := make([][]int64, contenders)
	from := 0
	for g := range shares {
		n := b.N / contenders
		if g < b.N%contenders {
			n++
		}
		shares[g] = lat[from : from+n : from+n]
		from += n
	}
	start := make(chan struct{})
	errs := make(chan error, contenders)
	var wg sync.WaitGroup
	for g := range contenders {
		wg.Go(func() {
			<-start
			if err := loop(shares[g]); err != nil {
				errs <- err
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*50/100]), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	}
}

// BenchmarkMiss opens an instance for every acquire: each lease is
// destroyed, so the next acquire finds nothing idle.
func BenchmarkMiss(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=nebula", func(b *testing.B) {
		p := newNebula(b, 1, 0)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			l, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			l.Destroy()
		}
		b.StopTimer()
		if n := p.Stat().Created; n != int64(b.N) {
			b.Fatalf("created %d for %d acquires", n, b.N)
		}
	})
	b.Run("impl=puddle", func(b *testing.B) {
		p := newPuddle(b, 1, 0)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			r, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			r.Destroy()
		}
		b.StopTimer()
		if n := p.Stat().EmptyAcquireCount(); n != int64(b.N) {
			b.Fatalf("%d empty acquires for %d acquires", n, b.N)
		}
	})
}

// TestIdleInstanceMemory measures what the pool spends on each idle
// instance: the heap after opening 1,000 instances of an empty struct,
// which costs nothing itself, less the heap before. Puddle is measured the
// same way, for the record.
func TestIdleInstanceMemory(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	open := func(context.Context) (struct{}, error) { return struct{}{}, nil }

	p, err := pool.New(pool.Config[struct{}]{
		Name: "memory", Open: open, MinSize: n, MaxSize: n,
		MaintenanceInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	before := liveHeap()
	if err := p.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	after := liveHeap()
	if st := p.Stat(); st.Idle != n {
		t.Fatalf("%d idle instances, want %d", st.Idle, n)
	}
	runtime.KeepAlive(p)
	per := float64(after-before) / n

	q, err := puddle.NewPool(&puddle.Config[struct{}]{Constructor: open, Destructor: func(struct{}) {}, MaxSize: n})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	qBefore := liveHeap()
	for range n {
		if err := q.CreateResource(ctx); err != nil {
			t.Fatal(err)
		}
	}
	qAfter := liveHeap()
	if got := q.Stat().IdleResources(); got != n {
		t.Fatalf("puddle: %d idle resources, want %d", got, n)
	}
	runtime.KeepAlive(q)

	t.Logf("%d idle instances: nebula %.0f B each (%d B), puddle %.0f B each (%d B)",
		n, per, after-before, float64(qAfter-qBefore)/n, qAfter-qBefore)
	if per >= 1024 {
		t.Errorf("%.0f B of heap per idle instance, want under 1 KiB", per)
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
// It collects twice: the first collection only moves sync.Pool caches to
// their victim caches, which the second frees; with one, whatever the
// testing package had pooled before is freed during the measurement and
// hides part of it.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
