package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Instance is one PostgreSQL session: one *pgx.Conn. It implements
// sdk.Instance, sdk.SQLInstance and sdk.Resetter. Exclusive pooling gives
// it one caller at a time; its mutex only keeps a stray concurrent call
// (or Close during a stream) from corrupting the connection.
type Instance struct {
	res *Resource

	mu     sync.Mutex
	conn   *pgx.Conn
	rows   *rowsStream // the open result, if any
	closed bool
	// effects is what the statements since the last Reset may have left
	// in the session (statementEffect): what Reset must undo.
	effects effect
}

// lock takes the instance for one call. It fails when the instance is
// closed or a result is still being read, since the connection can carry
// one statement at a time.
func (in *Instance) lock() error {
	in.mu.Lock()
	switch {
	case in.closed:
		in.mu.Unlock()
		return sdk.Errorf(sdk.KindFailedPrecondition, "postgres session is closed")
	case in.rows != nil:
		in.mu.Unlock()
		return sdk.Errorf(sdk.KindFailedPrecondition, "postgres session is busy: close the rows of the previous query first")
	}
	return nil
}

func (in *Instance) wrap(ctx context.Context, err error, what string) error {
	return in.res.wrap(ctx, err, what)
}

// applySession sets the configured session settings: statement_timeout.
// (application_name is a startup parameter, which RESET ALL keeps.)
func (in *Instance) applySession(ctx context.Context) error {
	set := in.sessionSettings()
	if set == "" {
		return nil
	}
	if _, err := in.conn.Exec(ctx, set); err != nil {
		return in.wrap(ctx, err, "setting statement_timeout")
	}
	return nil
}

// sessionSettings is the statement that sets the configured session
// settings, or "" when there are none.
func (in *Instance) sessionSettings() string {
	st := in.res.cfg.StatementTimeout
	if st <= 0 {
		return ""
	}
	return "SET statement_timeout = " + strconv.FormatInt(max(st.Milliseconds(), 1), 10)
}

// Check runs a round trip to the server.
func (in *Instance) Check(ctx context.Context) error {
	if err := in.lock(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	return in.check(ctx)
}

func (in *Instance) check(ctx context.Context) error {
	var one int32
	if err := in.conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return in.wrap(ctx, err, "postgres check")
	}
	return nil
}

// SessionClean reports whether the session is as a new one: no result
// open, no transaction open, and no statement since the last Reset that
// may have changed its state (statementEffect). The host resets only a
// session that is not clean, so that a one-shot query costs one round
// trip, and pgx's prepared statements survive the lease.
func (in *Instance) SessionClean() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return !in.closed && in.rows == nil && in.effects == 0 && !in.conn.IsClosed() && in.conn.PgConn().TxStatus() == 'I'
}

// resetSession undoes what DISCARD ALL undoes, but keeps the session's
// prepared statements (pgx's statement cache): it can run with other
// statements in one round trip, which DISCARD ALL cannot.
const resetSession = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; " +
	"SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"

// Reset returns the session to a clean state with the least it takes, in
// one round trip: it closes an open result, rolls back an open
// transaction, undoes session state when a statement may have changed it
// (resetSession, and statement_timeout set again), and when prepared
// statements changed behind pgx's back, deallocates them all and clears
// pgx's statement cache to match. A session that cannot be reset reports
// an error, and the host closes it.
func (in *Instance) Reset(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return sdk.Errorf(sdk.KindFailedPrecondition, "postgres session is closed")
	}
	if in.rows != nil {
		in.rows.closeLocked()
	}
	if in.conn.IsClosed() {
		return sdk.Errorf(sdk.KindUnavailable, "postgres connection is closed")
	}
	var stmts []string
	if in.conn.PgConn().TxStatus() != 'I' {
		stmts = append(stmts, "ROLLBACK")
	}
	if in.effects&effectSession != 0 {
		stmts = append(stmts, resetSession)
		if set := in.sessionSettings(); set != "" {
			stmts = append(stmts, set)
		}
	}
	if len(stmts) > 0 {
		if _, err := in.conn.PgConn().Exec(ctx, strings.Join(stmts, "; ")).ReadAll(); err != nil {
			return in.wrap(ctx, err, "reset")
		}
	}
	if in.effects&effectPrepared != 0 {
		if err := in.conn.DeallocateAll(ctx); err != nil {
			return in.wrap(ctx, err, "reset: deallocate")
		}
	}
	in.effects = 0
	return nil
}

// Close ends the session.
func (in *Instance) Close(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	if in.rows != nil {
		in.rows.closeLocked()
	}
	in.closed = true
	if err := in.conn.Close(ctx); err != nil && !in.conn.IsClosed() {
		return in.wrap(ctx, err, "closing postgres session")
	}
	return nil
}

// Exec runs a statement that returns no rows. Without arguments it goes
// through the simple protocol, so it may hold several statements.
func (in *Instance) Exec(ctx context.Context, stmt sdk.Statement) (sdk.ExecResult, error) {
	if err := in.lock(); err != nil {
		return sdk.ExecResult{}, err
	}
	defer in.mu.Unlock()
	args, err := encodeArgs(stmt.Args)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	in.effects |= statementEffect(stmt.SQL)
	tag, err := in.conn.Exec(ctx, stmt.SQL, args...)
	if err != nil {
		return sdk.ExecResult{}, in.wrap(ctx, err, "exec")
	}
	return sdk.ExecResult{RowsAffected: tag.RowsAffected()}, nil
}

// Batch sends the statements to PostgreSQL in one round trip (pgx's
// pipelined batch) and returns one result per statement. The first error
// stops the batch and names the statement. pgx prepares every statement
// before the batch runs, so a batch cannot use a table it creates itself.
func (in *Instance) Batch(ctx context.Context, stmts []sdk.Statement) ([]sdk.ExecResult, error) {
	if err := in.lock(); err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	b := &pgx.Batch{}
	for i, st := range stmts {
		args, err := encodeArgs(st.Args)
		if err != nil {
			return nil, sdk.BatchError(i, len(stmts), err)
		}
		b.Queue(st.SQL, args...)
	}
	for _, st := range stmts {
		in.effects |= statementEffect(st.SQL)
	}
	br := in.conn.SendBatch(ctx, b)
	out := make([]sdk.ExecResult, 0, len(stmts))
	for i := range stmts {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return nil, sdk.BatchError(i, len(stmts), in.wrap(ctx, err, "batch"))
		}
		out = append(out, sdk.ExecResult{RowsAffected: tag.RowsAffected()})
	}
	if err := br.Close(); err != nil {
		return nil, in.wrap(ctx, err, "batch")
	}
	return out, nil
}

// Query runs a statement and streams its rows from the connection as they
// are read.
func (in *Instance) Query(ctx context.Context, stmt sdk.Statement) (sdk.Rows, error) {
	if err := in.lock(); err != nil {
		return nil, err
	}
	defer in.mu.Unlock()
	args, err := encodeArgs(stmt.Args)
	if err != nil {
		return nil, err
	}
	qargs := make([]any, 0, len(args)+1)
	qargs = append(qargs, resultFormats)
	qargs = append(qargs, args...)
	in.effects |= statementEffect(stmt.SQL)
	pr, err := in.conn.Query(ctx, stmt.SQL, qargs...)
	if err != nil {
		pr.Close()
		return nil, in.wrap(ctx, err, "query")
	}
	rs := newRowsStream(ctx, in, pr)
	if rs.err != nil {
		pr.Close()
		return nil, rs.err
	}
	in.rows = rs
	return rs, nil
}

// Begin starts a transaction with the given isolation level and access
// mode.
func (in *Instance) Begin(ctx context.Context, opts sdk.TxOptions) error {
	sql := "BEGIN"
	switch opts.Isolation {
	case sdk.IsolationDefault:
	case sdk.IsolationReadUncommitted:
		sql += " ISOLATION LEVEL READ UNCOMMITTED"
	case sdk.IsolationReadCommitted:
		sql += " ISOLATION LEVEL READ COMMITTED"
	case sdk.IsolationRepeatableRead:
		sql += " ISOLATION LEVEL REPEATABLE READ"
	case sdk.IsolationSerializable:
		sql += " ISOLATION LEVEL SERIALIZABLE"
	default:
		return sdk.Errorf(sdk.KindInvalidArgument, "unknown isolation level %q", opts.Isolation)
	}
	if opts.ReadOnly {
		sql += " READ ONLY"
	}
	if err := in.lock(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	if in.conn.PgConn().TxStatus() != 'I' {
		return sdk.Errorf(sdk.KindFailedPrecondition, "a transaction is already open on this session")
	}
	if _, err := in.conn.Exec(ctx, sql); err != nil {
		return in.wrap(ctx, err, "begin")
	}
	return nil
}

// Commit commits the open transaction. When an earlier statement failed,
// PostgreSQL rolls the transaction back instead; Commit then reports
// KindFailedPrecondition with Code 25P02.
func (in *Instance) Commit(ctx context.Context) error {
	if err := in.lock(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	if in.conn.PgConn().TxStatus() == 'I' {
		return sdk.Errorf(sdk.KindFailedPrecondition, "commit: no transaction is open")
	}
	tag, err := in.conn.Exec(ctx, "COMMIT")
	if err != nil {
		return in.wrap(ctx, err, "commit")
	}
	if tag.String() == "ROLLBACK" {
		return &sdk.Error{Kind: sdk.KindFailedPrecondition, Code: "25P02",
			Message: "commit: the transaction had failed and was rolled back"}
	}
	return nil
}

// Rollback rolls the open transaction back.
func (in *Instance) Rollback(ctx context.Context) error {
	if err := in.lock(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	if in.conn.PgConn().TxStatus() == 'I' {
		return sdk.Errorf(sdk.KindFailedPrecondition, "rollback: no transaction is open")
	}
	if _, err := in.conn.Exec(ctx, "ROLLBACK"); err != nil {
		return in.wrap(ctx, err, "rollback")
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Instance    = (*Instance)(nil)
	_ sdk.Batcher     = (*Instance)(nil)
	_ sdk.SQLInstance = (*Instance)(nil)
	_ sdk.Resetter    = (*Instance)(nil)

	_ sdk.SessionReporter = (*Instance)(nil)
)
