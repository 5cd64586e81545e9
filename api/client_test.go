package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

// newClient returns a client of the shared host, closed at the test's end.
func newClient(t *testing.T, address string, opts ...api.Option) *api.Client {
	t.Helper()
	c, err := api.NewClient(address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// invoke performs op on resource with args and returns its result.
func invoke(t *testing.T, c *api.Client, resource, op, args string) json.RawMessage {
	t.Helper()
	res, err := c.Invoke(t.Context(), resource, api.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
	if err != nil {
		t.Fatalf("%s %s: %v", resource, op, err)
	}
	return res.Result
}

func TestClientCallsEveryRoute(t *testing.T) {
	c := newClient(t, addr, api.WithTimeout(10*time.Second))
	ctx := t.Context()

	t.Run("live", func(t *testing.T) {
		if err := c.Live(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ready", func(t *testing.T) {
		r, err := c.Ready(ctx)
		if err != nil || !r.Ready || !strings.Contains(r.Report, "[+]memory.cache ok") || !strings.HasSuffix(r.Report, "ok\n") {
			t.Fatalf("%+v %v", r, err)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		m, err := c.Metrics(ctx)
		if err != nil || !bytes.Contains(m, []byte(`nebula_plugin_up{plugin="memory"} 1`)) {
			t.Fatalf("%v\n%.500s", err, m)
		}
	})
	t.Run("openapi", func(t *testing.T) {
		doc, err := c.OpenAPI(ctx)
		if err != nil || !bytes.Equal(doc, api.OpenAPIDocument()) {
			t.Fatalf("the host serves %d bytes (%v), the package holds %d", len(doc), err, len(api.OpenAPIDocument()))
		}
	})
	t.Run("resources", func(t *testing.T) {
		all, err := c.Resources(ctx)
		if err != nil || all.Total != 2 || len(all.Resources) != 2 || all.Next != "" || all.Resources[0].ID != "memory.cache" ||
			all.Resources[1].State != api.StateReady || len(all.Types["localfs"].Operations) == 0 {
			t.Fatalf("%+v %v", all, err)
		}
		first, err := c.ResourcePage(ctx, api.Page{Limit: 1})
		if err != nil || len(first.Resources) != 1 || first.Next != "memory.cache" || len(first.Types) != 1 {
			t.Fatalf("first page: %+v %v", first, err)
		}
		second, err := c.ResourcePage(ctx, api.Page{Limit: 1, After: first.Next})
		if err != nil || len(second.Resources) != 1 || second.Resources[0].ID != "localfs.files" || second.Next != "" {
			t.Fatalf("second page: %+v %v", second, err)
		}
	})
	t.Run("resource", func(t *testing.T) {
		r, err := c.Resource(ctx, "memory.cache")
		if err != nil || r.ID != "memory.cache" || r.Plugin != "memory" || r.Pool.Mode != api.PoolingShared || r.Pool.Settings.Replicas != 1 ||
			r.Pool.Stat.Total != 1 || r.Pool.Leases == nil || r.Health == "" {
			t.Fatalf("%+v %v", r, err)
		}
		var get *api.Operation
		for i, op := range r.Operations {
			if op.Name == "get" {
				get = &r.Operations[i]
			}
		}
		if get == nil || !get.Idempotent || len(get.Args) == 0 || get.Args[0].Name != "key" || !get.Args[0].Required {
			t.Fatalf("operation get: %+v", get)
		}
	})
	t.Run("plugins", func(t *testing.T) {
		ps, err := c.Plugins(ctx)
		if err != nil || len(ps) != 2 {
			t.Fatalf("%+v %v", ps, err)
		}
		for _, p := range ps {
			if p.PID <= 0 || p.State != api.PluginRunning || len(p.SHA256) != 64 || len(p.Types) != 1 {
				t.Errorf("plugin %+v", p)
			}
		}
	})
	t.Run("health", func(t *testing.T) {
		all, err := c.Health(ctx)
		if err != nil || all.Total != 2 || len(all.Resources) != 2 || all.Next != "" || all.Status == "" || len(all.Types) != 2 {
			t.Fatalf("%+v %v", all, err)
		}
		page, err := c.HealthPage(ctx, api.Page{Limit: 1})
		if err != nil || len(page.Resources) != 1 || page.Next != "memory.cache" || page.Total != 2 || len(page.Types) != 2 {
			t.Fatalf("first page: %+v %v", page, err)
		}
	})
	t.Run("invoke", func(t *testing.T) {
		res, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"a","value":"1"}`),
			Owner: &api.Owner{Tenant: "acme", Step: "s1"}})
		if err != nil || !json.Valid(res.Result) {
			t.Fatalf("set: %+v %v", res, err)
		}
		var got struct {
			Value string
			Found bool
		}
		if err := json.Unmarshal(invoke(t, c, "memory.cache", "get", `{"key":"a"}`), &got); err != nil || got.Value != "1" || !got.Found {
			t.Fatalf("get: %+v %v", got, err)
		}
	})
}

// Every page of a long listing is read, and joined into one.
func TestClientReadsEveryPage(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString("admin { address = %q }\n# %s\n")
	for i := range 1100 {
		fmt.Fprintf(&cfg, "resource \"memory\" \"c%04d\" {}\n", i)
	}
	c := newClient(t, startHost(t, cfg.String(), false))
	list, err := c.Resources(t.Context())
	if err != nil || len(list.Resources) != 1100 || list.Total != 1100 || list.Next != "" || list.Resources[1099].ID != "memory.c1099" || len(list.Types) != 1 {
		t.Fatalf("resources: %d, next %q, %v", len(list.Resources), list.Next, err)
	}
	health, err := c.Health(t.Context())
	if err != nil || len(health.Resources) != 1100 || health.Next != "" || health.Resources[1099].ID != "memory.c1099" {
		t.Fatalf("health: %d, next %q, %v", len(health.Resources), health.Next, err)
	}
}

// hostDialer is a transport that dials the shared host whatever the URL
// names, so that a request can carry a Host the endpoint does not know.
func hostDialer() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
}

func TestClientReturnsErrorsWithTheirKind(t *testing.T) {
	c := newClient(t, addr)
	ctx := t.Context()
	stream := func(resource, op, args string) error {
		s, err := c.Stream(ctx, resource, api.StreamRequest{Operation: op, Args: json.RawMessage(args)})
		if err == nil {
			_, err = io.Copy(io.Discard, s)
			s.Close()
		}
		return err
	}
	tests := []struct {
		name   string
		call   func() error
		kind   api.Kind
		status int
		code   string
		// resource and message, when set, are what the error names.
		resource, message string
	}{
		{"unknown resource", func() error { _, err := c.Resource(ctx, "memory.cahce"); return err },
			api.KindNotFound, 404, "", "memory.cahce", `did you mean "memory.cache"`},
		{"invoke of an unknown resource", func() error { _, err := c.Invoke(ctx, "memory.nope", api.InvokeRequest{Operation: "get"}); return err },
			api.KindNotFound, 404, "", "memory.nope", ""},
		{"unknown operation", func() error {
			_, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "gett"})
			return err
		},
			api.KindInvalidArgument, 400, "", "memory.cache", `did you mean "get"`},
		{"no operation", func() error { _, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{}); return err },
			api.KindInvalidArgument, 400, "", "memory.cache", "no operation"},
		{"bad arguments", func() error {
			_, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":5}`)})
			return err
		}, api.KindInvalidArgument, 400, "", "memory.cache", ""},
		{"an operation the driver does not implement", func() error {
			_, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "command", Args: json.RawMessage(`{"args":["PING"]}`)})
			return err
		}, api.KindUnimplemented, 501, "", "memory.cache", ""},
		{"a page too large", func() error { _, err := c.ResourcePage(ctx, api.Page{Limit: api.MaxPageSize + 1}); return err },
			api.KindInvalidArgument, 400, "", "", "limit"},
		{"a stream of an unknown resource", func() error { return stream("localfs.nope", "get", `{"key":"x"}`) },
			api.KindNotFound, 404, "", "localfs.nope", ""},
		{"a stream of a missing file", func() error { return stream("localfs.files", "get", `{"key":"missing.txt"}`) },
			api.KindNotFound, 404, "", "localfs.files", ""},
		{"a Host the endpoint does not know", func() error {
			c := newClient(t, "http://nebula.invalid:9464", api.WithHTTPClient(hostDialer()))
			_, err := c.Plugins(ctx)
			return err
		}, api.KindPermissionDenied, 421, api.CodeHostNotAllowed, "", "nebula.invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want an *api.Error", err, err)
			}
			if e.Kind != tc.kind || api.KindOf(err) != tc.kind || e.StatusCode != tc.status || e.Code != tc.code || e.Resource != tc.resource ||
				!strings.Contains(e.Message, tc.message) || e.Message == "" {
				t.Fatalf("got %+v, want kind %s, status %d, code %q, resource %q, a message with %q", e, tc.kind, tc.status, tc.code, tc.resource, tc.message)
			}
			want := e.Message + " (" + string(e.Kind) + ")"
			if e.Code != "" {
				want = e.Message + " (" + string(e.Kind) + ", code " + e.Code + ")"
			}
			if err.Error() != want {
				t.Fatalf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// A resource that did not start is unavailable, and the host not ready.
func TestClientOfAHostThatIsNotReady(t *testing.T) {
	a := startHost(t, `
admin { address = %q }
resource "memory" "cache" {}
resource "localfs" "broken" {
  root = "%s/missing"
}
`, true)
	c := newClient(t, a)
	r, err := c.Ready(t.Context())
	if err != nil || r.Ready || !strings.Contains(r.Report, "[-]localfs.broken failed") || !strings.HasSuffix(r.Report, "not ready\n") {
		t.Fatalf("%+v %v", r, err)
	}
	_, err = c.Invoke(t.Context(), "localfs.broken", api.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key":"x"}`)})
	if e := (*api.Error)(nil); !errors.As(err, &e) || e.Kind != api.KindUnavailable || e.StatusCode != 503 {
		t.Fatalf("invoke of a failed resource: %v", err)
	}
	h, err := c.Health(t.Context())
	if err != nil || h.Status != api.HealthUnhealthy {
		t.Fatalf("health %+v %v", h, err)
	}
}

// A failure to reach the endpoint is no *api.Error: it has no kind.
func TestClientTellsTransportFailuresFromAPIErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	c := newClient(t, closed)
	_, err = c.Plugins(t.Context())
	var ue *url.Error
	if err == nil || api.KindOf(err) != "" || !errors.As(err, &ue) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("a closed port: %T %v", err, err)
	}
	if _, err := c.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "get"}); err == nil || api.KindOf(err) != "" {
		t.Fatalf("a stream to a closed port: %v", err)
	}
}

// A server that is not a nebula host: its answers are not the API's.
func TestClientOfSomethingElse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/plugins":
			_, _ = io.WriteString(w, "<html>not JSON</html>")
		default:
			http.Error(w, "upstream down", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	_, err := c.Plugins(t.Context())
	if !errors.Is(err, api.ErrBadResponse) || api.KindOf(err) != "" {
		t.Fatalf("a 200 that is not JSON: %v", err)
	}
	_, err = c.Resource(t.Context(), "memory.cache")
	var e *api.Error
	if !errors.As(err, &e) || e.Kind != api.KindUnavailable || e.StatusCode != 502 || e.Message != "502 Bad Gateway" || err.Error() != "502 Bad Gateway" {
		t.Fatalf("a 502 without an error body: %+v", err)
	}
}

func TestNewClientRefusesWhatItCannotUse(t *testing.T) {
	for _, tc := range []struct {
		addr string
		opts []api.Option
	}{
		{"ftp://127.0.0.1:21", nil},
		{"http://user:hunter2@127.0.0.1:9464", nil},
		{"http://127.0.0.1:9464?x=1", nil},
		{"http://", nil},
		{"http://127.0.0.1:9464", []api.Option{api.WithTLSConfig(nil), api.WithTLSConfig(newTLS(t).client)}},
		{"127.0.0.1:9464", []api.Option{api.WithTLSConfig(newTLS(t).client), api.WithHTTPClient(http.DefaultClient)}},
		{"127.0.0.1:9464", []api.Option{api.WithTimeout(-time.Second)}},
		{"127.0.0.1:9464", []api.Option{api.WithBearerToken("hunter2\r\nX-Evil: 1")}},
	} {
		_, err := api.NewClient(tc.addr, tc.opts...)
		if !errors.Is(err, api.ErrInvalidConfig) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewClient(%q): %v", tc.addr, err)
		}
	}
	for _, a := range []string{"", "localhost:9464", "http://127.0.0.1:9464/", "https://proxy.example/admin/"} {
		if c, err := api.NewClient(a); err != nil {
			t.Errorf("NewClient(%q): %v", a, err)
		} else {
			c.Close()
			c.Close()
		}
	}
}

// A context ends a call: canceled before, or while it waits.
func TestClientCallsEndWithTheirContext(t *testing.T) {
	c := newClient(t, addr)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Plugins(ctx); !errors.Is(err, context.Canceled) || api.KindOf(err) != "" {
		t.Fatalf("a canceled context: %v", err)
	}

	// A peer that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- conn
		}
	}()
	defer func() {
		ln.Close()
		for conn := range accepted {
			conn.Close()
		}
	}()
	mute := newClient(t, ln.Addr().String(), api.WithTimeout(200*time.Millisecond))
	start := time.Now()
	if _, err := mute.Health(t.Context()); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("a peer that does not answer, WithTimeout: %v after %v", err, time.Since(start))
	}
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := newClient(t, ln.Addr().String()).Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "get"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a peer that does not answer, a context deadline: %v", err)
	}
}
