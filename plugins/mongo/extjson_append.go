package mongo

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Canonical Extended JSON written straight from raw BSON, without the
// driver's reflection, value readers and writers: byte for byte what
// bson.MarshalExtJSON(doc, true, false) writes, at a fraction of its
// time and with no allocation for the common types. The tests hold the
// two equal on a table of every type and under a fuzzer.
//
// The walk mirrors the driver's own (bson's copyBytesToValueWriter for
// the top-level document, its valueReader for each value), so that it
// accepts what the driver accepts, rejects what it rejects, and reads
// what a malformed document holds the way the driver reads it:
//
//   - the top-level document's elements are cut by their lengths
//     (bsoncore.ReadValue), each value then read on its own; bytes past
//     the document's length are ignored;
//   - a nested document or array is read element after element, and
//     its terminator must fall where its length says; an array's keys
//     are skipped, whatever they hold;
//   - binary subtype 2 (old binary) with a length over 4 takes its bytes'
//     count from the inner length;
//   - code with scope drops its code's last byte without looking at it,
//     and its total length must equal the sum of its parts';
//   - a boolean is 0 or 1;
//   - an unknown type is an error.
//
// And it writes what the driver writes, down to its quirks:
//
//   - strings and keys: JSON escaping without HTML escaping, \b \f \n \r
//     \t and \u00XX for the other control characters, \u2028 and \u2029
//     escaped, each byte of invalid UTF-8 as \ufffd;
//   - a double's shortest 'G' formatting, with ".0" when it has neither
//     a point nor an exponent ("1.0", "1E+21", "-0.0", "5E-324"), and
//     "Infinity", "-Infinity", "NaN";
//   - a regular expression's options sorted by code point, after
//     invalid UTF-8 in them became U+FFFD (written as is, not escaped);
//   - a DBPointer's namespace written as it is, without escaping.

// errMalformedBSON is the cause of every error: the document is not
// BSON that the driver could write either.
var errMalformedBSON = errors.New("malformed BSON")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformedBSON}, args...)...)
}

// appendCanonical appends doc's canonical Extended JSON to dst. On
// error dst comes back as it went.
func appendCanonical(dst []byte, doc bson.Raw) ([]byte, error) {
	start := len(dst)
	dst, err := appendCanonicalDocument(dst, doc)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

func appendCanonicalDocument(dst []byte, doc []byte) ([]byte, error) {
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok {
		return dst, malformed("cannot read the document's length from %d bytes", len(doc))
	}
	if length < 5 {
		return dst, malformed("a document's length is at least 5, not %d", length)
	}
	if len(doc) < int(length) {
		return dst, malformed("the document's length is %d, over its %d bytes", length, len(doc))
	}
	rem = rem[:length-4]

	dst = append(dst, '{')
	for i := 0; ; i++ {
		var t bsoncore.Type
		if t, rem, ok = bsoncore.ReadType(rem); !ok {
			return dst, malformed("the document ends without its terminator")
		}
		if t == 0 {
			if len(rem) != 0 {
				return dst, malformed("the document's terminator comes %d bytes before its end", len(rem))
			}
			break
		}
		var key []byte
		if key, rem, ok = bsoncore.ReadKeyBytes(rem); !ok {
			return dst, malformed("a key has no terminator")
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, key)
		dst = append(dst, ':')
		var v bsoncore.Value
		if v, rem, ok = bsoncore.ReadValue(rem, t); !ok {
			return dst, malformed("the value of %q, of type %#02x, is cut short or of an unknown type", key, byte(t))
		}
		r := bsonReader{buf: v.Data}
		var err error
		if dst, err = r.appendValue(dst, t); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendCanonicalValue appends the canonical Extended JSON of one value
// of type t, data being exactly its bytes. On error dst comes back as
// it went.
func appendCanonicalValue(dst []byte, t bsoncore.Type, data []byte) ([]byte, error) {
	v, rest, ok := bsoncore.ReadValue(data, t)
	if !ok {
		return dst, malformed("a value of type %#02x is cut short or of an unknown type", byte(t))
	}
	if len(rest) != 0 {
		return dst, malformed("a value of type %#02x is followed by %d bytes", byte(t), len(rest))
	}
	start := len(dst)
	r := bsonReader{buf: v.Data}
	dst, err := r.appendValue(dst, t)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// bsonReader reads BSON values from buf in sequence, as the driver's
// valueReader does: each read checks only that buf holds its bytes.
type bsonReader struct {
	buf []byte
	pos int
}

func (r *bsonReader) next(n int32) ([]byte, error) {
	if n < 0 {
		return nil, malformed("invalid length %d", n)
	}
	if int64(r.pos)+int64(n) > int64(len(r.buf)) {
		return nil, malformed("%d bytes needed at offset %d, %d left", n, r.pos, len(r.buf)-r.pos)
	}
	b := r.buf[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

func (r *bsonReader) readByte() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, malformed("a byte needed at offset %d, none left", r.pos)
	}
	r.pos++
	return r.buf[r.pos-1], nil
}

func (r *bsonReader) readUint32() (uint32, error) {
	b, err := r.next(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *bsonReader) readInt32() (int32, error) {
	u, err := r.readUint32()
	return int32(u), err
}

func (r *bsonReader) readUint64() (uint64, error) {
	b, err := r.next(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// readCString reads up to a 0 byte, and returns what is before it.
func (r *bsonReader) readCString() ([]byte, error) {
	if r.pos >= len(r.buf) {
		return nil, malformed("a C string needed at offset %d, nothing left", r.pos)
	}
	rem := r.buf[r.pos:]
	for i, c := range rem {
		if c == 0 {
			r.pos += i + 1
			return rem[:i], nil
		}
	}
	return nil, malformed("the C string at offset %d has no terminator", r.pos)
}

// readString reads a BSON string: a length, then that many bytes, the
// last of them 0; it returns them without the 0.
func (r *bsonReader) readString() ([]byte, error) {
	n, err := r.readInt32()
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, malformed("invalid string length %d", n)
	}
	b, err := r.next(n)
	if err != nil {
		return nil, err
	}
	if b[len(b)-1] != 0 {
		return nil, malformed("a string ends with %#02x, not 0", b[len(b)-1])
	}
	return b[:len(b)-1], nil
}

// appendValue reads a value of type t and appends its canonical
// Extended JSON.
func (r *bsonReader) appendValue(dst []byte, t bsoncore.Type) ([]byte, error) {
	switch t {
	case bsoncore.TypeDouble:
		u, err := r.readUint64()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$numberDouble":"`...)
		dst = appendDouble(dst, math.Float64frombits(u))
		return append(dst, `"}`...), nil

	case bsoncore.TypeString:
		s, err := r.readString()
		if err != nil {
			return dst, err
		}
		return appendJSONString(dst, s), nil

	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		size, err := r.readInt32()
		if err != nil {
			return dst, err
		}
		end := int64(r.pos) + int64(size) - 4
		if t == bsoncore.TypeArray {
			dst = append(dst, '[')
			dst, err = r.appendElements(dst, true, end)
			return append(dst, ']'), err
		}
		dst = append(dst, '{')
		dst, err = r.appendElements(dst, false, end)
		return append(dst, '}'), err

	case bsoncore.TypeBinary:
		n, err := r.readInt32()
		if err != nil {
			return dst, err
		}
		subtype, err := r.readByte()
		if err != nil {
			return dst, err
		}
		if subtype == 0x02 && n > 4 {
			// Old binary: its bytes' count follows the subtype.
			if n, err = r.readInt32(); err != nil {
				return dst, err
			}
		}
		b, err := r.next(n)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$binary":{"base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, b)
		dst = append(dst, `","subType":"`...)
		dst = append(dst, hexDigits[subtype>>4], hexDigits[subtype&0xF])
		return append(dst, `"}}`...), nil

	case bsoncore.TypeUndefined:
		return append(dst, `{"$undefined":true}`...), nil

	case bsoncore.TypeObjectID:
		b, err := r.next(12)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$oid":"`...)
		dst = appendHex(dst, b)
		return append(dst, `"}`...), nil

	case bsoncore.TypeBoolean:
		b, err := r.readByte()
		if err != nil {
			return dst, err
		}
		switch b {
		case 0:
			return append(dst, "false"...), nil
		case 1:
			return append(dst, "true"...), nil
		}
		return dst, malformed("invalid byte for a boolean, %#02x", b)

	case bsoncore.TypeDateTime:
		u, err := r.readUint64()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$date":{"$numberLong":"`...)
		dst = strconv.AppendInt(dst, int64(u), 10)
		return append(dst, `"}}`...), nil

	case bsoncore.TypeNull:
		return append(dst, "null"...), nil

	case bsoncore.TypeRegex:
		pattern, err := r.readCString()
		if err != nil {
			return dst, err
		}
		options, err := r.readCString()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$regularExpression":{"pattern":`...)
		dst = appendJSONString(dst, pattern)
		dst = append(dst, `,"options":`...)
		dst = appendJSONString(dst, sortedOptions(options))
		return append(dst, `}}`...), nil

	case bsoncore.TypeDBPointer:
		ns, err := r.readString()
		if err != nil {
			return dst, err
		}
		oid, err := r.next(12)
		if err != nil {
			return dst, err
		}
		// The driver writes the namespace as it is, unescaped.
		dst = append(dst, `{"$dbPointer":{"$ref":"`...)
		dst = append(dst, ns...)
		dst = append(dst, `","$id":{"$oid":"`...)
		dst = appendHex(dst, oid)
		return append(dst, `"}}}`...), nil

	case bsoncore.TypeJavaScript:
		code, err := r.readString()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$code":`...)
		dst = appendJSONString(dst, code)
		return append(dst, '}'), nil

	case bsoncore.TypeSymbol:
		s, err := r.readString()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$symbol":`...)
		dst = appendJSONString(dst, s)
		return append(dst, '}'), nil

	case bsoncore.TypeCodeWithScope:
		total, err := r.readInt32()
		if err != nil {
			return dst, err
		}
		n, err := r.readInt32()
		if err != nil {
			return dst, err
		}
		if n <= 0 {
			return dst, malformed("invalid string length %d", n)
		}
		code, err := r.next(n)
		if err != nil {
			return dst, err
		}
		code = code[:len(code)-1] // as the driver does, unchecked
		size, err := r.readInt32()
		if err != nil {
			return dst, err
		}
		end := int64(r.pos) + int64(size) - 4
		if parts := int64(4+n+4) + int64(size); int64(total) != parts {
			return dst, malformed("code with scope's length is %d, its parts' %d", total, parts)
		}
		dst = append(dst, `{"$code":`...)
		dst = appendJSONString(dst, code)
		dst = append(dst, `,"$scope":{`...)
		dst, err = r.appendElements(dst, false, end)
		return append(dst, `}}`...), err

	case bsoncore.TypeInt32:
		u, err := r.readUint32()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$numberInt":"`...)
		dst = strconv.AppendInt(dst, int64(int32(u)), 10)
		return append(dst, `"}`...), nil

	case bsoncore.TypeTimestamp:
		i, err := r.readUint32()
		if err != nil {
			return dst, err
		}
		ts, err := r.readUint32()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$timestamp":{"t":`...)
		dst = strconv.AppendUint(dst, uint64(ts), 10)
		dst = append(dst, `,"i":`...)
		dst = strconv.AppendUint(dst, uint64(i), 10)
		return append(dst, `}}`...), nil

	case bsoncore.TypeInt64:
		u, err := r.readUint64()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"$numberLong":"`...)
		dst = strconv.AppendInt(dst, int64(u), 10)
		return append(dst, `"}`...), nil

	case bsoncore.TypeDecimal128:
		b, err := r.next(16)
		if err != nil {
			return dst, err
		}
		l := binary.LittleEndian.Uint64(b[0:8])
		h := binary.LittleEndian.Uint64(b[8:16])
		dst = append(dst, `{"$numberDecimal":"`...)
		dst = append(dst, bson.NewDecimal128(h, l).String()...)
		return append(dst, `"}`...), nil

	case bsoncore.TypeMinKey:
		return append(dst, `{"$minKey":1}`...), nil

	case bsoncore.TypeMaxKey:
		return append(dst, `{"$maxKey":1}`...), nil
	}
	return dst, malformed("unknown BSON type %#02x", byte(t))
}

// appendElements reads the elements of a document (or an array, whose
// keys it skips) up to its terminator, which must end at end, and
// appends them comma-separated, without the brackets.
func (r *bsonReader) appendElements(dst []byte, array bool, end int64) ([]byte, error) {
	for i := 0; ; i++ {
		t, err := r.readByte()
		if err != nil {
			return dst, err
		}
		if t == 0 {
			if int64(r.pos) != end {
				return dst, malformed("a terminator at offset %d for a document that ends at %d", r.pos, end)
			}
			return dst, nil
		}
		key, err := r.readCString()
		if err != nil {
			return dst, err
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		if !array {
			dst = appendJSONString(dst, key)
			dst = append(dst, ':')
		}
		if dst, err = r.appendValue(dst, bsoncore.Type(t)); err != nil {
			return dst, err
		}
	}
}

// appendDouble appends f as the driver's formatDouble does.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'G', -1, 64)
	for _, c := range dst[start:] {
		if c == 'E' || c == '.' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

// sortedOptions returns a regular expression's options sorted by code
// point, as the driver writes them: through []rune, so that each byte
// of invalid UTF-8 becomes U+FFFD.
func sortedOptions(options []byte) []byte {
	sorted := true
	for i, c := range options {
		if c >= utf8.RuneSelf || (i > 0 && c < options[i-1]) {
			sorted = false
			break
		}
	}
	if sorted {
		return options
	}
	runes := []rune(string(options))
	slices.Sort(runes)
	return []byte(string(runes))
}

const hexDigits = "0123456789abcdef"

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
	}
	return dst
}

// appendJSONString appends s quoted and escaped as the driver's
// writeStringWithEscapes does with escapeHTML false.
func appendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonSafe holds true for the ASCII bytes written as they are: all but
// the control characters (below 0x20), '"' and '\\'. DEL is written as
// it is.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\'
	}
	return safe
}()
