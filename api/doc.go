// Package api is the admin API of a nebula-resource host: the request and
// response types of its HTTP endpoint, which the host itself encodes and
// decodes, so that the server and this package cannot drift apart; the
// API's OpenAPI 3.1 description (OpenAPIDocument), for callers in other
// languages; and a Go client of it, which nebula-host's call, describe and
// health commands use. It is a module of its own that needs nothing beyond
// the standard library, so that a remote worker pulls in only this.
//
// # Calling a host
//
// NewClient takes the endpoint's address, host:port as nebula-host call
// -addr takes it:
//
//	c, err := api.NewClient("127.0.0.1:9464", api.WithTimeout(10*time.Second))
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	res, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{
//		Operation: "get",
//		Args:      json.RawMessage(`{"key":"a"}`),
//	})
//
// There is a method for every route: Live, Ready and Metrics for the
// probes; Resources, Resource, Plugins and Health for what the host runs
// (Resources and Health read every page; ResourcePage and HealthPage read
// one); Invoke for an operation, Stream for a streaming one (a blob's put
// and get, for instance), whose input is a Reader and whose output the
// Stream reads; Reload to apply the host's configuration files anew; and
// OpenAPI for the description the host serves.
//
// # Errors
//
// An error the endpoint answered with is an *Error: its Kind (not_found,
// invalid_argument, unavailable, ...) says what to do about it, and its
// StatusCode, Code, Resource and Operation say more; KindOf returns the
// kind of any error, "" for one that is not the endpoint's. A failure to
// reach the endpoint is the *url.Error of net/http, wrapping the network's
// error or the context's (context.Canceled, context.DeadlineExceeded); an
// answer that cannot be read is ErrBadResponse.
//
// # Who may call
//
// Every request passes a gate first: its Host must name the endpoint (a
// loopback name, the configured address, the address the connection
// arrived on, or a name in allowed_hosts), a web page of another origin is
// refused, and a POST must carry its route's content type. The client
// sends what the gate wants; an address the gate does not know is an
// *Error with Code CodeHostNotAllowed.
//
// An endpoint whose admin block declares no identity trusts whoever
// reaches it, and so listens on loopback only. One with identities wants
// each request but the probes (/livez, /readyz) to prove one: a bearer
// token (WithBearerToken) whose SHA-256 an identity's token_sha256 holds,
// or a client certificate (WithClientCertificate) an identity's
// client_cert_names name, over the HTTPS of the admin block's tls block
// (WithCAFile for the authority that signed its certificate). Without
// one the answer is an *Error of KindUnauthenticated (401, Code
// CodeUnauthenticated); with an identity that may not do what it asked,
// KindPermissionDenied (403, Code CodePermissionDenied). An identity may
// read (listings, health, the description), invoke (Invoke, Stream) or
// administer (Plugins, Metrics, Reload); one that acts for a tenant sees
// and uses only that tenant's resources. The token never appears in an
// error.
package api
