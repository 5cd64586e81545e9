package sdktest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// DocumentSuite describes a resource type with the document capability
// for [RunDocument].
type DocumentSuite struct {
	// Type is the resource type, which lists sdk.CapabilityDocument.
	Type string
	// Config is a configuration of Type, as a JSON object, whose database
	// the suite may write. The database may hold collections the suite did
	// not write: every collection the suite uses has a name of a random
	// prefix of its own, and the suite empties them (delete_many) and
	// drops the indexes it made when it ends; the capability has no
	// operation that drops a collection.
	Config string
	// Decimal128 adds Decimal128 values ({"$numberDecimal": ...}) to the
	// values that must round-trip, for servers that store them (MongoDB;
	// not FerretDB v1).
	Decimal128 bool
	// MinMaxKeys adds MinKey and MaxKey values ({"$minKey": 1}) to the
	// values that must round-trip, for servers that store them (MongoDB;
	// not FerretDB v1, which drops the connection).
	MinMaxKeys bool
	// The parts of MongoDB's language that some servers of its protocol
	// lack (FerretDB v1). Set, the server must perform them; unset, it
	// may also refuse them as unimplemented (and must then say so: a
	// refusal of another kind fails the suite), and the suite checks
	// what it does when it performs them all the same.
	//
	// ArrayFilters: updates' and find_and_modify's array_filters.
	ArrayFilters bool
	// FindAndModifyProjection: find_and_modify's projection.
	FindAndModifyProjection bool
	// UpdatePipelines: updates given as aggregation pipelines (a list of
	// stages; MongoDB 4.2 and up).
	UpdatePipelines bool
	// Timeout bounds each call (default 60s).
	Timeout time.Duration
}

// RunDocument checks the contract of the document capability
// (sdk.DocumentOperations) on d: that the type offers every operation as
// the SDK declares it; inserts with and without an _id (an ObjectId is
// made), one at a time or many, ordered or not; find, streamed one
// canonical Extended JSON document per line, with its filter, sort,
// projection, skip, limit and batch size, and its count; find_one, count,
// distinct and aggregate; updates with upserts and array filters,
// replacements and deletes with their counts; find_and_modify in each of
// its ways; bulk_write with its per-operation results; indexes made,
// listed and dropped; a duplicate key refused as conflict with code
// "11000"; values of every BSON type the server stores read back exactly
// as written; and the caller's mistakes refused as invalid_argument,
// naming the argument. Run it against the driver in process ([Connect])
// and as a binary ([Start]).
func RunDocument(t *testing.T, d sdk.Driver, s DocumentSuite) {
	if s.Timeout <= 0 {
		s.Timeout = 60 * time.Second
	}
	typ, ok := d.Info().Type(s.Type)
	if !ok || !slices.Contains(typ.Capabilities, sdk.CapabilityDocument) {
		t.Fatalf("driver %q has no type %q with the document capability", d.Info().Name, s.Type)
	}
	inst := Open(t, d, sdk.ConfigureRequest{Type: s.Type, Name: "document-conformance", Config: json.RawMessage(s.Config)})
	c := &docT{inst: inst, timeout: s.Timeout, prefix: "nebula_conformance_" + hex.EncodeToString(randomBytes(t, 6)) + "_", used: map[string]bool{}}
	t.Cleanup(func() { c.removeAll(t) })

	t.Run("TheTypeOffersEveryDocumentOperation", func(t *testing.T) {
		for _, want := range sdk.DocumentOperations() {
			i := slices.IndexFunc(typ.Operations, func(o sdk.Operation) bool { return o.Name == want.Name })
			if i < 0 {
				t.Errorf("the type has no operation %q", want.Name)
				continue
			}
			got := typ.Operations[i]
			if got.Stream != want.Stream || got.Idempotent != want.Idempotent {
				t.Errorf("%s: stream %q, idempotent %t; want stream %q, idempotent %t", want.Name, got.Stream, got.Idempotent, want.Stream, want.Idempotent)
			}
			g, _ := json.Marshal(got.Args)
			w, _ := json.Marshal(want.Args)
			if !bytes.Equal(g, w) {
				t.Errorf("%s: arguments\n%s\nwant those of sdk.DocumentOperations\n%s", want.Name, g, w)
			}
		}
	})

	t.Run("InsertOneKeepsItsIDOrMakesAnObjectIDFirst", func(t *testing.T) {
		coll := c.coll("insert_one")
		for _, id := range []string{`"ada"`, `{"$numberInt":"42"}`, `{"$numberLong":"43"}`, `{"$oid":"65a1b2c3d4e5f60718293a4b"}`, `{"k":"compound","n":{"$numberInt":"1"}}`} {
			doc := `{"_id":` + id + `,"z":"last written first","a":{"$numberInt":"1"}}`
			res := docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(doc), sdk.IdempotentArg: true})
			sameJSON(t, "insert_one's inserted_id of "+doc, res.InsertedID, id)
			c.checkFindOne(t, coll, `{"_id":`+id+`}`, doc)
		}
		res := docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"name":"ada","n":{"$numberLong":"7"}}`)})
		oid := objectID(t, "insert_one's inserted_id of a document without one", res.InsertedID)
		// The _id made is the document's first field, as MongoDB's own.
		c.checkFindOne(t, coll, `{"_id":`+oid+`}`, `{"_id":`+oid+`,"name":"ada","n":{"$numberLong":"7"}}`)
		again := docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"name":"ada","n":{"$numberLong":"7"}}`)})
		if canon(t, "inserted_id", again.InsertedID) == canon(t, "inserted_id", res.InsertedID) {
			t.Errorf("two inserts without an _id were given the same one: %s", res.InsertedID)
		}
		c.checkCount(t, coll, `{"name":"ada"}`, 2)
	})

	t.Run("ValuesRoundTripExactly", func(t *testing.T) {
		coll := c.coll("values")
		doc := everyValue(s)
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(doc)})
		c.checkFindOne(t, coll, `{"_id":"every"}`, doc)
		lines, _ := c.mustStream(t, "find", args{"collection": coll, "filter": ej(`{"_id":"every"}`)})
		sameLines(t, "find of every value", lines, []string{doc})
		fam := docMust[sdk.DocFindOneResult](c, t, "find_and_modify", args{"collection": coll, "filter": ej(`{"_id":"every"}`), "update": ej(`{"$set":{"touched":true}}`)})
		sameJSON(t, "find_and_modify's document as it was", fam.Document, doc)

		// int32 and int64 of one value stay apart; filters of either form
		// (and of a relaxed date) find the stored values.
		for _, v := range []string{`{"$numberInt":"7"}`, `{"$numberLong":"7"}`, `{"$numberDouble":"7.0"}`} {
			d := `{"_id":` + strconv.Quote("seven "+v) + `,"v":` + v + `}`
			docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(d)})
			c.checkFindOne(t, coll, `{"_id":`+strconv.Quote("seven "+v)+`}`, d)
		}
		c.checkCount(t, coll, `{"int64":{"$numberLong":"9007199254740993"},"date":{"$date":"2024-12-04T13:00:00.123Z"}}`, 1)
		c.checkCount(t, coll, `{"nested.oid":{"$oid":"65a1b2c3d4e5f60718293a4c"}}`, 1)

		// Relaxed input is stored as the canonical types it stands for.
		relaxed := `{"_id":"relaxed","i":7,"neg":-2147483648,"l":3000000000,"d":1.5,"whole":2.0,"when":{"$date":"2024-12-04T13:00:00Z"},"list":[1,"two",{"x":3}]}`
		canonical := `{"_id":"relaxed","i":{"$numberInt":"7"},"neg":{"$numberInt":"-2147483648"},"l":{"$numberLong":"3000000000"},` +
			`"d":{"$numberDouble":"1.5"},"whole":{"$numberDouble":"2.0"},"when":{"$date":{"$numberLong":"1733317200000"}},` +
			`"list":[{"$numberInt":"1"},"two",{"x":{"$numberInt":"3"}}]}`
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(relaxed)})
		c.checkFindOne(t, coll, `{"_id":"relaxed"}`, canonical)

		// A document larger than a chunk of the stream.
		big := `{"_id":"big","s":"` + strings.Repeat("0123456789abcdef", 1<<16) + `"}`
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(big)})
		lines, _ = c.mustStream(t, "find", args{"collection": coll, "filter": ej(`{"_id":{"$in":["big","relaxed"]}}`), "sort": ej(`{"_id":1}`)})
		sameLines(t, "find of a 1 MiB document", lines, []string{big, canonical})
	})

	t.Run("InsertManyOrderedAndUnordered", func(t *testing.T) {
		coll := c.coll("insert_many")
		res := docMust[sdk.DocInsertManyResult](c, t, "insert_many", args{"collection": coll, "documents": []json.RawMessage{
			ej(`{"_id":"m1","v":{"$numberInt":"1"}}`), ej(`{"v":{"$numberInt":"2"}}`), ej(`{"_id":{"$numberLong":"3"},"v":{"$numberInt":"3"}}`),
		}})
		if len(res.InsertedIDs) != 3 {
			t.Fatalf("insert_many of 3 documents: inserted_ids %s", res.InsertedIDs)
		}
		sameJSON(t, "inserted_ids[0]", res.InsertedIDs[0], `"m1"`)
		oid := objectID(t, "inserted_ids[1], of a document without an _id", res.InsertedIDs[1])
		sameJSON(t, "inserted_ids[2]", res.InsertedIDs[2], `{"$numberLong":"3"}`)
		c.checkFindOne(t, coll, `{"_id":`+oid+`}`, `{"_id":`+oid+`,"v":{"$numberInt":"2"}}`)
		c.checkCount(t, coll, `{}`, 3)

		// Ordered, the write after a failing one is not performed;
		// unordered, it is.
		for _, ordered := range []bool{true, false} {
			after := fmt.Sprintf("after-%t", ordered)
			_, err := docCall[sdk.DocInsertManyResult](c, t, "insert_many", args{"collection": coll, "ordered": ordered, "documents": []json.RawMessage{
				ej(fmt.Sprintf(`{"_id":"before-%t"}`, ordered)), ej(`{"_id":"m1"}`), ej(`{"_id":"` + after + `"}`),
			}})
			checkDuplicate(t, fmt.Sprintf("insert_many (ordered %t) of a duplicate _id", ordered), err)
			c.checkCount(t, coll, fmt.Sprintf(`{"_id":"before-%t"}`, ordered), 1)
			want := int64(0)
			if !ordered {
				want = 1
			}
			c.checkCount(t, coll, `{"_id":"`+after+`"}`, want)
		}
	})

	t.Run("DuplicateIDIsConflictWithCode11000", func(t *testing.T) {
		coll := c.coll("duplicate")
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"_id":"dup","v":1}`)})
		_, err := docCall[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"_id":"dup","v":2}`), sdk.IdempotentArg: true})
		checkDuplicate(t, "insert_one of a duplicate _id", err)
		c.checkFindOne(t, coll, `{"_id":"dup"}`, `{"_id":"dup","v":{"$numberInt":"1"}}`)
	})

	t.Run("FindStreamsOneCanonicalDocumentPerLine", func(t *testing.T) {
		coll := c.seed(t, "find", 250)
		lines, res := c.mustStream(t, "find", args{"collection": coll, "sort": ej(`{"n":1}`), "batch_size": 7})
		sameLines(t, "find of 250 documents in batches of 7", lines, sampleRange(0, 250, 1))
		if res.Count != 250 {
			t.Errorf("find of 250 documents: count %d", res.Count)
		}
		// The documents come as the server sends them, a batch at a time,
		// not once a chunk of the stream fills: 250 documents of less than
		// a chunk (64 KiB) in all, in batches of 10, come in several
		// writes.
		var w countingWriter
		if _, err := c.inst.InvokeStream(c.ctx(t), sdk.InvokeRequest{Operation: "find", Args: json.RawMessage(mustJSON(args{"collection": coll, "batch_size": 10}))}, nil, &w); err != nil {
			t.Fatalf("find: %v", err)
		}
		if w.n != 250 || w.writes < 2 {
			t.Errorf("find of 250 documents (%d bytes) in batches of 10: %d documents in %d writes, want them in several", w.bytes, w.n, w.writes)
		}
		// Filter, sort, skip, limit and projection, in the order the
		// contract applies them.
		lines, res = c.mustStream(t, "find", args{"collection": coll, "filter": ej(`{"group":2}`), "sort": ej(`{"n":-1}`),
			"skip": 3, "limit": 10, "projection": ej(`{"_id":0,"n":1,"group":1}`), "batch_size": 4})
		var want []string
		for n := 232; n > 182; n -= 5 {
			want = append(want, fmt.Sprintf(`{"n":{"$numberInt":"%d"},"group":{"$numberInt":"2"}}`, n))
		}
		sameLines(t, "find with filter, sort, skip, limit and projection", lines, want)
		if res.Count != 10 {
			t.Errorf("find of 10 documents: count %d", res.Count)
		}
		// A sort's keys apply in the order given.
		lines, _ = c.mustStream(t, "find", args{"collection": coll, "sort": ej(`{"group":1,"n":-1}`), "limit": 3, "projection": ej(`{"n":1}`)})
		sameLines(t, "find sorted by group, then n descending", lines, []string{
			`{"_id":{"$numberInt":"245"},"n":{"$numberInt":"245"}}`, `{"_id":{"$numberInt":"240"},"n":{"$numberInt":"240"}}`, `{"_id":{"$numberInt":"235"},"n":{"$numberInt":"235"}}`,
		})
		// A relaxed filter, and a hint by the _id index's name.
		lines, _ = c.mustStream(t, "find", args{"collection": coll, "filter": ej(`{"n":{"$gte":245}}`), "sort": ej(`{"_id":1}`), "hint": "_id_"})
		sameLines(t, "find with a relaxed filter and a hint", lines, sampleRange(245, 250, 1))
		lines, res = c.mustStream(t, "find", args{"collection": coll, "filter": ej(`{"group":7}`)})
		if len(lines) != 0 || res.Count != 0 {
			t.Errorf("find that matches nothing: %d lines, count %d", len(lines), res.Count)
		}
		lines, res = c.mustStream(t, "find", args{"collection": coll, "skip": 300})
		if len(lines) != 0 || res.Count != 0 {
			t.Errorf("find that skips past the end: %d lines, count %d", len(lines), res.Count)
		}
		lines, _ = c.mustStream(t, "find", args{"collection": c.coll("absent")})
		if len(lines) != 0 {
			t.Errorf("find in a collection that does not exist: %d lines", len(lines))
		}
	})

	t.Run("FindOneFoundAndNotFound", func(t *testing.T) {
		coll := c.seed(t, "find_one", 20)
		one := docMust[sdk.DocFindOneResult](c, t, "find_one", args{"collection": coll, "filter": ej(`{"group":3}`), "sort": ej(`{"n":-1}`), "skip": 1})
		if !one.Found {
			t.Errorf("find_one of a present document: found false")
		}
		sameJSON(t, "find_one's second of group 3 sorted by n descending", one.Document, sampleDoc(13))
		one = docMust[sdk.DocFindOneResult](c, t, "find_one", args{"collection": coll, "filter": ej(`{"n":{"$numberLong":"4"}}`), "projection": ej(`{"pad":0,"tag":0}`)})
		sameJSON(t, "find_one with a projection", one.Document, `{"_id":{"$numberInt":"4"},"n":{"$numberInt":"4"},"group":{"$numberInt":"4"}}`)
		raw := c.mustRaw(t, "find_one", args{"collection": coll, "filter": ej(`{"n":-1}`)})
		checkNotFound(t, "find_one that matches nothing", raw)
	})

	t.Run("CountWithSkipAndLimit", func(t *testing.T) {
		coll := c.seed(t, "count", 250)
		for _, k := range []struct {
			filter      string
			skip, limit int64
			want        int64
		}{
			{"", 0, 0, 250}, {`{}`, 0, 0, 250}, {`{"group":1}`, 0, 0, 50}, {`{"group":1}`, 45, 0, 5}, {`{"group":1}`, 0, 7, 7},
			{`{"group":1}`, 48, 7, 2}, {`{"group":1}`, 300, 0, 0}, {`{"group":9}`, 0, 0, 0}, {`{"n":{"$lt":{"$numberLong":"10"}}}`, 0, 0, 10},
		} {
			a := args{"collection": coll, "skip": k.skip, "limit": k.limit}
			if k.filter != "" {
				a["filter"] = ej(k.filter)
			}
			if got := docMust[sdk.DocCountResult](c, t, "count", a); got.Count != k.want {
				t.Errorf("count %q skip %d limit %d = %d, want %d", k.filter, k.skip, k.limit, got.Count, k.want)
			}
		}
		c.checkCount(t, c.coll("absent"), `{}`, 0)
	})

	t.Run("Distinct", func(t *testing.T) {
		coll := c.seed(t, "distinct", 30)
		for _, k := range []struct{ field, filter, want string }{
			{"group", "", `[{"$numberInt":"0"},{"$numberInt":"1"},{"$numberInt":"2"},{"$numberInt":"3"},{"$numberInt":"4"}]`},
			{"group", `{"n":{"$lt":3}}`, `[{"$numberInt":"0"},{"$numberInt":"1"},{"$numberInt":"2"}]`},
			{"tag", "", `["t0","t1","t2"]`},
			{"absent", "", `[]`},
		} {
			a := args{"collection": coll, "field": k.field}
			if k.filter != "" {
				a["filter"] = ej(k.filter)
			}
			res := docMust[sdk.DocDistinctResult](c, t, "distinct", a)
			// The order of distinct's values is the server's.
			if got, want := sortedElements(t, res.Values), sortedElements(t, json.RawMessage(k.want)); !slices.Equal(got, want) {
				t.Errorf("distinct %s %s = %s, want %s in any order", k.field, k.filter, res.Values, k.want)
			}
		}
	})

	t.Run("AggregateStreams", func(t *testing.T) {
		coll := c.seed(t, "aggregate", 250)
		lines, res := c.mustStream(t, "aggregate", args{"collection": coll, "pipeline": []json.RawMessage{
			ej(`{"$match":{"group":{"$lt":3}}}`), ej(`{"$group":{"_id":"$group","count":{"$sum":1}}}`), ej(`{"$sort":{"_id":1}}`),
		}})
		sameLines(t, "aggregate $match, $group, $sort", lines, []string{
			`{"_id":{"$numberInt":"0"},"count":{"$numberInt":"50"}}`, `{"_id":{"$numberInt":"1"},"count":{"$numberInt":"50"}}`, `{"_id":{"$numberInt":"2"},"count":{"$numberInt":"50"}}`,
		})
		if res.Count != 3 {
			t.Errorf("aggregate of 3 documents: count %d", res.Count)
		}
		lines, res = c.mustStream(t, "aggregate", args{"collection": coll, "batch_size": 7, "pipeline": []json.RawMessage{ej(`{"$sort":{"n":-1}}`)}})
		sameLines(t, "aggregate of 250 documents in batches of 7", lines, sampleRange(249, -1, -1))
		if res.Count != 250 {
			t.Errorf("aggregate of 250 documents: count %d", res.Count)
		}
		// An empty pipeline yields the collection.
		lines, _ = c.mustStream(t, "aggregate", args{"collection": coll, "pipeline": []json.RawMessage{}})
		if len(lines) != 250 {
			t.Errorf("aggregate of an empty pipeline: %d documents, want 250", len(lines))
		}
		lines, _ = c.mustStream(t, "aggregate", args{"collection": coll, "pipeline": []json.RawMessage{
			ej(`{"$match":{"n":{"$gte":{"$numberLong":"100"}}}}`), ej(`{"$sort":{"n":1}}`), ej(`{"$skip":5}`), ej(`{"$limit":3}`), ej(`{"$project":{"_id":0,"n":1}}`),
		}})
		sameLines(t, "aggregate $match, $sort, $skip, $limit, $project", lines, []string{`{"n":{"$numberInt":"105"}}`, `{"n":{"$numberInt":"106"}}`, `{"n":{"$numberInt":"107"}}`})
	})

	t.Run("UpdateOneAndManyWithUpsertsAndArrayFilters", func(t *testing.T) {
		coll := c.coll("update")
		docMust[sdk.DocInsertManyResult](c, t, "insert_many", args{"collection": coll, "documents": []json.RawMessage{
			ej(`{"_id":"a","g":"x","v":1,"grades":[1,5,9]}`), ej(`{"_id":"b","g":"x","v":2}`), ej(`{"_id":"c","g":"y","v":3}`),
		}})
		c.checkUpdate(t, "update_one", args{"collection": coll, "filter": ej(`{"g":"x"}`), "update": ej(`{"$set":{"flag":true}}`)}, 1, 1, 0, "")
		c.checkCount(t, coll, `{"flag":true}`, 1)
		c.checkUpdate(t, "update_many", args{"collection": coll, "filter": ej(`{"g":"x"}`), "update": ej(`{"$set":{"v":{"$numberLong":"10"}},"$unset":{"flag":""}}`), sdk.IdempotentArg: true}, 2, 2, 0, "")
		c.checkFindOne(t, coll, `{"_id":"b"}`, `{"_id":"b","g":"x","v":{"$numberLong":"10"}}`)
		// A match that changes nothing is not modified.
		c.checkUpdate(t, "update_one", args{"collection": coll, "filter": ej(`{"_id":"c"}`), "update": ej(`{"$set":{"v":3}}`)}, 1, 0, 0, "")
		c.checkUpdate(t, "update_many", args{"collection": coll, "filter": ej(`{"g":"none"}`), "update": ej(`{"$set":{"v":0}}`)}, 0, 0, 0, "")
		// Upserts: the filter's _id, or one the server makes.
		c.checkUpdate(t, "update_one", args{"collection": coll, "filter": ej(`{"_id":"up"}`), "update": ej(`{"$set":{"w":1}}`), "upsert": true}, 0, 0, 1, `"up"`)
		c.checkFindOne(t, coll, `{"_id":"up"}`, `{"_id":"up","w":{"$numberInt":"1"}}`)
		res := c.checkUpdate(t, "update_many", args{"collection": coll, "filter": ej(`{"k":"new"}`), "update": ej(`{"$set":{"w":2}}`), "upsert": true}, 0, 0, 1, "")
		oid := objectID(t, "update_many's upserted_id when the filter has no _id", res.UpsertedID)
		c.checkFindOne(t, coll, `{"_id":`+oid+`}`, `{"_id":`+oid+`,"k":"new","w":{"$numberInt":"2"}}`)
		// An upsert that matches updates instead.
		c.checkUpdate(t, "update_one", args{"collection": coll, "filter": ej(`{"_id":"up"}`), "update": ej(`{"$set":{"w":3}}`), "upsert": true}, 1, 1, 0, "")
		// array_filters say which elements $[g] changes.
		a := args{"collection": coll, "filter": ej(`{"_id":"a"}`), "update": ej(`{"$set":{"grades.$[g]":0}}`), "array_filters": []json.RawMessage{ej(`{"g":{"$gte":5}}`)}}
		res, err := docCall[sdk.DocUpdateResult](c, t, "update_one", a)
		if optional(t, s.ArrayFilters, "update_one with array_filters", err) {
			checkUpdateResult(t, "update_one", a, res, 1, 1, 0, "")
			c.checkFindOne(t, coll, `{"_id":"a"}`, `{"_id":"a","g":"x","v":{"$numberLong":"10"},"grades":[{"$numberInt":"1"},{"$numberInt":"0"},{"$numberInt":"0"}]}`)
		}
		if s.UpdatePipelines {
			c.checkUpdate(t, "update_one", args{"collection": coll, "filter": ej(`{"_id":"c"}`), "update": ej(`[{"$set":{"w":{"$add":["$v",1]}}}]`)}, 1, 1, 0, "")
			c.checkFindOne(t, coll, `{"_id":"c"}`, `{"_id":"c","g":"y","v":{"$numberInt":"3"},"w":{"$numberInt":"4"}}`)
		}
	})

	t.Run("ReplaceOneKeepsTheID", func(t *testing.T) {
		coll := c.coll("replace")
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"_id":"r","a":1,"b":2}`)})
		c.checkUpdate(t, "replace_one", args{"collection": coll, "filter": ej(`{"a":1}`), "replacement": ej(`{"c":{"$numberLong":"3"},"b":"two"}`), sdk.IdempotentArg: true}, 1, 1, 0, "")
		c.checkFindOne(t, coll, `{"_id":"r"}`, `{"_id":"r","c":{"$numberLong":"3"},"b":"two"}`)
		c.checkUpdate(t, "replace_one", args{"collection": coll, "filter": ej(`{"_id":"none"}`), "replacement": ej(`{"z":1}`)}, 0, 0, 0, "")
		c.checkUpdate(t, "replace_one", args{"collection": coll, "filter": ej(`{"_id":"r2"}`), "replacement": ej(`{"z":1}`), "upsert": true}, 0, 0, 1, `"r2"`)
		c.checkFindOne(t, coll, `{"_id":"r2"}`, `{"_id":"r2","z":{"$numberInt":"1"}}`)
		c.checkCount(t, coll, `{}`, 2)
	})

	t.Run("DeleteOneAndMany", func(t *testing.T) {
		coll := c.coll("delete")
		docMust[sdk.DocInsertManyResult](c, t, "insert_many", args{"collection": coll, "documents": []json.RawMessage{
			ej(`{"g":"x"}`), ej(`{"g":"x"}`), ej(`{"g":"x"}`), ej(`{"g":"y"}`), ej(`{"g":"y"}`),
		}})
		for _, k := range []struct {
			op, filter string
			deleted    int64
			left       int64
		}{
			{"delete_one", `{"g":"x"}`, 1, 4}, {"delete_one", `{"g":"none"}`, 0, 4}, {"delete_many", `{"g":"x"}`, 2, 2},
			{"delete_many", `{"g":"x"}`, 0, 2}, {"delete_many", `{}`, 2, 0},
		} {
			res := docMust[sdk.DocDeleteResult](c, t, k.op, args{"collection": coll, "filter": ej(k.filter), sdk.IdempotentArg: true})
			if res.Deleted != k.deleted {
				t.Errorf("%s %s: deleted %d, want %d", k.op, k.filter, res.Deleted, k.deleted)
			}
			c.checkCount(t, coll, `{}`, k.left)
		}
	})

	t.Run("FindAndModify", func(t *testing.T) {
		coll := c.coll("find_and_modify")
		docMust[sdk.DocInsertManyResult](c, t, "insert_many", args{"collection": coll, "documents": []json.RawMessage{
			ej(`{"_id":1,"n":1,"q":"a"}`), ej(`{"_id":2,"n":2,"q":"a"}`), ej(`{"_id":3,"n":3,"q":"b"}`),
		}})
		i := func(n int) string { return fmt.Sprintf(`{"$numberInt":"%d"}`, n) }
		for _, k := range []struct {
			name string
			a    args
			want string // "" for none found
		}{
			{"update returning the document before, the first by the sort", args{"filter": ej(`{"q":"a"}`), "sort": ej(`{"n":-1}`), "update": ej(`{"$set":{"n":20}}`)},
				`{"_id":` + i(2) + `,"n":` + i(2) + `,"q":"a"}`},
			{"update returning the document after", args{"filter": ej(`{"_id":1}`), "update": ej(`{"$set":{"n":10}}`), "return": "after"},
				`{"_id":` + i(1) + `,"n":` + i(10) + `,"q":"a"}`},
			{"replacement returning the document after", args{"filter": ej(`{"_id":3}`), "replacement": ej(`{"r":true}`), "return": "after"},
				`{"_id":` + i(3) + `,"r":true}`},
			{"remove", args{"filter": ej(`{"_id":2}`), "remove": true}, `{"_id":` + i(2) + `,"n":` + i(20) + `,"q":"a"}`},
			{"update of nothing", args{"filter": ej(`{"_id":9}`), "update": ej(`{"$set":{"n":9}}`)}, ""},
			{"replacement of nothing", args{"filter": ej(`{"_id":9}`), "replacement": ej(`{"n":9}`), "return": "after"}, ""},
			{"remove of nothing", args{"filter": ej(`{"_id":9}`), "remove": true}, ""},
			{"upsert returning the document after", args{"filter": ej(`{"_id":4}`), "update": ej(`{"$set":{"n":4}}`), "upsert": true, "return": "after"},
				`{"_id":` + i(4) + `,"n":` + i(4) + `}`},
			{"update returning the document after", args{"filter": ej(`{"_id":1}`), "update": ej(`{"$inc":{"n":1}}`), "return": "after"},
				`{"_id":` + i(1) + `,"n":` + i(11) + `,"q":"a"}`},
		} {
			k.a["collection"] = coll
			raw := c.mustRaw(t, "find_and_modify", k.a)
			if k.want == "" {
				checkNotFound(t, "find_and_modify: "+k.name, raw)
				continue
			}
			res := decodeJSON[sdk.DocFindOneResult](t, "find_and_modify", raw)
			if !res.Found {
				t.Errorf("find_and_modify %s: found false", k.name)
			}
			sameJSON(t, "find_and_modify: "+k.name, res.Document, k.want)
		}
		c.checkFindOne(t, coll, `{"_id":1}`, `{"_id":`+i(1)+`,"n":`+i(11)+`,"q":"a"}`)
		c.checkCount(t, coll, `{"_id":2}`, 0)
		c.checkCount(t, coll, `{"_id":9}`, 0)
		c.checkCount(t, coll, `{}`, 3)

		// A projection of the document returned, and array filters; their
		// writes are the same with them or without.
		a := args{"collection": coll, "filter": ej(`{"_id":1}`), "update": ej(`{"$set":{"l":[1,2,3]}}`), "return": "after", "projection": ej(`{"q":1}`)}
		res, err := docCall[sdk.DocFindOneResult](c, t, "find_and_modify", a)
		if optional(t, s.FindAndModifyProjection, "find_and_modify with a projection", err) {
			sameJSON(t, "find_and_modify returning a projection", res.Document, `{"_id":`+i(1)+`,"q":"a"}`)
		}
		docMust[sdk.DocUpdateResult](c, t, "update_one", args{"collection": coll, "filter": ej(`{"_id":1}`), "update": ej(`{"$set":{"l":[1,2,3]}}`)})
		a = args{"collection": coll, "filter": ej(`{"_id":1}`), "update": ej(`{"$set":{"l.$[e]":0}}`), "array_filters": []json.RawMessage{ej(`{"e":{"$gt":1}}`)}, "return": "after"}
		res, err = docCall[sdk.DocFindOneResult](c, t, "find_and_modify", a)
		if optional(t, s.ArrayFilters, "find_and_modify with array_filters", err) {
			sameJSON(t, "find_and_modify with array_filters", res.Document, `{"_id":`+i(1)+`,"n":`+i(11)+`,"q":"a","l":[`+i(1)+`,`+i(0)+`,`+i(0)+`]}`)
		}
	})

	t.Run("BulkWriteReportsEachOperation", func(t *testing.T) {
		coll := c.coll("bulk_write")
		res := docMust[sdk.DocBulkWriteResult](c, t, "bulk_write", args{"collection": coll, "operations": []json.RawMessage{
			ej(`{"insert_one":{"document":{"_id":"b1","v":1}}}`),
			ej(`{"insert_one":{"document":{"v":2}}}`),
			ej(`{"update_one":{"filter":{"_id":"b1"},"update":{"$set":{"v":10}}}}`),
			ej(`{"update_one":{"filter":{"_id":"b9"},"update":{"$set":{"v":9}},"upsert":true}}`),
			ej(`{"update_many":{"filter":{},"update":{"$set":{"seen":true}}}}`),
			ej(`{"replace_one":{"filter":{"_id":"b1"},"replacement":{"v":{"$numberLong":"100"}}}}`),
			ej(`{"delete_one":{"filter":{"_id":"b9"}}}`),
			ej(`{"delete_many":{"filter":{"v":2}}}`),
			ej(`{"insert_one":{"document":{"_id":"d1","d":true}}}`),
			ej(`{"insert_one":{"document":{"_id":"d2","d":true}}}`),
			ej(`{"update_one":{"filter":{"d":true},"update":{"$set":{"u":1}}}}`),
			ej(`{"delete_one":{"filter":{"d":true}}}`),
		}})
		// The _one writes, whose filters match two documents, write one.
		if res.Inserted != 4 || res.Matched != 6 || res.Modified != 6 || res.Upserted != 1 || res.Deleted != 3 {
			t.Errorf("bulk_write totals: inserted %d, matched %d, modified %d, upserted %d, deleted %d; want 4, 6, 6, 1, 3",
				res.Inserted, res.Matched, res.Modified, res.Upserted, res.Deleted)
		}
		kinds := []string{sdk.DocInsertOne, sdk.DocInsertOne, sdk.DocUpdateOne, sdk.DocUpdateOne, sdk.DocUpdateMany, sdk.DocReplaceOne, sdk.DocDeleteOne, sdk.DocDeleteMany,
			sdk.DocInsertOne, sdk.DocInsertOne, sdk.DocUpdateOne, sdk.DocDeleteOne}
		if len(res.Operations) != len(kinds) {
			t.Fatalf("bulk_write of %d operations reported %d: %+v", len(kinds), len(res.Operations), res.Operations)
		}
		for i, op := range res.Operations {
			if op.Index != i || op.Kind != kinds[i] {
				t.Errorf("operations[%d]: index %d, kind %q; want %d, %q", i, op.Index, op.Kind, i, kinds[i])
			}
			switch i {
			case 0:
				sameJSON(t, "operations[0].inserted_id", op.InsertedID, `"b1"`)
			case 1:
				objectID(t, "operations[1].inserted_id, of a document without an _id", op.InsertedID)
			case 3:
				sameJSON(t, "operations[3].upserted_id", op.UpsertedID, `"b9"`)
			case 8, 9:
				sameJSON(t, fmt.Sprintf("operations[%d].inserted_id", i), op.InsertedID, fmt.Sprintf(`"d%d"`, i-7))
			}
			if (op.Kind == sdk.DocInsertOne) != (len(op.InsertedID) > 0) || (i == 3) != (len(op.UpsertedID) > 0) {
				t.Errorf("operations[%d] (%s): inserted_id %s, upserted_id %s", i, op.Kind, op.InsertedID, op.UpsertedID)
			}
		}
		lines, _ := c.mustStream(t, "find", args{"collection": coll, "filter": ej(`{"d":{"$exists":false}}`)})
		sameLines(t, "the collection after bulk_write", lines, []string{`{"_id":"b1","v":{"$numberLong":"100"}}`})
		c.checkCount(t, coll, `{"d":true}`, 1)

		// Ordered, the writes after a failing one are not performed;
		// unordered, they are.
		for _, ordered := range []bool{true, false} {
			after := fmt.Sprintf("after-%t", ordered)
			_, err := docCall[sdk.DocBulkWriteResult](c, t, "bulk_write", args{"collection": coll, "ordered": ordered, "operations": []json.RawMessage{
				ej(`{"insert_one":{"document":{"_id":"b1"}}}`), ej(`{"insert_one":{"document":{"_id":"` + after + `"}}}`),
			}})
			checkDuplicate(t, fmt.Sprintf("bulk_write (ordered %t) of a duplicate _id", ordered), err)
			want := int64(0)
			if !ordered {
				want = 1
			}
			c.checkCount(t, coll, `{"_id":"`+after+`"}`, want)
		}
	})

	t.Run("IndexesMadeListedAndDropped", func(t *testing.T) {
		coll := c.coll("indexes")
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"_id":1,"email":"ada@example.com"}`)})
		email := docMust[sdk.DocIndexResult](c, t, "create_index", args{"collection": coll, "keys": ej(`{"email":1}`), "unique": true})
		if email.Name == "" {
			t.Fatal("create_index without a name returned none")
		}
		named := docMust[sdk.DocIndexResult](c, t, "create_index", args{"collection": coll, "keys": ej(`{"b":-1,"a":1}`), "name": "b_desc_a"})
		if named.Name != "b_desc_a" {
			t.Errorf("create_index named b_desc_a returned %q", named.Name)
		}
		// create_index is idempotent: the same index again is no error.
		if again := docMust[sdk.DocIndexResult](c, t, "create_index", args{"collection": coll, "keys": ej(`{"email":1}`), "unique": true}); again.Name != email.Name {
			t.Errorf("create_index of an index that exists returned %q, not %q", again.Name, email.Name)
		}
		list := docMust[sdk.DocIndexesResult](c, t, "list_indexes", args{"collection": coll})
		want := map[string]struct {
			keys   string
			unique bool
		}{"_id_": {"_id:1", false}, email.Name: {"email:1", true}, "b_desc_a": {"b:-1,a:1", false}}
		if len(list.Indexes) != len(want) {
			t.Errorf("list_indexes returned %d indexes, want %d: %+v", len(list.Indexes), len(want), list.Indexes)
		}
		for _, ix := range list.Indexes {
			w, ok := want[ix.Name]
			if !ok {
				t.Errorf("list_indexes returned an index %q that was not made", ix.Name)
				continue
			}
			delete(want, ix.Name)
			if got := indexKeys(t, ix.Keys); got != w.keys || (ix.Name != "_id_" && ix.Unique != w.unique) {
				t.Errorf("index %q: keys %s (%s), unique %t; want %s, unique %t", ix.Name, ix.Keys, got, ix.Unique, w.keys, w.unique)
			}
			var spec map[string]json.RawMessage
			if err := json.Unmarshal(ix.Spec, &spec); err != nil || !strings.Contains(string(spec["name"]), ix.Name) || spec["key"] == nil {
				t.Errorf("index %q: spec %s, want an object with its name and key", ix.Name, ix.Spec)
			}
		}
		for name := range want {
			t.Errorf("list_indexes did not return the index %q", name)
		}
		// The unique index refuses a second document of the same key.
		_, err := docCall[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"_id":2,"email":"ada@example.com"}`)})
		checkDuplicate(t, "insert_one of a duplicate key of a unique index", err)
		docMust[sdk.DocInsertOneResult](c, t, "insert_one", args{"collection": coll, "document": ej(`{"_id":3,"email":"grace@example.com"}`)})
		// And an update, a replacement or a find_and_modify that would make one.
		taken := ej(`{"$set":{"email":"ada@example.com"}}`)
		_, err = docCall[sdk.DocUpdateResult](c, t, "update_one", args{"collection": coll, "filter": ej(`{"_id":3}`), "update": taken})
		checkDuplicate(t, "update_one onto a duplicate key of a unique index", err)
		_, err = docCall[sdk.DocUpdateResult](c, t, "replace_one", args{"collection": coll, "filter": ej(`{"_id":3}`), "replacement": ej(`{"email":"ada@example.com"}`)})
		checkDuplicate(t, "replace_one onto a duplicate key of a unique index", err)
		_, err = docCall[sdk.DocFindOneResult](c, t, "find_and_modify", args{"collection": coll, "filter": ej(`{"_id":3}`), "update": taken})
		checkDuplicate(t, "find_and_modify onto a duplicate key of a unique index", err)
		c.checkFindOne(t, coll, `{"_id":3}`, `{"_id":{"$numberInt":"3"},"email":"grace@example.com"}`)

		if res := docMust[sdk.DocDropResult](c, t, "drop_index", args{"collection": coll, "name": "b_desc_a"}); !res.OK {
			t.Errorf("drop_index: ok false")
		}
		list = docMust[sdk.DocIndexesResult](c, t, "list_indexes", args{"collection": coll})
		if slices.ContainsFunc(list.Indexes, func(ix sdk.DocIndex) bool { return ix.Name == "b_desc_a" }) || len(list.Indexes) != 2 {
			t.Errorf("after drop_index b_desc_a, list_indexes returned %+v", list.Indexes)
		}
		_, err = docCall[sdk.DocDropResult](c, t, "drop_index", args{"collection": coll, "name": "no_such_index"})
		wantKind(t, "drop_index of an index that does not exist", err, sdk.KindNotFound)
	})

	t.Run("MistakesAreInvalidArgumentsNamingTheArgument", func(t *testing.T) {
		coll := c.coll("mistakes")
		for _, m := range []struct {
			name, op, arg string
			a             args
		}{
			{"filter not an object", "find", "filter", args{"filter": ej(`[{"a":1}]`)}},
			{"filter a string", "count", "filter", args{"filter": ej(`"a"`)}},
			{"filter of bad Extended JSON", "find_one", "filter", args{"filter": ej(`{"_id":{"$oid":"zz"}}`)}},
			{"filter of a bad date", "delete_many", "filter", args{"filter": ej(`{"d":{"$date":"yesterday"}}`)}},
			{"projection not an object", "find", "projection", args{"projection": ej(`["a"]`)}},
			{"sort not an object", "find", "sort", args{"sort": ej(`[["a",1]]`)}},
			{"negative skip", "find", "skip", args{"skip": -1}},
			{"negative limit", "count", "limit", args{"limit": -1}},
			{"hint a number", "count", "hint", args{"hint": 5}},
			{"empty collection", "insert_one", "collection", args{"collection": "", "document": ej(`{"a":1}`)}},
			{"collection with a $", "find", "collection", args{"collection": "a$b"}},
			{"system collection", "count", "collection", args{"collection": "system.users"}},
			{"document not an object", "insert_one", "document", args{"document": ej(`[1]`)}},
			{"document of bad Extended JSON", "insert_one", "document", args{"document": ej(`{"_id":{"$oid":"zz"}}`)}},
			{"no documents", "insert_many", "documents", args{"documents": []json.RawMessage{}}},
			{"a document of bad Extended JSON", "insert_many", "documents[1]", args{"documents": []json.RawMessage{ej(`{"_id":"ok"}`), ej(`{"n":{"$numberLong":"x"}}`)}}},
			{"update without operators", "update_one", "update", args{"filter": ej(`{}`), "update": ej(`{"a":1}`)}},
			{"empty update", "update_many", "update", args{"filter": ej(`{}`), "update": ej(`{}`)}},
			{"update of bad Extended JSON", "update_one", "update", args{"filter": ej(`{}`), "update": ej(`{"$set":{"d":{"$date":"nope"}}}`)}},
			{"array filter not an object", "update_one", "array_filters[0]", args{"filter": ej(`{}`), "update": ej(`{"$set":{"a":1}}`), "array_filters": []json.RawMessage{ej(`1`)}}},
			{"update without a filter", "update_one", "filter", args{"update": ej(`{"$set":{"a":1}}`)}},
			{"replacement with operators", "replace_one", "replacement", args{"filter": ej(`{}`), "replacement": ej(`{"$set":{"a":1}}`)}},
			{"delete without a filter", "delete_many", "filter", args{}},
			{"find_and_modify with update and remove", "find_and_modify", "remove", args{"update": ej(`{"$set":{"a":1}}`), "remove": true}},
			{"find_and_modify with nothing to do", "find_and_modify", "remove", args{}},
			{"find_and_modify returning neither", "find_and_modify", "return", args{"remove": true, "return": "later"}},
			{"find_and_modify replacement with operators", "find_and_modify", "replacement", args{"replacement": ej(`{"$inc":{"a":1}}`)}},
			{"unknown kind of bulk write", "bulk_write", "operations[0]", args{"operations": []json.RawMessage{ej(`{"upsert_one":{"document":{}}}`)}}},
			{"bulk write of two kinds", "bulk_write", "operations[1]", args{"operations": []json.RawMessage{ej(`{"delete_one":{"filter":{}}}`), ej(`{"delete_one":{"filter":{}},"delete_many":{"filter":{}}}`)}}},
			{"bulk write of bad Extended JSON", "bulk_write", "operations[0]", args{"operations": []json.RawMessage{ej(`{"insert_one":{"document":{"_id":{"$oid":"zz"}}}}`)}}},
			{"bulk update without operators", "bulk_write", "operations[0]", args{"operations": []json.RawMessage{ej(`{"update_many":{"filter":{},"update":{"a":1}}}`)}}},
			{"no bulk writes", "bulk_write", "operations", args{"operations": []json.RawMessage{}}},
			{"stage not an object", "aggregate", "pipeline[0]", args{"pipeline": []json.RawMessage{ej(`"$match"`)}}},
			{"stage of bad Extended JSON", "aggregate", "pipeline[0]", args{"pipeline": []json.RawMessage{ej(`{"$match":{"_id":{"$oid":"zz"}}}`)}}},
			{"distinct of no field", "distinct", "field", args{"field": ""}},
			{"index keys not an object", "create_index", "keys", args{"keys": ej(`"email"`)}},
		} {
			t.Run(m.name, func(t *testing.T) {
				a := args{"collection": coll}
				for k, v := range m.a {
					a[k] = v
				}
				var err error
				if m.op == "find" || m.op == "aggregate" {
					_, _, err = c.stream(t, m.op, a)
				} else {
					_, err = c.raw(t, m.op, a)
				}
				if k := sdk.KindOf(err); k != sdk.KindInvalidArgument {
					t.Fatalf("%s %v: %v (kind %q), want invalid_argument", m.op, a, err, k)
				}
				if !strings.Contains(err.Error(), m.arg) {
					t.Errorf("%s %v: the error does not name %s: %v", m.op, a, m.arg, err)
				}
			})
		}
		// What was refused wrote nothing.
		c.checkCount(t, coll, `{}`, 0)
	})
}

// countingWriter counts the writes of a stream, and its documents.
type countingWriter struct{ writes, n, bytes int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.bytes += len(p)
	w.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// args are an operation's arguments.
type args = map[string]any

// ej is Extended JSON text, sent as it is.
func ej(s string) json.RawMessage { return json.RawMessage(s) }

// docT is the suite's view of the instance under test.
type docT struct {
	inst    *Instance
	timeout time.Duration
	prefix  string // of every collection the suite uses
	mu      sync.Mutex
	used    map[string]bool
}

// coll returns the name of the suite's collection name, which it empties
// at the end.
func (c *docT) coll(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = c.prefix + name
	c.used[name] = true
	return name
}

func (c *docT) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), c.timeout)
	t.Cleanup(cancel)
	return ctx
}

// raw calls op and returns its result's JSON.
func (c *docT) raw(t *testing.T, op string, a args) (json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	out, err := c.inst.Invoke(c.ctx(t), sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		return nil, err
	}
	if r, ok := out.(json.RawMessage); ok {
		return r, nil
	}
	if raw, err = json.Marshal(out); err != nil {
		t.Fatalf("%s: result %T: %v", op, out, err)
	}
	return raw, nil
}

func (c *docT) mustRaw(t *testing.T, op string, a args) json.RawMessage {
	t.Helper()
	raw, err := c.raw(t, op, a)
	if err != nil {
		t.Fatalf("%s %.300s: %v", op, mustJSON(a), err)
	}
	return raw
}

func docCall[R any](c *docT, t *testing.T, op string, a args) (R, error) {
	t.Helper()
	raw, err := c.raw(t, op, a)
	if err != nil {
		var zero R
		return zero, err
	}
	return decodeJSON[R](t, op, raw), nil
}

func docMust[R any](c *docT, t *testing.T, op string, a args) R {
	t.Helper()
	return decodeJSON[R](t, op, c.mustRaw(t, op, a))
}

func decodeJSON[R any](t *testing.T, op string, raw json.RawMessage) R {
	t.Helper()
	var r R
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: result %.300s: %v", op, raw, err)
	}
	return r
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// stream calls find or aggregate and returns the documents it streamed,
// one a line, checking that the stream is lines of JSON objects, and its
// result.
func (c *docT) stream(t *testing.T, op string, a args) ([]string, sdk.DocStreamResult, error) {
	t.Helper()
	var buf bytes.Buffer
	out, err := c.inst.InvokeStream(c.ctx(t), sdk.InvokeRequest{Operation: op, Args: json.RawMessage(mustJSON(a))}, nil, &buf)
	if err != nil {
		return nil, sdk.DocStreamResult{}, err
	}
	res := decodeResult[sdk.DocStreamResult](t, op, out)
	if buf.Len() == 0 {
		return nil, res, nil
	}
	text := buf.String()
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("%s: the stream does not end with a newline: %.100q", op, text[max(0, len(text)-100):])
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "{") || !json.Valid([]byte(l)) {
			t.Fatalf("%s: line %d of the stream is not a JSON object: %.200q", op, i+1, l)
		}
	}
	if res.Count != int64(len(lines)) {
		t.Errorf("%s: the result counts %d documents; the stream had %d", op, res.Count, len(lines))
	}
	return lines, res, nil
}

func (c *docT) mustStream(t *testing.T, op string, a args) ([]string, sdk.DocStreamResult) {
	t.Helper()
	lines, res, err := c.stream(t, op, a)
	if err != nil {
		t.Fatalf("%s %.300s: %v", op, mustJSON(a), err)
	}
	return lines, res
}

// checkFindOne checks that find_one of filter returns want, exactly.
func (c *docT) checkFindOne(t *testing.T, coll, filter, want string) {
	t.Helper()
	res := docMust[sdk.DocFindOneResult](c, t, "find_one", args{"collection": coll, "filter": ej(filter)})
	if !res.Found {
		t.Errorf("find_one %s: found false, want %.300s", filter, want)
		return
	}
	sameJSON(t, "find_one "+filter, res.Document, want)
}

// checkCount checks that count of filter is want.
func (c *docT) checkCount(t *testing.T, coll, filter string, want int64) {
	t.Helper()
	if got := docMust[sdk.DocCountResult](c, t, "count", args{"collection": coll, "filter": ej(filter)}); got.Count != want {
		t.Errorf("count %s = %d, want %d", filter, got.Count, want)
	}
}

// checkUpdate performs an update or a replacement and checks its result;
// upsertedID is the _id an upsert must report ("" when it is the
// server's to make, or there is none).
func (c *docT) checkUpdate(t *testing.T, op string, a args, matched, modified, upserted int64, upsertedID string) sdk.DocUpdateResult {
	t.Helper()
	res := docMust[sdk.DocUpdateResult](c, t, op, a)
	checkUpdateResult(t, op, a, res, matched, modified, upserted, upsertedID)
	return res
}

// checkUpdateResult checks the result of an update or a replacement.
func checkUpdateResult(t *testing.T, op string, a args, res sdk.DocUpdateResult, matched, modified, upserted int64, upsertedID string) {
	t.Helper()
	if res.Matched != matched || res.Modified != modified || res.Upserted != upserted {
		t.Errorf("%s %.300s: matched %d, modified %d, upserted %d; want %d, %d, %d", op, mustJSON(a), res.Matched, res.Modified, res.Upserted, matched, modified, upserted)
	}
	switch {
	case upserted == 0 && len(res.UpsertedID) > 0:
		t.Errorf("%s %.300s: upserted_id %s without an upsert", op, mustJSON(a), res.UpsertedID)
	case upserted > 0 && upsertedID != "":
		sameJSON(t, op+"'s upserted_id", res.UpsertedID, upsertedID)
	}
}

// optional checks the error of a call of a part of MongoDB's language
// the server may lack (DocumentSuite's fields) and reports whether the
// call succeeded: unless required, the server may refuse it as
// unimplemented, which is logged; any other error fails the test.
func optional(t *testing.T, required bool, what string, err error) bool {
	t.Helper()
	switch {
	case err == nil:
		return true
	case !required && sdk.KindOf(err) == sdk.KindUnimplemented:
		t.Logf("the server does not implement %s: %v", what, err)
		return false
	}
	t.Fatalf("%s: %v (kind %q)", what, err, sdk.KindOf(err))
	return false
}

// seed fills the collection name with n sample documents (sampleDoc).
func (c *docT) seed(t *testing.T, name string, n int) string {
	t.Helper()
	coll := c.coll(name)
	for from := 0; from < n; from += 100 {
		var docs []json.RawMessage
		for i := from; i < min(n, from+100); i++ {
			docs = append(docs, ej(sampleDoc(i)))
		}
		res := docMust[sdk.DocInsertManyResult](c, t, "insert_many", args{"collection": coll, "documents": docs, sdk.IdempotentArg: true})
		if len(res.InsertedIDs) != len(docs) {
			t.Fatalf("insert_many of %d documents returned %d _ids", len(docs), len(res.InsertedIDs))
		}
	}
	return coll
}

// sampleDoc is the i-th document seed writes, in canonical Extended JSON.
func sampleDoc(i int) string {
	return fmt.Sprintf(`{"_id":{"$numberInt":"%d"},"n":{"$numberInt":"%d"},"group":{"$numberInt":"%d"},"tag":"t%d","pad":"%s"}`,
		i, i, i%5, i%3, strings.Repeat("p", 100+i%7))
}

// sampleRange is sampleDoc of from, from+step, ... up to to (excluded).
func sampleRange(from, to, step int) []string {
	var out []string
	for i := from; i != to; i += step {
		out = append(out, sampleDoc(i))
	}
	return out
}

// everyValue is a document with values of every BSON type the suite's
// server stores, in canonical Extended JSON, in the order a caller wrote
// them.
func everyValue(s DocumentSuite) string {
	doc := `{"_id":"every","z_first":"keys keep their order",` +
		`"int32":{"$numberInt":"7"},"int32_min":{"$numberInt":"-2147483648"},` +
		`"int64":{"$numberLong":"9007199254740993"},"int64_small":{"$numberLong":"7"},"int64_max":{"$numberLong":"9223372036854775807"},` +
		`"double":{"$numberDouble":"1.5"},"double_whole":{"$numberDouble":"2.0"},"double_neg":{"$numberDouble":"-0.25"},` +
		`"date":{"$date":{"$numberLong":"1733317200123"}},"date_before_1970":{"$date":{"$numberLong":"-86400000"}},` +
		`"binary":{"$binary":{"base64":"AAECAwQ=","subType":"00"}},` +
		`"uuid":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"04"}},` +
		`"binary_user":{"$binary":{"base64":"/w==","subType":"80"}},` +
		`"oid":{"$oid":"65a1b2c3d4e5f60718293a4b"},` +
		`"string":"h\u00e9llo \"w\u00f6rld\"\n\ttab \u2603","empty":"","bool":true,"false":false,"null":null,` +
		`"array":[{"$numberInt":"1"},{"$numberLong":"2"},"three",{"in":{"$numberDouble":"0.5"}},{}],"empty_array":[],"empty_object":{},` +
		`"nested":{"oid":{"$oid":"65a1b2c3d4e5f60718293a4c"},"deeper":{"when":{"$date":{"$numberLong":"0"}},"list":[{"a":null}]}},` +
		`"regex":{"$regularExpression":{"pattern":"^a.*","options":"i"}},` +
		`"timestamp":{"$timestamp":{"t":1700000000,"i":3}}`
	if s.Decimal128 {
		doc += `,"decimal":{"$numberDecimal":"1234.5678"},"decimal_neg":{"$numberDecimal":"-0.000001"}`
	}
	if s.MinMaxKeys {
		doc += `,"min":{"$minKey":1},"max":{"$maxKey":1}`
	}
	return doc + "}"
}

// canon returns JSON text in a form in which two texts of the same
// values, in the same order, are equal: no space, strings written one
// way. Key order counts; so do the Extended JSON wrappers that give each
// value its type.
func canon(t *testing.T, what string, raw []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out strings.Builder
	if err := canonValue(dec, &out); err != nil {
		t.Fatalf("%s: %.300s is not JSON: %v", what, raw, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s: %.300s holds more than one JSON value", what, raw)
	}
	return out.String()
}

func canonValue(dec *json.Decoder, out *strings.Builder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		closing := byte(']')
		if v == '{' {
			closing = '}'
		}
		out.WriteByte(byte(v))
		for first := true; dec.More(); first = false {
			if !first {
				out.WriteByte(',')
			}
			if v == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				writeString(out, key.(string))
				out.WriteByte(':')
			}
			if err := canonValue(dec, out); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		out.WriteByte(closing)
	case string:
		writeString(out, v)
	case json.Number:
		out.WriteString(v.String())
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case nil:
		out.WriteString("null")
	}
	return nil
}

func writeString(out *strings.Builder, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// sameJSON checks that got is the JSON want, value for value, type for
// type, in the same order.
func sameJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if len(got) == 0 {
		t.Errorf("%s: nothing, want %.300s", what, want)
		return
	}
	if g, w := canon(t, what, got), canon(t, what+" (expected)", []byte(want)); g != w {
		t.Errorf("%s:\n got %.500s\nwant %.500s", what, g, w)
	}
}

// sameLines checks that the documents streamed are want, in order.
func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d documents, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if g, w := canon(t, what, []byte(got[i])), canon(t, what+" (expected)", []byte(want[i])); g != w {
			t.Errorf("%s: document %d:\n got %.500s\nwant %.500s", what, i, g, w)
			return
		}
	}
}

// sortedElements returns the canonical text of each element of a JSON
// array, sorted.
func sortedElements(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		t.Fatalf("%.300s is not a JSON array", raw)
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		out[i] = canon(t, "an element", e)
	}
	slices.Sort(out)
	return out
}

var objectIDPattern = regexp.MustCompile(`^\{"\$oid":"[0-9a-f]{24}"\}$`)

// objectID checks that raw is an ObjectId in canonical Extended JSON and
// returns it.
func objectID(t *testing.T, what string, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 {
		t.Fatalf("%s: none, want an ObjectId", what)
	}
	s := canon(t, what, raw)
	if !objectIDPattern.MatchString(s) {
		t.Fatalf("%s = %s, want an ObjectId {\"$oid\": \"<24 hex digits>\"}", what, s)
	}
	return s
}

// checkNotFound checks a find_one or find_and_modify result that found
// nothing: found false and the document null, written out.
func checkNotFound(t *testing.T, what string, raw json.RawMessage) {
	t.Helper()
	var res map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s: result %.300s: %v", what, raw, err)
	}
	if string(res["found"]) != "false" || string(res["document"]) != "null" {
		t.Errorf("%s: result %.300s, want found false and document null", what, raw)
	}
}

// checkDuplicate checks the error of a write refused for a duplicate key:
// conflict, with MongoDB's code 11000.
func checkDuplicate(t *testing.T, what string, err error) {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindConflict || e.Code != "11000" {
		t.Errorf("%s: %v (kind %q, code %q), want conflict with code \"11000\"", what, err, sdk.KindOf(err), codeOf(err))
	}
}

func codeOf(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// indexKeys writes an index's keys as "field:direction,..." in order,
// whatever numeric type the server keeps the directions in.
func indexKeys(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "not an object: " + string(raw)
	}
	var parts []string
	for dec.More() {
		key, _ := dec.Token()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "not JSON: " + string(raw)
		}
		var wrapped map[string]string
		dir := string(v)
		if json.Unmarshal(v, &wrapped) == nil && len(wrapped) == 1 {
			for _, n := range wrapped {
				dir = n
			}
		}
		if f, err := strconv.ParseFloat(dir, 64); err == nil {
			dir = strconv.FormatFloat(f, 'f', -1, 64)
		}
		parts = append(parts, fmt.Sprintf("%v:%s", key, dir))
	}
	return strings.Join(parts, ",")
}

// removeAll empties the collections the suite used and drops the indexes
// it made.
func (c *docT) removeAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.mu.Lock()
	colls := make([]string, 0, len(c.used))
	for name := range c.used {
		colls = append(colls, name)
	}
	c.mu.Unlock()
	slices.Sort(colls)
	invoke := func(op string, a args) (json.RawMessage, error) {
		out, err := c.inst.Invoke(ctx, sdk.InvokeRequest{Operation: op, Args: json.RawMessage(mustJSON(a))})
		if err != nil {
			return nil, err
		}
		raw, _ := out.(json.RawMessage)
		if raw == nil {
			raw, _ = json.Marshal(out)
		}
		return raw, nil
	}
	for _, coll := range colls {
		if _, err := invoke("delete_many", args{"collection": coll, "filter": ej(`{}`), sdk.IdempotentArg: true}); err != nil {
			t.Errorf("cleaning up %s: %v", coll, err)
			continue
		}
		raw, err := invoke("list_indexes", args{"collection": coll})
		if err != nil {
			continue // a collection never written
		}
		var list sdk.DocIndexesResult
		_ = json.Unmarshal(raw, &list)
		for _, ix := range list.Indexes {
			if ix.Name != "_id_" {
				if _, err := invoke("drop_index", args{"collection": coll, "name": ix.Name}); err != nil {
					t.Errorf("cleaning up %s: %v", coll, err)
				}
			}
		}
	}
}
