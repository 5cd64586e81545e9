package sqldb

import "errors"

// Sentinels for errors.Is. The session wraps each in an *sdk.Error of the
// kind it says, with a message naming the call ("mysql query: the
// session is closed").
var (
	// ErrClosed is a call on a session after Close: unavailable, so that
	// the host replaces the instance.
	ErrClosed = errors.New("the session is closed")
	// ErrTxOpen is Begin while a transaction is open: failed_precondition.
	ErrTxOpen = errors.New("a transaction is already open")
	// ErrNoTx is Commit or Rollback without an open transaction:
	// failed_precondition.
	ErrNoTx = errors.New("no transaction is open")
	// ErrNoStatement is Exec of SQL that holds no statement (blank, or
	// only comments) where the client gives no result for it:
	// invalid_argument, the caller's mistake.
	ErrNoStatement = errors.New("the SQL holds no statement")
)
