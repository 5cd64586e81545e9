package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/host/admin/ui"
)

// uiReads are the requests the web UI's page makes, every poll: the
// listings, one resource, and the plugins.
var uiReads = []string{"/v1/resources?limit=1000", "/v1/health?limit=1000", "/v1/resources/memory.cache", "/v1/plugins"}

// uiGet sends a GET as the UI's page does: same origin, with the token,
// if any.
func uiGet(t *testing.T, a *authed, path, token string) (int, string, http.Header) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, a.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Accept", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// With identities, the UI's files are served to anyone the gate lets in,
// and every request of its page for data needs an identity allowed read
// (and admin for the plugins), as any other caller's.
func TestUIFilesNeedNoIdentityButItsDataDoes(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/style.css"} {
		code, body, h := uiGet(t, a, path, "")
		if code != http.StatusOK || body == "" {
			t.Fatalf("GET %s without a token: %d", path, code)
		}
		if h.Get("Content-Security-Policy") != ui.ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q, X-Content-Type-Options %q", path, h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
		}
	}
	if code, _, h := uiGet(t, a, "/ui", ""); code != http.StatusMovedPermanently || h.Get("Location") != "ui/" {
		t.Errorf("GET /ui: %d, Location %q; want 301 to ui/", code, h.Get("Location"))
	}
	if code, _, _ := uiGet(t, a, "/ui/nothing.js", ""); code != http.StatusNotFound {
		t.Errorf("GET /ui/nothing.js: %d, want 404", code)
	}

	for _, tc := range []struct {
		token string
		want  []int // per uiReads
	}{
		{"", []int{401, 401, 401, 401}},
		{"tok-nobody", []int{401, 401, 401, 401}},
		{"tok-acme-invoker", []int{403, 403, 403, 403}},
		{"tok-viewer", []int{200, 200, 200, 403}},
		{"tok-ops", []int{200, 200, 200, 200}},
	} {
		for i, path := range uiReads {
			code, body, h := uiGet(t, a, path, tc.token)
			if code != tc.want[i] {
				t.Errorf("GET %s with %q: %d, want %d: %.200s", path, tc.token, code, tc.want[i], body)
				continue
			}
			if code == http.StatusUnauthorized && h.Get("WWW-Authenticate") != `Bearer realm="nebula"` {
				t.Errorf("GET %s with %q: WWW-Authenticate %q", path, tc.token, h.Get("WWW-Authenticate"))
			}
			if code >= 400 {
				if e := errorOf(t, body); e.Message == "" || (code == 401) != (e.Code == api.CodeUnauthenticated) {
					t.Errorf("GET %s with %q: error %+v", path, tc.token, e)
				}
			}
		}
	}
}

// The gate's rules hold for the UI's files as for the API: another Host
// (DNS rebinding) or another origin is refused.
func TestUIFilesPassTheGate(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	for _, tc := range []struct {
		name   string
		modify func(r *http.Request)
		status int
		code   string
	}{
		{"another host", func(r *http.Request) { r.Host = "evil.example" }, http.StatusMisdirectedRequest, api.CodeHostNotAllowed},
		{"another origin", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, http.StatusForbidden, api.CodeCrossOrigin},
		{"a cross-site fetch", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden, api.CodeCrossOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, a.url+"/ui/", nil)
			tc.modify(r)
			code, body := do(t, r)
			if code != tc.status || errorOf(t, body).Code != tc.code {
				t.Fatalf("%d %.200s, want %d %s", code, body, tc.status, tc.code)
			}
		})
	}
}

// The UI is no route of the API: Routes, which the OpenAPI description
// and the gate's tables follow, does not list it.
func TestUIIsNoRouteOfTheAPI(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	for _, rt := range a.adm.Routes() {
		if strings.Contains(rt.Pattern, "/ui") {
			t.Errorf("Routes lists %s", rt.Pattern)
		}
	}
}

// An identity that acts for a tenant sees, through the UI's requests, its
// tenant's resources alone; another's resource page is refused.
func TestUIReadsFollowTheTenant(t *testing.T) {
	a := newAuthed(t, admin.Config{})
	ids := func(token string) (listed, health []string) {
		t.Helper()
		code, body, _ := uiGet(t, a, "/v1/resources?limit=1000", token)
		var list api.ResourceList
		if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("GET /v1/resources: %d %.300s", code, body)
		}
		for _, r := range list.Resources {
			listed = append(listed, r.ID)
		}
		code, body, _ = uiGet(t, a, "/v1/health?limit=1000", token)
		var hp api.HealthPage
		if code != http.StatusOK || json.Unmarshal([]byte(body), &hp) != nil {
			t.Fatalf("GET /v1/health: %d %.300s", code, body)
		}
		for _, r := range hp.Resources {
			health = append(health, r.ID)
		}
		return listed, health
	}
	for _, tc := range []struct {
		token   string
		want    []string
		refused string
	}{
		{"tok-ops", []string{"memory.cache", "memory.other", "localfs.files"}, ""},
		{"tok-acme-reader", []string{"memory.cache", "localfs.files"}, "memory.other"},
		{"tok-globex-worker", []string{"memory.other"}, "memory.cache"},
	} {
		listed, health := ids(tc.token)
		if !slices.Equal(listed, tc.want) || !slices.Equal(health, tc.want) {
			t.Errorf("%s: resources %v, health %v; want %v", tc.token, listed, health, tc.want)
		}
		if tc.refused == "" {
			continue
		}
		if code, body, _ := uiGet(t, a, "/v1/resources/"+tc.refused, tc.token); code != http.StatusForbidden || errorOf(t, body).Code != api.CodePermissionDenied {
			t.Errorf("%s: GET /v1/resources/%s: %d %.200s, want 403", tc.token, tc.refused, code, body)
		}
		if code, _, _ := uiGet(t, a, "/v1/plugins", tc.token); code != http.StatusForbidden {
			t.Errorf("%s: GET /v1/plugins: %d, want 403", tc.token, code)
		}
	}
}
