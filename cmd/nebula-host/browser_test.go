package main_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "modernc.org/sqlite"
)

// defaultChromium is where Debian's chromium package puts the browser;
// NEBULA_TEST_CHROMIUM (scripts/testenv env) names another.
const defaultChromium = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile, in which
// evil.example resolves to 127.0.0.1, and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("NEBULA_TEST_CHROMIUM")
	if path == "" {
		path = defaultChromium
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("no Chromium at %s (NEBULA_TEST_CHROMIUM, default %s): %v\nRun `scripts/testenv up` (or `make test`), which installs Debian's chromium.", path, defaultChromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
	})
	return ctx
}

// serve runs handler on ln until the test ends (or stop is called).
func serve(t *testing.T, ln net.Listener, handler http.Handler) (stop func()) {
	t.Helper()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitJS waits, 10 s at most, until expr is true in the tab.
func waitJS(ctx context.Context, expr string) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second)))
	return err
}

func page(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>loading</title></head><body>%s</body></html>", body)
	}
}

// TestBrowserPagesCannotDriveTheAdminAPI runs a real host with the sqlite
// and localfs plugins and lets pages of other origins in a real Chromium
// try what a hostile page can: a no-cors fetch with a JSON body as
// text/plain, form posts (text/plain and urlencoded) against invoke and
// stream, and DNS rebinding (a page of http://evil.example:PORT, where the
// name now resolves to this machine, calling the admin port as its own
// origin). Nothing may reach a driver: no table appears in the database, no
// file under the localfs root, and the host logs each refusal.
func TestBrowserPagesCannotDriveTheAdminAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	filesDir := filepath.Join(dir, "files")

	// The rebinding page is served first from the port the admin API will
	// take: its origin stays http://evil.example:PORT while the server
	// behind the name changes, as when DNS rebinds.
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := adminLn.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	stopRebind := serve(t, adminLn, page(`<script>
window.attack = async () => {
  const out = {};
  const call = async (name, path, init) => {
    try { const r = await fetch(path, init); out[name] = r.status; out[name + "_body"] = await r.text(); }
    catch (e) { out[name] = "error " + e; }
  };
  await call("invoke", "/v1/resources/sqlite.db/invoke", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({operation: "exec", args: {sql: "CREATE TABLE pwned_rebind(y)"}})});
  await call("stream", "/v1/resources/localfs.files/stream/put", {method: "POST",
    headers: {"Content-Type": "application/octet-stream", "Nebula-Args": JSON.stringify({key: "pwned_rebind.txt"})}, body: "x"});
  await call("resources", "/v1/resources", {});
  await call("metrics", "/metrics", {});
  return JSON.stringify(out);
};
document.title = "ready";
</script>`))

	browser := newBrowser(t)
	if err := chromedp.Do(browser, chromedp.Navigate("http://evil.example:"+port+"/")); err != nil {
		t.Fatalf("loading the rebinding page: %v", err)
	}
	if title, err := chromedp.Run(browser, chromedp.Title()); err != nil || title != "ready" {
		t.Fatalf("loading the rebinding page: title %q %v", title, err)
	}
	stopRebind()

	path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
admin { address = %q }
resource "sqlite" "db" { path = %q }
resource "localfs" "files" {
  root        = %q
  create_root = true
}
`, addr, dbPath, filesDir))
	h := startHost(t, path, addr)

	// The attacker's other pages, on another port of this machine.
	attackLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	attacker := "http://" + attackLn.Addr().String()
	invokeURL := "http://" + addr + "/v1/resources/sqlite.db/invoke"
	streamURL := "http://" + addr + "/v1/resources/localfs.files/stream/put"
	mux := http.NewServeMux()
	mux.Handle("/fetch", page(fmt.Sprintf(`<script>
const sql = name => JSON.stringify({operation: "exec", args: {sql: "CREATE TABLE " + name + "(y)"}});
Promise.allSettled([
  fetch(%[1]q, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: sql("pwned_fetch")}),
  fetch(%[1]q, {method: "POST", mode: "no-cors", body: sql("pwned_fetch_bare")}),
  fetch(%[2]q, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "x"}),
]).then(() => { document.title = "sent"; });
</script>`, invokeURL, streamURL)))
	// A text/plain form sends name=value: with the name ending in a JSON
	// string and the value closing it, the body is a valid invoke request.
	mux.Handle("/form-text", page(fmt.Sprintf(`<form method="POST" enctype="text/plain" action=%q>
<input name='{"operation":"exec","args":{"sql":"CREATE TABLE pwned_form_text(y)"},"owner":{"tenant":"' value='"}}'></form>
<script>document.forms[0].submit()</script>`, invokeURL)))
	mux.Handle("/form-urlencoded", page(fmt.Sprintf(`<form method="POST" action=%q>
<input name="operation" value="exec"><input name="args" value='{"sql":"CREATE TABLE pwned_form_url(y)"}'></form>
<script>document.forms[0].submit()</script>`, invokeURL)))
	mux.Handle("/form-stream", page(fmt.Sprintf(`<form method="POST" enctype="text/plain" action=%q>
<input name="data" value="pwned"></form>
<script>document.forms[0].submit()</script>`, streamURL)))
	mux.Handle("/form-stream-urlencoded", page(fmt.Sprintf(`<form method="POST" action=%q>
<input name="data" value="pwned"></form>
<script>document.forms[0].submit()</script>`, streamURL)))
	serve(t, attackLn, mux)

	// DNS rebinding: same origin, so the page could send JSON and read the
	// answers, but its Host is evil.example.
	res, err := chromedp.Run(browser, chromedp.Evaluate[string](`window.attack()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("rebinding page: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(res), &got); err != nil {
		t.Fatalf("rebinding page answered %q: %v", res, err)
	}
	for _, name := range []string{"invoke", "stream", "resources", "metrics"} {
		if got[name] != float64(http.StatusMisdirectedRequest) || !strings.Contains(fmt.Sprint(got[name+"_body"]), "host_not_allowed") {
			t.Errorf("rebinding page, %s: %v %v; want 421 host_not_allowed", name, got[name], got[name+"_body"])
		}
	}

	// A no-cors fetch can send but not read; success is only that it sent.
	if err := chromedp.Do(browser, chromedp.Navigate(attacker+"/fetch")); err != nil {
		t.Fatalf("fetch page: %v", err)
	}
	if err := waitJS(browser, `document.title === "sent"`); err != nil {
		t.Fatalf("fetch page: %v", err)
	}
	// A form post navigates to the API's answer, which the test reads.
	for _, form := range []string{"/form-text", "/form-urlencoded", "/form-stream", "/form-stream-urlencoded"} {
		if err := chromedp.Do(browser, chromedp.Navigate(attacker+form)); err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if err := waitJS(browser, fmt.Sprintf("location.href.startsWith(%q) && document.readyState === 'complete'", "http://"+addr+"/")); err != nil {
			t.Fatalf("%s: the form did not post: %v", form, err)
		}
		body, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if !strings.Contains(body, "cross_origin") {
			t.Errorf("%s: the API answered %q, want a cross_origin refusal", form, body)
		}
	}

	// Nothing reached a driver.
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		_ = rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) != 0 {
		t.Errorf("tables created by web pages: %v", tables)
	}
	if entries, _ := os.ReadDir(filesDir); len(entries) != 0 {
		t.Errorf("files written by web pages: %v", entries)
	}
	// The host logged every refusal: 4 of the rebinding page, 3 fetches,
	// 4 forms.
	deadline := time.Now().Add(5 * time.Second)
	for {
		log := h.output(t)
		refused := strings.Count(log, "request refused")
		if refused >= 11 && strings.Contains(log, "code=host_not_allowed") && strings.Contains(log, "code=cross_origin") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refusals logged, want 11:\n%s", refused, log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The same request from a caller of the API's own (the Go client,
	// Host 127.0.0.1) still works: the pages were stopped by the gate.
	code, body := invokeJSON(t, addr, "sqlite.db", invoke{"exec", map[string]any{"sql": "CREATE TABLE allowed(y)"}})
	if code != http.StatusOK {
		t.Fatalf("exec from the API's own client: %d %s", code, body)
	}
}
