package mongo_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// everyType is a document with a value of each BSON type the capability
// promises to keep, in canonical Extended JSON, that the test server
// stores: FerretDB v1 has no Decimal128, MinKey or MaxKey (it drops the
// connection of a write that holds one), which extjson_internal_test.go
// round-trips through the plugin's conversions instead.
const everyType = `{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},` +
	`"int32":{"$numberInt":"7"},"int64":{"$numberLong":"7"},` +
	`"big":{"$numberLong":"9007199254740993"},` +
	`"double":{"$numberDouble":"1.5"},"whole_double":{"$numberDouble":"2.0"},` +
	`"date":{"$date":{"$numberLong":"1733317200123"}},` +
	`"binary":{"$binary":{"base64":"AAECAwQ=","subType":"00"}},` +
	`"uuid":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"04"}},` +
	`"string":"héllo \"world\"\n","bool":true,"null":null,` +
	`"array":[{"$numberInt":"1"},{"$numberLong":"2"},"three"],` +
	`"nested":{"oid":{"$oid":"65a1b2c3d4e5f60718293a4c"},"when":{"$date":{"$numberLong":"0"}}},` +
	`"regex":{"$regularExpression":{"pattern":"^a.*","options":"i"}},` +
	`"timestamp":{"$timestamp":{"t":1700000000,"i":3}}}`

func TestEveryBSONTypeRoundTripsExactly(t *testing.T) {
	db, _ := newDatabase(t)
	inst := open(t, "mongo", db, nil)
	ins := must[sdk.DocInsertOneResult](t, inst, "insert_one", map[string]any{"collection": "types", "document": json.RawMessage(everyType)})
	if string(ins.InsertedID) != `{"$oid":"65a1b2c3d4e5f60718293a4b"}` {
		t.Errorf("inserted_id = %s", ins.InsertedID)
	}
	one := must[sdk.DocFindOneResult](t, inst, "find_one", map[string]any{"collection": "types", "filter": json.RawMessage(`{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"}}`)})
	if !one.Found || string(one.Document) != everyType {
		t.Fatalf("find_one returned\n%s\nwant\n%s", one.Document, everyType)
	}
	// A filter on an int64 and a date matches the stored values.
	n := must[sdk.DocCountResult](t, inst, "count", map[string]any{"collection": "types",
		"filter": json.RawMessage(`{"big":{"$numberLong":"9007199254740993"},"date":{"$date":"2024-12-04T13:00:00.123Z"}}`)})
	if n.Count != 1 {
		t.Errorf("count by int64 and relaxed date = %d, want 1", n.Count)
	}
	var out bytes.Buffer
	res, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "find", Args: json.RawMessage(`{"collection":"types"}`)}, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(out.String(), "\n"); got != everyType {
		t.Fatalf("find streamed\n%s\nwant\n%s", got, everyType)
	}
	t.Logf("find result: %v", res)
}
