package sdk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// urlSecret is the signature of the test's URLs: no error may hold it.
const urlSecret = "sig-7f3a9c0e-secret"

// urlBlobs is memBlobs with get_url (sdk.CapabilityBlobURLGet): its URLs
// are those of an HTTP server in the test that serves the store's
// objects, with ranges and if_match, to requests that carry the
// signature. It counts the gets that went through the plugin and the
// downloads its server answered.
type urlBlobs struct {
	*memBlobs
	srv     *httptest.Server
	mode    string // "", "decline", "unreachable", "break" (the body stops halfway) or "badcrc"
	gets    atomic.Int32
	urls    atomic.Int32
	served  atomic.Int32
	refused atomic.Int32
}

func (u *urlBlobs) GetBlob(ctx context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	u.gets.Add(1)
	return u.memBlobs.GetBlob(ctx, a, w)
}

func (u *urlBlobs) GetBlobURL(_ context.Context, a sdk.BlobGetArgs) (sdk.BlobURL, error) {
	u.urls.Add(1)
	base := u.srv.URL
	switch u.mode {
	case "decline":
		return sdk.BlobURL{}, sdk.ErrBlobNoURL
	case "unreachable":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return sdk.BlobURL{}, err
		}
		base = "http://" + l.Addr().String()
		_ = l.Close()
	}
	h := map[string]string{}
	if a.Length > 0 {
		h["Range"] = "bytes=" + strconv.FormatInt(a.Offset, 10) + "-" + strconv.FormatInt(a.Offset+a.Length-1, 10)
	} else if a.Offset > 0 {
		h["Range"] = "bytes=" + strconv.FormatInt(a.Offset, 10) + "-"
	}
	if a.IfMatch != "" {
		h["If-Match"] = a.IfMatch
	}
	return sdk.BlobURL{URL: base + "/o/" + a.Key + "?sig=" + urlSecret, Header: h, ETagHeader: "X-Etag", CRC32CHeader: "X-Hash",
		Expires: time.Now().Add(sdk.BlobURLExpiry)}, nil
}

// ServeHTTP serves an object as S3 serves a presigned GET.
func (u *urlBlobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("sig") != urlSecret {
		u.refused.Add(1)
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/o/")
	u.mu.Lock()
	o, ok := u.objects[key]
	u.mu.Unlock()
	if !ok {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	u.served.Add(1)
	w.Header().Set("X-Etag", strings.Trim(o.info.ETag, `"`)) // unquoted, as GCS's generation
	crc, _ := hex.DecodeString(o.info.CRC32C)
	if u.mode == "badcrc" {
		crc = []byte{1, 2, 3, 4}
	}
	w.Header().Set("X-Hash", "crc32c="+base64.StdEncoding.EncodeToString(crc)+",md5=XrY7u+Ae7tCTyyK7j1rNww==")
	w.Header().Set("ETag", o.info.ETag) // for ServeContent's If-Match
	w.Header().Set("Content-Type", "application/octet-stream")
	if u.mode == "break" {
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(o.data[:len(o.data)/2])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	http.ServeContent(w, r, key, o.info.LastModified, bytes.NewReader(o.data))
}

func urlBlobDriver(t *testing.T, mode string) (sdk.Driver, *urlBlobs) {
	u := &urlBlobs{memBlobs: &memBlobs{}, mode: mode}
	u.srv = httptest.NewServer(u)
	t.Cleanup(u.srv.Close)
	d := sdk.NewDriver("urlblobs", "1.0.0", sdk.ResourceDef[memBlobConfig, *urlBlobs]{
		Name:         "urlblobs",
		Description:  "Objects in memory, downloaded from URLs.",
		Capabilities: []string{sdk.CapabilityBlob, sdk.CapabilityBlobURLGet},
		Pooling:      sdk.PoolingShared,
		Configure: func(context.Context, string, memBlobConfig) (sdk.Resource, error) {
			return urlBlobResource{u}, nil
		},
		Operations: append(sdk.BlobOps[*urlBlobs](), sdk.BlobURLGetOp[*urlBlobs]()),
	})
	return d, u
}

type urlBlobResource struct{ u *urlBlobs }

func (r urlBlobResource) Open(context.Context) (sdk.Instance, error) { return r.u, nil }
func (r urlBlobResource) Close(context.Context) error                { return nil }

// Over the plugin protocol, the whole blob contract holds with gets
// downloaded from the driver's URLs, and none of them streams through the
// plugin.
func TestGetsDownloadFromTheDriversURLsAndKeepTheContract(t *testing.T) {
	d, u := urlBlobDriver(t, "")
	sdktest.RunBlob(t, sdktest.Connect(t, d), sdktest.BlobSuite{Type: "urlblobs", Config: `{}`, Large: 3 << 20})
	// Gets the store cannot answer with bytes (a missing key, a stale
	// etag, an offset past the end, a length of 0) go through the plugin,
	// for the driver's error or answer.
	if u.served.Load() < 10 || u.refused.Load() != 0 {
		t.Errorf("the URLs' server answered %d downloads and refused %d", u.served.Load(), u.refused.Load())
	}
	t.Logf("%d gets downloaded from URLs, %d through the plugin", u.served.Load(), u.gets.Load())
}

func putAndGet(t *testing.T, d sdk.Driver, data []byte, get map[string]any) (*bytes.Buffer, sdk.BlobGetResult, error) {
	t.Helper()
	inst := sdktest.Open(t, sdktest.Connect(t, d), sdk.ConfigureRequest{Type: "urlblobs", Name: "u", Config: json.RawMessage(`{}`)})
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"key":"k"}`)}, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	args, _ := json.Marshal(get)
	out := &bytes.Buffer{}
	raw, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: args}, nil, out)
	var res sdk.BlobGetResult
	if err == nil {
		if err := json.Unmarshal(raw.(json.RawMessage), &res); err != nil {
			t.Fatal(err)
		}
	}
	return out, res, err
}

func TestAGetFromAURLReturnsTheRangeAndItsResult(t *testing.T) {
	d, u := urlBlobDriver(t, "")
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	out, res, err := putAndGet(t, d, data, map[string]any{"key": "k", "offset": 10, "length": 500_000, "checksum": "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data[10:500_010]) || res.Length != 500_000 || res.Size != int64(len(data)) || res.Offset != 10 || res.ETag == "" || res.SHA256 == "" || res.CRC32C == "" {
		t.Fatalf("got %d bytes, result %+v", out.Len(), res)
	}
	if u.gets.Load() != 0 || u.served.Load() != 1 {
		t.Fatalf("%d gets through the plugin, %d downloads: want the download alone", u.gets.Load(), u.served.Load())
	}
}

// A resource that declines to give URLs is asked once; its gets stream
// through the plugin.
func TestAResourceThatGivesNoURLsIsAskedOnce(t *testing.T) {
	d, u := urlBlobDriver(t, "decline")
	inst := sdktest.Open(t, sdktest.Connect(t, d), sdk.ConfigureRequest{Type: "urlblobs", Name: "u", Config: json.RawMessage(`{}`)})
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"key":"k"}`)}, strings.NewReader("abc"), nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		out := &bytes.Buffer{}
		if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"k"}`)}, nil, out); err != nil || out.String() != "abc" {
			t.Fatalf("get: %q, %v", out, err)
		}
	}
	if u.urls.Load() != 1 || u.gets.Load() != 3 {
		t.Fatalf("get_url asked %d times, %d gets through the plugin; want 1 and 3", u.urls.Load(), u.gets.Load())
	}
}

// A URL the caller's side cannot reach costs the get nothing but the
// try: it goes through the plugin.
func TestAGetWhoseURLIsOutOfReachGoesThroughThePlugin(t *testing.T) {
	d, u := urlBlobDriver(t, "unreachable")
	data := []byte(strings.Repeat("x", 5000))
	out, _, err := putAndGet(t, d, data, map[string]any{"key": "k"})
	if err != nil || !bytes.Equal(out.Bytes(), data) || u.gets.Load() != 1 {
		t.Fatalf("get: %d bytes, %v; %d gets through the plugin", out.Len(), err, u.gets.Load())
	}
}

// A download whose connection breaks is a retryable unavailable that says
// where to resume, and holds no part of the URL.
func TestABrokenDownloadSaysWhereToResumeWithoutTheURL(t *testing.T) {
	d, _ := urlBlobDriver(t, "break")
	data := bytes.Repeat([]byte("y"), 1<<20)
	out, _, err := putAndGet(t, d, data, map[string]any{"key": "k"})
	switch {
	case err == nil:
		t.Fatal("a download cut in half succeeded")
	case sdk.KindOf(err) != sdk.KindUnavailable || !sdk.IsRetryable(err):
		t.Fatalf("%v: kind %s, retryable %v", err, sdk.KindOf(err), sdk.IsRetryable(err))
	case !strings.Contains(err.Error(), `get the rest with {"key":"k","offset":`+strconv.Itoa(out.Len())):
		t.Fatalf("after %d bytes: %v", out.Len(), err)
	case strings.Contains(err.Error(), urlSecret) || strings.Contains(err.Error(), "/o/"):
		t.Fatalf("the error holds the URL: %v", err)
	}
}

// A get canceled in the middle of its download ends at once as canceled.
func TestACanceledDownloadIsCanceled(t *testing.T) {
	d, _ := urlBlobDriver(t, "")
	inst := sdktest.Open(t, sdktest.Connect(t, d), sdk.ConfigureRequest{Type: "urlblobs", Name: "u", Config: json.RawMessage(`{}`)})
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"key":"k"}`)}, bytes.NewReader(make([]byte, 4<<20)), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	w := &cancelingWriter{cancel: cancel}
	_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"k"}`)}, nil, w)
	if sdk.KindOf(err) != sdk.KindCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("a get canceled after its first write: %v (kind %s)", err, sdk.KindOf(err))
	}
	if strings.Contains(err.Error(), urlSecret) {
		t.Fatalf("the error holds the URL: %v", err)
	}
}

type cancelingWriter struct{ cancel func() }

func (c *cancelingWriter) Write(p []byte) (int, error) {
	c.cancel()
	return len(p), nil
}

// A whole object whose bytes do not have the CRC32C the backend reports
// is a retryable unavailable: they were damaged on the way.
func TestADownloadWhoseCRC32CDiffersIsUnavailable(t *testing.T) {
	d, u := urlBlobDriver(t, "badcrc")
	_, _, err := putAndGet(t, d, []byte("some bytes"), map[string]any{"key": "k"})
	if sdk.KindOf(err) != sdk.KindUnavailable || !errors.Is(err, sdk.ErrBlobChecksum) && !strings.Contains(err.Error(), "CRC32C") {
		t.Fatalf("a download with another CRC32C: %v (kind %s)", err, sdk.KindOf(err))
	}
	if u.served.Load() != 1 || u.gets.Load() != 0 {
		t.Fatalf("%d downloads, %d gets through the plugin", u.served.Load(), u.gets.Load())
	}
}
