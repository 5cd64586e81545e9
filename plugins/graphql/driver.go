// Package graphql is the nebula-resource driver for GraphQL APIs: a
// client of one GraphQL endpoint over the HTTP driver's transport
// (plugins/http/transport: authentication, default headers, TLS, proxy,
// rate limit), with queries and mutations as GraphQL over HTTP and
// subscriptions over the graphql-transport-ws WebSocket protocol.
//
// # Type
//
// "graphql" is shared: each of the host's instances (replicas) of a
// resource is one HTTP client, safe for concurrent use, that pools its
// own connections. Each subscribe call opens a WebSocket connection of
// its own (graphql-transport-ws multiplexes subscriptions, but one per
// connection keeps a call's end, and a server's failure, to that call),
// and closes it when the call ends.
//
// # Operations
//
//   - query runs a query operation (POST, application/json, asking for
//     application/graphql-response+json); it is idempotent and the host
//     may retry it.
//   - mutate runs a mutation; it is not idempotent unless a call sets
//     "idempotent": true ([sdk.IdempotentArg]).
//   - subscribe streams one line of JSON per event of a subscription.
//   - ping runs {__typename}, as the health check does.
//
// A document whose operation is not of the operation's type (a mutation
// sent by query, which the host may retry) is refused as invalid_argument
// before anything is sent: the driver lexes the document to find the
// selected operation's keyword (document.go).
//
// # Results and errors
//
// A response with data is a result, {"data", "errors", "extensions"},
// each part exactly as the server sent it: errors beside data say which
// fields are missing (partial data) and are not a Go error. A response
// whose errors left no data is an *sdk.Error whose Code is the first
// error's extensions.code (or "GRAPHQL_ERROR") and whose kind comes from
// that code, or is invalid_argument for a request error (no path: the
// document, its variables or the operation name were refused); see
// errors.go. A status that is not 2xx without a GraphQL response is
// transport.StatusError's.
//
// The plugin binary is cmd/nebula-plugin-graphql:
//
//	func main() { sdk.Serve(graphql.New(), otelexport.Option()) }
package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/plugins/http/transport"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "graphql"

// Config is the configuration of a graphql resource: the transport's
// attributes (base_url is the GraphQL endpoint, or the URL path is
// resolved against), and the driver's own.
type Config struct {
	transport.Config

	Path             string          `nebula:"path" default:"" doc:"The endpoint's path, resolved against base_url as the transport resolves a call's path; \"\" for base_url itself."`
	WSURL            string          `nebula:"ws_url" default:"" doc:"The subscription endpoint, ws:// or wss://; \"\" for the endpoint's URL with ws:// for http:// and wss:// for https://."`
	ConnectionInit   json.RawMessage `nebula:"connection_init,sensitive" doc:"The payload of the graphql-transport-ws connection_init message, a JSON object such as {\"authToken\": \"...\"}; unset for none. Sensitive: every string in it of 4 characters or more is kept out of errors."`
	AckTimeout       time.Duration   `nebula:"ack_timeout" default:"10s" doc:"How long a subscribe call waits for the server's connection_ack."`
	PingInterval     time.Duration   `nebula:"ping_interval" default:"30s" doc:"How often a subscribe call pings the server while it waits for events; 0s for never."`
	MaxResponseBytes int64           `nebula:"max_response_bytes" default:"16777216" doc:"The largest response (and subscription message) read, in bytes; a larger one fails as resource_exhausted."`
}

// Validate checks the configuration without connecting.
func (c Config) Validate() error {
	_, _, err := c.endpoints()
	return err
}

// endpoints returns the URLs of queries and of subscriptions, or the
// configuration's errors.
func (c Config) endpoints() (endpoint *url.URL, ws string, _ error) {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, sdk.AttributeError(attr, summary, detail))
	}
	// transport.New validates the transport's attributes and connects to
	// nothing; its client resolves path as it resolves a call's.
	if client, err := transport.New(c.Config); err != nil {
		errs = append(errs, err)
	} else {
		endpoint = client.BaseURL()
		if c.Path != "" {
			if endpoint, err = client.Resolve(c.Path, nil); err != nil {
				add("path", "is not a path under base_url", sdk.Redact(err, client.Secrets()...).Error())
			}
		}
		client.Close()
		if endpoint != nil {
			u := *endpoint
			u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
			ws = u.String()
		}
	}
	if c.WSURL != "" {
		u, err := url.Parse(c.WSURL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.User != nil {
			add("ws_url", "is not a ws:// or wss:// URL", `Give the subscription endpoint, such as "wss://api.example.com/graphql" (without credentials), or "" for the endpoint's own.`)
		} else {
			ws = c.WSURL
		}
	}
	if len(c.ConnectionInit) > 0 && !isNull(c.ConnectionInit) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(c.ConnectionInit, &obj) != nil {
			add("connection_init", "is not a JSON object (value not shown: sensitive)", `Give the payload as an object, such as {"authToken": "..."}.`)
		}
	}
	if c.AckTimeout <= 0 {
		add("ack_timeout", "must be more than 0s", "")
	}
	if c.PingInterval < 0 {
		add("ping_interval", "must not be negative", "0s sends no pings.")
	}
	if c.MaxResponseBytes <= 0 {
		add("max_response_bytes", "must be more than 0", "")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return endpoint, ws, nil
}

// initSecrets are the strings of connection_init that must never
// appear in an error's text; the transport's client knows its own
// (transport.Client.Secrets).
func (c Config) initSecrets() []string {
	var s []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= 4 {
				s = append(s, v)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var init any
	if json.Unmarshal(c.ConnectionInit, &init) == nil {
		walk(init)
	}
	return s
}

// New returns the graphql driver.
func New() sdk.Driver { return sdk.NewDriver("graphql", release.Version(), graphqlType) }

// graphqlType is the shared type "graphql".
var graphqlType = sdk.ResourceDef[Config, *Instance]{
	Name:        TypeName,
	Description: "A GraphQL API: queries and mutations over HTTP, subscriptions over graphql-transport-ws; each instance is one HTTP client that pools its own connections.",
	Pooling:     sdk.PoolingShared,
	Configure: func(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
		return newResource(name, cfg)
	},
	Operations: []sdk.Op[*Instance]{
		sdk.NewOp("query", "Runs a query operation and returns {data, errors, extensions} as the server sent them; errors beside data mark partial data.", (*Instance).Query).Idempotent(),
		sdk.NewOp("mutate", "Runs a mutation operation and returns {data, errors, extensions} as the server sent them; retried by the host only when the call sets idempotent.", (*Instance).Mutate),
		sdk.NewStreamOp("subscribe", "Runs a subscription over graphql-transport-ws and streams one line of JSON per event ({data, errors} as sent), until the server completes it, max_events, or the call ends; returns {events, completed}.", sdk.StreamDownload, (*Instance).Subscribe),
		sdk.PingOp[*Instance]("Runs the query {__typename} and returns ok."),
	},
}

// Resource is one configured graphql resource.
type Resource struct {
	name        string
	cfg         Config
	endpoint    *url.URL
	wsURL       string
	initSecrets []string // never in an error's text
	closed      atomic.Bool
}

func newResource(name string, cfg Config) (*Resource, error) {
	endpoint, ws, err := cfg.endpoints()
	if err != nil {
		return nil, err
	}
	return &Resource{name: name, cfg: cfg, endpoint: endpoint, wsURL: ws, initSecrets: cfg.initSecrets()}, nil
}

// Open makes an instance: an HTTP client of its own.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, sdk.Errorf(sdk.KindUnavailable, "graphql resource %q is closed", r.name)
	}
	c, err := transport.New(r.cfg.Config)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "graphql resource "+r.name)
	}
	return &Instance{res: r, client: c}, nil
}

// Close marks the resource closed: the host closes its instances first.
func (r *Resource) Close(context.Context) error {
	r.closed.Store(true)
	return nil
}

// Instance is one HTTP client of the resource, safe for concurrent use.
type Instance struct {
	res    *Resource
	client *transport.Client
	closed atomic.Bool
}

// checkOpen refuses a call on a closed instance.
func (i *Instance) checkOpen(what string) error {
	if i.closed.Load() {
		return sdk.Errorf(sdk.KindUnavailable, "%s: the instance of graphql resource %q is closed", what, i.res.name)
	}
	return nil
}

// secrets are the strings that must never appear in an error's text:
// the transport's credentials (and the OAuth2 token it holds), and
// connection_init's strings.
func (i *Instance) secrets() []string {
	return append(i.client.Secrets(), i.res.initSecrets...)
}

// redact removes the secrets from a message, except those the caller
// sent in this call (sdk.RedactContext).
func (i *Instance) redact(ctx context.Context, msg string) string {
	for _, s := range sdk.SecretsToMask(sdk.CallerInput(ctx), i.secrets()) {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}

// redactError returns e with what failed before its message, without
// secrets.
func (i *Instance) redactError(ctx context.Context, e *sdk.Error, what string) *sdk.Error {
	c := *e
	c.Message = i.redact(ctx, what+": "+e.Error())
	c.Err = nil
	return &c
}

// wrap classifies an error of the connection, its text without secrets.
func (i *Instance) wrap(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) && ctx.Err() == nil {
		return i.redactError(ctx, se, what)
	}
	return connErrors.Wrap(ctx, err, what, i.secrets()...)
}

// connErrors classifies the errors of a WebSocket connection: what no
// rule places is a failed connection.
var connErrors = sdk.ErrorMap{Fallback: sdk.KindUnavailable}

// Check runs {__typename}.
func (i *Instance) Check(ctx context.Context) error {
	_, err := i.post(ctx, "graphql ping", request{Query: "{__typename}"})
	return err
}

// Close closes the client's idle connections; calls in flight finish.
func (i *Instance) Close(context.Context) error {
	if i.closed.CompareAndSwap(false, true) {
		i.client.Close()
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
