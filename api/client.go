package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody bounds how much of an error answer the client reads: the
// endpoint's error bodies are a few KiB at most.
const maxErrorBody = 64 << 10

// Client calls the admin endpoint of one host. Its methods are safe for
// concurrent use; each takes a context that bounds and cancels the call.
// Close it when done with it.
type Client struct {
	// base is the endpoint's URL without a trailing slash:
	// http://127.0.0.1:9464, or a proxy's https://proxy/prefix.
	base    string
	hc      *http.Client
	timeout time.Duration
	// auth is the Authorization header's value, behind a pointer so that
	// printing a Client (%+v) shows an address, not the token.
	auth *string
	// owned is the transport NewClient made, whose idle connections
	// Close closes; nil with WithHTTPClient.
	owned *http.Transport
}

// settings are what the options set.
type settings struct {
	hc      *http.Client
	tls     *tls.Config
	token   string
	timeout time.Duration
	// caFile and certFile, keyFile are WithCAFile's and
	// WithClientCertificate's files, read by NewClient.
	caFile, certFile, keyFile string
}

// Option configures a Client.
type Option func(*settings)

// WithHTTPClient makes the client send every request with hc, its
// transport, proxies and redirects; nil means a client of the client's
// own. hc.Timeout, when set, bounds streams as a whole too: prefer
// WithTimeout. It cannot be combined with WithTLSConfig: set the TLS
// configuration on hc's transport instead.
func WithHTTPClient(hc *http.Client) Option { return func(s *settings) { s.hc = hc } }

// WithTLSConfig makes the client speak HTTPS with cfg: the certificate
// authorities to trust, and a client certificate where the other end asks
// for one (mutual TLS), for an endpoint whose admin block has a tls block,
// or one behind a proxy that terminates TLS. An address without a scheme
// then means https://. WithCAFile and WithClientCertificate add to a copy
// of cfg.
func WithTLSConfig(cfg *tls.Config) Option { return func(s *settings) { s.tls = cfg } }

// WithCAFile makes the client speak HTTPS and trust the certificate
// authorities in the PEM file at path, instead of the system's, to verify
// the endpoint's certificate: the authority that signed the cert_file of
// the admin block's tls block. NewClient reads the file.
func WithCAFile(path string) Option { return func(s *settings) { s.caFile = path } }

// WithClientCertificate makes the client speak HTTPS and present the
// certificate chain and private key in the PEM files certFile and keyFile
// when the endpoint asks for one: mutual TLS, for an identity whose
// client_cert_names name the certificate. NewClient reads the files.
func WithClientCertificate(certFile, keyFile string) Option {
	return func(s *settings) { s.certFile, s.keyFile = certFile, keyFile }
}

// WithBearerToken sends "Authorization: Bearer TOKEN" with every request:
// the token of one of the identities of the endpoint's admin block (whose
// token_sha256 is the token's SHA-256), or of a reverse proxy in front of
// it that authenticates callers. Send it over HTTPS (WithTLSConfig,
// WithCAFile or an https:// address) unless the endpoint is on loopback.
// The token never appears in an error.
func WithBearerToken(token string) Option { return func(s *settings) { s.token = token } }

// WithTimeout bounds each call: a call's whole exchange, and a stream's
// wait for its answer once its input has been sent (a stream that has
// begun may then run as long as its context lets it). Zero, the default,
// leaves the bound to each call's context.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// NewClient returns a client of the admin endpoint at addr: host:port as
// nebula-host call -addr takes it (127.0.0.1:9464), or a URL with the
// scheme http or https and an optional path prefix, for an endpoint behind
// a proxy (https://nebula.example/admin). Empty means DefaultAddress.
// Credentials do not belong in the address: see WithBearerToken.
func NewClient(addr string, opts ...Option) (*Client, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	tlsFiles := s.caFile != "" || s.certFile != "" || s.keyFile != ""
	if s.hc != nil && (s.tls != nil || tlsFiles) {
		return nil, fmt.Errorf("%w: WithTLSConfig, WithCAFile or WithClientCertificate with WithHTTPClient; set TLSClientConfig on the http.Client's transport", ErrInvalidConfig)
	}
	if tlsFiles {
		cfg, err := tlsFromFiles(s.tls, s.caFile, s.certFile, s.keyFile)
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("%w: WithTimeout(%v) is negative", ErrInvalidConfig, s.timeout)
	}
	if strings.ContainsFunc(s.token, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("%w: the bearer token holds a control character", ErrInvalidConfig)
	}
	base, err := baseURL(addr, s.tls != nil)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, hc: s.hc, timeout: s.timeout}
	if c.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = s.tls
		c.owned = t
		c.hc = &http.Client{Transport: t}
	}
	if s.token != "" {
		h := "Bearer " + s.token
		c.auth = &h
	}
	return c, nil
}

// tlsFromFiles returns a copy of base (a new configuration when nil) that
// trusts the authorities in caFile, when set, and presents the certificate
// in certFile and keyFile, when set.
func tlsFromFiles(base *tls.Config, caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		cfg = base.Clone()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: WithCAFile: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: WithCAFile: %s holds no PEM certificate", ErrInvalidConfig, caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("%w: WithClientCertificate needs both a certificate file and a key file", ErrInvalidConfig)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: WithClientCertificate: %w", ErrInvalidConfig, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// baseURL returns addr as the URL requests start with, without a trailing
// slash. Only the scheme and host of a faulty address are quoted in its
// error, never what may be a credential.
func baseURL(addr string, tls bool) (string, error) {
	if addr == "" {
		addr = DefaultAddress
	}
	if !strings.Contains(addr, "://") {
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		addr = scheme + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("%w: it is neither host:port nor a URL", ErrInvalidConfig)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: scheme %q; want http or https", ErrInvalidConfig, u.Scheme)
	case u.User != nil:
		return "", fmt.Errorf("%w: %s://%s carries credentials; pass a token with WithBearerToken", ErrInvalidConfig, u.Scheme, u.Host)
	case u.Host == "":
		return "", fmt.Errorf("%w: no host", ErrInvalidConfig)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%w: %s://%s has a query or fragment", ErrInvalidConfig, u.Scheme, u.Host)
	case u.Scheme == "http" && tls:
		return "", fmt.Errorf("%w: http:// with WithTLSConfig, WithCAFile or WithClientCertificate", ErrInvalidConfig)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Close closes the idle connections of the transport NewClient made (none
// with WithHTTPClient). The client may still be used; it is safe to call
// more than once.
func (c *Client) Close() error {
	if c.owned != nil {
		c.owned.CloseIdleConnections()
	}
	return nil
}

// call is one request: the route's method and escaped path, and what it
// sends.
type call struct {
	method, path string
	query        url.Values
	body         io.Reader
	contentType  string
	header       http.Header
}

// send sends r and returns the answer when its status is one of ok, and
// otherwise the *Error the answer carries.
func (c *Client) send(ctx context.Context, r call, ok ...int) (*http.Response, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	body := r.body
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if c.auth != nil {
		req.Header.Set("Authorization", *c.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, errorOf(resp)
}

// errorOf reads the error an answer with a status not its route's
// carries.
func errorOf(resp *http.Response) *Error {
	var eb ErrorBody
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if mt != ContentTypeJSON || err != nil || json.Unmarshal(b, &eb) != nil || eb.Error.Message == "" || eb.Error.Kind == "" {
		return &Error{Kind: kindOfStatus(resp.StatusCode), Message: resp.Status, StatusCode: resp.StatusCode, noBody: true}
	}
	e := eb.Error
	e.StatusCode = resp.StatusCode
	return &e
}

// withTimeout returns ctx bounded by the client's timeout, if it has one.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// getJSON sends r and decodes its 200 answer into v.
func (c *Client) getJSON(ctx context.Context, r call, v any) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, r, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return nil
}

// getText sends a GET of path and returns the body of an answer whose
// status is one of ok, and the status.
func (c *Client) getText(ctx context.Context, path string, ok ...int) ([]byte, int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, call{method: http.MethodGet, path: path}, ok...)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return b, resp.StatusCode, nil
}

// resourcePath is the path of a resource's route, its name escaped.
func resourcePath(name string, rest ...string) string {
	p := "/v1/resources/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Live asks GET /livez whether the host's process runs: nil when it
// answers 200.
func (c *Client) Live(ctx context.Context) error {
	_, _, err := c.getText(ctx, "/livez", http.StatusOK)
	return err
}

// Readiness is the answer of GET /readyz?verbose.
type Readiness struct {
	// Ready is whether every critical resource is ready and none is
	// quarantined (200; 503 otherwise).
	Ready bool
	// Report lists each resource, one line each, then the overall health
	// and "ok" or "not ready":
	//
	//	[+]memory.cache ok, health healthy
	//	[-]localfs.files failed, health unhealthy: root directory "/srv/files" does not exist
	//	health unhealthy (localfs unhealthy, memory healthy)
	//	not ready
	Report string
}

// Ready asks GET /readyz?verbose whether the host is ready to serve. A host
// that is not ready is not an error: Readiness.Ready is false.
func (c *Client) Ready(ctx context.Context) (*Readiness, error) {
	b, status, err := c.getText(ctx, "/readyz?verbose", http.StatusOK, http.StatusServiceUnavailable)
	if err != nil {
		return nil, err
	}
	return &Readiness{Ready: status == http.StatusOK, Report: string(b)}, nil
}

// Metrics returns GET /metrics: the host's Prometheus metrics in the text
// exposition format. A host whose metrics are off answers 404, an *Error of
// KindNotFound.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	b, _, err := c.getText(ctx, "/metrics", http.StatusOK)
	return b, err
}

// OpenAPI returns GET /v1/openapi.json: the OpenAPI 3.1 description of the
// admin API that the host serves (OpenAPIDocument is this package's copy).
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	b, _, err := c.getText(ctx, "/v1/openapi.json", http.StatusOK)
	return b, err
}

// Page selects a page of a listing.
type Page struct {
	// Limit is the most items the page holds, up to MaxPageSize; zero
	// means DefaultPageSize.
	Limit int
	// After is the Next of the page before; empty for the first page.
	After string
}

func (p Page) query() url.Values {
	q := url.Values{}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	return q
}

// allPages reads every page of a listing, the largest pages the endpoint
// gives, and joins them into the first one, whose next it clears.
func allPages[T any](ctx context.Context, get func(context.Context, Page) (*T, error), next func(*T) *string, join func(first, page *T)) (*T, error) {
	p := Page{Limit: MaxPageSize}
	var first *T
	for {
		page, err := get(ctx, p)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = page
		} else {
			join(first, page)
		}
		// A page that names itself as its successor would loop forever.
		if n := *next(page); n == "" || n == p.After {
			break
		} else {
			p.After = n
		}
	}
	*next(first) = ""
	return first, nil
}

// ResourcePage returns a page of GET /v1/resources: resources in the order
// they were declared, with their state, health and pool counts, and what
// their types offer.
func (c *Client) ResourcePage(ctx context.Context, p Page) (*ResourceList, error) {
	var list ResourceList
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: "/v1/resources", query: p.query()}, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// Resources returns every resource, reading every page of GET
// /v1/resources; Next is empty.
func (c *Client) Resources(ctx context.Context) (*ResourceList, error) {
	return allPages(ctx, c.ResourcePage, func(l *ResourceList) *string { return &l.Next }, func(all, page *ResourceList) {
		all.Resources = append(all.Resources, page.Resources...)
		if all.Types == nil {
			all.Types = map[string]TypeInfo{}
		}
		for name, t := range page.Types {
			all.Types[name] = t
		}
	})
}

// Resource returns GET /v1/resources/{name}: one resource in full, with its
// operations, pool settings and statistics, leases and resilience. An
// unknown name is an *Error of KindNotFound.
func (c *Client) Resource(ctx context.Context, name string) (*Resource, error) {
	var r Resource
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: resourcePath(name)}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// HealthPage returns a page of GET /v1/health: the host's overall health
// and each type's, over every resource, and a page of the resources'
// health with their recent transitions.
func (c *Client) HealthPage(ctx context.Context, p Page) (*HealthPage, error) {
	var page HealthPage
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: "/v1/health", query: p.query()}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// Health returns the health of every resource, reading every page of GET
// /v1/health; Next is empty.
func (c *Client) Health(ctx context.Context) (*HealthPage, error) {
	return allPages(ctx, c.HealthPage, func(p *HealthPage) *string { return &p.Next }, func(all, page *HealthPage) {
		all.Resources = append(all.Resources, page.Resources...)
	})
}

// Plugins returns GET /v1/plugins: the plugins and compiled-in drivers
// serving the host, with their state, process and restarts.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, error) {
	var ps []Plugin
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: "/v1/plugins"}, &ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// Invoke performs an operation on a resource (POST
// /v1/resources/{name}/invoke) and returns its result. An error the
// operation or the host answered with is an *Error; its kind says whether
// trying again may help.
func (c *Client) Invoke(ctx context.Context, resource string, req InvokeRequest) (*InvokeResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("api: invoke %s: %w", req.Operation, err)
	}
	var resp InvokeResponse
	err = c.getJSON(ctx, call{method: http.MethodPost, path: resourcePath(resource, "invoke"), body: bytes.NewReader(body), contentType: ContentTypeJSON}, &resp)
	if err != nil {
		return nil, err
	}
	return &resp, nil
}

// Reload asks the host to read its configuration files again and apply
// them (POST /v1/reload): resources added, removed or changed, credentials
// read anew, the admin API's identities and audit log replaced. It needs
// an identity with the admin permission and no tenant. A configuration
// with errors changes nothing: the answer is an *Error with Code
// CodeInvalidConfiguration whose Message lists the diagnostics, one
// "file:line:column: error: summary; detail" line each. A host that
// cannot reload (one embedded without a reload function) answers
// KindUnimplemented.
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	var res ReloadResult
	err := c.getJSON(ctx, call{method: http.MethodPost, path: "/v1/reload", body: strings.NewReader("{}"), contentType: ContentTypeJSON}, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}
