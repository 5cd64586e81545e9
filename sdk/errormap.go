package sdk

import (
	"context"
	"errors"
	"net/http"
)

// ErrorMap turns the errors of a backend's client into [*Error]s, the
// same way in every driver: a driver configures it with what only it
// knows (its backend's error codes, its client's signs of a lost
// connection) and calls Wrap wherever a client call fails.
//
// Wrap decides in this order:
//
//  1. nil stays nil, and an *Error in the chain is returned as it is;
//  2. the call's context first: once ctx has ended, the error is canceled
//     or timeout, whatever the client made of it (a client reports its
//     canceled call as a broken connection or an interrupted statement,
//     which must not read as a failing backend);
//  3. the backend's own error ([ErrorMap.Backend]): its kind, code and
//     retryability;
//  4. the client's own errors ([ErrorMap.Client]): a pool timeout, a full
//     buffer, a TLS setup that cannot work. They come before the context
//     errors in the chain, which such an error may wrap: a connection
//     left broken by an earlier call's deadline is not this call's
//     timeout;
//  5. context errors in the chain (a deadline the client set itself);
//  6. a lost connection ([IsConnectionLoss], or [ErrorMap.Lost]):
//     unavailable;
//  7. the client refusing the call's arguments before sending them
//     ([ErrorMap.Arguments]): invalid_argument;
//  8. what [Classify] finds in the standard library's errors;
//  9. [ErrorMap.Fallback], or unknown.
//
// The error's text keeps no secret: the secrets given to Wrap are
// replaced, except those the caller sent in this call ([RedactContext]).
type ErrorMap struct {
	// Backend classifies an error the backend sent (a SQLSTATE, a Redis
	// reply, a Kafka error code); ok is false for any other error.
	Backend func(err error) (e BackendError, ok bool)
	// Client classifies an error the client made itself that says more
	// than a lost connection or a deadline (go-redis's pool timeout,
	// franz-go's full buffer, a certificate the client refuses); ok is
	// false for any other error.
	Client func(err error) (kind Kind, ok bool)
	// Lost reports the client's own signs of a lost connection, beyond
	// what IsConnectionLoss knows.
	Lost func(err error) bool
	// Arguments reports the client refusing a call's arguments before it
	// sent anything.
	Arguments func(err error) bool
	// Fallback is the kind of an error no rule places; KindUnknown when
	// empty.
	Fallback Kind
}

// BackendError is what [ErrorMap.Backend] finds in an error the backend
// sent.
type BackendError struct {
	Kind Kind
	// Code is the backend's code for the error (SQLSTATE 23505, MySQL
	// 1062, WRONGTYPE), for callers that handle one case.
	Code string
	// Retryable marks an error that is safe to retry although its kind is
	// not (a deadlock, a serialization failure, a leader election).
	Retryable bool
	// Detail, when set, is appended to the message, after what failed
	// (" (MySQL error 1062)").
	Detail string
}

var retryable = true

// Wrap returns err as an *Error whose message says what failed (what),
// its kind decided as [ErrorMap] says; secrets are removed from its text.
func (m ErrorMap) Wrap(ctx context.Context, err error, what string, secrets ...string) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	cause := RedactContext(ctx, err, secrets...)
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(cause, cerr) {
			cause = errors.Join(cerr, cause)
		}
		return &Error{Kind: KindOf(cerr), Message: what + ": " + cerr.Error(), Err: cause}
	}
	if m.Backend != nil {
		if b, ok := m.Backend(err); ok {
			e := &Error{Kind: b.Kind, Code: b.Code, Message: what, Err: cause}
			e.Message += b.Detail
			if b.Retryable {
				e.Retryable = &retryable
			}
			return e
		}
	}
	if m.Client != nil {
		if k, ok := m.Client(err); ok {
			return &Error{Kind: k, Message: what, Err: cause}
		}
	}
	kind := m.Fallback
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = KindTimeout
	case errors.Is(err, context.Canceled):
		kind = KindCanceled
	case IsConnectionLoss(err) || m.Lost != nil && m.Lost(err):
		kind = KindUnavailable
	case m.Arguments != nil && m.Arguments(err):
		kind = KindInvalidArgument
	default:
		if k, ok := Classify(err); ok {
			kind = k
		}
	}
	if kind == "" {
		kind = KindUnknown
	}
	return &Error{Kind: kind, Message: what, Err: cause}
}

// HTTPStatusError classifies the HTTP status of an error a service sent,
// for a driver whose backend speaks HTTP (the object stores) and whose own
// error codes did not place it; code is the service's code, kept on the
// error. A status it does not know is KindUnknown.
func HTTPStatusError(status int, code string) BackendError {
	switch {
	case status == http.StatusNotFound:
		return BackendError{Kind: KindNotFound, Code: code}
	case status == http.StatusPreconditionFailed || status == http.StatusNotModified:
		return BackendError{Kind: KindFailedPrecondition, Code: code}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return BackendError{Kind: KindPermissionDenied, Code: code}
	case status == http.StatusConflict:
		return BackendError{Kind: KindConflict, Code: code}
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return BackendError{Kind: KindUnavailable, Code: code, Retryable: true}
	case status == http.StatusBadRequest || status == http.StatusRequestedRangeNotSatisfiable ||
		status == http.StatusRequestEntityTooLarge || status == http.StatusLengthRequired:
		return BackendError{Kind: KindInvalidArgument, Code: code}
	}
	return BackendError{Kind: KindUnknown, Code: code}
}
