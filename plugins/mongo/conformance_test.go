package mongo_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"

	mongodriver "github.com/nebula-resource/nebula-resource/plugins/mongo"
)

// documentSuite is the document capability's conformance suite on a
// database of the test's own. FerretDB v1 stores neither Decimal128 nor
// MinKey and MaxKey, and has no updates by pipeline: those checks are
// left to a MongoDB server (extjson_internal_test.go round-trips the
// values through the plugin's own conversions).
func documentSuite(t *testing.T, typ string) sdktest.DocumentSuite {
	db, _ := newDatabase(t)
	return sdktest.DocumentSuite{Type: typ, Config: string(config(db, nil))}
}

// The document capability's contract, in process over real gRPC and as
// the built binary.
func TestMongoDocumentConformanceInProcess(t *testing.T) {
	sdktest.RunDocument(t, sdktest.Connect(t, mongodriver.New()), documentSuite(t, mongodriver.TypeName))
}

func TestMongoDocumentConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunDocument(t, sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-mongo")), documentSuite(t, mongodriver.TypeName))
}

// The exclusive type performs the same operations within a session of
// its own.
func TestMongoSessionDocumentConformanceInProcess(t *testing.T) {
	sdktest.RunDocument(t, sdktest.Connect(t, mongodriver.New()), documentSuite(t, mongodriver.SessionTypeName))
}

// A duplicate key error names the unique index that refused it: MongoDB
// says which in its error, FerretDB v1 names only the collection and the
// plugin asks which index holds the key.
func TestMongoDuplicateKeyNamesTheUniqueIndex(t *testing.T) {
	db, _ := newDatabase(t)
	for _, typ := range []string{mongodriver.TypeName, mongodriver.SessionTypeName} {
		t.Run(typ, func(t *testing.T) {
			inst := open(t, typ, db, nil)
			coll := "dup_" + typ
			must[sdk.DocInsertOneResult](t, inst, "insert_one", map[string]any{"collection": coll, "document": json.RawMessage(`{"_id":1,"email":"ada@example.com"}`)})
			must[sdk.DocIndexResult](t, inst, "create_index", map[string]any{"collection": coll, "keys": json.RawMessage(`{"email":1}`), "unique": true})
			for _, c := range []struct {
				name, op string
				args     map[string]any
				want     []string
			}{
				{"a duplicate _id", "insert_one", map[string]any{"document": json.RawMessage(`{"_id":1,"email":"grace@example.com"}`)}, []string{`unique index on {"_id":1}`}},
				{"a duplicate email", "insert_one", map[string]any{"document": json.RawMessage(`{"_id":2,"email":"ada@example.com"}`)}, []string{`unique index on {"email":1}`}},
				{"the second of several", "insert_many", map[string]any{"documents": []json.RawMessage{json.RawMessage(`{"_id":3}`), json.RawMessage(`{"_id":4,"email":"ada@example.com"}`)}},
					[]string{"write 1", `{"email":1}`}},
				{"a bulk insert", "bulk_write", map[string]any{"operations": []json.RawMessage{json.RawMessage(`{"insert_one":{"document":{"_id":1}}}`)}},
					[]string{"write 0", `unique index on {"_id":1}`}},
				{"an update", "update_one", map[string]any{"filter": json.RawMessage(`{"_id":3}`), "update": json.RawMessage(`{"$set":{"email":"ada@example.com"}}`)},
					[]string{`{"email":1}`}},
				{"a find_and_modify", "find_and_modify", map[string]any{"filter": json.RawMessage(`{"_id":3}`), "update": json.RawMessage(`{"$set":{"email":"ada@example.com"}}`)},
					[]string{`{"email":1}`}},
			} {
				c.args["collection"] = coll
				_, err := invoke(t, inst, c.op, c.args)
				var e *sdk.Error
				if !errors.As(err, &e) || e.Kind != sdk.KindConflict || e.Code != "11000" {
					t.Errorf("%s: %v, want conflict 11000", c.name, err)
					continue
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v; want it to say %s", c.name, err, w)
					}
				}
			}
		})
	}
}
