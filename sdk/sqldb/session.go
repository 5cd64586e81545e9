package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/stmtcache"
)

// defaultStatements is how many prepared statements a session keeps when
// Backend.Statements is zero.
const defaultStatements = 64

// Session is one backend session: one connection, held until Close, on
// which it runs the calls of sdk.SQLInstance. The host leases it to one
// caller at a time (exclusive pooling); its methods are nonetheless safe
// to call concurrently, as rows may still be streaming when Close or
// Reset arrives.
type Session struct {
	b Backend // with its defaults filled in

	// mu guards the fields below. It is never held across a call to the
	// client, so that Close and Reset are never stuck behind a statement.
	mu sync.Mutex
	// link is the connection; a Reset that reconnects replaces it.
	link   *link
	closed bool
	// inTx says that Begin began a transaction that has not ended;
	// txUndo are the statements that undo, once it ended, what Begin set
	// beyond it (Tx.Begin).
	inTx   bool
	txUndo []string
	// rows are the results still open, which Reset and Close end.
	rows map[*rows]struct{}
}

// link is one connection of a session and what lives as long as it.
type link struct {
	db      *sql.DB
	conn    *sql.Conn
	tracker Tracker // guarded by Session.mu
	// stmtMu guards stmts. It is held across a prepare (a round trip on
	// most backends), since the cache is not safe for concurrent use;
	// only the one caller that holds the lease takes it, and nothing
	// else is locked while it is held.
	stmtMu sync.Mutex
	stmts  *stmtcache.Cache
}

// Open opens a session with b.Connect. b is read, not kept: the session
// has a copy, with the defaults of b's zero fields filled in.
func Open(ctx context.Context, b *Backend) (*Session, error) {
	if b.Name == "" || b.Connect == nil {
		return nil, sdk.Errorf(sdk.KindInternal, "sqldb.Open: the Backend needs a Name and a Connect")
	}
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, b.Name+" open")
	}
	s := &Session{b: *b, rows: map[*rows]struct{}{}}
	v := &s.b.Values
	if v.Bind == nil {
		v.Bind = Bind
	}
	if v.Kind == nil {
		v.Kind = kindDefault
	}
	if v.Convert == nil {
		v.Convert = convertDefault
	}
	if s.b.Tx.Begin == nil {
		s.b.Tx.Begin = BeginStatements
	}
	if s.b.Statements <= 0 {
		s.b.Statements = defaultStatements
	}
	// database/sql's own sign of a connection it closed (after the
	// driver said it was broken) is the same for every backend.
	lost := b.Errors.Lost
	s.b.Errors.Lost = func(err error) bool { return errors.Is(err, sql.ErrConnDone) || lost != nil && lost(err) }
	c, err := b.Connect(ctx)
	if err != nil {
		return nil, err
	}
	s.link = s.newLink(c)
	return s, nil
}

func (s *Session) newLink(c Conn) *link {
	return &link{db: c.DB, conn: c.Conn, tracker: c.Tracker, stmts: stmtcache.New(s.b.Statements)}
}

// prepare returns the cached prepared statement for query, preparing it
// the first time.
func (l *link) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	return l.stmts.Prepare(ctx, l.conn, query)
}

// close closes the prepared statements, the connection and its DB. A
// connection the client already closed (a killed session) is no error.
func (l *link) close() error {
	l.stmtMu.Lock()
	l.stmts.Close()
	l.stmtMu.Unlock()
	err := l.conn.Close()
	if errors.Is(err, sql.ErrConnDone) {
		err = nil
	}
	return errors.Join(err, l.db.Close())
}

// wrap turns an error of the client into an *sdk.Error (Backend.Errors).
func (s *Session) wrap(ctx context.Context, err error, what string) error {
	return s.b.Errors.Wrap(ctx, err, what)
}

// refuse is what a call the session refuses returns: an *sdk.Error of
// kind with one of the package's sentinels, and the client's error that
// showed it, if any, as its cause.
func (s *Session) refuse(ctx context.Context, kind sdk.Kind, sentinel error, cause error, what string) error {
	if cause == nil {
		return sdk.WrapError(kind, sentinel, what)
	}
	if ctx.Err() != nil {
		return s.wrap(ctx, cause, what) // the call's end says more
	}
	return sdk.WrapError(kind, fmt.Errorf("%w: %w", sentinel, sdk.RedactContext(ctx, cause)), what)
}

// use returns the session's connection for one call, or an error when
// ctx has ended (so that the call never reaches a client that would
// close the connection to cancel it) or the session is closed.
func (s *Session) use(ctx context.Context, what string) (*link, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, what)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, sdk.WrapError(sdk.KindUnavailable, ErrClosed, what)
	}
	return s.link, nil
}

// start begins a call that runs stmt: the connection, the arguments
// bound, and the statement noted by the Tracker before it runs.
func (s *Session) start(ctx context.Context, what string, stmt sdk.Statement) (*link, []any, error) {
	l, err := s.use(ctx, what)
	if err != nil {
		return nil, nil, err
	}
	args, err := bindAll(s.b.Values.Bind, stmt.Args)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	if l.tracker != nil {
		l.tracker.Note(stmt.SQL)
	}
	s.mu.Unlock()
	return l, args, nil
}

// Check runs SELECT 1 on the connection.
func (s *Session) Check(ctx context.Context) error {
	what := s.b.Name + " check"
	l, err := s.use(ctx, what)
	if err != nil {
		return err
	}
	var one int
	return s.wrap(ctx, l.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one), what)
}

// Query runs a statement that returns rows and streams them from the
// client's cursor, one row at a time. It runs prepared as Backend.Query
// says.
func (s *Session) Query(ctx context.Context, stmt sdk.Statement) (sdk.Rows, error) {
	what := s.b.Name + " query"
	l, args, err := s.start(ctx, what, stmt)
	if err != nil {
		return nil, err
	}
	rs, err := call(ctx, l, s.b.Query.prepares(len(args)), stmt.SQL, args, (*sql.Stmt).QueryContext, (*sql.Conn).QueryContext)
	if err != nil {
		return nil, s.wrap(ctx, err, what)
	}
	return s.newRows(ctx, rs, what)
}

// Exec runs a statement that returns no rows. It runs prepared as
// Backend.Exec says.
func (s *Session) Exec(ctx context.Context, stmt sdk.Statement) (sdk.ExecResult, error) {
	what := s.b.Name + " exec"
	l, args, err := s.start(ctx, what, stmt)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	res, err := call(ctx, l, s.b.Exec.prepares(len(args)), stmt.SQL, args, (*sql.Stmt).ExecContext, (*sql.Conn).ExecContext)
	if err != nil {
		return sdk.ExecResult{}, s.wrap(ctx, err, what)
	}
	return s.execResult(ctx, res, what)
}

// call runs query with args on l: through its cached prepared statement
// when prepared, with viaStmt, or as text with viaConn; the methods of
// sql.Stmt and sql.Conn that query or exec.
func call[R any](ctx context.Context, l *link, prepared bool, query string, args []any,
	viaStmt func(*sql.Stmt, context.Context, ...any) (R, error),
	viaConn func(*sql.Conn, context.Context, string, ...any) (R, error)) (R, error) {
	if !prepared {
		return viaConn(l.conn, ctx, query, args...)
	}
	st, err := l.prepare(ctx, query)
	if err != nil {
		var none R
		return none, err
	}
	return viaStmt(st, ctx, args...)
}

// execResult reads what a statement changed, and the id it inserted where
// the client has one. A client that gives no result at all for SQL that
// holds no statement (SQLite's) makes database/sql dereference nil: that
// is the caller's mistake (ErrNoStatement), not a reason for the plugin
// to crash.
func (s *Session) execResult(ctx context.Context, res sql.Result, what string) (out sdk.ExecResult, err error) {
	defer func() {
		if recover() != nil {
			out, err = sdk.ExecResult{}, sdk.WrapError(sdk.KindInvalidArgument, ErrNoStatement, what)
		}
	}()
	if out.RowsAffected, err = res.RowsAffected(); err != nil {
		return sdk.ExecResult{}, s.wrap(ctx, err, what)
	}
	if id, err := res.LastInsertId(); err == nil {
		out.LastInsertID, out.HasLastInsertID = id, true
	}
	return out, nil
}

// Begin starts a transaction with the statements of Backend.Tx.Begin.
// Every isolation level of the SDK is accepted here; whether the backend
// has it is for its statements to say.
func (s *Session) Begin(ctx context.Context, opts sdk.TxOptions) error {
	what := s.b.Name + " begin"
	if _, ok := isolationSQL[opts.Isolation]; !ok {
		return sdk.Errorf(sdk.KindInvalidArgument, "%s: unknown isolation level %q", what, opts.Isolation)
	}
	l, err := s.use(ctx, what)
	if err != nil {
		return err
	}
	if s.txOpen() {
		return s.refuse(ctx, sdk.KindFailedPrecondition, ErrTxOpen, nil, what)
	}
	begin, undo := s.b.Tx.Begin(opts)
	for n, q := range begin {
		if _, err := l.conn.ExecContext(ctx, q); err != nil {
			if n > 0 {
				// What the statements before set would outlive the
				// transaction that did not begin.
				_ = s.run(context.WithoutCancel(ctx), l, undo)
			}
			if s.b.Tx.Open != nil && s.b.Tx.Open(err) {
				return s.refuse(ctx, sdk.KindFailedPrecondition, ErrTxOpen, err, what)
			}
			return s.wrap(ctx, err, what)
		}
	}
	s.mu.Lock()
	s.inTx, s.txUndo = true, undo
	s.mu.Unlock()
	return nil
}

// Commit commits the open transaction.
func (s *Session) Commit(ctx context.Context) error { return s.end(ctx, "COMMIT") }

// Rollback rolls the open transaction back.
func (s *Session) Rollback(ctx context.Context) error { return s.end(ctx, "ROLLBACK") }

// end runs COMMIT or ROLLBACK (verb) as Backend.Tx says, then what undoes
// what Begin set beyond the transaction.
func (s *Session) end(ctx context.Context, verb string) error {
	what := s.b.Name + " " + strings.ToLower(verb)
	l, err := s.use(ctx, what)
	if err != nil {
		return err
	}
	tx := s.b.Tx
	if tx.None == nil && !s.txOpen() {
		// The backend would accept it without a word.
		return s.refuse(ctx, sdk.KindFailedPrecondition, ErrNoTx, nil, what)
	}
	_, err = l.conn.ExecContext(ctx, verb)
	none := err != nil && tx.None != nil && tx.None(err)
	if err != nil && !none && tx.FailedEndKeepsTx {
		return s.wrap(ctx, err, what)
	}
	s.mu.Lock()
	undo := s.txUndo
	s.inTx, s.txUndo = false, nil
	s.mu.Unlock()
	// The transaction has ended even if ctx has: undo regardless.
	if uerr := s.run(context.WithoutCancel(ctx), l, undo); uerr != nil {
		return s.wrap(ctx, uerr, what)
	}
	if none {
		return s.refuse(ctx, sdk.KindFailedPrecondition, ErrNoTx, err, what)
	}
	return s.wrap(ctx, err, what)
}

// txOpen reports whether Begin began a transaction that has not ended.
func (s *Session) txOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inTx
}

// run runs statements in order on l, up to the first that fails; a
// ROLLBACK or COMMIT that finds no transaction (Tx.None) is no failure.
func (s *Session) run(ctx context.Context, l *link, stmts []string) error {
	for _, q := range stmts {
		if _, err := l.conn.ExecContext(ctx, q); err != nil && (s.b.Tx.None == nil || !s.b.Tx.None(err)) {
			return err
		}
	}
	return nil
}

// SessionClean reports whether the session is as a new one: no
// transaction or rows open, and nothing left by a statement since the
// last Reset (Tracker.Clean). The host resets only a session that is not
// clean, so that a one-shot query costs one round trip and the prepared
// statements survive the lease.
func (s *Session) SessionClean() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && !s.inTx && len(s.rows) == 0 && (s.link.tracker == nil || s.link.tracker.Clean())
}

// Reset returns the session to a clean state with the least it takes: it
// closes the open rows, then runs the statements of Tracker.Undo (a
// ROLLBACK when a transaction is open and there is no Tracker) and those
// that undo what Begin set, on the same connection with its prepared
// statements; or, when the Tracker says only that clears the session,
// replaces the connection with a new one. A broken connection (alive)
// cannot be reset: unavailable. Any error means that the session is
// unusable.
func (s *Session) Reset(ctx context.Context) error {
	what := s.b.Name + " reset"
	l, err := s.use(ctx, what)
	if err != nil {
		return err
	}
	s.mu.Lock()
	open := s.takeRowsLocked()
	undo := s.txUndo
	var stmts []string
	reconnect := false
	if l.tracker != nil {
		stmts, reconnect = l.tracker.Undo(s.inTx)
	} else if s.inTx {
		stmts = []string{"ROLLBACK"}
	}
	s.mu.Unlock()
	for _, r := range open {
		_ = r.Close()
	}
	if err := alive(ctx, l.conn); err != nil {
		return sdk.WrapError(sdk.KindUnavailable, err, what+": the connection is broken")
	}
	if reconnect {
		if err := s.reconnect(ctx, what); err != nil {
			return err
		}
	} else if err := s.run(ctx, l, append(stmts, undo...)); err != nil {
		return s.wrap(ctx, err, what)
	}
	s.mu.Lock()
	if !reconnect && l.tracker != nil {
		l.tracker.Clear()
	}
	s.inTx, s.txUndo = false, nil
	s.mu.Unlock()
	return nil
}

// alive reports whether the connection is still usable, though the
// session may have nothing to undo. The client's driver.Validator says so
// without a round trip, but errs on the side of caution: go-sql-driver
// marks a connection broken when a call on it failed or was canceled, and
// it is; modernc's SQLite marks one so after any interrupted statement
// on a file, and it still works. So when the client doubts, a round trip
// decides.
func alive(ctx context.Context, c *sql.Conn) error {
	valid := true
	err := c.Raw(func(dc any) error {
		// Not driver.ErrBadConn, which would make database/sql close
		// the connection that the round trip below may find working.
		if v, ok := dc.(driver.Validator); ok {
			valid = v.IsValid()
		}
		return nil
	})
	if err != nil {
		return err // closed
	}
	if valid {
		return nil
	}
	var one int
	return c.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// reconnect replaces the session's connection with a new one, which holds
// nothing of the old session (and none of its prepared statements). On
// failure the old one stays, and the error says the session is unusable.
func (s *Session) reconnect(ctx context.Context, what string) error {
	c, err := s.b.Connect(ctx)
	if err != nil {
		return err
	}
	nl := s.newLink(c)
	s.mu.Lock()
	if s.closed { // closed meanwhile
		s.mu.Unlock()
		_ = nl.close()
		return sdk.WrapError(sdk.KindUnavailable, ErrClosed, what)
	}
	old := s.link
	s.link = nl
	s.mu.Unlock()
	_ = old.close()
	return nil
}

// Close closes the open rows, the prepared statements and the
// connection. It is safe to call more than once.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	open := s.takeRowsLocked()
	l := s.link
	s.mu.Unlock()
	for _, r := range open {
		_ = r.Close()
	}
	return s.wrap(context.WithoutCancel(ctx), l.close(), s.b.Name+" close")
}

// takeRowsLocked empties the set of open rows and returns them; s.mu is
// held.
func (s *Session) takeRowsLocked() []*rows {
	out := make([]*rows, 0, len(s.rows))
	for r := range s.rows {
		out = append(out, r)
	}
	clear(s.rows)
	return out
}

// Interface guards.
var (
	_ sdk.Instance        = (*Session)(nil)
	_ sdk.SQLInstance     = (*Session)(nil)
	_ sdk.Resetter        = (*Session)(nil)
	_ sdk.SessionReporter = (*Session)(nil)
)
