package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestMain runs a child's run when the smoke test starts this binary as
// one, as main does, and serves the memory driver as its plugin when the
// host starts it under that name, so that the smoke test links nothing.
func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childMain(spec))
	}
	if filepath.Base(os.Args[0]) == "nebula-plugin-memory" {
		sdk.Serve(memory.New(), otelexport.Option())
		return
	}
	goleak.VerifyTestMain(m)
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		ds := make([]time.Duration, len(ns))
		for i, n := range ns {
			ds[i] = time.Duration(n) * time.Millisecond
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 down to 1
	}
	for _, tt := range []struct {
		name string
		ds   []time.Duration
		p    int
		want time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of four is the second", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p50 of five is the third", ms(5, 4, 3, 2, 1), 50, 3 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99 of 101 is the largest", ms(append(hundred, 1000)...), 99, 100 * time.Millisecond},
		{"p99 of 10 is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100 is the largest", ms(3, 9, 1), 100, 9 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %d) = %v, want %v", tt.ds, tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if !slices.Equal(xs, []float64{3, 1, 2}) {
		t.Errorf("median reordered its argument: %v", xs)
	}
}

func TestRotateStartsEachRoundOneFurther(t *testing.T) {
	vs := []string{"a", "b", "c"}
	for round, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(vs, round); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
	if !slices.Equal(vs, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its argument: %v", vs)
	}
}

var testWorkloads = []*workload{
	{name: "kv/get", variants: []string{direct, hostInproc, hostPlugin}},
	{name: "kv/batch", perOp: 1000, variants: []string{direct, hostPlugin}},
}

// testSamples are three rounds in which the machine's speed changes from
// round to round while host-plugin stays at a quarter of direct.
func testSamples() []sample {
	var ss []sample
	for i, speed := range []float64{1, 2, 0.5} {
		round := i + 1
		ss = append(ss,
			sample{Workload: "kv/get", Variant: direct, Round: round, Throughput: 100_000 * speed, Unit: "ops/s", P50: 20 / speed, P99: 80 / speed, AllocsPerOp: 7, HostCPUPerOp: 10 / speed, MachineCPUPerOp: 30 / speed},
			sample{Workload: "kv/get", Variant: hostInproc, Round: round, Throughput: 50_000 * speed, Unit: "ops/s", P50: 25 / speed, P99: 90 / speed, AllocsPerOp: 40, HostCPUPerOp: 20 / speed, MachineCPUPerOp: 45 / speed},
			sample{Workload: "kv/get", Variant: hostPlugin, Round: round, Throughput: 25_000 * speed, Unit: "ops/s", P50: 200 / speed, P99: 400 / speed, AllocsPerOp: 120, HostCPUPerOp: 40 / speed, PluginCPUPerOp: 30 / speed, MachineCPUPerOp: 120 / speed, Plugins: 1},
		)
	}
	ss = append(ss,
		sample{Workload: "kv/batch", Variant: direct, Round: 1, Throughput: 500_000, Unit: "records/s", P50: 1500, P99: 2500, AllocsPerOp: 2012, HostCPUPerOp: 900, MachineCPUPerOp: 1000},
		sample{Workload: "kv/batch", Variant: hostPlugin, Round: 1, Throughput: 40_000, Unit: "records/s", P50: 21000, P99: 30500, AllocsPerOp: 15321.04, HostCPUPerOp: 12000, PluginCPUPerOp: 9000, MachineCPUPerOp: 24000, Plugins: 1},
	)
	return ss
}

func TestAggregateComparesWithinEachRound(t *testing.T) {
	rows := aggregate(testWorkloads, testSamples())
	var got []string
	for _, r := range rows {
		got = append(got, r.Workload+" "+r.Variant)
	}
	want := []string{"kv/get direct", "kv/get host-inproc", "kv/get host-plugin", "kv/batch direct", "kv/batch host-plugin"}
	if !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	d, p := rows[0], rows[2]
	if d.OfDirect != nil || d.P50OverDirect != nil || d.PluginCPUPerOp != nil {
		t.Errorf("direct compared with itself, or given plugin CPU: %+v", d)
	}
	if d.Throughput != 100_000 || d.P50 != 20 || d.Rounds != 3 {
		t.Errorf("direct: throughput %v, p50 %v, rounds %d; want the medians 100000 and 20 over 3 rounds", d.Throughput, d.P50, d.Rounds)
	}
	// Within each round host-plugin does a quarter of direct; across
	// rounds the medians would say the same here, but the per-round
	// differences of p50 are 180, 90 and 360 µs: median 180.
	if p.OfDirect == nil || *p.OfDirect != 0.25 {
		t.Errorf("host-plugin of direct = %v, want 0.25", p.OfDirect)
	}
	if p.P50OverDirect == nil || *p.P50OverDirect != 180 {
		t.Errorf("host-plugin p50 over direct = %v, want 180", p.P50OverDirect)
	}
	if p.PluginCPUPerOp == nil || *p.PluginCPUPerOp != 30 {
		t.Errorf("host-plugin plugin CPU = %v, want 30", p.PluginCPUPerOp)
	}
	if len(p.Samples) != 3 {
		t.Errorf("host-plugin keeps %d samples, want 3", len(p.Samples))
	}
}

// A round where direct failed to run gives the other variants nothing to
// be compared with; the ratio comes from the other rounds.
func TestAggregateSkipsRoundsWithoutDirect(t *testing.T) {
	ss := slices.DeleteFunc(testSamples(), func(s sample) bool { return s.Variant == direct && s.Round == 2 })
	rows := aggregate(testWorkloads, ss)
	p := rows[2]
	if p.Variant != hostPlugin || p.P50OverDirect == nil || *p.P50OverDirect != (180+360)/2 {
		t.Errorf("%s p50 over direct = %v, want 270 (rounds 1 and 3)", p.Variant, p.P50OverDirect)
	}
}

func TestWriteTable(t *testing.T) {
	m := &meta{
		Label: "v1.2.3-4-gabcdef0", Started: time.Date(2026, 12, 5, 18, 40, 0, 0, time.UTC), Go: "go1.26.8", Platform: "linux/amd64",
		CPUs: 2, GOMAXPROCS: 2, Rounds: 3, Warmup: "1s", Duration: "3s", Concurrency: 32, LoadBefore: 1.5, LoadAfter: 2.25,
	}
	var b bytes.Buffer
	if err := writeTable(&b, m, aggregate(testWorkloads, testSamples()), map[string]string{"pg/select": "postgres does not answer: connection refused"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := writeCSV(&b, aggregate(testWorkloads, testSamples())); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 {
		t.Fatalf("%d records, want a header and 5 rows", len(recs))
	}
	want := []string{"kv/get", "host-plugin", "ops/s", "3", "25000", "0.25", "200", "400", "180", "120", "40", "30", "120"}
	if !slices.Equal(recs[3], want) {
		t.Errorf("host-plugin's line %q, want %q", recs[3], want)
	}
	if recs[1][5] != "" || recs[1][11] != "" {
		t.Errorf("direct's line %q: want of_direct and plugin CPU empty", recs[1])
	}
}

func TestFormatMicros(t *testing.T) {
	for us, want := range map[float64]string{1.234: "1.23 µs", 12.34: "12.3 µs", 1234.4: "1,234 µs", -5.5: "-5.50 µs"} {
		if got := formatMicros(us); got != want {
			t.Errorf("formatMicros(%v) = %q, want %q", us, got, want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// statLine is a /proc/PID/stat line of a process named comm whose parent
// is ppid, with utime and stime in clock ticks.
func statLine(pid int, comm string, ppid, utime, stime int) string {
	return fmt.Sprintf("%d (%s) S %d %d 7908 0 -1 4194304 99 0 0 0 %d %d 0 0 20 0 1 0 44982 3133440 408 18446744073709551615 94611827404800 94611827424681 140728226564048 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94611827440688 94611827442304 94612532432896 140728226568703 140728226568723 140728226568723 140728226570219 0\n",
		pid, comm, ppid, pid, utime, stime)
}

func TestChildrenCPUSumsTheChildren(t *testing.T) {
	root := t.TempDir()
	write := func(pid int, comm string, ppid, utime, stime int) {
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(statLine(pid, comm, ppid, utime, stime)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(42, "benchcompare", 1, 500, 500)
	write(100, "nebula-plugin-m", 42, 150, 50)
	write(101, "a (tricky) name) 1 2", 42, 30, 20) // the name ends at the last ')'
	write(102, "other", 1, 900, 900)
	write(103, "grandchild", 100, 70, 70)
	// A process that exited between the listing and the read.
	if err := os.Mkdir(filepath.Join(root, "104"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := openProcFS(root)
	if err != nil {
		t.Fatal(err)
	}
	cpu, n, err := p.childrenCPU(42)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || cpu != 2500*time.Millisecond {
		t.Errorf("childrenCPU(42) = %v over %d processes, want 2.5s over 2 (200 and 50 ticks)", cpu, n)
	}
	if _, n, _ := p.childrenCPU(7); n != 0 {
		t.Errorf("childrenCPU(7) found %d processes, want none", n)
	}
}

func TestMachineCPUCountsBusyTime(t *testing.T) {
	root := t.TempDir()
	// user nice system idle iowait irq softirq steal guest guest_nice, in
	// ticks of 10 ms: busy is user, nice, system, irq and softirq.
	stat := "cpu  1000 10 300 5000 40 5 25 70 0 0\ncpu0 500 5 150 2500 20 3 12 35 0 0\ncpu1 500 5 150 2500 20 2 13 35 0 0\nintr 0\nctxt 0\nbtime 1700000000\nprocesses 1\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
	if err := os.WriteFile(filepath.Join(root, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := openProcFS(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	if want := 13400 * time.Millisecond; got != want {
		t.Errorf("machineCPU() = %v, want %v (1,340 busy ticks)", got, want)
	}
}

func TestChildrenCPUFindsARealChild(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot run sleep:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	p, err := newProcFS()
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := p.childrenCPU(os.Getpid()); err != nil || n != 1 {
		t.Errorf("childrenCPU(this process) found %d processes (%v), want the one sleep", n, err)
	}
}

func TestParseFlagsRefusesMistakes(t *testing.T) {
	for _, args := range [][]string{
		{"-rounds", "0"},
		{"-duration", "0s"},
		{"-c", "0"},
		{"-json", "-csv"},
		{"-only", "("},
		{"extra"},
	} {
		fs := flag.NewFlagSet("bench-compare", flag.ContinueOnError)
		fs.SetOutput(new(bytes.Buffer))
		if _, err := parseFlags(fs, args); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

func TestRunRefusesAnOnlyThatMatchesNothing(t *testing.T) {
	o := options{only: regexp.MustCompile("^nothing$"), rounds: 1, duration: time.Millisecond}
	err := run(t.Context(), os.Args[0], o, new(bytes.Buffer), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "memory/get-100B") {
		t.Errorf("run = %v, want an error listing the workloads", err)
	}
}

// TestSmokeMemoryGet runs the tool on its cheapest workload, each variant
// in a child process, and checks the table's rows. The children, and the
// memory plugin host-plugin runs, are this test binary (see TestMain).
func TestSmokeMemoryGet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin and starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(plugins, "nebula-plugin-memory")); err != nil {
		t.Fatal(err)
	}
	o := options{
		only: regexp.MustCompile("^memory/"), rounds: 1, duration: 150 * time.Millisecond, warmup: 50 * time.Millisecond,
		concurrency: 4, format: "table", pluginDir: plugins,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, exe, o, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	cell := `\s*[^|]+\s*\|`
	for _, c := range []struct {
		variant string
		plugin  string // the column before the machine's
	}{{direct, "–"}, {hostInproc, "–"}, {hostPlugin, `[0-9.,]+ µs`}} {
		re := regexp.MustCompile(`(?m)^\| memory/get-100B \| ` + c.variant + ` \| [0-9,]+ ops/s \|` + strings.Repeat(cell, 6) + ` ` + c.plugin + ` \| [0-9.,]+ µs \|$`)
		if !re.MatchString(stdout.String()) {
			t.Errorf("no row for %s with plugin CPU %s in:\n%s", c.variant, c.plugin, stdout.String())
		}
	}
	if n := strings.Count(stdout.String(), "\n| memory/"); n != 3 {
		t.Errorf("%d rows, want 3:\n%s", n, stdout.String())
	}
}

// counting is a target whose calls and ended workers are counted; its
// calls fail from the failAfter-th on, when that is above 0.
type counting struct {
	calls, dones atomic.Int64
	failAfter    int64
}

func (c *counting) target() *target {
	return &target{worker: func(context.Context) (func(context.Context) error, func(), error) {
		return func(context.Context) error {
			if n := c.calls.Add(1); c.failAfter > 0 && n >= c.failAfter {
				return errBoom
			}
			time.Sleep(100 * time.Microsecond)
			return nil
		}, func() { c.dones.Add(1) }, nil
	}}
}

var errBoom = errors.New("boom")

func TestLoadCountsEveryCallAndEndsEveryWorker(t *testing.T) {
	var c counting
	marks := 0
	ops, err := load(t.Context(), c.target(), 4, 50*time.Millisecond, func() error { marks++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if ops == 0 || ops != c.calls.Load() {
		t.Errorf("load counted %d calls; the target saw %d", ops, c.calls.Load())
	}
	if c.dones.Load() != 4 || marks != 2 {
		t.Errorf("%d workers ended and %d marks, want 4 and 2", c.dones.Load(), marks)
	}
}

func TestLoadStopsAtTheFirstFailingCall(t *testing.T) {
	c := counting{failAfter: 10}
	began := time.Now()
	_, err := load(t.Context(), c.target(), 4, time.Minute, nil)
	if !errors.Is(err, errBoom) {
		t.Fatalf("load = %v, want the call's error", err)
	}
	if time.Since(began) > 10*time.Second {
		t.Errorf("load took %v to stop after a failing call", time.Since(began))
	}
	if c.dones.Load() != 4 {
		t.Errorf("%d workers ended, want 4", c.dones.Load())
	}
}

func TestLoadFailsWhenAWorkerCannotBeSetUp(t *testing.T) {
	n := atomic.Int64{}
	tg := &target{worker: func(context.Context) (func(context.Context) error, func(), error) {
		if n.Add(1) == 2 {
			return nil, nil, errBoom
		}
		return func(context.Context) error { return nil }, func() {}, nil
	}}
	if _, err := load(t.Context(), tg, 3, time.Minute, nil); !errors.Is(err, errBoom) {
		t.Fatalf("load = %v, want the setup's error", err)
	}
}

// A run that fails fails the tool, with the child's own words.
func TestRunChildReturnsTheChildsError(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, err = runChild(t.Context(), exe, runSpec{Workload: "memory/get-100B", Variant: "nope", Duration: time.Millisecond, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), `workload memory/get-100B has no variant "nope"`) {
		t.Errorf("runChild = %v, want the child's complaint about the variant", err)
	}
}

// The http workloads start their own server, so that their variants run
// anywhere: direct and host-inproc each set up, make calls, and close
// what they started (goleak, TestMain).
func TestHTTPFetchRunsWithItsOwnServer(t *testing.T) {
	if len(itemBody) < 180 || len(itemBody) > 220 {
		t.Errorf("the item is %d bytes, want about 200", len(itemBody))
	}
	for _, name := range []string{"http/fetch-200B", "http/fetch-200B/lease-held"} {
		for _, v := range []string{direct, hostInproc} {
			t.Run(name+"/"+v, func(t *testing.T) {
				e := &runEnv{spec: runSpec{Workload: name, Variant: v, Concurrency: 2}}
				tg, err := findWorkload(name).setup(t.Context(), e, v)
				if err == nil {
					_, err = load(t.Context(), tg, 2, 50*time.Millisecond, nil)
				}
				if err = errors.Join(err, e.close()); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
