package mongo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The plugin's conversions between Extended JSON and BSON, without a
// server: what FerretDB v1 cannot store (Decimal128, MinKey, MaxKey,
// nested arrays, the deprecated types) round-trips here.

// roundTrip parses in as an argument does (document) and writes it back
// as a result is (extJSON).
func roundTrip(t *testing.T, in string) string {
	t.Helper()
	doc, err := document("document", json.RawMessage(in))
	if err != nil {
		t.Fatalf("document(%s): %v", in, err)
	}
	out, err := extJSON(doc)
	if err != nil {
		t.Fatalf("extJSON of %s: %v", in, err)
	}
	if bytes.ContainsAny(out, "\n\r") {
		t.Errorf("extJSON of %s holds a raw newline: %s", in, out)
	}
	return string(out)
}

// Canonical Extended JSON comes back as it went, byte for byte: every
// BSON type keeps its type, every key its place.
func TestCanonicalExtendedJSONRoundTripsExactly(t *testing.T) {
	for name, doc := range map[string]string{
		"Decimal128": `{"a":{"$numberDecimal":"1234.5678"},"b":{"$numberDecimal":"-0.000001"},"c":{"$numberDecimal":"NaN"},` +
			`"d":{"$numberDecimal":"Infinity"},"e":{"$numberDecimal":"-Infinity"},"f":{"$numberDecimal":"-0"},"g":{"$numberDecimal":"1E+3"},` +
			`"h":{"$numberDecimal":"1000"},"max":{"$numberDecimal":"1.000000000000000000000000000000000E+6144"},"tiny":{"$numberDecimal":"0E-6176"}}`,
		"MinKey and MaxKey": `{"min":{"$minKey":1},"max":{"$maxKey":1},"in":[{"$minKey":1},{"$maxKey":1}]}`,
		"int32 and int64": `{"i":{"$numberInt":"7"},"l":{"$numberLong":"7"},"imin":{"$numberInt":"-2147483648"},"imax":{"$numberInt":"2147483647"},` +
			`"lmin":{"$numberLong":"-9223372036854775808"},"lmax":{"$numberLong":"9223372036854775807"},"beyond_doubles":{"$numberLong":"9007199254740993"}}`,
		"doubles": `{"a":{"$numberDouble":"1.5"},"b":{"$numberDouble":"2.0"},"c":{"$numberDouble":"-0.0"},"d":{"$numberDouble":"NaN"},` +
			`"e":{"$numberDouble":"Infinity"},"f":{"$numberDouble":"-Infinity"},"g":{"$numberDouble":"1E+300"},"h":{"$numberDouble":"5E-324"}}`,
		"dates": `{"epoch":{"$date":{"$numberLong":"0"}},"ms":{"$date":{"$numberLong":"1733317200123"}},"before_1970":{"$date":{"$numberLong":"-86400000"}},` +
			`"year_1":{"$date":{"$numberLong":"-62135596800000"}},"after_9999":{"$date":{"$numberLong":"253402300800000"}}}`,
		"binary subtypes": `{"generic":{"$binary":{"base64":"AAECAwQ=","subType":"00"}},"function":{"$binary":{"base64":"AQ==","subType":"01"}},` +
			`"old":{"$binary":{"base64":"AQID","subType":"02"}},"old_uuid":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"03"}},` +
			`"uuid":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"04"}},"md5":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"05"}},` +
			`"encrypted":{"$binary":{"base64":"AQ==","subType":"06"}},"column":{"$binary":{"base64":"AQ==","subType":"07"}},` +
			`"sensitive":{"$binary":{"base64":"AQ==","subType":"08"}},"user":{"$binary":{"base64":"","subType":"80"}}}`,
		"regex":     `{"r":{"$regularExpression":{"pattern":"^a/b\\d+$","options":"imsx"}},"plain":{"$regularExpression":{"pattern":"x","options":""}}}`,
		"timestamp": `{"t":{"$timestamp":{"t":1700000000,"i":3}},"zero":{"$timestamp":{"t":0,"i":0}},"max":{"$timestamp":{"t":4294967295,"i":4294967295}}}`,
		"ObjectId":  `{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"ref":{"$oid":"000000000000000000000000"}}`,
		"nested documents and arrays": `{"a":{"b":{"c":[{"$numberInt":"1"},[{"$numberLong":"2"},[]],{"d":null}]}},"empty":{},"none":[],` +
			`"z":"keys keep their order","m":true}`,
		"strings": `{"s":"h\u00e9llo \"w\u00f6rld\"\n\t\\ \u0000 \u001f \u2028 <>& \ud83d\ude00","empty":""}`,
		"deprecated types": `{"code":{"$code":"function(){}"},"scoped":{"$code":"f()","$scope":{"x":{"$numberInt":"1"}}},"symbol":{"$symbol":"sym"},` +
			`"undefined":{"$undefined":true},"pointer":{"$dbPointer":{"$ref":"db.c","$id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			want := compactJSON(t, doc)
			if got := roundTrip(t, doc); got != want {
				t.Errorf("round trip of\n%s\ngave\n%s", want, got)
			}
		})
	}
}

// compactJSON writes JSON text as extJSON does: no space, and each string
// as Go's encoding/json writes it, without escaping HTML.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var write func() error
	write = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			buf.WriteString(v.String())
			if v == '}' || v == ']' {
				return nil
			}
			for first := true; dec.More(); first = false {
				if !first {
					buf.WriteByte(',')
				}
				if v == '{' {
					key, _ := dec.Token()
					writeJSONString(&buf, key.(string))
					buf.WriteByte(':')
				}
				if err := write(); err != nil {
					return err
				}
			}
			end, err := dec.Token()
			if err != nil {
				return err
			}
			buf.WriteString(end.(json.Delim).String())
		case string:
			writeJSONString(&buf, v)
		case json.Number:
			buf.WriteString(v.String())
		case bool:
			fmt.Fprint(&buf, v)
		case nil:
			buf.WriteString("null")
		}
		return nil
	}
	if err := write(); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return buf.String()
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

// Relaxed Extended JSON, which a caller may send, is stored as the
// canonical types it stands for.
func TestRelaxedExtendedJSONBecomesCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"n":7}`, `{"n":{"$numberInt":"7"}}`},
		{`{"n":-2147483648}`, `{"n":{"$numberInt":"-2147483648"}}`},
		{`{"n":2147483648}`, `{"n":{"$numberLong":"2147483648"}}`},
		{`{"n":3000000000}`, `{"n":{"$numberLong":"3000000000"}}`},
		{`{"n":9223372036854775808}`, `{"n":{"$numberDouble":"9.223372036854776E+18"}}`},
		{`{"n":1.5}`, `{"n":{"$numberDouble":"1.5"}}`},
		{`{"n":2.0}`, `{"n":{"$numberDouble":"2.0"}}`},
		{`{"n":1e3}`, `{"n":{"$numberDouble":"1000.0"}}`},
		{`{"n":{"$numberLong":"7"}}`, `{"n":{"$numberLong":"7"}}`},
		{`{"d":{"$date":"2024-12-04T13:00:00Z"}}`, `{"d":{"$date":{"$numberLong":"1733317200000"}}}`},
		{`{"d":{"$date":"2024-12-04T13:00:00.123+01:00"}}`, `{"d":{"$date":{"$numberLong":"1733313600123"}}}`},
		{`{"d":{"$date":-1000}}`, `{"d":{"$date":{"$numberLong":"-1000"}}}`},
		{`{"u":{"$uuid":"73ffd264-44b3-4c69-90e8-e7d1dfc035d4"}}`, `{"u":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"04"}}}`},
		{`{"b":{"$binary":"AQ==","$type":"0"}}`, `{"b":{"$binary":{"base64":"AQ==","subType":"00"}}}`},
		{`{"r":{"$regularExpression":{"pattern":"x","options":"xi"}}}`, `{"r":{"$regularExpression":{"pattern":"x","options":"ix"}}}`},
		{` { "spaced" : [ 1 , { "x" : true } ] } `, `{"spaced":[{"$numberInt":"1"},{"x":true}]}`},
	} {
		if got := roundTrip(t, c.in); got != c.want {
			t.Errorf("%s became %s, want %s", c.in, got, c.want)
		}
	}
}

// What is not Extended JSON is the caller's mistake, naming the
// argument; what is unset is nil (an empty filter).
func TestDocumentMistakesNameTheArgument(t *testing.T) {
	for _, in := range []string{
		`{"_id":{"$oid":"zz"}}`, `{"n":{"$numberLong":"x"}}`, `{"n":{"$numberInt":"3000000000"}}`, `{"d":{"$date":"yesterday"}}`,
		`{"b":{"$binary":{"base64":"!!","subType":"00"}}}`, `[1]`, `"a"`, `{"a":`, `{"a\u0000b":1}`,
	} {
		_, err := document("replacement", json.RawMessage(in))
		if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), "replacement") {
			t.Errorf("document(%s): %v (kind %q), want invalid_argument naming replacement", in, err, sdk.KindOf(err))
		}
	}
	for _, in := range []string{``, `null`, ` null `} {
		if doc, err := document("filter", json.RawMessage(in)); doc != nil || err != nil {
			t.Errorf("document(%q) = %v, %v; want nil, nil", in, doc, err)
		}
	}
	if f, err := filter(nil); err != nil || !bytes.Equal(f, emptyDocument) {
		t.Errorf("filter of nothing = %v, %v; want {}", f, err)
	}
	if _, err := update("update", json.RawMessage(`[{"$set":{"a":1}},{"$unset":{"_id":{"$oid":"zz"}}}]`)); sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), "update[1]") {
		t.Errorf("an update pipeline of bad Extended JSON: %v, want invalid_argument naming update[1]", err)
	}
	if u, err := update("update", json.RawMessage(`[{"$set":{"a":1}}]`)); err != nil || len(u.([]bson.Raw)) != 1 {
		t.Errorf("an update pipeline of one stage: %v, %v", u, err)
	}
	if h, err := hint(json.RawMessage(`"email_1"`)); h != "email_1" || err != nil {
		t.Errorf("hint by name = %v, %v", h, err)
	}
	if h, err := hint(json.RawMessage(`{"email":1}`)); err != nil || h.(bson.Raw).Lookup("email").Int32() != 1 {
		t.Errorf("hint by keys = %v, %v", h, err)
	}
}

// valueJSON and anyJSON write one value, as the _ids of the results.
func TestValueJSON(t *testing.T) {
	oid, _ := bson.ObjectIDFromHex("65a1b2c3d4e5f60718293a4b")
	for v, want := range map[any]string{
		int32(7): `{"$numberInt":"7"}`, int64(7): `{"$numberLong":"7"}`, "ada": `"ada"`, oid: `{"$oid":"65a1b2c3d4e5f60718293a4b"}`, 1.5: `{"$numberDouble":"1.5"}`,
	} {
		got, err := anyJSON(v)
		if err != nil || string(got) != want {
			t.Errorf("anyJSON(%T %v) = %s, %v; want %s", v, v, got, err, want)
		}
	}
}

// withID prepends an ObjectId _id to a document without one, and leaves
// a document with one as it is.
func TestWithID(t *testing.T) {
	doc, _ := document("document", json.RawMessage(`{"name":"ada","nested":{"_id":1},"n":{"$numberLong":"7"}}`))
	got, id := withID(doc)
	if id.Type != bson.TypeObjectID {
		t.Fatalf("the _id made is of type %v, want an ObjectId", id.Type)
	}
	first := got.Index(0)
	if first.Key() != "_id" || !first.Value().Equal(id) {
		t.Errorf("the _id made is not the document's first field: %s", got)
	}
	out, _ := extJSON(got)
	want := `{"_id":{"$oid":"` + id.ObjectID().Hex() + `"},"name":"ada","nested":{"_id":{"$numberInt":"1"}},"n":{"$numberLong":"7"}}`
	if string(out) != want {
		t.Errorf("withID gave %s, want %s", out, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("withID made a document that is not valid BSON: %v", err)
	}
	if _, other := withID(doc); other.Equal(id) {
		t.Errorf("two documents were given the same _id %v", id)
	}
	empty, eid := withID(emptyDocument)
	if elems, _ := empty.Elements(); len(elems) != 1 || empty.Validate() != nil || eid.Type != bson.TypeObjectID {
		t.Errorf("withID of {} = %s", empty)
	}

	has, _ := document("document", json.RawMessage(`{"a":1,"_id":{"$numberLong":"5"}}`))
	got, id = withID(has)
	if !bytes.Equal(got, has) || id.Type != bson.TypeInt64 || id.Int64() != 5 {
		t.Errorf("withID of a document with an _id changed it: %s, _id %v", got, id)
	}
}

// The helpers of the fixes that FerretDB v1 cannot show against a
// MongoDB server, or shows only in part.

// A duplicate key error names the unique index from what the server
// said: MongoDB's key pattern, or the name in its message.
func TestDuplicateKeyNamesTheIndex(t *testing.T) {
	kp, _ := bson.Marshal(bson.D{{Key: "index", Value: 0}, {Key: "code", Value: 11000}, {Key: "keyPattern", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "keyValue", Value: bson.D{{Key: "email", Value: "ada@example.com"}}}})
	for _, c := range []struct {
		raw  []byte
		msg  string
		want string
	}{
		{kp, "E11000 duplicate key error collection: db.c index: email_1 dup key: { email: \"ada@example.com\" }", `: duplicate key for the unique index on {"email":1}`},
		{nil, "E11000 duplicate key error collection: db.c index: email_1 dup key: { email: \"ada@example.com\" }", `: duplicate key for the unique index "email_1"`},
		{nil, "E11000 duplicate key error collection: db.c", ": duplicate key"},
	} {
		got := duplicateDetail(c.raw, c.msg)
		if got != c.want {
			t.Errorf("duplicateDetail(%s, %q) = %q, want %q", bson.Raw(c.raw), c.msg, got, c.want)
		}
		if strings.Contains(got, "ada@example.com") {
			t.Errorf("the detail holds the key's value: %s", got)
		}
	}
	// A write error (MongoDB) whose key pattern is known is named; one
	// whose is not (FerretDB) is left to wrapWrite.
	named := mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key", Raw: kp}}}
	unnamed := mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 3, Code: 11000, Message: "E11000 duplicate key error collection: db.c"}}}}
	if _, ok := duplicateUnnamed(named); ok {
		t.Error("a duplicate key error with its key pattern counts as unnamed")
	}
	if i, ok := duplicateUnnamed(unnamed); !ok || i != 3 {
		t.Errorf("duplicateUnnamed of write 3's = %d, %t", i, ok)
	}
	if _, ok := duplicateUnnamed(errors.New("E11000")); ok {
		t.Error("an error not of the server counts as a duplicate key")
	}
	// FerretDB v1's duplicate of an update: InternalError, with its
	// backend's words.
	for msg, want := range map[string]bool{
		"[msg_update.go:133 ...] constraint failed: UNIQUE constraint failed: index 'c_e60c2c52_e_1' (2067)": true,
		"ERROR: duplicate key value violates unique constraint \"c_e_1\" (SQLSTATE 23505)":                   true,
		"something else broke": false,
	} {
		if got := ferretDuplicate(mongo.CommandError{Code: 1, Message: msg}); got != want {
			t.Errorf("ferretDuplicate(%q) = %t", msg, got)
		}
	}
	if ferretDuplicate(mongo.CommandError{Code: 2, Message: "UNIQUE constraint failed"}) {
		t.Error("ferretDuplicate took another code than InternalError")
	}
	r := &Resource{typ: TypeName, name: "docs"}
	b, ok := r.backendError(mongo.CommandError{Code: 1, Name: "InternalError", Message: "constraint failed: UNIQUE constraint failed: index 'x_e_1'"})
	if !ok || b.Kind != sdk.KindConflict || b.Code != "11000" || b.Detail != ": duplicate key" {
		t.Errorf("FerretDB's duplicate of an update is classified %+v, %t; want conflict 11000", b, ok)
	}
	b, ok = r.backendError(mongo.CommandError{Code: 11000, Name: "DuplicateKey", Message: "E11000 duplicate key error collection: db.c index: email_1 dup key: { email: 1 }"})
	if !ok || b.Kind != sdk.KindConflict || b.Detail != `: duplicate key for the unique index "email_1"` {
		t.Errorf("findAndModify's duplicate key is classified %+v, %t", b, ok)
	}
}

// FerretDB's refusal of distinct's maxTimeMS is recognised, and nothing
// else is.
func TestMaxTimeMSRefused(t *testing.T) {
	if !maxTimeMSRefused(mongo.CommandError{Code: 9, Name: "FailedToParse", Message: `distinct: unknown field "maxTimeMS"`}) {
		t.Error("FerretDB's refusal of maxTimeMS is not recognised")
	}
	for _, err := range []error{
		mongo.CommandError{Code: 9, Name: "FailedToParse", Message: `distinct: unknown field "query"`},
		mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired", Message: "operation exceeded time limit"},
		errors.New(`unknown field "maxTimeMS"`),
	} {
		if maxTimeMSRefused(err) {
			t.Errorf("maxTimeMSRefused(%v) = true", err)
		}
	}
}

// bulk_write's upserted _ids go on the writes that upserted: where the
// server says, unless it says a write that cannot upsert (FerretDB v1,
// which counts the batch's upserts instead).
func TestUpsertedIDsGoOnTheirWrites(t *testing.T) {
	ins := sdk.DocBulkWrite{Kind: sdk.DocInsertOne}
	upd := sdk.DocBulkWrite{Kind: sdk.DocUpdateOne}
	ups := sdk.DocBulkWrite{Kind: sdk.DocUpdateOne, Upsert: true}
	rep := sdk.DocBulkWrite{Kind: sdk.DocReplaceOne, Upsert: true}
	for _, c := range []struct {
		name     string
		writes   []sdk.DocBulkWrite
		reported map[int64]any
		want     map[int]any
	}{
		{"MongoDB's indexes", []sdk.DocBulkWrite{ins, upd, ups, ups}, map[int64]any{3: "b"}, map[int]any{3: "b"}},
		{"FerretDB's ranks, one upsert", []sdk.DocBulkWrite{ins, upd, ups}, map[int64]any{1: "a"}, map[int]any{2: "a"}},
		{"FerretDB's ranks, every upsert", []sdk.DocBulkWrite{upd, ups, upd, rep}, map[int64]any{0: "a", 1: "b"}, map[int]any{1: "a", 3: "b"}},
		{"an index out of range", []sdk.DocBulkWrite{ups}, map[int64]any{5: "a"}, map[int]any{0: "a"}},
		{"ambiguous: fewer upserts than writes that may", []sdk.DocBulkWrite{upd, ups, ups}, map[int64]any{0: "a"}, map[int]any{}},
		{"none", []sdk.DocBulkWrite{ins, upd}, nil, map[int]any{}},
	} {
		got := upsertedIDs(c.writes, c.reported)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: upsertedIDs = %v, want %v", c.name, got, c.want)
		}
	}
}
