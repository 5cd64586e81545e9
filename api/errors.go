package api

import (
	"errors"
	"net/http"
	"time"
)

// Errors of the client itself. An error the admin endpoint answered with
// is an *Error instead; a failure to reach it is the *url.Error of
// net/http, wrapping the network error or the context's.
var (
	// ErrBadResponse wraps the failure to read or decode an answer the
	// endpoint did send: the host answered, but not with what the route
	// describes.
	ErrBadResponse = errors.New("bad response")
	// ErrStreamNotDone is Stream.Result's error before the stream's
	// output has been read to its end.
	ErrStreamNotDone = errors.New("api: the stream's output has not been read to its end")
	// ErrInvalidConfig is NewClient's error for an address or options it
	// cannot use.
	ErrInvalidConfig = errors.New("api: invalid client configuration")
)

// Kind classifies an error the admin endpoint answered with, as the host's
// drivers classify theirs: what to do about it (retry, fix the request,
// give up) is decided from the kind, never from the message.
type Kind string

// The error kinds. The HTTP status of an answer follows its kind
// (Kind.HTTPStatus).
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

// StatusClientClosedRequest is the status of an answer to a call that its
// caller canceled (KindCanceled), as nginx names it.
const StatusClientClosedRequest = 499

// HTTPStatus is the HTTP status of an answer with an error of kind k. The
// endpoint's gate answers with statuses of its own: 421 for a Host it does
// not know, 403 for a foreign origin and 415 for a wrong content type
// (Error.Code says which).
func (k Kind) HTTPStatus() int {
	switch k {
	case KindInvalidArgument:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindAlreadyExists, KindConflict:
		return http.StatusConflict
	case KindPermissionDenied:
		return http.StatusForbidden
	case KindUnauthenticated:
		return http.StatusUnauthorized
	case KindResourceExhausted:
		return http.StatusTooManyRequests
	case KindFailedPrecondition:
		return http.StatusPreconditionFailed
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindTimeout:
		return http.StatusGatewayTimeout
	case KindCanceled:
		return StatusClientClosedRequest
	case KindUnimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// kindOfStatus is the kind of an answer with status code and no error
// body, as from a proxy in front of the endpoint.
func kindOfStatus(code int) Kind {
	switch code {
	case http.StatusBadGateway:
		return KindUnavailable
	case http.StatusRequestTimeout:
		return KindTimeout
	case http.StatusInternalServerError:
		return KindInternal
	}
	for _, k := range Kinds {
		if k != KindInternal && k != KindAlreadyExists && k.HTTPStatus() == code {
			return k
		}
	}
	return KindUnknown
}

// Codes of the errors the endpoint's gate answers with (Error.Code), and
// of a reload's refusal.
const (
	// CodeHostNotAllowed: the request's Host is not a name of the
	// endpoint (421 Misdirected Request).
	CodeHostNotAllowed = "host_not_allowed"
	// CodeCrossOrigin: the request came from a web page of another
	// origin (403 Forbidden).
	CodeCrossOrigin = "cross_origin"
	// CodeUnsupportedMediaType: the request's Content-Type is not the
	// one its route takes (415 Unsupported Media Type).
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeUnauthenticated: the endpoint has identities, and the request
	// proved none: no bearer token or client certificate, or one that
	// names no identity (401 Unauthorized, kind unauthenticated, with
	// WWW-Authenticate: Bearer realm="nebula").
	CodeUnauthenticated = "unauthenticated"
	// CodePermissionDenied: the caller's identity may not do what it
	// asked: it lacks the route's permission, or acts for a tenant that
	// may not use the resource (403 Forbidden, kind permission_denied).
	// The message names the permission needed; for a resource of
	// another tenant it is the same whether the resource exists or not.
	CodePermissionDenied = "permission_denied"
	// CodeInvalidConfiguration: a reload found errors in the
	// configuration and changed nothing; the message lists them, one
	// "file:line:column: error: summary; detail" line each (422
	// Unprocessable Content, kind failed_precondition).
	CodeInvalidConfiguration = "invalid_configuration"
)

// Error is an error the admin endpoint answered with: the "error" object
// of an ErrorBody, and the status it came with. Find it with errors.As, or
// its kind with KindOf.
type Error struct {
	Kind Kind `json:"kind"`
	// Message says what went wrong, for a person; at most 2 KiB, quoting
	// at most 64 bytes of any value the caller sent.
	Message string `json:"message"`
	// Code is the backend's own error code where it has one (a SQLSTATE,
	// a MySQL error number), or the gate's (CodeHostNotAllowed, ...).
	Code string `json:"code,omitempty"`
	// Resource and Operation name the call that failed, when it was one.
	Resource  string `json:"resource,omitempty"`
	Operation string `json:"operation,omitempty"`
	// RetryAfterMs is how long, in milliseconds, the caller should wait
	// before trying again, when the host or the backend said so (a quota
	// refusal, a server's Retry-After); 0 for no advice. The answer also
	// carries it as a Retry-After header, in whole seconds.
	RetryAfterMs int64 `json:"retry_after_ms,omitempty"`
	// StatusCode is the HTTP status of the answer: Kind.HTTPStatus, a
	// status of the gate, or 200 for an error that ended a stream whose
	// output had begun. It is not part of the JSON body. An answer with
	// an error status but no error body (from a proxy, say) has the kind
	// its status suggests and its status line as Message.
	StatusCode int `json:"-"`

	// noBody marks an answer that carried no error body: its kind is the
	// client's guess from the status.
	noBody bool
}

// RetryAfter returns RetryAfterMs as a duration.
func (e *Error) RetryAfter() time.Duration { return time.Duration(e.RetryAfterMs) * time.Millisecond }

// Error returns the message and the kind, "MESSAGE (KIND)", and the
// code when there is one, "MESSAGE (KIND, code CODE)"; for an answer
// without an error body, its status line alone.
func (e *Error) Error() string {
	if e.noBody {
		return e.Message
	}
	if e.Code != "" {
		return e.Message + " (" + string(e.Kind) + ", code " + e.Code + ")"
	}
	return e.Message + " (" + string(e.Kind) + ")"
}

// KindOf returns the kind of the *Error in err's chain, or "" when there
// is none: err is then a failure to reach the endpoint, to read its
// answer, or of the client itself.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
