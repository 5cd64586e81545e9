package admin_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// FuzzInvokeRequest sends an invoke request, with a fuzzed body, Host,
// Content-Type and Origin, through the whole admin handler of a running
// host (in-process memory driver), and decodes the body alone. It checks
// that:
//
//   - nothing panics, and every answer other than 200 is a JSON error of at
//     most 16 KiB whose message is within admin.MaxErrorMessage;
//   - a request the gate refuses (421, 403, 415) reaches no driver, and one
//     the gate lets through had an allowed Host, no foreign Origin and the
//     content type application/json;
//   - DecodeInvokeRequest accepts only one JSON object with an operation
//     and nothing but white space after it, and its errors are
//     invalid_argument and short.
//
// The seed corpus is in testdata/fuzz/FuzzInvokeRequest. Run it longer with
//
//	go test -run '^$' -fuzz FuzzInvokeRequest -fuzztime 30s ./host/admin
func FuzzInvokeRequest(f *testing.F) {
	g := newGated(f, admin.Config{MaxMessageSize: 64 << 10})
	handler := g.adm.Handler()
	f.Add([]byte(`{"operation":"get","args":{"key":"a"}}`), "application/json", "127.0.0.1:9464", "")
	f.Fuzz(func(t *testing.T, body []byte, contentType, hostHeader, origin string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/resources/memory.cache/invoke", bytes.NewReader(body))
		req.Host = hostHeader
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		before := g.calls.Load()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		reached := g.calls.Load() != before
		resp := rec.Body.Bytes()

		if rec.Code != http.StatusOK {
			var eb api.ErrorBody
			if err := json.Unmarshal(resp, &eb); err != nil || eb.Error.Message == "" || eb.Error.Kind == "" {
				t.Fatalf("status %d with a body that is not a JSON error: %v %q", rec.Code, err, resp)
			}
			if len(resp) > 8<<10 || len(eb.Error.Message) > admin.MaxErrorMessage {
				t.Fatalf("a %d-byte request got a %d-byte error", len(body), len(resp))
			}
		}
		switch rec.Code {
		case http.StatusMisdirectedRequest, http.StatusForbidden, http.StatusUnsupportedMediaType:
			if reached {
				t.Fatalf("a request refused with %d reached the driver", rec.Code)
			}
		}
		if reached {
			if mt, _, _ := strings.Cut(contentType, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				t.Fatalf("a request with Content-Type %q reached the driver", contentType)
			}
			name := hostName(hostHeader)
			if ip := net.ParseIP(name); name != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Fatalf("a request with Host %q reached the driver", hostHeader)
			}
			if u, err := url.Parse(origin); origin != "" && (err != nil || u.Scheme != "http" || hostName(u.Host) != name) {
				t.Fatalf("a request from origin %q (Host %q) reached the driver", origin, hostHeader)
			}
		}

		ir, err := admin.DecodeInvokeRequest(bytes.NewReader(body), 64<<10)
		if err != nil {
			if sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Fatalf("decode error of kind %s: %v", sdk.KindOf(err), err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("a %d-byte body gives a %d-byte decode error", len(body), len(err.Error()))
			}
			return
		}
		if ir.Operation == "" || !json.Valid(body) {
			t.Fatalf("accepted %q as %+v", body, ir)
		}
		// One object and white space: the standard decoder reads the same.
		var again api.InvokeRequest
		if err := json.Unmarshal(body, &again); err != nil || again.Operation != ir.Operation ||
			!bytes.Equal(again.Args, ir.Args) || (again.Owner == nil) != (ir.Owner == nil) {
			t.Fatalf("accepted %q as %+v, json.Unmarshal reads %+v (%v)", body, ir, again, err)
		}
	})
}

// hostName is the name in a Host header, lower case, without port,
// brackets or trailing dot.
func hostName(h string) string {
	if n, _, err := net.SplitHostPort(h); err == nil {
		h = n
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}
