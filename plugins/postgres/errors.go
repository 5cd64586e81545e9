package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies pgx's errors: a server error by its SQLSTATE (which
// is its Code), pgx's signs of a lost connection and of arguments it
// refused to encode.
var errorMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			return sdk.BackendError{}, false
		}
		switch pe.Code {
		case "40001", "40P01", "55P03": // serialization failure, deadlock, lock not available
			return sdk.BackendError{Kind: kindOfSQLState(pe.Code), Code: pe.Code, Retryable: true}, true
		}
		return sdk.BackendError{Kind: kindOfSQLState(pe.Code), Code: pe.Code}, true
	},
	Lost:      isConnectionLoss,
	Arguments: isArgumentError,
}

// wrap turns an error from pgx into an *sdk.Error (errorMap), without the
// resource's secrets. ctx is the context of the call, to tell a canceled
// or expired call from a failure of the backend.
func (r *Resource) wrap(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, what, r.secrets...)
}

// isConnectionLoss reports whether err means the connection is gone or
// could not be made.
func isConnectionLoss(err error) bool {
	var ce *pgconn.ConnectError
	if sdk.IsConnectionLoss(err) || errors.As(err, &ce) || pgconn.Timeout(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "unexpected EOF")
}

// isArgumentError reports whether err is pgx refusing the arguments before
// sending them.
func isArgumentError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "failed to encode args") || strings.Contains(msg, "mismatched param and argument count") ||
		(strings.HasPrefix(msg, "expected ") && strings.Contains(msg, " arguments, got "))
}

// kindOfSQLState maps a SQLSTATE to a kind: PostgreSQL's own meanings of
// exact codes first, then the SDK's mapping of the standard classes.
func kindOfSQLState(code string) sdk.Kind {
	switch code {
	case "23505", "23503", "23P01": // unique, foreign key, exclusion
		return sdk.KindConflict
	case "40001", "40P01": // serialization failure, deadlock
		return sdk.KindConflict
	case "55P03": // lock not available (NOWAIT)
		return sdk.KindConflict
	case "42501": // insufficient privilege
		return sdk.KindPermissionDenied
	case "57014": // query canceled: statement_timeout or a cancel request
		return sdk.KindTimeout
	case "57P01", "57P02", "57P03": // admin shutdown, crash shutdown, cannot connect now
		return sdk.KindUnavailable
	case "3D000": // database does not exist
		return sdk.KindNotFound
	case "25P02", "25001", "25006", "25P01": // failed tx, active tx, read-only tx, no active tx
		return sdk.KindFailedPrecondition
	}
	return sdk.KindOfSQLState(code)
}
