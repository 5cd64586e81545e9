package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the driver's errors: a server's error by its code
// (the Code of the sdk error, "11000"), the driver's signs of a lost
// connection or an unreachable server, and its own refusals of a call.
func (r *Resource) errorMap() sdk.ErrorMap {
	return sdk.ErrorMap{
		Backend: r.backendError,
		Lost: func(err error) bool {
			var sel topology.ServerSelectionError
			return mongo.IsNetworkError(err) || errors.As(err, &sel) ||
				errors.Is(err, topology.ErrTopologyClosed)
		},
		Arguments: func(err error) bool {
			return errors.Is(err, mongo.ErrEmptySlice) || errors.Is(err, mongo.ErrNilDocument) ||
				errors.Is(err, mongo.ErrNonStringIndexName) || strings.Contains(err.Error(), "cannot transform type")
		},
		Fallback: sdk.KindUnknown,
	}
}

// wrap turns a driver's error into an *sdk.Error without the resource's
// secrets; what names the operation.
func (r *Resource) wrap(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, mongo.ErrClientDisconnected) {
		return sdk.Errorf(sdk.KindUnavailable, "%s: the %s resource %q is closed", what, r.typ, r.name)
	}
	return r.errorMap().Wrap(ctx, err, what, r.secrets...)
}

// backendError classifies an error the server sent: a command's, a
// write's (the first of several), or a write concern's.
func (r *Resource) backendError(err error) (sdk.BackendError, bool) {
	var (
		ce  mongo.CommandError
		we  mongo.WriteException
		bwe mongo.BulkWriteException
	)
	switch {
	case errors.As(err, &we):
		if len(we.WriteErrors) > 0 {
			w := we.WriteErrors[0]
			return writeError(w.Code, w.Message, w.Raw, -1, len(we.WriteErrors)), true
		}
		if we.WriteConcernError != nil {
			return r.writeConcernError(*we.WriteConcernError), true
		}
	case errors.As(err, &bwe):
		if len(bwe.WriteErrors) > 0 {
			w := bwe.WriteErrors[0]
			return writeError(w.Code, w.Message, w.Raw, w.Index, len(bwe.WriteErrors)), true
		}
		if bwe.WriteConcernError != nil {
			return r.writeConcernError(*bwe.WriteConcernError), true
		}
	case errors.As(err, &ce):
		if ce.Code == 0 && ce.Name == "" {
			return sdk.BackendError{}, false // the driver's own
		}
		b := codeError(int(ce.Code))
		if ce.HasErrorLabel("TransientTransactionError") {
			b.Retryable = true
		}
		return b, true
	}
	return sdk.BackendError{}, false
}

// writeError classifies a write error; index is its write's among
// several (-1 for one), n how many failed.
func writeError(code int, msg string, raw []byte, index, n int) sdk.BackendError {
	b := codeError(code)
	var detail strings.Builder
	if index >= 0 {
		fmt.Fprintf(&detail, ": write %d", index)
		if n > 1 {
			fmt.Fprintf(&detail, " (the first of %d that failed)", n)
		}
	}
	if code == 11000 || code == 11001 {
		// The key pattern names the unique index's fields, not their
		// values.
		if kp, ok := bsonLookup(raw, "keyPattern"); ok {
			fmt.Fprintf(&detail, ": duplicate key for the unique index on %s", kp)
		} else {
			detail.WriteString(": duplicate key")
		}
	}
	_ = msg // the server's message is the cause, which sdk.ErrorMap keeps
	b.Detail = detail.String()
	return b
}

// writeConcernError classifies a write concern error, naming the
// concern: the write may have been applied, so it is not retryable.
func (r *Resource) writeConcernError(wce mongo.WriteConcernError) sdk.BackendError {
	b := sdk.BackendError{Kind: sdk.KindUnavailable, Code: strconv.Itoa(wce.Code)}
	switch wce.Code {
	case 79, 100: // UnknownReplWriteConcern, UnsatisfiableWriteConcern
		b.Kind = sdk.KindInvalidArgument
	case 64: // WriteConcernFailed: wtimeout
		b.Kind = sdk.KindTimeout
	}
	concern := r.cfg.WriteConcern
	if concern == "" {
		concern = "the server's default"
	}
	b.Detail = fmt.Sprintf(": write concern %s (w = %s, journal = %t) not satisfied; the write may have been applied", wce.Name, concern, r.cfg.Journal)
	return b
}

// codeError classifies a server error code.
func codeError(code int) sdk.BackendError {
	b := sdk.BackendError{Code: strconv.Itoa(code), Kind: sdk.KindUnknown}
	switch code {
	case 11000, 11001, 12582: // DuplicateKey
		b.Kind = sdk.KindConflict
	case 112: // WriteConflict
		b.Kind, b.Retryable = sdk.KindConflict, true
	case 85, 86, 117: // IndexOptionsConflict, IndexKeySpecsConflict, ConflictingOperationInProgress
		b.Kind = sdk.KindConflict
	case 24, 46, 43: // LockTimeout, LockBusy, CursorNotFound (the server lost it: restarted)
		b.Kind, b.Retryable = sdk.KindUnavailable, true
	case 279: // ClientDisconnect
		b.Kind = sdk.KindCanceled
	case 48: // NamespaceExists
		b.Kind = sdk.KindAlreadyExists
	case 26, 27: // NamespaceNotFound, IndexNotFound
		b.Kind = sdk.KindNotFound
	case 13, 8000: // Unauthorized, AtlasError
		b.Kind = sdk.KindPermissionDenied
	case 18: // AuthenticationFailed
		b.Kind = sdk.KindUnauthenticated
	case 50, 262: // MaxTimeMSExpired, ExceededTimeLimit
		b.Kind = sdk.KindTimeout
	case 6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436, 134: // unreachable, stepping down, shutting down, not primary, read concern majority not available
		b.Kind, b.Retryable = sdk.KindUnavailable, true
	case 20, 251, 256, 257, 263: // IllegalOperation, NoSuchTransaction, TransactionCommitted, TransactionTooOld, OperationNotSupportedInTransaction
		b.Kind = sdk.KindFailedPrecondition
	case 59, 115, 238: // CommandNotFound, CommandNotSupported, NotImplemented
		b.Kind = sdk.KindUnimplemented
	case 16, 146, 292: // InvalidLength, ExceededMemoryLimit, QueryExceededMemoryLimitNoDiskUseAllowed
		b.Kind = sdk.KindResourceExhausted
	case 2, 4, 9, 10, 14, 15, 17, 22, 28, 40, 52, 55, 56, 57, 66, 67, 72, 73, 96, 168,
		16410, 16411, 16836, 15973, 15974, 15975, 17276, 31249, 31253, 31254, 40323, 40324, 51091, 51108:
		// BadValue, NoSuchKey, FailedToParse, UserNotFound... and the query
		// and aggregation language's errors: the caller's.
		b.Kind = sdk.KindInvalidArgument
	}
	if b.Kind == sdk.KindUnknown && (code >= 2 && code < 1000 || code >= 15000) {
		// The server's other named errors, and its location codes (15000
		// and up): nearly all refuse what the call asked (a query, an
		// update, a stage), which is the caller's to fix.
		b.Kind = sdk.KindInvalidArgument
	}
	return b
}

// bsonLookup returns a field of a BSON document as relaxed Extended
// JSON ({"email": 1}), for a message.
func bsonLookup(raw []byte, key string) (string, bool) {
	v, err := bson.Raw(raw).LookupErr(key)
	if err != nil {
		return "", false
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return v.String(), true
	}
	b, err := bson.MarshalExtJSON(doc, false, false)
	if err != nil {
		return "", false
	}
	return string(b), true
}
