package sdk

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CapabilityBlobURLGet is offered by a blob type whose backend serves an
// object's bytes over plain HTTP from a URL the driver signs (a presigned
// URL): its get_url returns that URL, and the headers to send with it, for
// one get's range and conditions.
//
// A remote driver (the host's view of a plugin) then performs get itself:
// it asks the plugin for the URL and downloads the bytes in the host's own
// process, so that they do not pass through the plugin. Through the
// plugin, every byte is copied four more times, twice by the kernel, and
// a 64 MiB get ran at 44 % of the backend's own client; from the URL it
// runs at the client's speed (docs/PERFORMANCE.md). The driver keeps the
// credentials, the signing and the classification of errors: a download
// that cannot start (the URL is refused, the object is missing or has
// changed, the backend is out of the host's reach) is made again through
// the plugin, whose error the caller gets, so the caller sees the same
// results and errors either way. The URL is a credential until it
// expires: it appears in no error, log or span.
const CapabilityBlobURLGet = "blob_url_get"

// BlobURLGetter is what a driver implements besides [BlobStore] for
// [BlobURLGetOp].
type BlobURLGetter interface {
	// GetBlobURL returns where the bytes of args' range download from,
	// with args' conditions (if_match) in the URL or its headers. A
	// resource that does not serve downloads from URLs (turned off in its
	// configuration) returns ErrBlobNoURL, and gets stream through the
	// plugin.
	GetBlobURL(ctx context.Context, args BlobGetArgs) (BlobURL, error)
}

// ErrBlobNoURL is GetBlobURL's error for a resource that serves no
// downloads from URLs: the host then stops asking it.
var ErrBlobNoURL = &Error{Kind: KindFailedPrecondition, Code: blobNoURLCode, Message: "this resource serves no downloads from URLs"}

// blobNoURLCode marks ErrBlobNoURL on its way from the plugin.
const blobNoURLCode = "blob_no_url"

// BlobURL is get_url's result: a GET of URL with Header downloads the
// range; the answer is 200 or 206 with the bytes (Content-Type,
// Last-Modified, Content-Length and Content-Range are HTTP's).
type BlobURL struct {
	URL    string            `json:"url"`
	Header map[string]string `json:"header,omitempty"`
	// ETagHeader names the answer's header that holds the object's etag,
	// as the driver's etags are, but for the quotes: S3's and Azure's
	// ETag, GCS's X-Goog-Generation.
	ETagHeader string `json:"etag_header"`
	// CRC32CHeader, if set, names a header that holds the object's
	// CRC32C in base64, alone (S3's x-amz-checksum-crc32c) or as the
	// "crc32c=" item of a list (GCS's X-Goog-Hash): a whole object's
	// bytes are checked against it.
	CRC32CHeader string `json:"crc32c_header,omitempty"`
	// MD5Header, if set, names a header that holds the object's MD5 in
	// base64, alone (Azure's Content-MD5) or as the "md5=" item of a list:
	// a whole object's bytes are checked against it, at MD5's cost (about
	// 600 MB/s of a core).
	MD5Header string    `json:"md5_header,omitempty"`
	Expires   time.Time `json:"expires"`
}

// BlobGetHeader is the HTTP headers of a get: its range (Range) and
// if_match (If-Match), for a backend that takes if_match as HTTP's.
func BlobGetHeader(a BlobGetArgs) map[string]string {
	h := map[string]string{}
	if rng := BlobRangeHeader(a); rng != "" {
		h["Range"] = rng
	}
	if a.IfMatch != "" {
		h["If-Match"] = a.IfMatch
	}
	return h
}

// BlobRangeHeader is the HTTP Range header of a get's range, "" for the
// whole object.
func BlobRangeHeader(a BlobGetArgs) string {
	switch {
	case a.Length > 0:
		return fmt.Sprintf("bytes=%d-%d", a.Offset, a.Offset+a.Length-1)
	case a.Offset > 0:
		return fmt.Sprintf("bytes=%d-", a.Offset)
	}
	return ""
}

// BlobURLExpiry is how long a get_url's URL works: it needs only to start
// the download, which then runs as long as it takes.
const BlobURLExpiry = 5 * time.Minute

// BlobURLGetOperations are the operations of CapabilityBlobURLGet.
func BlobURLGetOperations() []Operation {
	return []Operation{
		{Name: "get_url", Description: "Returns a URL, and the headers to send with it, that download an object or a range of it over plain HTTP for a few minutes: the host's get downloads the bytes from it itself rather than through the plugin.", Args: MustSchemaFor(BlobGetArgs{}), Idempotent: true},
	}
}

// BlobURLGetOp returns the operation of CapabilityBlobURLGet for instances
// of type I.
func BlobURLGetOp[I BlobURLGetter]() Op[I] {
	return NewOp("get_url", "", func(i I, ctx context.Context, a BlobGetArgs) (BlobURL, error) {
		return i.GetBlobURL(ctx, a)
	}).Idempotent()
}

// BlobResumeError is the error of a get whose connection broke after n
// bytes of the body: a retryable unavailable that says how to get the
// rest (the arguments of a get that resumes at the next byte, on the
// same object: if_match etag). what names the call, err is the cause.
func BlobResumeError(what string, a BlobGetArgs, n int64, etag string, err error) error {
	rest := struct {
		Key     string `json:"key"`
		Offset  int64  `json:"offset"`
		Length  int64  `json:"length,omitempty"`
		IfMatch string `json:"if_match,omitempty"`
	}{Key: a.Key, Offset: a.Offset + n, IfMatch: etag}
	if a.Length > 0 {
		rest.Length = a.Length - n
	}
	resume, _ := json.Marshal(rest)
	yes := true
	return &Error{Kind: KindUnavailable, Retryable: &yes,
		Message: fmt.Sprintf("%s: the connection broke after %d bytes of the body; get the rest with %s", what, n, resume), Err: err}
}

// urlGetter downloads gets from the URLs a plugin's get_url returns, for
// the remote resources of one plugin start. Its transport is the host's;
// close ends its idle connections.
type urlGetter struct {
	client *http.Client
}

func newURLGetter() *urlGetter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A plugin does not inherit the host's environment, so it reaches its
	// backend without the host's proxy settings: so does the host.
	t.Proxy = nil
	t.MaxIdleConnsPerHost = 64
	// The bytes are what was stored: no gzip negotiated on the way.
	t.DisableCompression = true
	return &urlGetter{client: &http.Client{Transport: t,
		// The URL is the object's, signed for it: a redirect is not
		// followed (and its Location would be another credential).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (g *urlGetter) close() { g.client.CloseIdleConnections() }

// errFallBack is get's answer when the download did not start: the get
// goes through the plugin instead.
var errFallBack = errors.New("get through the plugin")

// get performs a get, on a resource of type typ, whose arguments are raw
// from the URL that getURL returns for them, writing the bytes to out, and
// returns the result as get's. It returns errFallBack, having written
// nothing, when the download did not start, and off when the resource
// declined to give a URL.
func (g *urlGetter) get(ctx context.Context, typ string, raw json.RawMessage, getURL func(ctx context.Context) (json.RawMessage, error), out io.Writer) (res json.RawMessage, off bool, err error) {
	var a BlobGetArgs
	if decodeArgs(raw, &a) != nil || a.Length == 0 {
		// The plugin reports the mistake, or answers a length of 0 with
		// the object's info, which a download would not give.
		return nil, false, errFallBack
	}
	uraw, err := getURL(ctx)
	var u BlobURL
	switch {
	case ctx.Err() != nil:
		return nil, false, contextError(ctx)
	case declined(err):
		return nil, true, errFallBack
	case err != nil, json.Unmarshal(uraw, &u) != nil, !strings.HasPrefix(u.URL, "https://") && !strings.HasPrefix(u.URL, "http://"):
		return nil, false, errFallBack
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return nil, false, errFallBack
	}
	for k, v := range u.Header {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		// Its text holds the URL: it is not kept.
		if ctx.Err() != nil {
			return nil, false, contextError(ctx)
		}
		return nil, false, errFallBack
	}
	defer resp.Body.Close()
	info, ok := urlInfo(resp, a, u)
	if !ok {
		// The driver's get gives the backend's answer its kind.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // the connection is kept when the body is short
		return nil, false, errFallBack
	}
	body := &summingReader{r: resp.Body, sums: newBlobSums(a.Checksum == "sha256")}
	var wantMD5 string
	if u.MD5Header != "" && a.Offset == 0 && a.Length < 0 {
		if wantMD5 = headerHash(resp.Header.Get(u.MD5Header), "md5", md5.Size); wantMD5 != "" {
			body.md5 = md5.New()
		}
	}
	_, cerr := io.Copy(out, body)
	what := typ + " get " + strconv.Quote(a.Key)
	switch {
	case cerr == nil:
	case ctx.Err() != nil:
		return nil, false, contextError(ctx)
	case body.err == nil || !errors.Is(cerr, body.err):
		return nil, false, Errorf(KindCanceled, "writing the stream output: %w", cerr)
	default:
		return nil, false, BlobResumeError(what, a, body.sums.n, info.ETag, body.err)
	}
	if body.md5 != nil {
		if got := hex.EncodeToString(body.md5.Sum(nil)); got != wantMD5 {
			return nil, false, Errorf(KindUnavailable, "%s: %v: the backend reports MD5 %s for bytes whose MD5 is %s", what, ErrBlobChecksum, wantMD5, got)
		}
	}
	result, err := blobGetResult(a, info, body.sums)
	if err != nil {
		return nil, false, err
	}
	enc, err := json.Marshal(result)
	if err != nil {
		return nil, false, Errorf(KindInternal, "%s: encode the result: %v", what, err)
	}
	return enc, false, nil
}

// declined reports whether get_url's error says the resource gives no
// URLs, for good: ErrBlobNoURL, or a plugin without get_url.
func declined(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == blobNoURLCode || e.Kind == KindUnimplemented)
}

// urlInfo reads the object's info off a download's answer; ok is false
// for an answer other than the bytes asked for: another status, no etag,
// or an etag other than if_match's (from a server that ignores the
// condition).
func urlInfo(resp *http.Response, a BlobGetArgs, u BlobURL) (info BlobInfo, ok bool) {
	info = BlobInfo{Key: a.Key, ETag: quoted(resp.Header.Get(u.ETagHeader)), ContentType: resp.Header.Get("Content-Type")}
	if info.ETag == "" || a.IfMatch != "" && quoted(a.IfMatch) != info.ETag {
		return info, false
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.LastModified = t.UTC()
	}
	if u.CRC32CHeader != "" {
		info.CRC32C = headerHash(resp.Header.Get(u.CRC32CHeader), "crc32c", 4)
	}
	ranged := a.Offset > 0 || a.Length > 0
	switch {
	case resp.StatusCode == http.StatusOK && !ranged && resp.ContentLength >= 0:
		info.Size = resp.ContentLength
	case resp.StatusCode == http.StatusPartialContent && ranged:
		// "bytes 0-9/1000": the object's size is after the slash.
		_, total, found := strings.Cut(resp.Header.Get("Content-Range"), "/")
		n, err := strconv.ParseInt(total, 10, 64)
		if !found || err != nil {
			return info, false
		}
		info.Size = n
	default:
		return info, false
	}
	// A range from the end or past it is the driver's invalid_argument,
	// which a server may answer with no bytes.
	return info, a.Offset == 0 || a.Offset < info.Size
}

// quoted is an etag with the quotes HTTP gives it, which GCS's
// generation header lacks; "" stays "".
func quoted(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

// headerHash is the hash named name, of size bytes, in hex, from a header
// that holds it in base64, alone or as a list's "name=" item; "" when it
// holds none.
func headerHash(v, name string, size int) string {
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		// "name=value" names its hash; base64's "=" pads only the end.
		if i := strings.IndexByte(item, '='); i > 0 && i < len(item)-2 {
			if !strings.EqualFold(item[:i], name) {
				continue
			}
			item = item[i+1:]
		}
		if b, err := base64.StdEncoding.DecodeString(item); err == nil && len(b) == size {
			return hex.EncodeToString(b)
		}
	}
	return ""
}

// summingReader sums what it reads, and keeps its error.
type summingReader struct {
	r    io.Reader
	sums *blobSums
	md5  hash.Hash // nil unless the backend reports an MD5 to check
	err  error
}

func (s *summingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.sums.add(p[:n])
	if s.md5 != nil {
		s.md5.Write(p[:n])
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// contextError is the error of a call whose context ended, keeping the
// context's error in the chain so that errors.Is(err,
// context.DeadlineExceeded) holds.
func contextError(ctx context.Context) error {
	kind := KindCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		kind = KindTimeout
	}
	return &Error{Kind: kind, Message: "plugin call ended by the caller", Err: ctx.Err()}
}
