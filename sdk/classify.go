package sdk

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"io/fs"
	"net"
	"strings"
)

// Classify returns the kind that err tells by itself, without knowing the
// backend, and whether it could tell. Drivers call it after their
// backend's own codes (a SQLSTATE, a Redis reply prefix, a Kafka error
// code) and before giving up with [KindUnknown], so that every driver
// classifies the standard library's errors the same way:
//
//   - an [Error] anywhere in the chain: its kind, unless unknown (then
//     the rest of the chain may tell);
//   - context.Canceled, context.DeadlineExceeded: canceled, timeout;
//   - an operating system error number (in a *fs.PathError, *os.LinkError,
//     *net.OpError or bare): the caller's mistakes (ENAMETOOLONG, EINVAL,
//     ELOOP, EFBIG, ERANGE) are invalid_argument; the file system's state
//     (ENOTDIR, EISDIR, ENOTEMPTY, EXDEV, EBUSY) failed_precondition;
//     ENOENT not_found, EEXIST already_exists, EACCES/EPERM/EROFS
//     permission_denied, ENOSPC/EDQUOT/EMFILE/ENOMEM resource_exhausted,
//     ETIMEDOUT timeout; a failing disk (EIO) or peer (ECONNREFUSED,
//     ECONNRESET, EPIPE, EHOSTUNREACH...) unavailable;
//   - fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, errors.ErrUnsupported:
//     not_found, already_exists, permission_denied, unimplemented;
//   - a network error: timeout when it says so, otherwise unavailable;
//     driver.ErrBadConn and net.ErrClosed: unavailable;
//   - database/sql refusing a statement's arguments (too few, too many,
//     or of a type it cannot convert): invalid_argument.
//
// It does not treat io.EOF as a lost connection: that is true of a
// network client and false of a decoder reading a caller's argument. Use
// [IsConnectionLoss] where a connection is what was read.
func Classify(err error) (Kind, bool) {
	if err == nil {
		return "", false
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != KindUnknown {
		return e.Kind, true
	}
	return classifyStd(err)
}

// classifyStd classifies err by the standard library's errors in its
// chain alone.
func classifyStd(err error) (Kind, bool) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout, true
	case errors.Is(err, context.Canceled):
		return KindCanceled, true
	}
	if k, ok := kindOfErrnoIn(err); ok {
		return k, true
	}
	var ne net.Error
	switch {
	case isSQLArgumentError(err):
		return KindInvalidArgument, true
	case errors.Is(err, fs.ErrNotExist):
		return KindNotFound, true
	case errors.Is(err, fs.ErrExist):
		return KindAlreadyExists, true
	case errors.Is(err, fs.ErrPermission):
		return KindPermissionDenied, true
	case errors.Is(err, errors.ErrUnsupported):
		return KindUnimplemented, true
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout, true
	case errors.As(err, &ne), errors.Is(err, net.ErrClosed), errors.Is(err, driver.ErrBadConn):
		return KindUnavailable, true
	}
	return "", false
}

// ClassifyOr returns the kind [Classify] finds in err, or fallback when it
// finds none.
func ClassifyOr(err error, fallback Kind) Kind {
	if k, ok := Classify(err); ok {
		return k
	}
	return fallback
}

// CallKind returns the kind of an error that ended a driver's call made
// with ctx: canceled or timeout when ctx has ended, whatever the error says
// (a client reports its canceled call as a broken connection or an
// interrupted statement, which must not read as a failing backend); else
// what [Classify] finds; else fallback.
func CallKind(ctx context.Context, err error, fallback Kind) Kind {
	if cerr := ctx.Err(); cerr != nil {
		return KindOf(cerr)
	}
	return ClassifyOr(err, fallback)
}

// IsConnectionLoss reports whether err means a connection to the backend
// broke or could not be made: a network error, a reset or refused
// connection, a closed connection, or the stream ending in the middle
// (io.EOF, io.ErrUnexpectedEOF) of what a client read from a server.
func IsConnectionLoss(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return isConnErrno(err)
}

// isSQLArgumentError reports whether err is database/sql refusing a
// statement's arguments before the driver saw them. database/sql has no
// error values for these, only its messages.
func isSQLArgumentError(err error) bool {
	msg := err.Error()
	for {
		if strings.HasPrefix(msg, "sql: expected ") && strings.Contains(msg, " arguments, got ") ||
			strings.HasPrefix(msg, "sql: converting argument ") {
			return true
		}
		_, rest, ok := strings.Cut(msg, ": ")
		if !ok {
			return false
		}
		msg = rest
	}
}
