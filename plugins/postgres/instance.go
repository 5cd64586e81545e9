package postgres

import (
	"context"
	"strconv"
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
// (application_name is a startup parameter, which DISCARD ALL keeps.)
func (in *Instance) applySession(ctx context.Context) error {
	st := in.res.cfg.StatementTimeout
	if st <= 0 {
		return nil
	}
	ms := st.Milliseconds()
	if ms == 0 {
		ms = 1
	}
	if _, err := in.conn.Exec(ctx, "SET statement_timeout = "+strconv.FormatInt(ms, 10)); err != nil {
		return in.wrap(ctx, err, "setting statement_timeout")
	}
	return nil
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

// Invoke runs the one operation, "ping": Check, then {"ok": true}.
func (in *Instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if req.Operation != "ping" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "postgres has no operation %q; the one operation is \"ping\"", req.Operation)
	}
	var args pingArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	if err := in.Check(ctx); err != nil {
		return nil, err
	}
	return map[string]bool{"ok": true}, nil
}

// Reset returns the session to a clean state: it closes an open result,
// rolls back an open transaction, runs DISCARD ALL (which drops prepared
// statements, temporary tables, session settings, advisory locks, LISTENs),
// forgets pgx's statement cache to match, and sets statement_timeout again.
// A session that cannot be reset reports an error, and the host closes it.
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
	if in.conn.PgConn().TxStatus() != 'I' {
		if _, err := in.conn.Exec(ctx, "ROLLBACK"); err != nil {
			return in.wrap(ctx, err, "reset: rollback")
		}
	}
	if _, err := in.conn.Exec(ctx, "DISCARD ALL"); err != nil {
		return in.wrap(ctx, err, "reset: discard all")
	}
	// DISCARD ALL deallocated the server's prepared statements; clear
	// pgx's statement and description caches so that it prepares again.
	if err := in.conn.DeallocateAll(ctx); err != nil {
		return in.wrap(ctx, err, "reset: deallocate")
	}
	return in.applySession(ctx)
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
)
