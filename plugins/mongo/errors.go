package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
// newResource makes it once per resource (Resource.errs).
func (r *Resource) errorMap() sdk.ErrorMap {
	return sdk.ErrorMap{
		Backend: r.backendError,
		// No server to send to within server_selection_timeout: the
		// driver's error wraps context.DeadlineExceeded (its own
		// deadline, not the call's, whose end Wrap checks first), which
		// ErrorMap would otherwise take for a timeout of the call before
		// Lost is asked. It is the backend being unreachable.
		Client: func(err error) (sdk.Kind, bool) {
			var sel topology.ServerSelectionError
			if errors.As(err, &sel) {
				return sdk.KindUnavailable, true
			}
			return "", false
		},
		// (A ServerSelectionError never reaches Lost: Client took it.)
		Lost: func(err error) bool {
			return mongo.IsNetworkError(err) || errors.Is(err, topology.ErrTopologyClosed)
		},
		Arguments: func(err error) bool {
			// (mongo.ErrNonStringIndexName, deprecated, is returned by
			// nothing in the driver: every index name here is a string.)
			return errors.Is(err, mongo.ErrEmptySlice) || errors.Is(err, mongo.ErrNilDocument) ||
				strings.Contains(err.Error(), "cannot transform type")
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
	return r.errs.Wrap(ctx, err, what, r.secrets...)
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
		code := int(ce.Code)
		if ferretDuplicate(ce) {
			code = 11000
		}
		b := codeError(code)
		if ce.HasErrorLabel("TransientTransactionError") {
			b.Retryable = true
		}
		if isDuplicateKey(code) {
			// findAndModify's duplicate key is a command error, whose
			// reply holds the key pattern as a write error does.
			b.Detail = duplicateDetail(ce.Raw, ce.Message)
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
	if isDuplicateKey(code) {
		detail.WriteString(duplicateDetail(raw, msg))
	}
	b.Detail = detail.String()
	return b
}

// isDuplicateKey reports whether a server error code is DuplicateKey's.
func isDuplicateKey(code int) bool { return code == 11000 || code == 11001 }

// duplicateDetail says which unique index a duplicate key error is of,
// by what the server said: its key pattern, which names the index's
// fields and not their values (MongoDB sends it, in a write error or a
// command's reply), else the index's name in the message ("... index:
// email_1 dup key: ..."); else only that the key is a duplicate, which
// store.wrapWrite completes by asking the server (FerretDB v1 names only
// the collection: "E11000 duplicate key error collection: db.c").
func duplicateDetail(raw []byte, msg string) string {
	if which := duplicateIndex(raw, msg); which != "" {
		return ": duplicate key for the unique index " + which
	}
	return ": duplicate key"
}

// duplicateIndex is what duplicateDetail finds of the index: `on
// {"email":1}` or `"email_1"`, or "" when the server did not say.
func duplicateIndex(raw []byte, msg string) string {
	if len(raw) > 0 {
		if kp, ok := bsonLookup(raw, "keyPattern"); ok {
			return "on " + kp
		}
	}
	if m := indexInMessage.FindStringSubmatch(msg); m != nil {
		return strconv.Quote(m[1])
	}
	return ""
}

// indexInMessage finds the index's name in MongoDB's message of a
// duplicate key.
var indexInMessage = regexp.MustCompile(`\bindex: (\S+) dup key`)

// duplicateUnnamed reports whether err is a duplicate key error whose
// server did not say which index, and the index of the failed write among
// several (0 for one).
func duplicateUnnamed(err error) (int, bool) {
	var (
		ce  mongo.CommandError
		we  mongo.WriteException
		bwe mongo.BulkWriteException
	)
	switch {
	case errors.As(err, &we) && len(we.WriteErrors) > 0:
		w := we.WriteErrors[0]
		return 0, isDuplicateKey(w.Code) && duplicateIndex(w.Raw, w.Message) == ""
	case errors.As(err, &bwe) && len(bwe.WriteErrors) > 0:
		w := bwe.WriteErrors[0]
		return w.Index, isDuplicateKey(w.Code) && duplicateIndex(w.Raw, w.Message) == ""
	case errors.As(err, &ce):
		return 0, (isDuplicateKey(int(ce.Code)) || ferretDuplicate(ce)) && duplicateIndex(ce.Raw, ce.Message) == ""
	}
	return 0, false
}

// ferretDuplicate reports FerretDB v1's error of an update or a
// findAndModify that would store a duplicate key of a unique index: not
// DuplicateKey, as MongoDB's and its own inserts' are, but InternalError
// (1) with its backend's words, SQLite's ("UNIQUE constraint failed:
// index '...'") or PostgreSQL's ("duplicate key value violates unique
// constraint"). It is the caller's conflict, and is classified as
// DuplicateKey (code "11000"), not as an internal error of the server.
func ferretDuplicate(ce mongo.CommandError) bool {
	return ce.Code == 1 && (strings.Contains(ce.Message, "UNIQUE constraint failed") ||
		strings.Contains(ce.Message, "duplicate key value violates unique constraint"))
}

// writeConcernError classifies a write concern error, naming the
// concern. The write may have been applied: the host retries it only
// when the caller marked it idempotent, as it does every write.
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
