package httpclient_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// request streams its input out as the request body, and the response
// body back; fetch carries both in its arguments and result.
func TestRequestStreamsBothWays(t *testing.T) {
	api := newAPI(t)
	inst := open(t, api.URL, nil)
	body := pattern(3<<20 + 17)
	res, out, err := stream[result](t.Context(), t, inst, map[string]any{"method": "POST", "path": "/echo", "query": map[string][]string{"a": {"1", "2"}}}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.Bytes != int64(len(body)) || sum(out) != sum(body) {
		t.Fatalf("status %d, %d bytes back (result says %d), want 200 and %d bytes", res.Status, len(out), res.Bytes, len(body))
	}
	if res.header("X-Method") != "POST" || res.header("X-Query") != "a=1&a=2" || res.header("X-Content-Length") != "-1" {
		t.Fatalf("headers %v", res.Headers)
	}

	// An empty input is a request without a body.
	res, out, err = stream[result](t.Context(), t, inst, map[string]any{"method": "DELETE", "path": "/echo"}, strings.NewReader(""))
	if err != nil || res.header("X-Content-Length") != "0" || len(out) != 0 || res.header("X-Method") != "DELETE" {
		t.Fatalf("DELETE without input: %v, headers %v, %d bytes", err, res.Headers, len(out))
	}

	// A Content-Length header makes the streamed body a sized one.
	res, _, err = stream[result](t.Context(), t, inst, map[string]any{"method": "PUT", "path": "/echo", "headers": map[string]string{"Content-Length": "5"}}, strings.NewReader("hello"))
	if err != nil || res.header("X-Content-Length") != "5" {
		t.Fatalf("PUT with Content-Length: %v, headers %v", err, res.Headers)
	}
}

// A status of 400 or more fails request with its kind and an excerpt of
// the body, and writes nothing out; expect_status accepts the statuses it
// lists.
func TestRequestErrorStatusesWriteNothing(t *testing.T) {
	api := newAPI(t)
	inst := open(t, api.URL, nil)
	for code, kind := range map[string]sdk.Kind{
		"400": sdk.KindInvalidArgument, "401": sdk.KindUnauthenticated, "403": sdk.KindPermissionDenied,
		"404": sdk.KindNotFound, "409": sdk.KindConflict, "412": sdk.KindFailedPrecondition, "422": sdk.KindInvalidArgument,
		"429": sdk.KindResourceExhausted, "500": sdk.KindInternal, "503": sdk.KindUnavailable, "504": sdk.KindTimeout,
	} {
		_, out, err := stream[result](t.Context(), t, inst, map[string]any{"path": "/status/" + code}, nil)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Kind != kind || se.Code != code || len(out) != 0 || !strings.Contains(err.Error(), "status "+code) || !strings.Contains(err.Error(), "GET ") {
			t.Errorf("status %s: %v (kind %s), %d bytes out; want %s with code %s, the body's excerpt and nothing out", code, err, sdk.KindOf(err), len(out), kind, code)
		}
		if code == "503" && se != nil && se.RetryAfter.Seconds() != 1 {
			t.Errorf("503: RetryAfter %s, want 1s", se.RetryAfter)
		}
	}
	res, out, err := stream[result](t.Context(), t, inst, map[string]any{"path": "/missing", "expect_status": []int{404}}, nil)
	if err != nil || res.Status != 404 || string(out) != "no such thing" {
		t.Fatalf("expect_status 404: %v, status %d, %q", err, res.Status, out)
	}
	_, err = invoke[result](t, inst, "fetch", map[string]any{"path": "/probe", "expect_status": []int{201}})
	if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "expect_status") {
		t.Fatalf("200 not in expect_status: %v", err)
	}
}

func TestFetchTextAndBytes(t *testing.T) {
	api := newAPI(t)
	inst := open(t, api.URL, map[string]any{"headers": map[string]string{"X-Team": "blue"}})
	res, err := invoke[result](t, inst, "fetch", map[string]any{"method": "POST", "path": "/echo", "body": "héllo", "idempotency_key": "k-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Body != "héllo" || res.BodyBase64 != "" || res.header("X-Idempotency-Key") != "k-1" || res.header("X-Content-Length") != "6" || res.header("X-Team") != "blue" {
		t.Fatalf("result %+v", res)
	}
	raw := pattern(1000)
	res, err = invoke[result](t, inst, "fetch", map[string]any{"method": "PUT", "path": "/echo", "body_base64": base64.StdEncoding.EncodeToString(raw)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := base64.StdEncoding.DecodeString(res.BodyBase64)
	if res.Body != "" || !bytes.Equal(got, raw) || res.Bytes != 1000 {
		t.Fatalf("bytes back: body %q, %d bytes of base64", res.Body, len(got))
	}
	res, err = invoke[result](t, inst, "fetch", map[string]any{"method": "HEAD", "path": "/probe"})
	if err != nil || res.Status != 200 || res.Body != "" {
		t.Fatalf("HEAD: %v %+v", err, res)
	}
}

// fetch refuses a body larger than max_response_bytes, naming the limit
// and the operation that streams.
func TestFetchRefusesABodyOverTheLimit(t *testing.T) {
	api := newAPI(t)
	inst := open(t, api.URL, map[string]any{"max_response_bytes": 1000})
	if _, err := invoke[result](t, inst, "fetch", map[string]any{"path": "/bytes/1000"}); err != nil {
		t.Fatalf("a body at the limit: %v", err)
	}
	_, err := invoke[result](t, inst, "fetch", map[string]any{"path": "/bytes/1001"})
	if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "max_response_bytes (1000 bytes)") || !strings.Contains(err.Error(), "request operation") {
		t.Fatalf("a body over the limit: %v", err)
	}
}

// The health check requests health_path; ping runs it.
func TestHealthCheck(t *testing.T) {
	api := newAPI(t)
	if err := open(t, api.URL, map[string]any{"health_path": "/probe"}).Check(t.Context()); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	inst := open(t, api.URL, map[string]any{"health_path": "/status/503", "health_method": "HEAD"})
	if err := inst.Check(t.Context()); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("a 503 health path: %v", err)
	}
	if _, err := invoke[map[string]any](t, inst, "ping", nil); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("ping: %v", err)
	}
	if err := open(t, "http://127.0.0.1:1", nil).Check(t.Context()); err != nil {
		t.Fatalf("no health_path checks nothing: %v", err)
	}
}

// A response that stops in the middle fails request as unavailable after
// what arrived was written.
func TestATruncatedResponseIsUnavailable(t *testing.T) {
	srv := newRawServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	inst := open(t, srv, nil)
	_, out, err := stream[result](t.Context(), t, inst, map[string]any{"path": "/"}, nil)
	if sdk.KindOf(err) != sdk.KindUnavailable || string(out) != "partial" {
		t.Fatalf("got %v (kind %s), %q", err, sdk.KindOf(err), out)
	}
	_, err = invoke[result](t, inst, "fetch", map[string]any{"path": "/"})
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("fetch: %v", err)
	}
}

func newRawServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := newServer(h)
	srv.Config.ErrorLog = discardLogger()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// Concurrent calls that fail share the client's secrets safely (the race
// detector watches) and each gets its own error.
func TestConcurrentFailuresAreEachTheirOwn(t *testing.T) {
	api := newAPI(t)
	inst := open(t, api.URL, map[string]any{"bearer_token": "tok", "secret_headers": map[string]string{"X-Api-Key": "key"}})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			code := []string{"404", "409", "503", "401"}[i%4]
			_, err := invoke[result](t, inst, "fetch", map[string]any{"path": "/status/" + code})
			if err == nil || !strings.Contains(err.Error(), "status "+code) {
				err = fmt.Errorf("status %s: got %v", code, err)
			} else {
				err = nil
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
