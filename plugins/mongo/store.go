package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
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
		return sdk.DocFindOneResult{}, s.wrap(ctx, err, op, coll)
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
	if err != nil {
		return sdk.DocDistinctResult{}, s.wrap(ctx, err, "distinct", a.Collection)
	}
	values, err := valueJSON(bson.RawValue{Type: bson.TypeArray, Value: arr})
	if err != nil {
		return sdk.DocDistinctResult{}, err
	}
	return sdk.DocDistinctResult{Values: values}, nil
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
		return sdk.DocInsertOneResult{}, s.wrap(ctx, err, "insert_one", a.Collection)
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
		return sdk.DocInsertManyResult{}, s.wrap(ctx, err, "insert_many", a.Collection)
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
		return sdk.DocUpdateResult{}, s.wrap(ctx, err, op, a.Collection)
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
		return sdk.DocUpdateResult{}, s.wrap(ctx, err, "replace_one", a.Collection)
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
	for i, w := range writes {
		m, id, err := writeModel(w)
		if err != nil {
			return sdk.DocBulkWriteResult{}, sdk.WrapError(sdk.KindInvalidArgument, err, "operations["+strconv.Itoa(i)+"] ("+w.Kind+")")
		}
		models[i], ops[i] = m, sdk.DocBulkOperation{Index: i, Kind: w.Kind, InsertedID: id}
	}
	res, err := s.coll(collection).BulkWrite(s.within(ctx), models, options.BulkWrite().SetOrdered(ordered))
	if err != nil {
		return sdk.DocBulkWriteResult{}, s.wrap(ctx, err, "bulk_write", collection)
	}
	out := sdk.DocBulkWriteResult{
		Inserted: res.InsertedCount, Matched: res.MatchedCount, Modified: res.ModifiedCount,
		Deleted: res.DeletedCount, Upserted: res.UpsertedCount, Operations: ops,
	}
	for i, id := range res.UpsertedIDs {
		if i < 0 || int(i) >= len(ops) {
			continue
		}
		if ops[i].UpsertedID, err = anyJSON(id); err != nil {
			return sdk.DocBulkWriteResult{}, err
		}
	}
	return out, nil
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
	if cmd == nil || len(cmd) <= 5 {
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
