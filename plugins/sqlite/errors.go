package sqlite

import (
	"context"
	"errors"
	"strconv"
	"strings"

	sqlite "modernc.org/sqlite"
	lib "modernc.org/sqlite/lib"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// codeNames names the SQLite result codes, primary and extended, that
// errors report in their Code. Codes not listed are reported as numbers.
var codeNames = map[int]string{
	lib.SQLITE_ERROR:      "SQLITE_ERROR",
	lib.SQLITE_INTERNAL:   "SQLITE_INTERNAL",
	lib.SQLITE_PERM:       "SQLITE_PERM",
	lib.SQLITE_ABORT:      "SQLITE_ABORT",
	lib.SQLITE_BUSY:       "SQLITE_BUSY",
	lib.SQLITE_LOCKED:     "SQLITE_LOCKED",
	lib.SQLITE_NOMEM:      "SQLITE_NOMEM",
	lib.SQLITE_READONLY:   "SQLITE_READONLY",
	lib.SQLITE_INTERRUPT:  "SQLITE_INTERRUPT",
	lib.SQLITE_IOERR:      "SQLITE_IOERR",
	lib.SQLITE_CORRUPT:    "SQLITE_CORRUPT",
	lib.SQLITE_NOTFOUND:   "SQLITE_NOTFOUND",
	lib.SQLITE_FULL:       "SQLITE_FULL",
	lib.SQLITE_CANTOPEN:   "SQLITE_CANTOPEN",
	lib.SQLITE_PROTOCOL:   "SQLITE_PROTOCOL",
	lib.SQLITE_EMPTY:      "SQLITE_EMPTY",
	lib.SQLITE_SCHEMA:     "SQLITE_SCHEMA",
	lib.SQLITE_TOOBIG:     "SQLITE_TOOBIG",
	lib.SQLITE_CONSTRAINT: "SQLITE_CONSTRAINT",
	lib.SQLITE_MISMATCH:   "SQLITE_MISMATCH",
	lib.SQLITE_MISUSE:     "SQLITE_MISUSE",
	lib.SQLITE_NOLFS:      "SQLITE_NOLFS",
	lib.SQLITE_AUTH:       "SQLITE_AUTH",
	lib.SQLITE_FORMAT:     "SQLITE_FORMAT",
	lib.SQLITE_RANGE:      "SQLITE_RANGE",
	lib.SQLITE_NOTADB:     "SQLITE_NOTADB",

	lib.SQLITE_CONSTRAINT_CHECK:      "SQLITE_CONSTRAINT_CHECK",
	lib.SQLITE_CONSTRAINT_COMMITHOOK: "SQLITE_CONSTRAINT_COMMITHOOK",
	lib.SQLITE_CONSTRAINT_DATATYPE:   "SQLITE_CONSTRAINT_DATATYPE",
	lib.SQLITE_CONSTRAINT_FOREIGNKEY: "SQLITE_CONSTRAINT_FOREIGNKEY",
	lib.SQLITE_CONSTRAINT_FUNCTION:   "SQLITE_CONSTRAINT_FUNCTION",
	lib.SQLITE_CONSTRAINT_NOTNULL:    "SQLITE_CONSTRAINT_NOTNULL",
	lib.SQLITE_CONSTRAINT_PINNED:     "SQLITE_CONSTRAINT_PINNED",
	lib.SQLITE_CONSTRAINT_PRIMARYKEY: "SQLITE_CONSTRAINT_PRIMARYKEY",
	lib.SQLITE_CONSTRAINT_ROWID:      "SQLITE_CONSTRAINT_ROWID",
	lib.SQLITE_CONSTRAINT_TRIGGER:    "SQLITE_CONSTRAINT_TRIGGER",
	lib.SQLITE_CONSTRAINT_UNIQUE:     "SQLITE_CONSTRAINT_UNIQUE",
	lib.SQLITE_CONSTRAINT_VTAB:       "SQLITE_CONSTRAINT_VTAB",

	lib.SQLITE_BUSY_RECOVERY:         "SQLITE_BUSY_RECOVERY",
	lib.SQLITE_BUSY_SNAPSHOT:         "SQLITE_BUSY_SNAPSHOT",
	lib.SQLITE_BUSY_TIMEOUT:          "SQLITE_BUSY_TIMEOUT",
	lib.SQLITE_LOCKED_SHAREDCACHE:    "SQLITE_LOCKED_SHAREDCACHE",
	lib.SQLITE_LOCKED_VTAB:           "SQLITE_LOCKED_VTAB",
	lib.SQLITE_ABORT_ROLLBACK:        "SQLITE_ABORT_ROLLBACK",
	lib.SQLITE_READONLY_RECOVERY:     "SQLITE_READONLY_RECOVERY",
	lib.SQLITE_READONLY_CANTLOCK:     "SQLITE_READONLY_CANTLOCK",
	lib.SQLITE_READONLY_ROLLBACK:     "SQLITE_READONLY_ROLLBACK",
	lib.SQLITE_READONLY_DBMOVED:      "SQLITE_READONLY_DBMOVED",
	lib.SQLITE_READONLY_CANTINIT:     "SQLITE_READONLY_CANTINIT",
	lib.SQLITE_READONLY_DIRECTORY:    "SQLITE_READONLY_DIRECTORY",
	lib.SQLITE_CANTOPEN_ISDIR:        "SQLITE_CANTOPEN_ISDIR",
	lib.SQLITE_CANTOPEN_FULLPATH:     "SQLITE_CANTOPEN_FULLPATH",
	lib.SQLITE_CORRUPT_INDEX:         "SQLITE_CORRUPT_INDEX",
	lib.SQLITE_ERROR_MISSING_COLLSEQ: "SQLITE_ERROR_MISSING_COLLSEQ",
	lib.SQLITE_ERROR_RETRY:           "SQLITE_ERROR_RETRY",
}

// codeName is the name of a SQLite result code, or its number.
func codeName(code int) string {
	if n, ok := codeNames[code]; ok {
		return n
	}
	if n, ok := codeNames[code&0xff]; ok {
		return n + "_" + strconv.Itoa(code>>8)
	}
	return strconv.Itoa(code)
}

// classify gives the kind of a SQLite result code, and whether the error
// is retryable when that differs from the kind's default.
func classify(code int) (sdk.Kind, *bool) {
	yes := true
	switch code & 0xff {
	case lib.SQLITE_CONSTRAINT:
		switch code {
		case lib.SQLITE_CONSTRAINT_NOTNULL, lib.SQLITE_CONSTRAINT_CHECK, lib.SQLITE_CONSTRAINT_DATATYPE:
			return sdk.KindInvalidArgument, nil
		}
		return sdk.KindConflict, nil
	case lib.SQLITE_BUSY, lib.SQLITE_LOCKED:
		return sdk.KindUnavailable, &yes
	case lib.SQLITE_SCHEMA:
		return sdk.KindConflict, &yes
	case lib.SQLITE_ERROR, lib.SQLITE_RANGE, lib.SQLITE_MISMATCH, lib.SQLITE_TOOBIG:
		return sdk.KindInvalidArgument, nil
	case lib.SQLITE_READONLY:
		return sdk.KindFailedPrecondition, nil
	case lib.SQLITE_PERM, lib.SQLITE_AUTH:
		return sdk.KindPermissionDenied, nil
	case lib.SQLITE_CANTOPEN:
		// A file the statement names (ATTACH) or the configured path
		// cannot be opened: a missing directory, a name too long. Not a
		// failing backend: retrying will not help.
		return sdk.KindFailedPrecondition, nil
	case lib.SQLITE_IOERR, lib.SQLITE_PROTOCOL, lib.SQLITE_NOLFS:
		return sdk.KindUnavailable, nil
	case lib.SQLITE_FULL, lib.SQLITE_NOMEM:
		return sdk.KindResourceExhausted, nil
	case lib.SQLITE_INTERRUPT:
		return sdk.KindCanceled, nil
	case lib.SQLITE_ABORT:
		return sdk.KindConflict, nil
	case lib.SQLITE_NOTADB:
		return sdk.KindFailedPrecondition, nil
	}
	return sdk.KindInternal, nil
}

// errorMap classifies the errors of the SQLite driver and database/sql:
// a SQLite error by its result code (its name is the Code), arguments that
// cannot be bound; an error nothing places is internal. (sdk/sqldb adds
// database/sql's closed connections.)
var errorMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var le *sqlite.Error
		if !errors.As(err, &le) {
			return sdk.BackendError{}, false
		}
		kind, retry := classify(le.Code())
		return sdk.BackendError{Kind: kind, Code: codeName(le.Code()), Retryable: retry != nil && *retry}, true
	},
	Arguments: isArgumentError,
	Fallback:  sdk.KindInternal,
}

// mapError turns an error from the driver into an *sdk.Error (errorMap)
// whose message is what failed; nil stays nil.
func mapError(ctx context.Context, err error, what string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	return errorMap.Wrap(ctx, err, what)
}

// isArgumentError reports whether err is the driver or database/sql
// refusing the statement's arguments before SQLite ran it: too few of
// them, or of a type that cannot be bound.
func isArgumentError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "missing argument with index") || strings.HasPrefix(msg, "sql: expected ") ||
		strings.HasPrefix(msg, "sql: converting argument") || strings.Contains(msg, "unsupported type")
}

// isNoTx reports whether err is SQLite's refusal to commit or roll back
// because no transaction is open.
func isNoTx(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no transaction is active")
}

// isNestedTx reports whether err is SQLite's refusal to begin a
// transaction inside another.
func isNestedTx(err error) bool {
	return err != nil && strings.Contains(err.Error(), "within a transaction")
}
