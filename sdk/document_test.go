package sdk_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The document capability's arguments are refused, as invalid_argument
// naming what is wrong, before a driver sees them.
func TestDocumentArgumentsAreCheckedBeforeTheDriver(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	for _, tc := range []struct {
		name string
		args interface{ Validate() error }
		want string // in the error; "" for none
	}{
		{"a find of every document", sdk.DocFindArgs{Collection: "c"}, ""},
		{"no collection", sdk.DocFindArgs{}, "collection must not be empty"},
		{"a system collection", sdk.DocCountArgs{Collection: "system.users"}, "system collection"},
		{"a $ in the collection", sdk.DocCountArgs{Collection: "a$b"}, "holds a NUL or a $"},
		{"a filter that is a list", sdk.DocFindArgs{Collection: "c", Filter: raw(`[1]`)}, "filter must be an Extended JSON object, not a list"},
		{"a negative limit", sdk.DocFindArgs{Collection: "c", Limit: -1}, "limit is -1"},
		{"a hint that is a number", sdk.DocFindOneArgs{Collection: "c", Hint: raw(`1`)}, "hint must be an index's name or its keys"},
		{"a hint by name", sdk.DocFindOneArgs{Collection: "c", Hint: raw(`"a_1"`)}, ""},
		{"an update without operators", sdk.DocUpdateArgs{Collection: "c", Filter: raw(`{}`), Update: raw(`{"a":1}`)}, `update holds the field "a"`},
		{"an update that is empty", sdk.DocUpdateArgs{Collection: "c", Filter: raw(`{}`), Update: raw(`{}`)}, "update is empty"},
		{"an update pipeline", sdk.DocUpdateArgs{Collection: "c", Filter: raw(`{}`), Update: raw(`[{"$set":{"a":1}}]`)}, ""},
		{"an update pipeline of a string", sdk.DocUpdateArgs{Collection: "c", Filter: raw(`{}`), Update: raw(`["x"]`)}, "update[0] must be an Extended JSON object"},
		{"an update without a filter", sdk.DocUpdateArgs{Collection: "c", Update: raw(`{"$set":{"a":1}}`)}, "filter is required"},
		{"a replacement with operators", sdk.DocReplaceArgs{Collection: "c", Filter: raw(`{}`), Replacement: raw(`{"$set":{"a":1}}`)}, `replacement holds the operator "$set"`},
		{"an insert of a string", sdk.DocInsertOneArgs{Collection: "c", Document: raw(`"x"`)}, "document must be an Extended JSON object, not a string"},
		{"an insert of nothing", sdk.DocInsertManyArgs{Collection: "c"}, "documents must hold at least one object"},
		{"an aggregate without stages, as MongoDB allows", sdk.DocAggregateArgs{Collection: "c", Pipeline: []json.RawMessage{}}, ""},
		{"an aggregate stage that is a list", sdk.DocAggregateArgs{Collection: "c", Pipeline: []json.RawMessage{raw(`[]`)}}, "pipeline[0] must be an Extended JSON object"},
		{"a distinct without a field", sdk.DocDistinctArgs{Collection: "c"}, "field must not be empty"},
		{"a find_and_modify of two kinds", sdk.DocFindAndModifyArgs{Collection: "c", Update: raw(`{"$set":{"a":1}}`), Remove: true, Return: "before"}, "exactly one of update, replacement and remove"},
		{"a find_and_modify returning sideways", sdk.DocFindAndModifyArgs{Collection: "c", Remove: true, Return: "sideways"}, `return is "sideways"`},
		{"a remove with upsert", sdk.DocFindAndModifyArgs{Collection: "c", Remove: true, Upsert: true, Return: "before"}, "upsert does not go with remove"},
		{"a bulk write of nothing", sdk.DocBulkWriteArgs{Collection: "c"}, "at least one write"},
		{"a bulk write of an unknown kind", sdk.DocBulkWriteArgs{Collection: "c", Operations: []json.RawMessage{raw(`{"insert_one":{"document":{}}}`), raw(`{"upsert_one":{}}`)}}, `operations[1]: unknown kind of write "upsert_one"`},
		{"a bulk write of two kinds in one", sdk.DocBulkWriteArgs{Collection: "c", Operations: []json.RawMessage{raw(`{"insert_one":{"document":{}},"delete_one":{"filter":{}}}`)}}, "an object with one key"},
		{"a bulk update without operators", sdk.DocBulkWriteArgs{Collection: "c", Operations: []json.RawMessage{raw(`{"update_many":{"filter":{},"update":{"a":1}}}`)}}, `operations[0]: update_many: update holds the field "a"`},
		{"a bulk write that is right", sdk.DocBulkWriteArgs{Collection: "c", Operations: []json.RawMessage{
			raw(`{"insert_one":{"document":{"_id":1}}}`), raw(`{"update_one":{"filter":{"_id":1},"update":{"$inc":{"n":1}},"upsert":true}}`),
			raw(`{"replace_one":{"filter":{"_id":2},"replacement":{"n":0}}}`), raw(`{"delete_many":{"filter":{}}}`)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.args.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (kind %s), want invalid_argument with %q", err, sdk.KindOf(err), tc.want)
			}
		})
	}
}

// A bulk write's operations decode into the writes a driver performs.
func TestDocumentBulkWritesDecode(t *testing.T) {
	a := sdk.DocBulkWriteArgs{Collection: "c", Operations: []json.RawMessage{
		json.RawMessage(`{"update_one":{"filter":{"_id":1},"update":{"$set":{"n":1}},"upsert":true,"array_filters":[{"x.a":1}],"hint":"_id_"}}`),
	}}
	ws, err := a.Writes()
	if err != nil {
		t.Fatal(err)
	}
	w := ws[0]
	if w.Kind != sdk.DocUpdateOne || string(w.Filter) != `{"_id":1}` || string(w.Update) != `{"$set":{"n":1}}` || !w.Upsert ||
		len(w.ArrayFilters) != 1 || string(w.Hint) != `"_id_"` {
		t.Fatalf("decoded %+v", w)
	}
}

// The writer sends documents one per line, several to a chunk, and at
// each Flush; it refuses a document with a newline.
func TestDocumentWriterSendsLines(t *testing.T) {
	var chunks []string
	w := sdk.NewDocumentWriter(writerFunc(func(p []byte) (int, error) { chunks = append(chunks, string(p)); return len(p), nil }))
	add := func(doc string) error {
		return w.Append(func(dst []byte) ([]byte, error) { return append(dst, doc...), nil })
	}
	for _, d := range []string{`{"a":1}`, `{"b":2}`} {
		if err := add(d); err != nil {
			t.Fatal(err)
		}
	}
	if len(chunks) != 0 {
		t.Fatalf("sent %q before a flush or a full chunk", chunks)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := add("{\n}"); sdk.KindOf(err) != sdk.KindInternal {
		t.Fatalf("a document with a newline: %v", err)
	}
	if err := add(`{"c":` + strings.Repeat("1", 70<<10) + `}`); err != nil { // more than a chunk: sent at once
		t.Fatal(err)
	}
	if len(chunks) != 2 || chunks[0] != "{\"a\":1}\n{\"b\":2}\n" || !strings.HasSuffix(chunks[1], "}\n") || w.Count() != 3 {
		t.Fatalf("chunks %d (%.30q), count %d", len(chunks), chunks, w.Count())
	}
	failing := sdk.NewDocumentWriter(writerFunc(func([]byte) (int, error) { return 0, errors.New("gone") }))
	_ = failing.Append(func(dst []byte) ([]byte, error) { return append(dst, `{}`...), nil })
	if err := failing.Flush(); err == nil {
		t.Fatal("a flush to a broken stream succeeded")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
