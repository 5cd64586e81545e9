// Package admin serves a Host over HTTP: health probes for orchestrators,
// resource listings, and operations for the nebula-host CLI and remote
// workers.
//
//	GET  /livez                               200 while the process runs
//	GET  /readyz[?verbose]                    200 when every resource is ready and none is quarantined, else 503
//	GET  /v1/health                           every resource's health, breaker and recent events; always 200
//	GET  /metrics                             Prometheus metrics (unless telemetry { metrics { enabled = false } })
//	GET  /v1/resources                        every resource, with its operations and pool
//	GET  /v1/resources/{name}                 one resource
//	GET  /v1/plugins                          the plugins and their state
//	POST /v1/resources/{name}/invoke          {"operation": "get", "args": {...}, "owner": {...}} → {"result": ...}
//	POST /v1/resources/{name}/stream/{op}     streaming operations; see ServeHTTP docs below
//
// Errors are JSON, {"error": {"kind", "message", "code", "resource",
// "operation"}}, with an HTTP status that follows the kind (not_found 404,
// invalid_argument 400, unavailable 503, ...).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// DefaultAddress is where the admin endpoint listens unless configured.
const DefaultAddress = "127.0.0.1:9464"

// maxInvokeBody bounds the JSON body of an invoke request.
const maxInvokeBody = 16 << 20

// Header and trailer names of streaming operations.
const (
	// ArgsHeader carries a streaming operation's JSON arguments.
	ArgsHeader = "Nebula-Args"
	// ResultTrailer carries a streaming operation's JSON result.
	ResultTrailer = "Nebula-Result"
	// ErrorTrailer carries a streaming operation's JSON error when it
	// failed after the response began.
	ErrorTrailer = "Nebula-Error"
	// TenantHeader, WorkflowHeader and StepHeader label a streaming
	// operation's lease with its owner.
	TenantHeader   = "Nebula-Tenant"
	WorkflowHeader = "Nebula-Workflow"
	StepHeader     = "Nebula-Step"
)

// ErrNotLoopback means the address is not a loopback address and remote
// access was not allowed.
var ErrNotLoopback = errors.New("admin address is not loopback")

// Config configures a Server. The zero value listens on DefaultAddress.
type Config struct {
	// Address is host:port to listen on. Empty means DefaultAddress.
	Address string
	// AllowRemote permits a non-loopback Address. Without it the server
	// refuses to start on one.
	AllowRemote bool
	// Logger logs requests that fail. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is the admin HTTP server of one Host.
type Server struct {
	h   *host.Host
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

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
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{h: h, cfg: cfg, log: log.With("component", "admin"), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /livez", s.livez)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /v1/health", s.health)
	s.mux.HandleFunc("GET /v1/resources", s.listResources)
	s.mux.HandleFunc("GET /v1/resources/{name}", s.getResource)
	s.mux.HandleFunc("GET /v1/plugins", s.listPlugins)
	s.mux.HandleFunc("POST /v1/resources/{name}/invoke", s.invoke)
	s.mux.HandleFunc("POST /v1/resources/{name}/stream/{op}", s.stream)
	// A nil host makes a server that is only asked to check its address.
	if h != nil && h.Gatherer() != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(h.Gatherer(), promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.log}}))
	}
	return s
}

// Handler returns the server's handler, for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens and serves in the background until Shutdown.
func (s *Server) Start() error {
	if err := CheckAddress(s.cfg.Address, s.cfg.AllowRemote); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.cfg.Address, err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.ln, s.done = srv, ln, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "error", err)
		}
	}()
	s.log.Info("admin endpoint listening", "address", ln.Addr().String())
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

// Shutdown stops the server, waiting for requests in flight until ctx ends.
// It is safe to call more than once, and before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	<-done
	return err
}

// CheckAddress returns an error wrapping ErrNotLoopback when addr's host is
// not a loopback address (or "localhost") and allowRemote is false.
func CheckAddress(addr string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: address %q: %w", addr, err)
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("admin: %q: %w; set allow_remote = true in the admin block to listen on it", addr, ErrNotLoopback)
}

func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz answers 200 when the host is ready, else 503. With ?verbose it
// lists each resource, one line each:
//
//	[+]ID ok, health STATE[, breaker STATE][: reason]
//	[-]ID LIFECYCLE-STATE, health STATE[, breaker STATE][: reason]
//	health OVERALL (TYPE STATE, ...)
//
// "+" marks a resource that is ready and not quarantined. The reason is why
// a resource that is not ready is not, or why a ready one is not healthy.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready := s.h.Ready()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		rep := s.h.Health()
		health := map[string]host.ResourceHealth{}
		for _, rh := range rep.Resources {
			health[rh.ID] = rh
		}
		for _, res := range s.h.Describe() {
			writeReadyLine(w, res, health[res.ID])
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
	fmt.Fprintf(w, "[%s]%s %s, health %s", mark, res.ID, status, state)
	if rh.Breaker != host.BreakerNone {
		fmt.Fprintf(w, ", breaker %s", rh.Breaker)
	}
	if reason != "" {
		fmt.Fprintf(w, ": %s", reason)
	}
	fmt.Fprintln(w)
}

// health serves the health report. It answers 200 whatever the resources'
// health: it informs; /readyz is the probe.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.h.Health())
}

func (s *Server) listResources(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.h.Describe())
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request) {
	info, err := s.h.DescribeResource(r.PathValue("name"))
	if err != nil {
		s.writeError(w, r.PathValue("name"), "", err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) listPlugins(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.h.Plugins())
}

// InvokeRequest is the body of POST /v1/resources/{name}/invoke.
type InvokeRequest struct {
	Operation string          `json:"operation"`
	Args      json.RawMessage `json:"args,omitempty"`
	// Owner labels the lease, for leak reports.
	Owner *host.Owner `json:"owner,omitempty"`
}

// InvokeResponse is the body of a successful invoke.
type InvokeResponse struct {
	Result json.RawMessage `json:"result"`
}

// ErrorBody is the body of a failed request.
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo describes an error.
type ErrorInfo struct {
	Kind      sdk.Kind `json:"kind"`
	Message   string   `json:"message"`
	Code      string   `json:"code,omitempty"`
	Resource  string   `json:"resource,omitempty"`
	Operation string   `json:"operation,omitempty"`
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req InvokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxInvokeBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.writeError(w, name, "", sdk.Errorf(sdk.KindInvalidArgument, "request body must be {\"operation\": ..., \"args\": {...}}: %v", err))
		return
	}
	if req.Operation == "" {
		s.writeError(w, name, "", sdk.Errorf(sdk.KindInvalidArgument, "request body has no operation"))
		return
	}
	var opts []host.AcquireOption
	if req.Owner != nil {
		opts = append(opts, host.WithOwner(*req.Owner))
	}
	res, err := s.h.Invoke(r.Context(), name, req.Operation, req.Args, opts...)
	if err != nil {
		s.writeError(w, name, req.Operation, err)
		return
	}
	writeJSON(w, http.StatusOK, InvokeResponse{Result: res})
}

// stream serves a streaming operation. The request body is the operation's
// input; the JSON arguments travel in the Nebula-Args header. The response
// body is the operation's output; its JSON result arrives in the
// Nebula-Result trailer, or its error in the Nebula-Error trailer. A request
// that fails before any output gets an ordinary JSON error response.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	name, op := r.PathValue("name"), r.PathValue("op")
	args := json.RawMessage(r.Header.Get(ArgsHeader))
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	owner := host.Owner{Tenant: r.Header.Get(TenantHeader), Workflow: r.Header.Get(WorkflowHeader), Step: r.Header.Get(StepHeader)}
	lease, err := s.h.Acquire(r.Context(), name, host.WithOwner(owner))
	if err != nil {
		s.writeError(w, name, op, err)
		return
	}
	defer lease.Release()
	_ = http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Trailer", ResultTrailer+", "+ErrorTrailer)
	out := &lazyWriter{w: w}
	res, err := lease.InvokeStream(r.Context(), op, args, r.Body, out)
	if err != nil {
		if !out.started {
			s.writeError(w, name, op, err)
			return
		}
		body, _ := json.Marshal(errorBody(name, op, err))
		w.Header().Set(ErrorTrailer, string(body))
		return
	}
	out.start()
	w.Header().Set(ResultTrailer, string(res))
}

// lazyWriter sends the response header on the first write, so that a
// stream that fails before any output can still get an error status.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/octet-stream")
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.start()
	n, err := l.w.Write(p)
	if err == nil {
		_ = http.NewResponseController(l.w).Flush()
	}
	return n, err
}

func errorBody(resource, op string, err error) ErrorBody {
	info := ErrorInfo{Kind: sdk.KindOf(err), Message: err.Error(), Resource: resource, Operation: op}
	var e *sdk.Error
	if errors.As(err, &e) {
		info.Code = e.Code
	}
	return ErrorBody{Error: info}
}

func (s *Server) writeError(w http.ResponseWriter, resource, op string, err error) {
	body := errorBody(resource, op, err)
	status := HTTPStatus(body.Error.Kind)
	if status >= 500 {
		s.log.Warn("request failed", "resource", resource, "operation", op, "kind", body.Error.Kind, "error", err)
	}
	writeJSON(w, status, body)
}

// HTTPStatus maps an error kind to an HTTP status.
func HTTPStatus(k sdk.Kind) int {
	switch k {
	case sdk.KindInvalidArgument:
		return http.StatusBadRequest
	case sdk.KindNotFound:
		return http.StatusNotFound
	case sdk.KindAlreadyExists, sdk.KindConflict:
		return http.StatusConflict
	case sdk.KindPermissionDenied:
		return http.StatusForbidden
	case sdk.KindUnauthenticated:
		return http.StatusUnauthorized
	case sdk.KindResourceExhausted:
		return http.StatusTooManyRequests
	case sdk.KindFailedPrecondition:
		return http.StatusPreconditionFailed
	case sdk.KindUnavailable:
		return http.StatusServiceUnavailable
	case sdk.KindTimeout:
		return http.StatusGatewayTimeout
	case sdk.KindCanceled:
		return 499 // client closed request, as nginx names it
	case sdk.KindUnimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// slogErrorLog adapts the admin logger for promhttp's error reports.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("serving /metrics", "error", fmt.Sprint(v...)) }
