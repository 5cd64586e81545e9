// Package transport is the connection part shared by the drivers whose
// backend speaks HTTP (the http and graphql plugins): the configuration
// attributes a driver embeds in its own ([Config]), and the configured
// *http.Client built from them ([Client]), which authenticates (bearer
// token, basic, OAuth2 client credentials), adds default headers, waits
// for the rate limit and bounds each request, all in its RoundTripper.
// [StatusError] turns an HTTP status into an *sdk.Error of the right kind.
//
// Credentials and default headers go only to base_url's scheme and host:
// a redirect elsewhere, or a path that names another host, never carries
// them.
package transport

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Config is the connection part of an HTTP-based resource's
// configuration. Drivers embed it in their own configuration struct:
// sdk.SchemaFor and sdk.Decode flatten the attributes of an embedded
// struct that has no nebula tag of its own.
type Config struct {
	BaseURL string            `nebula:"base_url,required" doc:"URL every call's path is resolved against, http:// or https:// (a path \"/v1/x\" or \"v1/x\" is appended to its path). Credentials go only to its scheme and host."`
	Headers map[string]string `nebula:"headers" default:"{}" doc:"Headers sent with every request to base_url's host (a call's own headers win). Not sensitive: put keys and tokens in secret_headers."`
	// SecretHeaders are headers whose values are credentials (an API key).
	SecretHeaders map[string]string `nebula:"secret_headers,sensitive" default:"{}" doc:"Headers sent with every request to base_url's host whose values are credentials (X-Api-Key). Sensitive: never logged nor shown in errors."`

	BearerToken   string `nebula:"bearer_token,sensitive" default:"" doc:"Token sent as Authorization: Bearer. Sensitive."`
	BasicUsername string `nebula:"basic_username" default:"" doc:"User name for HTTP basic authentication (with basic_password)."`
	BasicPassword string `nebula:"basic_password,sensitive" default:"" doc:"Password for HTTP basic authentication. Sensitive."`

	OAuth2TokenURL     string            `nebula:"oauth2_token_url" default:"" doc:"Token endpoint of the OAuth2 client credentials flow; setting it turns the flow on. The token is fetched once, reused until 10s before it expires, then fetched again."`
	OAuth2ClientID     string            `nebula:"oauth2_client_id" default:"" doc:"Client ID for the client credentials flow."`
	OAuth2ClientSecret string            `nebula:"oauth2_client_secret,sensitive" default:"" doc:"Client secret for the client credentials flow. Sensitive."`
	OAuth2Scopes       []string          `nebula:"oauth2_scopes" default:"[]" doc:"Scopes asked for with the token."`
	OAuth2Params       map[string]string `nebula:"oauth2_params" default:"{}" doc:"Extra form parameters of the token request (audience, resource)."`
	OAuth2AuthStyle    string            `nebula:"oauth2_auth_style" default:"auto" doc:"How the client authenticates to the token endpoint: \"header\" (HTTP basic), \"params\" (form fields) or \"auto\" (try header, then params)."`

	TLSServerName         string `nebula:"tls_server_name" default:"" doc:"Server name to verify the certificate against (https); default: base_url's host."`
	TLSCAFile             string `nebula:"tls_ca_file" default:"" doc:"PEM file of the CAs that sign the server certificate (https); default: the system's roots."`
	TLSCertFile           string `nebula:"tls_cert_file" default:"" doc:"PEM client certificate for mutual TLS (https); with tls_key_file."`
	TLSKeyFile            string `nebula:"tls_key_file" default:"" doc:"PEM private key of tls_cert_file."`
	TLSInsecureSkipVerify bool   `nebula:"tls_insecure_skip_verify" default:"false" doc:"Do not verify the server certificate (testing only)."`

	Proxy string `nebula:"proxy,sensitive" default:"" doc:"Proxy URL (http://, https:// or socks5://, may hold credentials); \"\" takes HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment; \"none\" connects directly. Sensitive."`

	MaxConnsPerHost       int           `nebula:"max_conns_per_host" default:"0" doc:"Connections open at once to one host, per instance; 0 = no limit."`
	MaxIdleConnsPerHost   int           `nebula:"max_idle_conns_per_host" default:"16" doc:"Idle connections kept per host, per instance."`
	IdleConnTimeout       time.Duration `nebula:"idle_conn_timeout" default:"90s" doc:"How long an idle connection is kept; 0s = without limit."`
	DialTimeout           time.Duration `nebula:"dial_timeout" default:"10s" doc:"Time allowed to open a TCP connection; 0s = without limit."`
	TLSHandshakeTimeout   time.Duration `nebula:"tls_handshake_timeout" default:"10s" doc:"Time allowed for the TLS handshake; 0s = without limit."`
	ResponseHeaderTimeout time.Duration `nebula:"response_header_timeout" default:"0s" doc:"Time allowed for the response headers to arrive once the request is sent; 0s = without limit."`
	RequestTimeout        time.Duration `nebula:"request_timeout" default:"0s" doc:"Time allowed for one request, from sending it to reading the last byte of its response (each redirect hop has its own); 0s = only the call's deadline. A long download needs a long one."`

	RateLimit float64 `nebula:"rate_limit" default:"0" doc:"Requests per second an instance sends at most (a token bucket, waited in the client under the call's deadline); 0 = no limit."`
	RateBurst int     `nebula:"rate_burst" default:"0" doc:"Requests the rate limit lets through at once; 0 = the rate rounded up, at least 1."`

	FollowRedirects      int  `nebula:"follow_redirects" default:"10" doc:"Redirects followed at most; 0 returns a 3xx response as it is."`
	RedirectSameHostOnly bool `nebula:"redirect_same_host_only" default:"true" doc:"Refuse (failed_precondition) a redirect to another scheme or host than base_url's. Credentials never go to another host either way."`
}

// Proxy values with a meaning of their own.
const (
	// ProxyFromEnvironment takes the proxy from HTTPS_PROXY, HTTP_PROXY
	// and NO_PROXY.
	ProxyFromEnvironment = ""
	// ProxyNone connects directly.
	ProxyNone = "none"
)

// Validate checks the configuration without connecting. Its errors are
// sdk.ConfigErrors naming the attribute, joined; they never quote a
// sensitive value.
func (c Config) Validate() error {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, sdk.AttributeError(attr, summary, detail))
	}
	base, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		add("base_url", "is not a URL", err.Error())
	case base.Scheme != "http" && base.Scheme != "https":
		add("base_url", fmt.Sprintf("has scheme %q", base.Scheme), `Use an http:// or https:// URL, such as "https://api.example.com/v1".`)
	case base.Host == "":
		add("base_url", "has no host", `Use an absolute URL, such as "https://api.example.com/v1".`)
	case base.User != nil:
		add("base_url", "holds credentials", "Remove the user and password from the URL and set basic_username and basic_password (basic_password is sensitive).")
	case base.RawQuery != "" || base.Fragment != "":
		add("base_url", "has a query or fragment", "Give only the scheme, host and path; a call's arguments carry its query.")
	}
	for _, h := range []struct {
		attr string
		hs   map[string]string
	}{{"headers", c.Headers}, {"secret_headers", c.SecretHeaders}} {
		attr, hs := h.attr, h.hs
		for _, k := range slices.Sorted(maps.Keys(hs)) {
			if !httpguts.ValidHeaderFieldName(k) {
				add(attr, fmt.Sprintf("%q is not a valid header name", k), "A header name is a token: letters, digits and !#$%&'*+-.^_`|~.")
				continue
			}
			if !httpguts.ValidHeaderFieldValue(hs[k]) {
				detail := fmt.Sprintf("The value of %q holds a control character (CR, LF or NUL).", k)
				add(attr, "holds an invalid header value", detail)
			}
			if attr == "headers" && strings.EqualFold(k, "Authorization") {
				add(attr, `sets "Authorization"`, "Credentials are sensitive: use bearer_token, basic_username and basic_password, or secret_headers.")
			}
		}
	}
	methods := 0
	if c.BearerToken != "" {
		methods++
	}
	if c.BasicUsername != "" || c.BasicPassword != "" {
		methods++
		if c.BasicUsername == "" {
			add("basic_username", "is required with basic_password", "Set both for HTTP basic authentication.")
		}
	}
	if c.OAuth2TokenURL != "" {
		methods++
		if u, err := url.Parse(c.OAuth2TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("oauth2_token_url", "is not an http:// or https:// URL", `Set the token endpoint, such as "https://auth.example.com/oauth/token".`)
		}
		if c.OAuth2ClientID == "" {
			add("oauth2_client_id", "is required with oauth2_token_url", "Set the client ID the authorization server gave the client.")
		}
	} else if c.OAuth2ClientID != "" || c.OAuth2ClientSecret != "" || len(c.OAuth2Scopes) > 0 || len(c.OAuth2Params) > 0 {
		add("oauth2_token_url", "is required with the other oauth2_ attributes", "Set the token endpoint, or remove the oauth2_ attributes.")
	}
	switch c.OAuth2AuthStyle {
	case "auto", "header", "params", "":
	default:
		add("oauth2_auth_style", fmt.Sprintf("unknown style %q", c.OAuth2AuthStyle), `Use "auto", "header" or "params".`)
	}
	if methods > 1 {
		add("bearer_token", "more than one authentication method is set", "Set one of bearer_token, basic_username/basic_password and oauth2_token_url.")
	}
	if err == nil && base.Scheme == "http" {
		errs = append(errs, c.clientTLS().Unused("base_url is http://", "Use an https:// base_url to connect with TLS")...)
	} else if err == nil && base.Scheme == "https" {
		_, tlsErrs := c.clientTLS().Config()
		errs = append(errs, tlsErrs...)
	}
	if c.Proxy != ProxyFromEnvironment && c.Proxy != ProxyNone {
		u, err := url.Parse(c.Proxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			add("proxy", "is not a proxy URL (value not shown: sensitive)", `Use "http://host:port", "https://host:port" or "socks5://host:port", "" for the environment's proxy, or "none".`)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"max_conns_per_host", c.MaxConnsPerHost}, {"max_idle_conns_per_host", c.MaxIdleConnsPerHost}, {"rate_burst", c.RateBurst}, {"follow_redirects", c.FollowRedirects}} {
		if n.v < 0 {
			add(n.name, "must not be negative", "Set 0 or more.")
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"idle_conn_timeout", c.IdleConnTimeout}, {"dial_timeout", c.DialTimeout},
		{"tls_handshake_timeout", c.TLSHandshakeTimeout}, {"response_header_timeout", c.ResponseHeaderTimeout},
		{"request_timeout", c.RequestTimeout},
	} {
		if d.v < 0 {
			add(d.name, "must not be negative", `Set a duration such as "10s", or "0s" for no limit.`)
		}
	}
	if c.RateLimit < 0 {
		add("rate_limit", "must not be negative", "Set requests per second, or 0 for no limit.")
	}
	return errors.Join(errs...)
}

// clientTLS is the TLS part of c, for an https base_url.
func (c Config) clientTLS() sdk.ClientTLS {
	return sdk.ClientTLS{
		Enabled: true, ServerName: c.TLSServerName, CAFile: c.TLSCAFile,
		CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, InsecureSkipVerify: c.TLSInsecureSkipVerify,
	}
}
