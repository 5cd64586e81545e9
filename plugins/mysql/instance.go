package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sqlscan"
	"github.com/nebula-resource/nebula-resource/sdk/stmtcache"
)

// stmtCacheSize bounds the prepared statements an instance keeps.
const stmtCacheSize = 64

// Instance is one MySQL session: one connection, held until Close. It
// serves one lease at a time (exclusive pooling); its methods are
// nonetheless safe to call concurrently.
type Instance struct {
	res *Resource

	mu sync.Mutex
	// db and conn are the session's one connection; a reset that needs a
	// new connection replaces them.
	db     *sql.DB
	conn   *sql.Conn
	closed bool
	inTx   bool
	stmts  *stmtcache.Cache
	// defaults are the assignments that restore the session's settings
	// to what they were at connect; a reset runs them after variables
	// were set.
	defaults []string
	// dialect is how the session's sql_mode reads quotes.
	dialect sqlscan.Dialect
	// sess is what the statements since the last reset may have left in
	// the session: what Reset must undo.
	sess session
}

// captureDefaults reads the settings the session starts with (sql_mode,
// isolation level and access mode, character sets) and builds the
// assignments that restore them, and the DSN's parameters.
func (i *Instance) captureDefaults(ctx context.Context) error {
	var sqlMode, iso, csClient, csConn, csResults, collConn string
	var readOnly int
	isoVar, roVar := "transaction_isolation", "transaction_read_only"
	const q = "SELECT @@SESSION.sql_mode, @@SESSION.%s, @@SESSION.%s, @@SESSION.character_set_client, " +
		"@@SESSION.character_set_connection, @@SESSION.character_set_results, @@SESSION.collation_connection"
	dest := []any{&sqlMode, &iso, &readOnly, &csClient, &csConn, &csResults, &collConn}
	err := i.conn.QueryRowContext(ctx, fmt.Sprintf(q, isoVar, roVar)).Scan(dest...)
	if mysqlErrNo(err) == 1193 { // unknown system variable: MariaDB < 11.1
		isoVar, roVar = "tx_isolation", "tx_read_only"
		err = i.conn.QueryRowContext(ctx, fmt.Sprintf(q, isoVar, roVar)).Scan(dest...)
	}
	if err != nil {
		return wrapErr(ctx, err, "mysql read session defaults")
	}
	i.defaults = []string{
		"SESSION autocommit = 1",
		"SESSION sql_mode = " + quote(sqlMode),
		"SESSION " + isoVar + " = " + quote(iso),
		"SESSION " + roVar + " = " + strconv.Itoa(readOnly),
		"SESSION character_set_client = " + quote(csClient),
		"SESSION character_set_connection = " + quote(csConn),
		"SESSION character_set_results = " + quote(csResults),
		"SESSION collation_connection = " + quote(collConn),
	}
	var params []string
	for k, v := range i.res.mc.Params {
		params = append(params, k+" = "+v)
	}
	sort.Strings(params)
	i.defaults = append(i.defaults, params...)
	i.dialect = sqlscan.MySQL
	for _, m := range strings.Split(sqlMode, ",") {
		switch m {
		case "NO_BACKSLASH_ESCAPES":
			i.dialect.BackslashEscapes = false
		case "ANSI_QUOTES":
			i.dialect.DoubleQuoteStrings = false
		}
	}
	return nil
}

// quote returns s as a MySQL string literal.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteIdent returns s as a MySQL quoted identifier.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

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

// SessionClean reports whether the session is as a new one: no
// transaction begun, and no statement since the last Reset that may have
// left state in it (session.note). The host resets only a session that
// is not clean, so that a one-shot query costs one round trip, and the
// prepared statements survive the lease.
func (i *Instance) SessionClean() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return !i.closed && !i.inTx && i.sess.clean()
}

// Reset returns the session to a clean state with the least it takes:
// ROLLBACK when a transaction may be open, UNLOCK TABLES after LOCK
// TABLES, RELEASE_ALL_LOCKS() after GET_LOCK, USE of the DSN's database
// after USE, and one SET that puts back the variables that were set and
// the settings of the connect; each is a round trip. State that only a
// new connection clears (temporary tables, say: effectConn) gets a new
// connection. go-sql-driver cannot send COM_RESET_CONNECTION on a held
// connection. An error means the session is unusable.
func (i *Instance) Reset(ctx context.Context) error {
	if err := i.lock(ctx, "mysql reset"); err != nil {
		return err
	}
	defer i.mu.Unlock()
	if err := i.alive(); err != nil {
		return err
	}
	e := i.sess.effects
	if e&effectConn != 0 || e&effectSchema != 0 && i.res.mc.DBName == "" {
		if err := i.reconnect(ctx); err != nil {
			return err
		}
	} else {
		for _, q := range i.resetStatements() {
			if _, err := i.conn.ExecContext(ctx, q); err != nil {
				return wrapErr(ctx, err, "mysql reset")
			}
		}
	}
	i.inTx = false
	i.sess = session{}
	return nil
}

// resetStatements returns the statements that undo what the session's
// statements left, in order: ROLLBACK first, since UNLOCK TABLES and SET
// autocommit = 1 would commit.
func (i *Instance) resetStatements() []string {
	var out []string
	e := i.sess.effects
	if i.inTx || e&effectTx != 0 {
		out = append(out, "ROLLBACK")
	}
	if e&effectTableLocks != 0 {
		out = append(out, "UNLOCK TABLES")
	}
	if e&effectNamedLocks != 0 {
		out = append(out, "DO RELEASE_ALL_LOCKS()")
	}
	if e&effectSchema != 0 {
		out = append(out, "USE "+quoteIdent(i.res.mc.DBName))
	}
	if e&effectVars != 0 {
		var set []string
		for _, v := range slices.Sorted(maps.Keys(i.sess.vars)) {
			set = append(set, "SESSION "+v+" = DEFAULT")
		}
		for _, v := range slices.Sorted(maps.Keys(i.sess.userVars)) {
			set = append(set, v+" = NULL")
		}
		// The defaults last: they win over the DEFAULTs above.
		out = append(out, "SET "+strings.Join(append(set, i.defaults...), ", "))
	}
	return out
}

// alive reports, without a round trip, whether the connection is still
// usable: go-sql-driver marks it broken when a call failed on it or was
// canceled.
func (i *Instance) alive() error {
	err := i.conn.Raw(func(dc any) error {
		if v, ok := dc.(driver.Validator); ok && !v.IsValid() {
			return driver.ErrBadConn
		}
		return nil
	})
	if err != nil {
		return sdk.WrapError(sdk.KindUnavailable, err, "mysql reset: the connection is broken")
	}
	return nil
}

// reconnect replaces the session's connection with a new one, which
// holds nothing of the old session. On failure the old one stays, and
// the error says the session is unusable.
func (i *Instance) reconnect(ctx context.Context) error {
	db, conn, err := i.res.connect(ctx)
	if err != nil {
		return err
	}
	i.stmts.Close()
	_ = i.conn.Close()
	_ = i.db.Close()
	i.db, i.conn = db, conn
	return i.captureDefaults(ctx)
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
	i.sess.note(i.dialect, stmt.SQL)
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
	i.sess.note(i.dialect, stmt.SQL)
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

	_ sdk.SessionReporter = (*Instance)(nil)
)
