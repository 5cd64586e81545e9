package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
)

// The audit log.
//
// With an audit block (or Config.Audit), the server writes one JSON line
// for every request that acts (invoke, stream, reload: the routes whose
// method is not GET), whatever its outcome, and for every request it
// refuses with 401 or 403, on any route:
//
//	{"time":"2026-05-01T12:00:00.123456789Z","identity":"acme-worker","tenant":"acme","remote":"10.0.0.7:51234",
//	 "method":"POST","route":"POST /v1/resources/{name}/invoke","resource":"postgres.acme","operation":"query",
//	 "result":"ok","status":200,"duration_ms":3.2}
//
// result is "ok" or the error's kind (permission_denied, unavailable, ...);
// route is the pattern the request matched, "" for none. A line never
// holds an operation's arguments, a header or a token.

// auditEntry is one line of the audit log.
type auditEntry struct {
	Time       string  `json:"time"`
	Identity   string  `json:"identity"`
	Tenant     string  `json:"tenant"`
	Remote     string  `json:"remote"`
	Method     string  `json:"method"`
	Route      string  `json:"route"`
	Resource   string  `json:"resource"`
	Operation  string  `json:"operation"`
	Result     string  `json:"result"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
}

// errSinkClosed is a write to a sink that SetAuth or Shutdown closed.
var errSinkClosed = errors.New("admin: audit log closed")

// auditSink is where the audit log goes: a file opened for appending, or
// a writer (standard error, Config.Audit).
type auditSink struct {
	// path is the file's, config.AuditStderr, or "" for Config.Audit.
	path string
	// mu serializes the writes, so that lines never interleave: it is
	// held across each write, which is what it is for. It guards the
	// fields below.
	mu     sync.Mutex
	w      io.Writer // nil until a file is opened
	f      *os.File  // the file opened; nil for a writer
	closed bool
	// failed is set when a write fails, so that the failure is logged
	// once, and cleared by the next write that succeeds.
	failed bool
}

// newAuditSink returns the sink of a, or of override when it is set; nil
// when there is neither. A file is opened by open, or on the first write.
func newAuditSink(a *config.Audit, override io.Writer) *auditSink {
	switch {
	case override != nil:
		return &auditSink{w: override}
	case a == nil:
		return nil
	case a.Path == config.AuditStderr:
		return &auditSink{path: a.Path, w: os.Stderr}
	}
	return &auditSink{path: a.Path}
}

// auditSinkFor returns the sink for a when it replaces old: old itself
// when it already writes where a says (and always with Config.Audit), or
// a new sink, its file opened.
func (s *Server) auditSinkFor(a *config.Audit, old *auditSink) (*auditSink, error) {
	switch {
	case s.cfg.Audit != nil && old != nil:
		return old, nil
	case s.cfg.Audit == nil && a == nil:
		return nil, nil
	case s.cfg.Audit == nil && old != nil && old.path == a.Path:
		return old, nil
	}
	sink := newAuditSink(a, s.cfg.Audit)
	if err := sink.open(); err != nil {
		return nil, err
	}
	return sink, nil
}

// open opens the sink's file, if it has one and it is not open yet.
func (a *auditSink) open() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.openLocked()
}

func (a *auditSink) openLocked() error {
	if a.w != nil || a.closed {
		return nil
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("admin: opening the audit log: %w", err)
	}
	a.f, a.w = f, f
	return nil
}

// write appends one line. failedNow reports a failure that is the first
// since the last success, for the caller to log.
func (a *auditSink) write(line []byte) (failedNow bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false, errSinkClosed
	}
	if err = a.openLocked(); err == nil {
		_, err = a.w.Write(line)
	}
	if err != nil {
		failedNow, a.failed = !a.failed, true
		return failedNow, err
	}
	a.failed = false
	return false, nil
}

// close closes the sink's file, if it opened one; later writes fail with
// errSinkClosed. It is safe to call more than once.
func (a *auditSink) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	if a.f != nil {
		return a.f.Close()
	}
	return nil
}

// audit writes e to the audit log, if there is one. A sink that SetAuth
// closed meanwhile hands the line to its successor.
func (s *Server) audit(e auditEntry) {
	line, err := json.Marshal(e)
	if err != nil {
		return // only strings and numbers: never
	}
	line = append(line, '\n')
	for range 2 {
		sink := s.auth.Load().audit
		if sink == nil {
			return
		}
		failedNow, err := sink.write(line)
		switch {
		case errors.Is(err, errSinkClosed):
			continue
		case failedNow:
			s.log.Error("writing the audit log failed; the lines are lost until a write succeeds", "path", sink.path, "error", err)
		}
		return
	}
}

// auditRequest writes the audit line of a request: its caller, route
// and outcome.
func (s *Server) auditRequest(r *http.Request, route string, start time.Time, status int, result, tenant, operation string) {
	if s.auth.Load().audit == nil {
		return
	}
	e := auditEntry{
		Time: start.UTC().Format(time.RFC3339Nano), Tenant: tenant, Remote: r.RemoteAddr, Method: r.Method, Route: route,
		Resource: printable(truncate(r.PathValue("name"), maxErrorName)), Operation: printable(truncate(operation, maxErrorName)),
		Result: result, Status: status, DurationMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	if c, _ := callerOf(r); c.id != nil {
		e.Identity = c.id.name
		if e.Tenant == "" {
			e.Tenant = c.id.tenant
		}
	}
	s.audit(e)
}

// recorder notes what an audited request's handler answered: its status,
// the kind of the error it answered with, and what it did.
type recorder struct {
	http.ResponseWriter
	status int
	// kind is the kind of the error the handler answered with (or a
	// stream ended with); "" for none.
	kind string
	// operation and tenant are the operation performed and the tenant it
	// acted for, once the handler knows them.
	operation, tenant string
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// result is the audit log's result: "ok", or the kind of the error.
func (rec *recorder) result() string {
	switch {
	case rec.kind != "":
		return rec.kind
	case rec.status >= 400:
		return "error"
	}
	return "ok"
}

// noteKind records, for the audit log, the kind of the error a handler
// answers with.
func noteKind(w http.ResponseWriter, kind string) {
	if rec, ok := w.(*recorder); ok {
		rec.kind = kind
	}
}

// noteCall records, for the audit log, the operation a handler performs
// and the tenant it acts for.
func noteCall(w http.ResponseWriter, operation, tenant string) {
	if rec, ok := w.(*recorder); ok {
		rec.operation, rec.tenant = operation, tenant
	}
}
