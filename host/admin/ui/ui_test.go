package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/net/html"

	"github.com/nebula-resource/nebula-resource/host/admin/ui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveUI answers one request of the handler.
func serveUI(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	ui.Handler().ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every answer, a refusal too, carries the headers that keep the page
// from running anything but its own files.
func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": ui.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestFilesAreServedWithTheirTypeAndStrictHeaders(t *testing.T) {
	for path, wantType := range map[string]string{
		"/ui/":            "text/html; charset=utf-8",
		"/ui/index.html":  "text/html; charset=utf-8",
		"/ui/app.js":      "text/javascript; charset=utf-8",
		"/ui/style.css":   "text/css; charset=utf-8",
		"/ui/favicon.svg": "image/svg+xml",
	} {
		t.Run(path, func(t *testing.T) {
			resp := serveUI(t, http.MethodGet, path, nil)
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK || len(b) == 0 {
				t.Fatalf("status %d, %d bytes", resp.StatusCode, len(b))
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type %q, want %q", ct, wantType)
			}
			checkSecurityHeaders(t, resp)
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", cc)
			}
			etag := resp.Header.Get("ETag")
			if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
				t.Fatalf("ETag %q", etag)
			}
			// A browser that has the file revalidates it for nothing.
			again := serveUI(t, http.MethodGet, path, http.Header{"If-None-Match": {etag}})
			if again.StatusCode != http.StatusNotModified || body(t, again) != "" {
				t.Errorf("revalidation: status %d, want 304 without a body", again.StatusCode)
			}
			head := serveUI(t, http.MethodHead, path, nil)
			if head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != wantType || body(t, head) != "" {
				t.Errorf("HEAD: status %d, type %q", head.StatusCode, head.Header.Get("Content-Type"))
			}
		})
	}
}

func TestTheUIPathWithoutItsSlashRedirects(t *testing.T) {
	resp := serveUI(t, http.MethodGet, "/ui", nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "ui/" {
		t.Fatalf("status %d, Location %q; want 301 to ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Relative, as a browser resolves it against /ui: /ui/.
	base, _ := url.Parse("http://127.0.0.1:9464/ui")
	if loc, err := base.Parse(resp.Header.Get("Location")); err != nil || loc.Path != ui.Path {
		t.Fatalf("Location resolves to %v (%v), want %s", loc, err, ui.Path)
	}
}

func TestOtherPathsAndMethodsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"unknown file", http.MethodGet, "/ui/secrets.json", http.StatusNotFound},
		{"directory of the files", http.MethodGet, "/ui/assets/app.js", http.StatusNotFound},
		{"dot dot", http.MethodGet, "/ui/../ui/app.js", http.StatusNotFound},
		{"outside the UI", http.MethodGet, "/v1/resources", http.StatusNotFound},
		{"post", http.MethodPost, "/ui/", http.StatusMethodNotAllowed},
		{"delete", http.MethodDelete, "/ui/app.js", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := serveUI(t, tc.method, tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			checkSecurityHeaders(t, resp)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
		})
	}
}

// The policy allows no inline script or style, so the page must have
// none: every script is a file of its own, no element has an event
// handler attribute or a style attribute, and every file the page names
// is served.
func TestThePageKeepsToItsPolicy(t *testing.T) {
	page := body(t, serveUI(t, http.MethodGet, ui.Path, nil))
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
					t.Errorf("<%s> has the attribute %s, which the policy refuses", n.Data, a.Key)
				}
			}
			switch n.Data {
			case "script":
				if attrs["src"] == "" || n.FirstChild != nil {
					t.Errorf("an inline <script>, which the policy refuses")
				}
				refs = append(refs, attrs["src"])
			case "style":
				t.Errorf("an inline <style>, which the policy refuses")
			case "link", "img":
				refs = append(refs, attrs["href"]+attrs["src"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(refs) < 4 {
		t.Fatalf("the page names %d files (%q), want its script, style sheet and icon", len(refs), refs)
	}
	for _, ref := range refs {
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
			t.Errorf("%q is not a file beside the page", ref)
			continue
		}
		if resp := serveUI(t, http.MethodGet, ui.Path+ref, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", ref, resp.StatusCode)
		}
	}
	// The script puts what the host says into the page as text: it never
	// parses HTML or evaluates code.
	script := body(t, serveUI(t, http.MethodGet, ui.Path+"app.js", nil))
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"style\"", "localStorage"} {
		if strings.Contains(script, banned) {
			t.Errorf("app.js uses %s", banned)
		}
	}
}
