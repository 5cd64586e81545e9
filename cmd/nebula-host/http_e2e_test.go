package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// lockedBuffer is a log destination that the host's goroutines write to
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// httpHost starts a host in the test's process with the built http plugin
// and one resource, http.api, at base with the attributes in body; its
// logs, at debug level, the plugin's included, go to logs.
func httpHost(t *testing.T, base, body string, logs io.Writer) *host.Host {
	t.Helper()
	path := writeFile(t, t.TempDir(), "main.hcl", fmt.Sprintf(`resource "http" "api" {
  base_url = %q
%s
  resilience {
    retry {
      max_attempts = 3
      backoff      = "10ms"
    }
  }
}
`, base, body))
	return goHost(t, path, host.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
}

// flakyServer answers each path's first request 503 with Retry-After: 1
// and the next ones 200, and records when each request came and its
// Idempotency-Key header.
type flakyServer struct {
	*httptest.Server
	mu   sync.Mutex // guards seen
	seen map[string][]seenRequest
}

type seenRequest struct {
	at  time.Time
	key string
}

func newFlakyServer(t *testing.T) *flakyServer {
	f := &flakyServer{seen: map[string][]seenRequest{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen[r.URL.Path] = append(f.seen[r.URL.Path], seenRequest{time.Now(), r.Header.Get("Idempotency-Key")})
		n := len(f.seen[r.URL.Path])
		f.mu.Unlock()
		if n == 1 || strings.HasPrefix(r.URL.Path, "/down") {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "done")
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flakyServer) requests(path string) []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen[path]...)
}

// A 503 with Retry-After: 1 is retried by the host's retry policy about a
// second later, for a GET (plain, and streamed without input, since the
// failed attempt wrote nothing); a POST is retried only with an
// idempotency_key, which the server sees on both attempts.
func TestHTTPRetriesA503AfterItsRetryAfterOnlyWhenIdempotent(t *testing.T) {
	srv := newFlakyServer(t)
	h := httpHost(t, srv.URL, "", io.Discard)

	checkRetried := func(t *testing.T, path string) []seenRequest {
		t.Helper()
		seen := srv.requests(path)
		if len(seen) != 2 {
			t.Fatalf("the server saw %d requests, want 2", len(seen))
		}
		gap := seen[1].at.Sub(seen[0].at)
		t.Logf("%s: retried %s after the 503", path, gap.Round(time.Millisecond))
		if gap < 900*time.Millisecond || gap >= 3*time.Second {
			t.Fatalf("retried after %s, want Retry-After's 1s", gap)
		}
		return seen
	}

	t.Run("GET", func(t *testing.T) {
		raw, err := h.Invoke(t.Context(), "http.api", "fetch", map[string]any{"path": "/get"})
		if err != nil || !strings.Contains(string(raw), `"body":"done"`) {
			t.Fatalf("fetch: %s, %v", raw, err)
		}
		checkRetried(t, "/get")
	})
	t.Run("GET as a stream", func(t *testing.T) {
		var body bytes.Buffer
		err := host.Use(t.Context(), h, "http.api", func(l *host.Lease) error {
			_, err := l.InvokeStream(t.Context(), "request", map[string]any{"path": "/stream"}, nil, &body)
			return err
		})
		if err != nil || body.String() != "done" {
			t.Fatalf("request: %q, %v", body.String(), err)
		}
		checkRetried(t, "/stream")
	})
	t.Run("POST without idempotency_key", func(t *testing.T) {
		_, err := h.Invoke(t.Context(), "http.api", "fetch", map[string]any{"method": "POST", "path": "/down/post", "body": "x"})
		if sdk.KindOf(err) != sdk.KindUnavailable {
			t.Fatalf("fetch: %v, want unavailable", err)
		}
		if n := len(srv.requests("/down/post")); n != 1 {
			t.Fatalf("the server saw %d requests, want exactly 1", n)
		}
	})
	t.Run("POST with idempotency_key", func(t *testing.T) {
		raw, err := h.Invoke(t.Context(), "http.api", "fetch", map[string]any{"method": "POST", "path": "/post", "body": "x", "idempotency_key": "order-42"})
		if err != nil {
			t.Fatalf("fetch: %s, %v", raw, err)
		}
		seen := checkRetried(t, "/post")
		if seen[0].key != "order-42" || seen[1].key != "order-42" {
			t.Fatalf("Idempotency-Key headers %q and %q, want order-42 twice", seen[0].key, seen[1].key)
		}
	})
}

// bigBody writes size bytes of a repeated pseudo-random block.
func bigBody(size int64) (http.HandlerFunc, string) {
	block := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range block {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		block[i] = byte(x)
	}
	h := sha256.New()
	for left := size; left > 0; left -= int64(len(block)) {
		h.Write(block[:min(left, int64(len(block)))])
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		for left := size; left > 0; left -= int64(len(block)) {
			if _, err := w.Write(block[:min(left, int64(len(block)))]); err != nil {
				return
			}
		}
	}, hex.EncodeToString(h.Sum(nil))
}

// heapSampler samples the heap of the test's process until stopped.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleHeap() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			s.peak = max(s.peak, m.HeapAlloc)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop stops the sampling and returns the peak.
func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// peakRSS returns the peak resident set of process pid (VmHWM), or 0 where
// /proc does not tell.
func peakRSS(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// A 200 MiB response streams through the host with the plugin binary, read
// with Lease.OpenReader, while the test process's heap grows by less than
// 32 MiB; every byte arrives, in order.
func TestHTTPStreamsA200MiBResponseWithBoundedMemory(t *testing.T) {
	const size = 200 << 20
	handler, want := bigBody(size)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h := httpHost(t, srv.URL, "", io.Discard)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sampler := sampleHeap()
	start := time.Now()
	var n int64
	sum := sha256.New()
	err := host.Use(t.Context(), h, "http.api", func(l *host.Lease) error {
		r, err := l.OpenReader(t.Context(), "request", map[string]any{"path": "/big"})
		if err != nil {
			return err
		}
		defer r.Close()
		if n, err = io.Copy(sum, r); err != nil {
			return err
		}
		if !strings.Contains(string(r.Result()), `"bytes":`+strconv.Itoa(size)) {
			return fmt.Errorf("result %s", r.Result())
		}
		return nil
	})
	peak := sampler.Stop()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	growth := int64(peak) - int64(before.HeapAlloc)
	var rss uint64
	for _, p := range h.Plugins() {
		if p.Name == "http" || strings.Contains(p.Path, "nebula-plugin-http") {
			rss = peakRSS(p.PID)
		}
	}
	t.Logf("%d MiB in %s (%.0f MiB/s); heap of the test process %d MiB before, peak growth %.1f MiB; plugin peak RSS %.1f MiB",
		n>>20, elapsed.Round(time.Millisecond), float64(n)/(1<<20)/elapsed.Seconds(), before.HeapAlloc>>20, float64(growth)/(1<<20), float64(rss)/(1<<20))
	if got := hex.EncodeToString(sum.Sum(nil)); n != size || got != want {
		t.Fatalf("read %d bytes with SHA-256 %s, want %d bytes with %s", n, got, size, want)
	}
	if growth >= 32<<20 {
		t.Fatalf("the heap grew by %.1f MiB, want under 32 MiB", float64(growth)/(1<<20))
	}
	if rss >= 96<<20 {
		t.Fatalf("the plugin's peak RSS is %.1f MiB: it buffers the body", float64(rss)/(1<<20))
	}
}

// The credentials are in no error and no log line of the host or the
// plugin, with logs at debug level, when the server quotes them back in a
// 401 or nothing answers.
func TestHTTPSecretsAreInNoErrorOrLogThroughTheHost(t *testing.T) {
	const bearer, basic = "canary-e2e-bearer-61c0", "canary-e2e-basic-0d9a"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, "refused: %s / %s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	}))
	t.Cleanup(echo.Close)
	for name, attrs := range map[string]string{
		"bearer": fmt.Sprintf("  bearer_token = %q\n  secret_headers = { \"X-Api-Key\" = %q }\n", bearer, basic),
		"basic":  fmt.Sprintf("  basic_username = \"ada\"\n  basic_password = %q\n", basic),
	} {
		t.Run(name, func(t *testing.T) {
			var logs lockedBuffer
			h := httpHost(t, echo.URL, attrs, &logs)
			_, err := h.Invoke(t.Context(), "http.api", "fetch", map[string]any{"path": "/private"})
			if sdk.KindOf(err) != sdk.KindUnauthenticated {
				t.Fatalf("fetch: %v, want unauthenticated", err)
			}
			t.Logf("%v", err)
			err2 := host.Use(t.Context(), h, "http.api", func(l *host.Lease) error {
				_, err := l.InvokeStream(t.Context(), "request", map[string]any{"path": "/private"}, nil, io.Discard)
				return err
			})
			if err2 == nil || !strings.Contains(logs.String(), "nebula-plugin-http") {
				t.Fatalf("request: %v; the logs do not show the plugin:\n%s", err2, logs.String())
			}
			for _, text := range []string{err.Error(), err2.Error(), logs.String()} {
				for _, c := range []string{bearer, basic} {
					if strings.Contains(text, c) {
						t.Fatalf("%s appears in %q", c, text)
					}
				}
			}
		})
	}
}
