package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	ws "github.com/coder/websocket"
	"golang.org/x/net/http/httpguts"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the resource type the driver offers.
const TypeName = "websocket"

// Config is the configuration of a websocket resource.
type Config struct {
	URL              string            `nebula:"url,required" doc:"The server's WebSocket URL, ws://host:port/path or wss://host:port/path."`
	Headers          map[string]string `nebula:"headers" doc:"HTTP headers sent with the opening handshake, name to value."`
	SensitiveHeaders map[string]string `nebula:"sensitive_headers,sensitive" doc:"Headers sent with the handshake whose values are secrets (an API key): never logged nor put in errors. Sensitive."`
	BearerToken      string            `nebula:"bearer_token,sensitive" doc:"Sent as \"Authorization: Bearer <token>\" with the handshake. Sensitive."`
	Subprotocols     []string          `nebula:"subprotocols" doc:"Subprotocols offered to the server (Sec-WebSocket-Protocol), in order of preference."`

	TLSServerName         string `nebula:"tls_server_name" doc:"Server name to verify the certificate against (wss only); default: the URL's host."`
	TLSCAFile             string `nebula:"tls_ca_file" doc:"PEM file of the CAs that sign the server certificate (wss only); default: the system's roots."`
	TLSCertFile           string `nebula:"tls_cert_file" doc:"PEM client certificate, for servers that require one (wss only); with tls_key_file."`
	TLSKeyFile            string `nebula:"tls_key_file" doc:"PEM private key of tls_cert_file."`
	TLSInsecureSkipVerify bool   `nebula:"tls_insecure_skip_verify" default:"false" doc:"Do not verify the server certificate (wss only; testing only)."`

	ReadLimit    int64         `nebula:"read_limit" default:"1048576" doc:"Largest message accepted from the server, in bytes; a larger one closes the connection (status 1009), which is reopened, and is reported as a message_too_big event."`
	SendLimit    int64         `nebula:"send_limit" default:"1048576" doc:"Largest message send accepts, in bytes; a larger one is refused as invalid_argument."`
	DialTimeout  time.Duration `nebula:"dial_timeout" default:"10s" doc:"Time allowed for one attempt to connect: TCP, TLS and the HTTP upgrade."`
	PingInterval time.Duration `nebula:"ping_interval" default:"30s" doc:"How often the session pings the server to find a dead connection; 0s sends no pings."`
	PingTimeout  time.Duration `nebula:"ping_timeout" default:"10s" doc:"How long a ping may wait for its pong before the connection counts as dead and is reopened."`

	ReconnectMin         time.Duration `nebula:"reconnect_min" default:"100ms" doc:"The first pause between attempts to reconnect; each failed attempt doubles it (with jitter of ±50%) up to reconnect_max."`
	ReconnectMax         time.Duration `nebula:"reconnect_max" default:"5s" doc:"The longest pause between attempts to reconnect."`
	MaxReconnectAttempts int           `nebula:"max_reconnect_attempts" default:"0" doc:"Attempts to reconnect after a drop before the session gives up and reports unavailable; 0 means no limit on the count (reconnect_budget still applies)."`
	ReconnectBudget      time.Duration `nebula:"reconnect_budget" default:"1m" doc:"How long after a drop the session keeps trying to reconnect before it gives up and reports unavailable; 0s means no limit on the time (max_reconnect_attempts still applies)."`

	Buffer int `nebula:"buffer" default:"4096" doc:"Messages held while no receive takes them; beyond it the oldest are dropped and a dropped event counts them."`
}

// New returns the WebSocket driver, with its resource type "websocket".
func New() sdk.Driver { return sdk.NewDriver("websocket", release.Version(), websocketType) }

var websocketType = sdk.ResourceDef[Config, *Session]{
	Name:        TypeName,
	Description: "A WebSocket client session: one connection to a server, kept up across drops, whose messages are buffered for receive; each instance is one session, leased to one caller at a time.",
	Pooling:     sdk.PoolingExclusive,
	Configure: func(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
		return newResource(name, cfg)
	},
	Operations: []sdk.Op[*Session]{
		sdk.NewOp(opSend, "Sends one message, text or binary (base64), and returns once it is written; waits for a reconnect in progress. Not idempotent (a retry may deliver it twice) unless the call sets idempotent.", (*Session).send),
		sdk.NewStreamOp(opReceive, "Streams the session's messages and events, one JSON line each ({\"type\":\"message\",\"text\":...} or binary_base64, or an event: reconnected, dropped, message_too_big), until max_messages, idle_timeout, the end of the call, or the session giving up (unavailable); the result counts messages and events.", sdk.StreamDownload, (*Session).receive),
		sdk.NewOp(opPing, "Sends a WebSocket ping and waits for the pong; returns the round trip's latency. Fails at once, unavailable, while the session reconnects.", (*Session).ping).Idempotent(),
	},
}

// The operations.
const (
	opSend    = "send"
	opReceive = "receive"
	opPing    = "ping"
)

// Validate checks the configuration without connecting.
func (c Config) Validate() error {
	_, _, err := c.prepare()
	return err
}

// reservedHeaders are the handshake's own headers, which the client sets.
var reservedHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Host"}

// prepare validates c and returns the parsed URL and the TLS
// configuration (nil for ws://). Its errors are sdk.ConfigErrors, joined,
// and quote no secret.
func (c Config) prepare() (*url.URL, *tls.Config, error) {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, sdk.AttributeError(attr, summary, detail))
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		add("url", "is not a URL", `Write it as "ws://host:port/path" or "wss://host:port/path".`)
	case u.Scheme != "ws" && u.Scheme != "wss":
		add("url", fmt.Sprintf("scheme %q is not ws or wss", u.Scheme), `Write it as "ws://host:port/path" or "wss://host:port/path".`)
	case u.Host == "":
		add("url", "has no host", `Write it as "ws://host:port/path".`)
	case u.Fragment != "":
		add("url", "must not have a fragment", "Remove the #... part: WebSocket URLs have no fragment.")
	}
	seen := map[string]string{}
	for _, h := range []struct {
		attr string
		m    map[string]string
	}{{"headers", c.Headers}, {"sensitive_headers", c.SensitiveHeaders}} {
		for name, value := range h.m {
			canon := http.CanonicalHeaderKey(name)
			switch {
			case !httpguts.ValidHeaderFieldName(name):
				add(h.attr, fmt.Sprintf("%q is not a header name", name), "A header name is letters, digits and !#$%&'*+-.^_`|~.")
			case strings.ContainsAny(value, "\r\n\x00"):
				add(h.attr, fmt.Sprintf("the value of %q holds a line break or NUL", name), "Header values are one line.")
			case containsFold(reservedHeaders, canon):
				add(h.attr, fmt.Sprintf("%q is set by the WebSocket handshake itself", name), "Remove it; use subprotocols for Sec-WebSocket-Protocol.")
			case canon == "Authorization" && c.BearerToken != "":
				add(h.attr, "Authorization is set both here and by bearer_token", "Keep one of them.")
			}
			if other, dup := seen[canon]; dup {
				add(h.attr, fmt.Sprintf("header %q is also set in %s", name, other), "Set each header once.")
			}
			seen[canon] = h.attr
		}
	}
	if strings.ContainsAny(c.BearerToken, "\r\n\x00") {
		add("bearer_token", "holds a line break or NUL", "A token is one line.")
	}
	for i, p := range c.Subprotocols {
		if p == "" || !httpguts.ValidHeaderFieldName(p) {
			add("subprotocols", fmt.Sprintf("subprotocols[%d] %q is not a subprotocol name", i, p), "A subprotocol name is a token such as \"graphql-transport-ws\".")
		}
	}
	if c.ReadLimit <= 0 {
		add("read_limit", "must be positive", "Set the largest message to accept, in bytes, such as 1048576.")
	}
	if c.SendLimit <= 0 {
		add("send_limit", "must be positive", "Set the largest message to send, in bytes, such as 1048576.")
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout", "must be positive", `Set a duration such as "10s".`)
	}
	if c.PingInterval < 0 {
		add("ping_interval", "must not be negative", `Set a duration such as "30s", or "0s" for no pings.`)
	}
	if c.PingInterval > 0 && c.PingTimeout <= 0 {
		add("ping_timeout", "must be positive when ping_interval is set", `Set a duration such as "10s".`)
	}
	if c.ReconnectMin <= 0 {
		add("reconnect_min", "must be positive", `Set a duration such as "100ms".`)
	}
	if c.ReconnectMax < c.ReconnectMin {
		add("reconnect_max", "must not be shorter than reconnect_min", `Set a duration such as "5s".`)
	}
	if c.MaxReconnectAttempts < 0 {
		add("max_reconnect_attempts", "must not be negative", "Set a number of attempts, or 0 for no limit on the count.")
	}
	if c.ReconnectBudget < 0 {
		add("reconnect_budget", "must not be negative", `Set a duration such as "1m", or "0s" for no limit on the time.`)
	}
	if c.MaxReconnectAttempts == 0 && c.ReconnectBudget == 0 {
		add("reconnect_budget", "reconnection needs a limit", "Set reconnect_budget or max_reconnect_attempts, so that a session whose server is gone reports unavailable rather than waiting forever.")
	}
	if c.Buffer < 1 {
		add("buffer", "must be at least 1", "Set how many messages to hold while no receive takes them, such as 4096.")
	}
	clientTLS := sdk.ClientTLS{
		Enabled: true, ServerName: c.TLSServerName, CAFile: c.TLSCAFile,
		CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, InsecureSkipVerify: c.TLSInsecureSkipVerify,
	}
	var tlsConfig *tls.Config
	switch {
	case u != nil && u.Scheme == "wss":
		var tlsErrs []error
		tlsConfig, tlsErrs = clientTLS.Config()
		errs = append(errs, tlsErrs...)
	case u != nil && u.Scheme == "ws":
		errs = append(errs, clientTLS.Unused("the url is ws://", "Use a wss:// url to connect with TLS")...)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return u, tlsConfig, nil
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// resource is a configured websocket resource: what every session of it
// dials with.
type resource struct {
	name    string
	cfg     Config
	url     string
	headers http.Header
	client  *http.Client
	// secrets are the strings no error may hold: the bearer token, the
	// sensitive headers' values and the URL's password.
	secrets []string
}

func newResource(name string, cfg Config) (*resource, error) {
	u, tlsConfig, err := cfg.prepare()
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of websocket resource "+name)
	}
	r := &resource{name: name, cfg: cfg, url: u.String(), headers: http.Header{}}
	for k, v := range cfg.Headers {
		r.headers.Set(k, v)
	}
	for k, v := range cfg.SensitiveHeaders {
		r.headers.Set(k, v)
		r.secrets = append(r.secrets, v)
	}
	if cfg.BearerToken != "" {
		r.headers.Set("Authorization", "Bearer "+cfg.BearerToken)
		r.secrets = append(r.secrets, cfg.BearerToken)
	}
	if p, ok := u.User.Password(); ok {
		r.secrets = append(r.secrets, p)
	}
	r.secrets = nonEmpty(r.secrets)
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	r.client = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: cfg.DialTimeout,
		// Every connection is a session's own, hijacked by the upgrade;
		// none is kept for reuse (nor its goroutines after a refusal).
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}}
	return r, nil
}

func nonEmpty(list []string) []string {
	out := list[:0]
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// Open opens a session: it dials the server and starts reading.
func (r *resource) Open(ctx context.Context) (sdk.Instance, error) {
	conn, err := r.dial(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	return newSession(r, conn), nil
}

// Close releases the resource's idle HTTP connections (there are none to
// keep: sessions own theirs).
func (r *resource) Close(context.Context) error {
	r.client.CloseIdleConnections()
	return nil
}

// dial connects once, within dial_timeout and before deadline (when not
// zero).
func (r *resource) dial(parent context.Context, deadline time.Time) (*ws.Conn, error) {
	ctx, cancel := context.WithTimeout(parent, r.cfg.DialTimeout)
	defer cancel()
	if !deadline.IsZero() {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, deadline)
		defer c2()
	}
	conn, resp, err := ws.Dial(ctx, r.url, &ws.DialOptions{
		HTTPClient:   r.client,
		HTTPHeader:   r.headers.Clone(),
		Subprotocols: r.cfg.Subprotocols,
	})
	if err != nil {
		if parent.Err() == nil && ctx.Err() != nil {
			// Our own limit, not the caller's: the server did not answer.
			return nil, &sdk.Error{Kind: sdk.KindUnavailable,
				Message: fmt.Sprintf("websocket %s: connect to %s: no answer within dial_timeout (%v)", r.name, redactURL(r.url), r.cfg.DialTimeout),
				Err:     sdk.Redact(err, r.secrets...)}
		}
		return nil, r.dialError(parent, resp, err)
	}
	conn.SetReadLimit(r.cfg.ReadLimit)
	return conn, nil
}

// dialError classifies a failed dial. A response the server sent says
// why (401 and 403: permission_denied; 404: not_found; 429 and 5xx:
// unavailable); its body is never quoted, since a server may echo the
// request's headers there.
func (r *resource) dialError(ctx context.Context, resp *http.Response, err error) error {
	what := "websocket " + r.name + ": connect to " + redactURL(r.url)
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != 0 {
		code := fmt.Sprintf("http_%d", resp.StatusCode)
		b := sdk.HTTPStatusError(resp.StatusCode, code)
		msg := fmt.Sprintf("%s: the server refused the handshake with HTTP %d %s", what, resp.StatusCode, http.StatusText(resp.StatusCode))
		switch {
		case b.Kind == sdk.KindUnknown && resp.StatusCode < 400:
			b.Kind = sdk.KindFailedPrecondition
			msg = fmt.Sprintf("%s: the server answered HTTP %d rather than upgrading to WebSocket (is the url a WebSocket endpoint?)", what, resp.StatusCode)
		case b.Kind == sdk.KindUnknown:
			b.Kind = sdk.KindUnavailable
		}
		e := &sdk.Error{Kind: b.Kind, Code: code, Message: msg}
		if b.Retryable {
			e.Retryable = &retryable
		}
		if s := resp.Header.Get("Retry-After"); s != "" {
			if n, perr := time.ParseDuration(s + "s"); perr == nil && n > 0 {
				e.RetryAfter = n
			}
		}
		return e
	}
	return errorMap.Wrap(ctx, err, what, r.secrets...)
}

var retryable = true

// redactURL returns u without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the url"
	}
	return u.Redacted()
}

var _ sdk.Resource = (*resource)(nil)
