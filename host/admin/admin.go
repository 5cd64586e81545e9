// Package admin serves a Host over HTTP: health probes for orchestrators,
// resource listings, and operations for the nebula-host CLI and remote
// workers.
//
//	GET  /livez                               200 while the process runs
//	GET  /readyz[?verbose]                    200 when every critical resource is ready and none is quarantined, else 503
//	GET  /v1/health[?limit&after]             the host's health, and a page of resources' health, breaker and recent events; always 200
//	GET  /metrics                             Prometheus metrics (unless telemetry { metrics { enabled = false } })
//	GET  /v1/resources[?limit&after]          a page of resources, and the operations of their types
//	GET  /v1/resources/{name}                 one resource, with its operations and pool
//	GET  /v1/plugins                          the plugins and their state
//	POST /v1/resources/{name}/invoke          {"operation": "get", "args": {...}, "owner": {...}} → {"result": ...}
//	POST /v1/resources/{name}/stream/{op}     streaming operations; see the stream handler
//	POST /v1/reload                           read the configuration files again and apply them → api.ReloadResult
//	GET  /v1/openapi.json                     the OpenAPI 3.1 description of these routes (api.OpenAPIDocument)
//	GET  /ui/                                 the web UI (package ui): files that need no identity; its page reads the routes above
//	GET  /ui                                  redirects to /ui/
//
// The bodies are the types of package api (module
// github.com/nebula-resource/nebula-resource/api), which this server
// encodes and decodes and api.Client reads: api.ResourceList,
// api.Resource, api.HealthPage, api.InvokeRequest, ... The same package
// holds the API's OpenAPI 3.1 description, served here.
//
// Errors are JSON, api.ErrorBody: {"error": {"kind", "message", "code",
// "resource", "operation"}}, with an HTTP status that follows the kind
// (api.Kind.HTTPStatus: not_found 404, invalid_argument 400, unavailable
// 503, ...). Their messages are bounded (MaxErrorMessage): a value a caller
// sent is never echoed in full.
//
// Every request passes one gate before any route (see Server.Handler): its
// Host must name this endpoint, it must not come from another origin, and
// a POST must carry the content type of its route (application/json for
// invoke, application/octet-stream for stream). So a web page open in a
// browser on the same machine can neither send a request that reaches a
// driver (a form or a no-cors fetch can send only text/plain,
// application/x-www-form-urlencoded or multipart/form-data, and always
// sends its Origin) nor read an answer through DNS rebinding (its Host is
// the attacker's name).
//
// With identities in Config.Auth (the admin block's identity blocks), every
// request but the probes must also prove one, by a bearer token or a client
// certificate, and be allowed what it asks (see Permission); one that acts
// for a tenant sees and uses only its tenant's resources. With a tls block
// the server serves HTTPS, and may ask for client certificates (mutual
// TLS). An audit block makes it log every call, reload and refusal, one
// JSON line each. Without identities nothing of this applies: the server
// trusts the callers its address lets in, which must then be loopback.
package admin

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin/ui"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// DefaultAddress is where the admin endpoint listens unless configured.
const DefaultAddress = api.DefaultAddress

// Defaults of Config's limits and timeouts.
const (
	// DefaultMaxMessageSize is the default of Config.MaxMessageSize, and
	// of the host block's max_message_size.
	DefaultMaxMessageSize = sdk.DefaultMaxMessageSize
	// DefaultReadHeaderTimeout is the default of Config.ReadHeaderTimeout.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout is the default of Config.BodyTimeout.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultWriteTimeout is the default of Config.WriteTimeout.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is the default of Config.IdleTimeout.
	DefaultIdleTimeout = 60 * time.Second
)

// MaxErrorMessage bounds the message of an error the API returns, in
// bytes; a longer one is cut with a note of how much was left out.
// Resource and operation names in errors are cut at maxErrorName.
const (
	MaxErrorMessage = 2048
	maxErrorName    = 256
)

// MaxDiagnosticsMessage bounds the message of a refused reload, which
// lists the configuration's errors, in bytes.
const MaxDiagnosticsMessage = 16 << 10

// ErrNotLoopback means the address is not a loopback address and remote
// access was not allowed: AllowRemote is false, or no identity
// authenticates the callers.
var ErrNotLoopback = errors.New("admin address is not loopback")

// Config configures a Server. The zero value listens on DefaultAddress
// with the default limits.
type Config struct {
	// Address is host:port to listen on. Empty means DefaultAddress.
	Address string
	// AllowRemote permits a non-loopback Address. Without it the server
	// refuses to start on one.
	AllowRemote bool
	// AllowedHosts are further names (or name:port) a request's Host may
	// give, beside loopback names, Address's host and the IP address the
	// request arrived on: the names remote callers reach a non-loopback
	// endpoint by (admin block allowed_hosts). Case does not matter.
	AllowedHosts []string
	// AllowedOrigins are the origins ("https://console.example.com")
	// whose browser pages may call the API (admin block allowed_origins).
	// Requests from any other origin are refused.
	AllowedOrigins []string
	// MaxMessageSize bounds an invoke request's body, in bytes (host
	// block max_message_size). Zero means DefaultMaxMessageSize.
	MaxMessageSize int
	// ReadHeaderTimeout bounds reading a request's header. Zero means
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading an invoke request's body, and how long a
	// stream's input may pause. Zero means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// WriteTimeout bounds writing a response, and how long a stream's
	// output may wait for the caller to read. Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection idle this long. Zero
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Logger logs requests that fail or are refused. Nil means
	// slog.Default().
	Logger *slog.Logger

	// Auth is who may call the API, and how they prove it (the admin
	// block's tls, identity and audit blocks). Its zero value, no
	// identity, trusts every caller the gate lets through, which
	// AllowRemote then cannot open to other machines. SetAuth replaces
	// its identities and audit block while the server runs.
	Auth config.AdminAuth
	// Lookup returns the current value of a credential's attribute, for
	// the identities whose token names one (config.Identity.Token);
	// host.Host.CredentialValue is one. It is called on requests that
	// send a bearer token, and must be quick. Nil: Start and SetAuth
	// refuse such identities.
	Lookup func(credential, attribute string) (string, error)
	// Reload reads the configuration again and applies it, for POST
	// /v1/reload, with the request's context (which ends when the caller
	// goes away). Its error for a configuration with errors must be a
	// *host.DiagnosticsError, or have a method InvalidConfiguration() bool
	// that returns true; the server answers it 422, code
	// invalid_configuration, with the error's text, as it is, as the
	// message (so it must list the diagnostics, file:line:column, with
	// the configuration's secrets hidden). Any other error is answered
	// by its kind. Nil: the route answers 501 unimplemented (it stays
	// registered, so that a caller learns why).
	Reload func(ctx context.Context) (api.ReloadResult, error)
	// Audit receives the audit log instead of Auth.Audit's file or
	// standard error: for tests, or a log of the embedding program's.
	// Nil means Auth.Audit's, and none without an audit block. Writes to
	// it are serialized; it is not closed.
	Audit io.Writer
}

// RemoteAccess reports whether c lets the server listen on an address
// that is not loopback: AllowRemote is set and at least one identity
// authenticates the callers. Pass it as CheckAddress's allowRemote.
func (c Config) RemoteAccess() bool { return c.AllowRemote && len(c.Auth.Identities) > 0 }

// Server is the admin HTTP server of one Host.
type Server struct {
	h   *host.Host
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	// routes are the registered patterns, with the content types a
	// request to each must carry when its method sends a body. Written
	// only by New.
	routes []Route
	// allowedHosts and allowedOrigins are the configuration's lists, in
	// lower case, without a trailing slash.
	allowedHosts, allowedOrigins map[string]bool
	// next serves what the gate lets through: the mux, behind the CORS
	// answers for allowed_origins when there are any.
	next http.Handler
	// openAPI is the API's description, served as it is.
	openAPI []byte

	// auth is the authentication, authorization and audit settings,
	// replaced whole by Start (with the TLS files loaded) and SetAuth;
	// never nil.
	auth atomic.Pointer[authState]
	// authMu serializes the writers of auth.
	authMu sync.Mutex

	mu   sync.Mutex // guards srv, ln and done
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New returns a server for h. It does not listen until Start.
func New(h *host.Host, cfg Config) *Server {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	cfg.MaxMessageSize = cmp.Or(cfg.MaxMessageSize, DefaultMaxMessageSize)
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.BodyTimeout = cmp.Or(cfg.BodyTimeout, DefaultBodyTimeout)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, DefaultWriteTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{h: h, cfg: cfg, log: log.With("component", "admin"), mux: http.NewServeMux(),
		allowedHosts: hostSet(cfg.AllowedHosts), allowedOrigins: lowerSet(cfg.AllowedOrigins), openAPI: api.OpenAPIDocument()}
	st := newAuthState(cfg.Auth)
	st.audit = newAuditSink(cfg.Auth.Audit, cfg.Audit)
	s.auth.Store(st)
	s.route("GET /livez", PermissionNone, s.livez)
	s.route("GET /readyz", PermissionNone, s.readyz)
	s.route("GET /v1/health", PermissionRead, s.health)
	s.route("GET /v1/resources", PermissionRead, s.listResources)
	s.route("GET /v1/resources/{name}", PermissionRead, s.getResource)
	s.route("GET /v1/plugins", PermissionAdmin, s.listPlugins)
	s.route("POST /v1/resources/{name}/invoke", PermissionInvoke, s.invoke, api.ContentTypeJSON)
	s.route("POST /v1/resources/{name}/stream/{op}", PermissionInvoke, s.stream, api.ContentTypeStream)
	s.route("POST /v1/reload", PermissionAdmin, s.reload, api.ContentTypeJSON)
	s.route("GET /v1/openapi.json", PermissionRead, s.openAPIDocument)
	// A nil host makes a server that is only asked to check its address.
	if h != nil && h.Gatherer() != nil {
		s.route("GET /metrics", PermissionAdmin, promhttp.HandlerFor(h.Gatherer(), promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.log}}).ServeHTTP)
	}
	// The web UI's files hold no data: they need no identity, and are no
	// route of the API (Routes, the OpenAPI description). They pass the
	// gate's Host and Origin checks; the page reads the API through it.
	s.mux.Handle("GET "+ui.Path, ui.Handler())
	s.mux.Handle("GET "+strings.TrimSuffix(ui.Path, "/"), ui.Handler())
	s.next = s.mux
	if len(s.allowedOrigins) > 0 {
		// Pages of an allowed origin need CORS answers: a preflight for
		// their application/json POST, and Access-Control-Allow-Origin on
		// the answers they read. Other origins never get this far.
		s.next = cors.New(cors.Options{
			AllowOriginFunc: func(origin string) bool { return s.allowedOrigins[strings.TrimSuffix(strings.ToLower(origin), "/")] },
			AllowedMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost},
			AllowedHeaders:  []string{"Authorization", "Content-Type", api.ArgsHeader, api.TenantHeader, api.WorkflowHeader, api.StepHeader},
			// A trusted page on another network may call a host on a
			// private one (Chrome's Private Network Access).
			AllowPrivateNetwork: true,
			MaxAge:              600,
		}).Handler(s.mux)
	}
	return s
}

// Route is one registered pattern of the API.
type Route struct {
	// Pattern is the http.ServeMux pattern, "METHOD /path".
	Pattern string
	// ContentTypes are the media types a request must carry, for a
	// method that sends a body; nil for GET.
	ContentTypes []string
	// Permission is what the caller's identity must be allowed, when
	// the server has identities.
	Permission Permission
}

// Routes returns the API's patterns, in the order they were registered.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// route registers a pattern behind the gate's checks of the caller (see
// guard). A method that sends a body must name the content types its
// requests carry: the gate refuses every other.
func (s *Server) route(pattern string, perm Permission, h http.HandlerFunc, contentTypes ...string) {
	method, _, _ := strings.Cut(pattern, " ")
	if !safeMethod(method) && len(contentTypes) == 0 {
		panic("admin: route " + pattern + " sends a body but names no content type")
	}
	rt := Route{Pattern: pattern, ContentTypes: contentTypes, Permission: perm}
	s.routes = append(s.routes, rt)
	s.mux.HandleFunc(pattern, s.guard(rt, h))
}

// Handler returns the server's handler, for mounting elsewhere: the gate
// (see checkRequest) in front of every route.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens and serves in the background until Shutdown. It refuses
// a non-loopback address without RemoteAccess, loads the tls block's
// files and serves HTTPS when there is one, and opens the audit log.
func (s *Server) Start() error {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	cur := s.auth.Load()
	if err := s.checkAuth(cur.cfg); err != nil {
		return err
	}
	st := *cur
	if cur.cfg.TLS != nil {
		t, err := loadTLS(cur.cfg.TLS)
		if err != nil {
			return err
		}
		st.tls = t
	}
	if st.audit != nil {
		if err := st.audit.open(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.cfg.Address, err)
	}
	s.auth.Store(&st)
	// No ReadTimeout or WriteTimeout: a stream may run for hours. Each
	// request gets its own deadlines instead (serveHTTP).
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if st.tls != nil {
		// Each handshake takes the configuration of the moment, so that
		// SetAuth can renew the certificate; HTTP/1.1 only (loadTLS).
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.auth.Load().tls, nil }}
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.ln, s.done = srv, ln, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "error", err)
		}
	}()
	s.log.Info("admin endpoint listening", "address", ln.Addr().String(), "tls", st.tls != nil, "identities", len(st.identities))
	return nil
}

// Addr returns the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server, waiting for requests in flight until ctx
// ends, and closes the audit log's file. It is safe to call more than
// once, and before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
		if err != nil {
			_ = srv.Close()
		}
		<-done
	}
	if sink := s.auth.Load().audit; sink != nil && s.cfg.Audit == nil {
		if cerr := sink.close(); cerr != nil && err == nil {
			err = fmt.Errorf("admin: closing the audit log: %w", cerr)
		}
	}
	return err
}

// CheckAddress returns an error wrapping ErrNotLoopback when addr's host is
// not a loopback address (or "localhost") and allowRemote is false.
// allowRemote is whether remote access is permitted: Config.RemoteAccess,
// AllowRemote with at least one identity.
func CheckAddress(addr string, allowRemote bool) error {
	return checkAddress(addr, allowRemote, allowRemote)
}

// checkAddress is CheckAddress with its two conditions apart, so that its
// error says which is missing.
func checkAddress(addr string, allowRemote, identities bool) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		if allowRemote && identities {
			return nil // net.Listen says what is wrong with it
		}
		return fmt.Errorf("admin: address %q: %w", addr, err)
	}
	switch {
	case config.IsLoopback(h):
		return nil
	case !allowRemote:
		return fmt.Errorf("admin: %q: %w; set allow_remote = true and declare an identity for each caller in the admin block to listen on it", addr, ErrNotLoopback)
	case !identities:
		return fmt.Errorf("admin: %q: %w, and the admin block declares no identity: every caller would be trusted; declare an identity for each caller", addr, ErrNotLoopback)
	}
	return nil
}

func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz answers 200 when the host is ready (host.Host.Ready: every
// critical resource ready and not quarantined), else 503. With ?verbose it
// lists each resource, one line each:
//
//	[+]ID ok, health STATE[, breaker STATE][: reason]
//	[-]ID LIFECYCLE-STATE, health STATE[, breaker STATE][: reason]
//	health OVERALL (TYPE STATE, ...)
//
// "+" marks a resource that is ready and not quarantined. The reason is why
// a resource that is not ready is not, or why a ready one is not healthy.
// A resource whose block says critical = false is marked "(not critical)"
// after its state, and does not count for the status.
//
// When the server has identities, the lines are for an identity allowed
// read only; others get the status line alone. An identity that acts for
// a tenant sees its tenant's resources, and health over them.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready := s.h.Ready()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose && mayRead(r) {
		rep := s.visibleHealth(r)
		health := map[string]host.ResourceHealth{}
		for _, rh := range rep.Resources {
			health[rh.ID] = rh
		}
		for _, res := range s.h.Describe() {
			if s.reaches(r, res.ID) {
				writeReadyLine(w, res, health[res.ID])
			}
		}
		types := make([]string, 0, len(rep.Types))
		for t, st := range rep.Types {
			types = append(types, t+" "+string(st))
		}
		sort.Strings(types)
		fmt.Fprintf(w, "health %s (%s)\n", rep.Status, strings.Join(types, ", "))
	}
	if ready {
		_, _ = io.WriteString(w, "ok\n")
	} else {
		_, _ = io.WriteString(w, "not ready\n")
	}
}

// writeReadyLine writes one resource's line of /readyz?verbose.
func writeReadyLine(w io.Writer, res host.ResourceInfo, rh host.ResourceHealth) {
	state := rh.State
	if state == "" { // missing from the health report, which is read apart
		state = res.Health
	}
	mark, status, reason := "+", "ok", ""
	switch {
	case res.State != host.StateReady:
		// Not running makes it unhealthy, with the health reason
		// "STATE: error"; the line says the error once.
		mark, status, reason = "-", string(res.State), res.Error
	case rh.Quarantined:
		mark, status, reason = "-", string(res.State), rh.Reason
	case state != host.HealthHealthy:
		reason = rh.Reason
	}
	if !res.Critical {
		// Not counted in readiness: "+" or "-" still says its state.
		status += " (not critical)"
	}
	fmt.Fprintf(w, "[%s]%s %s, health %s", mark, res.ID, status, state)
	if rh.Breaker != host.BreakerNone {
		fmt.Fprintf(w, ", breaker %s", rh.Breaker)
	}
	if reason != "" {
		fmt.Fprintf(w, ": %s", reason)
	}
	fmt.Fprintln(w)
}

// openAPIDocument serves the API's description. It passes the gate like
// every route: it is no secret, but a page of another origin reads nothing
// here.
func (s *Server) openAPIDocument(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openAPI)
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request) {
	info, err := s.h.DescribeResource(r.PathValue("name"))
	if err != nil {
		s.writeError(w, r.PathValue("name"), "", err)
		return
	}
	writeJSON(w, http.StatusOK, resourceOf(info))
}

func (s *Server) listPlugins(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, pluginsOf(s.h.Plugins()))
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	req, err := DecodeInvokeRequest(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxMessageSize)), s.cfg.MaxMessageSize)
	if err != nil {
		// What is left of the body is not wanted: end the connection
		// after the answer, and let no read of it wait.
		_ = rc.SetReadDeadline(time.Now())
		w.Header().Set("Connection", "close")
		s.writeError(w, name, "", err)
		return
	}
	// The body was read to its end: its deadline must not end the call
	// (the server's background read, which notices a closed connection,
	// would take it for a failure and cancel the request).
	_ = rc.SetReadDeadline(time.Time{})
	var owner api.Owner
	if req.Owner != nil {
		owner = *req.Owner
	}
	owner.Tenant, err = actingTenant(r, owner.Tenant)
	noteCall(w, req.Operation, owner.Tenant)
	if err != nil {
		s.writeError(w, name, req.Operation, err)
		return
	}
	var opts []host.AcquireOption
	if owner != (api.Owner{}) {
		opts = append(opts, host.WithOwner(host.Owner(owner)))
	}
	res, err := s.h.Invoke(r.Context(), name, req.Operation, req.Args, opts...)
	if err != nil {
		s.writeError(w, name, req.Operation, err)
		return
	}
	if len(res) > s.cfg.MaxMessageSize {
		s.writeError(w, name, req.Operation, sdk.Errorf(sdk.KindInvalidArgument,
			"the result is %s, more than max_message_size (%s); raise max_message_size in the host block, or ask for less", byteSize(len(res)), byteSize(s.cfg.MaxMessageSize)))
		return
	}
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	writeJSON(w, http.StatusOK, api.InvokeResponse{Result: res})
}

// DecodeInvokeRequest reads the body of an invoke request: one JSON
// object with no unknown fields, an operation, and nothing after it but
// white space. A body over maxSize bytes (http.MaxBytesReader), and every
// other fault, is an invalid_argument error whose message quotes at most a
// few dozen bytes of what was sent.
func DecodeInvokeRequest(body io.Reader, maxSize int) (api.InvokeRequest, error) {
	var req api.InvokeRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return api.InvokeRequest{}, bodyError(err, maxSize)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil || isSyntaxError(err) {
			return api.InvokeRequest{}, sdk.Errorf(sdk.KindInvalidArgument, "the request body has data after its JSON object (at byte %d); send one object", dec.InputOffset())
		}
		return api.InvokeRequest{}, bodyError(err, maxSize)
	}
	if req.Operation == "" {
		return api.InvokeRequest{}, sdk.Errorf(sdk.KindInvalidArgument, "request body has no operation")
	}
	return req, nil
}

func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// bodyError describes why an invoke body could not be decoded, without
// quoting more than a little of it.
func bodyError(err error, maxSize int) error {
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	const shape = `request body must be {"operation": ..., "args": {...}}`
	switch {
	case errors.As(err, &mbe):
		return sdk.Errorf(sdk.KindInvalidArgument, "the request body is larger than max_message_size (%s); raise max_message_size in the host block, or send less", byteSize(maxSize))
	case errors.As(err, &ute):
		return sdk.Errorf(sdk.KindInvalidArgument, "%s: field %s must be %s, not a JSON %s", shape, Quote(ute.Field), ute.Type, ute.Value)
	case errors.As(err, &se):
		return sdk.Errorf(sdk.KindInvalidArgument, "%s: the JSON is not valid at byte %d: %s", shape, se.Offset, Quote(se.Error()))
	case errors.Is(err, io.EOF):
		return sdk.Errorf(sdk.KindInvalidArgument, "%s: the body is empty", shape)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return sdk.Errorf(sdk.KindInvalidArgument, "%s: the body ends before its JSON does", shape)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f, _ = strconv.Unquote(f)
		return sdk.Errorf(sdk.KindInvalidArgument, "%s: unknown field %s", shape, Quote(f))
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return sdk.Errorf(sdk.KindTimeout, "reading the request body took too long")
	}
	return sdk.Errorf(sdk.KindInvalidArgument, "%s: %s", shape, Quote(err.Error()))
}

// stream serves a streaming operation. The request's Content-Type is
// application/octet-stream (ContentTypeStream), also when it has no body;
// the body is the operation's input, and the JSON arguments travel in the
// Nebula-Args header. The response body is the operation's output; its JSON
// result arrives in the Nebula-Result trailer, or its error in the
// Nebula-Error trailer. A request that fails before any output gets an
// ordinary JSON error response.
//
// The input may pause for at most Config.BodyTimeout between reads, and
// each write of the output must reach the caller within
// Config.WriteTimeout; a stream that keeps moving may run as long as it
// needs.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	name, op := r.PathValue("name"), r.PathValue("op")
	args := json.RawMessage(r.Header.Get(api.ArgsHeader))
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	owner := host.Owner{Tenant: r.Header.Get(api.TenantHeader), Workflow: r.Header.Get(api.WorkflowHeader), Step: r.Header.Get(api.StepHeader)}
	var err error
	owner.Tenant, err = actingTenant(r, owner.Tenant)
	noteCall(w, op, owner.Tenant)
	if err != nil {
		s.writeError(w, name, op, err)
		return
	}
	lease, err := s.h.Acquire(r.Context(), name, host.WithOwner(owner))
	if err != nil {
		s.writeError(w, name, op, err)
		return
	}
	defer lease.Release()
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	w.Header().Set("Trailer", api.ResultTrailer+", "+api.ErrorTrailer)
	out := &lazyWriter{w: w, rc: rc, timeout: s.cfg.WriteTimeout}
	in := &pacedReader{r: r.Body, rc: rc, timeout: s.cfg.BodyTimeout}
	res, err := lease.InvokeStream(r.Context(), op, args, in, out)
	if err != nil {
		if !out.started {
			s.writeError(w, name, op, err)
			return
		}
		body := errorBody(name, op, err)
		noteKind(w, string(body.Error.Kind))
		w.Header().Set(api.ErrorTrailer, string(mustJSON(body)))
		return
	}
	out.start()
	w.Header().Set(api.ResultTrailer, string(res))
}

// pacedReader reads a stream's input with a read deadline timeout ahead
// of each read, so that a caller that stops sending mid-body is cut off.
// At the end of the body it clears the deadline, so that the server's
// background read that notices a closed connection is not ended by it;
// after a failed read it lets no further read wait, so that the server
// does not wait to drain a body it will not get.
type pacedReader struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration
}

func (p *pacedReader) Read(b []byte) (int, error) {
	_ = p.rc.SetReadDeadline(time.Now().Add(p.timeout))
	n, err := p.r.Read(b)
	switch {
	case errors.Is(err, io.EOF):
		_ = p.rc.SetReadDeadline(time.Time{})
	case err != nil:
		_ = p.rc.SetReadDeadline(time.Now())
	}
	return n, err
}

// lazyWriter sends the response header on the first write, so that a
// stream that fails before any output can still get an error status.
type lazyWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (l *lazyWriter) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", api.ContentTypeStream)
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		// No output yet: an error may still get its status.
		return 0, nil
	}
	l.start()
	_ = l.rc.SetWriteDeadline(time.Now().Add(l.timeout))
	n, err := l.w.Write(p)
	if err == nil {
		err = l.rc.Flush()
	}
	return n, err
}

// errorBody describes err for the caller, every field bounded: a message
// may quote what the caller sent.
func errorBody(resource, op string, err error) api.ErrorBody {
	info := api.Error{Kind: api.Kind(sdk.KindOf(err)), Message: printable(truncate(err.Error(), MaxErrorMessage)),
		Resource: printable(truncate(resource, maxErrorName)), Operation: printable(truncate(op, maxErrorName))}
	var e *sdk.Error
	if errors.As(err, &e) {
		info.Code = printable(truncate(e.Code, maxErrorName))
	}
	if d := sdk.RetryAfterOf(err); d > 0 {
		info.RetryAfterMs = max(d.Milliseconds(), 1)
	}
	return api.ErrorBody{Error: info}
}

// printable replaces control characters other than new lines and tabs,
// and invalid UTF-8, with "?": JSON would write each as six bytes.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			return '?'
		}
		return r
	}, s)
}

// truncate cuts s to at most max bytes, on a rune boundary, saying how
// many bytes it left out.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const note = "… (%d more bytes)"
	cut := max - len(note) - 8
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf(note, len(s)-cut)
}

// Quote quotes s as Go does (%q), cut to its first 64 bytes: how a value a
// caller sent appears in an error (sdk.QuoteShort).
func Quote(s string) string { return sdk.QuoteShort(s) }

// byteSize prints n bytes in the unit that reads best: 16 MiB, 512 KiB,
// 1000 bytes.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) writeError(w http.ResponseWriter, resource, op string, err error) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	body := errorBody(resource, op, err)
	noteKind(w, string(body.Error.Kind))
	status := body.Error.Kind.HTTPStatus()
	if ms := body.Error.RetryAfterMs; ms > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
	}
	if status >= 500 {
		s.log.Warn("request failed", "resource", body.Error.Resource, "operation", body.Error.Operation, "kind", body.Error.Kind, "error", body.Error.Message)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// mustJSON encodes v on one line, < > & as they are.
func mustJSON(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only for types that always marshal
	}
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

// slogErrorLog adapts the admin logger for promhttp's error reports.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("serving /metrics", "error", fmt.Sprint(v...)) }
