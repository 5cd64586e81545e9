package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/prometheus/procfs"
)

// meta says when, where and how the figures were measured.
type meta struct {
	Label       string    `json:"label,omitempty"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Go          string    `json:"go"`
	Platform    string    `json:"platform"`
	CPUs        int       `json:"cpus"`
	GOMAXPROCS  int       `json:"gomaxprocs"`
	Rounds      int       `json:"rounds"`
	Warmup      string    `json:"warmup"`
	Duration    string    `json:"duration"`
	Concurrency int       `json:"concurrency"`
	// LoadBefore and LoadAfter are the 1-minute load averages, for how
	// busy the machine was: -1 where unknown.
	LoadBefore float64 `json:"load_before"`
	LoadAfter  float64 `json:"load_after"`
}

func newMeta(o options) *meta {
	return &meta{
		Label: o.label, Started: time.Now().UTC(), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Rounds: o.rounds,
		Warmup: o.warmup.String(), Duration: o.duration.String(), Concurrency: o.concurrency,
		LoadBefore: loadAverage(),
	}
}

func (m *meta) finish() {
	m.Finished = time.Now().UTC()
	m.LoadAfter = loadAverage()
}

func loadAverage() float64 {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return -1
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return -1
	}
	return l.Load1
}

// row is one (workload, variant) over every round: the median of each
// figure, and the medians of the comparisons with direct made within
// each round.
type row struct {
	Workload string `json:"workload"`
	Variant  string `json:"variant"`
	Unit     string `json:"unit"`
	Rounds   int    `json:"rounds"`

	Throughput float64 `json:"throughput"`
	// OfDirect is this variant's throughput over direct's in the same
	// round; nil for direct, or where direct did not run.
	OfDirect *float64 `json:"of_direct,omitempty"`
	P50      float64  `json:"p50_us"`
	P99      float64  `json:"p99_us"`
	// P50OverDirect is this variant's p50 less direct's in the same
	// round, in µs.
	P50OverDirect  *float64 `json:"p50_over_direct_us,omitempty"`
	AllocsPerOp    float64  `json:"host_allocs_per_op"`
	HostCPUPerOp   float64  `json:"host_cpu_us_per_op"`
	PluginCPUPerOp *float64 `json:"plugin_cpu_us_per_op,omitempty"` // nil: no plugin process
	// MachineCPUPerOp is the busy time of every CPU of the machine per
	// call, in µs: what the call costs with the server's share.
	MachineCPUPerOp float64 `json:"machine_cpu_us_per_op"`

	Samples []sample `json:"samples"`
}

// aggregate makes the rows, in the order of ws and of their variants.
func aggregate(ws []*workload, samples []sample) []row {
	type key struct{ workload, variant string }
	type roundKey struct {
		workload string
		round    int
	}
	by := map[key][]sample{}
	base := map[roundKey]sample{}
	for _, s := range samples {
		by[key{s.Workload, s.Variant}] = append(by[key{s.Workload, s.Variant}], s)
		if s.Variant == direct {
			base[roundKey{s.Workload, s.Round}] = s
		}
	}
	var rows []row
	for _, w := range ws {
		for _, v := range w.variants {
			ss := by[key{w.name, v}]
			if len(ss) == 0 {
				continue
			}
			r := row{Workload: w.name, Variant: v, Unit: ss[0].Unit, Rounds: len(ss), Samples: ss}
			pick := func(f func(sample) float64) float64 {
				xs := make([]float64, len(ss))
				for i, s := range ss {
					xs[i] = f(s)
				}
				return median(xs)
			}
			r.Throughput = pick(func(s sample) float64 { return s.Throughput })
			r.P50 = pick(func(s sample) float64 { return s.P50 })
			r.P99 = pick(func(s sample) float64 { return s.P99 })
			r.AllocsPerOp = pick(func(s sample) float64 { return s.AllocsPerOp })
			r.HostCPUPerOp = pick(func(s sample) float64 { return s.HostCPUPerOp })
			r.MachineCPUPerOp = pick(func(s sample) float64 { return s.MachineCPUPerOp })
			if slices.ContainsFunc(ss, func(s sample) bool { return s.Plugins > 0 }) {
				cpu := pick(func(s sample) float64 { return s.PluginCPUPerOp })
				r.PluginCPUPerOp = &cpu
			}
			if v != direct {
				var ratios, deltas []float64
				for _, s := range ss {
					if d, ok := base[roundKey{w.name, s.Round}]; ok && d.Throughput > 0 {
						ratios = append(ratios, s.Throughput/d.Throughput)
						deltas = append(deltas, s.P50-d.P50)
					}
				}
				if len(ratios) > 0 {
					of, over := median(ratios), median(deltas)
					r.OfDirect, r.P50OverDirect = &of, &over
				}
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// median is the middle of xs (the mean of the two middle values for an
// even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

var columns = []string{"workload", "variant", "throughput (c=%d)", "of direct", "p50 (c=1)", "p99 (c=1)", "p50 over direct", "host allocs/op", "host CPU/op", "plugin CPU/op", "machine CPU/op"}

// writeTable writes the rows as a Markdown table, under a heading that
// says how they were measured, and the skipped workloads after it.
func writeTable(w io.Writer, m *meta, rows []row, skipped map[string]string) error {
	label := ""
	if m.Label != "" {
		label = " " + m.Label
	}
	rounds := "rounds"
	if m.Rounds == 1 {
		rounds = "round"
	}
	fmt.Fprintf(w, "bench-compare%s, %s, %s %s, %d CPUs (GOMAXPROCS %d), load average %.2f before, %.2f after\n",
		label, m.Started.Format("2006-01-02 15:04 MST"), m.Go, m.Platform, m.CPUs, m.GOMAXPROCS, m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(w, "%d %s; each run a fresh process: warm-up %s, throughput at c=%d for %s, latency at c=1 for %s. Medians over rounds; \"of direct\" and \"p50 over direct\" are taken within each round.\n\n",
		m.Rounds, rounds, m.Warmup, m.Concurrency, m.Duration, m.Duration)
	head := slices.Clone(columns)
	head[2] = fmt.Sprintf(head[2], m.Concurrency)
	fmt.Fprint(w, "|")
	for _, c := range head {
		fmt.Fprintf(w, " %s |", c)
	}
	fmt.Fprint(w, "\n|---|---|")
	for range head[2:] {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		cells := []string{
			r.Workload, r.Variant, formatRate(r.Throughput, r.Unit),
			orDash(r.OfDirect, func(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) }),
			formatMicros(r.P50), formatMicros(r.P99),
			orDash(r.P50OverDirect, func(f float64) string { return signed(f) }),
			humanize.CommafWithDigits(round(r.AllocsPerOp, 1), 1),
			formatMicros(r.HostCPUPerOp),
			orDash(r.PluginCPUPerOp, formatMicros),
			formatMicros(r.MachineCPUPerOp),
		}
		fmt.Fprint(w, "|")
		for _, c := range cells {
			fmt.Fprintf(w, " %s |", c)
		}
		fmt.Fprintln(w)
	}
	// The workloads whose throughput phase ran below -c say so.
	noted := map[string]bool{}
	for _, r := range rows {
		wl := findWorkload(r.Workload)
		if wl == nil || noted[wl.name] || wl.concurrencyAt(m.Concurrency) == m.Concurrency {
			continue
		}
		if len(noted) == 0 {
			fmt.Fprintln(w)
		}
		noted[wl.name] = true
		fmt.Fprintf(w, "%s: throughput at c=%d, not %d.\n", wl.name, wl.concurrencyAt(m.Concurrency), m.Concurrency)
	}
	names := make([]string, 0, len(skipped))
	for n := range skipped {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		if i == 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "skipped %s: %s\n", n, skipped[n])
	}
	return nil
}

func orDash(f *float64, format func(float64) string) string {
	if f == nil {
		return "–"
	}
	return format(*f)
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

// formatRate writes a throughput with thousands separators and its unit.
func formatRate(v float64, unit string) string {
	return humanize.Comma(int64(math.Round(v))) + " " + unit
}

// formatMicros writes µs with three significant digits or more.
func formatMicros(us float64) string {
	a := math.Abs(us)
	switch {
	case a < 10:
		return strconv.FormatFloat(us, 'f', 2, 64) + " µs"
	case a < 100:
		return strconv.FormatFloat(us, 'f', 1, 64) + " µs"
	}
	return humanize.Comma(int64(math.Round(us))) + " µs"
}

func signed(us float64) string {
	if us >= 0 {
		return "+" + formatMicros(us)
	}
	return formatMicros(us)
}

func writeJSON(w io.Writer, m *meta, rows []row, skipped map[string]string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Meta    *meta             `json:"meta"`
		Rows    []row             `json:"rows"`
		Skipped map[string]string `json:"skipped,omitempty"`
	}{m, rows, skipped})
}

// writeCSV writes one line per row, numbers without units or separators;
// a figure that does not apply is empty.
func writeCSV(w io.Writer, rows []row) error {
	c := csv.NewWriter(w)
	if err := c.Write([]string{"workload", "variant", "unit", "rounds", "throughput", "of_direct", "p50_us", "p99_us",
		"p50_over_direct_us", "host_allocs_per_op", "host_cpu_us_per_op", "plugin_cpu_us_per_op", "machine_cpu_us_per_op"}); err != nil {
		return err
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	opt := func(f *float64) string {
		if f == nil {
			return ""
		}
		return num(*f)
	}
	for _, r := range rows {
		if err := c.Write([]string{r.Workload, r.Variant, r.Unit, strconv.Itoa(r.Rounds), num(r.Throughput), opt(r.OfDirect),
			num(r.P50), num(r.P99), opt(r.P50OverDirect), num(r.AllocsPerOp), num(r.HostCPUPerOp), opt(r.PluginCPUPerOp), num(r.MachineCPUPerOp)}); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}
