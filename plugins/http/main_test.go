package httpclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	httpclient "github.com/nebula-resource/nebula-resource/plugins/http"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newAPI starts the test's HTTP API on 127.0.0.1:
//
//	/probe         200 "ok"
//	/missing       404 "no such thing"
//	/status/{code} that status, with Retry-After 1 for 503
//	/echo          the request body back, with X-Method, X-Idempotency-Key,
//	               X-Content-Length and X-Query headers of what it got
//	/bytes/{n}     n bytes that are not UTF-8
func newAPI(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no such thing")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "status "+r.PathValue("code"))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Idempotency-Key", r.Header.Get("Idempotency-Key"))
		w.Header().Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10))
		w.Header().Set("X-Query", r.URL.RawQuery)
		w.Header().Set("X-Team", r.Header.Get("X-Team"))
		_, _ = io.Copy(w, r.Body)
	})
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		_, _ = w.Write(pattern(n))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// pattern is n bytes that are not valid UTF-8.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x80 + i%97)
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// configJSON is the configuration of a resource at base with the extra
// attributes.
func configJSON(t testing.TB, base string, extra map[string]any) json.RawMessage {
	t.Helper()
	attrs := map[string]any{"base_url": base}
	for k, v := range extra {
		attrs[k] = v
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// open opens an instance of an http resource over real gRPC, in process.
func open(t testing.TB, base string, extra map[string]any) *sdktest.Instance {
	t.Helper()
	return sdktest.Open(t, sdktest.Connect(t, httpclient.New()), sdk.ConfigureRequest{Type: httpclient.TypeName, Name: "api", Config: configJSON(t, base, extra)})
}

// invoke calls a plain operation and decodes its result into R.
func invoke[R any](t testing.TB, inst *sdktest.Instance, op string, args map[string]any) (R, error) {
	t.Helper()
	var r R
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		return r, err
	}
	return r, remarshal(res, &r)
}

// stream calls request with in as its input and returns what it wrote.
func stream[R any](ctx context.Context, t testing.TB, inst *sdktest.Instance, args map[string]any, in io.Reader) (R, []byte, error) {
	t.Helper()
	var r R
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "request", Args: raw}, in, &out)
	if err != nil {
		return r, out.Bytes(), err
	}
	return r, out.Bytes(), remarshal(res, &r)
}

func remarshal(v any, dst any) error {
	b, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return json.Unmarshal(b, dst)
}

// result is the result of request and fetch, as a caller reads it.
type result struct {
	Status        int                 `json:"status"`
	StatusText    string              `json:"status_text"`
	Headers       map[string][]string `json:"headers"`
	ContentLength *int64              `json:"content_length"`
	Bytes         int64               `json:"bytes"`
	Body          string              `json:"body"`
	BodyBase64    string              `json:"body_base64"`
}

func (r result) header(name string) string {
	if v := r.Headers[http.CanonicalHeaderKey(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}
