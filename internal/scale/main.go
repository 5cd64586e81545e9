// Command scale measures what resources cost a running host: it writes a
// configuration of N memory resources, starts the real bin/nebula-host run
// with the real memory plugin, waits until /readyz answers 200, and then
// measures the host's and the plugin's resident memory (VmRSS, after
// settling and again after the idle window), the host's
// goroutines (go_goroutines on /metrics), both processes' CPU while idle,
// and the size and time of a /metrics scrape and of GET /v1/resources. It
// does this for each N given (default 1 and 1000) in the same run, and
// prints each N beside the first, with the growth per resource.
//
//	make build && go run ./internal/scale -n 1,1000
//
// make scale does both. It runs on Linux only (it reads /proc).
//
// With -heap it measures instead the live heap that each resource costs,
// in this process: it loads the same configuration, starts a host on it
// with the real memory plugin, lets it settle, collects, and reports the
// heap beside the first N; -heapprofile writes where it is.
//
//	go run ./internal/scale -heap -n 1,1000 -settle 3s -heapprofile /tmp/heap.pprof
//	go tool pprof -sample_index=inuse_space -base ... -top /tmp/heap.pprof
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

func main() {
	var (
		ns      = flag.String("n", "1,1000", "comma-separated resource counts to measure, the first being the baseline")
		bin     = flag.String("host", "bin/nebula-host", "the nebula-host binary")
		plugins = flag.String("plugins", "bin/plugins", "the directory holding nebula-plugin-memory")
		settle  = flag.Duration("settle", 10*time.Second, "how long to wait after ready before measuring memory")
		idle    = flag.Duration("idle", 30*time.Second, "how long to measure idle CPU over")
		scrapes = flag.Int("scrapes", 5, "how many times to scrape /metrics and /v1/resources")
		keep    = flag.Bool("keep", false, "keep each run's directory (configuration and host log)")
		extra   = flag.String("resource-body", "", "attributes added to every resource block, e.g. 'health { interval = \"5s\" }'")
		tblock  = flag.String("telemetry", "", "a telemetry block for the configuration, e.g. 'telemetry { metrics { per_resource = true } }'")
		heap    = flag.Bool("heap", false, "measure the live heap per resource in this process instead (see heap.go)")
		heapOut = flag.String("heapprofile", "", "with -heap, write a heap profile of every allocation (MemProfileRate 1) of the last N to this file")
	)
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatalf("-n: %q is not a positive count", s)
		}
		counts = append(counts, n)
	}
	hostBin, err := filepath.Abs(*bin)
	if err != nil {
		fatalf("%v", err)
	}
	pluginDir, err := filepath.Abs(*plugins)
	if err != nil {
		fatalf("%v", err)
	}
	for _, p := range []string{hostBin, filepath.Join(pluginDir, "nebula-plugin-memory")} {
		if _, err := os.Stat(p); err != nil {
			fatalf("%v (run make build first)", err)
		}
	}
	run := runner{host: hostBin, pluginDir: pluginDir, settle: *settle, idle: *idle, scrapes: *scrapes, keep: *keep, body: *extra, telemetry: *tblock}
	if *heap {
		if err := run.heap(os.Stdout, counts, *heapOut); err != nil {
			fatalf("-heap: %v", err)
		}
		return
	}
	var results []result
	for _, n := range counts {
		r, err := run.measure(n)
		if err != nil {
			fatalf("N=%d: %v", n, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "N=%d measured\n", n)
	}
	report(os.Stdout, results)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
	os.Exit(1)
}

type runner struct {
	host, pluginDir string
	settle, idle    time.Duration
	scrapes         int
	keep            bool
	body, telemetry string
}

// result is what one run with n resources measured.
type result struct {
	n                          int
	readyIn                    time.Duration
	hostRSS, pluginRSS         int64 // bytes, after settling
	hostCPU, pluginCPU         float64
	goroutines                 int
	metricsBytes               int
	metricsSeries              int
	metricsTime                time.Duration // median
	resourcesBytes             int
	resourcesTime              time.Duration // median
	hostRSSAfter               int64         // after the scrapes
	hostRSSIdle, pluginRSSIdle int64         // at the end of the idle window
	hostThreads, pluginThread  int
}

// writeConfig writes the configuration of n memory resources into dir
// and returns its path.
func (r runner) writeConfig(dir string, n int, addr string) (string, error) {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin {\n  address = %q\n}\n\nhost {\n  plugin_dir = %q\n  log_level = \"warn\"\n}\n\n%s\n", addr, r.pluginDir, r.telemetry)
	for i := range n {
		fmt.Fprintf(&cfg, "resource \"memory\" \"m%d\" {\n%s}\n", i, r.body)
	}
	path := filepath.Join(dir, "main.hcl")
	return path, os.WriteFile(path, []byte(cfg.String()), 0o600)
}

func (r runner) measure(n int) (res result, err error) {
	res.n = n
	dir, err := os.MkdirTemp("", "nebula-scale-")
	if err != nil {
		return res, err
	}
	if r.keep {
		fmt.Fprintf(os.Stderr, "N=%d: %s\n", n, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	path, err := r.writeConfig(dir, n, addr)
	if err != nil {
		return res, err
	}
	logFile, err := os.Create(filepath.Join(dir, "host.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.Command(r.host, "run", "-config", path)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logFile.Name())
			return res, fmt.Errorf("nebula-host exited before it was ready (%v):\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			return res, errors.New("not ready within 5 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.readyIn = time.Since(began)
	hostPID := cmd.Process.Pid
	pluginPID, err := childNamed(hostPID, "nebula-plugin-m")
	if err != nil {
		return res, err
	}

	time.Sleep(r.settle)
	if res.hostRSS, err = rss(hostPID); err != nil {
		return res, err
	}
	if res.pluginRSS, err = rss(pluginPID); err != nil {
		return res, err
	}
	res.hostThreads, _ = threads(hostPID)
	res.pluginThread, _ = threads(pluginPID)

	// Idle CPU: nothing calls the host meanwhile.
	h0, err := cpuTicks(hostPID)
	if err != nil {
		return res, err
	}
	p0, err := cpuTicks(pluginPID)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	time.Sleep(r.idle)
	h1, err := cpuTicks(hostPID)
	if err != nil {
		return res, err
	}
	p1, err := cpuTicks(pluginPID)
	if err != nil {
		return res, err
	}
	wall := time.Since(t0).Seconds()
	if res.hostRSSIdle, err = rss(hostPID); err != nil {
		return res, err
	}
	if res.pluginRSSIdle, err = rss(pluginPID); err != nil {
		return res, err
	}
	const hz = 100 // USER_HZ on Linux
	res.hostCPU = float64(h1-h0) / hz / wall
	res.pluginCPU = float64(p1-p0) / hz / wall

	var mt, rt []time.Duration
	for i := range r.scrapes {
		body, took, err := get(client, base+"/metrics")
		if err != nil {
			return res, err
		}
		mt = append(mt, took)
		if i == 0 {
			res.metricsBytes = len(body)
			res.metricsSeries, res.goroutines = seriesAndGoroutines(body)
		}
		body, took, err = get(client, base+"/v1/resources")
		if err != nil {
			return res, err
		}
		rt = append(rt, took)
		res.resourcesBytes = len(body)
	}
	res.metricsTime, res.resourcesTime = median(mt), median(rt)
	res.hostRSSAfter, err = rss(hostPID)
	return res, err
}

func get(c *http.Client, url string) ([]byte, time.Duration, error) {
	began := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(began)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, took, err
}

// seriesAndGoroutines counts the samples of a Prometheus text exposition
// and reads go_goroutines from it.
func seriesAndGoroutines(body []byte) (series, goroutines int) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series++
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			goroutines = int(f)
		}
	}
	return series, goroutines
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// childNamed finds the child process of ppid whose command name (as
// /proc/PID/stat truncates it, to 15 bytes) starts with prefix.
func childNamed(ppid int, prefix string) (int, error) {
	procs, err := procfs.AllProcs()
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			continue // gone since the listing
		}
		if st.PPID == ppid && strings.HasPrefix(st.Comm, prefix) {
			return p.PID, nil
		}
	}
	return 0, fmt.Errorf("no child of %d named %s*", ppid, prefix)
}

func stat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// cpuTicks is utime+stime of a process, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	st, err := stat(pid)
	return int64(st.UTime + st.STime), err
}

func rss(pid int) (int64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.NewStatus()
	return int64(st.VmRSS), err
}

func threads(pid int) (int, error) {
	st, err := stat(pid)
	return st.NumThreads, err
}

func report(w io.Writer, rs []result) {
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	pct := func(f float64) string { return fmt.Sprintf("%.2f %%", 100*f) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	kb := func(b int) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }
	rows := []struct {
		name string
		f    func(result) string
	}{
		{"ready after", func(r result) string { return r.readyIn.Round(10 * time.Millisecond).String() }},
		{"host RSS", func(r result) string { return mib(r.hostRSS) }},
		{"plugin RSS", func(r result) string { return mib(r.pluginRSS) }},
		{"host RSS, end of idle", func(r result) string { return mib(r.hostRSSIdle) }},
		{"plugin RSS, end of idle", func(r result) string { return mib(r.pluginRSSIdle) }},
		{"host goroutines", func(r result) string { return strconv.Itoa(r.goroutines) }},
		{"host threads", func(r result) string { return strconv.Itoa(r.hostThreads) }},
		{"plugin threads", func(r result) string { return strconv.Itoa(r.pluginThread) }},
		{"host idle CPU (of a core)", func(r result) string { return pct(r.hostCPU) }},
		{"plugin idle CPU (of a core)", func(r result) string { return pct(r.pluginCPU) }},
		{"/metrics size", func(r result) string { return kb(r.metricsBytes) }},
		{"/metrics samples", func(r result) string { return strconv.Itoa(r.metricsSeries) }},
		{"/metrics scrape (median)", func(r result) string { return ms(r.metricsTime) }},
		{"/v1/resources size", func(r result) string { return kb(r.resourcesBytes) }},
		{"/v1/resources (median)", func(r result) string { return ms(r.resourcesTime) }},
		{"host RSS after scrapes", func(r result) string { return mib(r.hostRSSAfter) }},
	}
	fmt.Fprintf(w, "| measure |")
	for _, r := range rs {
		fmt.Fprintf(w, " N=%d |", r.n)
	}
	fmt.Fprintf(w, "\n|---|")
	for range rs {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |", row.name)
		for _, r := range rs {
			fmt.Fprintf(w, " %s |", row.f(r))
		}
		fmt.Fprintln(w)
	}
	if len(rs) < 2 {
		return
	}
	b := rs[0]
	fmt.Fprintln(w)
	for _, r := range rs[1:] {
		d := float64(r.n - b.n)
		fmt.Fprintf(w, "N=%d over N=%d: host RSS %+.2f MiB (%.1f KiB per resource; %+.2f MiB at the end of idle), plugin RSS %+.2f MiB (%.1f KiB per resource; %+.2f MiB at the end of idle), goroutines %+d\n",
			r.n, b.n, float64(r.hostRSS-b.hostRSS)/(1<<20), float64(r.hostRSS-b.hostRSS)/1024/d, float64(r.hostRSSIdle-b.hostRSSIdle)/(1<<20),
			float64(r.pluginRSS-b.pluginRSS)/(1<<20), float64(r.pluginRSS-b.pluginRSS)/1024/d, float64(r.pluginRSSIdle-b.pluginRSSIdle)/(1<<20), r.goroutines-b.goroutines)
	}
}
