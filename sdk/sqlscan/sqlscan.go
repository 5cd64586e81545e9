// Package sqlscan reads SQL text the way a driver needs to when it must
// know what a statement may leave in a session, without parsing SQL: it
// splits the text into statements and tokens, skips comments, and steps
// over quoted strings and identifiers by the rules of a [Dialect]. What a
// statement means is the driver's business; sqlscan only makes sure that a
// word inside a string or a comment is never taken for a keyword, and that
// a keyword hidden in neither is never missed.
//
// A driver ranges over [Dialect.Statements] and looks at each statement's
// [Statement.First] and [Statement.Second] tokens, or at all of them with
// [Statement.Tokens]:
//
//	for st := range sqlscan.PostgreSQL.Statements(sql) {
//		if st.First().Is("listen") { ... }
//	}
//
// Scanning allocates nothing.
package sqlscan

import (
	"iter"
	"strings"
)

// Dialect is the lexical rules in which databases differ. The zero value
// is plain SQL: '...' strings, "..." identifiers, -- and /* */ comments.
type Dialect struct {
	// DollarQuotes: $tag$...$tag$ is a string (PostgreSQL).
	DollarQuotes bool
	// EscapePrefix: a string written E'...' takes backslash escapes
	// (PostgreSQL).
	EscapePrefix bool
	// BackslashEscapes: a backslash escapes the next byte in every string
	// (MySQL, unless sql_mode has NO_BACKSLASH_ESCAPES).
	BackslashEscapes bool
	// DoubleQuoteStrings: "..." is a string, not an identifier (MySQL,
	// unless sql_mode has ANSI_QUOTES).
	DoubleQuoteStrings bool
	// Backticks: `...` is an identifier (MySQL, SQLite).
	Backticks bool
	// Brackets: [...] is an identifier (SQLite).
	Brackets bool
	// HashComments: # begins a comment to the end of the line (MySQL).
	HashComments bool
	// DashCommentNeedsSpace: -- begins a comment only when a space, a
	// control character or the end of the text follows (MySQL, where
	// 1--1 is 1 - -1).
	DashCommentNeedsSpace bool
	// NestedComments: /* */ comments nest (PostgreSQL).
	NestedComments bool
	// ExecutableComments: /*!...*/ and /*M!...*/ hold SQL that the server
	// runs (MySQL, MariaDB): their text is scanned as statements, their
	// opener and version number left out, and so is every */ outside a
	// comment, which closes one. (In the rare 2*/*c*/3 the * operator is
	// taken for a closer and the comment for code: no word is lost.)
	ExecutableComments bool
}

// The dialects of the servers the drivers speak to, with the servers'
// default settings.
var (
	PostgreSQL = Dialect{DollarQuotes: true, EscapePrefix: true, NestedComments: true}
	MySQL      = Dialect{BackslashEscapes: true, DoubleQuoteStrings: true, Backticks: true,
		HashComments: true, DashCommentNeedsSpace: true, ExecutableComments: true}
	SQLite = Dialect{Backticks: true, Brackets: true}
)

// Kind is what a token is.
type Kind uint8

// The kinds of token.
const (
	// Word is a keyword or an unquoted name: a letter, _ or a non-ASCII
	// byte, then any of these, digits and $.
	Word Kind = iota + 1
	// Number begins with a digit.
	Number
	// Ident is a quoted identifier: "x", `x` or [x] by the dialect.
	Ident
	// String is a string literal: '...', "..." or $$...$$ by the dialect.
	String
	// Punct is any other byte, one per token: ( ) , = ; @ : and so on.
	Punct
)

// Token is one token of SQL text.
type Token struct {
	Kind Kind
	// Text is the token as written, quotes included.
	Text string
	// Pos is where Text begins, in bytes from the start of the text
	// scanned (the statement's, for [Statement.Tokens]).
	Pos int
}

// Is reports whether t is the word kw, in any case.
func (t Token) Is(kw string) bool {
	return t.Kind == Word && len(t.Text) == len(kw) && strings.EqualFold(t.Text, kw)
}

// HasPrefix reports whether t is a word that begins with prefix, in any
// case.
func (t Token) HasPrefix(prefix string) bool {
	return t.Kind == Word && len(t.Text) >= len(prefix) && strings.EqualFold(t.Text[:len(prefix)], prefix)
}

// IsPunct reports whether t is the punctuation byte c.
func (t Token) IsPunct(c byte) bool { return t.Kind == Punct && t.Text[0] == c }

// Statement is one statement of a text: from its first token to its last,
// without the semicolon that ends it.
type Statement struct {
	d Dialect
	// src[start:end] is the statement; the scan looks past end as the
	// first did (whether -- ends the text, say).
	src           string
	start, end    int
	first, second Token
}

// Text returns the statement's text.
func (s Statement) Text() string { return s.src[s.start:s.end] }

// First returns the statement's first token.
func (s Statement) First() Token { return s.first }

// Second returns the statement's second token, or the zero Token when it
// has one token.
func (s Statement) Second() Token { return s.second }

// Tokens yields the statement's tokens in order, from the first.
func (s Statement) Tokens() iter.Seq[Token] {
	return func(yield func(Token) bool) {
		for i := s.start; ; {
			t, next := s.d.next(s.src, i)
			if t.Kind == 0 || t.Pos >= s.end {
				return
			}
			t.Pos -= s.start
			if !yield(t) {
				return
			}
			i = next
		}
	}
}

// HasWord reports whether any word of the statement is kw, in any case.
func (s Statement) HasWord(kw string) bool {
	for t := range s.Tokens() {
		if t.Is(kw) {
			return true
		}
	}
	return false
}

// Statements yields the statements of sql: the runs of tokens between
// semicolons, in order. A text of comments, blanks and semicolons holds
// none. (A semicolon inside a BEGIN ... END body splits the body too; the
// pieces are statements of their own to the caller.)
func (d Dialect) Statements(sql string) iter.Seq[Statement] {
	return func(yield func(Statement) bool) {
		var first, second Token
		n, end := 0, 0
		// statement is the one that has ended; token positions become
		// the statement's.
		statement := func() Statement {
			start := first.Pos
			first.Pos = 0
			if n > 1 {
				second.Pos -= start
			}
			return Statement{d: d, src: sql, start: start, end: end, first: first, second: second}
		}
		for t := range d.tokens(sql) {
			if t.IsPunct(';') {
				if n > 0 && !yield(statement()) {
					return
				}
				first, second, n = Token{}, Token{}, 0
				continue
			}
			switch n {
			case 0:
				first = t
			case 1:
				second = t
			}
			n++
			end = t.Pos + len(t.Text)
		}
		if n > 0 {
			yield(statement())
		}
	}
}

// tokens yields the tokens of sql.
func (d Dialect) tokens(sql string) iter.Seq[Token] {
	return func(yield func(Token) bool) {
		for i := 0; ; {
			t, next := d.next(sql, i)
			if t.Kind == 0 || !yield(t) {
				return
			}
			i = next
		}
	}
}

// next returns the token at or after i and the index after it; a Token
// of kind 0 at the end of sql.
func (d Dialect) next(sql string, i int) (Token, int) {
	for i < len(sql) {
		c := sql[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '-' && strings.HasPrefix(sql[i:], "--") && (!d.DashCommentNeedsSpace || i+2 == len(sql) || sql[i+2] <= ' '),
			c == '#' && d.HashComments:
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
			continue
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if d.ExecutableComments {
				if j := executableOpener(sql, i); j > i {
					i = j
					continue
				}
			}
			i = d.skipBlockComment(sql, i)
			continue
		case c == '*' && d.ExecutableComments && strings.HasPrefix(sql[i:], "*/"):
			i += 2 // the end of an executable comment
			continue
		case c == '\'':
			escapes := d.BackslashEscapes || d.EscapePrefix && i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') &&
				(i == 1 || !isWordByte(sql[i-2]) && !isDigit(sql[i-2]))
			return token(String, sql, start, skipQuoted(sql, i+1, '\'', escapes))
		case c == '"':
			if d.DoubleQuoteStrings {
				return token(String, sql, start, skipQuoted(sql, i+1, '"', d.BackslashEscapes))
			}
			return token(Ident, sql, start, skipQuoted(sql, i+1, '"', false))
		case c == '`' && d.Backticks:
			return token(Ident, sql, start, skipQuoted(sql, i+1, '`', false))
		case c == '[' && d.Brackets:
			j := strings.IndexByte(sql[i+1:], ']')
			if j < 0 {
				return token(Ident, sql, start, len(sql))
			}
			return token(Ident, sql, start, i+j+2)
		case c == '$' && d.DollarQuotes:
			if j := skipDollar(sql, i); j > i {
				return token(String, sql, start, j)
			}
			return token(Punct, sql, start, i+1)
		case isWordByte(c):
			j := i + 1
			for j < len(sql) && (isWordByte(sql[j]) || isDigit(sql[j]) || sql[j] == '$') {
				j++
			}
			return token(Word, sql, start, j)
		case isDigit(c):
			j := i + 1
			for j < len(sql) && (isWordByte(sql[j]) || isDigit(sql[j]) || sql[j] == '.') {
				j++
			}
			return token(Number, sql, start, j)
		default:
			return token(Punct, sql, start, i+1)
		}
	}
	return Token{}, len(sql)
}

func token(k Kind, sql string, start, end int) (Token, int) {
	return Token{Kind: k, Text: sql[start:end], Pos: start}, end
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipQuoted returns the index after the quote q that closes a string or
// identifier whose text begins at i. A doubled quote is one quote inside
// it; with escapes, so is a quote after a backslash.
func skipQuoted(sql string, i int, q byte, escapes bool) int {
	for i < len(sql) {
		switch sql[i] {
		case '\\':
			if escapes {
				i += 2
				continue
			}
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

// skipBlockComment returns the index after the block comment at i.
func (d Dialect) skipBlockComment(sql string, i int) int {
	depth := 0
	for i < len(sql) {
		switch {
		case strings.HasPrefix(sql[i:], "/*"):
			if depth == 0 || d.NestedComments {
				depth++
			}
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

// executableOpener returns the index after the opener of an executable
// comment at i (/*! or /*M!, and a version number), or i when the comment
// at i is an ordinary one.
func executableOpener(sql string, i int) int {
	j := i + 2
	if j < len(sql) && sql[j] == 'M' {
		j++
	}
	if j >= len(sql) || sql[j] != '!' {
		return i
	}
	j++
	for j < len(sql) && isDigit(sql[j]) {
		j++
	}
	return j
}

// skipDollar returns the index after a dollar-quoted string ($tag$ ...
// $tag$) at i, or i when the $ at i opens none (a parameter such as $1).
func skipDollar(sql string, i int) int {
	j := i + 1
	for j < len(sql) && (isWordByte(sql[j]) || isDigit(sql[j])) {
		j++
	}
	if j >= len(sql) || sql[j] != '$' || (j > i+1 && isDigit(sql[i+1])) {
		return i
	}
	tag := sql[i : j+1]
	if k := strings.Index(sql[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(sql)
}
