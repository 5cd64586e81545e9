// Command benchcompare puts each workload through the host beside the
// backend's own Go client and prints one table: what the host costs over
// the direct client, measured the same way in the same run.
//
//	make build && make bench-compare ARGS='-only redis -rounds 5'
//	go run ./internal/benchcompare -rounds 1 -duration 1s -only 'memory|localfs'
//
// Each workload runs as several variants: direct (the backend's Go client,
// or the driver called in process), host-inproc (the host with the driver
// compiled in, host.WithDriver) and host-plugin (the host running the
// plugin binary from -plugins, as nebula-host run does). Every
// (workload, variant) run is a fresh process: the tool runs itself again
// as a child, so that no garbage, warm pool or cache carries over.
// Runs are interleaved over -rounds rounds, the variants of a workload
// back to back within a round (their order rotating from round to round),
// and the comparisons with direct are taken within each round; the table
// shows medians over the rounds.
//
// Each run warms up at concurrency -c for -warmup, then measures
// throughput at -c for -duration, then latency at concurrency 1 for
// -duration. Over the throughput phase it measures, per call, the
// allocations in its own process (runtime.MemStats.Mallocs), its own CPU
// time (getrusage RUSAGE_SELF) and the CPU time of its child processes,
// the plugins (utime+stime from /proc/PID/stat of every process whose
// parent it is). It runs on Linux only.
//
// A backend whose server does not answer is skipped with the reason (the
// http workloads start their own, in the run's process, and always run);
// a call that fails during a run stops the tool with the error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"time"
)

// childEnv carries a child's run, as JSON; its presence makes the process
// a child.
const childEnv = "NEBULA_BENCHCOMPARE_RUN"

func main() {
	if spec, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childMain(spec))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o, err := parseFlags(flag.CommandLine, os.Args[1:]) // -h exits here
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: %v\n", err)
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err == nil {
		err = run(ctx, exe, o, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: %v\n", err)
		os.Exit(1)
	}
}

// options are the tool's settings, from its flags.
type options struct {
	only        *regexp.Regexp
	variants    *regexp.Regexp
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	format      string // "table", "json" or "csv"
	label       string
	profileDir  string
	pluginDir   string
	backends    backends
}

// backends are where the servers are.
type backends struct {
	Postgres string   `json:"postgres"`
	Redis    string   `json:"redis"`
	Kafka    string   `json:"kafka"`
	S3       s3Server `json:"s3"`
	Mongo    string   `json:"mongo"`
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseFlags(fs *flag.FlagSet, args []string) (options, error) {
	var o options
	only := fs.String("only", "", "run only the workloads whose name matches this regular expression (e.g. 'redis|memory')")
	variants := fs.String("variants", "", "run only the variants whose name matches this regular expression (e.g. 'direct|host-plugin'); a comparison needs direct")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds: every (workload, variant) runs once per round, and the table shows medians")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each measured phase lasts (throughput at -c, then latency at 1)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "how long each run warms up at -c before measuring")
	fs.IntVar(&o.concurrency, "c", 32, "concurrency of the throughput phase (workers, and the size of the SQL pools)")
	asJSON := fs.Bool("json", false, "print JSON (the medians and every round's figures) instead of the table")
	asCSV := fs.Bool("csv", false, "print CSV instead of the table")
	fs.StringVar(&o.label, "label", "", "a label for the table's heading, such as the commit measured")
	fs.StringVar(&o.profileDir, "profile", "", "write CPU profiles to this directory: the host's of each throughput phase, and each plugin's of its whole run (go tool pprof -top DIR/FILE)")
	fs.StringVar(&o.pluginDir, "plugins", "bin/plugins", "the directory of the plugin binaries (make build)")
	fs.StringVar(&o.backends.Postgres, "postgres", envOr("NEBULA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL (default $NEBULA_TEST_POSTGRES_URL)")
	fs.StringVar(&o.backends.Redis, "redis", envOr("NEBULA_TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis address (default $NEBULA_TEST_REDIS_ADDR)")
	fs.StringVar(&o.backends.S3.Endpoint, "s3", envOr("NEBULA_S3_ENDPOINT", "http://127.0.0.1:7070"), "S3 endpoint, whose keys are $NEBULA_S3_ACCESS_KEY and $NEBULA_S3_SECRET_KEY (default $NEBULA_S3_ENDPOINT)")
	o.backends.S3.Access = envOr("NEBULA_S3_ACCESS_KEY", "nebula-test")
	o.backends.S3.Secret = envOr("NEBULA_S3_SECRET_KEY", "nebula-test-secret")
	o.backends.S3.Region = envOr("NEBULA_S3_REGION", "us-east-1")
	fs.StringVar(&o.backends.Mongo, "mongo", envOr("NEBULA_TEST_MONGO_URL", "mongodb://127.0.0.1:27017/"), "MongoDB URL (default $NEBULA_TEST_MONGO_URL)")
	fs.StringVar(&o.backends.Kafka, "kafka", envOr("NEBULA_TEST_KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka brokers, comma-separated (default $NEBULA_TEST_KAFKA_BROKERS)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		return o, fmt.Errorf("-only: %v", err)
	}
	o.only = re
	if o.variants, err = regexp.Compile(*variants); err != nil {
		return o, fmt.Errorf("-variants: %v", err)
	}
	switch {
	case *asJSON && *asCSV:
		return o, errors.New("-json and -csv: choose one")
	case *asJSON:
		o.format = "json"
	case *asCSV:
		o.format = "csv"
	default:
		o.format = "table"
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds %d: at least 1", o.rounds)
	}
	if o.duration <= 0 || o.warmup < 0 {
		return o, errors.New("-duration must be positive and -warmup not negative")
	}
	if o.concurrency < 1 {
		return o, fmt.Errorf("-c %d: at least 1", o.concurrency)
	}
	if o.pluginDir, err = filepath.Abs(o.pluginDir); err != nil {
		return o, err
	}
	if o.profileDir != "" {
		if o.profileDir, err = filepath.Abs(o.profileDir); err != nil {
			return o, err
		}
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return o, err
		}
	}
	return o, nil
}

// run selects the workloads, skips those whose server does not answer,
// runs every (workload, variant) in its own child process, round after
// round, and writes the report to stdout; progress and skips go to
// stderr.
func run(ctx context.Context, exe string, o options, stdout, stderr io.Writer) error {
	var selected []*workload
	for _, w := range workloads {
		if o.only.MatchString(w.name) {
			selected = append(selected, w)
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("-only %q matches no workload; the workloads are %s", o.only, workloadNames())
	}
	for _, w := range selected {
		if w.pluginType == "" {
			continue
		}
		p := filepath.Join(o.pluginDir, "nebula-plugin-"+w.pluginType)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s needs %s: %v (run make build, or point -plugins at the binaries)", w.name, p, err)
		}
	}

	m := newMeta(o)
	skipped := map[string]string{} // workload -> reason
	probed := map[string]error{}   // backend -> its probe's error
	var runnable []*workload
	for _, w := range selected {
		if w.backend != "" {
			err, done := probed[w.backend]
			if !done {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = probe(pctx, w.backend, o.backends)
				cancel()
				probed[w.backend] = err
			}
			if err != nil {
				skipped[w.name] = fmt.Sprintf("%s does not answer: %v", w.backend, err)
				fmt.Fprintf(stderr, "skip %s: %s\n", w.name, skipped[w.name])
				continue
			}
		}
		runnable = append(runnable, w)
	}

	var samples []sample
	for round := range o.rounds {
		for _, w := range runnable {
			for _, v := range rotate(w.variants, round) {
				if o.variants != nil && !o.variants.MatchString(v) {
					continue
				}
				spec := runSpec{
					Workload: w.name, Variant: v, Warmup: o.warmup, Duration: o.duration,
					Concurrency: w.concurrencyAt(o.concurrency), PluginDir: o.pluginDir, Backends: o.backends,
					ProfileDir: o.profileDir,
				}
				s, err := runChild(ctx, exe, spec)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round+1, w.name, v, err)
				}
				s.Round = round + 1
				samples = append(samples, s)
				fmt.Fprintf(stderr, "round %d/%d  %-40s %-12s %s\n", round+1, o.rounds, w.name, v, formatRate(s.Throughput, s.Unit))
			}
		}
	}
	m.finish()
	rows := aggregate(runnable, samples)
	switch o.format {
	case "json":
		return writeJSON(stdout, m, rows, skipped)
	case "csv":
		return writeCSV(stdout, rows)
	}
	return writeTable(stdout, m, rows, skipped)
}

// rotate returns vs starting at its (round mod len)th element, so that
// each variant goes first in some round.
func rotate(vs []string, round int) []string {
	k := round % len(vs)
	return append(append([]string(nil), vs[k:]...), vs[:k]...)
}
