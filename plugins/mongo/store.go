package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// store performs the document operations on a resource's database: as
// the shared client does, or within a session when sess is set.
type store struct {
	res  *Resource
	db   *mongo.Database
	sess *mongo.Session // nil for the shared type
}

// within returns the context an operation runs in: the session's when
// there is one.
func (s *store) within(ctx context.Context) context.Context {
	if s.sess != nil {
		return mongo.NewSessionContext(ctx, s.sess)
	}
	return ctx
}

func (s *store) coll(name string) *mongo.Collection { return s.db.Collection(name) }

// wrap classifies an error of the operation op on collection coll.
func (s *store) wrap(ctx context.Context, err error, op, coll string) error {
	what := s.res.typ + " " + op
	if coll != "" {
		what += " " + strconv.Quote(coll)
	}
	return s.res.wrap(ctx, err, what)
}

// wrapWrite is wrap for a write: a duplicate key error whose server did
// not say which unique index refused the write (FerretDB v1, which names
// only the collection) is completed with the index, found by asking the
// server (uniqueIndexOf). doc returns the document the i-th write stored
// (the i-th of several), or nil when it is not known (an update).
func (s *store) wrapWrite(ctx context.Context, err error, op, coll string, doc func(i int) bson.Raw) error {
	out := s.wrap(ctx, err, op, coll)
	var e *sdk.Error
	if ctx.Err() != nil || !errors.As(out, &e) || e.Kind != sdk.KindConflict {
		return out
	}
	i, unnamed := duplicateUnnamed(err)
	if !unnamed {
		return out
	}
	var d bson.Raw
	if doc != nil {
		d = doc(i)
	}
	e.Message += s.uniqueIndexOf(ctx, coll, d)
	return out
}

// dupLookupTimeout bounds the questions uniqueIndexOf asks the server.
const dupLookupTimeout = 5 * time.Second

// uniqueIndexOf says which unique index of the collection refused a write
// as a duplicate, for an error's message (" for the unique index on
// {"_id":1}"): the only one there is, or else the one whose keys the
// document written (doc, nil when unknown) shares with a stored document.
// Failing that it lists them, and it says nothing when it cannot list
// them.
func (s *store) uniqueIndexOf(ctx context.Context, coll string, doc bson.Raw) string {
	ctx, cancel := context.WithTimeout(ctx, dupLookupTimeout)
	defer cancel()
	cur, err := s.coll(coll).Indexes().List(s.within(ctx))
	if err != nil {
		return ""
	}
	var keys []bson.Raw // of the unique indexes, _id's among them
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		unique, _ := cur.Current.Lookup("unique").BooleanOK()
		k, ok := cur.Current.Lookup("key").DocumentOK()
		if ok && (unique || name == "_id_") {
			keys = append(keys, bson.Raw(append([]byte(nil), k...)))
		}
	}
	_ = cur.Close(ctx)
	relaxed := func(k bson.Raw) string {
		b, err := bson.MarshalExtJSON(k, false, false)
		if err != nil {
			return "?"
		}
		return string(b)
	}
	switch {
	case cur.Err() != nil || len(keys) == 0:
		return ""
	case len(keys) == 1:
		return " for the unique index on " + relaxed(keys[0])
	}
	if doc != nil {
		for _, k := range keys {
			if s.holdsKey(ctx, coll, k, doc) {
				return " for the unique index on " + relaxed(k)
			}
		}
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = relaxed(k)
	}
	return " for one of the unique indexes on " + strings.Join(names, ", ") + " (the server did not say which)"
}

// holdsKey reports whether a stored document has the values doc has for
// an index's keys (null for a key doc lacks, as a unique index has it).
func (s *store) holdsKey(ctx context.Context, coll string, keys, doc bson.Raw) bool {
	elems, err := keys.Elements()
	if err != nil {
		return false
	}
	idx, f := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		path := e.Key()
		v, err := doc.LookupErr(strings.Split(path, ".")...)
		if err != nil {
			f = bsoncore.AppendNullElement(f, path)
			continue
		}
		f = bsoncore.AppendValueElement(f, path, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	}
	f, _ = bsoncore.AppendDocumentEnd(f, idx)
	n, err := s.coll(coll).CountDocuments(s.within(ctx), bson.Raw(f), options.Count().SetLimit(1))
	return err == nil && n > 0
}

// cursorCloseTimeout bounds the killCursors of a cursor left early.
const cursorCloseTimeout = 5 * time.Second

// drain sends a cursor's documents to out, flushing at the end of each
// batch the server sent, and closes the cursor.
func (s *store) drain(ctx context.Context, cur *mongo.Cursor, out *sdk.DocumentWriter, op, coll string) (err error) {
	defer func() {
		// A cursor left early is killed on the server, even when the call
		// was canceled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cursorCloseTimeout)
		defer cancel()
		_ = cur.Close(cctx)
	}()
	for cur.Next(ctx) {
		if err := out.Append(func(dst []byte) ([]byte, error) { return appendExtJSON(dst, cur.Current) }); err != nil {
			return s.streamError(ctx, err, op, coll)
		}
		if cur.RemainingBatchLength() == 0 {
			if err := out.Flush(); err != nil {
				return s.streamError(ctx, err, op, coll)
			}
		}
	}
	if err := cur.Err(); err != nil {
		return s.wrap(ctx, err, op, coll)
	}
	return nil
}

// streamError classifies a failure to write a stream to the caller.
func (s *store) streamError(ctx context.Context, err error, op, coll string) error {
	return sdk.BlobStreamError(ctx, err, s.res.typ+" "+op+" "+strconv.Quote(coll)+": sending the documents")
}

func (s *store) FindDocuments(ctx context.Context, a sdk.DocFindArgs, out *sdk.DocumentWriter) error {
	f, err := filter(a.Filter)
	if err != nil {
		return err
	}
	o := options.Find()
	if err := setFindOptions(a.Projection, a.Sort, a.Hint, o.SetProjection, o.SetSort, o.SetHint); err != nil {
		return err
	}
	if a.Skip > 0 {
		o.SetSkip(a.Skip)
	}
	if a.Limit > 0 {
		o.SetLimit(a.Limit)
	}
	if a.BatchSize > 0 {
		o.SetBatchSize(a.BatchSize)
	}
	cur, err := s.coll(a.Collection).Find(s.within(ctx), f, o)
	if err != nil {
		return s.wrap(ctx, err, "find", a.Collection)
	}
	return s.drain(ctx, cur, out, "find", a.Collection)
}

// setFindOptions parses the projection, the sort and the hint, and sets
// those that are given.
func setFindOptions[O any](projection, sort, hintRaw json.RawMessage, setProjection, setSort func(any) O, setHint func(any) O) error {
	p, err := document("projection", projection)
	if err != nil {
		return err
	}
	srt, err := document("sort", sort)
	if err != nil {
		return err
	}
	h, err := hint(hintRaw)
	if err != nil {
		return err
	}
	if p != nil && setProjection != nil {
		setProjection(p)
	}
	if srt != nil && setSort != nil {
		setSort(srt)
	}
	if h != nil && setHint != nil {
		setHint(h)
	}
	return nil
}

func (s *store) AggregateDocuments(ctx context.Context, a sdk.DocAggregateArgs, out *sdk.DocumentWriter) error {
	pipeline, err := documents("pipeline", a.Pipeline)
	if err != nil {
		return err
	}
	o := options.Aggregate()
	if a.AllowDiskUse {
		o.SetAllowDiskUse(true)
	}
	if a.BatchSize > 0 {
		o.SetBatchSize(a.BatchSize)
	}
	h, err := hint(a.Hint)
	if err != nil {
		return err
	}
	if h != nil {
		o.SetHint(h)
	}
	cur, err := s.coll(a.Collection).Aggregate(s.within(ctx), pipeline, o)
	if err != nil {
		return s.wrap(ctx, err, "aggregate", a.Collection)
	}
	return s.drain(ctx, cur, out, "aggregate", a.Collection)
}

func (s *store) FindOneDocument(ctx context.Context, a sdk.DocFindOneArgs) (sdk.DocFindOneResult, error) {
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocFindOneResult{}, err
	}
	o := options.FindOne()
	if err := setFindOptions(a.Projection, a.Sort, a.Hint, o.SetProjection, o.SetSort, o.SetHint); err != nil {
		return sdk.DocFindOneResult{}, err
	}
	if a.Skip > 0 {
		o.SetSkip(a.Skip)
	}
	return s.oneResult(ctx, s.coll(a.Collection).FindOne(s.within(ctx), f, o), "find_one", a.Collection)
}

// oneResult is the document a single result holds, or none.
func (s *store) oneResult(ctx context.Context, r *mongo.SingleResult, op, coll string) (sdk.DocFindOneResult, error) {
	raw, err := r.Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return sdk.DocFindOneResult{Document: json.RawMessage("null")}, nil
	case err != nil:
		return sdk.DocFindOneResult{}, s.wrapWrite(ctx, err, op, coll, nil) // find_and_modify writes
	}
	doc, err := extJSON(raw)
	if err != nil {
		return sdk.DocFindOneResult{}, err
	}
	return sdk.DocFindOneResult{Document: doc, Found: true}, nil
}

func (s *store) CountDocuments(ctx context.Context, a sdk.DocCountArgs) (sdk.DocCountResult, error) {
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocCountResult{}, err
	}
	o := options.Count()
	if a.Skip > 0 {
		o.SetSkip(a.Skip)
	}
	if a.Limit > 0 {
		o.SetLimit(a.Limit)
	}
	h, err := hint(a.Hint)
	if err != nil {
		return sdk.DocCountResult{}, err
	}
	if h != nil {
		o.SetHint(h)
	}
	n, err := s.coll(a.Collection).CountDocuments(s.within(ctx), f, o)
	if err != nil {
		return sdk.DocCountResult{}, s.wrap(ctx, err, "count", a.Collection)
	}
	return sdk.DocCountResult{Count: n}, nil
}

func (s *store) DistinctValues(ctx context.Context, a sdk.DocDistinctArgs) (sdk.DocDistinctResult, error) {
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocDistinctResult{}, err
	}
	arr, err := s.coll(a.Collection).Distinct(s.within(ctx), a.Field, f).Raw()
	if err != nil && maxTimeMSRefused(err) {
		// The driver sends maxTimeMS, the call's deadline, with every
		// command when the call has one, and FerretDB v1 refuses it in a
		// distinct ("unknown field") and performs none: ask
		// again without the deadline, still ended when ctx is.
		nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, cancel)
		arr, err = s.coll(a.Collection).Distinct(s.within(nctx), a.Field, f).Raw()
		stop()
		cancel()
	}
	if err != nil {
		return sdk.DocDistinctResult{}, s.wrap(ctx, err, "distinct", a.Collection)
	}
	values, err := valueJSON(bson.RawValue{Type: bson.TypeArray, Value: arr})
	if err != nil {
		return sdk.DocDistinctResult{}, err
	}
	return sdk.DocDistinctResult{Values: values}, nil
}

// maxTimeMSRefused reports a server refusing the field maxTimeMS of a
// command (FerretDB v1's distinct: FailedToParse, unknown field
// "maxTimeMS").
func maxTimeMSRefused(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 9 && strings.Contains(ce.Message, `"maxTimeMS"`)
}

// withID returns a document with an _id, made (an ObjectId, first, as the
// driver would) when it has none, and the _id.
func withID(doc bson.Raw) (bson.Raw, bson.RawValue) {
	if v, err := doc.LookupErr("_id"); err == nil {
		return doc, v
	}
	id := bson.NewObjectID()
	idx, b := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)+17))
	b = bsoncore.AppendObjectIDElement(b, "_id", id)
	b = append(b, doc[4:len(doc)-1]...)
	b, _ = bsoncore.AppendDocumentEnd(b, idx)
	return b, bson.RawValue{Type: bson.TypeObjectID, Value: id[:]}
}

func (s *store) InsertOneDocument(ctx context.Context, a sdk.DocInsertOneArgs) (sdk.DocInsertOneResult, error) {
	doc, err := document("document", a.Document)
	if err != nil {
		return sdk.DocInsertOneResult{}, err
	}
	doc, id := withID(doc)
	if _, err := s.coll(a.Collection).InsertOne(s.within(ctx), doc); err != nil {
		return sdk.DocInsertOneResult{}, s.wrapWrite(ctx, err, "insert_one", a.Collection, func(int) bson.Raw { return doc })
	}
	idJSON, err := valueJSON(id)
	return sdk.DocInsertOneResult{InsertedID: idJSON}, err
}

func (s *store) InsertDocuments(ctx context.Context, a sdk.DocInsertManyArgs) (sdk.DocInsertManyResult, error) {
	docs, err := documents("documents", a.Documents)
	if err != nil {
		return sdk.DocInsertManyResult{}, err
	}
	ids := make([]json.RawMessage, len(docs))
	for i := range docs {
		var id bson.RawValue
		docs[i], id = withID(docs[i])
		if ids[i], err = valueJSON(id); err != nil {
			return sdk.DocInsertManyResult{}, err
		}
	}
	if _, err := s.coll(a.Collection).InsertMany(s.within(ctx), docs, options.InsertMany().SetOrdered(a.Ordered)); err != nil {
		return sdk.DocInsertManyResult{}, s.wrapWrite(ctx, err, "insert_many", a.Collection, func(i int) bson.Raw { return at(docs, i) })
	}
	return sdk.DocInsertManyResult{InsertedIDs: ids}, nil
}

// arrayFilters parses array_filters.
func arrayFilters(raws []json.RawMessage) ([]any, error) {
	docs, err := documents("array_filters", raws)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out, nil
}

func (s *store) UpdateDocuments(ctx context.Context, a sdk.DocUpdateArgs, many bool) (sdk.DocUpdateResult, error) {
	op := "update_one"
	if many {
		op = "update_many"
	}
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	u, err := update("update", a.Update)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	af, err := arrayFilters(a.ArrayFilters)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	h, err := hint(a.Hint)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	var res *mongo.UpdateResult
	if many {
		o := options.UpdateMany().SetUpsert(a.Upsert)
		if len(af) > 0 {
			o.SetArrayFilters(af)
		}
		if h != nil {
			o.SetHint(h)
		}
		res, err = s.coll(a.Collection).UpdateMany(s.within(ctx), f, u, o)
	} else {
		o := options.UpdateOne().SetUpsert(a.Upsert)
		if len(af) > 0 {
			o.SetArrayFilters(af)
		}
		if h != nil {
			o.SetHint(h)
		}
		res, err = s.coll(a.Collection).UpdateOne(s.within(ctx), f, u, o)
	}
	if err != nil {
		return sdk.DocUpdateResult{}, s.wrapWrite(ctx, err, op, a.Collection, nil)
	}
	return updateResult(res)
}

// updateResult converts the driver's result of an update or a
// replacement.
func updateResult(res *mongo.UpdateResult) (sdk.DocUpdateResult, error) {
	out := sdk.DocUpdateResult{Matched: res.MatchedCount, Modified: res.ModifiedCount, Upserted: res.UpsertedCount}
	if res.UpsertedID != nil {
		id, err := anyJSON(res.UpsertedID)
		if err != nil {
			return out, err
		}
		out.UpsertedID = id
	}
	return out, nil
}

func (s *store) ReplaceDocument(ctx context.Context, a sdk.DocReplaceArgs) (sdk.DocUpdateResult, error) {
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	doc, err := document("replacement", a.Replacement)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	o := options.Replace().SetUpsert(a.Upsert)
	h, err := hint(a.Hint)
	if err != nil {
		return sdk.DocUpdateResult{}, err
	}
	if h != nil {
		o.SetHint(h)
	}
	res, err := s.coll(a.Collection).ReplaceOne(s.within(ctx), f, doc, o)
	if err != nil {
		return sdk.DocUpdateResult{}, s.wrapWrite(ctx, err, "replace_one", a.Collection, func(int) bson.Raw { return doc })
	}
	return updateResult(res)
}

func (s *store) DeleteDocuments(ctx context.Context, a sdk.DocDeleteArgs, many bool) (sdk.DocDeleteResult, error) {
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocDeleteResult{}, err
	}
	h, err := hint(a.Hint)
	if err != nil {
		return sdk.DocDeleteResult{}, err
	}
	var res *mongo.DeleteResult
	op := "delete_one"
	if many {
		op = "delete_many"
		o := options.DeleteMany()
		if h != nil {
			o.SetHint(h)
		}
		res, err = s.coll(a.Collection).DeleteMany(s.within(ctx), f, o)
	} else {
		o := options.DeleteOne()
		if h != nil {
			o.SetHint(h)
		}
		res, err = s.coll(a.Collection).DeleteOne(s.within(ctx), f, o)
	}
	if err != nil {
		return sdk.DocDeleteResult{}, s.wrap(ctx, err, op, a.Collection)
	}
	return sdk.DocDeleteResult{Deleted: res.DeletedCount}, nil
}

func (s *store) FindAndModifyDocument(ctx context.Context, a sdk.DocFindAndModifyArgs) (sdk.DocFindOneResult, error) {
	f, err := filter(a.Filter)
	if err != nil {
		return sdk.DocFindOneResult{}, err
	}
	after := options.Before
	if a.Return == "after" {
		after = options.After
	}
	coll, ctxIn := s.coll(a.Collection), s.within(ctx)
	var r *mongo.SingleResult
	switch {
	case a.Remove:
		o := options.FindOneAndDelete()
		if err := setFindOptions(a.Projection, a.Sort, a.Hint, o.SetProjection, o.SetSort, o.SetHint); err != nil {
			return sdk.DocFindOneResult{}, err
		}
		r = coll.FindOneAndDelete(ctxIn, f, o)
	case len(a.Replacement) > 0:
		doc, err := document("replacement", a.Replacement)
		if err != nil {
			return sdk.DocFindOneResult{}, err
		}
		o := options.FindOneAndReplace().SetUpsert(a.Upsert).SetReturnDocument(after)
		if err := setFindOptions(a.Projection, a.Sort, a.Hint, o.SetProjection, o.SetSort, o.SetHint); err != nil {
			return sdk.DocFindOneResult{}, err
		}
		r = coll.FindOneAndReplace(ctxIn, f, doc, o)
	default:
		u, err := update("update", a.Update)
		if err != nil {
			return sdk.DocFindOneResult{}, err
		}
		af, err := arrayFilters(a.ArrayFilters)
		if err != nil {
			return sdk.DocFindOneResult{}, err
		}
		o := options.FindOneAndUpdate().SetUpsert(a.Upsert).SetReturnDocument(after)
		if len(af) > 0 {
			o.SetArrayFilters(af)
		}
		if err := setFindOptions(a.Projection, a.Sort, a.Hint, o.SetProjection, o.SetSort, o.SetHint); err != nil {
			return sdk.DocFindOneResult{}, err
		}
		r = coll.FindOneAndUpdate(ctxIn, f, u, o)
	}
	return s.oneResult(ctx, r, "find_and_modify", a.Collection)
}

func (s *store) BulkWriteDocuments(ctx context.Context, collection string, writes []sdk.DocBulkWrite, ordered bool) (sdk.DocBulkWriteResult, error) {
	models := make([]mongo.WriteModel, len(writes))
	ops := make([]sdk.DocBulkOperation, len(writes))
	docs := make([]bson.Raw, len(writes)) // what each insert stores
	for i, w := range writes {
		m, id, err := writeModel(w)
		if err != nil {
			return sdk.DocBulkWriteResult{}, sdk.WrapError(sdk.KindInvalidArgument, err, "operations["+strconv.Itoa(i)+"] ("+w.Kind+")")
		}
		models[i], ops[i] = m, sdk.DocBulkOperation{Index: i, Kind: w.Kind, InsertedID: id}
		if in, ok := m.(*mongo.InsertOneModel); ok {
			docs[i], _ = in.Document.(bson.Raw)
		}
	}
	res, err := s.coll(collection).BulkWrite(s.within(ctx), models, options.BulkWrite().SetOrdered(ordered))
	if err != nil {
		return sdk.DocBulkWriteResult{}, s.wrapWrite(ctx, err, "bulk_write", collection, func(i int) bson.Raw { return at(docs, i) })
	}
	out := sdk.DocBulkWriteResult{
		Inserted: res.InsertedCount, Matched: res.MatchedCount, Modified: res.ModifiedCount,
		Deleted: res.DeletedCount, Upserted: res.UpsertedCount, Operations: ops,
	}
	for i, id := range upsertedIDs(writes, res.UpsertedIDs) {
		if ops[i].UpsertedID, err = anyJSON(id); err != nil {
			return sdk.DocBulkWriteResult{}, err
		}
	}
	return out, nil
}

// at is docs[i], or nil when i is out of range.
func at(docs []bson.Raw, i int) bson.Raw {
	if i < 0 || i >= len(docs) {
		return nil
	}
	return docs[i]
}

// upsertedIDs places the _ids of bulk_write's upserts on their writes: at
// the index the server reported for each, which must be a write that may
// upsert (an update or a replacement with upsert). FerretDB v1 reports
// instead each upsert's rank among the upserts of its batch (0 for the
// first), so that the driver puts an _id on the wrong write, one that may
// not even upsert: when an index falls on such a write, the indexes are
// not trusted, and the _ids go, in their order, to the writes that may
// upsert when there are as many of those as _ids (each of them upserted);
// else to none (the totals still count them) rather than to the wrong
// writes. (When every index falls on a write that may upsert, FerretDB's
// may still be wrong, which nothing here can tell.)
func upsertedIDs(writes []sdk.DocBulkWrite, reported map[int64]any) map[int]any {
	out := make(map[int]any, len(reported))
	for i, id := range reported {
		if i < 0 || int(i) >= len(writes) || !writes[i].Upsert {
			out = nil
			break
		}
		out[int(i)] = id
	}
	if out != nil {
		return out
	}
	var upserts []int // the writes that may upsert; Upsert is set on no other
	for i, w := range writes {
		if w.Upsert {
			upserts = append(upserts, i)
		}
	}
	out = make(map[int]any, len(reported))
	if len(upserts) == len(reported) {
		for n, i := range slices.Sorted(maps.Keys(reported)) {
			out[upserts[n]] = reported[i]
		}
	}
	return out
}

// writeModel is the driver's model of one write of bulk_write, and the
// _id of an insert.
func writeModel(w sdk.DocBulkWrite) (mongo.WriteModel, json.RawMessage, error) {
	h, err := hint(w.Hint)
	if err != nil {
		return nil, nil, err
	}
	var f bson.Raw
	if w.Kind != sdk.DocInsertOne {
		if f, err = filter(w.Filter); err != nil {
			return nil, nil, err
		}
	}
	switch w.Kind {
	case sdk.DocInsertOne:
		doc, err := document("document", w.Document)
		if err != nil {
			return nil, nil, err
		}
		doc, id := withID(doc)
		idJSON, err := valueJSON(id)
		return mongo.NewInsertOneModel().SetDocument(doc), idJSON, err
	case sdk.DocUpdateOne, sdk.DocUpdateMany:
		u, err := update("update", w.Update)
		if err != nil {
			return nil, nil, err
		}
		af, err := arrayFilters(w.ArrayFilters)
		if err != nil {
			return nil, nil, err
		}
		if w.Kind == sdk.DocUpdateOne {
			m := mongo.NewUpdateOneModel().SetFilter(f).SetUpdate(u).SetUpsert(w.Upsert)
			if len(af) > 0 {
				m.SetArrayFilters(af)
			}
			if h != nil {
				m.SetHint(h)
			}
			return m, nil, nil
		}
		m := mongo.NewUpdateManyModel().SetFilter(f).SetUpdate(u).SetUpsert(w.Upsert)
		if len(af) > 0 {
			m.SetArrayFilters(af)
		}
		if h != nil {
			m.SetHint(h)
		}
		return m, nil, nil
	case sdk.DocReplaceOne:
		doc, err := document("replacement", w.Replacement)
		if err != nil {
			return nil, nil, err
		}
		m := mongo.NewReplaceOneModel().SetFilter(f).SetReplacement(doc).SetUpsert(w.Upsert)
		if h != nil {
			m.SetHint(h)
		}
		return m, nil, nil
	case sdk.DocDeleteOne:
		m := mongo.NewDeleteOneModel().SetFilter(f)
		if h != nil {
			m.SetHint(h)
		}
		return m, nil, nil
	default: // sdk.DocDeleteMany: the SDK refused any other kind
		m := mongo.NewDeleteManyModel().SetFilter(f)
		if h != nil {
			m.SetHint(h)
		}
		return m, nil, nil
	}
}

func (s *store) CreateIndex(ctx context.Context, a sdk.DocCreateIndexArgs) (sdk.DocIndexResult, error) {
	keys, err := document("keys", a.Keys)
	if err != nil {
		return sdk.DocIndexResult{}, err
	}
	o := options.Index()
	if a.Name != "" {
		o.SetName(a.Name)
	}
	if a.Unique {
		o.SetUnique(true)
	}
	if a.Sparse {
		o.SetSparse(true)
	}
	if a.ExpireAfter > 0 {
		o.SetExpireAfterSeconds(int32(a.ExpireAfter / time.Second))
	}
	pf, err := document("partial_filter", a.PartialFilter)
	if err != nil {
		return sdk.DocIndexResult{}, err
	}
	if pf != nil {
		o.SetPartialFilterExpression(pf)
	}
	name, err := s.coll(a.Collection).Indexes().CreateOne(s.within(ctx), mongo.IndexModel{Keys: keys, Options: o})
	if err != nil {
		return sdk.DocIndexResult{}, s.wrap(ctx, err, "create_index", a.Collection)
	}
	return sdk.DocIndexResult{Name: name}, nil
}

func (s *store) ListIndexes(ctx context.Context, collection string) (sdk.DocIndexesResult, error) {
	cur, err := s.coll(collection).Indexes().List(s.within(ctx))
	if err != nil {
		return sdk.DocIndexesResult{}, s.wrap(ctx, err, "list_indexes", collection)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := sdk.DocIndexesResult{Indexes: []sdk.DocIndex{}}
	for cur.Next(ctx) {
		spec, err := extJSON(cur.Current)
		if err != nil {
			return sdk.DocIndexesResult{}, err
		}
		ix := sdk.DocIndex{Spec: spec}
		ix.Name, _ = cur.Current.Lookup("name").StringValueOK()
		ix.Unique, _ = cur.Current.Lookup("unique").BooleanOK()
		if keys, ok := cur.Current.Lookup("key").DocumentOK(); ok {
			if ix.Keys, err = extJSON(keys); err != nil {
				return sdk.DocIndexesResult{}, err
			}
		}
		out.Indexes = append(out.Indexes, ix)
	}
	if err := cur.Err(); err != nil {
		return sdk.DocIndexesResult{}, s.wrap(ctx, err, "list_indexes", collection)
	}
	return out, nil
}

func (s *store) DropIndex(ctx context.Context, collection, name string) error {
	if err := s.coll(collection).Indexes().DropOne(s.within(ctx), name); err != nil {
		return s.wrap(ctx, err, "drop_index", collection)
	}
	return nil
}

// commandArgs are the arguments of command.
type commandArgs struct {
	Command json.RawMessage `nebula:"command,required" doc:"The command, an Extended JSON object whose first key names it, such as {\"collStats\": \"orders\"}."`
}

// commandResult is command's result: the server's reply.
type commandResult struct {
	Reply json.RawMessage `json:"reply"`
}

// runCommand runs a database command.
func (s *store) runCommand(ctx context.Context, a commandArgs) (commandResult, error) {
	cmd, err := document("command", a.Command)
	if err != nil {
		return commandResult{}, err
	}
	if len(cmd) <= 5 { // unset, or {}
		return commandResult{}, sdk.Errorf(sdk.KindInvalidArgument, "command must name a command: an object such as {\"ping\": 1}")
	}
	name := cmd.Index(0).Key()
	raw, err := s.db.RunCommand(s.within(ctx), cmd).Raw()
	if err != nil {
		return commandResult{}, s.wrap(ctx, err, "command", name)
	}
	reply, err := extJSON(raw)
	return commandResult{Reply: reply}, err
}
