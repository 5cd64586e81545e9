package postgres

import "strings"

// effect is what a statement may leave in the session beyond its
// transaction, which a Reset must undo before another caller gets the
// session.
type effect uint8

const (
	// effectSession: settings, temporary objects, cursors, listens,
	// advisory locks, the role (undone by resetSession).
	effectSession effect = 1 << iota
	// effectPrepared: the session's prepared statements changed behind
	// pgx's statement cache (PREPARE, DEALLOCATE, DISCARD), which is
	// cleared and the statements deallocated.
	effectPrepared
)

// statementEffect reads the SQL text of one call (which may hold several
// statements) and returns what it may leave in the session. It errs on
// the safe side: a word it cannot rule out (a DO block, a CALL, a TEMP
// anywhere) counts, and costs only a reset. What it cannot see is a
// function of the caller's that changes session state from inside (one
// that calls set_config, say) under a plain SELECT: that change outlives
// the lease, as it would in pgxpool.
func statementEffect(sql string) effect {
	var e effect
	first, second := "", ""
	n := 0 // words of the current statement
	endStatement := func() {
		switch {
		case is(first, "set"):
			if !is(second, "local") && !is(second, "transaction") && !is(second, "constraints") {
				e |= effectSession
			}
		case is(first, "reset"), is(first, "listen"), is(first, "unlisten"), is(first, "load"),
			is(first, "declare"), is(first, "do"), is(first, "call"):
			e |= effectSession
		case is(first, "prepare"):
			if is(second, "transaction") {
				e |= effectSession
			} else {
				e |= effectPrepared
			}
		case is(first, "deallocate"):
			e |= effectPrepared
		case is(first, "discard"):
			e |= effectSession | effectPrepared
		}
		first, second, n = "", "", 0
	}
	word := func(w string) {
		switch n {
		case 0:
			first = w
		case 1:
			second = w
		}
		n++
		if is(w, "temp") || is(w, "temporary") || is(w, "set_config") ||
			hasPrefixFold(w, "pg_advisory_lock") || hasPrefixFold(w, "pg_try_advisory_lock") {
			e |= effectSession
		}
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ';':
			endStatement()
			i++
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				i = len(sql)
			} else {
				i += j + 1
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
		case c == '\'':
			i = skipQuoted(sql, i+1, '\'')
		case c == '"':
			i = skipQuoted(sql, i+1, '"')
		case c == '$':
			i = skipDollar(sql, i)
		case isWordByte(c):
			j := i
			for j < len(sql) && (isWordByte(sql[j]) || sql[j] >= '0' && sql[j] <= '9' || sql[j] == '$') {
				j++
			}
			if c != '_' && (c < '0' || c > '9') || j > i+1 {
				word(sql[i:j])
			}
			i = j
		default:
			i++
		}
	}
	endStatement()
	return e
}

// is reports whether the word w is the keyword kw, in any case.
func is(w, kw string) bool { return len(w) == len(kw) && strings.EqualFold(w, kw) }

func hasPrefixFold(w, prefix string) bool {
	return len(w) >= len(prefix) && strings.EqualFold(w[:len(prefix)], prefix)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// skipQuoted returns the index after the quote that closes a string or
// identifier begun before i; a doubled quote is one quote inside it. A
// backslash escape (E'...') can only hide a quote that a doubled quote
// would also: both keep the string open, so reading it as doubled is safe.
func skipQuoted(sql string, i int, q byte) int {
	for i < len(sql) {
		switch sql[i] {
		case '\\':
			i += 2
			continue
		case q:
			if i+1 < len(sql) && sql[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(sql)
}

// skipBlockComment returns the index after the block comment at i, which
// nests in PostgreSQL.
func skipBlockComment(sql string, i int) int {
	depth := 0
	for i < len(sql) {
		switch {
		case strings.HasPrefix(sql[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(sql[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(sql)
}

// skipDollar returns the index after a dollar-quoted string ($tag$ ...
// $tag$) at i, or after a lone $ (a parameter such as $1).
func skipDollar(sql string, i int) int {
	j := i + 1
	for j < len(sql) && (isWordByte(sql[j]) || sql[j] >= '0' && sql[j] <= '9') {
		j++
	}
	if j >= len(sql) || sql[j] != '$' || (j > i+1 && sql[i+1] >= '0' && sql[i+1] <= '9') {
		return j // $1, or not a tag
	}
	tag := sql[i : j+1]
	if k := strings.Index(sql[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(sql)
}
