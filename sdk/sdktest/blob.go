package sdktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// BlobSuite describes a resource type with the blob capability for
// [RunBlob].
type BlobSuite struct {
	// Type is the resource type, which lists sdk.CapabilityBlob.
	Type string
	// Config is a configuration of Type, as a JSON object, whose resource
	// may hold objects the suite did not write: every object the suite
	// writes has a key under a prefix of its own, which it removes.
	Config string
	// Large is the size of the object that goes up with its size unknown,
	// in bytes: more than the driver's part size, so that it is uploaded
	// in parts (default 12 MiB).
	Large int64
	// Timeout bounds each call (default 60s).
	Timeout time.Duration
}

// RunBlob checks the contract of the blob capability (sdk.BlobOperations)
// on d: put and get of any size with their checksums, ranges, stat, list
// with prefixes, delimiters and pages, delete, copy, conditional writes, a
// put whose bytes do not match the SHA-256 sent or whose stream breaks
// leaving no object, where the type lists sdk.CapabilityBlobURLGet the
// URLs of get_url, and where it lists sdk.CapabilityBlobPresign presigned
// URLs, both used with net/http. Run it against the driver in process
// ([Connect]) and as a binary ([Start]).
func RunBlob(t *testing.T, d sdk.Driver, s BlobSuite) {
	if s.Large <= 0 {
		s.Large = 12 << 20
	}
	if s.Timeout <= 0 {
		s.Timeout = 60 * time.Second
	}
	typ, ok := d.Info().Type(s.Type)
	if !ok || !slices.Contains(typ.Capabilities, sdk.CapabilityBlob) {
		t.Fatalf("driver %q has no type %q with the blob capability", d.Info().Name, s.Type)
	}
	inst := Open(t, d, sdk.ConfigureRequest{Type: s.Type, Name: "blob-conformance", Config: json.RawMessage(s.Config)})
	b := &blobT{inst: inst, timeout: s.Timeout, prefix: "nebula-conformance-" + hex.EncodeToString(randomBytes(t, 6)) + "/"}
	t.Cleanup(func() { b.removeAll(t) })

	t.Run("PutAndGetOfAnySize", func(t *testing.T) {
		for _, n := range []int{0, 1, 1000, 1 << 20} {
			data := randomBytes(t, n)
			key := b.key(fmt.Sprintf("sizes/%d", n))
			put := b.put(t, key, data, map[string]any{"size": n, "checksum": "sha256"})
			b.checkSums(t, "put", put.SHA256, put.CRC32C, data)
			if put.Size != int64(n) || put.Key != key {
				t.Errorf("put of %d bytes = %+v", n, put)
			}
			got, res := b.get(t, key, map[string]any{"checksum": "sha256"})
			if !bytes.Equal(got, data) {
				t.Fatalf("get of a %d-byte object gave %d bytes, not those put", n, len(got))
			}
			b.checkSums(t, "get", res.SHA256, res.CRC32C, data)
			if res.Size != int64(n) || res.Length != int64(n) || res.ETag == "" || res.ETag != put.ETag {
				t.Errorf("get result %+v after put %+v", res, put)
			}
		}
	})

	t.Run("TheDefaultChecksumIsCRC32COnly", func(t *testing.T) {
		data := randomBytes(t, 3000)
		key := b.key("crc32c-only")
		put := b.put(t, key, data, nil)
		_, res := b.get(t, key, nil)
		for op, sums := range map[string][2]string{"put": {put.SHA256, put.CRC32C}, "get": {res.SHA256, res.CRC32C}} {
			if sums[0] != "" {
				t.Errorf("%s without checksum \"sha256\" returned a SHA-256: %s", op, sums[0])
			}
			if want := crc32cOf(data); sums[1] != want {
				t.Errorf("%s: crc32c %s, want %s", op, sums[1], want)
			}
		}
		if _, err := b.putStream(t, key, bytes.NewReader(data), map[string]any{"checksum": "md5"}); sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("put with checksum \"md5\": %v, want invalid_argument", err)
		}
	})

	t.Run("ALargeObjectOfUnknownSizeGoesUpInParts", func(t *testing.T) {
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(rand.Reader, s.Large), h)
		key := b.key("large")
		put, err := b.putStream(t, key, src, map[string]any{"checksum": "sha256"})
		if err != nil {
			t.Fatalf("put of %d bytes: %v", s.Large, err)
		}
		want := hex.EncodeToString(h.Sum(nil))
		if put.Size != s.Large || put.SHA256 != want {
			t.Fatalf("put = %+v, want %d bytes with SHA-256 %s", put, s.Large, want)
		}
		g := sha256.New()
		res, err := b.getStream(t, map[string]any{"key": key, "checksum": "sha256"}, g)
		if err != nil || hex.EncodeToString(g.Sum(nil)) != want || res.SHA256 != want {
			t.Fatalf("get: %v; result %+v; want SHA-256 %s", err, res, want)
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		data := randomBytes(t, 1000)
		key := b.key("ranges")
		b.put(t, key, data, nil)
		for _, r := range []struct{ off, n, from, to int64 }{
			{0, 10, 0, 10}, {990, -1, 990, 1000}, {500, 100, 500, 600}, {995, 100, 995, 1000}, {999, 1, 999, 1000},
		} {
			got, res := b.get(t, key, map[string]any{"offset": r.off, "length": r.n})
			if !bytes.Equal(got, data[r.from:r.to]) || res.Offset != r.off || res.Length != r.to-r.from || res.Size != 1000 {
				t.Errorf("range offset %d length %d: %d bytes, result %+v; want bytes %d to %d", r.off, r.n, len(got), res, r.from, r.to)
			}
		}
		_, err := b.getStream(t, map[string]any{"key": key, "offset": 1000}, io.Discard)
		wantKind(t, "a range that starts at the end", err, sdk.KindInvalidArgument)
	})

	t.Run("Stat", func(t *testing.T) {
		key := b.key("stat/report.csv")
		put := b.put(t, key, []byte("a,b\n1,2\n"), map[string]any{"content_type": "text/csv", "metadata": map[string]string{"owner": "ada", "run-id": "7"}})
		info, err := call[sdk.BlobInfo](b, t, "stat", map[string]any{"key": key})
		if err != nil {
			t.Fatal(err)
		}
		if info.Key != key || info.Size != 8 || info.ETag != put.ETag || !strings.HasPrefix(info.ContentType, "text/csv") ||
			info.Metadata["owner"] != "ada" || info.Metadata["run-id"] != "7" || time.Since(info.LastModified) > time.Hour {
			t.Errorf("stat = %+v after put %+v", info, put)
		}
		_, err = call[sdk.BlobInfo](b, t, "stat", map[string]any{"key": b.key("stat/absent")})
		wantKind(t, "stat of an absent key", err, sdk.KindNotFound)
		_, err = b.getStream(t, map[string]any{"key": b.key("stat/absent")}, io.Discard)
		wantKind(t, "get of an absent key", err, sdk.KindNotFound)
	})

	t.Run("ListWithPrefixesAndPages", func(t *testing.T) {
		keys := []string{"list/a/1", "list/a/2", "list/a/b/3", "list/a/b/4", "list/c"}
		for _, k := range keys {
			b.put(t, b.key(k), []byte(k), nil)
		}
		page, err := call[sdk.BlobListResult](b, t, "list", map[string]any{"prefix": b.key("list/a/"), "delimiter": "/"})
		if err != nil {
			t.Fatal(err)
		}
		if got := objectKeys(page); !slices.Equal(got, []string{b.key("list/a/1"), b.key("list/a/2")}) ||
			!slices.Equal(page.Prefixes, []string{b.key("list/a/b/")}) || page.Token != "" {
			t.Errorf("list a/ with delimiter: objects %q, prefixes %q, token %q", got, page.Prefixes, page.Token)
		}
		var all []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > len(keys) {
				t.Fatalf("list with limit 2 has not ended after %d pages", pages)
			}
			page, err := call[sdk.BlobListResult](b, t, "list", map[string]any{"prefix": b.key("list/"), "limit": 2, "token": token})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Objects) > 2 {
				t.Fatalf("a page of limit 2 holds %d objects", len(page.Objects))
			}
			all = append(all, objectKeys(page)...)
			if token = page.Token; token == "" {
				break
			}
		}
		want := make([]string, len(keys))
		for i, k := range keys {
			want[i] = b.key(k)
		}
		if !slices.Equal(all, want) {
			t.Errorf("list in pages of 2 = %q, want %q", all, want)
		}
	})

	t.Run("DeleteManyAndAbsent", func(t *testing.T) {
		k1, k2 := b.key("delete/1"), b.key("delete/2")
		b.put(t, k1, []byte("1"), nil)
		b.put(t, k2, []byte("2"), nil)
		res, err := call[sdk.BlobDeleteResult](b, t, "delete", map[string]any{"keys": []string{k1, k2, b.key("delete/absent")}})
		if err != nil || res.Count != 3 {
			t.Fatalf("delete = %+v, %v", res, err)
		}
		for _, k := range []string{k1, k2} {
			_, err := call[sdk.BlobInfo](b, t, "stat", map[string]any{"key": k})
			wantKind(t, "stat after delete", err, sdk.KindNotFound)
		}
	})

	t.Run("Copy", func(t *testing.T) {
		from, to := b.key("copy/from"), b.key("copy/to")
		data := randomBytes(t, 4096)
		b.put(t, from, data, map[string]any{"content_type": "application/x-test"})
		info, err := call[sdk.BlobInfo](b, t, "copy", map[string]any{"from": from, "to": to})
		if err != nil || info.Key != to || info.Size != 4096 {
			t.Fatalf("copy = %+v, %v", info, err)
		}
		if got, _ := b.get(t, to, nil); !bytes.Equal(got, data) {
			t.Fatal("the copy's bytes differ")
		}
		_, err = call[sdk.BlobInfo](b, t, "copy", map[string]any{"from": from, "to": to, "if_none_match": "*"})
		wantKind(t, "copy onto a present key with if_none_match", err, sdk.KindAlreadyExists)
		_, err = call[sdk.BlobInfo](b, t, "copy", map[string]any{"from": b.key("copy/absent"), "to": to})
		wantKind(t, "copy of an absent key", err, sdk.KindNotFound)
	})

	t.Run("ConditionalWrites", func(t *testing.T) {
		key := b.key("conditional")
		first := b.put(t, key, []byte("one"), map[string]any{"if_none_match": "*"})
		_, err := b.putStream(t, key, strings.NewReader("two"), map[string]any{"if_none_match": "*"})
		wantKind(t, "put with if_none_match onto a present key", err, sdk.KindAlreadyExists)
		_, err = b.putStream(t, key, strings.NewReader("two"), map[string]any{"if_match": `"not-its-etag"`})
		wantKind(t, "put with another etag's if_match", err, sdk.KindFailedPrecondition)
		second := b.put(t, key, []byte("two"), map[string]any{"if_match": first.ETag})
		if second.ETag == first.ETag {
			t.Errorf("the etag did not change with the bytes: %s", first.ETag)
		}
		_, err = b.getStream(t, map[string]any{"key": key, "if_match": first.ETag}, io.Discard)
		wantKind(t, "get with an old etag's if_match", err, sdk.KindFailedPrecondition)
		if got, _ := b.get(t, key, map[string]any{"if_match": second.ETag}); string(got) != "two" {
			t.Errorf("get with the current etag = %q", got)
		}
	})

	t.Run("APutThatFailsLeavesWhatWasThere", func(t *testing.T) {
		key := b.key("failed-put")
		b.put(t, key, []byte("kept"), nil)
		wrong := strings.Repeat("0", 64)
		_, err := b.putStream(t, key, strings.NewReader("other bytes"), map[string]any{"sha256": wrong})
		wantKind(t, "put with a SHA-256 its bytes do not have", err, sdk.KindInvalidArgument)
		broken := io.MultiReader(io.LimitReader(rand.Reader, 6<<20), &failingReader{})
		_, err = b.putStream(t, key, broken, nil)
		if err == nil {
			t.Error("put from a stream that broke succeeded")
		}
		if got, _ := b.get(t, key, nil); string(got) != "kept" {
			t.Errorf("after two failed puts the object holds %d bytes, not the ones it had", len(got))
		}
		absent := b.key("failed-put/new")
		_, err = b.putStream(t, absent, io.MultiReader(io.LimitReader(rand.Reader, 6<<20), &failingReader{}), nil)
		if err == nil {
			t.Error("put from a stream that broke succeeded")
		}
		_, err = call[sdk.BlobInfo](b, t, "stat", map[string]any{"key": absent})
		wantKind(t, "stat after a failed put of a new key", err, sdk.KindNotFound)
	})

	t.Run("MistakesAreInvalidArguments", func(t *testing.T) {
		for _, m := range []struct {
			op   string
			args map[string]any
		}{
			{"stat", map[string]any{"key": ""}},
			{"stat", map[string]any{"key": "/abs"}},
			{"list", map[string]any{"limit": 0}},
			{"list", map[string]any{"delimiter": ","}},
			{"delete", map[string]any{"keys": []string{}}},
			{"copy", map[string]any{"from": "a", "to": "a"}},
		} {
			_, err := call[json.RawMessage](b, t, m.op, m.args)
			wantKind(t, fmt.Sprintf("%s %v", m.op, m.args), err, sdk.KindInvalidArgument)
		}
	})

	if slices.Contains(typ.Capabilities, sdk.CapabilityBlobURLGet) {
		t.Run("GetURLsDownloadTheRangeOnTheirConditions", func(t *testing.T) { b.getURLs(t) })
	}
	if !slices.Contains(typ.Capabilities, sdk.CapabilityBlobPresign) {
		return
	}
	t.Run("PresignedURLs", func(t *testing.T) {
		key := b.key("presigned/file.bin")
		data := randomBytes(t, 2048)
		up, err := call[sdk.BlobPresignResult](b, t, "presign", map[string]any{"key": key, "method": "put", "expires": "5m", "content_type": "application/octet-stream"})
		if err != nil {
			t.Fatal(err)
		}
		if time.Until(up.Expires) < 4*time.Minute || time.Until(up.Expires) > 6*time.Minute {
			t.Errorf("a 5m URL expires at %v", up.Expires)
		}
		if up.Method != http.MethodPut {
			t.Fatalf("presign put: method %q, want %q: the method an HTTP client sends as it is", up.Method, http.MethodPut)
		}
		req, err := http.NewRequestWithContext(t.Context(), up.Method, up.URL, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatalf("PUT to the presigned URL: %v", err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("PUT to the presigned URL: %s: %s", resp.Status, body)
			}
		}
		down, err := call[sdk.BlobPresignResult](b, t, "presign", map[string]any{"key": key})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(down.URL)
		if err != nil {
			t.Fatalf("GET of the presigned URL: %v", err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
			t.Fatalf("GET of the presigned URL: %s, %d bytes", resp.Status, len(got))
		}
	})
}

// getURLs checks get_url (sdk.CapabilityBlobURLGet): its URL and headers
// download the range asked for, with the object's etag in the header it
// names, and a GET on an if_match that no longer holds is refused.
func (b *blobT) getURLs(t *testing.T) {
	key := b.key("url-get/file.bin")
	data := randomBytes(t, 3000)
	put := b.put(t, key, data, nil)
	fetch := func(args map[string]any) (*http.Response, []byte, sdk.BlobURL) {
		t.Helper()
		u, err := call[sdk.BlobURL](b, t, "get_url", args)
		if errors.Is(err, sdk.ErrBlobNoURL) || sdk.KindOf(err) == sdk.KindFailedPrecondition {
			t.Skipf("%v", err)
		}
		if err != nil {
			t.Fatalf("get_url %v: %v", args, err)
		}
		if time.Until(u.Expires) <= 0 || u.ETagHeader == "" {
			t.Fatalf("get_url %v: expires %v, etag_header %q", args, u.Expires, u.ETagHeader)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range u.Header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET of get_url's URL: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, body, u
	}
	resp, body, u := fetch(map[string]any{"key": key})
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) || !sameETag(resp.Header.Get(u.ETagHeader), put.ETag) {
		t.Errorf("GET of the whole object: %s, %d bytes, %s %q (put's etag %q)", resp.Status, len(body), u.ETagHeader, resp.Header.Get(u.ETagHeader), put.ETag)
	}
	resp, body, _ = fetch(map[string]any{"key": key, "offset": 100, "length": 500, "if_match": put.ETag})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:600]) {
		t.Errorf("GET of bytes 100 to 599 on the etag: %s, %d bytes", resp.Status, len(body))
	}
	// A server may ignore the condition; the caller's side then finds
	// another etag in the answer, and gets through the plugin.
	b.put(t, key, randomBytes(t, 10), nil)
	if resp, _, _ = fetch(map[string]any{"key": key, "if_match": put.ETag}); resp.StatusCode/100 == 2 && sameETag(resp.Header.Get(u.ETagHeader), put.ETag) {
		t.Errorf("GET on the etag of a replaced object: %s with that etag", resp.Status)
	}
}

// sameETag reports whether an etag header's value is etag, HTTP's quotes
// aside (GCS's generation header has none).
func sameETag(header, etag string) bool {
	return header != "" && strings.Trim(header, `"`) == strings.Trim(etag, `"`)
}

// blobT is the suite's view of the instance under test.
type blobT struct {
	inst    *Instance
	timeout time.Duration
	prefix  string // of every key the suite writes
}

func (b *blobT) key(name string) string { return b.prefix + name }

func (b *blobT) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), b.timeout)
	t.Cleanup(cancel)
	return ctx
}

func with(args map[string]any, more map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range more {
		out[k] = v
	}
	for k, v := range args {
		out[k] = v
	}
	return out
}

func (b *blobT) putStream(t *testing.T, key string, body io.Reader, extra map[string]any) (sdk.BlobPutResult, error) {
	t.Helper()
	raw, _ := json.Marshal(with(map[string]any{"key": key}, extra))
	out, err := b.inst.InvokeStream(b.ctx(t), sdk.InvokeRequest{Operation: "put", Args: raw}, body, io.Discard)
	if err != nil {
		return sdk.BlobPutResult{}, err
	}
	return decodeResult[sdk.BlobPutResult](t, "put", out), nil
}

func (b *blobT) put(t *testing.T, key string, data []byte, extra map[string]any) sdk.BlobPutResult {
	t.Helper()
	res, err := b.putStream(t, key, bytes.NewReader(data), extra)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return res
}

func (b *blobT) getStream(t *testing.T, args map[string]any, w io.Writer) (sdk.BlobGetResult, error) {
	t.Helper()
	raw, _ := json.Marshal(args)
	out, err := b.inst.InvokeStream(b.ctx(t), sdk.InvokeRequest{Operation: "get", Args: raw}, nil, w)
	if err != nil {
		return sdk.BlobGetResult{}, err
	}
	return decodeResult[sdk.BlobGetResult](t, "get", out), nil
}

func (b *blobT) get(t *testing.T, key string, extra map[string]any) ([]byte, sdk.BlobGetResult) {
	t.Helper()
	var buf bytes.Buffer
	res, err := b.getStream(t, with(map[string]any{"key": key}, extra), &buf)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return buf.Bytes(), res
}

func call[R any](b *blobT, t *testing.T, op string, args any) (R, error) {
	t.Helper()
	raw, _ := json.Marshal(args)
	out, err := b.inst.Invoke(b.ctx(t), sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		var zero R
		return zero, err
	}
	return decodeResult[R](t, op, out), nil
}

// decodeResult reads an operation's result, a value of the driver's or,
// over the wire, its JSON, as an R.
func decodeResult[R any](t *testing.T, op string, out any) R {
	t.Helper()
	raw, ok := out.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(out); err != nil {
			t.Fatalf("%s: result %T: %v", op, out, err)
		}
	}
	var r R
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: result %s: %v", op, raw, err)
	}
	return r
}

func (b *blobT) checkSums(t *testing.T, op, sha, crc string, data []byte) {
	t.Helper()
	want := sha256.Sum256(data)
	if sha != hex.EncodeToString(want[:]) {
		t.Errorf("%s of %d bytes: sha256 %s, want %x", op, len(data), sha, want)
	}
	if want := crc32cOf(data); crc != want {
		t.Errorf("%s of %d bytes: crc32c %s, want %s", op, len(data), crc, want)
	}
}

// crc32cOf returns data's CRC32C as the results write it.
func crc32cOf(data []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
}

// removeAll deletes what the suite wrote.
func (b *blobT) removeAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	for token := ""; ; {
		raw, _ := json.Marshal(map[string]any{"prefix": b.prefix, "token": token})
		out, err := b.inst.Invoke(ctx, sdk.InvokeRequest{Operation: "list", Args: raw})
		if err != nil {
			t.Errorf("cleaning up %s: %v", b.prefix, err)
			return
		}
		page := decodeResult[sdk.BlobListResult](t, "list", out)
		if keys := objectKeys(page); len(keys) > 0 {
			raw, _ := json.Marshal(map[string]any{"keys": keys})
			if _, err := b.inst.Invoke(ctx, sdk.InvokeRequest{Operation: "delete", Args: raw}); err != nil {
				t.Errorf("cleaning up %s: %v", b.prefix, err)
				return
			}
		}
		if token = page.Token; token == "" {
			return
		}
	}
}

func objectKeys(p sdk.BlobListResult) []string {
	keys := make([]string, len(p.Objects))
	for i, o := range p.Objects {
		keys[i] = o.Key
	}
	return keys
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantKind(t *testing.T, what string, err error, kind sdk.Kind) {
	t.Helper()
	if sdk.KindOf(err) != kind {
		t.Errorf("%s: %v (kind %q), want kind %q", what, err, sdk.KindOf(err), kind)
	}
}

// failingReader is a stream that breaks.
type failingReader struct{}

var errBroken = errors.New("the caller's stream broke")

func (*failingReader) Read([]byte) (int, error) { return 0, errBroken }
