package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// spy wraps a driver and counts the calls that reach its instances.
type spy struct {
	sdk.Driver
	calls *atomic.Int64
}

func (d spy) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	res, err := d.Driver.Configure(ctx, req)
	if err != nil {
		return nil, err
	}
	typ, _ := d.Info().Type(req.Type)
	return spyResource{res, typ, d.calls}, nil
}

type spyResource struct {
	sdk.Resource
	typ   sdk.ResourceType
	calls *atomic.Int64
}

func (r spyResource) Open(ctx context.Context) (sdk.Instance, error) {
	inst, err := r.Resource.Open(ctx)
	if err != nil {
		return nil, err
	}
	return spyInstance{inst, r.typ, r.calls}, nil
}

// spyInstance counts the calls of the instance it wraps, which it
// performs through the instance's type.
type spyInstance struct {
	sdk.Instance
	typ   sdk.ResourceType
	calls *atomic.Int64
}

func (i spyInstance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	i.calls.Add(1)
	return i.typ.Invoke(ctx, i.Instance, req)
}

func (i spyInstance) InvokeStream(ctx context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	i.calls.Add(1)
	return i.typ.InvokeStream(ctx, i.Instance, req, in, out)
}

// logBuffer collects a logger's output for a test to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gated is a running host with spied memory and localfs drivers behind an
// admin server.
type gated struct {
	srv   *httptest.Server
	adm   *admin.Server
	calls *atomic.Int64
	log   *logBuffer
	dir   string
}

func newGated(t testing.TB, acfg admin.Config) *gated {
	t.Helper()
	g := &gated{calls: new(atomic.Int64), log: new(logBuffer), dir: t.TempDir()}
	src := `
resource "memory" "cache" {}
resource "localfs" "files" {
  root        = "` + filepath.Join(g.dir, "files") + `"
  create_root = true
}`
	if err := os.WriteFile(filepath.Join(g.dir, "main.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(g.dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h, err := host.New(cfg, host.WithDriver("memory", spy{memory.New(), g.calls}), host.WithDriver("localfs", spy{localfs.New(), g.calls}),
		host.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	acfg.Logger = slog.New(slog.NewTextHandler(g.log, nil))
	if acfg.Reload == nil {
		acfg.Reload = func(context.Context) (api.ReloadResult, error) { return api.ReloadResult{Unchanged: 2}, nil }
	}
	g.adm = admin.New(h, acfg)
	g.srv = httptest.NewServer(g.adm.Handler())
	t.Cleanup(func() {
		g.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return g
}

// goodRequests holds, for every route, a request it serves: the table
// TestGateGuardsEveryRoute checks covers every registered pattern.
func goodRequests(base string) map[string]func() *http.Request {
	get := func(path string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, base+path, nil)
			return r
		}
	}
	return map[string]func() *http.Request{
		"GET /livez":               get("/livez"),
		"GET /readyz":              get("/readyz?verbose"),
		"GET /v1/health":           get("/v1/health"),
		"GET /v1/resources":        get("/v1/resources"),
		"GET /v1/resources/{name}": get("/v1/resources/memory.cache"),
		"GET /v1/plugins":          get("/v1/plugins"),
		"GET /metrics":             get("/metrics"),
		"GET /v1/openapi.json":     get("/v1/openapi.json"),
		"POST /v1/resources/{name}/invoke": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, base+"/v1/resources/memory.cache/invoke",
				strings.NewReader(`{"operation":"set","args":{"key":"k","value":"v"}}`))
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
			return r
		},
		"POST /v1/resources/{name}/stream/{op}": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, base+"/v1/resources/localfs.files/stream/put", strings.NewReader("hello"))
			r.Header.Set("Content-Type", api.ContentTypeStream)
			r.Header.Set(api.ArgsHeader, `{"key":"x.txt"}`)
			return r
		},
		"POST /v1/reload": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, base+"/v1/reload", strings.NewReader("{}"))
			r.Header.Set("Content-Type", api.ContentTypeJSON)
			return r
		},
	}
}

// reachesDriver reports whether a route's request reaches a driver: those
// of operations do.
func reachesDriver(pattern string) bool { return strings.HasPrefix(pattern, "POST /v1/resources/") }

func do(t *testing.T, r *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGateGuardsEveryRoute(t *testing.T) {
	g := newGated(t, admin.Config{})
	reqs := goodRequests(g.srv.URL)
	routes := g.adm.Routes()
	if len(routes) != len(reqs) {
		t.Errorf("%d routes registered, %d in the table", len(routes), len(reqs))
	}
	type tweak struct {
		name   string
		modify func(r *http.Request)
		// status is what the gate answers; 0 means the route serves it.
		status int
		code   string
		// bodyOnly applies the case only to routes that take a body.
		bodyOnly bool
	}
	setCT := func(ct string) func(r *http.Request) {
		return func(r *http.Request) {
			if ct == "" {
				r.Header.Del("Content-Type")
			} else {
				r.Header.Set("Content-Type", ct)
			}
		}
	}
	setHost := func(h string) func(r *http.Request) { return func(r *http.Request) { r.Host = h } }
	setHeader := func(k, v string) func(r *http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	tweaks := []tweak{
		{"as is", func(*http.Request) {}, 0, "", false},
		{"host localhost in capitals with a port", setHost("LOCALHOST:1"), 0, "", false},
		{"host localhost without a port", setHost("localhost"), 0, "", false},
		{"host 127.0.0.1 without a port", setHost("127.0.0.1"), 0, "", false},
		{"host [::1] with a port", setHost("[::1]:9464"), 0, "", false},
		{"host [::1] without a port", setHost("[::1]"), 0, "", false},
		{"same origin", func(r *http.Request) { r.Header.Set("Origin", "http://"+r.Host) }, 0, "", false},
		{"sec-fetch-site same-origin", setHeader("Sec-Fetch-Site", "same-origin"), 0, "", false},
		{"sec-fetch-site none", setHeader("Sec-Fetch-Site", "none"), 0, "", false},

		{"foreign host", setHost("evil.example"), 421, api.CodeHostNotAllowed, false},
		{"foreign host with the port", setHost("evil.example:" + strings.Split(g.srv.URL, ":")[2]), 421, api.CodeHostNotAllowed, false},
		{"foreign host ending in localhost", setHost("evil.localhost.example"), 421, api.CodeHostNotAllowed, false},
		{"sub-domain of localhost", setHost("evil.localhost"), 421, api.CodeHostNotAllowed, false},
		{"foreign origin", setHeader("Origin", "http://evil.example"), 403, api.CodeCrossOrigin, false},
		{"null origin", setHeader("Origin", "null"), 403, api.CodeCrossOrigin, false},
		{"same host over https", func(r *http.Request) { r.Header.Set("Origin", "https://"+r.Host) }, 403, api.CodeCrossOrigin, false},
		{"loopback origin on another port", setHeader("Origin", "http://127.0.0.1:1"), 403, api.CodeCrossOrigin, false},
		{"sec-fetch-site cross-site", setHeader("Sec-Fetch-Site", "cross-site"), 403, api.CodeCrossOrigin, false},
		{"sec-fetch-site same-site", setHeader("Sec-Fetch-Site", "same-site"), 403, api.CodeCrossOrigin, false},
		{"foreign host and origin (DNS rebinding)", func(r *http.Request) {
			r.Host = "evil.example:9464"
			r.Header.Set("Origin", "http://evil.example:9464")
		}, 421, api.CodeHostNotAllowed, false},

		{"text/plain", setCT("text/plain"), 415, api.CodeUnsupportedMediaType, true},
		{"text/plain with a charset", setCT("text/plain;charset=UTF-8"), 415, api.CodeUnsupportedMediaType, true},
		{"form urlencoded", setCT("application/x-www-form-urlencoded"), 415, api.CodeUnsupportedMediaType, true},
		{"multipart form", setCT("multipart/form-data; boundary=x"), 415, api.CodeUnsupportedMediaType, true},
		{"no content type", setCT(""), 415, api.CodeUnsupportedMediaType, true},
		{"malformed content type", setCT("application/json; ;;"), 415, api.CodeUnsupportedMediaType, true},
		{"the other route's content type", func(r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/invoke") || strings.HasSuffix(r.URL.Path, "/reload") {
				r.Header.Set("Content-Type", api.ContentTypeStream)
			} else {
				r.Header.Set("Content-Type", api.ContentTypeJSON)
			}
		}, 415, api.CodeUnsupportedMediaType, true},
	}
	for _, rt := range routes {
		build, ok := reqs[rt.Pattern]
		if !ok {
			t.Errorf("route %s has no request in the table", rt.Pattern)
			continue
		}
		for _, tw := range tweaks {
			if tw.bodyOnly && rt.ContentTypes == nil {
				continue
			}
			t.Run(rt.Pattern+"/"+tw.name, func(t *testing.T) {
				r := build()
				tw.modify(r)
				before := g.calls.Load()
				code, body := do(t, r)
				reached := g.calls.Load() != before
				if tw.status == 0 {
					if code != http.StatusOK {
						t.Fatalf("refused: %d %s", code, body)
					}
					if wantCall := reachesDriver(rt.Pattern); reached != wantCall {
						t.Fatalf("driver reached: %v, want %v", reached, wantCall)
					}
					return
				}
				var eb api.ErrorBody
				if code != tw.status || json.Unmarshal([]byte(body), &eb) != nil || eb.Error.Code != tw.code || eb.Error.Message == "" {
					t.Fatalf("got %d %s, want %d with code %s", code, body, tw.status, tw.code)
				}
				if reached {
					t.Fatal("a refused request reached the driver")
				}
			})
		}
	}
	if !strings.Contains(g.log.String(), "request refused") {
		t.Error("no refusal logged")
	}
}

func TestGateLetsConfiguredHostsAndOriginsIn(t *testing.T) {
	g := newGated(t, admin.Config{AllowedHosts: []string{"Nebula.Internal", "10.9.9.9:9464"}, AllowedOrigins: []string{"https://console.example.com/"}})
	tests := []struct {
		name, host, origin string
		status             int
	}{
		{"allowed name", "nebula.internal", "", 200},
		{"allowed name with any port", "NEBULA.internal:1234", "", 200},
		{"allowed name:port", "10.9.9.9:9464", "", 200},
		{"allowed name on another port", "10.9.9.9:1", "", 421},
		{"allowed origin", "127.0.0.1", "https://console.example.com", 200},
		{"allowed origin in capitals", "127.0.0.1", "HTTPS://CONSOLE.example.com", 200},
		{"other origin", "127.0.0.1", "https://evil.example.com", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := goodRequests(g.srv.URL)["POST /v1/resources/{name}/invoke"]()
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			// The page of an allowed origin may read the answer.
			if acao := resp.Header.Get("Access-Control-Allow-Origin"); tc.status == 200 && tc.origin != "" && acao != tc.origin {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", acao, tc.origin)
			}
		})
	}

	// The preflight of an allowed origin's JSON POST is answered; another
	// origin's is refused.
	for origin, want := range map[string]int{"https://console.example.com": http.StatusNoContent, "https://evil.example.com": http.StatusForbidden} {
		r, _ := http.NewRequest(http.MethodOptions, g.srv.URL+"/v1/resources/memory.cache/invoke", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusNoContent && (resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type"))) {
			t.Errorf("preflight from %s: %d %v, want %d", origin, resp.StatusCode, resp.Header, want)
		}
	}
}

func TestInvokeRefusesTrailingData(t *testing.T) {
	srv, _ := newServer(t)
	url := srv.URL + "/v1/resources/memory.cache/invoke"
	for name, body := range map[string]string{
		"a second object": `{"operation":"get","args":{"key":"a"}} {"operation":"set"}`,
		"garbage":         `{"operation":"get","args":{"key":"a"}}garbage`,
		"a bracket":       `{"operation":"get","args":{"key":"a"}}]`,
		"a number":        "{\"operation\":\"get\",\"args\":{\"key\":\"a\"}}\n1",
	} {
		t.Run(name, func(t *testing.T) {
			code, got := post(t, url, body)
			if code != 400 || !strings.Contains(got, `"kind": "invalid_argument"`) || !strings.Contains(got, "data after its JSON object") {
				t.Fatalf("got %d %s", code, got)
			}
		})
	}
	if code, got := post(t, url, "  {\"operation\":\"get\",\"args\":{\"key\":\"a\"}} \r\n\t "); code != 200 {
		t.Fatalf("white space after the object: %d %s", code, got)
	}
}

func TestErrorsStaySmallWhateverTheRequest(t *testing.T) {
	g := newGated(t, admin.Config{})
	big := strings.Repeat("<\x01\"é", 1<<18) // 1.25 MiB; each byte escapes to several
	num := strings.Repeat("9", 1<<20)
	inv := g.srv.URL + "/v1/resources/memory.cache/invoke"
	tests := []struct{ name, url, body string }{
		{"unknown field", inv, `{"operation":"get","` + big + `":1}`},
		{"unknown operation", inv, `{"operation":"` + jsonEscape(big) + `"}`},
		{"unknown argument", inv, `{"operation":"get","args":{"` + jsonEscape(big) + `":1}}`},
		{"bad duration", inv, `{"operation":"set","args":{"key":"a","value":"b","ttl":"` + jsonEscape(big) + `"}}`},
		{"bad whole number", inv, `{"operation":"incr","args":{"key":"a","by":` + num + `.5}}`},
		{"bad map value", inv, `{"operation":"mset","args":{"values":{"` + jsonEscape(big) + `":1}}}`},
		{"bad JSON", inv, `{"operation":"get","args":` + big},
		{"wrong type", inv, `{"operation":["` + jsonEscape(big) + `"]}`},
		{"unknown resource", g.srv.URL + "/v1/resources/" + strings.Repeat("x", 500<<10) + "/invoke", `{"operation":"get"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			code, body := do(t, r)
			var eb api.ErrorBody
			if code < 400 || json.Unmarshal([]byte(body), &eb) != nil || eb.Error.Message == "" {
				t.Fatalf("got %d %.500s", code, body)
			}
			if len(body) > 8<<10 {
				t.Fatalf("a %d-byte request got a %d-byte error: %.300s", len(tc.body), len(body), body)
			}
			if len(eb.Error.Message) > admin.MaxErrorMessage {
				t.Fatalf("message of %d bytes", len(eb.Error.Message))
			}
		})
	}
	t.Run("stream arguments", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/v1/resources/localfs.files/stream/get", nil)
		r.Header.Set("Content-Type", api.ContentTypeStream)
		r.Header.Set(api.ArgsHeader, `{"key":"`+strings.Repeat("%", 900<<10)+`"}`)
		code, body := do(t, r)
		if code < 400 || len(body) > 8<<10 {
			t.Fatalf("got %d, %d bytes: %.300s", code, len(body), body)
		}
	})
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestInvokeBodyOverMaxMessageSizeIsInvalidArgument(t *testing.T) {
	g := newGated(t, admin.Config{MaxMessageSize: 1 << 20})
	value := strings.Repeat("v", 1<<20)
	code, body := post(t, g.srv.URL+"/v1/resources/memory.cache/invoke", `{"operation":"set","args":{"key":"a","value":"`+value+`"}}`)
	if code != 400 || !strings.Contains(body, `"kind": "invalid_argument"`) || !strings.Contains(body, "max_message_size (1 MiB)") {
		t.Fatalf("got %d %.500s", code, body)
	}
	if g.calls.Load() != 0 {
		t.Fatal("the driver was called")
	}
	code, body = post(t, g.srv.URL+"/v1/resources/memory.cache/invoke", `{"operation":"set","args":{"key":"a","value":"`+value[:1<<19]+`"}}`)
	if code != 200 {
		t.Fatalf("half a MiB: %d %.500s", code, body)
	}
}

func TestListingsArePaged(t *testing.T) {
	const n = 250
	srv, _ := newServerWith(t, func(string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(`resource "memory" "c` + strconv.Itoa(i) + "\" {}\n")
		}
		return b.String()
	})
	for _, path := range []string{"/v1/resources", "/v1/health"} {
		t.Run(path, func(t *testing.T) {
			var ids []string
			after, pages := "", 0
			for {
				u := srv.URL + path + "?limit=100"
				if after != "" {
					u += "&after=" + after
				}
				code, body := get(t, u)
				var p struct {
					Resources []struct {
						ID         string          `json:"id"`
						Operations json.RawMessage `json:"operations"`
					} `json:"resources"`
					Types map[string]json.RawMessage `json:"types"`
					Total int                        `json:"total"`
					Next  string                     `json:"next"`
				}
				if code != 200 || json.Unmarshal([]byte(body), &p) != nil || p.Total != n {
					t.Fatalf("%s: %d %.500s", u, code, body)
				}
				if len(p.Resources) > 100 || (p.Next != "" && len(p.Resources) != 100) {
					t.Fatalf("%s: %d items, next %q", u, len(p.Resources), p.Next)
				}
				// Small items: about 300 bytes each, operations once per type.
				if len(body) > 100*600+8<<10 {
					t.Fatalf("%s: a page of %d bytes", u, len(body))
				}
				for _, r := range p.Resources {
					if r.Operations != nil {
						t.Fatalf("%s: an item carries its operations", u)
					}
					ids = append(ids, r.ID)
				}
				pages++
				if p.Next == "" {
					break
				}
				after = p.Next
			}
			if pages != 3 || len(ids) != n || ids[0] != "memory.c0" || ids[n-1] != "memory.c249" {
				t.Fatalf("%d pages, %d ids", pages, len(ids))
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("%s twice", id)
				}
				seen[id] = true
			}
		})
	}
	code, body := get(t, srv.URL+"/v1/resources")
	var def api.ResourceList
	if code != 200 || json.Unmarshal([]byte(body), &def) != nil || len(def.Resources) != api.DefaultPageSize || def.Next != "memory.c99" ||
		len(def.Types) != 1 || len(def.Types["memory"].Operations) == 0 {
		t.Fatalf("default page: %d, %d items, next %q", code, len(def.Resources), def.Next)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=memory.nope"} {
		for _, path := range []string{"/v1/resources", "/v1/health"} {
			if code, body := get(t, srv.URL+path+"?"+q); code != 400 || !strings.Contains(body, "invalid_argument") {
				t.Errorf("%s?%s: %d %s", path, q, code, body)
			}
		}
	}
	code, body = get(t, srv.URL+"/v1/health?after=memory.c249")
	var last api.HealthPage
	if code != 200 || json.Unmarshal([]byte(body), &last) != nil || len(last.Resources) != 0 || last.Resources == nil || last.Next != "" || last.Status == "" {
		t.Fatalf("past the end: %d %s", code, body)
	}
}

// A remote endpoint (allow_remote) answers a caller that dials one of its
// IP addresses, by that address, without allowed_hosts; a name it does not
// know is still refused.
func TestGateAcceptsTheAddressTheConnectionArrivedOn(t *testing.T) {
	var ip net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this machine has no non-loopback IPv4 address")
	}
	_, h := newServer(t)
	// A remote endpoint needs an identity for its callers.
	auth := config.AdminAuth{Identities: []*config.Identity{{Name: "ops", TokenSHA256: sha256Hex("tok-ops"), Allow: []string{"admin"}}}}
	s := admin.New(h, admin.Config{Address: "0.0.0.0:0", AllowRemote: true, Auth: auth, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	_, port, _ := net.SplitHostPort(s.Addr())
	url := "http://" + net.JoinHostPort(ip.String(), port) + "/v1/plugins"
	r, _ := http.NewRequest(http.MethodGet, url, nil)
	r.Header.Set("Authorization", "Bearer tok-ops")
	if code, body := do(t, r); code != 200 {
		t.Fatalf("by its address: %d %s", code, body)
	}
	r, _ = http.NewRequest(http.MethodGet, url, nil)
	r.Header.Set("Authorization", "Bearer tok-ops")
	r.Host = "nebula.internal:" + port
	if code, body := do(t, r); code != http.StatusMisdirectedRequest {
		t.Fatalf("by an unknown name: %d %s", code, body)
	}
	// Another address of the machine than the one dialled is a name like
	// any other: 127.0.0.1 is loopback, so use the address on loopback.
	r, _ = http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort("127.0.0.1", port)+"/v1/plugins", nil)
	r.Header.Set("Authorization", "Bearer tok-ops")
	r.Host = net.JoinHostPort(ip.String(), port)
	if code, body := do(t, r); code != http.StatusMisdirectedRequest {
		t.Fatalf("by an address it did not arrive on: %d %s", code, body)
	}
}
