package transport

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// tokenRequestTimeout bounds one request to the OAuth2 token endpoint
// when the configuration sets no request_timeout.
const tokenRequestTimeout = 30 * time.Second

// Client is the configured HTTP client of one instance: an
// *http.Client whose RoundTripper waits for the rate limit, adds the
// default headers and the credentials (to base_url's host only) and
// bounds each request by request_timeout. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	tr      *http.Transport
	client  *http.Client
	limiter *rate.Limiter      // nil without rate_limit
	tokens  oauth2.TokenSource // nil without OAuth2
	basic   string             // the Authorization value of basic authentication, or ""
	secrets []string           // the configuration's secrets and the forms they are sent in

	mu        sync.Mutex // guards lastToken
	lastToken string     // the last OAuth2 access token, a secret too
}

// New builds the client of a valid configuration (it runs Validate). It
// connects to nothing.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL)
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
	switch cfg.Proxy {
	case ProxyFromEnvironment:
		tr.Proxy = http.ProxyFromEnvironment
	case ProxyNone:
	default:
		p, _ := url.Parse(cfg.Proxy)
		tr.Proxy = http.ProxyURL(p)
	}
	if base.Scheme == "https" {
		tc, errs := cfg.clientTLS().Config()
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		tr.TLSClientConfig = tc
	}
	c := &Client{cfg: cfg, base: base, tr: tr}
	if cfg.RateLimit > 0 {
		burst := cfg.RateBurst
		if burst == 0 {
			burst = max(1, int(cfg.RateLimit+0.999999))
		}
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
	}
	if cfg.BasicUsername != "" {
		cred := base64.StdEncoding.EncodeToString([]byte(cfg.BasicUsername + ":" + cfg.BasicPassword))
		c.basic = "Basic " + cred
		c.secrets = append(c.secrets, cred)
	}
	if cfg.OAuth2TokenURL != "" {
		cc := clientcredentials.Config{
			ClientID: cfg.OAuth2ClientID, ClientSecret: cfg.OAuth2ClientSecret,
			TokenURL: cfg.OAuth2TokenURL, Scopes: cfg.OAuth2Scopes,
		}
		switch cfg.OAuth2AuthStyle {
		case "header":
			cc.AuthStyle = oauth2.AuthStyleInHeader
		case "params":
			cc.AuthStyle = oauth2.AuthStyleInParams
		}
		if len(cfg.OAuth2Params) > 0 {
			cc.EndpointParams = url.Values{}
			for k, v := range cfg.OAuth2Params {
				cc.EndpointParams.Set(k, v)
			}
		}
		tokenClient := &http.Client{Transport: tr, Timeout: cmpDuration(cfg.RequestTimeout, tokenRequestTimeout)}
		// The token source lives as long as the client, not as a call:
		// its context only carries the HTTP client it fetches with.
		c.tokens = cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, tokenClient))
		id, secret := url.QueryEscape(cfg.OAuth2ClientID), url.QueryEscape(cfg.OAuth2ClientSecret)
		c.secrets = append(c.secrets, secret,
			base64.StdEncoding.EncodeToString([]byte(id+":"+secret)),
			base64.StdEncoding.EncodeToString([]byte(cfg.OAuth2ClientID+":"+cfg.OAuth2ClientSecret)))
	}
	c.secrets = append(c.secrets, cfg.BearerToken, cfg.BasicPassword, cfg.OAuth2ClientSecret)
	for _, v := range cfg.SecretHeaders {
		c.secrets = append(c.secrets, v)
	}
	if cfg.Proxy != ProxyFromEnvironment && cfg.Proxy != ProxyNone {
		c.secrets = append(c.secrets, cfg.Proxy)
		if p, err := url.Parse(cfg.Proxy); err == nil && p.User != nil {
			if pw, ok := p.User.Password(); ok {
				c.secrets = append(c.secrets, pw)
			}
		}
	}
	// Clipped, so that a caller appending to Secrets' result copies it
	// rather than writing into the client's array.
	c.secrets = slices.Clip(nonEmpty(c.secrets))
	c.client = &http.Client{Transport: &roundTripper{c: c}, CheckRedirect: c.checkRedirect}
	return c, nil
}

func cmpDuration(d, otherwise time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return otherwise
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// HTTP returns the configured client. Its Timeout is 0 (request_timeout
// is applied per request through its context), so that WebSocket
// libraries may dial with it; the caller's context bounds each request.
func (c *Client) HTTP() *http.Client { return c.client }

// Config returns the configuration the client was built from.
func (c *Client) Config() Config { return c.cfg }

// BaseURL returns a copy of the parsed base_url.
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// Close closes the idle connections. It starts nothing else, so there is
// nothing else to stop; it is safe to call twice.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Secrets returns the values that must never appear in an error or a
// log: the configuration's secrets, the forms they travel in (the
// base64 of basic credentials) and the current OAuth2 access token.
func (c *Client) Secrets() []string {
	c.mu.Lock()
	tok := c.lastToken
	c.mu.Unlock()
	if tok == "" {
		return c.secrets
	}
	return append(append(make([]string, 0, len(c.secrets)+1), c.secrets...), tok)
}

// Resolve returns the URL of a call's path, relative to base_url ("/v1/x"
// and "v1/x" are both appended to base_url's path), with query added to
// the path's own query. A path that is an absolute URL is taken only if
// it names base_url's scheme and host; any other is refused
// (invalid_argument naming path), so that credentials never go elsewhere,
// as is a path with a ".." segment or a fragment.
func (c *Client) Resolve(path string, query url.Values) (*url.URL, error) {
	p, err := url.Parse(path)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %q: not a URL path: %v", "path", unwrapURLError(err))
	}
	u := *c.base
	switch {
	case p.Scheme != "" || p.Host != "" || p.Opaque != "":
		if !c.SameOrigin(p) {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %q: %s is another scheme or host than base_url's (%s); give a path relative to base_url", "path", RedactURL(p), RedactURL(c.base))
		}
		u.Path, u.RawPath = p.Path, p.RawPath
	default:
		u.Path = strings.TrimSuffix(c.base.Path, "/") + "/" + strings.TrimPrefix(p.Path, "/")
		if p.RawPath != "" || c.base.RawPath != "" {
			u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + "/" + strings.TrimPrefix(p.EscapedPath(), "/")
		}
	}
	if p.Fragment != "" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %q: has a fragment (#%s), which is never sent", "path", p.Fragment)
	}
	for _, seg := range strings.Split(p.Path, "/") {
		if seg == ".." {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %q: has a \"..\" segment; give a path under base_url", "path")
		}
	}
	q := p.Query()
	for k, vs := range query {
		q[k] = append(q[k], vs...)
	}
	u.RawQuery = q.Encode()
	if len(q) == 0 {
		u.RawQuery = ""
	}
	return &u, nil
}

// SameOrigin reports whether u has base_url's scheme (ws and wss count as
// http and https) and host (with the default port made explicit).
func (c *Client) SameOrigin(u *url.URL) bool {
	return origin(u) == origin(c.base)
}

func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "ws":
		scheme = "http"
	case "wss":
		scheme = "https"
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// checkRedirect follows redirects as follow_redirects and
// redirect_same_host_only say.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	switch {
	case c.cfg.FollowRedirects == 0:
		return http.ErrUseLastResponse
	case len(via) > c.cfg.FollowRedirects:
		return &sdk.Error{Kind: sdk.KindFailedPrecondition, Message: fmt.Sprintf("stopped after %d redirects (follow_redirects = %d)", len(via)-1, c.cfg.FollowRedirects)}
	case c.cfg.RedirectSameHostOnly && !c.SameOrigin(req.URL):
		return &sdk.Error{Kind: sdk.KindFailedPrecondition, Message: fmt.Sprintf("refused a redirect to %s, another scheme or host than base_url's (redirect_same_host_only = true)", RedactURL(req.URL))}
	}
	return nil
}

// token returns the current OAuth2 token, fetching one when it has
// expired, and remembers it as a secret.
func (c *Client) token() (*oauth2.Token, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		return nil, c.tokenError(err)
	}
	c.mu.Lock()
	c.lastToken = tok.AccessToken
	c.mu.Unlock()
	return tok, nil
}

// tokenError classifies a failed token request: the endpoint refusing the
// client (4xx) is unauthenticated, a failing endpoint unavailable.
func (c *Client) tokenError(err error) error {
	what := "OAuth2 token request to " + RedactURL(mustParse(c.cfg.OAuth2TokenURL))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		kind := sdk.KindUnauthenticated
		if status == http.StatusTooManyRequests || status >= 500 {
			kind = sdk.KindUnavailable
		}
		msg := fmt.Sprintf("%s: %s", what, re.Response.Status)
		if re.ErrorCode != "" {
			msg += " (" + re.ErrorCode + ")"
		}
		if ex := Excerpt(re.Body, c.secrets); ex != "" {
			msg += ": " + ex
		}
		return &sdk.Error{Kind: kind, Code: fmt.Sprint(status), Message: msg, RetryAfter: retryAfterOf(re.Response, kind)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return requestErrors.Wrap(context.Background(), err, what, c.secrets...)
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// roundTripper is the client's RoundTripper.
type roundTripper struct{ c *Client }

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	c := rt.c
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(req.Context()); err != nil {
			if cerr := req.Context().Err(); cerr != nil {
				return fail(cerr)
			}
			return fail(&sdk.Error{Kind: sdk.KindResourceExhausted, Message: fmt.Sprintf("rate limit (rate_limit = %g/s): no request slot before the call's deadline", c.cfg.RateLimit)})
		}
	}
	r := req.Clone(req.Context())
	if c.SameOrigin(r.URL) {
		for _, hs := range []map[string]string{c.cfg.Headers, c.cfg.SecretHeaders} {
			for k, v := range hs {
				if _, set := r.Header[textproto.CanonicalMIMEHeaderKey(k)]; !set {
					r.Header.Set(k, v)
				}
			}
		}
		if r.Header.Get("Authorization") == "" {
			switch {
			case c.cfg.BearerToken != "":
				r.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
			case c.basic != "":
				r.Header.Set("Authorization", c.basic)
			case c.tokens != nil:
				tok, err := c.token()
				if err != nil {
					return fail(err)
				}
				tok.SetAuthHeader(r)
			}
		}
	}
	var cancel context.CancelFunc
	if c.cfg.RequestTimeout > 0 && r.Header.Get("Upgrade") == "" {
		var ctx context.Context
		ctx, cancel = context.WithTimeoutCause(r.Context(), c.cfg.RequestTimeout, errRequestTimeout)
		r = r.WithContext(ctx)
	}
	resp, err := c.tr.RoundTrip(r)
	if cancel != nil {
		if err != nil {
			cancel()
		} else {
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		}
	}
	return resp, err
}

// errRequestTimeout is the cause of a request that request_timeout ended.
var errRequestTimeout = errors.New("request_timeout exceeded")

// cancelBody ends a request's own context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// requestErrors classifies what the client returns besides a response.
var requestErrors = sdk.ErrorMap{
	Client: func(err error) (sdk.Kind, bool) {
		var (
			cv *tls.CertificateVerificationError
			rh tls.RecordHeaderError
		)
		switch {
		case errors.As(err, &cv):
			return sdk.KindFailedPrecondition, true
		case errors.As(err, &rh):
			return sdk.KindFailedPrecondition, true
		}
		return "", false
	},
	Fallback: sdk.KindUnavailable,
}

// RequestError returns the error of a request that got no response
// (err from Client.Do or a read of its body) as an *sdk.Error naming the
// method and the URL (without its query), of the kind it tells: the
// client's own refusals (a redirect, the rate limit, the token endpoint)
// keep theirs, the call's context and request_timeout are canceled or
// timeout, a connection that failed is unavailable, a certificate
// refused failed_precondition. Its text holds no secret.
func (c *Client) RequestError(ctx context.Context, method string, u *url.URL, err error) error {
	if err == nil {
		return nil
	}
	what := method + " " + RedactURL(u)
	secrets := c.Secrets()
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var se *sdk.Error
	if errors.As(err, &se) && ctx.Err() == nil {
		msg := sdk.Redact(errors.New(se.Error()), secrets...).Error()
		return &sdk.Error{Kind: se.Kind, Code: se.Code, RetryAfter: se.RetryAfter, Retryable: se.Retryable, Message: what + ": " + msg}
	}
	if ctx.Err() == nil && c.cfg.RequestTimeout > 0 && (errors.Is(err, errRequestTimeout) || errors.Is(err, context.DeadlineExceeded)) {
		return &sdk.Error{Kind: sdk.KindTimeout, Message: fmt.Sprintf("%s: request_timeout (%s) exceeded", what, c.cfg.RequestTimeout), Err: sdk.Redact(err, secrets...)}
	}
	return requestErrors.Wrap(ctx, err, what, secrets...)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// RedactURL returns u as text without its user information, query and
// fragment, which may hold credentials (an api_key parameter).
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	v.User = nil
	if v.RawQuery != "" {
		v.RawQuery = ""
		v.ForceQuery = false
	}
	v.Fragment, v.RawFragment = "", ""
	return v.String()
}
