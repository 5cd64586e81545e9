// Package httpclient is the http driver: a resource of type "http" is an
// HTTP API at a base URL, and each of its instances one configured
// *http.Client (package transport: credentials, default headers, rate
// limit, timeouts), shared by concurrent callers. The package is named
// httpclient, not http, so that it does not shadow net/http; its
// directory is plugins/http and its binary nebula-plugin-http.
//
// Operations:
//
//   - request streams both ways: the call's input is the request body,
//     the response body is the call's output, written as it arrives; the
//     result is the status and headers.
//   - fetch is a plain call: the body is an argument, the response body
//     (up to max_response_bytes) part of the result.
//   - ping runs the instance's health check (a request of health_path).
//
// A call whose method is GET, HEAD, PUT, DELETE or OPTIONS, or that sets
// idempotency_key (sent as the Idempotency-Key header), may be retried by
// the host's retry policy; any other (a POST without a key) never is. A
// response of status 400 or more fails the call with the kind
// transport.KindForStatus gives it, and its body is not written out.
package httpclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/plugins/http/transport"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the resource type the driver offers.
const TypeName = "http"

// DefaultMaxResponseBytes is the default of max_response_bytes: 16 MiB.
const DefaultMaxResponseBytes = 16 << 20

// IdempotentMethods are the methods whose calls the host may retry
// without an idempotency_key (RFC 9110's idempotent methods but TRACE).
var IdempotentMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions}

// Config is the configuration of an http resource: the transport's
// attributes and the driver's own.
type Config struct {
	transport.Config
	MaxResponseBytes int64  `nebula:"max_response_bytes" default:"16777216" doc:"Largest response body fetch returns (16 MiB by default); a larger one fails fetch with failed_precondition. request streams bodies of any size."`
	HealthPath       string `nebula:"health_path" default:"" doc:"Path (relative to base_url) the health check requests; a status below 400 is healthy. \"\" checks nothing beyond the configuration."`
	HealthMethod     string `nebula:"health_method" default:"GET" doc:"Method of the health check's request: GET or HEAD (upper case)."`
}

// Validate checks the configuration without connecting.
func (c Config) Validate() error {
	var errs []error
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxResponseBytes <= 0 {
		errs = append(errs, sdk.AttributeError("max_response_bytes", "must be positive", "Set a size in bytes, such as 16777216 (16 MiB)."))
	}
	if c.HealthMethod != http.MethodGet && c.HealthMethod != http.MethodHead {
		errs = append(errs, sdk.AttributeError("health_method", fmt.Sprintf("%q is not GET or HEAD", c.HealthMethod), `Set "GET" or "HEAD".`))
	}
	if len(errs) == 0 && c.HealthPath != "" {
		// A client connects to nothing: it resolves the path as a call will.
		tc, err := transport.New(c.Config)
		if err == nil {
			_, err = tc.Resolve(c.HealthPath, nil)
			tc.Close()
		}
		if err != nil {
			errs = append(errs, sdk.AttributeError("health_path", "is not a path under base_url", err.Error()))
		}
	}
	return errors.Join(errs...)
}

// New returns the http driver.
func New() sdk.Driver { return sdk.NewDriver("http", release.Version(), httpType) }

var httpType = sdk.ResourceDef[Config, *Instance]{
	Name:        TypeName,
	Description: "An HTTP API at a base URL; each instance is one HTTP client (connection pool, credentials, rate limit) shared by concurrent callers.",
	Pooling:     sdk.PoolingShared,
	Configure: func(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
		return &Resource{name: name, cfg: cfg}, nil
	},
	Operations: []sdk.Op[*Instance]{
		sdk.NewStreamOp("request", "Sends an HTTP request whose body is the call's input (none when the input is empty) and streams the response body back as the call's output; the result is the status and headers. A status of 400 or more fails the call, with an excerpt of the body, and nothing is written out.",
			sdk.StreamDuplex, (*Instance).request).IdempotentIf("method", IdempotentMethods...),
		sdk.NewOp("fetch", "Sends an HTTP request with the body given as an argument and returns the status, headers and body (base64 when it is not UTF-8 text), up to max_response_bytes. A status of 400 or more fails the call, with an excerpt of the body.",
			(*Instance).fetch).IdempotentIf("method", IdempotentMethods...),
		sdk.PingOp[*Instance]("Runs the health check: a request of health_path that must answer below 400; always ok when health_path is not set."),
	},
}

// Resource is a configured http resource.
type Resource struct {
	name string
	cfg  Config
}

// Open makes an instance: an HTTP client of its own. It connects to
// nothing until the first call.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	c, err := transport.New(r.cfg.Config)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of http resource "+r.name)
	}
	return &Instance{client: c, cfg: r.cfg}, nil
}

// Close releases nothing: the host closes the instances first.
func (r *Resource) Close(context.Context) error { return nil }

// Instance is one HTTP client, safe for concurrent use.
type Instance struct {
	client *transport.Client
	cfg    Config
}

// Close closes the client's idle connections.
func (i *Instance) Close(context.Context) error {
	i.client.Close()
	return nil
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
