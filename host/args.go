package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// emptyObject is the arguments of a call that gave none. It is shared:
// nothing writes to arguments.
var emptyObject = json.RawMessage("{}")

// encodeArgs turns what a caller passed as arguments into JSON: nil means
// no arguments; json.RawMessage, []byte and string are taken as JSON;
// anything else is marshalled, once.
func encodeArgs(args any) (json.RawMessage, error) {
	switch a := args.(type) {
	case nil:
		return emptyObject, nil
	case json.RawMessage:
		return a, nil
	case []byte:
		return json.RawMessage(a), nil
	case string:
		return json.RawMessage(a), nil
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "encode arguments: %v", err)
	}
	return raw, nil
}

// argChecker checks the arguments of one operation against its schema
// before they reach the plugin, and fills in defaults. It is compiled once
// per operation of a resource type (newArgChecker) and reads a call's
// arguments in one pass over their bytes, allocating nothing when they
// are right and nothing is defaulted.
//
// It is a small scanner of its own rather than a JSON library (gjson,
// json-iterator, go-json): the arguments it accepts, the value it reads
// for a name given twice (the last), the string a key or a duration
// decodes to, and every error it returns must be exactly those of
// encoding/json and sdk.CheckValue, which the libraries differ from in
// small ways (depth limits, invalid UTF-8, escapes in keys); and checking
// types and names while scanning is what makes one pass. Its errors are
// built by the reference itself: a syntax error by encoding/json, a value
// of the wrong type by sdk.CheckValue, so that they are the same by
// construction, and the scanner only decides that there is one.
type argChecker struct {
	op    string
	attrs []argAttr
	index map[string]int // attribute name → index in attrs
	names []string       // sorted, for "did you mean"
	// noArgs is what a call without arguments sends: the defaults alone,
	// as json.Marshal writes them; noArgsErr is Marshal's error.
	noArgs    json.RawMessage
	noArgsErr error
}

// argAttr is one argument of an operation, compiled.
type argAttr struct {
	sdk.Attribute
	t *argType
	// malformed is set when a list or map in the type has no element
	// type: a plugin's mistake, on which sdk.CheckValue would panic.
	malformed bool
	// fill is `,"name":default`, appended to the caller's object when the
	// argument is missing; nil without a default.
	fill []byte
}

// argKind is a schema type kind as the scanner switches on it.
type argKind uint8

const (
	argAny      argKind = iota // anything: a json value, or a value already known to be wrong, scanned for syntax only
	argString                  // a JSON string
	argDuration                // a string that time.ParseDuration reads
	argInt                     // a number that strconv.ParseInt reads
	argFloat                   // any number
	argBool                    // true or false
	argList                    // an array of elem
	argMap                     // an object of elem
	argInvalid                 // no value but null fits: an unknown kind, or a list or map with no element type
)

// argType is an sdk.Type compiled for the scanner.
type argType struct {
	kind argKind
	elem *argType
}

var anyType = &argType{kind: argAny}

func compileType(t sdk.Type) *argType {
	switch t.Kind {
	case sdk.TypeString:
		return &argType{kind: argString}
	case sdk.TypeDuration:
		return &argType{kind: argDuration}
	case sdk.TypeInt:
		return &argType{kind: argInt}
	case sdk.TypeFloat:
		return &argType{kind: argFloat}
	case sdk.TypeBool:
		return &argType{kind: argBool}
	case sdk.TypeJSON:
		return anyType
	case sdk.TypeList, sdk.TypeMap:
		k := argList
		if t.Kind == sdk.TypeMap {
			k = argMap
		}
		if t.Elem == nil {
			// Only an empty list or map fits.
			return &argType{kind: k, elem: &argType{kind: argInvalid}}
		}
		return &argType{kind: k, elem: compileType(*t.Elem)}
	}
	return &argType{kind: argInvalid}
}

// newArgChecker compiles the checker of op's arguments.
func newArgChecker(op sdk.Operation) *argChecker {
	c := &argChecker{op: op.Name, index: make(map[string]int, len(op.Args.Attributes)), names: op.Args.Names()}
	defaults := map[string]json.RawMessage{}
	for _, a := range op.Args.Attributes {
		if _, dup := c.index[a.Name]; dup {
			// A plugin's mistake: Schema.Attribute finds the first.
			continue
		}
		aa := argAttr{Attribute: a, t: compileType(a.Type), malformed: malformed(a.Type)}
		if !a.Required && a.Default != nil {
			key, _ := json.Marshal(a.Name)
			aa.fill = slices.Concat([]byte(","), key, []byte(":"), a.Default)
			defaults[a.Name] = a.Default
		}
		c.index[a.Name] = len(c.attrs)
		c.attrs = append(c.attrs, aa)
	}
	c.noArgs, c.noArgsErr = json.Marshal(defaults)
	if c.noArgsErr != nil {
		c.noArgsErr = sdk.Errorf(sdk.KindInvalidArgument, "operation %q: %v", op.Name, c.noArgsErr)
	}
	return c
}

// argSeen is what a call gave for one argument: its last value.
type argSeen struct {
	val  []byte
	set  bool // given, and not null
	fits bool // val has the argument's type, as far as the scanner can tell
}

// check checks a call's arguments, JSON, and returns them completed with
// defaults: the caller's bytes as they are when nothing was defaulted, the
// defaults appended otherwise (encoding them all again would cost as much
// as reading them, a millisecond per 100 KB). Its errors are of kind
// invalid_argument, name the argument, and never quote the value of a
// sensitive one. A name given twice means its last value, here as in
// encoding/json and sdk.Decode.
func (c *argChecker) check(raw []byte) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		trimmed = nil
	}
	var buf [16]argSeen // on the stack, for operations of up to 16 arguments
	var seen []argSeen
	if len(c.attrs) <= len(buf) {
		seen = buf[:len(c.attrs)]
	} else {
		seen = make([]argSeen, len(c.attrs))
	}
	var given bool
	var unknown []string
	if trimmed != nil {
		var ok bool
		given, unknown, ok = c.scan(trimmed, seen)
		if !ok {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: arguments must be a JSON object: %v", c.op, syntaxError(trimmed))
		}
	}
	var problems []string
	if len(unknown) > 0 {
		problems = c.unknownProblems(unknown)
	}
	filled := 0
	for i := range c.attrs {
		a, s := &c.attrs[i], &seen[i]
		if !s.set {
			switch {
			case a.Required:
				problems = append(problems, fmt.Sprintf("argument %q (%s) is required", a.Name, a.Type))
			case a.fill != nil:
				filled += len(a.fill)
			}
			continue
		}
		if s.fits {
			continue
		}
		// The scanner says the value is wrong; the reference says how,
		// or that it is not (a name given twice in a map value, whose
		// last value fits).
		if err := a.mismatch(s.val); err != nil {
			if a.Sensitive {
				problems = append(problems, fmt.Sprintf("argument %q wants %s (sensitive value not shown)", a.Name, a.Type))
			} else {
				problems = append(problems, fmt.Sprintf("argument %q: %v", a.Name, err))
			}
		}
	}
	if len(problems) > 0 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: %s", c.op, strings.Join(problems, "; "))
	}
	if !given {
		return c.noArgs, c.noArgsErr
	}
	if filled == 0 {
		return trimmed, nil
	}
	out := make([]byte, 0, len(trimmed)+filled)
	out = append(out, trimmed[:len(trimmed)-1]...) // without its closing brace
	for i := range c.attrs {
		if a := &c.attrs[i]; !seen[i].set && a.fill != nil {
			out = append(out, a.fill...)
		}
	}
	return append(out, '}'), nil
}

// mismatch says how v does not have the argument's type, or returns nil
// when it does after all. It is sdk.CheckValue, which has the exact
// rules, called only for a value the scanner found wrong.
func (a *argAttr) mismatch(v []byte) error {
	if a.malformed {
		// sdk.CheckValue would follow the missing element type.
		return fmt.Errorf("want %s, which the plugin's schema gives no element type", a.Type)
	}
	return sdk.CheckValue(a.Type, v)
}

// malformed reports whether a list or map in t has no element type.
func malformed(t sdk.Type) bool {
	switch t.Kind {
	case sdk.TypeList, sdk.TypeMap:
		return t.Elem == nil || malformed(*t.Elem)
	}
	return false
}

// syntaxError is encoding/json's error for arguments the scanner refused:
// not JSON, or not an object.
func syntaxError(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	// The scanner and encoding/json disagree: FuzzArgCheckerAgainstReference
	// exists to find such inputs.
	return fmt.Errorf("invalid JSON")
}

// unknownProblems describes the arguments not in the schema.
func (c *argChecker) unknownProblems(unknown []string) []string {
	sort.Strings(unknown)
	unknown = slices.Compact(unknown)
	problems := make([]string, 0, len(unknown)+1)
	for _, k := range unknown {
		msg := fmt.Sprintf("unknown argument %s", sdk.QuoteShort(k))
		if s := config.Suggest(k, c.names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(c.names) > 0 {
			msg += " (arguments: " + strings.Join(c.names, ", ") + ")"
		} else {
			msg += " (the operation takes no arguments)"
		}
		problems = append(problems, msg)
	}
	return problems
}

// scan reads the object b, recording in seen the last value of each
// argument of the schema and whether it fits the argument's type. It
// returns whether the object has members, the names that are not in the
// schema, and false when b is not a JSON object as encoding/json reads
// one.
func (c *argChecker) scan(b []byte, seen []argSeen) (given bool, unknown []string, ok bool) {
	s := argScanner{b: b}
	if b[0] != '{' {
		return false, nil, false
	}
	s.i, s.depth = 1, 1
	s.space()
	if s.i < len(b) && b[s.i] == '}' {
		s.i++
		return false, nil, s.end()
	}
	for {
		s.space()
		if s.i >= len(b) || b[s.i] != '"' {
			return false, nil, false
		}
		start := s.i
		escaped, ok := s.str()
		if !ok {
			return false, nil, false
		}
		tok := b[start:s.i]
		key := tok[1 : len(tok)-1]
		s.space()
		if s.i >= len(b) || b[s.i] != ':' {
			return false, nil, false
		}
		s.i++
		s.space()
		var idx int
		var known bool
		if escaped || !utf8.Valid(key) {
			name := decodeString(tok)
			idx, known = c.index[name]
			if !known {
				unknown = append(unknown, name)
			}
		} else if idx, known = c.index[string(key)]; !known {
			unknown = append(unknown, string(key))
		}
		t := anyType
		if known {
			t = c.attrs[idx].t
		}
		vstart := s.i
		fits := s.value(t)
		if s.bad {
			return false, nil, false
		}
		if known {
			v := b[vstart:s.i]
			seen[idx] = argSeen{val: v, set: string(v) != "null", fits: fits}
		}
		given = true
		s.space()
		if s.i >= len(b) {
			return false, nil, false
		}
		switch b[s.i] {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
			return given, unknown, s.end()
		}
		return false, nil, false
	}
}

// decodeString decodes a JSON string token as encoding/json does: escapes
// resolved, invalid UTF-8 replaced. Only strings with escapes or invalid
// UTF-8 come here.
func decodeString(tok []byte) string {
	var s string
	_ = json.Unmarshal(tok, &s)
	return s
}

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// argScanner reads JSON values from b, checking their syntax as
// encoding/json's scanner does and their types as sdk.CheckValue does.
type argScanner struct {
	b     []byte
	i     int
	depth int
	bad   bool // a syntax error was found; the scan stops
}

func (s *argScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (s *argScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// value scans the value at s.i and reports whether it has type t. null
// has every type. On a syntax error it sets s.bad.
func (s *argScanner) value(t *argType) bool {
	if s.i >= len(s.b) {
		s.bad = true
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		start := s.i
		escaped, ok := s.str()
		if !ok {
			s.bad = true
			return false
		}
		switch t.kind {
		case argAny, argString:
			return true
		case argDuration:
			tok := s.b[start:s.i]
			var str string
			if escaped || !utf8.Valid(tok) {
				str = decodeString(tok)
			} else {
				str = string(tok[1 : len(tok)-1])
			}
			_, err := time.ParseDuration(str)
			return err == nil
		}
		return false
	case c == '{':
		return s.object(t)
	case c == '[':
		return s.array(t)
	case c == 't':
		return s.literal("true") && (t.kind == argAny || t.kind == argBool)
	case c == 'f':
		return s.literal("false") && (t.kind == argAny || t.kind == argBool)
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		start := s.i
		whole, ok := s.number()
		if !ok {
			s.bad = true
			return false
		}
		switch t.kind {
		case argAny, argFloat:
			return true
		case argInt:
			return whole && fitsInt64(s.b[start:s.i])
		}
		return false
	}
	s.bad = true
	return false
}

func (s *argScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.bad = true
		return false
	}
	s.i += len(lit)
	return true
}

// fitsInt64 reports whether the digits of a whole number (an optional
// minus, then digits) read as an int64, as strconv.ParseInt does.
func fitsInt64(tok []byte) bool {
	digits := len(tok)
	if tok[0] == '-' {
		digits--
	}
	if digits <= 18 {
		return true
	}
	_, err := strconv.ParseInt(string(tok), 10, 64)
	return err == nil
}

// object scans an object; it has type t when t is a map whose element
// type every value has (or anything, for argAny).
func (s *argScanner) object(t *argType) bool {
	if s.depth++; s.depth > maxDepth {
		s.bad = true
		return false
	}
	defer func() { s.depth-- }()
	fits := t.kind == argAny || t.kind == argMap
	elem := anyType
	if t.kind == argMap {
		elem = t.elem
	}
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return fits
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			s.bad = true
			return false
		}
		if _, ok := s.str(); !ok {
			s.bad = true
			return false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			s.bad = true
			return false
		}
		s.i++
		s.space()
		if !s.value(elem) {
			// A wrong value makes the map wrong, unless the same key
			// comes again with a right one: sdk.CheckValue settles that
			// when the error is reported. The rest is only scanned.
			fits, elem = false, anyType
		}
		if s.bad {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			s.bad = true
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
			return fits
		}
		s.bad = true
		return false
	}
}

// array scans an array; it has type t when t is a list whose element type
// every element has (or anything, for argAny).
func (s *argScanner) array(t *argType) bool {
	if s.depth++; s.depth > maxDepth {
		s.bad = true
		return false
	}
	defer func() { s.depth-- }()
	fits := t.kind == argAny || t.kind == argList
	elem := anyType
	if t.kind == argList {
		elem = t.elem
	}
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return fits
	}
	for {
		s.space()
		if !s.value(elem) {
			fits, elem = false, anyType
		}
		if s.bad {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			s.bad = true
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			continue
		case ']':
			s.i++
			return fits
		}
		s.bad = true
		return false
	}
}

// str scans the string at s.i (its opening quote) and reports whether it
// holds escapes, and false for ok when it is not a JSON string: a control
// character, a bad escape, or no closing quote. Bytes that are not UTF-8
// pass, as they do in encoding/json.
func (s *argScanner) str() (escaped, ok bool) {
	b := s.b
	i := s.i + 1
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return escaped, true
		case c < 0x20:
			return false, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return false, false
					}
				}
				i += 5
			default:
				return false, false
			}
		default:
			i++
		}
	}
	return false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number scans the number at s.i, as the JSON grammar has it, and reports
// whether it is whole: no fraction and no exponent.
func (s *argScanner) number() (whole, ok bool) {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false, false
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false, false
	}
	whole = true
	if i < len(b) && b[i] == '.' {
		whole = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		whole = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return whole, true
}

// findOperation returns the named operation of t, or an invalid_argument
// error that lists the operations and suggests the closest.
func findOperation(t sdk.ResourceType, name string) (sdk.Operation, error) {
	if op, ok := t.Operation(name); ok {
		return op, nil
	}
	names := make([]string, len(t.Operations))
	for i, op := range t.Operations {
		names[i] = op.Name
	}
	sort.Strings(names)
	msg := fmt.Sprintf("no operation %s", sdk.QuoteShort(name))
	if s := config.Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	msg += "; operations: " + strings.Join(names, ", ")
	return sdk.Operation{}, sdk.Errorf(sdk.KindInvalidArgument, "%s", msg)
}
