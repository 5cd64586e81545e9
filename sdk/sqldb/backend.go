package sqldb

import (
	"context"
	"database/sql"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Backend is what a driver tells the layer about its backend. One Backend
// serves every session of a resource (Connect is usually a method value
// of the driver's resource); the sessions only read it. Fields left zero
// take the defaults their comments give.
type Backend struct {
	// Name names the backend in the messages of errors: "mysql query",
	// "sqlite begin". Required.
	Name string
	// Connect opens one connection of a session, ready for its first
	// statement. Its errors are returned as they are (Open and a Reset
	// that reconnects add nothing), since what failed in connecting is
	// for the driver to say. Required.
	Connect func(ctx context.Context) (Conn, error)
	// Errors turns the errors of the client into *sdk.Error; the zero
	// ErrorMap knows only what sdk.Classify knows. The session adds
	// database/sql's sql.ErrConnDone to its Lost: unavailable.
	Errors sdk.ErrorMap
	// Values converts arguments and results.
	Values Values
	// Tx is how the backend's transactions begin and end.
	Tx Tx
	// Query and Exec say which calls of each kind run as prepared
	// statements; the zero value prepares those with arguments.
	Query, Exec Prepare
	// Statements is how many prepared statements a session keeps (see
	// sdk/stmtcache); zero means 64.
	Statements int
}

// Conn is one connection that Backend.Connect opened.
type Conn struct {
	// DB is the handle Conn was taken from, closed with it: limited to
	// this one connection (TakeConn), so that database/sql never opens
	// another behind the session's back.
	DB *sql.DB
	// Conn is the connection every call of the session runs on.
	Conn *sql.Conn
	// Tracker reads what the statements run on Conn leave in its
	// session; nil when they leave nothing the driver knows of (the
	// session is then clean whenever no transaction or rows are open).
	Tracker Tracker
}

// Tracker follows what the statements run on one connection may leave in
// its session beyond themselves (variables set, temporary tables, a
// transaction begun with a statement), so that the host resets only a
// session that needs it, and Reset undoes only what was left. It is the
// driver's, since only the driver can read its dialect of SQL; the
// session calls it under its lock, never concurrently.
type Tracker interface {
	// Note reads the SQL text of one call, before it runs.
	Note(sql string)
	// Clean reports whether nothing is left since the connection was
	// opened or Clear was last called.
	Clean() bool
	// Undo returns the statements that put the session back as the
	// connection opened it, in the order to run them, given whether a
	// transaction begun with Begin is open; or reconnect true when only a
	// new connection does.
	Undo(txOpen bool) (stmts []string, reconnect bool)
	// Clear forgets what was noted: Undo's statements ran.
	Clear()
}

// Values converts a backend's values, both ways. The defaults suit a
// client that takes and gives database/sql's own types.
type Values struct {
	// Bind converts argument i (from zero) to what the client binds. An
	// argument it cannot bind is an *sdk.Error of kind invalid_argument.
	// Nil means Bind.
	Bind func(i int, v sdk.Value) (any, error)
	// Kind is the kind of the values of a result column, from the type
	// the client names (sql.ColumnType.DatabaseTypeName). Nil gives every
	// column kind null: each value has the kind of its Go type.
	Kind func(databaseType string) sdk.ValueKind
	// Convert makes the value of column col from what the client read
	// into an any, which is never nil (NULL is the layer's). An error
	// ends the rows as internal: the client gave what the driver does not
	// expect. Nil means Dynamic.
	Convert func(col sdk.Column, v any) (sdk.Value, error)
}

// Tx is how a backend's transactions begin and end.
type Tx struct {
	// Begin returns the statements that begin a transaction with opts, in
	// order (the session has checked that opts.Isolation is a level there
	// is), and the statements that undo, once the transaction ended, what
	// they set beyond it (SQLite's query_only for a read-only one). Nil
	// means BeginStatements, the SQL standard's.
	Begin func(opts sdk.TxOptions) (begin, undo []string)
	// Open reports the backend refusing to begin a transaction because
	// one is open (begun with a statement): Begin's failed_precondition.
	// Nil when the backend never refuses (MySQL commits the open one).
	Open func(err error) bool
	// None reports the backend refusing COMMIT or ROLLBACK because no
	// transaction is open: failed_precondition. With None set, Commit and
	// Rollback always reach the backend, so that they end a transaction
	// begun with a statement too, and a Reset's ROLLBACK that finds none
	// is no error. Nil when the backend accepts them (MySQL): Commit and
	// Rollback then refuse themselves when Begin began no transaction.
	None func(err error) bool
	// FailedEndKeepsTx says that a COMMIT or ROLLBACK that failed leaves
	// the transaction open (SQLite's busy COMMIT), so that the caller can
	// try again or roll back; false says that it ends the transaction
	// (MySQL's failed COMMIT rolls back).
	FailedEndKeepsTx bool
}

// Prepare says which calls run as prepared statements, kept in the
// session's cache.
type Prepare int

const (
	// PrepareWithArgs prepares a call with arguments; one without runs
	// its text directly (MySQL's text protocol, where a prepared
	// statement would cost a round trip more).
	PrepareWithArgs Prepare = iota
	// PrepareAlways prepares every call.
	PrepareAlways
	// PrepareNever runs every call's text directly, with its arguments:
	// a text that may hold several statements (SQLite's Exec) cannot be
	// prepared as one.
	PrepareNever
)

// prepares reports whether a call with n arguments runs prepared.
func (p Prepare) prepares(n int) bool {
	return p == PrepareAlways || p == PrepareWithArgs && n > 0
}

// isolationSQL names the isolation levels as SQL does.
var isolationSQL = map[sdk.IsolationLevel]string{
	sdk.IsolationDefault:         "",
	sdk.IsolationReadUncommitted: "READ UNCOMMITTED",
	sdk.IsolationReadCommitted:   "READ COMMITTED",
	sdk.IsolationRepeatableRead:  "REPEATABLE READ",
	sdk.IsolationSerializable:    "SERIALIZABLE",
}

// BeginStatements is the default Tx.Begin, the SQL standard's: SET
// TRANSACTION ISOLATION LEVEL, which applies to the next transaction
// only, when opts names a level, then START TRANSACTION, READ ONLY when
// opts says so. It undoes nothing: both end with the transaction.
func BeginStatements(opts sdk.TxOptions) (begin, undo []string) {
	if level := isolationSQL[opts.Isolation]; level != "" {
		begin = append(begin, "SET TRANSACTION ISOLATION LEVEL "+level)
	}
	start := "START TRANSACTION"
	if opts.ReadOnly {
		start += " READ ONLY"
	}
	return append(begin, start), nil
}

// TakeConn limits db to one connection, which it never closes for age or
// idleness, and takes that connection: a session's. On failure it closes
// db and returns the client's error as it is.
func TakeConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return conn, nil
}
