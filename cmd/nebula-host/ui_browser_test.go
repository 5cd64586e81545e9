package main_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// pageConsole collects what a page reports as going wrong: calls of
// console.error, console.warn and console.assert, exceptions nothing
// caught, and the browser log's errors and warnings (a failed request, a
// refusal of the Content-Security-Policy).
type pageConsole struct {
	mu   sync.Mutex
	msgs []string
}

// watchConsole starts collecting the tab's console.
func watchConsole(t *testing.T, tab context.Context) *pageConsole {
	t.Helper()
	c := &pageConsole{}
	err := chromedp.Listen(tab, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			switch ev.Type {
			case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.TrimSpace(string(a.Value)+" "+a.Description))
				}
				c.add(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			c.add(fmt.Sprintf("exception at %s:%d: %s %s", d.URL, d.LineNumber, d.Text, desc))
		case *log.EventEntryAdded:
			if e := ev.Entry; e.Level == log.EntryLevelError || e.Level == log.EntryLevelWarning {
				c.add(fmt.Sprintf("log %s %s: %s (%s)", e.Source, e.Level, e.Text, e.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("listening to the console: %v", err)
	}
	return c
}

func (c *pageConsole) add(m string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
}

// take returns the messages collected so far, and forgets them.
func (c *pageConsole) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

// waitPage waits, limit at most, until expr is true in the tab, and
// returns how long that took.
func waitPage(t *testing.T, tab context.Context, limit time.Duration, expr, what string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(limit))); err != nil {
		body, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: not within %v (%v); the page shows:\n%s", what, limit, err, body)
	}
	return time.Since(start)
}

// pageValue evaluates expr in the tab.
func pageValue[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves a full-page PNG of the tab as name, in the directory
// NEBULA_TEST_ARTIFACTS names, or else in a temporary directory of the
// test, and logs where.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv("NEBULA_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// rowText returns the JavaScript that reads a field of a resource's row
// in the overview.
func rowText(id, field string) string {
	return fmt.Sprintf(`(document.querySelector('tr[data-resource=%q] td[data-field=%q]') || {}).textContent`, id, field)
}

// TestWebUIShowsTheHostLive runs a real host with four resources behind
// the admin endpoint, opens /ui/ in a real Chromium, and checks that the
// page shows every resource with its type and plugin, reflects a
// quarantine within 5 s and the recovery after it, shows leases out with
// their owners and a pool's sizing advice on the resource page, says when
// the host stops answering, and writes nothing to the console meanwhile.
// It saves screenshots of the overview and of a resource page.
func TestWebUIShowsTheHostLive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddress(t)

	// The http resource's backend, whose health path the test turns off.
	var down atomic.Bool
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && down.Load() {
			http.Error(w, "switched off by the test", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer backend.Close()

	path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
admin { address = %q }

resource "memory" "cache" {
  resilience {
    circuit_breaker {}
  }
}

resource "localfs" "files" {
  root        = %q
  create_root = true
}

resource "sqlite" "db" {
  path = ":memory:"
  pool {
    max_size = 2
  }
}

resource "http" "api" {
  base_url    = %q
  health_path = "/healthz"
  health {
    interval        = "100ms"
    timeout         = "1s"
    unhealthy_after = 1
  }
  resilience {
    circuit_breaker {}
  }
}
`, addr, filepath.Join(dir, "files"), backend.URL))
	h := startHost(t, path, addr)
	resources := map[string][2]string{ // id: type, plugin
		"memory.cache":  {"memory", "memory"},
		"localfs.files": {"localfs", "localfs"},
		"sqlite.db":     {"sqlite", "sqlite"},
		"http.api":      {"http", "http"},
	}

	tab := newBrowser(t)
	console := watchConsole(t, tab)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 860), chromedp.Navigate("http://"+addr+"/ui/")); err != nil {
		t.Fatalf("opening /ui/: %v", err)
	}
	waitPage(t, tab, 10*time.Second, `document.body.dataset.state === "ready" && document.querySelectorAll("#resources tbody tr[data-resource]").length === 4`, "the overview")

	t.Run("every resource", func(t *testing.T) {
		for id, tp := range resources {
			got := pageValue[[]string](t, tab, fmt.Sprintf(`[%s, %s, %s, %s]`, rowText(id, "type"), rowText(id, "plugin"), rowText(id, "state"), rowText(id, "quarantine")))
			if want := []string{tp[0], tp[1], "ready", "no"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: type, plugin, state, quarantine %q, want %q", id, got, want)
			}
		}
		if got := pageValue[string](t, tab, `document.getElementById("updated").textContent`); !strings.HasPrefix(got, "Updated ") {
			t.Errorf("last updated: %q", got)
		}
		for _, name := range []string{"memory", "localfs", "sqlite", "http"} {
			if pid := pageValue[string](t, tab, fmt.Sprintf(`(document.querySelector('tr[data-plugin=%q] td[data-field=pid]') || {}).textContent`, name)); pid == "" || pid == "—" {
				t.Errorf("plugin %s: PID %q", name, pid)
			}
		}
	})

	t.Run("a quarantine within 5 s", func(t *testing.T) {
		down.Store(true)
		took := waitPage(t, tab, 5*time.Second, rowText("http.api", "quarantine")+` === "quarantined"`, "http.api quarantined")
		t.Logf("quarantine shown %v after the health path failed (checks every 100ms, page polls every 2s)", took.Round(time.Millisecond))
		screenshot(t, tab, "ui-quarantine.png")
		if got := pageValue[string](t, tab, rowText("http.api", "health")); got != "unhealthy" {
			t.Errorf("http.api health %q, want unhealthy", got)
		}
		down.Store(false)
		waitPage(t, tab, 10*time.Second, rowText("http.api", "quarantine")+` === "no" && `+rowText("http.api", "health")+` === "healthy"`, "http.api healthy again")
	})

	// Work for the screenshots: callers that keep sqlite.db's two
	// connections busy and make them wait, and an upload that holds a lease
	// on localfs.files until the test ends it.
	loadCtx, stopLoad := context.WithCancel(t.Context())
	var load sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	stop := func() {
		stopLoad()
		load.Wait()
	}
	defer stop()
	query := `{"operation":"query","args":{"sql":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 100000) SELECT count(*) AS n FROM c"},` +
		`"owner":{"tenant":"acme","workflow":"nightly-report","step":"aggregate-%d"}}`
	var failed atomic.Int64
	for i := range 5 {
		load.Go(func() {
			for loadCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodPost, "http://"+addr+"/v1/resources/sqlite.db/invoke", strings.NewReader(fmt.Sprintf(query, i+1)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if loadCtx.Err() == nil {
						failed.Add(1)
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	upload, uploading := io.Pipe()
	load.Go(func() {
		req, _ := http.NewRequestWithContext(loadCtx, http.MethodPost, "http://"+addr+"/v1/resources/localfs.files/stream/put", upload)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Nebula-Args", `{"key":"exports/orders.csv"}`)
		req.Header.Set("Nebula-Tenant", "globex")
		req.Header.Set("Nebula-Workflow", "export-orders")
		req.Header.Set("Nebula-Step", "upload")
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	defer uploading.Close()
	if _, err := io.WriteString(uploading, "id,total\n"); err != nil {
		t.Fatalf("starting the upload: %v", err)
	}
	// A line a second, so that the upload does not pause longer than the
	// endpoint allows (its body timeout).
	load.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-loadCtx.Done():
				return
			case <-time.After(time.Second):
			}
			if _, err := fmt.Fprintf(uploading, "%d,%d\n", i, i*7); err != nil {
				return
			}
		}
	})
	for i := range 40 {
		if code, body := invokeJSON(t, addr, "memory.cache", invoke{"set", map[string]any{"key": fmt.Sprint("k", i), "value": "v"}}); code != http.StatusOK {
			t.Fatalf("memory set: %d %s", code, body)
		}
	}

	t.Run("leases in the overview", func(t *testing.T) {
		waitPage(t, tab, 10*time.Second, rowText("localfs.files", "leases")+` === "1" && Number(`+rowText("sqlite.db", "leases")+`) > 0`, "the leases out")
		screenshot(t, tab, "ui-overview.png")
	})

	t.Run("a resource page", func(t *testing.T) {
		if err := chromedp.Do(tab, chromedp.Navigate("http://"+addr+"/ui/#/resource/sqlite.db")); err != nil {
			t.Fatal(err)
		}
		waitPage(t, tab, 10*time.Second, `document.querySelector("#resource .title[data-resource='sqlite.db']") !== null`, "the page of sqlite.db")
		// Two connections for five callers: they wait, and the window
		// advises a larger pool once it holds 100 acquires.
		waitPage(t, tab, 30*time.Second, `(document.querySelector("#resource [data-field=advice]") || {}).textContent?.includes("raise max_size")`, "the sizing advice")
		// Enough samples for the sparklines to say something.
		waitPage(t, tab, 30*time.Second, `(document.querySelector("#resource .spark polyline")?.points.length ?? 0) >= 10 && [...document.querySelectorAll("#leases tbody td")].some(td => td.textContent === "nightly-report")`, "the leases and the sparklines")
		text := pageValue[string](t, tab, `document.getElementById("resource").textContent`)
		for _, want := range []string{"Pool · exclusive", "Last 5 minutes", "p95", "Leases out", "acme", "Health history", "starting", "healthy", "Circuit breaker"} {
			if !strings.Contains(text, want) {
				t.Errorf("the page of sqlite.db does not show %q:\n%s", want, text)
			}
		}
		screenshot(t, tab, "ui-resource.png")
	})
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of the load's calls failed", n)
	}

	t.Run("no console errors", func(t *testing.T) {
		if msgs := console.take(); len(msgs) > 0 {
			t.Errorf("the page reported:\n%s", strings.Join(msgs, "\n"))
		}
	})

	uploading.Close()
	stop()
	t.Run("a banner when the host stops answering", func(t *testing.T) {
		if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		h.waitExit(t, 15*time.Second)
		waitPage(t, tab, 5*time.Second, `document.body.dataset.host === "down" && !document.getElementById("banner").hidden`, "the banner")
		if got := pageValue[string](t, tab, `document.getElementById("banner").textContent`); !strings.HasPrefix(got, "The host is not answering since ") {
			t.Errorf("banner %q", got)
		}
		// The failed requests are the browser's only complaint.
		for _, m := range console.take() {
			if !strings.Contains(m, "ERR_CONNECTION_REFUSED") {
				t.Errorf("the page reported: %s", m)
			}
		}
	})
}

// TestWebUIAsksForAToken runs a host whose admin block declares
// identities: the page asks for a token, says when one is refused, shows
// the data to an identity allowed read with a note that the plugins need
// admin, and the plugins to an identity allowed admin. The token stays in
// the tab's sessionStorage.
func TestWebUIAsksForAToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddress(t)
	hash := func(token string) string {
		sum := sha256.Sum256([]byte(token))
		return hex.EncodeToString(sum[:])
	}
	const opsToken, viewerToken = "ops-3f9d2a7c51e84b06", "viewer-8c1e5b2f94d7a3e0"
	path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
admin {
  address = %q
  identity "ops" {
    token_sha256 = %q
    allow        = ["read", "invoke", "admin"]
  }
  identity "viewer" {
    token_sha256 = %q
    allow        = ["read"]
  }
}

resource "memory" "cache" {}

resource "localfs" "files" {
  root        = %q
  create_root = true
}
`, addr, hash(opsToken), hash(viewerToken), filepath.Join(dir, "files")))
	startHost(t, path, addr)

	tab := newBrowser(t)
	console := watchConsole(t, tab)
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+addr+"/ui/")); err != nil {
		t.Fatalf("opening /ui/: %v", err)
	}
	waitPage(t, tab, 10*time.Second, `document.body.dataset.state === "login" && !document.getElementById("login").hidden`, "the sign-in form")
	screenshot(t, tab, "ui-login.png")
	if n := pageValue[int](t, tab, `document.querySelectorAll("#resources tbody tr[data-resource]").length`); n != 0 {
		t.Fatalf("%d resources shown before signing in", n)
	}
	signIn := func(token string) {
		t.Helper()
		if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login-form button[type=submit]"))); err != nil {
			t.Fatalf("signing in: %v", err)
		}
	}

	signIn("not-a-token")
	waitPage(t, tab, 10*time.Second, `document.body.dataset.state === "login" && document.getElementById("login-error").textContent.startsWith("The token was refused")`, "the refusal of a wrong token")

	signIn(viewerToken)
	waitPage(t, tab, 10*time.Second, `document.body.dataset.state === "ready" && document.querySelectorAll("#resources tbody tr[data-resource]").length === 2`, "the resources, as viewer")
	if got := pageValue[string](t, tab, `document.getElementById("plugins-note").hidden ? "" : document.getElementById("plugins-note").textContent`); !strings.HasPrefix(got, "Needs admin") {
		t.Errorf("plugins note for viewer: %q, want it to say they need admin", got)
	}
	if got := pageValue[string](t, tab, `sessionStorage.getItem("nebula.token")`); got != viewerToken {
		t.Errorf("sessionStorage holds %q, want the token", got)
	}
	if got := pageValue[string](t, tab, `document.cookie + localStorage.length`); got != "0" {
		t.Errorf("cookies or localStorage: %q, want none", got)
	}

	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#signout"))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, tab, 5*time.Second, `document.body.dataset.state === "login" && sessionStorage.getItem("nebula.token") === null`, "signing out")
	signIn(opsToken)
	waitPage(t, tab, 10*time.Second, `document.body.dataset.state === "ready" && document.querySelectorAll("#plugins tbody tr[data-plugin]").length === 2 && document.getElementById("plugins-note").hidden`, "the plugins, as ops")

	// What the browser reported: the requests the host refused, the first
	// without a token, then the wrong token's, then viewer's of the
	// plugins. Nothing else.
	for _, m := range console.take() {
		if !strings.HasPrefix(m, "log network error: Failed to load resource: the server responded with a status of 401") &&
			!strings.HasPrefix(m, "log network error: Failed to load resource: the server responded with a status of 403") {
			t.Errorf("the page reported: %s", m)
		}
	}
	var got []string
	if err := json.Unmarshal([]byte(pageValue[string](t, tab, `JSON.stringify([...document.querySelectorAll("#resources tbody tr[data-resource]")].map(tr => tr.dataset.resource))`)), &got); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "memory.cache localfs.files" {
		t.Errorf("resources shown %q", got)
	}
}
