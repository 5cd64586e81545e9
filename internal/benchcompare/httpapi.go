package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	httpclient "github.com/nebula-resource/nebula-resource/plugins/http"
)

// The HTTP workloads need no server of their own: each run starts one in
// its process, on 127.0.0.1, that answers GET /item with itemBody. Its
// CPU is in every variant's host CPU alike.
const itemPath = "/item"

// itemBody is the JSON of a small item: 200 bytes.
var itemBody = func() []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "item-0042", "name": "a small item, as an API returns it", "price": 12.5, "currency": "EUR",
		"tags": []string{"bench", "http", "nebula"}, "stock": 17, "updated": "2026-12-04T12:00:00Z",
		"note": strings.Repeat("x", 38),
	})
	return b
}()

// startItemServer starts the run's server, which e closes, and returns
// its URL.
func startItemServer(e *runEnv) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != itemPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(itemBody)
	}))
	e.onClose(func() error { srv.Close(); return nil })
	return srv.URL
}

// httpDirectTransport is the transport the http driver gives its client
// at its defaults (plugins/http/transport, New, and the defaults of
// Config): no limit on connections per host, 16 idle ones kept for 90 s,
// 10 s to dial and for a TLS handshake, no response header timeout, the
// proxy from the environment (none for 127.0.0.1).
func httpDirectTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxConnsPerHost:       0,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: time.Second,
	}
}

// httpFetchWorkload is GET /item of the run's server: net/http with the
// driver's transport, reading the whole body and checking the status
// (direct), or the host's fetch of {"method": "GET", "path": "/item"},
// through Host.Invoke (a lease per call) or on a lease each worker holds
// for the whole phase (held). concurrency, when set, caps -c (1: the
// throughput at c=1).
func httpFetchWorkload(name string, held bool, concurrency int) *workload {
	return &workload{name: name, pluginType: "http", concurrency: concurrency, variants: standard,
		setup: func(ctx context.Context, e *runEnv, variant string) (*target, error) {
			return httpFetchSetup(ctx, e, variant, held)
		}}
}

func httpFetchSetup(ctx context.Context, e *runEnv, variant string, held bool) (*target, error) {
	base := startItemServer(e)
	if variant == direct {
		tr := httpDirectTransport()
		e.onClose(func() error { tr.CloseIdleConnections(); return nil })
		client := &http.Client{Transport: tr}
		get := func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+itemPath, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || len(b) != len(itemBody) {
				return fmt.Errorf("GET %s: %s, %d bytes", itemPath, resp.Status, len(b))
			}
			return nil
		}
		// Checked once and at every call: status 200 and the whole body.
		if err := get(ctx); err != nil {
			return nil, err
		}
		return callEach(get), nil
	}
	src := fmt.Sprintf("resource \"http\" \"api\" {\n  base_url = %q\n}\n", base)
	h, err := e.startHost(ctx, variant, src, "http", httpclient.New())
	if err != nil {
		return nil, err
	}
	const name = "http.api"
	args := json.RawMessage(`{"method":"GET","path":"` + itemPath + `"}`)
	// ok checks a result as cheaply as direct checks its response: status
	// 200 (a status of 400 or more already failed the call).
	ok := func(res []byte) error {
		if !bytes.Contains(res, []byte(`"status":200`)) {
			return fmt.Errorf("fetch returned %s", res)
		}
		return nil
	}
	// Checked once: the body is the server's.
	res, err := h.Invoke(ctx, name, "fetch", args)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Status != http.StatusOK || r.Body != string(itemBody) {
		return nil, fmt.Errorf("fetch of %s returned %s", itemPath, res)
	}
	if !held {
		return callEach(func(ctx context.Context) error {
			res, err := h.Invoke(ctx, name, "fetch", args)
			if err != nil {
				return err
			}
			return ok(res)
		}), nil
	}
	return &target{worker: func(ctx context.Context) (func(context.Context) error, func(), error) {
		l, err := h.Acquire(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context) error {
			res, err := l.Invoke(ctx, "fetch", args)
			if err != nil {
				return err
			}
			return ok(res)
		}, l.Release, nil
	}}, nil
}
