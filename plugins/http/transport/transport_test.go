package transport_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/http/transport"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// config decodes attrs the way a driver's configuration is decoded, so
// that the defaults of the tags apply.
func config(t *testing.T, attrs map[string]any) transport.Config {
	t.Helper()
	raw, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	var c transport.Config
	if err := sdk.Decode(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func newClient(t *testing.T, attrs map[string]any) *transport.Client {
	t.Helper()
	c, err := transport.New(config(t, attrs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// An embedded Config contributes its attributes to the driver's schema
// and is decoded with them.
func TestConfigEmbedsInADriversConfiguration(t *testing.T) {
	type driverConfig struct {
		transport.Config
		MaxResponseBytes int `nebula:"max_response_bytes" default:"10"`
	}
	s, err := sdk.SchemaFor(driverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"base_url", "bearer_token", "max_response_bytes", "rate_limit"} {
		if _, ok := s.Attribute(name); !ok {
			t.Errorf("the schema has no attribute %q", name)
		}
	}
	if a, _ := s.Attribute("bearer_token"); !a.Sensitive {
		t.Error("bearer_token is not sensitive")
	}
	var c driverConfig
	if err := sdk.Decode(json.RawMessage(`{"base_url":"http://127.0.0.1:1/x","bearer_token":"t"}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "http://127.0.0.1:1/x" || c.BearerToken != "t" || c.MaxResponseBytes != 10 || c.FollowRedirects != 10 || !c.RedirectSameHostOnly {
		t.Fatalf("decoded %+v", c)
	}
}

func TestValidateNamesTheAttribute(t *testing.T) {
	for name, tc := range map[string]struct {
		attrs map[string]any
		attr  string
	}{
		"no scheme":             {map[string]any{"base_url": "127.0.0.1:80"}, "base_url"},
		"ftp":                   {map[string]any{"base_url": "ftp://h/"}, "base_url"},
		"credentials in url":    {map[string]any{"base_url": "http://u:p@h/"}, "base_url"},
		"bad header":            {map[string]any{"base_url": "http://h/", "headers": map[string]any{"a b": "x"}}, "headers"},
		"authorization header":  {map[string]any{"base_url": "http://h/", "headers": map[string]any{"Authorization": "x"}}, "headers"},
		"two methods":           {map[string]any{"base_url": "http://h/", "bearer_token": "a", "basic_username": "u"}, "bearer_token"},
		"oauth2 without id":     {map[string]any{"base_url": "http://h/", "oauth2_token_url": "http://h/token"}, "oauth2_client_id"},
		"tls on http":           {map[string]any{"base_url": "http://h/", "tls_ca_file": "/x"}, "tls_ca_file"},
		"negative rate":         {map[string]any{"base_url": "http://h/", "rate_limit": -1}, "rate_limit"},
		"negative redirects":    {map[string]any{"base_url": "http://h/", "follow_redirects": -1}, "follow_redirects"},
		"bad proxy":             {map[string]any{"base_url": "http://h/", "proxy": "::canary-proxy"}, "proxy"},
		"missing ca file":       {map[string]any{"base_url": "https://h/", "tls_ca_file": "/nonexistent/ca.pem"}, "tls_ca_file"},
		"negative timeout":      {map[string]any{"base_url": "http://h/", "request_timeout": "-1s"}, "request_timeout"},
		"unknown oauth2 style":  {map[string]any{"base_url": "http://h/", "oauth2_auth_style": "x"}, "oauth2_auth_style"},
		"oauth2 params without": {map[string]any{"base_url": "http://h/", "oauth2_scopes": []string{"a"}}, "oauth2_token_url"},
	} {
		t.Run(name, func(t *testing.T) {
			err := config(t, tc.attrs).Validate()
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Attribute != tc.attr {
				t.Fatalf("got %v, want an error about %s", err, tc.attr)
			}
			if strings.Contains(err.Error(), "canary-proxy") {
				t.Fatalf("the error quotes the sensitive proxy: %v", err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	c := newClient(t, map[string]any{"base_url": "http://127.0.0.1:8080/api/"})
	for _, tc := range []struct {
		path  string
		query url.Values
		want  string
	}{
		{"/v1/x", nil, "http://127.0.0.1:8080/api/v1/x"},
		{"v1/x", nil, "http://127.0.0.1:8080/api/v1/x"},
		{"", nil, "http://127.0.0.1:8080/api/"},
		{"v1/x?a=1", url.Values{"b": {"2", "3"}}, "http://127.0.0.1:8080/api/v1/x?a=1&b=2&b=3"},
		{"http://127.0.0.1:8080/other", nil, "http://127.0.0.1:8080/other"},
		{"/a%2Fb", nil, "http://127.0.0.1:8080/api/a%2Fb"},
	} {
		u, err := c.Resolve(tc.path, tc.query)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.path, err)
			continue
		}
		if u.String() != tc.want {
			t.Errorf("Resolve(%q) = %s, want %s", tc.path, u, tc.want)
		}
	}
	for _, bad := range []string{"http://evil.example/x", "//evil.example/x", "https://127.0.0.1:8080/x", "/a/../../b", "/x#frag"} {
		_, err := c.Resolve(bad, nil)
		if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), `"path"`) {
			t.Errorf("Resolve(%q) = %v, want invalid_argument naming path", bad, err)
		}
	}
}

func TestKindForStatus(t *testing.T) {
	for status, want := range map[int]sdk.Kind{
		400: sdk.KindInvalidArgument, 422: sdk.KindInvalidArgument, 401: sdk.KindUnauthenticated,
		403: sdk.KindPermissionDenied, 404: sdk.KindNotFound, 409: sdk.KindConflict,
		412: sdk.KindFailedPrecondition, 408: sdk.KindTimeout, 429: sdk.KindResourceExhausted,
		500: sdk.KindInternal, 501: sdk.KindUnimplemented, 502: sdk.KindUnavailable,
		503: sdk.KindUnavailable, 504: sdk.KindTimeout, 599: sdk.KindUnavailable, 418: sdk.KindInvalidArgument,
	} {
		if got := transport.KindForStatus(status); got != want {
			t.Errorf("KindForStatus(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"1": time.Second, "120": 2 * time.Minute, "": 0, "x": 0, "-3": 0,
		now.Add(5 * time.Second).Format(http.TimeFormat):  5 * time.Second,
		now.Add(-5 * time.Second).Format(http.TimeFormat): 0,
	} {
		if got := transport.ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// A 401 whose body echoes the request's Authorization header is an error
// without the token; a 503 carries its Retry-After.
func TestStatusErrorScrubsSecretsAndKeepsRetryAfter(t *testing.T) {
	const token = "canary-bearer-0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "bad credentials: "+r.Header.Get("Authorization")+"\n"+strings.Repeat("x", 5000))
	}))
	defer srv.Close()
	c := newClient(t, map[string]any{"base_url": srv.URL, "bearer_token": token})
	for _, check := range []func(resp *http.Response, body []byte) error{transport.StatusError, c.StatusError} {
		u, _ := c.Resolve("/secret?api_key=canary-query", nil)
		resp, err := c.HTTP().Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		err = check(resp, body)
		if sdk.KindOf(err) != sdk.KindUnauthenticated {
			t.Fatalf("got %v, want unauthenticated", err)
		}
		var se *sdk.Error
		errors.As(err, &se)
		if se.Code != "401" || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "canary-query") || !strings.Contains(err.Error(), "[redacted]") {
			t.Fatalf("error %q (code %s)", err, se.Code)
		}
	}
	u, _ := c.Resolve("/busy", nil)
	resp, err := c.HTTP().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if ra := sdk.RetryAfterOf(c.StatusError(resp, nil)); ra != 2*time.Second {
		t.Fatalf("RetryAfter = %s, want 2s", ra)
	}
}

func TestExcerptNeverShowsPartOfASecretAtTheCut(t *testing.T) {
	const secret = "canary-secret-abcdefghijklmnopqrstuvwxyz"
	body := strings.Repeat(" ", 4096-10) + secret
	if got := transport.Excerpt([]byte(body), []string{secret}); strings.Contains(got, "canary") {
		t.Fatalf("excerpt %q", got)
	}
}

// Credentials and default headers go to base_url's host only: a redirect
// elsewhere (when allowed) arrives without them.
func TestCredentialsNeverGoToAnotherHost(t *testing.T) {
	var otherAuth, otherHeader atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		otherHeader.Store(r.Header.Get("X-Api-Key"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Api-Key") != "key" || r.Header.Get("X-Team") != "blue" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
	}))
	defer srv.Close()
	base := map[string]any{"base_url": srv.URL, "bearer_token": "tok", "secret_headers": map[string]string{"X-Api-Key": "key"}, "headers": map[string]string{"X-Team": "blue"}}

	c := newClient(t, base)
	resp, err := c.HTTP().Get(srv.URL + "/start")
	if err == nil {
		_ = resp.Body.Close()
	}
	u, _ := url.Parse(srv.URL + "/start")
	err = c.RequestError(t.Context(), http.MethodGet, u, err)
	if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "redirect_same_host_only") {
		t.Fatalf("a redirect to another host: %v, want failed_precondition naming redirect_same_host_only", err)
	}

	base["redirect_same_host_only"] = false
	c = newClient(t, base)
	resp, err = c.HTTP().Get(srv.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || otherAuth.Load() != "" || otherHeader.Load() != "" {
		t.Fatalf("status %d; the other host got Authorization %q and X-Api-Key %q", resp.StatusCode, otherAuth.Load(), otherHeader.Load())
	}
}

func TestRedirectsAreFollowedUpToTheLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := newClient(t, map[string]any{"base_url": srv.URL, "follow_redirects": 3})
	_, err := c.HTTP().Get(srv.URL + "/loop")
	if err = c.RequestError(t.Context(), "GET", &url.URL{Scheme: "http", Host: "h", Path: "/loop"}, err); sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "follow_redirects = 3") {
		t.Fatalf("got %v", err)
	}
	c = newClient(t, map[string]any{"base_url": srv.URL, "follow_redirects": 0})
	resp, err := c.HTTP().Get(srv.URL + "/loop")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("follow_redirects 0: status %d, want the 302 itself", resp.StatusCode)
	}
}

func TestTheClientHasNoTimeoutButRequestTimeoutBoundsEachRequest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, map[string]any{"base_url": srv.URL, "request_timeout": "200ms"})
	if c.HTTP().Timeout != 0 {
		t.Fatalf("Timeout = %s, want 0", c.HTTP().Timeout)
	}
	u, _ := c.Resolve("/slow", nil)
	resp, err := c.HTTP().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body) // the body never ends: the timeout ends it
	_ = resp.Body.Close()
	if err = c.RequestError(t.Context(), "GET", u, err); sdk.KindOf(err) != sdk.KindTimeout || !strings.Contains(err.Error(), "request_timeout") {
		t.Fatalf("got %v, want timeout naming request_timeout", err)
	}
}

func TestRateLimitSpacesRequestsAndRespectsTheDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	c := newClient(t, map[string]any{"base_url": srv.URL, "rate_limit": 10, "rate_burst": 1})
	start := time.Now()
	for range 4 {
		resp, err := c.HTTP().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("4 requests at 10/s took %s, want >= 300ms", d)
	}
	c = newClient(t, map[string]any{"base_url": srv.URL, "rate_limit": 0.1, "rate_burst": 1})
	resp, err := c.HTTP().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	_, err = c.HTTP().Do(req)
	if err = c.RequestError(ctx, "GET", req.URL, err); sdk.KindOf(err) != sdk.KindResourceExhausted || !strings.Contains(err.Error(), "rate_limit") {
		t.Fatalf("got %v, want resource_exhausted naming rate_limit", err)
	}
}

func TestAConnectionRefusedIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	addr := srv.URL
	srv.Close()
	c := newClient(t, map[string]any{"base_url": addr})
	u, _ := c.Resolve("/x", nil)
	_, err := c.HTTP().Get(u.String())
	if err = c.RequestError(t.Context(), "GET", u, err); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
}

// An https base_url verifies the server's certificate: a CA it does not
// know is failed_precondition; tls_ca_file trusts it.
func TestTLSVerifiesTheServerWithTheConfiguredCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secure") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer srv.Close()
	c := newClient(t, map[string]any{"base_url": srv.URL})
	u, _ := c.Resolve("/", nil)
	_, err := c.HTTP().Get(u.String())
	if err = c.RequestError(t.Context(), "GET", u, err); sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("an unknown CA: %v, want failed_precondition", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, map[string]any{"base_url": srv.URL, "tls_ca_file": ca})
	resp, err := c.HTTP().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "secure" {
		t.Fatalf("body %q", b)
	}
}
