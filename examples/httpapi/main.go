// Command httpapi calls an HTTP API through a host embedded in the
// program: it starts a small inventory API of its own on a loopback port
// (bearer token required, one endpoint that answers 503 once), then, on
// the http resource of httpapi.hcl, creates an item with a POST that
// carries an idempotency key, lists the items, reads a CSV report
// streamed through Lease.OpenReader, calls the flaky endpoint that the
// host retries after its Retry-After, and asks for an item that does not
// exist (kind not_found).
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
// /v1/report.csv, /v1/flaky (503 with Retry-After: 1 the first time) and
// /v1/healthz.
type inventory struct {
	mu    sync.Mutex // guards items, keys and flaky
	items map[string]Item
	keys  map[string]bool // idempotency keys seen
	flaky int
}

func (inv *inventory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/healthz" && r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	switch p := r.URL.Path; {
	case p == "/v1/healthz":
		_, _ = io.WriteString(w, "ok")
	case p == "/v1/items" && r.Method == http.MethodPost:
		var it Item
		if err := json.NewDecoder(r.Body).Decode(&it); err != nil || it.SKU == "" {
			http.Error(w, `{"error":"want an item with a sku"}`, http.StatusUnprocessableEntity)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key != "" && inv.keys[key] {
			w.WriteHeader(http.StatusOK) // a repetition: already created
		} else {
			inv.keys[key] = true
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
		inv.flaky++
		if inv.flaky == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"warming up"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintf(w, `{"attempts":%d}`, inv.flaky)
	default:
		http.NotFound(w, r)
	}
}

// serve starts the API on a free loopback port and returns its base URL
// and a function that stops it.
func serve() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: &inventory{items: map[string]Item{}, keys: map[string]bool{}}, ReadHeaderTimeout: 5 * time.Second}
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
	base, stopAPI, err := serve()
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

	// The first answer is 503 with Retry-After: 1; the host's retry
	// policy waits that second and tries again.
	start := time.Now()
	r, err = fetch(map[string]any{"path": "/flaky"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GET /flaky: %d %s after a retry of at least 1s: %t\n", r.Status, r.Body, time.Since(start) >= time.Second)

	// A 404 is the caller's kind, not_found: not retried, not counted
	// against the API's health.
	_, err = fetch(map[string]any{"path": "/items/Z-9"})
	fmt.Fprintf(out, "GET /items/Z-9: %s\n", sdk.KindOf(err))
	return nil
}
