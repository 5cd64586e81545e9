// Command tenants shows two tenants sharing a host embedded in the
// program: each reaches only the resources its tenant block lists, and
// acme's calls are held to its quota. On tenants.hcl (two memory
// resources; acme with max_leases = 1 and a rate of 5/s, globex without a
// quota) it shows, through the Go API with host.ForTenant:
//
//   - acme and globex each using their own resource;
//   - acme refused permission_denied on globex's resource, and the same
//     refusal for a resource that does not exist;
//   - the program itself, which calls for no tenant, reaching both;
//   - acme's second lease while it holds one refused resource_exhausted,
//     with a retry-after;
//   - a burst of calls beyond acme's rate refused the same way, and a
//     call after the retry-after admitted;
//   - the same through the admin API (host/admin), started on a loopback
//     port with an identity for each tenant (token_sha256), called with
//     each tenant's bearer token through the api module's client: each
//     lists and uses only its tenant's resources, is refused the
//     operator's routes, and is held to the same quotas; the audit log
//     records each call and refusal;
//   - the per-tenant metrics that count it all.
//
// Run it from the repository root, after make build:
//
//	go run ./examples/tenants
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/tenants/tenants.hcl", "configuration with the two memory resources and the tenants acme and globex")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "tenants: %v\n", err)
		}
		os.Exit(1)
	}
}

// The resources of tenants.hcl.
const (
	acmeCache   = "memory.acme_cache"
	globexCache = "memory.globex_cache"
)

// burstCalls is how many calls acme makes in a row to exceed its rate.
const burstCalls = 10

// The bearer tokens of the identities of tenants.hcl, whose token_sha256
// are their SHA-256. Real tokens are random, and known only to their
// holders; see tenants.hcl.
const (
	acmeToken   = "acme-example-token"
	globexToken = "globex-example-token"
)

// refusal returns how a refused call reads: its kind, its message and,
// when it has one, its retry-after. It fails when err is nil or not of
// the kind wanted: the example shows refusals, and one that does not come
// is an error.
func refusal(err error, want sdk.Kind) (string, error) {
	if err == nil {
		return "", fmt.Errorf("the call succeeded; want it refused with %s", want)
	}
	if k := sdk.KindOf(err); k != want {
		return "", fmt.Errorf("want a refusal of kind %s, got %s: %w", want, k, err)
	}
	s := fmt.Sprintf("%s: %v", want, err)
	if after := sdk.RetryAfterOf(err); after > 0 {
		s += fmt.Sprintf(" (retry after %v)", after.Round(time.Millisecond))
	}
	return s, nil
}

func run(ctx context.Context, configPath, pluginDir string, out io.Writer) error {
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(pluginDir))
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			fmt.Fprintln(os.Stderr, "tenants: close:", err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := throughGo(ctx, h, out); err != nil {
		return err
	}
	if err := throughHTTP(ctx, h, cfg.Admin, out); err != nil {
		return err
	}
	return writeTenantMetrics(h, out)
}

// throughGo shows the tenants through the Go API: host.ForTenant labels
// each call with its tenant.
func throughGo(ctx context.Context, h *host.Host, out io.Writer) error {
	acme, globex := host.ForTenant("acme"), host.ForTenant("globex")

	// Each tenant uses its own resource. acme holds one lease for two
	// calls: its quota counts the lease, not the calls on it.
	err := host.Use(ctx, h, acmeCache, func(l *host.Lease) error {
		if _, err := l.Invoke(ctx, "set", map[string]any{"key": "greeting", "value": "hello"}); err != nil {
			return err
		}
		raw, err := l.Invoke(ctx, "get", map[string]any{"key": "greeting"})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "acme on %s: set and got %s\n", acmeCache, raw)
		return nil
	}, acme)
	if err != nil {
		return err
	}
	visits, err := host.Call[sdk.KVIncrResult](ctx, h, globexCache, "incr", map[string]any{"key": "visits"}, globex)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "globex on %s: visits = %d\n", globexCache, visits.Value)

	// A tenant reaches only the resources its block lists. The refusal
	// does not tell whether the resource exists.
	for _, id := range []string{globexCache, "memory.nothing_here"} {
		_, err := h.Invoke(ctx, id, "get", map[string]any{"key": "visits"}, acme)
		s, rerr := refusal(err, sdk.KindPermissionDenied)
		if rerr != nil {
			return fmt.Errorf("acme on %s: %w", id, rerr)
		}
		fmt.Fprintf(out, "acme on %s: %s\n", id, s)
	}
	fmt.Fprintf(out, "h.Reaches(\"acme\", %q) = %t, h.Reaches(\"\", %q) = %t\n",
		globexCache, h.Reaches("acme", globexCache), globexCache, h.Reaches("", globexCache))

	// The program itself calls for no tenant, and is not limited.
	visits, err = host.Call[sdk.KVIncrResult](ctx, h, globexCache, "incr", map[string]any{"key": "visits"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "no tenant on %s: visits = %d\n", globexCache, visits.Value)

	// max_leases = 1: while acme holds a lease, a second one is refused.
	held, err := h.Acquire(ctx, acmeCache, acme)
	if err != nil {
		return err
	}
	_, err = h.Acquire(ctx, acmeCache, acme)
	held.Release()
	s, err := refusal(err, sdk.KindResourceExhausted)
	if err != nil {
		return fmt.Errorf("acme's second lease: %w", err)
	}
	fmt.Fprintf(out, "acme's second lease: %s\n", s)

	// rate = "5/s", burst = 5: the calls above took 3 of the 5 (the
	// refused lease too); after a second the bucket is full again, and a
	// burst of calls is admitted up to 5, then refused until the
	// retry-after has passed.
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	admitted, refused := 0, 0
	var last error
	for range burstCalls {
		_, err := h.Invoke(ctx, acmeCache, "get", map[string]any{"key": "greeting"}, acme)
		switch {
		case err == nil:
			admitted++
		case sdk.KindOf(err) == sdk.KindResourceExhausted:
			refused++
			last = err
		default:
			return err
		}
	}
	fmt.Fprintf(out, "acme, %d calls in a row: %d admitted, %d refused\n", burstCalls, admitted, refused)
	s, err = refusal(last, sdk.KindResourceExhausted)
	if err != nil {
		return fmt.Errorf("acme's burst: %w", err)
	}
	fmt.Fprintf(out, "  the last refusal: %s\n", s)
	if err := sleep(ctx, sdk.RetryAfterOf(last)); err != nil {
		return err
	}
	if _, err := h.Invoke(ctx, acmeCache, "get", map[string]any{"key": "greeting"}, acme); err != nil {
		return fmt.Errorf("acme after the retry-after: %w", err)
	}
	fmt.Fprintln(out, "acme, after waiting the retry-after: admitted")
	return nil
}

// throughHTTP shows the same through the admin API, started with the
// admin block of tenants.hcl: its identities, one per tenant, and its
// audit log, which the program reads instead of standard error.
func throughHTTP(ctx context.Context, h *host.Host, a config.Admin, out io.Writer) error {
	audit := &auditLog{}
	// The server logs each refusal at warn level; here they are the
	// point, and the audit log shows them.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := admin.New(h, admin.Config{Address: a.Address, AllowRemote: a.AllowRemote, Auth: a.Auth, Logger: quiet, Audit: audit})
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	var clients []*api.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	newClient := func(token string) (*api.Client, error) {
		opts := []api.Option{api.WithTimeout(5 * time.Second)}
		if token != "" {
			opts = append(opts, api.WithBearerToken(token))
		}
		c, err := api.NewClient(srv.Addr(), opts...)
		if err == nil {
			clients = append(clients, c)
		}
		return c, err
	}
	acme, err := newClient(acmeToken)
	if err != nil {
		return err
	}
	globex, err := newClient(globexToken)
	if err != nil {
		return err
	}
	nobody, err := newClient("")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "through the admin API, with each tenant's token:")
	invoke := func(c *api.Client, id, op, args string) (json.RawMessage, error) {
		res, err := c.Invoke(ctx, id, api.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
		if err != nil {
			return nil, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, res.Result); err != nil {
			return nil, err
		}
		return compact.Bytes(), nil
	}

	// Each identity sees its tenant's resources alone.
	for _, who := range []struct {
		name string
		c    *api.Client
	}{{"acme-worker", acme}, {"globex-worker", globex}} {
		list, err := who.c.Resources(ctx)
		if err != nil {
			return err
		}
		ids := make([]string, len(list.Resources))
		for i, r := range list.Resources {
			ids[i] = r.ID
		}
		fmt.Fprintf(out, "  %s lists: %s\n", who.name, strings.Join(ids, ", "))
	}
	if err := sleep(ctx, time.Second); err != nil { // acme's bucket fills again
		return err
	}
	raw, err := invoke(acme, acmeCache, "get", `{"key":"greeting"}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  acme-worker get on %s: %s\n", acmeCache, raw)
	raw, err = invoke(globex, globexCache, "incr", `{"key":"visits"}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  globex-worker incr on %s: %s\n", globexCache, raw)
	for _, id := range []string{globexCache, "memory.nothing_here"} {
		_, err := invoke(acme, id, "get", `{"key":"visits"}`)
		s, rerr := httpRefusal(err, api.KindPermissionDenied)
		if rerr != nil {
			return fmt.Errorf("acme-worker on %s: %w", id, rerr)
		}
		fmt.Fprintf(out, "  acme-worker get on %s: %s\n", id, s)
	}
	_, err = acme.Plugins(ctx)
	s, err := httpRefusal(err, api.KindPermissionDenied)
	if err != nil {
		return fmt.Errorf("acme-worker's plugins: %w", err)
	}
	fmt.Fprintf(out, "  acme-worker GET /v1/plugins: %s\n", s)
	_, err = nobody.Resources(ctx)
	s, err = httpRefusal(err, api.KindUnauthenticated)
	if err != nil {
		return fmt.Errorf("a request without a token: %w", err)
	}
	fmt.Fprintf(out, "  no token, GET /v1/resources: %s\n", s)

	// The quota is the tenant's, whichever way its calls come: while the
	// program holds acme's one lease, acme-worker's call is refused.
	held, err := h.Acquire(ctx, acmeCache, host.ForTenant("acme"))
	if err != nil {
		return err
	}
	_, err = invoke(acme, acmeCache, "get", `{"key":"greeting"}`)
	held.Release()
	s, err = httpRefusal(err, api.KindResourceExhausted)
	if err != nil {
		return fmt.Errorf("acme-worker while acme's lease is held: %w", err)
	}
	fmt.Fprintf(out, "  acme-worker get while acme's lease is held: %s\n", s)

	// Five calls (invoke is a POST) and two refusals of GET routes.
	entries, err := audit.wait(ctx, 7)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "  the audit log:")
	for _, e := range entries {
		fmt.Fprintf(out, "    %s\n", e)
	}

	if err := sleep(ctx, time.Second); err != nil { // acme's bucket fills again
		return err
	}
	admitted, refused := 0, 0
	for range burstCalls {
		_, err := invoke(acme, acmeCache, "get", `{"key":"greeting"}`)
		switch {
		case err == nil:
			admitted++
		case api.KindOf(err) == api.KindResourceExhausted:
			refused++
		default:
			return err
		}
	}
	fmt.Fprintf(out, "  acme-worker, %d calls in a row: %d admitted, %d refused (429 resource_exhausted)\n", burstCalls, admitted, refused)
	return nil
}

// httpRefusal returns how a call the admin API refused reads: its HTTP
// status, kind and message. It fails when err is not an answer of the
// kind wanted.
func httpRefusal(err error, want api.Kind) (string, error) {
	var e *api.Error
	if !errors.As(err, &e) {
		return "", fmt.Errorf("want a refusal of kind %s, got %v", want, err)
	}
	if e.Kind != want {
		return "", fmt.Errorf("want a refusal of kind %s, got %w", want, err)
	}
	return fmt.Sprintf("%d %s: %s", e.StatusCode, e.Kind, e.Message), nil
}

// auditEntry is a line of the admin API's audit log.
type auditEntry struct {
	Time       time.Time `json:"time"`
	Identity   string    `json:"identity"`
	Tenant     string    `json:"tenant"`
	Remote     string    `json:"remote"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	Resource   string    `json:"resource"`
	Operation  string    `json:"operation"`
	Result     string    `json:"result"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
}

// String returns the entry without its time, remote address and
// duration, which differ from run to run.
func (e auditEntry) String() string {
	or := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return fmt.Sprintf("identity=%s tenant=%s route=%q resource=%s operation=%s result=%s status=%d",
		or(e.Identity), or(e.Tenant), e.Route, or(e.Resource), or(e.Operation), e.Result, e.Status)
}

// auditLog receives the audit log: one JSON line a write.
type auditLog struct {
	mu    sync.Mutex // guards lines
	lines [][]byte
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for line := range bytes.Lines(p) {
		a.lines = append(a.lines, bytes.Clone(line))
	}
	return len(p), nil
}

// wait returns the first n entries, once there are n. The server writes
// a call's line once it has answered it, so the line of the last call
// may come a moment after its answer.
func (a *auditLog) wait(ctx context.Context, n int) ([]auditEntry, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.mu.Lock()
		lines := a.lines
		a.mu.Unlock()
		if len(lines) >= n {
			out := make([]auditEntry, n)
			for i, l := range lines[:n] {
				if err := json.Unmarshal(l, &out[i]); err != nil {
					return nil, fmt.Errorf("audit line %d: %w", i+1, err)
				}
			}
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the audit log has %d lines after 5s; want %d", len(lines), n)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// writeTenantMetrics prints the per-tenant series the host exports, as
// Prometheus scrapes them from /metrics.
func writeTenantMetrics(h *host.Host, out io.Writer) error {
	mfs, err := h.Gatherer().Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "nebula_tenant_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			v := m.GetCounter().GetValue()
			if g := m.GetGauge(); g != nil {
				v = g.GetValue()
			}
			fmt.Fprintf(out, "%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), v)
		}
	}
	return nil
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
