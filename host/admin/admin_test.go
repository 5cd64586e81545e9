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
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer runs a host with in-process memory and localfs drivers behind
// an httptest server.
func newServer(t *testing.T) (*httptest.Server, *host.Host) {
	t.Helper()
	dir := t.TempDir()
	src := `
resource "memory" "cache" {}
resource "localfs" "files" {
  root = "` + filepath.Join(dir, "files") + `"
  create_root = true
}`
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	log := slog.New(slog.DiscardHandler)
	h, err := host.New(cfg, host.WithDriver("memory", memory.New()), host.WithDriver("localfs", localfs.New()), host.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(h, admin.Config{Logger: log}).Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return srv, h
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

func TestProbesReportLivenessAndReadiness(t *testing.T) {
	srv, h := newServer(t)
	if code, body := get(t, srv.URL+"/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("livez: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	code, body := get(t, srv.URL+"/readyz?verbose")
	if code != 200 || !strings.Contains(body, "[+]memory.cache ok") || !strings.Contains(body, "[+]localfs.files ok") {
		t.Fatalf("readyz?verbose: %d %q", code, body)
	}
	_ = h.Close(t.Context())
	code, body = get(t, srv.URL+"/readyz?verbose")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]memory.cache closed") {
		t.Fatalf("readyz after Close: %d %q", code, body)
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
		{"set", "memory.cache/invoke", `{"operation":"set","args":{"key":"a","value":"1"}}`, 200, `"result": {}`},
		{"get", "memory.cache/invoke", `{"operation":"get","args":{"key":"a"}}`, 200, `"value": "1"`},
		{"get with an owner", "memory.cache/invoke", `{"operation":"get","args":{"key":"a"},"owner":{"tenant":"acme","step":"s1"}}`, 200, `"value": "1"`},
		{"missing key", "memory.cache/invoke", `{"operation":"get","args":{"key":"zz"}}`, 404, `"kind": "not_found"`},
		{"unknown resource", "memory.cahce/invoke", `{"operation":"get"}`, 404, `did you mean \"memory.cache\"`},
		{"bad body", "memory.cache/invoke", `{"op":"get"}`, 400, `"kind": "invalid_argument"`},
		{"no operation", "memory.cache/invoke", `{}`, 400, `no operation`},
		{"bad args", "memory.cache/invoke", `{"operation":"get","args":{"key":5}}`, 400, `want string`},
		{"escape", "localfs.files/invoke", `{"operation":"stat","args":{"path":"../x"}}`, 400, `\"..\"`},
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
	req.Header.Set(admin.ArgsHeader, `{"path":"d/x.bin"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Trailer.Get(admin.ResultTrailer), `"size":700000`) {
		t.Fatalf("put: %d trailer %q", resp.StatusCode, resp.Trailer)
	}

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/resources/localfs.files/stream/get", nil)
	req.Header.Set(admin.ArgsHeader, `{"path":"d/x.bin"}`)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) || resp.Trailer.Get(admin.ResultTrailer) == "" {
		t.Fatalf("get: %d bytes, trailer %q", len(got), resp.Trailer)
	}

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/resources/localfs.files/stream/get", nil)
	req.Header.Set(admin.ArgsHeader, `{"path":"nope"}`)
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
	var list []host.ResourceInfo
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 || list[0].ID != "memory.cache" || list[0].State != host.StateReady {
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
