package sqlite

import (
	"strings"

	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
	"github.com/nebula-resource/nebula-resource/sdk/sqlscan"
)

// effect is what a statement may leave on the connection beyond itself,
// which a Reset must undo before another caller gets it.
type effect uint8

const (
	// effectTx: a transaction may be open (BEGIN, SAVEPOINT). ROLLBACK
	// ends it.
	effectTx effect = 1 << iota
	// effectConn: state of the connection: a PRAGMA that sets something,
	// an attached database, TEMP tables, views and triggers. A new
	// connection, which costs no round trip in SQLite, clears it all.
	effectConn
)

// queryPragmas are the pragmas that take an argument and only read, or
// act without leaving a setting behind.
var queryPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_info": true, "index_xinfo": true,
	"index_list": true, "foreign_key_list": true, "foreign_key_check": true, "integrity_check": true,
	"quick_check": true, "wal_checkpoint": true, "optimize": true, "incremental_vacuum": true,
}

// statementEffect reads the SQL text of one call (which may hold several
// statements) and returns what it may leave on the connection. It errs on
// the safe side: a TEMP anywhere counts. What it cannot see is a function
// registered by the caller's application that changes the connection from
// inside a SELECT: the driver registers none.
func statementEffect(sql string) effect {
	var e effect
	for st := range sqlscan.SQLite.Statements(sql) {
		first := st.First()
		switch {
		case first.Is("begin"), first.Is("savepoint"):
			e |= effectTx
		case first.Is("attach"), first.Is("detach"):
			e |= effectConn
		case first.Is("pragma"):
			if pragmaSets(st) {
				e |= effectConn
			}
		}
		if e&effectConn != 0 {
			continue
		}
		for t := range st.Tokens() {
			if t.Is("temp") || t.Is("temporary") {
				e |= effectConn
				break
			}
		}
	}
	return e
}

// pragmaSets reports whether a PRAGMA statement sets something:
// PRAGMA [schema.]name = value, or name(value) for a pragma other than
// queryPragmas. PRAGMA [schema.]name reads.
func pragmaSets(st sqlscan.Statement) bool {
	var name sqlscan.Token
	for t := range st.Tokens() {
		switch {
		case t.IsPunct('='):
			return true
		case t.IsPunct('('):
			return !queryPragmas[strings.ToLower(name.Text)]
		case t.Kind == sqlscan.Word || t.Kind == sqlscan.Ident:
			name = t
		}
	}
	return false
}

// Note adds what the SQL text of one call may leave on the connection
// (statementEffect).
func (e *effect) Note(sql string) { *e |= statementEffect(sql) }

// Clean reports whether nothing was left on the connection.
func (e *effect) Clean() bool { return *e == 0 }

// Clear forgets what was left: the reset undid it.
func (e *effect) Clear() { *e = 0 }

// Undo returns what undoes the effects with the least it takes: ROLLBACK
// on the same connection when only a transaction may be open; otherwise a
// new connection, which applies the configured pragmas, holds nothing of
// the old one, and costs no round trip in SQLite.
func (e *effect) Undo(txOpen bool) (stmts []string, reconnect bool) {
	if *e&effectConn != 0 {
		return nil, true
	}
	if txOpen || *e&effectTx != 0 {
		return []string{"ROLLBACK"}, false
	}
	return nil, false
}

// Interface guards.
var _ sqldb.Tracker = (*effect)(nil)
