package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error so that the host can decide what to do with it
// (retry, fail fast, report a bad request) without reading its message.
// Kinds survive the gRPC boundary in both directions.
type Kind string

// The error kinds. Their names follow gRPC status codes, to which they map.
const (
	KindUnknown            Kind = "unknown"
	KindInvalidArgument    Kind = "invalid_argument"
	KindNotFound           Kind = "not_found"
	KindAlreadyExists      Kind = "already_exists"
	KindConflict           Kind = "conflict"
	KindPermissionDenied   Kind = "permission_denied"
	KindUnauthenticated    Kind = "unauthenticated"
	KindResourceExhausted  Kind = "resource_exhausted"
	KindFailedPrecondition Kind = "failed_precondition"
	KindUnavailable        Kind = "unavailable"
	KindTimeout            Kind = "timeout"
	KindCanceled           Kind = "canceled"
	KindUnimplemented      Kind = "unimplemented"
	KindInternal           Kind = "internal"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{
	KindUnknown, KindInvalidArgument, KindNotFound, KindAlreadyExists,
	KindConflict, KindPermissionDenied, KindUnauthenticated,
	KindResourceExhausted, KindFailedPrecondition, KindUnavailable,
	KindTimeout, KindCanceled, KindUnimplemented, KindInternal,
}

// Retryable reports whether an operation that failed with this kind may
// succeed if tried again unchanged. Only idempotent operations are retried.
func (k Kind) Retryable() bool {
	switch k {
	case KindUnavailable, KindTimeout, KindResourceExhausted:
		return true
	}
	return false
}

// Error is an error with a kind. Drivers create them with [Errorf] or
// [WrapError]; the host receives them with the same kind, message and code.
type Error struct {
	// Kind classifies the error.
	Kind Kind
	// Message describes the error for a person. It never holds a secret.
	Message string
	// Code is the backend's own error code where it has one, for example
	// a SQLSTATE ("23505") or a MySQL error number ("1062").
	Code string
	// Retryable overrides Kind.Retryable when set: a serialization failure
	// is a conflict that is safe to retry.
	Retryable *bool
	// RetryAfter is how long the backend asked the caller to wait before
	// trying again (HTTP's Retry-After, a server's back-off hint); 0 for
	// no advice. The host's retry policy waits at least this long before
	// its next attempt.
	RetryAfter time.Duration
	// Err is the cause. It does not cross the plugin boundary; its text
	// does, as part of Message.
	Err error
}

// Error returns the message, then the cause. The code is not part of it:
// a driver that wants it shown puts it in Message.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Kind)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a kind sentinel such as [ErrUnavailable] of
// the same kind, so that errors.Is(err, sdk.ErrUnavailable) works.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.kind == e.Kind
}

// IsRetryable reports whether the error may go away when the operation is
// tried again.
func (e *Error) IsRetryable() bool {
	if e.Retryable != nil {
		return *e.Retryable
	}
	return e.Kind.Retryable()
}

type sentinel struct{ kind Kind }

func (s *sentinel) Error() string { return string(s.kind) }

// Sentinels for use with errors.Is: errors.Is(err, sdk.ErrUnavailable) is
// true for every error of kind unavailable, local or from a plugin.
var (
	ErrInvalidArgument    error = &sentinel{KindInvalidArgument}
	ErrNotFound           error = &sentinel{KindNotFound}
	ErrAlreadyExists      error = &sentinel{KindAlreadyExists}
	ErrConflict           error = &sentinel{KindConflict}
	ErrPermissionDenied   error = &sentinel{KindPermissionDenied}
	ErrUnauthenticated    error = &sentinel{KindUnauthenticated}
	ErrResourceExhausted  error = &sentinel{KindResourceExhausted}
	ErrFailedPrecondition error = &sentinel{KindFailedPrecondition}
	ErrUnavailable        error = &sentinel{KindUnavailable}
	ErrTimeout            error = &sentinel{KindTimeout}
	ErrCanceled           error = &sentinel{KindCanceled}
	ErrUnimplemented      error = &sentinel{KindUnimplemented}
	ErrInternal           error = &sentinel{KindInternal}
)

// Sentinel returns the sentinel errors.Is matches an error of kind k
// with ([ErrTimeout] for [KindTimeout]), or nil for a kind without one.
// A wrapper whose cause may hold no [Error] (a context error, say) uses
// it to make errors.Is agree with [KindOf]: see host.CallError.
func (k Kind) Sentinel() error {
	for _, s := range sentinels {
		if s.(*sentinel).kind == k {
			return s
		}
	}
	return nil
}

var sentinels = []error{
	ErrInvalidArgument, ErrNotFound, ErrAlreadyExists, ErrConflict, ErrPermissionDenied,
	ErrUnauthenticated, ErrResourceExhausted, ErrFailedPrecondition, ErrUnavailable,
	ErrTimeout, ErrCanceled, ErrUnimplemented, ErrInternal,
}

// Errorf returns an [Error] of the given kind. The format follows fmt.Errorf,
// including %w.
func Errorf(kind Kind, format string, args ...any) error {
	cause := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: cause.Error(), Err: errors.Unwrap(cause)}
}

// WrapError returns err with the given kind and a message naming what
// failed. It returns nil when err is nil.
func WrapError(kind Kind, err error, message string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Message: message, Err: err}
}

// KindOf returns the kind of err: the kind of the first [Error] in its chain,
// KindTimeout or KindCanceled for context errors, and KindUnknown otherwise.
// KindOf(nil) is "".
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	}
	return KindUnknown
}

// IsRetryable reports whether err may go away if the operation is tried
// again. It looks for an IsRetryable method in the chain (as [Error] has),
// then falls back to the kind.
func IsRetryable(err error) bool {
	var r interface{ IsRetryable() bool }
	if errors.As(err, &r) {
		return r.IsRetryable()
	}
	return KindOf(err).Retryable()
}

// RetryAfterOf returns the RetryAfter of the *Error in err's chain, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ConfigError is an error about one attribute of a resource configuration.
// The host shows it as a diagnostic at that attribute's place in the HCL.
type ConfigError struct {
	// Attribute is the attribute's name; empty means the whole block.
	Attribute string
	// Summary is a short statement of what is wrong.
	Summary string
	// Detail says how to fix it.
	Detail string
}

// Error returns the attribute, summary and detail.
func (e *ConfigError) Error() string {
	s := e.Summary
	if e.Attribute != "" {
		s = e.Attribute + ": " + s
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// AttributeError returns a [ConfigError] about the named attribute.
func AttributeError(attribute, summary, detail string) error {
	return &ConfigError{Attribute: attribute, Summary: summary, Detail: detail}
}

// Redact returns err with every non-empty secret in its text replaced by
// "[redacted]". The result unwraps to err, so errors.Is and errors.As
// still see the cause inside the plugin; only the text crosses to the
// host. It returns err itself when no secret occurs in it. Drivers call it
// on the errors of their backend's client, which may quote a DSN or a
// password.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// redactedError is an error whose text has secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
