package host

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/internal/kinded"
	"github.com/nebula-resource/nebula-resource/host/resilience"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Sentinel errors of the host. Errors returned by the host wrap one of these
// or an SDK error kind; test them with errors.Is.
var (
	// ErrClosed means the host has been closed.
	ErrClosed = errors.New("host closed")
	// ErrNotStarted means Start has not returned successfully yet.
	ErrNotStarted = errors.New("host not started")
	// ErrUnknownResource means no resource has the name given.
	ErrUnknownResource = errors.New("unknown resource")
	// ErrNotReady means the resource exists but cannot serve now, for
	// example because its plugin is restarting. Errors wrapping it are
	// also of kind unavailable.
	ErrNotReady = errors.New("resource not ready")
	// ErrCredential is wrapped by the error of a credential block that
	// could not be read (a file missing, a command failing), at Start,
	// Check or Reload.
	ErrCredential = errors.New("credential not readable")
	// ErrNotPermitted is wrapped by the error of a call whose tenant may
	// not use the resource it names (kind permission_denied).
	ErrNotPermitted = errors.New("not permitted")
	// ErrDependencyFailed means a resource was not started because a
	// resource it depends on did not start.
	ErrDependencyFailed = errors.New("dependency not started")
	// ErrLeaseReleased means a lease was used after Release.
	ErrLeaseReleased = errors.New("lease already released")
	// ErrLeaseReclaimed means a lease was used after the host took it
	// back, because it was held past its resource's lease_timeout with
	// reclaim = true.
	ErrLeaseReclaimed = errors.New("lease reclaimed")
	// ErrCircuitOpen means the resource's circuit breaker is open: the call
	// failed fast without reaching the plugin. Errors wrapping it are of
	// kind unavailable.
	ErrCircuitOpen = resilience.ErrCircuitOpen
	// ErrBulkheadFull means the resource's bulkhead had no room for the
	// call. Errors wrapping it are of kind resource_exhausted.
	ErrBulkheadFull = resilience.ErrBulkheadFull
	// ErrQuarantined means health checks found the resource unhealthy: it
	// takes no new leases until it recovers. Errors wrapping it also wrap
	// ErrNotReady and are of kind unavailable.
	ErrQuarantined = errors.New("resource quarantined")
)

// DiagnosticsError is a configuration that failed to load or validate. It
// carries the diagnostics, with source ranges, and the files they point
// into, for printing with config.WriteDiagnostics.
type DiagnosticsError struct {
	Diagnostics hcl.Diagnostics
	Files       map[string]*hcl.File
}

// Error lists the diagnostics, one per line, each with file:line:column.
func (e *DiagnosticsError) Error() string {
	lines := make([]string, 0, len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		if d.Severity == hcl.DiagError {
			lines = append(lines, config.FormatDiagnostic(d))
		}
	}
	return "invalid configuration:\n" + strings.Join(lines, "\n")
}

// CallError is a failed operation on a resource. It unwraps to the cause,
// so sdk.KindOf and errors.Is(err, sdk.ErrUnavailable) see the kind the
// plugin gave.
type CallError struct {
	Resource  string
	Operation string
	Err       error
}

// Error returns "resource operation: cause".
func (e *CallError) Error() string {
	op := e.Operation
	if len(op) > 64 || strings.IndexFunc(op, func(r rune) bool { return !unicode.IsGraphic(r) || r == ' ' }) >= 0 {
		op = sdk.QuoteShort(op) // a caller's unknown operation: bounded
	}
	return fmt.Sprintf("%s %s: %v", e.Resource, op, e.Err)
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// Is makes errors.Is agree with sdk.KindOf when the cause carries no
// sdk.Error: a call that ended with its context's deadline is
// errors.Is(err, sdk.ErrTimeout), canceled sdk.ErrCanceled.
func (e *CallError) Is(target error) bool {
	s := sdk.KindOf(e.Err).Sentinel()
	return s != nil && s == target
}

// newError returns an error of the given kind that wraps sentinel and reads
// as the formatted message.
func newError(kind sdk.Kind, sentinel error, format string, args ...any) error {
	return kinded.New(kind, sentinel, format, args...)
}
