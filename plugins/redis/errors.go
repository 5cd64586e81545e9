package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies go-redis's errors: an error reply of the server by
// its prefix (which is its Code), an EXEC that a changed watched key
// stopped, go-redis's own errors and its signs of a lost connection.
var errorMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		// TxFailedErr is a goredis.Error too, so it comes first.
		if errors.Is(err, goredis.TxFailedErr) {
			return sdk.BackendError{Kind: sdk.KindConflict,
				Detail: ": the transaction was not executed because a watched key changed"}, true
		}
		var re goredis.Error
		if !errors.As(err, &re) || isClientError(err) {
			return sdk.BackendError{}, false
		}
		code, kind := serverErrorKind(re.Error())
		switch code {
		case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN":
			return sdk.BackendError{Kind: kind, Code: code, Retryable: true}, true
		}
		return sdk.BackendError{Kind: kind, Code: code}, true
	},
	Client: clientErrorKind,
	Lost:   isConnectionLoss,
}

// wrap turns an error from go-redis into an *sdk.Error (errorMap), without
// the resource's secrets; what names the operation. ctx is the context of
// the call, to tell a canceled or expired call from a failure of the
// backend.
func (b *base) wrap(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, b.typ+" "+what, b.secrets...)
}

// isClientError reports whether err, though a goredis.Error, was made by
// go-redis itself rather than sent by the server ("redis: ..." messages).
func isClientError(err error) bool {
	return strings.HasPrefix(err.Error(), "redis: ")
}

// serverErrorKind maps an error reply of the server to its code (the first
// word) and a kind.
func serverErrorKind(msg string) (code string, kind sdk.Kind) {
	code, rest, _ := strings.Cut(msg, " ")
	lower := strings.ToLower(rest)
	switch code {
	case "ERR":
		switch {
		case strings.Contains(lower, "max number of clients"):
			return code, sdk.KindResourceExhausted
		case strings.Contains(lower, "invalid password"), strings.Contains(lower, "called without any password"),
			strings.Contains(lower, "no password is set"), strings.Contains(lower, "invalid username-password"):
			return code, sdk.KindUnauthenticated
		case strings.Contains(lower, "without multi"), strings.Contains(lower, "multi calls can not be nested"),
			strings.Contains(lower, "watch inside multi"), strings.Contains(lower, "cluster support disabled"):
			return code, sdk.KindFailedPrecondition
		case strings.HasPrefix(lower, "no such key"):
			return code, sdk.KindNotFound
		}
		// Syntax errors, wrong arity, unknown commands, values that are
		// not integers, out of range database numbers.
		return code, sdk.KindInvalidArgument
	case "WRONGTYPE", "EXECABORT", "CROSSSLOT":
		return code, sdk.KindInvalidArgument
	case "NOAUTH", "WRONGPASS":
		return code, sdk.KindUnauthenticated
	case "NOPERM":
		return code, sdk.KindPermissionDenied
	case "CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY", "MOVED", "ASK",
		"BUSY", "NOREPLICAS", "MISCONF":
		return code, sdk.KindUnavailable
	case "OOM":
		return code, sdk.KindResourceExhausted
	case "NOSCRIPT", "NOGROUP":
		return code, sdk.KindNotFound
	case "BUSYKEY", "BUSYGROUP":
		return code, sdk.KindAlreadyExists
	case "UNBLOCKED":
		return code, sdk.KindCanceled
	case "NOTBUSY":
		return code, sdk.KindFailedPrecondition
	case "NOPROTO":
		return code, sdk.KindUnimplemented
	}
	return code, sdk.KindUnknown
}

// clientErrorKind classifies the errors go-redis made itself that say
// more than a lost connection or a deadline.
func clientErrorKind(err error) (sdk.Kind, bool) {
	var (
		ne        net.Error
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alert     tls.AlertError
	)
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unreachable"), strings.Contains(msg, "bad state"):
		// go-redis reports a failed sentinel lookup as "redis: all
		// sentinels specified in configuration are unreachable" (wrapping
		// the last dial error), a Conn that lost its connection as
		// "redis: Conn is in a bad state" (wrapping what broke it, which
		// may be an earlier call's deadline).
		return sdk.KindUnavailable, true
	case errors.Is(err, goredis.Nil):
		return sdk.KindNotFound, true
	case errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, goredis.ErrPoolExhausted):
		return sdk.KindResourceExhausted, true
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alert),
		strings.Contains(msg, "remote error: tls:"):
		// A TLS setup that cannot work: retrying will not help. (The
		// server's alerts, such as "certificate required", have an
		// unexported type.)
		return sdk.KindFailedPrecondition, true
	case errors.As(err, &ne) && ne.Timeout():
		// A read or dial deadline of go-redis's own, not a lost
		// connection.
		return sdk.KindTimeout, true
	}
	return "", false
}

// isConnectionLoss reports go-redis's signs of a lost connection beyond
// what sdk.IsConnectionLoss knows.
func isConnectionLoss(err error) bool {
	if errors.Is(err, goredis.ErrClosed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "closed") ||
		strings.Contains(msg, "no such host") || strings.Contains(msg, "cluster has no nodes") ||
		strings.Contains(msg, "no master") || strings.Contains(msg, "not available")
}
