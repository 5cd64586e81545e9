package mongo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// appendCanonical against the driver it replaces: for every input, the
// same bytes as bson.MarshalExtJSON(doc, true, false), or an error when
// the driver errs.

// rawElem is one element of raw BSON: its type, key and value's bytes,
// which may be anything.
func rawElem(t bsoncore.Type, key string, value []byte) []byte {
	b := append([]byte{byte(t)}, key...)
	b = append(b, 0)
	return append(b, value...)
}

// rawDoc is a document of elements, its length right.
func rawDoc(elems ...[]byte) []byte {
	b := make([]byte, 4)
	for _, e := range elems {
		b = append(b, e...)
	}
	b = append(b, 0)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func le32(n int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }

// rawString is a BSON string's bytes: length, bytes, 0.
func rawString(s string) []byte {
	return append(append(le32(int32(len(s)+1)), s...), 0)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// elems builds a document of well-formed elements.
func elems(es ...[]byte) bson.Raw { return bson.Raw(bsoncore.BuildDocumentFromElements(nil, es...)) }

func arr(vs ...bsoncore.Value) []byte {
	ab := bsoncore.NewArrayBuilder()
	for _, v := range vs {
		ab.AppendValue(v)
	}
	return ab.Build()
}

var oidBytes = []byte{0x65, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b}

func oid() bson.ObjectID {
	var o bson.ObjectID
	copy(o[:], oidBytes)
	return o
}

func decElem(t testing.TB, key, s string) []byte {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatalf("ParseDecimal128(%q): %v", s, err)
	}
	h, l := d.GetBytes()
	return bsoncore.AppendDecimal128Element(nil, key, h, l)
}

// every string worth escaping, as strings, keys, code, symbols,
// patterns.
var trickyStrings = []string{
	"", "plain", "héllo wörld 日本 🎉", `"quoted" \back\slash/ <html> & 'single'`,
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f",
	"line\u2028separator\u2029paragraph", "\ufffd literal replacement", "\xff\xfe invalid", "cut \xe6\x97",
	"surrogate \xed\xa0\x80", "overlong \xc0\xaf", "\xf4\x90\x80\x80 beyond U+10FFFF", "mixed é\xffé",
}

// extJSONCases: name to document, well-formed or not.
func extJSONCases(t testing.TB) map[string][]byte {
	t.Helper()
	c := map[string][]byte{
		"empty document": elems(),
		"doubles": elems(
			bsoncore.AppendDoubleElement(nil, "zero", 0),
			bsoncore.AppendDoubleElement(nil, "negzero", math.Copysign(0, -1)),
			bsoncore.AppendDoubleElement(nil, "one", 1),
			bsoncore.AppendDoubleElement(nil, "half", 1.5),
			bsoncore.AppendDoubleElement(nil, "neg", -2.25),
			bsoncore.AppendDoubleElement(nil, "e5", 1e5),
			bsoncore.AppendDoubleElement(nil, "e6", 1e6),
			bsoncore.AppendDoubleElement(nil, "e20", 1e20),
			bsoncore.AppendDoubleElement(nil, "e21", 1e21),
			bsoncore.AppendDoubleElement(nil, "e300", 1e300),
			bsoncore.AppendDoubleElement(nil, "small", 1e-4),
			bsoncore.AppendDoubleElement(nil, "smaller", 1e-5),
			bsoncore.AppendDoubleElement(nil, "third", 1.0/3),
			bsoncore.AppendDoubleElement(nil, "big", 123456789012345678),
			bsoncore.AppendDoubleElement(nil, "denormal", 5e-324),
			bsoncore.AppendDoubleElement(nil, "max", math.MaxFloat64),
			bsoncore.AppendDoubleElement(nil, "inf", math.Inf(1)),
			bsoncore.AppendDoubleElement(nil, "neginf", math.Inf(-1)),
			bsoncore.AppendDoubleElement(nil, "nan", math.NaN()),
			bsoncore.AppendDoubleElement(nil, "nanpayload", math.Float64frombits(0xfff8000000000123)),
		),
		"int32 and int64": elems(
			bsoncore.AppendInt32Element(nil, "i", 7),
			bsoncore.AppendInt32Element(nil, "imin", math.MinInt32),
			bsoncore.AppendInt32Element(nil, "imax", math.MaxInt32),
			bsoncore.AppendInt64Element(nil, "l", -7),
			bsoncore.AppendInt64Element(nil, "lmin", math.MinInt64),
			bsoncore.AppendInt64Element(nil, "lmax", math.MaxInt64),
		),
		"dates": elems(
			bsoncore.AppendDateTimeElement(nil, "epoch", 0),
			bsoncore.AppendDateTimeElement(nil, "ms", 1733317200123),
			bsoncore.AppendDateTimeElement(nil, "before1970", -86400001),
			bsoncore.AppendDateTimeElement(nil, "after9999", 253402300800000),
			bsoncore.AppendDateTimeElement(nil, "min", math.MinInt64),
			bsoncore.AppendDateTimeElement(nil, "max", math.MaxInt64),
		),
		"timestamps": elems(
			bsoncore.AppendTimestampElement(nil, "t", 1700000000, 3),
			bsoncore.AppendTimestampElement(nil, "zero", 0, 0),
			bsoncore.AppendTimestampElement(nil, "max", math.MaxUint32, math.MaxUint32),
		),
		"binary": elems(
			bsoncore.AppendBinaryElement(nil, "generic", 0x00, []byte{0, 1, 2, 3, 4}),
			bsoncore.AppendBinaryElement(nil, "empty", 0x00, nil),
			bsoncore.AppendBinaryElement(nil, "function", 0x01, []byte{1}),
			bsoncore.AppendBinaryElement(nil, "old", 0x02, []byte{1, 2, 3}),
			bsoncore.AppendBinaryElement(nil, "oldempty", 0x02, nil),
			bsoncore.AppendBinaryElement(nil, "olduuid", 0x03, bytes.Repeat([]byte{0xab}, 16)),
			bsoncore.AppendBinaryElement(nil, "uuid", 0x04, bytes.Repeat([]byte{0xcd}, 16)),
			bsoncore.AppendBinaryElement(nil, "md5", 0x05, bytes.Repeat([]byte{0xef}, 16)),
			bsoncore.AppendBinaryElement(nil, "encrypted", 0x06, []byte{1, 2}),
			bsoncore.AppendBinaryElement(nil, "column", 0x07, []byte{1, 2, 3, 4, 5, 6}),
			bsoncore.AppendBinaryElement(nil, "sensitive", 0x08, []byte{1}),
			bsoncore.AppendBinaryElement(nil, "vector", 0x09, []byte{0x03, 0x00, 1, 2}),
			bsoncore.AppendBinaryElement(nil, "user", 0x80, []byte{0xff}),
			bsoncore.AppendBinaryElement(nil, "userff", 0xff, []byte{0xfe, 0xfd}),
		),
		"fixed-size types": elems(
			bsoncore.AppendObjectIDElement(nil, "_id", oid()),
			bsoncore.AppendObjectIDElement(nil, "zero", bson.ObjectID{}),
			bsoncore.AppendBooleanElement(nil, "t", true),
			bsoncore.AppendBooleanElement(nil, "f", false),
			bsoncore.AppendNullElement(nil, "null"),
			bsoncore.AppendUndefinedElement(nil, "undefined"),
			bsoncore.AppendMinKeyElement(nil, "min"),
			bsoncore.AppendMaxKeyElement(nil, "max"),
		),
		"regex": elems(
			bsoncore.AppendRegexElement(nil, "r", `^a/b\d+$`, "imsx"),
			bsoncore.AppendRegexElement(nil, "unsorted", "x", "xsmi"),
			bsoncore.AppendRegexElement(nil, "repeated", "x", "iix"),
			bsoncore.AppendRegexElement(nil, "none", "", ""),
			bsoncore.AppendRegexElement(nil, "quoted", `"\`, `"\`),
			bsoncore.AppendRegexElement(nil, "unicode", "é", "zé\u2028a"),
			bsoncore.AppendRegexElement(nil, "invalid", "\xff", "i\xffa"),
		),
		"DBPointer": elems(
			bsoncore.AppendDBPointerElement(nil, "p", "db.coll", oid()),
			bsoncore.AppendDBPointerElement(nil, "empty", "", bson.ObjectID{}),
			bsoncore.AppendDBPointerElement(nil, "unescaped", "a\"b\\c\n\xff\u2028", oid()),
		),
		"code, symbol, scope": elems(
			bsoncore.AppendJavaScriptElement(nil, "js", "function(){ return \"x\" }"),
			bsoncore.AppendJavaScriptElement(nil, "empty", ""),
			bsoncore.AppendSymbolElement(nil, "sym", "sym\bol"),
			bsoncore.AppendCodeWithScopeElement(nil, "scoped", "f(x)", elems(bsoncore.AppendInt32Element(nil, "x", 1))),
			bsoncore.AppendCodeWithScopeElement(nil, "emptyscope", "", elems()),
			bsoncore.AppendCodeWithScopeElement(nil, "deepscope", "g", elems(
				bsoncore.AppendDocumentElement(nil, "d", elems(bsoncore.AppendArrayElement(nil, "a", arr(bsoncore.Value{Type: bsoncore.TypeNull})))),
				bsoncore.AppendCodeWithScopeElement(nil, "inner", "h", elems(bsoncore.AppendStringElement(nil, "s", "t"))),
			)),
		),
		"decimal128": elems(
			decElem(t, "a", "1234.5678"),
			decElem(t, "b", "-0.000001"),
			decElem(t, "nan", "NaN"),
			decElem(t, "inf", "Infinity"),
			decElem(t, "neginf", "-Infinity"),
			decElem(t, "negzero", "-0"),
			decElem(t, "e3", "1E+3"),
			decElem(t, "max", "9.999999999999999999999999999999999E+6144"),
			decElem(t, "tiny", "1E-6176"),
			bsoncore.AppendDecimal128Element(nil, "noncanonical", 0x6c10000000000000, 0),
			bsoncore.AppendDecimal128Element(nil, "snan", 0x7e00000000000000, 12),
		),
		"nested": elems(
			bsoncore.AppendDocumentElement(nil, "a", elems(
				bsoncore.AppendDocumentElement(nil, "b", elems(
					bsoncore.AppendArrayElement(nil, "c", arr(
						bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 1)},
						bsoncore.Value{Type: bsoncore.TypeArray, Data: arr(
							bsoncore.Value{Type: bsoncore.TypeInt64, Data: bsoncore.AppendInt64(nil, 2)},
							bsoncore.Value{Type: bsoncore.TypeArray, Data: arr()},
						)},
						bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: elems(bsoncore.AppendNullElement(nil, "d"))},
						bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: elems()},
					)),
				)),
			)),
			bsoncore.AppendDocumentElement(nil, "empty", elems()),
			bsoncore.AppendArrayElement(nil, "none", arr()),
			bsoncore.AppendStringElement(nil, "z", "keys keep their order"),
		),
		"every type in an array": rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(
			bsoncore.AppendDoubleElement(nil, "0", 1),
			bsoncore.AppendStringElement(nil, "1", "s"),
			bsoncore.AppendDocumentElement(nil, "2", elems()),
			bsoncore.AppendArrayElement(nil, "3", arr()),
			bsoncore.AppendBinaryElement(nil, "4", 2, []byte{1, 2, 3, 4, 5}),
			bsoncore.AppendUndefinedElement(nil, "5"),
			bsoncore.AppendObjectIDElement(nil, "6", oid()),
			bsoncore.AppendBooleanElement(nil, "7", true),
			bsoncore.AppendDateTimeElement(nil, "8", 1),
			bsoncore.AppendNullElement(nil, "9"),
			bsoncore.AppendRegexElement(nil, "10", "p", "oi"),
			bsoncore.AppendDBPointerElement(nil, "11", "n", oid()),
			bsoncore.AppendJavaScriptElement(nil, "12", "c"),
			bsoncore.AppendSymbolElement(nil, "13", "y"),
			bsoncore.AppendCodeWithScopeElement(nil, "14", "c", elems()),
			bsoncore.AppendInt32Element(nil, "15", 1),
			bsoncore.AppendTimestampElement(nil, "16", 1, 2),
			bsoncore.AppendInt64Element(nil, "17", 1),
			decElem(t, "18", "1.5"),
			bsoncore.AppendMinKeyElement(nil, "19"),
			bsoncore.AppendMaxKeyElement(nil, "20"),
		))),
		"array keys are skipped": rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(
			bsoncore.AppendInt32Element(nil, "x", 1),
			bsoncore.AppendInt32Element(nil, "", 2),
			bsoncore.AppendInt32Element(nil, "0", 3),
		))),
		"duplicate keys": elems(bsoncore.AppendInt32Element(nil, "a", 1), bsoncore.AppendInt32Element(nil, "a", 2)),
		"order document": orderDocument(),
		// What the driver reads the way it reads it.
		"old binary, inner length shorter, at the top": rawDoc(
			rawElem(bsoncore.TypeBinary, "b", cat(le32(10), []byte{2}, le32(2), []byte{1, 2, 3, 4, 5, 6})),
			bsoncore.AppendInt32Element(nil, "after", 1)),
		"old binary, length 4": rawDoc(rawElem(bsoncore.TypeBinary, "b", cat(le32(4), []byte{2}, []byte{9, 8, 7, 6}))),
		"old binary, inner length shorter, nested": rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", rawDoc(
			rawElem(bsoncore.TypeBinary, "b", cat(le32(7), []byte{2}, le32(0), []byte{0x0a, 'k', 0})),
		))),
		"code with scope, code without its 0": rawDoc(rawElem(bsoncore.TypeCodeWithScope, "c", cat(le32(4+4+3+5), le32(3), []byte("abc"), elems()))),
		"bytes past the document":             append(elems(bsoncore.AppendInt32Element(nil, "a", 1)), 0xde, 0xad),
		"string with a 0 inside":              rawDoc(rawElem(bsoncore.TypeString, "s", cat(le32(4), []byte{'a', 0, 'b', 0}))),
		// Malformed.
		"nil":                            nil,
		"three bytes":                    {5, 0, 0},
		"length 4":                       {4, 0, 0, 0},
		"negative length":                {0xff, 0xff, 0xff, 0xff, 0},
		"length past the bytes":          {6, 0, 0, 0, 0},
		"no terminator":                  {5, 0, 0, 0, 1},
		"terminator early":               {7, 0, 0, 0, 0, 0, 0},
		"key without its 0":              cat(le32(8), []byte{0x0a, 'a', 'b', 'c'}),
		"unknown type":                   rawDoc(rawElem(0x14, "x", nil)),
		"unknown type, nested":           rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", rawDoc(rawElem(0x14, "x", nil)))),
		"unknown type in an array":       rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(rawElem(0x20, "0", nil)))),
		"boolean 2":                      rawDoc(rawElem(bsoncore.TypeBoolean, "b", []byte{2})),
		"boolean 2, nested":              rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(rawElem(bsoncore.TypeBoolean, "0", []byte{2})))),
		"string length 0":                rawDoc(rawElem(bsoncore.TypeString, "s", le32(0))),
		"string length 0, nested":        rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", rawDoc(rawElem(bsoncore.TypeString, "s", le32(0))))),
		"string without its 0":           rawDoc(rawElem(bsoncore.TypeString, "s", cat(le32(2), []byte("ab")))),
		"string too long":                rawDoc(rawElem(bsoncore.TypeString, "s", cat(le32(99), []byte("ab\x00")))),
		"nested length too short":        rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", cat(le32(5), bsoncore.AppendInt32Element(nil, "x", 1), []byte{0}))),
		"nested length too long":         rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", cat(le32(6), []byte{0, 0}))),
		"nested negative length":         rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(rawElem(bsoncore.TypeArray, "0", cat(le32(-1), []byte{0}))))),
		"nested cut":                     rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(rawElem(bsoncore.TypeInt64, "0", []byte{1, 2, 3})))),
		"binary negative length nested":  rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(rawElem(bsoncore.TypeBinary, "0", cat(le32(-1), []byte{0}))))),
		"old binary, inner too long":     rawDoc(rawElem(bsoncore.TypeBinary, "b", cat(le32(6), []byte{2}, le32(9), []byte{1, 2}))),
		"old binary, inner negative":     rawDoc(rawElem(bsoncore.TypeBinary, "b", cat(le32(6), []byte{2}, le32(-2), []byte{1, 2}))),
		"code with scope, wrong total":   rawDoc(rawElem(bsoncore.TypeCodeWithScope, "c", cat(le32(4+4+4+5+1), rawString("abc"), elems(), []byte{0}))),
		"code with scope, code length 0": rawDoc(rawElem(bsoncore.TypeCodeWithScope, "c", cat(le32(4+4+5), le32(0), elems()))),
		"code with scope, scope cut":     rawDoc(rawElem(bsoncore.TypeCodeWithScope, "c", cat(le32(4+8+5), rawString("abc"), le32(5)))),
		"regex without options":          rawDoc(rawElem(bsoncore.TypeRegex, "r", []byte("abc\x00"))),
		"DBPointer cut":                  rawDoc(rawElem(bsoncore.TypeDBPointer, "p", cat(rawString("ns"), oidBytes[:5]))),
		"ObjectId cut, nested":           rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", rawDoc(rawElem(bsoncore.TypeObjectID, "_id", oidBytes[:11])))),
		"decimal cut, nested":            rawDoc(rawElem(bsoncore.TypeEmbeddedDocument, "d", cat(le32(5+1+2+8), rawElem(bsoncore.TypeDecimal128, "x", make([]byte, 8)), []byte{0}))),
	}
	var strs, keys [][]byte
	for i, s := range trickyStrings {
		cs := strings.ReplaceAll(s, "\x00", "") // as a key or a C string
		strs = append(strs, bsoncore.AppendStringElement(nil, strings.Repeat("k", i+1), s))
		keys = append(keys, bsoncore.AppendInt32Element(nil, cs, int32(i)))
		c["string: "+s] = elems(
			bsoncore.AppendStringElement(nil, "s", s),
			bsoncore.AppendBooleanElement(nil, cs, true),
			bsoncore.AppendJavaScriptElement(nil, "js", s),
			bsoncore.AppendSymbolElement(nil, "sym", s),
			bsoncore.AppendRegexElement(nil, "r", cs, cs),
			bsoncore.AppendCodeWithScopeElement(nil, "cws", s, elems(bsoncore.AppendStringElement(nil, cs, s))),
			bsoncore.AppendDocumentElement(nil, "nested", elems(bsoncore.AppendStringElement(nil, cs, s))),
			bsoncore.AppendArrayElement(nil, "array", arr(bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, s)})),
		)
	}
	c["strings"] = elems(strs...)
	c["keys"] = elems(keys...)
	return c
}

// orderDocument is a typical result: an order of three items.
func orderDocument() bson.Raw {
	item := func(sku string, qty int32, price int64) bsoncore.Value {
		return bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: elems(
			bsoncore.AppendStringElement(nil, "sku", sku),
			bsoncore.AppendInt32Element(nil, "qty", qty),
			bsoncore.AppendInt64Element(nil, "price", price),
		)}
	}
	return elems(
		bsoncore.AppendObjectIDElement(nil, "_id", oid()),
		bsoncore.AppendStringElement(nil, "customer", "ada"),
		bsoncore.AppendStringElement(nil, "status", "paid"),
		bsoncore.AppendInt64Element(nil, "total", 4297),
		bsoncore.AppendDateTimeElement(nil, "created", 1733317200123),
		bsoncore.AppendArrayElement(nil, "items", arr(item("A-1", 2, 1099), item("B-2", 1, 1599), item("C-3", 1, 500))),
	)
}

// sameAsTheDriver fails t unless appendCanonical writes doc as the
// driver does, or errs as it does; and appends to what dst holds, or
// leaves it as it was on error.
func sameAsTheDriver(t testing.TB, doc []byte) {
	t.Helper()
	want, wantErr := bson.MarshalExtJSON(bson.Raw(doc), true, false)
	prefix := []byte("prefix")
	got, err := appendCanonical(prefix, doc)
	switch {
	case wantErr != nil && err == nil:
		t.Fatalf("document %x: the driver errs (%v), appendCanonical writes %s", doc, wantErr, got[len(prefix):])
	case wantErr == nil && err != nil:
		t.Fatalf("document %x: the driver writes %s, appendCanonical errs: %v", doc, want, err)
	case err != nil:
		if !errors.Is(err, errMalformedBSON) {
			t.Fatalf("document %x: an error not of errMalformedBSON: %v", doc, err)
		}
		if string(got) != "prefix" {
			t.Fatalf("document %x: appendCanonical erred (%v) and left %q, not the prefix", doc, err, got)
		}
	case !bytes.Equal(got[len(prefix):], want) || !bytes.HasPrefix(got, prefix):
		t.Fatalf("document %x:\nthe driver writes     %s\nappendCanonical writes %s", doc, want, got[len(prefix):])
	}
}

// sameValueAsTheDriver fails t unless appendCanonicalValue writes the
// value as the driver writes it in {"v": value}; data that is not one
// whole value is an error.
func sameValueAsTheDriver(t testing.TB, typ bsoncore.Type, data []byte) {
	t.Helper()
	got, err := appendCanonicalValue([]byte("prefix"), typ, data)
	if v, rest, ok := bsoncore.ReadValue(data, typ); !ok || len(rest) != 0 || len(v.Data) != len(data) {
		if err == nil {
			t.Fatalf("value %#02x %x is not one whole value, yet appendCanonicalValue writes %s", byte(typ), data, got)
		}
		return
	}
	doc := bsoncore.BuildDocumentFromElements(nil, bsoncore.AppendValueElement(nil, "v", bsoncore.Value{Type: typ, Data: data}))
	want, wantErr := bson.MarshalExtJSON(bson.Raw(doc), true, false)
	switch {
	case (wantErr == nil) != (err == nil):
		t.Fatalf("value %#02x %x: the driver gives %s, %v; appendCanonicalValue %s, %v", byte(typ), data, want, wantErr, got, err)
	case err != nil:
		if string(got) != "prefix" {
			t.Fatalf("value %#02x %x: appendCanonicalValue erred (%v) and left %q, not the prefix", byte(typ), data, err, got)
		}
	case string(got) != "prefix"+string(want[len(`{"v":`):len(want)-1]):
		t.Fatalf("value %#02x %x:\nthe driver writes            %s\nappendCanonicalValue writes %s", byte(typ), data, want, got)
	}
}

func TestAppendCanonicalMatchesTheDriver(t *testing.T) {
	for name, doc := range extJSONCases(t) {
		t.Run(name, func(t *testing.T) {
			sameAsTheDriver(t, doc)
			if out, err := appendCanonical(nil, doc); err != nil {
				t.Log(err)
			} else {
				t.Logf("%s", out)
			}
			// Each top-level value on its own, as valueJSON writes it.
			if bsoncore.Document(doc).Validate() == nil {
				elems, _ := bsoncore.Document(doc).Elements()
				for _, e := range elems {
					v := e.Value()
					sameValueAsTheDriver(t, v.Type, v.Data)
					sameValueAsTheDriver(t, v.Type, append(v.Data[:len(v.Data):len(v.Data)], 0)) // one byte too many
				}
			}
		})
	}
}

// The quirks of the driver's that appendCanonical keeps, written out,
// lest the two change together.
func TestAppendCanonicalKeepsTheDriversQuirks(t *testing.T) {
	for name, c := range map[string]struct {
		doc  []byte
		want string
	}{
		"doubles": {elems(
			bsoncore.AppendDoubleElement(nil, "a", 1),
			bsoncore.AppendDoubleElement(nil, "b", math.Copysign(0, -1)),
			bsoncore.AppendDoubleElement(nil, "c", 1e21),
			bsoncore.AppendDoubleElement(nil, "d", 1e6),
			bsoncore.AppendDoubleElement(nil, "e", 100000),
			bsoncore.AppendDoubleElement(nil, "f", math.Inf(-1)),
		), `{"a":{"$numberDouble":"1.0"},"b":{"$numberDouble":"-0.0"},"c":{"$numberDouble":"1E+21"},"d":{"$numberDouble":"1E+06"},` +
			`"e":{"$numberDouble":"100000.0"},"f":{"$numberDouble":"-Infinity"}}`},
		"escapes": {elems(bsoncore.AppendStringElement(nil, "s\x01", "\x00\b\f\n\r\t\x1f\x7f<>&\u2028\xff/\"\\")),
			`{"s\u0001":"\u0000\b\f\n\r\t\u001f` + "\x7f" + `<>&\u2028\ufffd/\"\\"}`},
		"regular expression options, sorted, invalid UTF-8 as U+FFFD unescaped": {elems(bsoncore.AppendRegexElement(nil, "r", "\xff", "xi\xff")),
			`{"r":{"$regularExpression":{"pattern":"\ufffd","options":"ix` + "\ufffd" + `"}}}`},
		"DBPointer namespace unescaped": {elems(bsoncore.AppendDBPointerElement(nil, "p", `a"b`, oid())),
			`{"p":{"$dbPointer":{"$ref":"a"b","$id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}}}`},
		"code with scope drops its code's last byte": {rawDoc(rawElem(bsoncore.TypeCodeWithScope, "c", cat(le32(4+4+3+5), le32(3), []byte("abc"), elems()))),
			`{"c":{"$code":"ab","$scope":{}}}`},
		"array keys skipped": {rawDoc(rawElem(bsoncore.TypeArray, "a", rawDoc(bsoncore.AppendInt32Element(nil, "x", 1)))),
			`{"a":[{"$numberInt":"1"}]}`},
		"old binary takes its inner length": {rawDoc(rawElem(bsoncore.TypeBinary, "b", cat(le32(10), []byte{2}, le32(2), []byte{1, 2, 3, 4, 5, 6}))),
			`{"b":{"$binary":{"base64":"AQI=","subType":"02"}}}`},
	} {
		t.Run(name, func(t *testing.T) {
			sameAsTheDriver(t, c.doc)
			got, err := appendCanonical(nil, c.doc)
			if err != nil || string(got) != c.want {
				t.Errorf("appendCanonical = %s, %v\nwant                %s", got, err, c.want)
			}
		})
	}
}

// FuzzAppendCanonicalMatchesTheDriver: any bytes, as a document, give
// what the driver gives, or an error when it errs; so do they with their
// length made right (mutations that insert or cut bytes break it), and
// as one value of the type of their first byte.
func FuzzAppendCanonicalMatchesTheDriver(f *testing.F) {
	for _, doc := range extJSONCases(f) {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsTheDriver(t, b)
		if len(b) >= 5 {
			fixed := bytes.Clone(b)
			binary.LittleEndian.PutUint32(fixed, uint32(len(fixed)))
			sameAsTheDriver(t, fixed)
		}
		if len(b) >= 1 {
			sameValueAsTheDriver(t, bsoncore.Type(b[0]), b[1:])
		}
	})
}

// BenchmarkExtJSON: a typical result written by the driver, as the
// plugin did, and by appendCanonical, as it does.
func BenchmarkExtJSON(b *testing.B) {
	doc := orderDocument()
	out, _ := appendCanonical(nil, doc)
	b.Logf("the order document: %d bytes of BSON, %d of Extended JSON", len(doc), len(out))
	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		dst := make([]byte, 0, 1024)
		for b.Loop() {
			out, err := bson.MarshalExtJSON(doc, true, false)
			if err != nil {
				b.Fatal(err)
			}
			dst = append(dst[:0], out...)
		}
	})
	b.Run("appendCanonical", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		dst := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if dst, err = appendCanonical(dst[:0], doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("extJSON", func(b *testing.B) { // a new slice each time, as find_one
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := extJSON(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// document's fast path for {"_id":{"$oid":"…"}} gives the driver's
// bytes, and the driver's error where it errs: for the filter and for
// every one-byte change of it.
func TestIDDocumentMatchesTheDriver(t *testing.T) {
	same := func(in []byte) {
		t.Helper()
		var want bson.Raw
		wantErr := bson.UnmarshalExtJSON(in, false, &want)
		got, err := document("filter", in)
		if (wantErr == nil) != (err == nil) || (err == nil && !bytes.Equal(got, want)) {
			t.Fatalf("document(%q) = %x (%d), %v; the driver's %x (%d), %v", in, got, len(got), err, want, len(want), wantErr)
		}
	}
	base := []byte(`{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}`)
	if _, ok := idDocument(base); !ok {
		t.Fatalf("idDocument(%s) is not ok", base)
	}
	same(base)
	same([]byte(`{"_id":{"$oid":"65A1B2C3D4E5F60718293A4B"}}`))
	same([]byte(`{"_id":{"$oid":"65a1b2c3d4e5f60718293a4"}}`))
	same([]byte(`{"_id":{"$oid":"65a1b2c3d4e5f60718293a4bb"}}`))
	same([]byte(`{"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}}`))
	same([]byte(`{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"a":1}`))
	for i := range base {
		for c := range 256 {
			in := bytes.Clone(base)
			in[i] = byte(c)
			same(in)
		}
	}
}

// BenchmarkDocumentByID: parsing {"_id":{"$oid":"…"}} by the driver and
// by document's fast path.
func BenchmarkDocumentByID(b *testing.B) {
	in := []byte(`{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}`)
	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var doc bson.Raw
			if err := bson.UnmarshalExtJSON(in, false, &doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("document", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := document("filter", in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
