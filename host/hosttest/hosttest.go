package hosttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/plugins/sqlite"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Host is a host started for one test. It embeds the *host.Host, so a
// test passes h.Host to the code under test, and calls Acquire, Invoke,
// Health or Describe on it directly.
type Host struct {
	*host.Host

	t    testing.TB
	o    options
	logs *testLog

	mu        sync.Mutex
	resources map[string]*Resource

	closed     atomic.Bool
	goroutines goleak.Option // the goroutines that ran before New
}

// Option configures New.
type Option func(*options)

type options struct {
	drivers   map[string]sdk.Driver
	host      []host.Option
	logger    *slog.Logger
	variables map[string]string
	leakCheck bool
}

// WithDriver serves the resource type name with d, in process, beside the
// shipped memory, sqlite and localfs drivers; d may be any driver written
// with the sdk package, including one that replaces a shipped type.
func WithDriver(name string, d sdk.Driver) Option {
	return func(o *options) { o.drivers[name] = d }
}

// WithHostOptions passes options to host.New, for example
// host.WithMetricsRegistry.
func WithHostOptions(opts ...host.Option) Option {
	return func(o *options) { o.host = append(o.host, opts...) }
}

// WithLogger sends the host's log to l. By default the host's warnings
// and errors go to the test's log (t.Log), and the rest is dropped.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithVariables sets the configuration's variables, as -var does for
// nebula-host.
func WithVariables(vals map[string]string) Option {
	return func(o *options) { o.variables = vals }
}

// WithoutGoroutineCheck turns off the check, when the test ends, that
// every goroutine started since New has ended: for a test that runs in
// parallel with others (t.Parallel), whose goroutines it would count.
// The check that every lease was released stays.
func WithoutGoroutineCheck() Option { return func(o *options) { o.leakCheck = false } }

// New starts a host for the test from the HCL source src, written as
// for nebula-host. Its resource types are served in process, with no
// plugin binary: memory, sqlite and localfs, and those given WithDriver.
// A configuration error fails the test with its line and column.
//
// The host closes when the test ends (t.Cleanup), or at [Host.Close].
// Then the test fails if a lease was not released, or if a goroutine
// started since New is still running once the host has closed.
func New(t testing.TB, src string, opts ...Option) *Host {
	t.Helper()
	o := options{drivers: map[string]sdk.Driver{
		"memory":  memory.New(),
		"sqlite":  sqlite.New(),
		"localfs": localfs.New(),
	}, leakCheck: true}
	for _, opt := range opts {
		opt(&o)
	}
	h := &Host{t: t, o: o, resources: map[string]*Resource{}, goroutines: goleak.IgnoreCurrent()}

	dir := t.TempDir()
	path := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	cfg, diags := config.Load(path, config.WithVariables(o.variables))
	if diags.HasErrors() {
		t.Fatalf("hosttest: the configuration has errors:\n%s", diagnosticsText(cfg.Files, diags))
	}

	logger := o.logger
	if logger == nil {
		h.logs = &testLog{t: t}
		logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	hopts := []host.Option{host.WithLogger(logger), host.WithPluginDir(filepath.Join(dir, "no-plugins"))}
	names := make([]string, 0, len(o.drivers))
	for name := range o.drivers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		hopts = append(hopts, host.WithDriver(name, wrapDriver(o.drivers[name], h.resource)))
	}
	hh, err := host.New(cfg, append(hopts, o.host...)...)
	if err != nil {
		t.Fatalf("hosttest: %s", hostErrorText(err, names))
	}
	h.Host = hh
	t.Cleanup(h.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := hh.Start(ctx); err != nil {
		t.Fatalf("hosttest: start: %s", hostErrorText(err, names))
	}
	return h
}

// resource returns the control of the resource id, made on first use.
func (h *Host) resource(id string) *Resource {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.resources[id]
	if r == nil {
		r = &Resource{id: id}
		h.resources[id] = r
	}
	return r
}

// Resource returns the control of the resource id (TYPE.NAME), to inject
// faults into its calls and read the calls it received. It fails the test
// if the host has no such resource.
func (h *Host) Resource(id string) *Resource {
	h.t.Helper()
	if _, err := h.DescribeResource(id); err != nil {
		h.t.Fatalf("hosttest: %v (the resources: %s)", err, strings.Join(h.ResourceIDs(), ", "))
	}
	return h.resource(id)
}

// AwaitHealth waits until the resource id's health state is state, and
// fails the test with the resource's health history if it is not within
// timeout. The state is what GET /v1/health and host.Health report.
func (h *Host) AwaitHealth(id string, state host.HealthState, timeout time.Duration) host.ResourceHealth {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rh, ok := h.health(id)
		if !ok {
			h.t.Fatalf("hosttest: no resource %q in the health report", id)
		}
		if rh.State == state {
			return rh
		}
		if time.Now().After(deadline) {
			var hist strings.Builder
			for _, e := range rh.History {
				fmt.Fprintf(&hist, "\n\t%s %s %s -> %s: %s", e.At.Format("15:04:05.000"), e.Kind, e.From, e.To, e.Reason)
			}
			h.t.Fatalf("hosttest: %s is %s (%s), not %s, after %v; its health history:%s", id, rh.State, rh.Reason, state, timeout, hist.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *Host) health(id string) (host.ResourceHealth, bool) {
	for _, rh := range h.Health().Resources {
		if rh.ID == id {
			return rh, true
		}
	}
	return host.ResourceHealth{}, false
}

// LeaseOut is a lease that was not released.
type LeaseOut struct {
	Resource string
	Owner    host.Owner
	Held     time.Duration
}

func (l LeaseOut) String() string {
	held := l.Held.Round(time.Millisecond)
	if held == 0 {
		held = l.Held.Round(time.Microsecond)
	}
	return fmt.Sprintf("%s, held %v by %s", l.Resource, held, l.Owner)
}

// LeasesOut lists the leases acquired and not released yet, oldest
// first within each resource.
func (h *Host) LeasesOut() []LeaseOut {
	var out []LeaseOut
	for _, ri := range h.Describe() {
		for _, l := range ri.Pool.Leases {
			out = append(out, LeaseOut{Resource: ri.ID, Owner: l.Owner, Held: l.Held})
		}
	}
	return out
}

// Close runs the end-of-test checks now rather than at the test's
// end: it fails the test for each lease still out, closes the host, and
// fails the test for each goroutine started since New that is still
// running. Later calls do nothing.
func (h *Host) Close() {
	h.t.Helper()
	if !h.closed.Swap(true) {
		h.close()
	}
}

func (h *Host) close() {
	h.t.Helper()
	out := h.LeasesOut()
	if len(out) > 0 {
		var b strings.Builder
		if len(out) == 1 {
			b.WriteString("hosttest: 1 lease was not released when the test ended:")
		} else {
			fmt.Fprintf(&b, "hosttest: %d leases were not released when the test ended:", len(out))
		}
		for _, l := range out {
			b.WriteString("\n\t" + l.String())
		}
		b.WriteString("\nRelease every lease you acquire (defer lease.Release() after Acquire, or use host.Use).")
		h.t.Error(b.String())
	}
	// Calls held by a partition go on, so that the host can close.
	h.mu.Lock()
	for _, r := range h.resources {
		r.Recover()
	}
	h.mu.Unlock()
	// The leases out hold Close until its context ends: give them a
	// moment, not the minute a clean close may take.
	wait := time.Minute
	if len(out) > 0 {
		wait = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	err := h.Host.Close(ctx)
	cancel()
	if h.logs != nil {
		h.logs.stop()
	}
	if err != nil && len(out) == 0 {
		h.t.Errorf("hosttest: close the host: %v", err)
	}
	if !h.o.leakCheck {
		return
	}
	if err := goleak.Find(h.goroutines); err != nil {
		h.t.Errorf("hosttest: goroutines still running after the test and its host ended "+
			"(stop every goroutine the code under test starts; WithoutGoroutineCheck for a parallel test):\n%v", err)
	}
}

// testLog writes the host's log lines to the test's log until the host
// has closed: a line logged after the test ended would panic.
type testLog struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Log("host: " + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

var _ io.Writer = (*testLog)(nil)

// diagnosticsText prints diagnostics with their source lines.
func diagnosticsText(files map[string]*hcl.File, diags hcl.Diagnostics) string {
	var b bytes.Buffer
	if err := config.WriteDiagnostics(&b, files, diags, false); err != nil {
		return diags.Error()
	}
	return b.String()
}

// hostErrorText is a host's error with its diagnostics' source lines,
// and a hint when a resource type has no in-process driver.
func hostErrorText(err error, served []string) string {
	var de *host.DiagnosticsError
	text := err.Error()
	if errors.As(err, &de) {
		text = diagnosticsText(de.Files, de.Diagnostics)
	}
	if strings.Contains(text, "Unknown resource type") {
		text += fmt.Sprintf("\nhosttest serves these types in process: %s; serve another with hosttest.WithDriver.", strings.Join(served, ", "))
	}
	return text
}
