package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/stmtcache"
)

// Instance is one connection to the database. The host leases it to one
// caller at a time (exclusive pooling); its methods are nonetheless safe to
// call concurrently, as rows may still be streaming when the next call
// arrives.
type Instance struct {
	res *Resource
	// db and conn are the instance's connection; a reset that needs a new
	// connection replaces them, with no call in flight.
	db   *sql.DB
	conn *sql.Conn

	mu       sync.Mutex
	closed   bool
	inTx     bool // a transaction begun with Begin is open
	readOnly bool // ... and it set PRAGMA query_only
	rows     map[*Rows]struct{}
	// stmts keeps the session's prepared query statements. Exec runs its
	// text directly, since it may hold several statements.
	stmts *stmtcache.Cache
	// effects is what the statements since the last Reset may have left
	// on the connection (statementEffect): what Reset must undo.
	effects effect
}

// stmtCacheSize bounds the prepared statements an instance keeps.
const stmtCacheSize = 64

// usable returns the instance's connection, or an error when the
// instance is closed.
func (i *Instance) usable() (*sql.Conn, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil, sdk.Errorf(sdk.KindUnavailable, "instance of sqlite resource %q is closed", i.res.name)
	}
	return i.conn, nil
}

// Check runs SELECT 1 on the connection.
func (i *Instance) Check(ctx context.Context) error {
	conn, err := i.usable()
	if err != nil {
		return err
	}
	var one int
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return mapError(ctx, err, "sqlite check")
	}
	return nil
}

// Close closes the rows still open and the connection.
func (i *Instance) Close(context.Context) error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	rows := i.takeRows()
	db, conn, stmts := i.db, i.conn, i.stmts
	i.mu.Unlock()
	for _, r := range rows {
		_ = r.Close()
	}
	stmts.Close()
	err := conn.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return mapError(context.Background(), err, "closing sqlite connection")
}

// takeRows empties the set of open rows and returns them; i.mu is held.
func (i *Instance) takeRows() []*Rows {
	out := make([]*Rows, 0, len(i.rows))
	for r := range i.rows {
		out = append(out, r)
	}
	clear(i.rows)
	return out
}

// SessionClean reports whether the connection is as a new one: no rows
// or transaction open, and no statement since the last Reset that may
// have left state on it (statementEffect). The host resets only a
// connection that is not clean, so that the prepared statements survive
// the lease.
func (i *Instance) SessionClean() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return !i.closed && !i.inTx && len(i.rows) == 0 && i.effects == 0
}

// Reset closes open rows and undoes what the statements since the last
// Reset may have left, with the least it takes: ROLLBACK when a
// transaction may be open (and query_only off after a read-only one); a
// new connection, with the configured pragmas, after a PRAGMA that set
// something, ATTACH or DETACH, or TEMP objects.
func (i *Instance) Reset(ctx context.Context) error {
	conn, err := i.usable()
	if err != nil {
		return err
	}
	i.mu.Lock()
	rows := i.takeRows()
	e, inTx, readOnly := i.effects, i.inTx, i.readOnly
	i.mu.Unlock()
	for _, r := range rows {
		_ = r.Close()
	}
	if e&effectConn != 0 {
		if err := i.reconnect(ctx); err != nil {
			return err
		}
	} else if inTx || e&effectTx != 0 {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil && !isNoTx(err) {
			return mapError(ctx, err, "sqlite reset: rollback")
		}
		if readOnly {
			if _, err := conn.ExecContext(ctx, "PRAGMA query_only = OFF"); err != nil {
				return mapError(ctx, err, "sqlite reset: query_only off")
			}
		}
	}
	i.mu.Lock()
	i.inTx, i.readOnly, i.effects = false, false, 0
	i.mu.Unlock()
	return nil
}

// reconnect replaces the instance's connection with a new one, which
// holds nothing of the old one's state. An open transaction on the old
// one rolls back as it closes.
func (i *Instance) reconnect(ctx context.Context) error {
	db, conn, err := openConn(ctx, i.res.dsn)
	if err != nil {
		return mapError(ctx, err, "sqlite reset: reconnect")
	}
	i.mu.Lock()
	if i.closed { // closed meanwhile
		i.mu.Unlock()
		_ = conn.Close()
		_ = db.Close()
		return sdk.Errorf(sdk.KindUnavailable, "instance of sqlite resource %q is closed", i.res.name)
	}
	oldDB, oldConn, oldStmts := i.db, i.conn, i.stmts
	i.db, i.conn, i.stmts = db, conn, stmtcache.New(stmtCacheSize)
	i.mu.Unlock()
	oldStmts.Close()
	_ = oldConn.Close()
	_ = oldDB.Close()
	return nil
}

func bindAll(args []sdk.Value) ([]any, error) {
	out := make([]any, len(args))
	for n, a := range args {
		v, err := bind(n, a)
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}

// Query runs a statement and streams its rows from SQLite's cursor.
func (i *Instance) Query(ctx context.Context, stmt sdk.Statement) (sdk.Rows, error) {
	if _, err := i.usable(); err != nil {
		return nil, err
	}
	args, err := bindAll(stmt.Args)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	i.effects |= statementEffect(stmt.SQL)
	prepared, err := i.stmts.Prepare(ctx, i.conn, stmt.SQL)
	i.mu.Unlock()
	if err != nil {
		return nil, mapError(ctx, err, "sqlite query")
	}
	rs, err := prepared.QueryContext(ctx, args...)
	if err != nil {
		return nil, mapError(ctx, err, "sqlite query")
	}
	types, err := rs.ColumnTypes()
	if err != nil {
		_ = rs.Close()
		return nil, mapError(ctx, err, "sqlite query: columns")
	}
	r := &Rows{inst: i, ctx: ctx, rs: rs, cols: make([]sdk.Column, len(types))}
	for n, ct := range types {
		r.cols[n] = sdk.Column{Name: ct.Name(), Kind: columnKind(ct.DatabaseTypeName()), DatabaseType: ct.DatabaseTypeName()}
	}
	r.raw = make([]any, len(types))
	r.dest = make([]any, len(types))
	for n := range r.raw {
		r.dest[n] = &r.raw[n]
	}
	r.vals = make([]sdk.Value, len(types))
	i.mu.Lock()
	i.rows[r] = struct{}{}
	i.mu.Unlock()
	return r, nil
}

// Exec runs a statement (or several, separated by semicolons) that
// returns no rows.
func (i *Instance) Exec(ctx context.Context, stmt sdk.Statement) (sdk.ExecResult, error) {
	conn, err := i.usable()
	if err != nil {
		return sdk.ExecResult{}, err
	}
	args, err := bindAll(stmt.Args)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	i.mu.Lock()
	i.effects |= statementEffect(stmt.SQL)
	i.mu.Unlock()
	res, err := conn.ExecContext(ctx, stmt.SQL, args...)
	if err != nil {
		return sdk.ExecResult{}, mapError(ctx, err, "sqlite exec")
	}
	return execResult(ctx, res)
}

// execResult reads what a statement changed. The driver gives no result at
// all for SQL that holds no statement (blank, or only comments), which
// database/sql turns into a nil dereference: that is the caller's
// mistake, not a reason for the plugin to crash.
func execResult(ctx context.Context, res sql.Result) (out sdk.ExecResult, err error) {
	defer func() {
		if recover() != nil {
			out, err = sdk.ExecResult{}, sdk.Errorf(sdk.KindInvalidArgument, "sqlite exec: the SQL holds no statement")
		}
	}()
	if out.RowsAffected, err = res.RowsAffected(); err != nil {
		return sdk.ExecResult{}, mapError(ctx, err, "sqlite exec: rows affected")
	}
	if id, err := res.LastInsertId(); err == nil {
		out.LastInsertID, out.HasLastInsertID = id, true
	}
	return out, nil
}

// Begin starts a transaction. SQLite transactions are serializable, which
// satisfies every isolation level; a read-only transaction sets PRAGMA
// query_only until it ends.
func (i *Instance) Begin(ctx context.Context, opts sdk.TxOptions) error {
	conn, err := i.usable()
	if err != nil {
		return err
	}
	switch opts.Isolation {
	case sdk.IsolationDefault, sdk.IsolationReadUncommitted, sdk.IsolationReadCommitted,
		sdk.IsolationRepeatableRead, sdk.IsolationSerializable:
	default:
		return sdk.Errorf(sdk.KindInvalidArgument, "unknown isolation level %q", opts.Isolation)
	}
	i.mu.Lock()
	open := i.inTx
	i.mu.Unlock()
	if open {
		return sdk.Errorf(sdk.KindFailedPrecondition, "sqlite begin: a transaction is already open")
	}
	if opts.ReadOnly {
		if _, err := conn.ExecContext(ctx, "PRAGMA query_only = ON"); err != nil {
			return mapError(ctx, err, "sqlite begin: read only")
		}
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		if opts.ReadOnly {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only = OFF")
		}
		if isNestedTx(err) {
			return sdk.WrapError(sdk.KindFailedPrecondition, err, "sqlite begin: a transaction is already open")
		}
		return mapError(ctx, err, "sqlite begin")
	}
	i.mu.Lock()
	i.inTx, i.readOnly = true, opts.ReadOnly
	i.mu.Unlock()
	return nil
}

// Commit commits the open transaction.
func (i *Instance) Commit(ctx context.Context) error { return i.end(ctx, "COMMIT") }

// Rollback rolls the open transaction back.
func (i *Instance) Rollback(ctx context.Context) error { return i.end(ctx, "ROLLBACK") }

func (i *Instance) end(ctx context.Context, verb string) error {
	conn, err := i.usable()
	if err != nil {
		return err
	}
	what := "sqlite " + verb
	_, err = conn.ExecContext(ctx, verb)
	if err != nil && !isNoTx(err) {
		// A COMMIT that fails (busy) leaves the transaction open.
		return mapError(ctx, err, what)
	}
	i.mu.Lock()
	readOnly := i.readOnly
	i.inTx, i.readOnly = false, false
	i.mu.Unlock()
	if readOnly {
		if _, qerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only = OFF"); qerr != nil {
			return mapError(ctx, qerr, what+": read only off")
		}
	}
	if err != nil {
		return sdk.WrapError(sdk.KindFailedPrecondition, err, what+": no transaction is open")
	}
	return nil
}

// Rows streams a query's result from SQLite's cursor.
type Rows struct {
	inst *Instance
	ctx  context.Context
	rs   *sql.Rows
	cols []sdk.Column
	raw  []any
	dest []any
	vals []sdk.Value
	err  error
	once sync.Once
}

// Columns describes the result's columns; Kind is null for columns
// without a declared type (expressions), whose values take the kind of
// what SQLite stored.
func (r *Rows) Columns() []sdk.Column { return r.cols }

// Next reads the next row from the cursor.
func (r *Rows) Next() bool {
	if r.err != nil {
		return false
	}
	if !r.rs.Next() {
		if err := r.rs.Err(); err != nil {
			r.err = mapError(r.ctx, err, "sqlite query: reading rows")
		}
		_ = r.Close()
		return false
	}
	if err := r.rs.Scan(r.dest...); err != nil {
		r.err = mapError(r.ctx, err, "sqlite query: reading a row")
		_ = r.Close()
		return false
	}
	for n, v := range r.raw {
		r.vals[n] = convert(r.cols[n].Kind, v)
		r.raw[n] = nil
	}
	return true
}

// Values returns the current row; the slice is reused by Next.
func (r *Rows) Values() []sdk.Value { return r.vals }

// Err is the error that ended the rows.
func (r *Rows) Err() error { return r.err }

// Close closes the cursor.
func (r *Rows) Close() error {
	var err error
	r.once.Do(func() {
		err = r.rs.Close()
		r.inst.mu.Lock()
		delete(r.inst.rows, r)
		r.inst.mu.Unlock()
	})
	return mapError(context.Background(), err, "sqlite query: closing rows")
}

// Interface guards.
var (
	_ sdk.Instance    = (*Instance)(nil)
	_ sdk.SQLInstance = (*Instance)(nil)
	_ sdk.Resetter    = (*Instance)(nil)
	_ sdk.Rows        = (*Rows)(nil)

	_ sdk.SessionReporter = (*Instance)(nil)
)
