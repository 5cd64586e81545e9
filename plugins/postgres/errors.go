package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// scrub removes the resource's secrets from err's text, but not the ones
// the caller itself sent in this call (sdk.RedactContext says why).
func (r *Resource) scrub(ctx context.Context, err error) error {
	return sdk.RedactContext(ctx, err, r.secrets...)
}

var truth = true

// wrap turns an error from pgx into an *sdk.Error with a kind and, for
// server errors, the SQLSTATE as Code. ctx is the context of the call, to
// tell a canceled or expired call from a failure of the backend.
func (r *Resource) wrap(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	cause := r.scrub(ctx, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		kind := sdk.KindCanceled
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			kind = sdk.KindTimeout
		}
		return &sdk.Error{Kind: kind, Message: what + ": " + ctxErr.Error(), Err: cause}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		e := &sdk.Error{Kind: kindOfSQLState(pe.Code), Code: pe.Code, Message: what, Err: cause}
		switch pe.Code {
		case "40001", "40P01", "55P03":
			e.Retryable = &truth
		}
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &sdk.Error{Kind: sdk.KindTimeout, Message: what, Err: cause}
	case errors.Is(err, context.Canceled):
		return &sdk.Error{Kind: sdk.KindCanceled, Message: what, Err: cause}
	case isConnectionLoss(err):
		return &sdk.Error{Kind: sdk.KindUnavailable, Message: what, Err: cause}
	case isArgumentError(err):
		return &sdk.Error{Kind: sdk.KindInvalidArgument, Message: what, Err: cause}
	}
	return &sdk.Error{Kind: sdk.KindUnknown, Message: what, Err: cause}
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
