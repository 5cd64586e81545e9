package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// runSpec is one child's run: which workload and variant, and how.
type runSpec struct {
	Workload    string        `json:"workload"`
	Variant     string        `json:"variant"`
	Warmup      time.Duration `json:"warmup"`
	Duration    time.Duration `json:"duration"`
	Concurrency int           `json:"concurrency"`
	PluginDir   string        `json:"plugin_dir"`
	Backends    backends      `json:"backends"`
	// Out is the file the child writes its sample to.
	Out string `json:"out"`
	// ProfileDir, when set, receives CPU profiles: the host's of the
	// throughput phase, and the plugin's of its whole run.
	ProfileDir string `json:"profile_dir,omitempty"`
}

// profile is the path of a CPU profile of this run, of side "host" or
// "plugin".
func (s runSpec) profile(side string) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(s.Workload) + "." + s.Variant + "." + side + ".pprof"
	return filepath.Join(s.ProfileDir, name)
}

// sample is what one run measured.
type sample struct {
	Workload string `json:"workload"`
	Variant  string `json:"variant"`
	Round    int    `json:"round"`
	// Ops is the calls completed in the throughput phase, in Seconds.
	Ops     int64   `json:"ops"`
	Seconds float64 `json:"seconds"`
	// Throughput is Ops × PerOp / Seconds, in Unit.
	Throughput float64 `json:"throughput"`
	Unit       string  `json:"unit"`
	// P50 and P99 are the latencies of one call at concurrency 1, in
	// microseconds, over LatencyOps calls.
	P50        float64 `json:"p50_us"`
	P99        float64 `json:"p99_us"`
	LatencyOps int     `json:"latency_ops"`
	// Per call of the throughput phase: allocations and CPU time (µs) of
	// the process running the workload, and CPU time (µs) of its child
	// processes (the plugins; Plugins says how many there were), and the
	// busy CPU time (µs) of the whole machine: the servers, the kernel's
	// network work and anything else running.
	AllocsPerOp     float64 `json:"allocs_per_op"`
	HostCPUPerOp    float64 `json:"host_cpu_us_per_op"`
	PluginCPUPerOp  float64 `json:"plugin_cpu_us_per_op"`
	MachineCPUPerOp float64 `json:"machine_cpu_us_per_op"`
	Plugins         int     `json:"plugins"`
}

// runChild runs spec in a new process of exe and returns its sample. A
// child that fails returns its error output.
func runChild(ctx context.Context, exe string, spec runSpec) (sample, error) {
	dir, err := os.MkdirTemp("", "nebula-benchcompare-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	spec.Out = filepath.Join(dir, "sample.json")
	raw, err := json.Marshal(spec)
	if err != nil {
		return sample{}, err
	}
	// Bounded, so that a hung backend cannot hang the tool.
	ctx, cancel := context.WithTimeout(ctx, spec.Warmup+2*spec.Duration+3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%v\n%s", err, bytes.TrimSpace(out.Bytes()))
	}
	b, err := os.ReadFile(spec.Out)
	if err != nil {
		return sample{}, fmt.Errorf("the run wrote no result: %v\n%s", err, bytes.TrimSpace(out.Bytes()))
	}
	var s sample
	if err := json.Unmarshal(b, &s); err != nil {
		return sample{}, fmt.Errorf("the run's result: %v", err)
	}
	return s, nil
}

// childMain runs the spec in this process and writes its sample; it
// returns the exit code.
func childMain(raw string) int {
	var spec runSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", childEnv, err)
		return 2
	}
	s, err := measure(spec)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(s); err == nil {
			err = os.WriteFile(spec.Out, b, 0o600)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", spec.Workload, spec.Variant, err)
		return 1
	}
	return 0
}

// measure sets up the workload's variant, warms it up, and measures its
// throughput and then its latency.
func measure(spec runSpec) (s sample, err error) {
	w := findWorkload(spec.Workload)
	if w == nil {
		return s, fmt.Errorf("no workload %q", spec.Workload)
	}
	if !slices.Contains(w.variants, spec.Variant) {
		return s, fmt.Errorf("workload %s has no variant %q (it has %v)", w.name, spec.Variant, w.variants)
	}
	ctx, cancel := context.WithTimeout(context.Background(), spec.Warmup+2*spec.Duration+2*time.Minute)
	defer cancel()
	e := &runEnv{spec: spec}
	defer func() { err = errors.Join(err, e.close()) }()
	t, err := w.setup(ctx, e, spec.Variant)
	if err != nil {
		return s, fmt.Errorf("setup: %w", err)
	}
	if _, err := load(ctx, t, spec.Concurrency, spec.Warmup, nil); err != nil {
		return s, fmt.Errorf("warm-up: %w", err)
	}

	procs, err := newProcFS()
	if err != nil {
		return s, err
	}
	var (
		marks   []snapshot // the throughput phase's start and end
		profile *os.File
	)
	ops, err := load(ctx, t, spec.Concurrency, spec.Duration, func() error {
		if len(marks) == 1 && profile != nil {
			pprof.StopCPUProfile()
			if err := profile.Close(); err != nil {
				return err
			}
		}
		m, err := takeSnapshot(procs)
		marks = append(marks, m)
		if len(marks) == 1 && spec.ProfileDir != "" && spec.Variant != direct {
			if profile, err = os.Create(spec.profile("host")); err != nil {
				return err
			}
			return pprof.StartCPUProfile(profile)
		}
		return err
	})
	if err != nil {
		return s, fmt.Errorf("throughput at %d: %w", spec.Concurrency, err)
	}
	before, after := marks[0], marks[1]
	lat, err := latencies(ctx, t, spec.Duration)
	if err != nil {
		return s, fmt.Errorf("latency at 1: %w", err)
	}

	perOp := float64(max(w.perOp, 1))
	unit := "ops/s"
	switch {
	case w.bytesPerOp > 0:
		perOp, unit = float64(w.bytesPerOp)/(1<<20), "MiB/s"
	case perOp > 1:
		unit = "records/s"
	}
	elapsed := after.at.Sub(before.at).Seconds()
	n := float64(max(ops, 1))
	s = sample{
		Workload: w.name, Variant: spec.Variant,
		Ops: ops, Seconds: elapsed, Throughput: float64(ops) * perOp / elapsed, Unit: unit,
		P50: micros(percentile(lat, 50)), P99: micros(percentile(lat, 99)), LatencyOps: len(lat),
		AllocsPerOp:     float64(after.mallocs-before.mallocs) / n,
		HostCPUPerOp:    micros(after.cpu-before.cpu) / n,
		PluginCPUPerOp:  micros(after.pluginCPU-before.pluginCPU) / n,
		MachineCPUPerOp: micros(after.machineCPU-before.machineCPU) / n,
		Plugins:         after.plugins,
	}
	if after.plugins != before.plugins {
		return s, fmt.Errorf("the plugin processes changed during the run (%d, then %d): one exited or was restarted", before.plugins, after.plugins)
	}
	return s, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// snapshot is what the throughput phase is measured between.
type snapshot struct {
	at         time.Time
	mallocs    uint64
	cpu        time.Duration // this process, user and system
	pluginCPU  time.Duration // its children
	plugins    int
	machineCPU time.Duration // every CPU's busy time
}

// takeSnapshot reads the counters. The children's CPU is read first and
// this process's and the machine's last, so that walking /proc falls
// outside the window.
func takeSnapshot(procs procFS) (snapshot, error) {
	var s snapshot
	var err error
	if s.pluginCPU, s.plugins, err = procs.childrenCPU(os.Getpid()); err != nil {
		return s, err
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.mallocs = m.Mallocs
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return s, fmt.Errorf("getrusage: %w", err)
	}
	s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if s.machineCPU, err = procs.machineCPU(); err != nil {
		return s, err
	}
	s.at = time.Now()
	return s, nil
}

// load runs c workers calling the target as fast as they can for d and
// returns how many calls they completed. The workers are set up (a lease
// held, say) before d starts and ended after the calls; the calls under
// way when d ends are finished and counted. mark, when not nil, is called
// when the calls begin and when the last has finished: the window the
// throughput is measured over. The first failing call ends the load and
// is returned.
func load(ctx context.Context, t *target, c int, d time.Duration, mark func() error) (int64, error) {
	if d <= 0 {
		return 0, nil
	}
	if mark == nil {
		mark = func() error { return nil }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		ready, calling, wg sync.WaitGroup
		start              = make(chan struct{})
		stop               atomic.Bool
		ops                atomic.Int64
	)
	ready.Add(c)
	calling.Add(c)
	for range c {
		wg.Go(func() {
			call, done, err := t.worker(ctx)
			ready.Done()
			if err != nil {
				cancel(err)
				calling.Done()
				return
			}
			<-start
			var n int64
			for !stop.Load() && ctx.Err() == nil {
				if err := call(ctx); err != nil {
					cancel(err)
					break
				}
				n++
			}
			ops.Add(n)
			calling.Done()
			done()
		})
	}
	ready.Wait()
	if err := mark(); err != nil {
		cancel(err)
	}
	close(start)
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	calling.Wait()
	if context.Cause(ctx) == nil {
		if err := mark(); err != nil {
			cancel(err)
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return ops.Load(), nil
}

// latencies calls the target from one worker for d and returns the time
// of each call.
func latencies(ctx context.Context, t *target, d time.Duration) ([]time.Duration, error) {
	call, done, err := t.worker(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	lat := make([]time.Duration, 0, 1<<16)
	end := time.Now().Add(d)
	for {
		began := time.Now()
		if !began.Before(end) {
			return lat, nil
		}
		if err := call(ctx); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(began))
	}
}

// percentile returns the pth percentile (1 to 100) of ds by the
// nearest-rank method, sorting ds; 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := (p*len(ds) + 99) / 100 // ⌈p·n/100⌉
	return ds[min(max(rank, 1), len(ds))-1]
}
