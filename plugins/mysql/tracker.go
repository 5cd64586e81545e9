package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
	"github.com/nebula-resource/nebula-resource/sdk/sqlscan"
)

// tracker follows what the statements of one connection leave in its
// session (sqldb.Tracker), with what that connection started with: the
// settings that a reset restores, and how its sql_mode reads quotes.
type tracker struct {
	// sess is what the statements since the last reset may have left in
	// the session: what Reset must undo.
	sess session
	// dialect is how the session's sql_mode reads quotes.
	dialect sqlscan.Dialect
	// defaults are the assignments that restore the session's settings
	// to what they were at connect; a reset runs them after variables
	// were set.
	defaults []string
	// dbName is the DSN's database, which USE changes.
	dbName string
}

// readDefaults reads the settings the session starts with (sql_mode,
// isolation level and access mode, character sets) and builds the
// assignments that restore them, and the DSN's parameters.
func readDefaults(ctx context.Context, conn *sql.Conn, mc *gomysql.Config) (*tracker, error) {
	var sqlMode, iso, csClient, csConn, csResults, collConn string
	var readOnly int
	isoVar, roVar := "transaction_isolation", "transaction_read_only"
	const q = "SELECT @@SESSION.sql_mode, @@SESSION.%s, @@SESSION.%s, @@SESSION.character_set_client, " +
		"@@SESSION.character_set_connection, @@SESSION.character_set_results, @@SESSION.collation_connection"
	dest := []any{&sqlMode, &iso, &readOnly, &csClient, &csConn, &csResults, &collConn}
	err := conn.QueryRowContext(ctx, fmt.Sprintf(q, isoVar, roVar)).Scan(dest...)
	if mysqlErrNo(err) == 1193 { // unknown system variable: MariaDB < 11.1
		isoVar, roVar = "tx_isolation", "tx_read_only"
		err = conn.QueryRowContext(ctx, fmt.Sprintf(q, isoVar, roVar)).Scan(dest...)
	}
	if err != nil {
		return nil, wrapErr(ctx, err, "mysql read session defaults")
	}
	t := &tracker{dbName: mc.DBName, dialect: sqlscan.MySQL}
	t.defaults = []string{
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
	for k, v := range mc.Params {
		params = append(params, k+" = "+v)
	}
	sort.Strings(params)
	t.defaults = append(t.defaults, params...)
	for _, m := range strings.Split(sqlMode, ",") {
		switch m {
		case "NO_BACKSLASH_ESCAPES":
			t.dialect.BackslashEscapes = false
		case "ANSI_QUOTES":
			t.dialect.DoubleQuoteStrings = false
		}
	}
	return t, nil
}

// quote returns s as a MySQL string literal.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteIdent returns s as a MySQL quoted identifier.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Note adds what the SQL text of one call may leave in the session
// (session.note).
func (t *tracker) Note(sql string) { t.sess.note(t.dialect, sql) }

// Clean reports whether nothing was left in the session.
func (t *tracker) Clean() bool { return t.sess.clean() }

// Clear forgets what was left: the reset undid it.
func (t *tracker) Clear() { t.sess = session{} }

// Undo returns the statements that undo what the session's statements
// left, with the least it takes, each a round trip: ROLLBACK when a
// transaction may be open, UNLOCK TABLES after LOCK TABLES,
// RELEASE_ALL_LOCKS() after GET_LOCK, USE of the DSN's database after
// USE, and one SET that puts back the variables that were set and the
// settings of the connect. ROLLBACK comes first, since UNLOCK TABLES and
// SET autocommit = 1 would commit. State that only a new connection
// clears (temporary tables, say: effectConn), or a USE when the DSN names
// no database, asks for a new connection: go-sql-driver cannot send
// COM_RESET_CONNECTION on a held connection.
func (t *tracker) Undo(txOpen bool) (stmts []string, reconnect bool) {
	e := t.sess.effects
	if e&effectConn != 0 || e&effectSchema != 0 && t.dbName == "" {
		return nil, true
	}
	if txOpen || e&effectTx != 0 {
		stmts = append(stmts, "ROLLBACK")
	}
	if e&effectTableLocks != 0 {
		stmts = append(stmts, "UNLOCK TABLES")
	}
	if e&effectNamedLocks != 0 {
		stmts = append(stmts, "DO RELEASE_ALL_LOCKS()")
	}
	if e&effectSchema != 0 {
		stmts = append(stmts, "USE "+quoteIdent(t.dbName))
	}
	if e&effectVars != 0 {
		var set []string
		for _, v := range slices.Sorted(maps.Keys(t.sess.vars)) {
			set = append(set, "SESSION "+v+" = DEFAULT")
		}
		for _, v := range slices.Sorted(maps.Keys(t.sess.userVars)) {
			set = append(set, v+" = NULL")
		}
		// The defaults last: they win over the DEFAULTs above.
		stmts = append(stmts, "SET "+strings.Join(append(set, t.defaults...), ", "))
	}
	return stmts, false
}

func mysqlErrNo(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// Interface guards.
var _ sqldb.Tracker = (*tracker)(nil)
