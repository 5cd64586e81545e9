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

// scrub returns err with every secret in its text replaced, but not the
// ones the caller itself sent in this call (sdk.RedactContext says why).
func scrub(ctx context.Context, secrets []string, err error) error {
	return sdk.RedactContext(ctx, err, secrets...)
}

var truth = true

// wrapError turns an error from go-redis into an *sdk.Error with a kind and,
// for errors the server sent, the error's prefix ("WRONGTYPE", "ERR",
// "CLUSTERDOWN") as Code. ctx is the context of the call, to tell a
// canceled or expired call from a failure of the backend. what names the
// operation. The message never holds a secret.
func wrapError(ctx context.Context, secrets []string, err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	cause := scrub(ctx, secrets, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		kind := sdk.KindCanceled
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			kind = sdk.KindTimeout
		}
		return &sdk.Error{Kind: kind, Message: what + ": " + ctxErr.Error(), Err: cause}
	}
	// TxFailedErr is a goredis.Error too, so it comes first.
	if errors.Is(err, goredis.TxFailedErr) {
		return &sdk.Error{Kind: sdk.KindConflict,
			Message: what + ": the transaction was not executed because a watched key changed", Err: cause}
	}
	var re goredis.Error
	if errors.As(err, &re) && !isClientError(err) {
		code, kind := serverErrorKind(re.Error())
		e := &sdk.Error{Kind: kind, Code: code, Message: what, Err: cause}
		if code == "TRYAGAIN" || code == "CLUSTERDOWN" || code == "LOADING" || code == "MASTERDOWN" {
			e.Retryable = &truth
		}
		return e
	}
	kind := clientErrorKind(err)
	return &sdk.Error{Kind: kind, Message: what, Err: cause}
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

// clientErrorKind classifies an error that go-redis or the network made.
func clientErrorKind(err error) sdk.Kind {
	var (
		ne        net.Error
		dnsErr    *net.DNSError
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
		// "redis: Conn is in a bad state".
		return sdk.KindUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return sdk.KindTimeout
	case errors.Is(err, context.Canceled):
		return sdk.KindCanceled
	case errors.Is(err, goredis.Nil):
		return sdk.KindNotFound
	case errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, goredis.ErrPoolExhausted):
		return sdk.KindResourceExhausted
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alert),
		strings.Contains(msg, "remote error: tls:"):
		// A TLS setup that cannot work: retrying will not help. (The
		// server's alerts, such as "certificate required", have an
		// unexported type.)
		return sdk.KindFailedPrecondition
	case errors.As(err, &ne) && ne.Timeout():
		return sdk.KindTimeout
	case errors.Is(err, goredis.ErrClosed), errors.As(err, &dnsErr), sdk.IsConnectionLoss(err):
		return sdk.KindUnavailable
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "closed"),
		strings.Contains(msg, "no such host"), strings.Contains(msg, "cluster has no nodes"),
		strings.Contains(msg, "no master"), strings.Contains(msg, "not available"):
		return sdk.KindUnavailable
	}
	return sdk.KindUnknown
}
