package mysql

import (
	"slices"
	"strings"

	"github.com/nebula-resource/nebula-resource/sdk/sqlscan"
)

// effect is what a statement may leave in the session beyond itself,
// which a Reset must undo before another caller gets the session.
type effect uint8

const (
	// effectTx: a transaction may be open (BEGIN, START TRANSACTION,
	// autocommit set), or the next one's characteristics set (SET
	// TRANSACTION). ROLLBACK undoes both.
	effectTx effect = 1 << iota
	// effectTableLocks: LOCK TABLES, FLUSH TABLES ... WITH READ LOCK or
	// FOR EXPORT. UNLOCK TABLES releases them.
	effectTableLocks
	// effectNamedLocks: GET_LOCK. RELEASE_ALL_LOCKS() releases them.
	effectNamedLocks
	// effectVars: session system variables or user variables set; one SET
	// puts them back (session.vars, session.userVars).
	effectVars
	// effectSchema: USE. USE of the DSN's database undoes it.
	effectSchema
	// effectConn: state that only a new connection clears, or that the
	// statement cannot show: temporary tables, SQL prepared statements
	// (and EXECUTE, which runs any SQL), HANDLER, XA, CALL, SET ROLE,
	// LOCK INSTANCE, BACKUP, a compound statement (BEGIN NOT ATOMIC), a
	// SET the driver cannot read.
	effectConn
)

// session is what the statements since the last reset may have left in
// the session.
type session struct {
	effects effect
	// vars and userVars are the session system variables (as written,
	// lower case) and user variables (with their @) that were set.
	vars, userVars map[string]struct{}
	// anyQuotes: a statement set sql_mode, which may have changed how
	// the server reads quotes and backslashes; later statements are read
	// both ways.
	anyQuotes bool
}

// clean reports whether nothing was left in the session.
func (s *session) clean() bool { return s.effects == 0 }

// note reads the SQL text of one call and adds what it may leave in the
// session. It errs on the safe side: a statement it cannot read counts as
// effectConn, which costs a new connection at the reset. What it cannot
// see is a stored function of the caller's that changes session state
// from inside a plain SELECT or DO: that change outlives the lease.
func (s *session) note(d sqlscan.Dialect, sql string) {
	s.noteAs(d, sql)
	if s.anyQuotes {
		d.BackslashEscapes = !d.BackslashEscapes
		d.DoubleQuoteStrings = !d.DoubleQuoteStrings
		s.noteAs(d, sql)
	}
}

func (s *session) noteAs(d sqlscan.Dialect, sql string) {
	for st := range d.Statements(sql) {
		s.noteStatement(d, st)
	}
}

func (s *session) noteStatement(d sqlscan.Dialect, st sqlscan.Statement) {
	first, second := st.First(), st.Second()
	switch {
	case first.Is("set"):
		switch {
		case second.Is("transaction"):
			s.effects |= effectTx
		case second.Is("statement"):
			// SET STATEMENT var = value, ... FOR statement (MariaDB): the
			// variables last for the one statement, which is read as
			// any other.
			if rest, ok := afterFor(st); ok {
				s.noteAs(d, rest)
				return
			}
			s.effects |= effectConn
		case second.Is("password"), second.Is("default"): // of an account, not the session
		case second.Is("role"):
			s.effects |= effectConn
		default:
			s.noteSet(st)
		}
	case first.Is("begin"):
		if second.Is("not") {
			s.effects |= effectConn
		} else {
			s.effects |= effectTx
		}
	case first.Is("start"):
		s.effects |= effectTx
	case first.Is("lock"):
		if second.Is("table") || second.Is("tables") {
			s.effects |= effectTableLocks
		} else {
			s.effects |= effectConn
		}
	case first.Is("flush"):
		if st.HasWord("lock") || st.HasWord("export") {
			s.effects |= effectTableLocks
		}
	case first.Is("use"):
		s.effects |= effectSchema
	case first.Is("xa"), first.Is("call"), first.Is("prepare"), first.Is("execute"), first.Is("deallocate"),
		first.Is("handler"), first.Is("backup"), first.Is("drop") && second.Is("prepare"):
		s.effects |= effectConn
	}
	if s.effects&effectConn != 0 {
		return // a new connection clears everything
	}
	writesUserVars := first.Is("load")
	var prev sqlscan.Token
	for t := range st.Tokens() {
		switch {
		case t.Is("temporary"):
			s.effects |= effectConn
		case t.Is("get_lock"):
			s.effects |= effectNamedLocks
		case t.IsPunct('=') && prev.IsPunct(':'), t.IsPunct('@') && prev.Is("into"):
			writesUserVars = true
		}
		prev = t
	}
	if writesUserVars {
		s.noteUserVars(st)
	}
}

// noteUserVars notes every user variable the statement names.
func (s *session) noteUserVars(st sqlscan.Statement) {
	var prev, prev2 sqlscan.Token
	for t := range st.Tokens() {
		if prev.IsPunct('@') && !prev2.IsPunct('@') && t.Kind != sqlscan.Punct && t.Kind != sqlscan.Number &&
			prev.Pos+1 == t.Pos {
			s.addUserVar(t)
		}
		prev2, prev = prev, t
	}
}

func (s *session) addUserVar(name sqlscan.Token) {
	s.effects |= effectVars
	if s.userVars == nil {
		s.userVars = map[string]struct{}{}
	}
	key := name.Text
	if name.Kind == sqlscan.Word {
		key = strings.ToLower(key)
	}
	s.userVars["@"+key] = struct{}{}
}

func (s *session) addVar(name string) {
	s.effects |= effectVars
	if s.vars == nil {
		s.vars = map[string]struct{}{}
	}
	s.vars[name] = struct{}{}
	switch strings.Trim(name, "`") {
	case "autocommit":
		s.effects |= effectTx
	case "sql_mode":
		s.anyQuotes = true
	}
}

// noteSet reads the assignments of a SET statement:
//
//	SET [GLOBAL | SESSION | LOCAL | PERSIST | PERSIST_ONLY] target = expr, ...
//
// where a target is a system variable (name, @@name, @@scope.name), a
// user variable (@name), NAMES ... or CHARACTER SET ... A SET it cannot
// read counts as effectConn.
func (s *session) noteSet(st sqlscan.Statement) {
	toks := slices.Collect(st.Tokens())
	global := false // the scope of the assignments without their own
	for i := 1; ; {
		if i >= len(toks) {
			s.effects |= effectConn
			return
		}
		switch t := toks[i]; {
		case t.Is("global"), t.Is("persist"), t.Is("persist_only"):
			global = true
			i++
		case t.Is("session"), t.Is("local"):
			global = false
			i++
		}
		if i >= len(toks) {
			s.effects |= effectConn
			return
		}
		t := toks[i]
		switch {
		case t.Is("names"), t.Is("charset"), t.Is("character"):
			// The connection's character set: the reset's defaults
			// restore it.
			s.effects |= effectVars
			i = skipExpr(toks, i+1)
		case t.Is("transaction"):
			// SET SESSION TRANSACTION ...: the isolation level and access
			// mode, which the reset's defaults restore; it takes the rest
			// of the statement.
			if !global {
				s.effects |= effectVars
			}
			return
		case t.IsPunct('@') && i+1 < len(toks) && toks[i+1].IsPunct('@'):
			i += 2
			varGlobal := global
			if i+1 < len(toks) && toks[i+1].IsPunct('.') {
				switch t := toks[i]; {
				case t.Is("global"), t.Is("persist"), t.Is("persist_only"):
					varGlobal = true
					i += 2
				case t.Is("session"), t.Is("local"):
					varGlobal = false
					i += 2
				}
			}
			name, next, ok := varName(toks, i)
			if !ok {
				s.effects |= effectConn
				return
			}
			if !varGlobal {
				s.addVar(name)
			}
			i = next
		case t.IsPunct('@') && i+1 < len(toks) && toks[i+1].Kind != sqlscan.Punct && toks[i+1].Kind != sqlscan.Number:
			s.addUserVar(toks[i+1])
			i = skipAssign(toks, i+2)
		default:
			name, next, ok := varName(toks, i)
			if !ok {
				s.effects |= effectConn
				return
			}
			if !global {
				s.addVar(name)
			}
			i = next
		}
		if i < 0 {
			s.effects |= effectConn
			return
		}
		if i >= len(toks) {
			return
		}
		i++ // the comma
	}
}

// varName reads a system variable's name at toks[i] (name, or
// structured name.name) and returns it and the index after its
// assignment, or ok false.
func varName(toks []sqlscan.Token, i int) (name string, next int, ok bool) {
	if i >= len(toks) || toks[i].Kind != sqlscan.Word && toks[i].Kind != sqlscan.Ident {
		return "", 0, false
	}
	name = toks[i].Text
	i++
	if i+1 < len(toks) && toks[i].IsPunct('.') && (toks[i+1].Kind == sqlscan.Word || toks[i+1].Kind == sqlscan.Ident) {
		name += "." + toks[i+1].Text
		i += 2
	}
	next = skipAssign(toks, i)
	return strings.ToLower(name), next, next >= 0
}

// skipAssign reads = or := and the expression after it, and returns the
// index of the comma that ends the assignment or len(toks); -1 when no =
// follows.
func skipAssign(toks []sqlscan.Token, i int) int {
	if i < len(toks) && toks[i].IsPunct(':') {
		i++
	}
	if i >= len(toks) || !toks[i].IsPunct('=') {
		return -1
	}
	return skipExpr(toks, i+1)
}

// skipExpr returns the index of the first comma at or after i outside
// parentheses, or len(toks).
func skipExpr(toks []sqlscan.Token, i int) int {
	depth := 0
	for ; i < len(toks); i++ {
		switch {
		case toks[i].IsPunct('('):
			depth++
		case toks[i].IsPunct(')'):
			depth--
		case toks[i].IsPunct(',') && depth <= 0:
			return i
		}
	}
	return i
}

// afterFor returns the statement after the FOR of SET STATEMENT ... FOR,
// outside parentheses.
func afterFor(st sqlscan.Statement) (string, bool) {
	depth := 0
	for t := range st.Tokens() {
		switch {
		case t.IsPunct('('):
			depth++
		case t.IsPunct(')'):
			depth--
		case t.Is("for") && depth <= 0:
			return st.Text()[t.Pos+len(t.Text):], true
		}
	}
	return "", false
}
