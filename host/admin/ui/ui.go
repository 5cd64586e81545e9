// Package ui serves the admin web UI: one page of HTML, CSS and JavaScript,
// embedded in the binary, that shows a running host's resources, their
// health, breakers, pools and leases, and its plugins, and polls for
// changes.
//
// The files hold no data, so they are served to anyone the admin server's
// gate lets in. The page reads everything it shows from the admin API
// (GET /v1/resources, /v1/resources/{name}, /v1/health and /v1/plugins) in
// the same origin, through the same gate: with identities configured it
// asks for a bearer token, keeps it in the tab's sessionStorage and sends
// it as "Authorization: Bearer"; a client certificate, when the browser
// has one, works as it does for any caller.
//
// Every answer carries a Content-Security-Policy that allows only the
// page's own files (no inline script or style, no other origin, no
// framing), X-Content-Type-Options: nosniff, and Cache-Control: no-cache
// with an ETag, so that a browser revalidates and a new binary's files
// replace the old at once.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the UI is served: its page is Path, and its files are
// under it. A request of Path without its trailing slash is redirected
// there.
const Path = "/ui/"

// ContentSecurityPolicy is the policy every answer of the handler
// carries: the page's own files only, and nothing inline.
const ContentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// contentTypes are the types of the embedded files, by extension: fixed
// here, not read from the system's mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, ready to serve.
type file struct {
	content     []byte
	contentType string
	etag        string
}

// files are the embedded files by their path under Path; "" is the page.
var files = mustLoad()

func mustLoad() map[string]file {
	m := map[string]file{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct, known := contentTypes[path.Ext(p)]
		if !known {
			return fmt.Errorf("%s: no content type for its extension", p)
		}
		m[strings.TrimPrefix(p, "assets/")] = file{content: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic("ui: reading the embedded files: " + err.Error())
	}
	m[""] = m["index.html"]
	return m
}

// Handler returns the handler of the UI's paths: Path and the files under
// it, GET and HEAD. Mount it at Path and at Path without its trailing
// slash; it answers other paths 404.
func Handler() http.Handler { return http.HandlerFunc(serve) }

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the web UI serves GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(Path, "/") {
		// Relative, so that it holds behind a proxy that adds a prefix.
		h.Set("Location", path.Base(Path)+"/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Path)
	f, found := files[name]
	if !ok || !found {
		h.Set("Cache-Control", "no-store")
		http.Error(w, "not found: the web UI is at "+Path, http.StatusNotFound)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
}
