// Command httpapi calls an HTTP API through a host embedded in the
// program: it starts a small inventory API of its own on a loopback port
// (bearer token required; some endpoints answer 503 at first), then, on
// the http resource of httpapi.hcl, creates items with POSTs that carry an
// idempotency key, lists the items, reads a CSV report streamed through
// Lease.OpenReader, and shows the host's retry policy at work: a GET that
// answers 503 twice is retried until it succeeds, a POST that answers 503
// is tried once without an idempotency key and retried with one, and a
// 404 (kind not_found) is never retried. The API counts the requests it
// gets, so the program shows how many each call took.
//
// Run it from the repository root, after make build:
//
//	go run ./examples/httpapi
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/httpapi/httpapi.hcl", "configuration with one http resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "httpapi: %v\n", err)
		}
		os.Exit(1)
	}
}

// token is the bearer token the API takes; httpapi.hcl sends the same
// (HTTPAPI_TOKEN, default demo-token).
const token = "demo-token"

// Item is an item of the inventory.
type Item struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

// inventory is the API: /v1/items (GET, POST), /v1/items/{sku},
// /v1/report.csv, /v1/flaky, /v1/carts/{id}/checkout (POST) and
// /v1/healthz. /v1/flaky answers 503 to its first request and 503 with
// Retry-After: 1 to its second; a checkout answers 503 to the first
// request for each cart. It counts every request but the health checks.
type inventory struct {
	mu       sync.Mutex // guards the fields below
	items    map[string]Item
	keys     map[string]bool // idempotency keys seen
	requests map[string]int  // requests, by method and path
	orders   int             // orders placed by checkouts
}

func newInventory() *inventory {
	return &inventory{items: map[string]Item{}, keys: map[string]bool{}, requests: map[string]int{}}
}

// count returns how many requests of method and path (under /v1) the API
// has had.
func (inv *inventory) count(method, path string) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.requests[method+" /v1"+path]
}

// placed returns how many orders the checkouts placed.
func (inv *inventory) placed() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.orders
}

// repeated says whether a request with key was already served, and
// records it as served; a request without a key is never a repetition.
func (inv *inventory) repeated(key string) bool {
	if key == "" {
		return false
	}
	seen := inv.keys[key]
	inv.keys[key] = true
	return seen
}

func (inv *inventory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/healthz" && r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	p := r.URL.Path
	if p != "/v1/healthz" {
		inv.requests[r.Method+" "+p]++
	}
	n := inv.requests[r.Method+" "+p]
	switch {
	case p == "/v1/healthz":
		_, _ = io.WriteString(w, "ok")
	case p == "/v1/items" && r.Method == http.MethodPost:
		var it Item
		if err := json.NewDecoder(r.Body).Decode(&it); err != nil || it.SKU == "" {
			http.Error(w, `{"error":"want an item with a sku"}`, http.StatusUnprocessableEntity)
			return
		}
		if inv.repeated(r.Header.Get("Idempotency-Key")) {
			w.WriteHeader(http.StatusOK) // already created
		} else {
			inv.items[it.SKU] = it
			w.WriteHeader(http.StatusCreated)
		}
		_ = json.NewEncoder(w).Encode(inv.items[it.SKU])
	case p == "/v1/items":
		list := make([]Item, 0, len(inv.items))
		for _, it := range inv.items {
			list = append(list, it)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].SKU < list[j].SKU })
		_ = json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(p, "/v1/items/"):
		it, ok := inv.items[strings.TrimPrefix(p, "/v1/items/")]
		if !ok {
			http.Error(w, `{"error":"no such item"}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(it)
	case p == "/v1/report.csv":
		w.Header().Set("Content-Type", "text/csv")
		_, _ = io.WriteString(w, "day,sku,sold\n")
		for d := 1; d <= 1000; d++ {
			_, _ = fmt.Fprintf(w, "%d,A-%d,%d\n", d, d%7, d%13)
		}
	case p == "/v1/flaky":
		switch n {
		case 1:
			http.Error(w, `{"error":"warming up"}`, http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"still warming up"}`, http.StatusServiceUnavailable)
		default:
			_, _ = fmt.Fprintf(w, `{"requests":%d}`, n)
		}
	case strings.HasPrefix(p, "/v1/carts/") && strings.HasSuffix(p, "/checkout") && r.Method == http.MethodPost:
		if n == 1 {
			http.Error(w, `{"error":"the order service is busy"}`, http.StatusServiceUnavailable)
			return
		}
		if inv.repeated(r.Header.Get("Idempotency-Key")) {
			w.WriteHeader(http.StatusOK) // already placed
		} else {
			inv.orders++
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = fmt.Fprintf(w, `{"orders":%d}`, inv.orders)
	default:
		http.NotFound(w, r)
	}
}

// serve starts inv on a free loopback port and returns its base URL and a
// function that stops it.
func serve(inv *inventory) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: inv, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String() + "/v1", func() {
		_ = srv.Close()
		<-done
	}, nil
}

// response is the result of fetch.
type response struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func run(ctx context.Context, configPath, pluginDir string, out io.Writer) error {
	inv := newInventory()
	base, stopAPI, err := serve(inv)
	if err != nil {
		return err
	}
	defer stopAPI()
	if err := os.Setenv("HTTPAPI_URL", base); err != nil {
		return err
	}
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "http" {
		return fmt.Errorf("%s must declare one http resource", configPath)
	}
	resource := "http." + cfg.Resources[0].Name

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
			fmt.Fprintln(os.Stderr, "httpapi: close:", err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	fetch := func(args map[string]any) (response, error) {
		var r response
		raw, err := h.Invoke(ctx, resource, "fetch", args, host.ForWorkflow("httpapi-example"))
		if err != nil {
			return r, err
		}
		return r, json.Unmarshal(raw, &r)
	}

	// A POST is retried only with an idempotency key, which the API uses
	// to create the item once however often the request arrives.
	for _, it := range []Item{{"A-1", "anchor", 12}, {"B-7", "bolt", 400}} {
		body, _ := json.Marshal(it)
		r, err := fetch(map[string]any{"method": "POST", "path": "/items", "body": string(body),
			"headers": map[string]string{"Content-Type": "application/json"}, "idempotency_key": "create-" + it.SKU})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "POST /items %s: %d\n", it.SKU, r.Status)
	}
	r, err := fetch(map[string]any{"path": "/items"})
	if err != nil {
		return err
	}
	var items []Item
	if err := json.Unmarshal([]byte(r.Body), &items); err != nil {
		return err
	}
	for _, it := range items {
		fmt.Fprintf(out, "  %-4s %-7s %4d\n", it.SKU, it.Name, it.Qty)
	}

	// A body of any size streams: the report is read line by line as it
	// arrives.
	err = host.Use(ctx, h, resource, func(l *host.Lease) error {
		rd, err := l.OpenReader(ctx, "request", map[string]any{"path": "/report.csv"})
		if err != nil {
			return err
		}
		defer rd.Close()
		lines, sold := 0, 0
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			lines++
			var d, s int
			var sku string
			if n, _ := fmt.Sscanf(strings.ReplaceAll(sc.Text(), ",", " "), "%d %s %d", &d, &sku, &s); n == 3 {
				sold += s
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		var res struct {
			Status int `json:"status"`
		}
		_ = json.Unmarshal(rd.Result(), &res)
		fmt.Fprintf(out, "GET /report.csv: %d, %d lines, %d sold\n", res.Status, lines, sold)
		return nil
	})
	if err != nil {
		return err
	}

	// Retries. max_attempts = 3 in httpapi.hcl: a call is tried at most
	// three times. A GET is idempotent, so the host retries it: the first
	// answer, 503, after the backoff; the second, 503 with Retry-After: 1,
	// after that second.
	start := time.Now()
	r, err = fetch(map[string]any{"path": "/flaky"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GET /flaky: %d after %d requests (503, 503 with Retry-After: 1, %d); waited at least 1s: %t\n",
		r.Status, inv.count("GET", "/flaky"), r.Status, time.Since(start) >= time.Second)

	// A POST is not idempotent: without an idempotency key the host
	// tries it once, since the server may have acted on a request that
	// failed. The caller learns that it failed, and decides.
	_, err = fetch(map[string]any{"method": "POST", "path": "/carts/c-1/checkout"})
	fmt.Fprintf(out, "POST /carts/c-1/checkout without idempotency_key: %s after %d request (not retried); orders placed: %d\n",
		sdk.KindOf(err), inv.count("POST", "/carts/c-1/checkout"), inv.placed())

	// With an idempotency key the host retries it, and the API, which
	// deduplicates by the key, places the order once.
	r, err = fetch(map[string]any{"method": "POST", "path": "/carts/c-2/checkout", "idempotency_key": "checkout-c-2"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "POST /carts/c-2/checkout with idempotency_key: %d after %d requests (retried); orders placed: %d\n",
		r.Status, inv.count("POST", "/carts/c-2/checkout"), inv.placed())

	// A 404 is the caller's kind, not_found: not retried, not counted
	// against the API's health.
	_, err = fetch(map[string]any{"path": "/items/Z-9"})
	fmt.Fprintf(out, "GET /items/Z-9: %s after %d request (not retried)\n", sdk.KindOf(err), inv.count("GET", "/items/Z-9"))
	return nil
}
