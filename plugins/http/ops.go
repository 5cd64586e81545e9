package httpclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/nebula-resource/nebula-resource/plugins/http/transport"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// requestArgs are the arguments of request, and of fetch with its body.
type requestArgs struct {
	Method         string              `nebula:"method" default:"GET" doc:"HTTP method, in upper case: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or any other token. GET, HEAD, PUT, DELETE and OPTIONS may be retried by the host; other methods only with idempotency_key."`
	Path           string              `nebula:"path" default:"" doc:"Path relative to base_url (\"/v1/items\" or \"v1/items\", appended to base_url's path), with an optional query; an absolute URL only to base_url's scheme and host."`
	Query          map[string][]string `nebula:"query" default:"{}" doc:"Query parameters, name to values ({\"tag\": [\"a\", \"b\"]}), added to the path's own."`
	Headers        map[string]string   `nebula:"headers" default:"{}" doc:"Request headers, name to value; they override the resource's default headers (an Authorization header here replaces the resource's credentials). Host sets the Host header; hop-by-hop headers are refused."`
	IdempotencyKey string              `nebula:"idempotency_key" default:"" doc:"Sent as the Idempotency-Key header; a call that sets it may be retried by the host whatever its method (the server must deduplicate by the key)."`
	ExpectStatus   []int               `nebula:"expect_status" default:"[]" doc:"Statuses that count as success; empty means any status below 400. Any other status fails the call (a status of 400 or more with its kind, another with failed_precondition)."`
}

// hopByHop are the headers a call may not set: the client manages them.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// Validate checks the arguments; its errors name the argument.
func (a *requestArgs) Validate() error {
	if a.Method == "" || !httpguts.ValidHeaderFieldName(a.Method) {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %s is not an HTTP method (a token such as GET or POST)", "method", sdk.QuoteShort(a.Method))
	}
	if up := strings.ToUpper(a.Method); up != a.Method {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %s is not in upper case: write %q", "method", sdk.QuoteShort(a.Method), up)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Headers)) {
		v := a.Headers[k]
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %s is not a valid header name", "headers", sdk.QuoteShort(k))
		case !httpguts.ValidHeaderFieldValue(v):
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: the value of %s holds a control character (CR, LF or NUL)", "headers", sdk.QuoteShort(k))
		case slices.Contains(hopByHop, ck):
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %s is a hop-by-hop header, which the client manages", "headers", ck)
		case ck == "Idempotency-Key" && a.IdempotencyKey != "":
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: set the key with idempotency_key alone, not also as the Idempotency-Key header", "headers")
		case ck == "Content-Length":
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
				return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: Content-Length %s is not a byte count", "headers", sdk.QuoteShort(v))
			}
		}
	}
	if !httpguts.ValidHeaderFieldValue(a.IdempotencyKey) {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: holds a control character (CR, LF or NUL)", "idempotency_key")
	}
	for _, s := range a.ExpectStatus {
		if s < 100 || s > 599 {
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %d is not an HTTP status (100 to 599)", "expect_status", s)
		}
	}
	for k := range a.Query {
		if k == "" {
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: a parameter without a name", "query")
		}
	}
	return nil
}

// fetchArgs are the arguments of fetch.
type fetchArgs struct {
	requestArgs
	Body       string `nebula:"body" default:"" doc:"Request body, as text; \"\" sends none. Not with body_base64."`
	BodyBase64 string `nebula:"body_base64" default:"" doc:"Request body, base64 (standard alphabet, padded) for bytes that are not text. Not with body."`
}

// Validate checks the arguments and decodes body_base64.
func (a *fetchArgs) Validate() error {
	if err := a.requestArgs.Validate(); err != nil {
		return err
	}
	if a.Body != "" && a.BodyBase64 != "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: set body or body_base64, not both", "body_base64")
	}
	if _, err := base64.StdEncoding.DecodeString(a.BodyBase64); err != nil {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: not base64 (standard alphabet, padded): %v", "body_base64", err)
	}
	for k := range a.Headers {
		if textproto.CanonicalMIMEHeaderKey(k) == "Content-Length" {
			return sdk.Errorf(sdk.KindInvalidArgument, "argument %q: fetch sets Content-Length from the body", "headers")
		}
	}
	return nil
}

// response is what a request's result tells of its response.
type response struct {
	Status     int                 `json:"status"`
	StatusText string              `json:"status_text"`
	Proto      string              `json:"proto"`
	Headers    map[string][]string `json:"headers"`
	// ContentLength is the length the response announced, if it did.
	ContentLength *int64 `json:"content_length,omitempty"`
	// Bytes is how many bytes of body the call returned.
	Bytes int64 `json:"bytes"`
}

func responseOf(resp *http.Response) response {
	r := response{
		Status: resp.StatusCode, StatusText: http.StatusText(resp.StatusCode), Proto: resp.Proto,
		Headers: map[string][]string(resp.Header),
	}
	if resp.ContentLength >= 0 {
		n := resp.ContentLength
		r.ContentLength = &n
	}
	if r.Headers == nil {
		r.Headers = map[string][]string{}
	}
	return r
}

// fetchResult is the result of fetch.
type fetchResult struct {
	response
	// Body is the response body when it is UTF-8 text, "" otherwise.
	Body string `json:"body"`
	// BodyBase64 is the response body in base64 when it is not UTF-8.
	BodyBase64 string `json:"body_base64,omitempty"`
}

// newRequest builds the request of a call, with body (nil for none) of
// length bytes (-1 when unknown).
func (i *Instance) newRequest(ctx context.Context, a *requestArgs, body io.Reader, length int64) (*http.Request, error) {
	u, err := i.client.Resolve(a.Path, url.Values(a.Query))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, a.Method, u.String(), body)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %v", "path", err)
	}
	for k, v := range a.Headers {
		switch textproto.CanonicalMIMEHeaderKey(k) {
		case "Host":
			req.Host = v
		case "Content-Length":
			length, _ = strconv.ParseInt(v, 10, 64)
		default:
			req.Header.Set(k, v)
		}
	}
	if a.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", a.IdempotencyKey)
	}
	if body != nil {
		req.ContentLength = length
		if length == 0 {
			req.Body, req.GetBody = http.NoBody, nil
		}
	}
	return req, nil
}

// do sends req and returns its response once its status is one the call
// accepts; otherwise the error of the status, with an excerpt of the body.
func (i *Instance) do(ctx context.Context, req *http.Request, expect []int) (*http.Response, error) {
	resp, err := i.client.HTTP().Do(req)
	if err != nil {
		return nil, i.client.RequestError(ctx, req.Method, req.URL, err)
	}
	ok := resp.StatusCode < 400
	if len(expect) > 0 {
		ok = slices.Contains(expect, resp.StatusCode)
	}
	if ok {
		return resp, nil
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err := i.client.StatusError(resp, excerpt); err != nil {
		return nil, err
	}
	return nil, sdk.Errorf(sdk.KindFailedPrecondition, "%s %s: status %d is not one of expect_status %v", req.Method, transport.RedactURL(req.URL), resp.StatusCode, expect)
}

// request streams the call's input out as the request body and the
// response body back as the call's output.
func (i *Instance) request(ctx context.Context, a requestArgs, in io.Reader, out io.Writer) (response, error) {
	body, err := peekBody(in)
	if err != nil {
		return response{}, sdk.WrapError(sdk.KindCanceled, err, "reading the request body from the call's input")
	}
	req, err := i.newRequest(ctx, &a, body, -1)
	if err != nil {
		return response{}, err
	}
	resp, err := i.do(ctx, req, a.ExpectStatus)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	res := responseOf(resp)
	src := &errReader{r: resp.Body}
	// Plain Reader and Writer, so that the copy goes through buf: one
	// chunk of at most its size per Write.
	n, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{src}, make([]byte, 32<<10))
	res.Bytes = n
	switch {
	case src.err != nil:
		return res, i.client.RequestError(ctx, req.Method, req.URL, fmt.Errorf("reading the response body after %d bytes: %w", n, src.err))
	case err != nil:
		return res, err
	}
	return res, nil
}

// errReader remembers the error of its reader, other than io.EOF, to
// tell a failing response from a failing output.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// peekBody returns nil for an input that ends at once (a request without
// a body), and a reader of all of it otherwise.
func peekBody(in io.Reader) (io.Reader, error) {
	if in == nil {
		return nil, nil
	}
	br := bufio.NewReaderSize(in, 32<<10)
	if _, err := br.Peek(1); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	return br, nil
}

// fetch sends the request with its body from the arguments and returns
// the response with its body, up to max_response_bytes.
func (i *Instance) fetch(ctx context.Context, a fetchArgs) (fetchResult, error) {
	var body io.Reader
	var length int64
	switch {
	case a.Body != "":
		body, length = strings.NewReader(a.Body), int64(len(a.Body))
	case a.BodyBase64 != "":
		b, _ := base64.StdEncoding.DecodeString(a.BodyBase64) // Validate checked it
		body, length = bytes.NewReader(b), int64(len(b))
	}
	req, err := i.newRequest(ctx, &a.requestArgs, body, length)
	if err != nil {
		return fetchResult{}, err
	}
	resp, err := i.do(ctx, req, a.ExpectStatus)
	if err != nil {
		return fetchResult{}, err
	}
	defer resp.Body.Close()
	limit := i.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		return fetchResult{}, i.tooLarge(req)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fetchResult{}, i.client.RequestError(ctx, req.Method, req.URL, fmt.Errorf("reading the response body: %w", err))
	}
	if int64(len(b)) > limit {
		return fetchResult{}, i.tooLarge(req)
	}
	res := fetchResult{response: responseOf(resp)}
	res.Bytes = int64(len(b))
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.BodyBase64 = base64.StdEncoding.EncodeToString(b)
	}
	return res, nil
}

func (i *Instance) tooLarge(req *http.Request) error {
	return sdk.Errorf(sdk.KindFailedPrecondition, "%s %s: the response body is larger than max_response_bytes (%d bytes): call the request operation, which streams it, or raise max_response_bytes",
		req.Method, transport.RedactURL(req.URL), i.cfg.MaxResponseBytes)
}

// Check requests health_path, when it is set, and reports an error for a
// status of 400 or more; without health_path it checks nothing.
func (i *Instance) Check(ctx context.Context) error {
	if i.cfg.HealthPath == "" {
		return nil
	}
	req, err := i.newRequest(ctx, &requestArgs{Method: i.cfg.HealthMethod, Path: i.cfg.HealthPath}, nil, 0)
	if err != nil {
		return err
	}
	resp, err := i.do(ctx, req, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil && !errors.Is(err, io.EOF) {
		return i.client.RequestError(ctx, req.Method, req.URL, err)
	}
	return nil
}
