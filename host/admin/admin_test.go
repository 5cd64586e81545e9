package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer runs a host with in-process memory and localfs drivers behind
// an httptest server.
func newServer(t *testing.T) (*httptest.Server, *host.Host) {
	t.Helper()
	return newServerWith(t, func(dir string) string {
		return `
resource "memory" "cache" {}
resource "localfs" "files" {
  root = "` + filepath.Join(dir, "files") + `"
  create_root = true
}`
	})
}

// newServerWith runs a host of the configuration that src returns for a
// fresh directory, with in-process memory, localfs and faults drivers and
// opts, behind an httptest server.
func newServerWith(t *testing.T, src func(dir string) string, opts ...host.Option) (*httptest.Server, *host.Host) {
	t.Helper()
	h := newHost(t, src, opts...)
	srv := httptest.NewServer(admin.New(h, admin.Config{Logger: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	return srv, h
}

// newHost runs a host of the configuration that src returns for a fresh
// directory, with in-process memory, localfs and faults drivers and opts,
// until the test ends.
func newHost(t *testing.T, src func(dir string) string, opts ...host.Option) *host.Host {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	opts = append([]host.Option{host.WithDriver("memory", memory.New()), host.WithDriver("localfs", localfs.New()),
		host.WithDriver("faults", faults{}), host.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	h, err := host.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readyVerbose is /readyz?verbose of the test's two resources before and
// after their first check: memory's, localfs's and the overall state in
// the lines, then localfs's and memory's in the summary.
var readyVerbose = regexp.MustCompile(`^\[\+\]memory\.cache ok, health (starting|healthy)\n\[\+\]localfs\.files ok, health (starting|healthy)\n` +
	`health (starting|healthy) \(localfs (starting|healthy), memory (starting|healthy)\)\nok\n$`)

// overall is the host's state of two resources in a and b: starting
// while either is.
func overall(a, b string) string {
	if a == "starting" || b == "starting" {
		return "starting"
	}
	return "healthy"
}

func TestProbesReportLivenessAndReadiness(t *testing.T) {
	srv, h := newServer(t)
	if code, body := get(t, srv.URL+"/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("livez: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	// Each resource is starting until its first check passes, which the
	// background checks may have done already (their first is due within
	// the interval's jitter): either state, the same in its line and in
	// the summary.
	code, body := get(t, srv.URL+"/readyz?verbose")
	m := readyVerbose.FindStringSubmatch(body)
	if code != 200 || m == nil || m[1] != m[5] || m[2] != m[4] || m[3] != overall(m[4], m[5]) {
		t.Fatalf("readyz?verbose: %d %q, want each resource ok and starting or healthy, as the summary says", code, body)
	}
	_ = h.Close(t.Context())
	code, body = get(t, srv.URL+"/readyz?verbose")
	if want := "[-]memory.cache closed, health unhealthy\n[-]localfs.files closed, health unhealthy\nhealth unhealthy (localfs unhealthy, memory unhealthy)\nnot ready\n"; code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("readyz after Close: %d %q, want %q", code, body, want)
	}
	if code, _ := get(t, srv.URL+"/livez"); code != 200 {
		t.Fatal("livez must not depend on resources")
	}
}

func TestInvokeReturnsResultsAndKindedErrors(t *testing.T) {
	srv, _ := newServer(t)
	base := srv.URL + "/v1/resources/"
	tests := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"set", "memory.cache/invoke", `{"operation":"set","args":{"key":"a","value":"1"}}`, 200, `"ok": true`},
		{"get", "memory.cache/invoke", `{"operation":"get","args":{"key":"a"}}`, 200, `"value": "1"`},
		{"get with an owner", "memory.cache/invoke", `{"operation":"get","args":{"key":"a"},"owner":{"tenant":"acme","step":"s1"}}`, 200, `"value": "1"`},
		{"missing key", "memory.cache/invoke", `{"operation":"get","args":{"key":"zz"}}`, 200, `"found": false`},
		{"driver error", "memory.cache/invoke", `{"operation":"command","args":{"args":["PING"]}}`, 501, `"kind": "unimplemented"`},
		{"unknown resource", "memory.cahce/invoke", `{"operation":"get"}`, 404, `did you mean \"memory.cache\"`},
		{"bad body", "memory.cache/invoke", `{"op":"get"}`, 400, `"kind": "invalid_argument"`},
		{"no operation", "memory.cache/invoke", `{}`, 400, `no operation`},
		{"bad args", "memory.cache/invoke", `{"operation":"get","args":{"key":5}}`, 400, `want string`},
		{"escape", "localfs.files/invoke", `{"operation":"stat","args":{"key":"../x"}}`, 400, `\"..\"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, base+tc.path, tc.body)
			if code != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %s", code, body, tc.status, tc.want)
			}
		})
	}
}

func TestStreamEndpointCarriesBytesBothWays(t *testing.T) {
	srv, _ := newServer(t)
	data := bytes.Repeat([]byte("nebula "), 100_000)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/resources/localfs.files/stream/put", bytes.NewReader(data))
	req.Header.Set("Content-Type", api.ContentTypeStream)
	req.Header.Set(api.ArgsHeader, `{"key":"d/x.bin"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Trailer.Get(api.ResultTrailer), `"size":700000`) {
		t.Fatalf("put: %d trailer %q", resp.StatusCode, resp.Trailer)
	}

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/resources/localfs.files/stream/get", nil)
	req.Header.Set("Content-Type", api.ContentTypeStream)
	req.Header.Set(api.ArgsHeader, `{"key":"d/x.bin"}`)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) || resp.Trailer.Get(api.ResultTrailer) == "" {
		t.Fatalf("get: %d bytes, trailer %q", len(got), resp.Trailer)
	}

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/resources/localfs.files/stream/get", nil)
	req.Header.Set("Content-Type", api.ContentTypeStream)
	req.Header.Set(api.ArgsHeader, `{"key":"nope"}`)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "not_found") {
		t.Fatalf("get of a missing file: %d %s", resp.StatusCode, body)
	}
}

func TestListingsDescribeResourcesAndPlugins(t *testing.T) {
	srv, _ := newServer(t)
	code, body := get(t, srv.URL+"/v1/resources")
	var list api.ResourceList
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Resources) != 2 || list.Resources[0].ID != "memory.cache" ||
		list.Resources[0].State != api.StateReady || list.Total != 2 || list.Next != "" || len(list.Types["localfs"].Operations) == 0 {
		t.Fatalf("resources: %d %s", code, body)
	}
	code, body = get(t, srv.URL+"/v1/resources/localfs.files")
	if code != 200 || !strings.Contains(body, `"name": "put"`) {
		t.Fatalf("one resource: %d %s", code, body)
	}
	if code, _ := get(t, srv.URL+"/v1/resources/nope.nope"); code != 404 {
		t.Fatalf("unknown resource: %d", code)
	}
	code, body = get(t, srv.URL+"/v1/plugins")
	if code != 200 || !strings.Contains(body, `"name": "memory"`) {
		t.Fatalf("plugins: %d %s", code, body)
	}
}

func TestServerRefusesNonLoopbackUnlessAllowed(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:0": true, "[::1]:0": true, "localhost:0": true, "0.0.0.0:0": false, "10.1.2.3:0": false} {
		err := admin.CheckAddress(addr, false)
		if ok != (err == nil) || (!ok && !errors.Is(err, admin.ErrNotLoopback)) {
			t.Errorf("CheckAddress(%q): %v", addr, err)
		}
	}
	if err := admin.CheckAddress("0.0.0.0:0", true); err != nil {
		t.Errorf("allow_remote: %v", err)
	}
	s := admin.New(nil, admin.Config{Address: "0.0.0.0:0"})
	if err := s.Start(); !errors.Is(err, admin.ErrNotLoopback) {
		t.Fatalf("Start on 0.0.0.0: %v", err)
	}
	// allow_remote alone is not enough: the callers must authenticate.
	s = admin.New(nil, admin.Config{Address: "0.0.0.0:0", AllowRemote: true})
	if err := s.Start(); !errors.Is(err, admin.ErrNotLoopback) || !strings.Contains(err.Error(), "declares no identity") {
		t.Fatalf("Start on 0.0.0.0 with allow_remote and no identity: %v", err)
	}
	cfg := admin.Config{Address: "0.0.0.0:0", AllowRemote: true,
		Auth: config.AdminAuth{Identities: []*config.Identity{{Name: "ops", TokenSHA256: sha256Hex("t"), Allow: []string{"read"}}}}}
	if !cfg.RemoteAccess() || admin.CheckAddress(cfg.Address, cfg.RemoteAccess()) != nil {
		t.Fatalf("allow_remote with an identity: RemoteAccess %v", cfg.RemoteAccess())
	}
}

func TestServerStartsAndShutsDown(t *testing.T) {
	_, h := newServer(t)
	s := admin.New(h, admin.Config{Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, "http://"+s.Addr()+"/livez"); code != 200 {
		t.Fatalf("livez: %d", code)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// faultyMemory is the memory driver with faults the test turns on: failing
// health checks, failing calls.
type faultyMemory struct {
	sdk.Driver
	checkErr, callErr atomic.Pointer[error]
}

func newFaultyMemory() *faultyMemory { return &faultyMemory{Driver: memory.New()} }

func (d *faultyMemory) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	res, err := d.Driver.Configure(ctx, req)
	if err != nil {
		return nil, err
	}
	return faultyResource{res, d}, nil
}

type faultyResource struct {
	sdk.Resource
	d *faultyMemory
}

func (r faultyResource) Open(ctx context.Context) (sdk.Instance, error) {
	inst, err := r.Resource.Open(ctx)
	if err != nil {
		return nil, err
	}
	return faultyInstance{inst, r.d}, nil
}

type faultyInstance struct {
	sdk.Instance
	d *faultyMemory
}

func (i faultyInstance) Check(ctx context.Context) error {
	if err := i.d.checkErr.Load(); err != nil {
		return *err
	}
	return i.Instance.Check(ctx)
}

func (i faultyInstance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if err := i.d.callErr.Load(); err != nil {
		return nil, *err
	}
	typ, _ := i.d.Driver.Info().Type(memory.TypeName)
	return typ.Invoke(ctx, i.Instance, req)
}

func getHealth(t *testing.T, url string) host.HealthReport {
	t.Helper()
	code, body := get(t, url+"/v1/health")
	var rep host.HealthReport
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil {
		t.Fatalf("GET /v1/health: %d %v\n%s", code, err, body)
	}
	return rep
}

// waitStatus polls GET /v1/health until the overall status is want.
func waitStatus(t *testing.T, url string, want host.HealthState) host.HealthReport {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep := getHealth(t, url)
		if rep.Status == want {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("health status %s after 10s, want %s: %+v", rep.Status, want, rep)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHealthEndpointAndVerboseReadinessFollowChecks(t *testing.T) {
	d := newFaultyMemory()
	srv, _ := newServerWith(t, func(dir string) string {
		return `
resource "memory" "cache" {
  health {
    interval        = "20ms"
    timeout         = "5s"
    jitter          = "1ms"
    unhealthy_after = 1
  }
  resilience {
    circuit_breaker {
      failure_threshold = 1
      open_for          = "1h"
    }
  }
}
resource "localfs" "files" {
  root        = "` + filepath.Join(dir, "files") + `"
  create_root = true
  health {
    interval = "20ms"
    timeout  = "5s"
    jitter   = "1ms"
  }
}`
	}, host.WithDriver("memory", d))

	rep := waitStatus(t, srv.URL, host.HealthHealthy)
	if len(rep.Resources) != 2 || rep.Types["memory"] != host.HealthHealthy || rep.Types["localfs"] != host.HealthHealthy {
		t.Fatalf("healthy report: %+v", rep)
	}
	cache, files := rep.Resources[0], rep.Resources[1]
	if cache.ID != "memory.cache" || cache.Type != "memory" || cache.Breaker != host.BreakerClosed || cache.Quarantined || cache.Since.IsZero() ||
		files.ID != "localfs.files" || files.Breaker != host.BreakerNone || files.LastCheck.IsZero() {
		t.Fatalf("healthy report: %+v", rep)
	}
	code, body := get(t, srv.URL+"/readyz?verbose")
	if want := "[+]memory.cache ok, health healthy, breaker closed\n[+]localfs.files ok, health healthy\nhealth healthy (localfs healthy, memory healthy)\nok\n"; code != 200 || body != want {
		t.Fatalf("readyz?verbose: %d %q, want %q", code, body, want)
	}

	// A failed call opens the breaker, which the resource's line shows.
	callErr := sdk.Errorf(sdk.KindUnavailable, "backend refused the call")
	d.callErr.Store(&callErr)
	if code, body := post(t, srv.URL+"/v1/resources/memory.cache/invoke", `{"operation":"get","args":{"key":"a"}}`); code != http.StatusServiceUnavailable {
		t.Fatalf("failing call: %d %s", code, body)
	}
	code, body = get(t, srv.URL+"/readyz?verbose")
	if want := "[+]memory.cache ok, health healthy, breaker open\n"; code != 200 || !strings.HasPrefix(body, want) {
		t.Fatalf("readyz?verbose with the breaker open: %d %q, want it to begin %q", code, body, want)
	}

	// A failed check quarantines it: 503, and the line says why.
	checkErr := sdk.Errorf(sdk.KindUnavailable, "backend is down")
	d.checkErr.Store(&checkErr)
	rep = waitStatus(t, srv.URL, host.HealthUnhealthy)
	if rep.Types["memory"] != host.HealthUnhealthy || rep.Types["localfs"] != host.HealthHealthy {
		t.Fatalf("aggregates: %s %v", rep.Status, rep.Types)
	}
	cache = rep.Resources[0]
	if !cache.Quarantined || !strings.Contains(cache.Reason, "backend is down") || !strings.Contains(cache.LastError, "backend is down") || cache.ConsecutiveFailures < 1 {
		t.Fatalf("unhealthy resource: %+v", cache)
	}
	var kinds []string
	for _, e := range cache.History {
		kinds = append(kinds, e.Kind+" "+e.From+"→"+e.To)
	}
	if want := []string{"health starting→healthy", "breaker closed→open", "health healthy→unhealthy"}; strings.Join(kinds, ", ") != strings.Join(want, ", ") {
		t.Fatalf("history %q, want %q", kinds, want)
	}
	code, body = get(t, srv.URL+"/readyz?verbose")
	lines := strings.Split(body, "\n")
	if want := "[-]memory.cache ready, health unhealthy, breaker open: "; code != http.StatusServiceUnavailable || len(lines) != 5 ||
		!strings.HasPrefix(lines[0], want) || !strings.Contains(lines[0], "backend is down") ||
		lines[1] != "[+]localfs.files ok, health healthy" || lines[2] != "health unhealthy (localfs healthy, memory unhealthy)" || lines[3] != "not ready" {
		t.Fatalf("readyz?verbose while quarantined: %d %q, want a first line beginning %q", code, body, want)
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz while quarantined: %d", code)
	}

	// Passing checks bring it back; the breaker stays open for its hour.
	d.checkErr.Store(nil)
	waitStatus(t, srv.URL, host.HealthHealthy)
	code, body = get(t, srv.URL+"/readyz?verbose")
	if want := "[+]memory.cache ok, health healthy, breaker open\n[+]localfs.files ok, health healthy\nhealth healthy (localfs healthy, memory healthy)\nok\n"; code != 200 || body != want {
		t.Fatalf("readyz?verbose after recovery: %d %q, want %q", code, body, want)
	}
}

func TestVerboseReadinessSaysWhyAResourceDidNotStart(t *testing.T) {
	var missing string
	srv, _ := newServerWith(t, func(dir string) string {
		missing = filepath.Join(dir, "missing")
		return `
resource "memory" "cache" {}
resource "localfs" "files" {
  root = "` + missing + `"
}`
	}, host.WithPartialStart())
	code, body := get(t, srv.URL+"/readyz?verbose")
	// The reason is said once, after the health state. memory is starting
	// until its first check passes, which may have happened already.
	lines := strings.Split(body, "\n")
	memory := strings.TrimPrefix(lines[0], "[+]memory.cache ok, health ")
	if want := "[-]localfs.files failed, health unhealthy: root directory "; code != http.StatusServiceUnavailable || len(lines) != 5 ||
		(memory != "starting" && memory != "healthy") || !strings.HasPrefix(lines[1], want) ||
		!strings.Contains(lines[1], missing) || strings.Count(lines[1], "failed") != 1 ||
		lines[2] != "health unhealthy (localfs unhealthy, memory "+memory+")" || lines[3] != "not ready" {
		t.Fatalf("readyz?verbose: %d %q, want a second line beginning %q", code, body, want)
	}
	rep := getHealth(t, srv.URL)
	if rep.Status != host.HealthUnhealthy || rep.Types["localfs"] != host.HealthUnhealthy || !rep.Resources[1].Quarantined ||
		!strings.HasPrefix(rep.Resources[1].Reason, "failed: ") || !strings.Contains(rep.Resources[1].Reason, missing) {
		t.Fatalf("GET /v1/health answers 200 with the resource unhealthy and why: %+v", rep)
	}
}
