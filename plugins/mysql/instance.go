package mysql

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/stmtcache"
)

// stmtCacheSize bounds the prepared statements an instance keeps.
const stmtCacheSize = 64

// Instance is one MySQL session: one connection, held until Close. It
// serves one lease at a time (exclusive pooling); its methods are
// nonetheless safe to call concurrently.
type Instance struct {
	res *Resource
	db  *sql.DB
	// conn is the session's one connection.
	conn *sql.Conn

	mu     sync.Mutex
	closed bool
	inTx   bool
	stmts  *stmtcache.Cache
	// defaults is the SET statement that restores the session's
	// defaults; Reset runs it.
	defaults string
}

// captureDefaults reads the sql_mode and isolation level the session
// starts with and builds the SET statement Reset runs.
func (i *Instance) captureDefaults(ctx context.Context) error {
	var sqlMode, iso string
	isoVar := "transaction_isolation"
	err := i.conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode, @@SESSION.transaction_isolation").Scan(&sqlMode, &iso)
	if mysqlErrNo(err) == 1193 { // unknown system variable: MariaDB < 11.1
		isoVar = "tx_isolation"
		err = i.conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode, @@SESSION.tx_isolation").Scan(&sqlMode, &iso)
	}
	if err != nil {
		return wrapErr(ctx, err, "mysql read session defaults")
	}
	sets := []string{"SESSION autocommit = 1", "SESSION sql_mode = " + quote(sqlMode), "SESSION " + isoVar + " = " + quote(iso)}
	var params []string
	for k, v := range i.res.mc.Params {
		params = append(params, k+" = "+v)
	}
	sort.Strings(params)
	i.defaults = "SET " + strings.Join(append(sets, params...), ", ")
	return nil
}

// quote returns s as a MySQL string literal.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// lock takes the instance's lock and reports an error when it is closed or
// ctx is done. On success the caller must unlock.
func (i *Instance) lock(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, what)
	}
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return sdk.Errorf(sdk.KindUnavailable, "%s: the instance of mysql resource %q is closed", what, i.res.name)
	}
	return nil
}

// Check pings the server.
func (i *Instance) Check(ctx context.Context) error {
	if err := i.lock(ctx, "mysql check"); err != nil {
		return err
	}
	defer i.mu.Unlock()
	return i.check(ctx)
}

func (i *Instance) check(ctx context.Context) error {
	var one int
	if err := i.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return wrapErr(ctx, err, "mysql check")
	}
	return nil
}

// The operations of the resource type.
type pingArgs struct{}

type pingResult struct {
	OK bool `json:"ok"`
}

var operations = []sdk.Operation{{
	Name:        "ping",
	Description: "Runs a trivial round trip (SELECT 1) on the session and returns {\"ok\": true}.",
	Args:        sdk.MustSchemaFor(pingArgs{}),
	Idempotent:  true,
}}

// Invoke performs "ping", the one operation.
func (i *Instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if req.Operation != "ping" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "mysql resource has no operation %q", req.Operation)
	}
	var args pingArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	if err := i.Check(ctx); err != nil {
		return nil, err
	}
	return pingResult{OK: true}, nil
}

// Reset rolls back any transaction, releases table locks and restores the
// session defaults. An error means the session is unusable.
func (i *Instance) Reset(ctx context.Context) error {
	if err := i.lock(ctx, "mysql reset"); err != nil {
		return err
	}
	defer i.mu.Unlock()
	for _, q := range []string{"ROLLBACK", "UNLOCK TABLES", i.defaults} {
		if _, err := i.conn.ExecContext(ctx, q); err != nil {
			return wrapErr(ctx, err, "mysql reset")
		}
	}
	i.inTx = false
	return nil
}

// Close closes the session's connection and its DB. It is safe to call
// more than once.
func (i *Instance) Close(context.Context) error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	i.stmts.Close()
	i.mu.Unlock()
	err := i.conn.Close()
	if errors.Is(err, sql.ErrConnDone) {
		err = nil
	}
	return errors.Join(err, i.db.Close())
}

// prepare returns a cached prepared statement for query, preparing it when
// needed. The caller holds the lock.
func (i *Instance) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	return i.stmts.Prepare(ctx, i.conn, query)
}

// Query runs a statement that returns rows and streams them from the
// server's cursor.
func (i *Instance) Query(ctx context.Context, stmt sdk.Statement) (sdk.Rows, error) {
	args, err := bindArgs(stmt.Args)
	if err != nil {
		return nil, err
	}
	if err := i.lock(ctx, "mysql query"); err != nil {
		return nil, err
	}
	defer i.mu.Unlock()
	var rows *sql.Rows
	if len(args) == 0 {
		rows, err = i.conn.QueryContext(ctx, stmt.SQL)
	} else {
		var st *sql.Stmt
		if st, err = i.prepare(ctx, stmt.SQL); err == nil {
			rows, err = st.QueryContext(ctx, args...)
		}
	}
	if err != nil {
		return nil, wrapErr(ctx, err, "mysql query")
	}
	r, err := newRows(ctx, rows)
	if err != nil {
		_ = rows.Close()
		return nil, err
	}
	return r, nil
}

// Exec runs a statement that returns no rows.
func (i *Instance) Exec(ctx context.Context, stmt sdk.Statement) (sdk.ExecResult, error) {
	args, err := bindArgs(stmt.Args)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if err := i.lock(ctx, "mysql exec"); err != nil {
		return sdk.ExecResult{}, err
	}
	defer i.mu.Unlock()
	var res sql.Result
	if len(args) == 0 {
		res, err = i.conn.ExecContext(ctx, stmt.SQL)
	} else {
		var st *sql.Stmt
		if st, err = i.prepare(ctx, stmt.SQL); err == nil {
			res, err = st.ExecContext(ctx, args...)
		}
	}
	if err != nil {
		return sdk.ExecResult{}, wrapErr(ctx, err, "mysql exec")
	}
	var out sdk.ExecResult
	if out.RowsAffected, err = res.RowsAffected(); err != nil {
		return sdk.ExecResult{}, wrapErr(ctx, err, "mysql exec")
	}
	if id, err := res.LastInsertId(); err == nil {
		out.LastInsertID, out.HasLastInsertID = id, true
	}
	return out, nil
}

var isolationSQL = map[sdk.IsolationLevel]string{
	sdk.IsolationReadUncommitted: "READ UNCOMMITTED",
	sdk.IsolationReadCommitted:   "READ COMMITTED",
	sdk.IsolationRepeatableRead:  "REPEATABLE READ",
	sdk.IsolationSerializable:    "SERIALIZABLE",
}

// Begin starts a transaction on the session.
func (i *Instance) Begin(ctx context.Context, opts sdk.TxOptions) error {
	level, ok := isolationSQL[opts.Isolation]
	if !ok && opts.Isolation != sdk.IsolationDefault {
		return sdk.Errorf(sdk.KindInvalidArgument, "mysql begin: unknown isolation level %q", opts.Isolation)
	}
	if err := i.lock(ctx, "mysql begin"); err != nil {
		return err
	}
	defer i.mu.Unlock()
	if i.inTx {
		return sdk.Errorf(sdk.KindFailedPrecondition, "mysql begin: a transaction is already open")
	}
	if level != "" {
		// Without SESSION, the level applies to the next transaction only.
		if _, err := i.conn.ExecContext(ctx, "SET TRANSACTION ISOLATION LEVEL "+level); err != nil {
			return wrapErr(ctx, err, "mysql begin")
		}
	}
	q := "START TRANSACTION"
	if opts.ReadOnly {
		q += " READ ONLY"
	}
	if _, err := i.conn.ExecContext(ctx, q); err != nil {
		return wrapErr(ctx, err, "mysql begin")
	}
	i.inTx = true
	return nil
}

// Commit commits the open transaction.
func (i *Instance) Commit(ctx context.Context) error { return i.end(ctx, "COMMIT") }

// Rollback rolls the open transaction back.
func (i *Instance) Rollback(ctx context.Context) error { return i.end(ctx, "ROLLBACK") }

func (i *Instance) end(ctx context.Context, q string) error {
	what := "mysql " + strings.ToLower(q)
	if err := i.lock(ctx, what); err != nil {
		return err
	}
	defer i.mu.Unlock()
	if !i.inTx {
		return sdk.Errorf(sdk.KindFailedPrecondition, "%s: no transaction is open", what)
	}
	_, err := i.conn.ExecContext(ctx, q)
	// Whether it succeeded or not, the server has ended the transaction
	// (a failed COMMIT rolls back), or the session is gone.
	i.inTx = false
	return wrapErr(ctx, err, what)
}

func mysqlErrNo(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// Interface guards.
var (
	_ sdk.Instance    = (*Instance)(nil)
	_ sdk.SQLInstance = (*Instance)(nil)
	_ sdk.Resetter    = (*Instance)(nil)
)
