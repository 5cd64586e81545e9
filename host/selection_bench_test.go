package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The replicas of the selection benchmark: selReplicas replicas, of which
// the one numbered selBad (numbered as they open, from 0) misbehaves as
// the scenario says, and selWorkers callers.
const (
	selReplicas = 4
	selBad      = 1
	selWorkers  = 8
	// selService is a healthy replica's time per call, selSlowBy what the
	// slow replica adds to it.
	selService = 200 * time.Microsecond
	selSlowBy  = 20 * time.Millisecond
)

// The scenarios of the selection benchmark: every replica healthy, the
// replica selBad slow, or the replica selBad failing every call at once
// as unavailable (as a replica whose backend refuses connections does)
// while its Check still passes.
const (
	scenarioHealthy = "healthy"
	scenarioSlow    = "slow"
	scenarioFailing = "failing"
)

// replicaDriver is an in-process driver of one shared type, "rep", whose
// instances are replicas numbered as they open. Each call ("work") takes
// selService, but on the replica numbered selBad, which behaves as the
// scenario says. It counts the calls that reach each replica.
type replicaDriver struct {
	scenario string
	opened   atomic.Int64
	calls    [selReplicas + 1]atomic.Int64 // the last counts replicas opened beyond selReplicas
}

func (d *replicaDriver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "rep", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name: "rep", Description: "replicas of which one may be slow or failing", Pooling: sdk.PoolingShared,
		Operations: []sdk.Operation{{Name: "work", Description: "takes a replica's service time"}},
	}}}
}

func (d *replicaDriver) Configure(context.Context, sdk.ConfigureRequest) (sdk.Resource, error) {
	return replicaResource{d}, nil
}

type replicaResource struct{ d *replicaDriver }

func (r replicaResource) Open(context.Context) (sdk.Instance, error) {
	return &replicaInstance{d: r.d, n: int(r.d.opened.Add(1) - 1)}, nil
}

func (replicaResource) Close(context.Context) error { return nil }

// replicaInstance is the replica numbered n.
type replicaInstance struct {
	d *replicaDriver
	n int
}

func (i *replicaInstance) Check(context.Context) error { return nil }
func (i *replicaInstance) Close(context.Context) error { return nil }

func (i *replicaInstance) Invoke(ctx context.Context, _ sdk.InvokeRequest) (any, error) {
	i.d.calls[min(i.n, selReplicas)].Add(1)
	took := selService
	if i.n == selBad {
		switch i.d.scenario {
		case scenarioFailing:
			return nil, sdk.Errorf(sdk.KindUnavailable, "replica %d: backend refused the connection", i.n)
		case scenarioSlow:
			took += selSlowBy
		}
	}
	t := time.NewTimer(took)
	defer t.Stop()
	select {
	case <-t.C:
		return map[string]int{"replica": i.n}, nil
	case <-ctx.Done():
		return nil, sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(), "work")
	}
}

// selectionResult is what one run of the selection workload measured.
type selectionResult struct {
	latencies []time.Duration // every call's, sorted
	errors    int
	elapsed   time.Duration
	calls     [selReplicas + 1]int64 // calls that reached each replica
	opened    int64
}

// percentile returns the q-quantile (0 < q <= 1) of the latencies by
// nearest rank, in milliseconds.
func (r *selectionResult) percentile(q float64) float64 {
	k := max(int(q*float64(len(r.latencies))+0.999999)-1, 0)
	return float64(r.latencies[k]) / float64(time.Millisecond)
}

// runSelection starts a host whose resource rep.r keeps selReplicas
// replicas picked by selection, in the scenario given, and makes n calls
// from selWorkers callers, each an Acquire, an Invoke and a Release. It
// fails tb on any error but the failing replica's, and checks that the
// driver opened exactly selReplicas replicas. timer, when set, is called
// with true as the calls start and false when they end.
func runSelection(tb testing.TB, scenario, selection string, n int, timer func(on bool)) *selectionResult {
	tb.Helper()
	d := &replicaDriver{scenario: scenario}
	// A long health interval keeps the checks, which probe a replica
	// too, out of the measurement.
	src := fmt.Sprintf(`
resource "rep" "r" {
  pool {
    replicas  = %d
    selection = %q
  }
  health {
    interval = "1h"
  }
}
`, selReplicas, selection)
	h, err := host.New(loadHCLB(tb, src), host.WithDriver("rep", d), host.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := h.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := h.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
	}()
	res := &selectionResult{latencies: make([]time.Duration, 0, n)}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		wg      sync.WaitGroup
		badErrs atomic.Pointer[error]
	)
	if timer != nil {
		timer(true)
	}
	began := time.Now()
	for range selWorkers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, n/selWorkers+1)
			errs := 0
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				l, err := h.Acquire(ctx, "rep.r")
				if err == nil {
					_, err = l.Invoke(ctx, "work", nil)
					l.Release()
				}
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs++
					if scenario != scenarioFailing || sdk.KindOf(err) != sdk.KindUnavailable {
						badErrs.CompareAndSwap(nil, &err)
					}
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(began)
	if timer != nil {
		timer(false)
	}
	if err := badErrs.Load(); err != nil {
		tb.Fatalf("%s/%s: a call failed unexpectedly: %v", scenario, selection, *err)
	}
	slices.Sort(res.latencies)
	for i := range res.calls {
		res.calls[i] = d.calls[i].Load()
	}
	res.opened = d.opened.Load()
	if res.opened != selReplicas {
		tb.Fatalf("%s/%s: the driver opened %d replicas, want %d (was one replaced?)", scenario, selection, res.opened, selReplicas)
	}
	return res
}

// selSteerMinCalls is the fewest calls over which check expects a
// selection to have steered clear of the bad replica: the first calls,
// before the replica's error rate or latency is known, may reach it.
// selSteerMaxShare is the share of the calls, in percent, that it may
// still serve: the selections probe it (measured about 0.5 %), where
// round robin sends it 25 %.
const (
	selSteerMinCalls = 1000
	selSteerMaxShare = 5.0
)

// steers reports whether selection should keep calls off the replica
// selBad in the scenario: weighted and least_loaded off a failing one,
// least_loaded off a slow one too (weighted weighs by success rate, and
// a slow replica succeeds).
func steers(scenario, selection string) bool {
	switch scenario {
	case scenarioFailing:
		return selection == "weighted" || selection == "least_loaded"
	case scenarioSlow:
		return selection == "least_loaded"
	}
	return false
}

// check fails tb if a run of at least minCalls calls measured nothing it
// should have: in the healthy scenario every replica served calls; with
// a failing replica round robin, which does not steer, got errors; and,
// over selSteerMinCalls calls or more, a selection that steers sent the
// bad replica no more than selSteerMaxShare percent of them.
func (r *selectionResult) check(tb testing.TB, scenario, selection string, minCalls int) {
	tb.Helper()
	n := len(r.latencies)
	if n < minCalls {
		return
	}
	if scenario == scenarioHealthy {
		for i, c := range r.calls[:selReplicas] {
			if c == 0 {
				tb.Fatalf("%s/%s: replica %d served none of %d calls: %v", scenario, selection, i, n, r.calls)
			}
		}
	}
	if scenario == scenarioFailing && selection == "round_robin" && r.errors == 0 {
		tb.Fatalf("%s/%s: no call of %d failed, though replica %d fails them all", scenario, selection, n, selBad)
	}
	if n >= selSteerMinCalls && steers(scenario, selection) {
		if share := 100 * float64(r.calls[selBad]) / float64(n); share > selSteerMaxShare {
			tb.Fatalf("%s/%s: replica %d served %.1f %% of %d calls (%d failed), want at most %.0f %%",
				scenario, selection, selBad, share, n, r.errors, selSteerMaxShare)
		}
	}
}

// TestSelectionWorkload checks the driver of BenchmarkSelection: in the
// healthy scenario calls reach every replica and none fails, and round
// robin sends a quarter of the calls to a failing replica, which fail.
// It checks too that the selections that steer keep calls off the bad
// replica (see check): weighted and least_loaded off a failing one, and
// least_loaded off a slow one.
func TestSelectionWorkload(t *testing.T) {
	const n = 400
	r := runSelection(t, scenarioHealthy, "round_robin", n, nil)
	r.check(t, scenarioHealthy, "round_robin", n)
	if r.errors != 0 {
		t.Fatalf("healthy: %d calls failed", r.errors)
	}
	r = runSelection(t, scenarioFailing, "round_robin", n, nil)
	r.check(t, scenarioFailing, "round_robin", n)
	// The host's first health check, soon after start, takes a turn of
	// the round robin too, so the share may be off by one.
	if want := int64(n / selReplicas); r.calls[selBad] < want-1 || r.calls[selBad] > want+1 || int64(r.errors) != r.calls[selBad] {
		t.Fatalf("failing: replica %d served %d calls, %d failed; want %d±1, all failed", selBad, r.calls[selBad], r.errors, want)
	}
	for _, c := range []struct{ scenario, selection string }{
		{scenarioFailing, "weighted"},
		{scenarioFailing, "least_loaded"},
		{scenarioSlow, "least_loaded"},
	} {
		r := runSelection(t, c.scenario, c.selection, selSteerMinCalls, nil)
		r.check(t, c.scenario, c.selection, selSteerMinCalls)
		if c.scenario == scenarioFailing && int64(r.errors) != r.calls[selBad] {
			t.Fatalf("%s/%s: %d calls failed, but replica %d served %d", c.scenario, c.selection, r.errors, selBad, r.calls[selBad])
		}
	}
}

// BenchmarkSelection compares the shared pool's replica selections
// (round_robin, weighted, least_loaded) on a resource of selReplicas
// in-process replicas: all healthy, one slowed by selSlowBy, and one
// failing every call at once as unavailable while its Check passes.
// selWorkers callers each Acquire, Invoke and Release until b.N calls are
// made. Besides ns/op it reports every call's latency percentiles
// (p50-ms, p95-ms, p99-ms), the share of calls that failed (err-%), the
// calls per second, and the share of the calls that reached the replica
// numbered selBad (bad-share-%; in the healthy scenario it is as good as
// any other). -count repeats each sub-benchmark in a row: to compare the
// selections under the same load, run rounds of one -count each (see
// docs/PERFORMANCE.md).
func BenchmarkSelection(b *testing.B) {
	for _, scenario := range []string{scenarioHealthy, scenarioSlow, scenarioFailing} {
		for _, selection := range []string{"round_robin", "weighted", "least_loaded"} {
			b.Run("scenario="+scenario+"/selection="+selection, func(b *testing.B) {
				r := runSelection(b, scenario, selection, b.N, func(on bool) {
					if on {
						b.ResetTimer()
					} else {
						b.StopTimer()
					}
				})
				r.check(b, scenario, selection, 200)
				total := float64(len(r.latencies))
				b.ReportMetric(r.percentile(0.50), "p50-ms")
				b.ReportMetric(r.percentile(0.95), "p95-ms")
				b.ReportMetric(r.percentile(0.99), "p99-ms")
				b.ReportMetric(100*float64(r.errors)/total, "err-%")
				b.ReportMetric(total/r.elapsed.Seconds(), "calls/s")
				b.ReportMetric(100*float64(r.calls[selBad])/total, "bad-share-%")
			})
		}
	}
}
