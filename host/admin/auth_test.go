package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
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
)

func sha256Hex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tenantHost is the configuration of the authentication tests: tenant
// acme reaches memory.cache and localfs.files, globex memory.other.
func tenantHost(dir string) string {
	return `
resource "memory" "cache" {}
resource "memory" "other" {}
resource "localfs" "files" {
  root        = "` + filepath.Join(dir, "files") + `"
  create_root = true
}
tenant "acme" {
  resources = [resource.memory.cache, resource.localfs.files]
}
tenant "globex" {
  resources = [resource.memory.other]
}`
}

// The identities of the authentication tests; each one's token is its
// name after "tok-".
var testIdentities = []*config.Identity{
	{Name: "ops", Allow: []string{"read", "invoke", "admin"}},
	{Name: "viewer", Allow: []string{"read"}},
	{Name: "acme-worker", Tenant: "acme", Allow: []string{"read", "invoke"}},
	{Name: "acme-reader", Tenant: "acme", Allow: []string{"read"}},
	{Name: "acme-invoker", Tenant: "acme", Allow: []string{"invoke"}},
	{Name: "globex-worker", Tenant: "globex", Allow: []string{"read", "invoke"}},
}

// testAuth returns the test identities with their token hashes.
func testAuth() config.AdminAuth {
	var a config.AdminAuth
	for _, id := range testIdentities {
		c := *id
		c.TokenSHA256 = sha256Hex("tok-" + id.Name)
		a.Identities = append(a.Identities, &c)
	}
	return a
}

// syncBuffer is a buffer written from the server's goroutines and read by
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// authed is a running host of tenantHost with spied drivers behind an
// admin server with the test identities.
type authed struct {
	url       string
	adm       *admin.Server
	h         *host.Host
	calls     *atomic.Int64
	log, audi *syncBuffer
}

// newAuthed runs an authed with acfg: the test identities unless it has
// identities of its own (an empty, non-nil list for none), a reload
// function that succeeds unless it has one, and its audit log in a.audi
// unless it has one.
func newAuthed(t *testing.T, acfg admin.Config) *authed {
	t.Helper()
	a := &authed{calls: new(atomic.Int64), log: new(syncBuffer), audi: new(syncBuffer)}
	a.h = newHost(t, tenantHost, host.WithDriver("memory", spy{memory.New(), a.calls}), host.WithDriver("localfs", spy{localfs.New(), a.calls}))
	if acfg.Auth.Identities == nil {
		acfg.Auth = testAuth()
	}
	if acfg.Reload == nil {
		acfg.Reload = func(context.Context) (api.ReloadResult, error) { return api.ReloadResult{Unchanged: 3}, nil }
	}
	if acfg.Audit == nil {
		acfg.Audit = a.audi
	}
	acfg.Logger = slog.New(slog.NewTextHandler(a.log, nil))
	a.adm = admin.New(a.h, acfg)
	srv := httptest.NewServer(a.adm.Handler())
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// send sends r with the token, if any, and returns the status, the body
// and the answer's WWW-Authenticate.
func send(t *testing.T, r *http.Request, token string) (int, string, string) {
	t.Helper()
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
}

func errorOf(t *testing.T, body string) api.Error {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Fatalf("not an error body: %v: %s", err, body)
	}
	return eb.Error
}

// Every route, with each kind of caller: the answer's status and code.
// The routes come from Routes, so that a new route cannot be missed.
func TestEveryRouteChecksItsCaller(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	reqs := goodRequests(a.url)
	routes := a.adm.Routes()
	// right is the identity each permission's routes serve; lacking one
	// without the permission.
	right := map[admin.Permission]string{admin.PermissionNone: "", admin.PermissionRead: "acme-worker", admin.PermissionInvoke: "acme-worker", admin.PermissionAdmin: "ops"}
	lacking := map[admin.Permission]string{admin.PermissionRead: "acme-invoker", admin.PermissionInvoke: "acme-reader", admin.PermissionAdmin: "viewer"}
	type want struct {
		status int
		code   string
	}
	for _, rt := range routes {
		build, ok := reqs[rt.Pattern]
		if !ok {
			t.Errorf("route %s has no request in the table", rt.Pattern)
			continue
		}
		named := strings.Contains(rt.Pattern, "{name}")
		unauthenticated := want{http.StatusUnauthorized, api.CodeUnauthenticated}
		denied := want{http.StatusForbidden, api.CodePermissionDenied}
		ok200 := want{http.StatusOK, ""}
		cases := []struct {
			name, token string
			want        want
		}{
			{"no token", "", unauthenticated},
			{"wrong token", "tok-nobody", unauthenticated},
			{"foreign tenant's token", "tok-globex-worker", ok200},
			{"token lacking the permission", "tok-" + lacking[rt.Permission], denied},
			{"right token", "tok-" + right[rt.Permission], ok200},
		}
		switch {
		case rt.Permission == admin.PermissionNone:
			// The probes need nobody; a bad token is as good as none.
			cases[0].want, cases[1].want, cases[3].token, cases[3].want = ok200, ok200, "tok-acme-invoker", ok200
		case rt.Permission == admin.PermissionAdmin, named:
			// An identity of a tenant may not administer, nor name a
			// resource its tenant does not reach.
			cases[2].want = denied
		}
		for _, tc := range cases {
			t.Run(rt.Pattern+"/"+tc.name, func(t *testing.T) {
				before := a.calls.Load()
				code, body, authenticate := send(t, build(), tc.token)
				if code != tc.want.status {
					t.Fatalf("got %d %.300s, want %d", code, body, tc.want.status)
				}
				if reached := a.calls.Load() != before; reached != (code == http.StatusOK && reachesDriver(rt.Pattern)) {
					t.Fatalf("driver reached: %v", reached)
				}
				if tc.want.code == "" {
					return
				}
				e := errorOf(t, body)
				if e.Code != tc.want.code || e.Message == "" {
					t.Fatalf("got %+v, want code %s", e, tc.want.code)
				}
				if (code == http.StatusUnauthorized) != (authenticate == `Bearer realm="nebula"`) {
					t.Fatalf("WWW-Authenticate %q with status %d", authenticate, code)
				}
				// A refusal names the permission needed, never another
				// identity.
				if tc.name == "token lacking the permission" && !strings.Contains(e.Message, `"`+string(rt.Permission)+`" permission`) {
					t.Fatalf("the refusal does not name the permission %s: %s", rt.Permission, e.Message)
				}
				for _, id := range testIdentities {
					if id.Name != strings.TrimPrefix(tc.token, "tok-") && strings.Contains(e.Message, `"`+id.Name+`"`) {
						t.Fatalf("the refusal names identity %s: %s", id.Name, e.Message)
					}
				}
			})
		}
	}
	if len(routes) != len(reqs) {
		t.Errorf("%d routes registered, %d in the table", len(routes), len(reqs))
	}
}

// A tenant's identity is refused a resource of another tenant in the
// same words whether the resource exists or not.
func TestForeignResourceRefusalDoesNotTellWhetherItExists(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	requests := map[string]func(name string) *http.Request{
		"describe": func(name string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, a.url+"/v1/resources/"+name, nil)
			return r
		},
		"invoke": func(name string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, a.url+"/v1/resources/"+name+"/invoke", strings.NewReader(`{"operation":"get","args":{"key":"k"}}`))
			r.Header.Set("Content-Type", api.ContentTypeJSON)
			return r
		},
		"stream": func(name string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, a.url+"/v1/resources/"+name+"/stream/get", nil)
			r.Header.Set("Content-Type", api.ContentTypeStream)
			r.Header.Set(api.ArgsHeader, `{"key":"k"}`)
			return r
		},
	}
	for what, build := range requests {
		t.Run(what, func(t *testing.T) {
			// memory.cache exists, and is acme's; memory.gone does not.
			code1, body1, _ := send(t, build("memory.cache"), "tok-globex-worker")
			code2, body2, _ := send(t, build("memory.gone"), "tok-globex-worker")
			e := errorOf(t, body1)
			if code1 != http.StatusForbidden || e.Kind != api.KindPermissionDenied || e.Code != api.CodePermissionDenied ||
				e.Message != `tenant "globex" may not use "memory.cache"` {
				t.Fatalf("an existing resource: %d %s", code1, body1)
			}
			if code2 != code1 || strings.ReplaceAll(body2, "memory.gone", "memory.cache") != body1 {
				t.Fatalf("a missing resource is answered otherwise:\n%d %s\nwant as\n%d %s", code2, body2, code1, body1)
			}
		})
	}
	if n := a.calls.Load(); n != 0 {
		t.Fatalf("%d calls reached a driver", n)
	}
}

// Listings show an identity of a tenant its tenant's resources alone.
func TestListingsOmitForeignResources(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	get := func(path, token string) string {
		t.Helper()
		r, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
		code, body, _ := send(t, r, token)
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		return body
	}
	for token, want := range map[string][]string{
		"tok-globex-worker": {"memory.other"},
		"tok-acme-worker":   {"memory.cache", "localfs.files"},
		"tok-viewer":        {"memory.cache", "memory.other", "localfs.files"},
	} {
		t.Run(token, func(t *testing.T) {
			var list api.ResourceList
			if err := json.Unmarshal([]byte(get("/v1/resources", token)), &list); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range list.Resources {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, want) || list.Total != len(want) {
				t.Fatalf("/v1/resources lists %v of %d, want %v", ids, list.Total, want)
			}
			if _, ok := list.Types["localfs"]; ok != slices.Contains(want, "localfs.files") {
				t.Fatalf("/v1/resources types %v", list.Types)
			}
			var page api.HealthPage
			if err := json.Unmarshal([]byte(get("/v1/health", token)), &page); err != nil {
				t.Fatal(err)
			}
			ids = nil
			for _, r := range page.Resources {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, want) || page.Total != len(want) || len(page.Types) != len(list.Types) {
				t.Fatalf("/v1/health lists %v of %d, types %v; want %v", ids, page.Total, page.Types, want)
			}
			ready := get("/readyz?verbose", token)
			for _, id := range []string{"memory.cache", "memory.other", "localfs.files"} {
				if strings.Contains(ready, "]"+id+" ") != slices.Contains(want, id) {
					t.Fatalf("/readyz?verbose %q: want exactly %v", ready, want)
				}
			}
		})
	}
	// Without an identity, and with one not allowed read, readiness is
	// its status line alone.
	for _, token := range []string{"", "tok-acme-invoker"} {
		if body := get("/readyz?verbose", token); body != "ok\n" && body != "not ready\n" {
			t.Errorf("/readyz?verbose with %q: %q, want the status line alone", token, body)
		}
	}
}

// The calls of a tenant's identity act for its tenant, whatever owner
// they name; an operator's act for the tenant they name.
func TestCallsActForTheIdentitysTenant(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	invoke := func(name, owner, token string) (int, string) {
		t.Helper()
		body := `{"operation":"set","args":{"key":"k","value":"v"}` + owner + `}`
		r, _ := http.NewRequest(http.MethodPost, a.url+"/v1/resources/"+name+"/invoke", strings.NewReader(body))
		r.Header.Set("Content-Type", api.ContentTypeJSON)
		code, b, _ := send(t, r, token)
		return code, b
	}
	for _, tc := range []struct {
		name, resource, owner, token string
		status                       int
		message                      string
	}{
		{"own tenant, unnamed", "memory.cache", "", "tok-acme-worker", 200, ""},
		{"own tenant, named", "memory.cache", `,"owner":{"tenant":"acme","step":"s1"}`, "tok-acme-worker", 200, ""},
		{"another tenant named", "memory.cache", `,"owner":{"tenant":"globex"}`, "tok-acme-worker", 403, `identity "acme-worker" acts for tenant "acme", and may not act for tenant "globex"`},
		{"operator for a tenant that reaches it", "memory.cache", `,"owner":{"tenant":"acme"}`, "tok-ops", 200, ""},
		{"operator for a tenant that does not", "memory.cache", `,"owner":{"tenant":"globex"}`, "tok-ops", 403, `tenant "globex" may not use "memory.cache"`},
		{"operator for nobody", "memory.other", "", "tok-ops", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := invoke(tc.resource, tc.owner, tc.token)
			if code != tc.status || (tc.message != "" && !strings.Contains(errorOf(t, body).Message, tc.message)) {
				t.Fatalf("got %d %s, want %d %s", code, body, tc.status, tc.message)
			}
		})
	}
	r, _ := http.NewRequest(http.MethodPost, a.url+"/v1/resources/localfs.files/stream/put", strings.NewReader("x"))
	r.Header.Set("Content-Type", api.ContentTypeStream)
	r.Header.Set(api.ArgsHeader, `{"key":"x.txt"}`)
	r.Header.Set(api.TenantHeader, "globex")
	if code, body, _ := send(t, r, "tok-acme-worker"); code != http.StatusForbidden || !strings.Contains(body, `may not act for tenant \"globex\"`) {
		t.Fatalf("a stream naming another tenant: %d %s", code, body)
	}
	// The audit log says which tenant each call acted for.
	for _, line := range auditLines(t, a.audi.String()) {
		if line.Identity == "acme-worker" && line.Tenant != "acme" {
			t.Errorf("a call of acme-worker audited for tenant %q", line.Tenant)
		}
	}
}

// An identity's token may be a credential's attribute, read while the
// host runs: a new value replaces the old at once.
func TestTokenFromACredentialFollowsItsValue(t *testing.T) {
	var (
		mu      sync.Mutex
		value   = "tok-first"
		fail    error
		lookups int
	)
	lookup := func(cred, attr string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		lookups++
		if cred != "admin" || attr != "worker" {
			return "", errors.New("no such credential")
		}
		return value, fail
	}
	auth := config.AdminAuth{Identities: []*config.Identity{{Name: "worker", Token: &config.CredentialRef{Credential: "admin", Attribute: "worker"}, Allow: []string{"read"}}}}
	a := newAuthed(t, admin.Config{Auth: auth, Lookup: lookup})
	list := func(token string) int {
		r, _ := http.NewRequest(http.MethodGet, a.url+"/v1/resources", nil)
		code, _, _ := send(t, r, token)
		return code
	}
	if list("tok-first") != 200 || list("tok-second") != 401 {
		t.Fatal("the credential's first value")
	}
	mu.Lock()
	value = "tok-second"
	mu.Unlock()
	if list("tok-first") != 401 || list("tok-second") != 200 {
		t.Fatal("the credential's second value")
	}
	mu.Lock()
	fail = errors.New("the credential is being refreshed")
	mu.Unlock()
	for range 3 {
		if list("tok-second") != 401 {
			t.Fatal("a credential that cannot be read authenticated a request")
		}
	}
	if n := strings.Count(a.log.String(), "the token of an identity cannot be read"); n != 1 {
		t.Fatalf("the failure was logged %d times, want once:\n%s", n, a.log.String())
	}
	if strings.Contains(a.log.String(), "tok-second") {
		t.Fatal("the log shows the token")
	}

	// Start refuses such an identity without a Lookup.
	s := admin.New(a.h, admin.Config{Address: "127.0.0.1:0", Auth: auth, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "credential.admin.worker") {
		t.Fatalf("Start without Lookup: %v", err)
	}
}

// auditLine is a line of the audit log, decoded field by field.
type auditLine struct {
	Time       string   `json:"time"`
	Identity   string   `json:"identity"`
	Tenant     string   `json:"tenant"`
	Remote     string   `json:"remote"`
	Method     string   `json:"method"`
	Route      string   `json:"route"`
	Resource   string   `json:"resource"`
	Operation  string   `json:"operation"`
	Result     string   `json:"result"`
	Status     int      `json:"status"`
	DurationMS *float64 `json:"duration_ms"`
}

func auditLines(t *testing.T, s string) []auditLine {
	t.Helper()
	var out []auditLine
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &fields); err != nil || len(fields) != 11 {
			t.Fatalf("audit line %q: %v, %d fields, want 11", l, err, len(fields))
		}
		var line auditLine
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	return out
}

func TestAuditLogRecordsCallsReloadsAndRefusals(t *testing.T) {
	const canaryArg, canaryToken = "canary-arg-7f3a", "canary-token-91bd"
	a := newAuthed(t, admin.Config{})
	post := func(path, contentType, body, token string, header map[string]string) int {
		r, _ := http.NewRequest(http.MethodPost, a.url+path, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		code, _, _ := send(t, r, token)
		return code
	}
	steps := []struct {
		do   func() int
		want auditLine
	}{
		{func() int {
			return post("/v1/resources/memory.cache/invoke", api.ContentTypeJSON, `{"operation":"set","args":{"key":"k","value":"`+canaryArg+`"}}`, "tok-acme-worker", nil)
		}, auditLine{Identity: "acme-worker", Tenant: "acme", Method: "POST", Route: "POST /v1/resources/{name}/invoke", Resource: "memory.cache", Operation: "set", Result: "ok", Status: 200}},
		{func() int {
			return post("/v1/resources/memory.cache/invoke", api.ContentTypeJSON, `{"operation":"get","args":{"key":"`+canaryArg+`"}}`, canaryToken, nil)
		}, auditLine{Method: "POST", Route: "POST /v1/resources/{name}/invoke", Resource: "memory.cache", Result: "unauthenticated", Status: 401}},
		{func() int {
			return post("/v1/resources/localfs.files/stream/get", api.ContentTypeStream, "", "tok-ops", map[string]string{api.ArgsHeader: `{"key":"` + canaryArg + `"}`, api.TenantHeader: "acme"})
		}, auditLine{Identity: "ops", Tenant: "acme", Method: "POST", Route: "POST /v1/resources/{name}/stream/{op}", Resource: "localfs.files", Operation: "get", Result: "not_found", Status: 404}},
		{func() int {
			return post("/v1/resources/memory.other/invoke", api.ContentTypeJSON, `{"operation":"get","args":{"key":"k"}}`, "tok-acme-worker", nil)
		}, auditLine{Identity: "acme-worker", Tenant: "acme", Method: "POST", Route: "POST /v1/resources/{name}/invoke", Resource: "memory.other", Result: "permission_denied", Status: 403}},
		{func() int {
			r, _ := http.NewRequest(http.MethodGet, a.url+"/v1/plugins", nil)
			code, _, _ := send(t, r, "tok-viewer")
			return code
		}, auditLine{Identity: "viewer", Method: "GET", Route: "GET /v1/plugins", Result: "permission_denied", Status: 403}},
		{func() int { return post("/v1/reload", api.ContentTypeJSON, "", "tok-ops", nil) },
			auditLine{Identity: "ops", Method: "POST", Route: "POST /v1/reload", Result: "ok", Status: 200}},
		{func() int {
			r, _ := http.NewRequest(http.MethodGet, a.url+"/v1/nothing/here", nil)
			code, _, _ := send(t, r, "")
			return code
		}, auditLine{Method: "GET", Route: "", Result: "unauthenticated", Status: 401}},
	}
	// Reads that are allowed are not audited.
	r, _ := http.NewRequest(http.MethodGet, a.url+"/v1/resources", nil)
	if code, _, _ := send(t, r, "tok-viewer"); code != 200 {
		t.Fatal(code)
	}
	for i, st := range steps {
		if code := st.do(); code != st.want.Status {
			t.Fatalf("step %d: status %d, want %d", i, code, st.want.Status)
		}
	}
	out := a.audi.String()
	lines := auditLines(t, out)
	if len(lines) != len(steps) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(lines), len(steps), out)
	}
	for i, got := range lines {
		want := steps[i].want
		if ts, err := time.Parse(time.RFC3339Nano, got.Time); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("line %d: time %q", i, got.Time)
		}
		if !strings.HasPrefix(got.Remote, "127.0.0.1:") {
			t.Errorf("line %d: remote %q", i, got.Remote)
		}
		if got.DurationMS == nil || *got.DurationMS < 0 {
			t.Errorf("line %d: duration_ms %v", i, got.DurationMS)
		}
		got.Time, got.Remote, got.DurationMS = "", "", nil
		if got != want {
			t.Errorf("line %d:\ngot  %+v\nwant %+v", i, got, want)
		}
	}
	for _, canary := range []string{canaryArg, canaryToken, "tok-acme-worker", "tok-ops"} {
		if strings.Contains(out, canary) || strings.Contains(a.log.String(), canary) {
			t.Errorf("%q is in the audit log or the log", canary)
		}
	}
}

// With an audit block, the server appends to the file, which only its
// owner may read, and closes it in Shutdown.
func TestAuditLogFileIsAppendedAndClosed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	h := newHost(t, tenantHost)
	auth := testAuth()
	auth.Audit = &config.Audit{Path: path}
	s := admin.New(h, admin.Config{Address: "127.0.0.1:0", Auth: auth, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/v1/plugins", nil)
	if code, _, _ := send(t, r, "tok-nobody"); code != 401 {
		t.Fatal(code)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	lines := auditLines(t, readFile(t, path))
	if len(lines) != 1 || lines[0].Status != 401 || lines[0].Route != "GET /v1/plugins" {
		t.Fatalf("audit %+v", lines)
	}
	if fi := stat(t, path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the audit log's mode is %v", fi.Mode().Perm())
	}
	// The file is closed: a second Shutdown is fine, and writes nothing.
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	// An audit log that cannot be opened keeps the server from starting.
	auth.Audit = &config.Audit{Path: filepath.Join(dir, "missing", "audit.jsonl")}
	s = admin.New(h, admin.Config{Address: "127.0.0.1:0", Auth: auth, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err == nil {
		_ = s.Shutdown(t.Context())
		t.Fatal("Start with an audit log in a missing directory")
	}
}

// SetAuth replaces the identities and the audit log at once; the tls block
// needs a restart.
func TestSetAuthSwapsIdentitiesAndAuditLog(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")
	h := newHost(t, tenantHost)
	auth := config.AdminAuth{Identities: []*config.Identity{{Name: "old", TokenSHA256: sha256Hex("tok-old"), Allow: []string{"read"}}}, Audit: &config.Audit{Path: first}}
	s := admin.New(h, admin.Config{Address: "127.0.0.1:0", Auth: auth, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	list := func(token string) int {
		r, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/v1/resources", nil)
		code, _, _ := send(t, r, token)
		return code
	}
	if list("tok-old") != 200 || list("tok-new") != 401 {
		t.Fatal("before SetAuth")
	}
	next := config.AdminAuth{Identities: []*config.Identity{{Name: "new", TokenSHA256: sha256Hex("tok-new"), Allow: []string{"read"}}}, Audit: &config.Audit{Path: second}}
	if err := s.SetAuth(next); err != nil {
		t.Fatal(err)
	}
	if list("tok-old") != 401 || list("tok-new") != 200 {
		t.Fatal("after SetAuth")
	}
	if l1, l2 := auditLines(t, readFile(t, first)), auditLines(t, readFile(t, second)); len(l1) != 1 || len(l2) != 1 || l2[0].Status != 401 {
		t.Fatalf("the audit logs: %+v and %+v", l1, l2)
	}

	withTLS := next
	withTLS.TLS = &config.AdminTLS{CertFile: "server.pem", KeyFile: "server-key.pem"}
	if err := s.SetAuth(withTLS); !errors.Is(err, admin.ErrRestartNeeded) {
		t.Fatalf("SetAuth adding a tls block: %v", err)
	}
	withLookup := config.AdminAuth{Identities: []*config.Identity{{Name: "c", Token: &config.CredentialRef{Credential: "a", Attribute: "b"}, Allow: []string{"read"}}}}
	if err := s.SetAuth(withLookup); err == nil {
		t.Fatal("SetAuth with a credential token and no Lookup")
	}
	if list("tok-new") != 200 {
		t.Fatal("a refused SetAuth changed the identities")
	}
	// Without identities, loopback trusts everyone again.
	if err := s.SetAuth(config.AdminAuth{}); err != nil || list("") != 200 {
		t.Fatalf("SetAuth without identities: %v", err)
	}
}

// A remote endpoint may not lose its last identity.
func TestSetAuthKeepsARemoteEndpointAuthenticated(t *testing.T) {
	s := admin.New(nil, admin.Config{Address: "0.0.0.0:0", AllowRemote: true, Auth: testAuth(), Logger: slog.New(slog.DiscardHandler)})
	if err := s.SetAuth(config.AdminAuth{}); !errors.Is(err, admin.ErrNotLoopback) {
		t.Fatalf("SetAuth without identities on 0.0.0.0: %v", err)
	}
}

func TestReloadRoute(t *testing.T) {
	diagErr := &host.DiagnosticsError{Diagnostics: nil}
	results := map[string]error{
		"diagnostics":     diagErr,
		"invalid":         invalidConfig{"the configuration has errors; nothing changed:\nmain.hcl:3:5: error: Unsupported argument; An argument named \"sise\" is not expected here."},
		"plugin failed":   errors.New("starting plugin redis: exec: not found"),
		"another wrapped": errors.Join(errors.New("reload"), invalidConfig{"x.hcl:1:1: error: Bad"}),
	}
	var which atomic.Value
	which.Store("")
	reloadFn := func(ctx context.Context) (api.ReloadResult, error) {
		if err := results[which.Load().(string)]; err != nil {
			return api.ReloadResult{}, err
		}
		return api.ReloadResult{Added: []string{"memory.fresh"}, Unchanged: 2}, nil
	}
	a := newAuthed(t, admin.Config{Reload: reloadFn})
	reload := func(body string) (int, string) {
		r, _ := http.NewRequest(http.MethodPost, a.url+"/v1/reload", strings.NewReader(body))
		r.Header.Set("Content-Type", api.ContentTypeJSON)
		code, b, _ := send(t, r, "tok-ops")
		return code, b
	}
	for _, body := range []string{"", "{}", " { } \n"} {
		code, b := reload(body)
		var res api.ReloadResult
		if code != 200 || json.Unmarshal([]byte(b), &res) != nil || !slices.Equal(res.Added, []string{"memory.fresh"}) || res.Unchanged != 2 || res.Removed != nil {
			t.Fatalf("body %q: %d %s", body, code, b)
		}
	}
	for _, body := range []string{`{"x":1}`, `[]`, `{}{}`, strings.Repeat(" ", 2000) + "{}"} {
		if code, b := reload(body); code != 400 || errorOf(t, b).Kind != api.KindInvalidArgument {
			t.Fatalf("body %.20q: %d %s", body, code, b)
		}
	}
	for name, err := range results {
		which.Store(name)
		code, b := reload("{}")
		e := errorOf(t, b)
		if name == "plugin failed" {
			if code != 500 || e.Code != "" {
				t.Fatalf("%s: %d %s", name, code, b)
			}
			continue
		}
		if code != http.StatusUnprocessableEntity || e.Code != api.CodeInvalidConfiguration || e.Kind != api.KindFailedPrecondition || e.Message != err.Error() {
			t.Fatalf("%s: %d %s, want 422 with the message %q", name, code, b, err.Error())
		}
	}
	// Without a reload function the route says so.
	noneAdm := admin.New(a.h, admin.Config{Auth: testAuth(), Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(noneAdm.Handler())
	defer srv.Close()
	r, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/reload", nil)
	r.Header.Set("Content-Type", api.ContentTypeJSON)
	if code, b, _ := send(t, r, "tok-ops"); code != http.StatusNotImplemented || errorOf(t, b).Kind != api.KindUnimplemented {
		t.Fatalf("no reload function: %d %s", code, b)
	}
}

// invalidConfig is a reload's error for a configuration with errors, as
// nebula-host's is: known by its InvalidConfiguration method.
type invalidConfig struct{ text string }

func (e invalidConfig) Error() string              { return e.text }
func (e invalidConfig) InvalidConfiguration() bool { return true }

// An endpoint without identities is as it always was: no caller needs a
// token, and the tenant header passes through.
func TestWithoutIdentitiesEveryCallerIsTrusted(t *testing.T) {
	a := newAuthed(t, admin.Config{Auth: config.AdminAuth{Identities: []*config.Identity{}}})
	for pattern, build := range goodRequests(a.url) {
		if code, body, _ := send(t, build(), ""); code != 200 {
			t.Errorf("%s: %d %.300s", pattern, code, body)
		}
	}
	// Invoke, stream and reload are audited all the same.
	if out := a.audi.String(); len(auditLines(t, out)) != 3 || !strings.Contains(out, `"identity":""`) {
		t.Errorf("audit without identities: %s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
