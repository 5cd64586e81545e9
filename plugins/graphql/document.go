package graphql

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The types of GraphQL operations.
const (
	opQuery        = "query"
	opMutation     = "mutation"
	opSubscription = "subscription"
)

// operation is an operation a document defines: its type and its name
// ("" for an anonymous one).
type operation struct {
	Type, Name string
}

// selectOperation finds the operation a request runs: the one named
// name, or the document's only operation when name is "". It reads no
// more of the document than its definitions' keywords and names (the
// server parses and validates the rest), but lexes all of it, so that a
// keyword inside a string, a block string or a comment is not taken for
// one. Its errors name the argument at fault ("query" or
// "operation_name") and are the caller's mistake.
func selectOperation(doc, name string) (operation, error) {
	ops, err := operations(doc)
	if err != nil {
		return operation{}, fmt.Errorf("argument %q: %w", "query", err)
	}
	if len(ops) == 0 {
		return operation{}, fmt.Errorf("argument %q: the document defines no operation (only fragments)", "query")
	}
	if name == "" {
		if len(ops) > 1 {
			return operation{}, fmt.Errorf("argument %q: the document defines %d operations: say which to run", "operation_name", len(ops))
		}
		return ops[0], nil
	}
	for _, op := range ops {
		if op.Name == name {
			return op, nil
		}
	}
	return operation{}, fmt.Errorf("argument %q: the document defines no operation named %q", "operation_name", name)
}

// token is one lexical token of a GraphQL document: a punctuator (its
// character, or "..."), a name, or a value (a string or a number, whose
// text does not matter here).
type token struct {
	kind tokenKind
	text string // the punctuator or the name
	pos  int    // its byte offset
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokPunct
	tokName
	tokValue
)

// lexer splits a GraphQL document into tokens
// (https://spec.graphql.org/October2021/#sec-Language.Source-Text),
// skipping ignored tokens: white space, line terminators, commas, the
// byte order mark and comments.
type lexer struct {
	src string
	pos int
}

// next returns the next token, or an error for a string or a block
// string without its end, or a character GraphQL has no use for.
func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "\uFEFF"):
			l.pos += len("\uFEFF")
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
				l.pos++
			}
		default:
			return l.token()
		}
	}
	return token{kind: tokEOF, pos: l.pos}, nil
}

// token reads the token at l.pos, which is not an ignored one.
func (l *lexer) token() (token, error) {
	start := l.pos
	c := l.src[start]
	switch {
	case strings.HasPrefix(l.src[start:], `"""`):
		l.pos += 3
		for {
			switch i := strings.IndexAny(l.src[l.pos:], `\"`); {
			case i < 0:
				return token{}, l.errorAt(start, "a block string has no end")
			case strings.HasPrefix(l.src[l.pos+i:], `\"""`):
				l.pos += i + 4
			case strings.HasPrefix(l.src[l.pos+i:], `"""`):
				l.pos += i + 3
				return token{kind: tokValue, pos: start}, nil
			default:
				l.pos += i + 1
			}
		}
	case c == '"':
		l.pos++
		for l.pos < len(l.src) {
			switch l.src[l.pos] {
			case '"':
				l.pos++
				return token{kind: tokValue, pos: start}, nil
			case '\\':
				l.pos += 2
			case '\n', '\r':
				return token{}, l.errorAt(start, "a string has no end on its line")
			default:
				l.pos++
			}
		}
		return token{}, l.errorAt(start, "a string has no end")
	case c == '.':
		if !strings.HasPrefix(l.src[start:], "...") {
			return token{}, l.errorAt(start, `"." where "..." belongs`)
		}
		l.pos += 3
		return token{kind: tokPunct, text: "...", pos: start}, nil
	case strings.IndexByte("!$&():=@[]{|}", c) >= 0:
		l.pos++
		return token{kind: tokPunct, text: string(c), pos: start}, nil
	case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		for l.pos < len(l.src) && isNameByte(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokName, text: l.src[start:l.pos], pos: start}, nil
	case c == '-' || '0' <= c && c <= '9':
		l.pos++
		for l.pos < len(l.src) && (isNameByte(l.src[l.pos]) || l.src[l.pos] == '.' ||
			(l.src[l.pos] == '+' || l.src[l.pos] == '-') && (l.src[l.pos-1] == 'e' || l.src[l.pos-1] == 'E')) {
			l.pos++
		}
		return token{kind: tokValue, pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, l.errorAt(start, fmt.Sprintf("unexpected character %q", r))
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// errorAt is an error about the document at byte offset pos, with its
// line and column as GraphQL servers count them.
func (l *lexer) errorAt(pos int, what string) error {
	line, col := 1, 1
	for i := 0; i < pos; i++ {
		switch l.src[i] {
		case '\n':
			line, col = line+1, 1
		case '\r':
			if i+1 < len(l.src) && l.src[i+1] == '\n' {
				continue
			}
			line, col = line+1, 1
		default:
			if l.src[i] < utf8.RuneSelf || utf8.RuneStart(l.src[i]) {
				col++
			}
		}
	}
	return fmt.Errorf("%s (line %d, column %d)", what, line, col)
}

// operations lists the operations a document defines, in order. A
// definition is an operation (a selection set alone, or query, mutation
// or subscription with an optional name), or a fragment, which it skips;
// anything else is an error.
func operations(doc string) ([]operation, error) {
	l := &lexer{src: doc}
	var ops []operation
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		switch {
		case t.kind == tokEOF:
			return ops, nil
		case t.kind == tokPunct && t.text == "{":
			ops = append(ops, operation{Type: opQuery})
			if err := l.skipBlock(t); err != nil {
				return nil, err
			}
			continue
		case t.kind == tokName && (t.text == opQuery || t.text == opMutation || t.text == opSubscription):
			op := operation{Type: t.text}
			n, err := l.next()
			if err != nil {
				return nil, err
			}
			if n.kind == tokName {
				op.Name = n.text
				n, err = l.next()
				if err != nil {
					return nil, err
				}
			}
			ops = append(ops, op)
			if err := l.skipToSelectionSet(n); err != nil {
				return nil, err
			}
		case t.kind == tokName && t.text == "fragment":
			// fragment Name on Type: three names, whatever they spell.
			for range 3 {
				n, err := l.next()
				if err != nil {
					return nil, err
				}
				if n.kind != tokName {
					return nil, l.errorAt(n.pos, "a fragment wants: fragment Name on Type")
				}
			}
			n, err := l.next()
			if err != nil {
				return nil, err
			}
			if err := l.skipToSelectionSet(n); err != nil {
				return nil, err
			}
		default:
			return nil, l.errorAt(t.pos, "want an operation (query, mutation, subscription or {) or a fragment, found "+t.describe())
		}
	}
}

// skipToSelectionSet skips, from t on, variable definitions and
// directives up to the definition's selection set, and the set.
func (l *lexer) skipToSelectionSet(t token) error {
	for {
		switch {
		case t.kind == tokEOF:
			return l.errorAt(t.pos, "a definition has no selection set")
		case t.kind == tokPunct && t.text == "{":
			return l.skipBlock(t)
		case t.kind == tokPunct && (t.text == "(" || t.text == "["):
			if err := l.skipBlock(t); err != nil {
				return err
			}
		case t.kind == tokPunct && (t.text == ")" || t.text == "]" || t.text == "}"):
			return l.errorAt(t.pos, "unbalanced "+t.describe())
		}
		var err error
		if t, err = l.next(); err != nil {
			return err
		}
	}
}

// closing pairs the brackets of GraphQL.
var closing = map[string]string{"{": "}", "(": ")", "[": "]"}

// skipBlock skips the bracketed block that open begins, through its
// closing bracket, with the blocks nested in it.
func (l *lexer) skipBlock(open token) error {
	stack := []token{open}
	for len(stack) > 0 {
		t, err := l.next()
		if err != nil {
			return err
		}
		if t.kind == tokEOF {
			top := stack[len(stack)-1]
			return l.errorAt(top.pos, fmt.Sprintf("%q has no %q", top.text, closing[top.text]))
		}
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "{", "(", "[":
			stack = append(stack, t)
		case "}", ")", "]":
			top := stack[len(stack)-1]
			if closing[top.text] != t.text {
				return l.errorAt(t.pos, fmt.Sprintf("%q closes %q", t.text, top.text))
			}
			stack = stack[:len(stack)-1]
		}
	}
	return nil
}

// describe names a token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end"
	case tokValue:
		return "a value"
	}
	return fmt.Sprintf("%q", t.text)
}
