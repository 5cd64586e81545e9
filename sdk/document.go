package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// The document capability: collections of documents (MongoDB, or a server
// of its wire protocol). A resource type that lists CapabilityDocument
// offers the operations of DocumentOperations with exactly these names,
// arguments and results; a driver builds them with [DocumentOps] from its
// [DocumentStore], and may offer more operations besides.
//
// The model:
//
//   - Documents, filters, projections, sorts, updates, pipelines and
//     index keys travel as MongoDB Extended JSON v2
//     (https://www.mongodb.com/docs/manual/reference/mongodb-extended-json/),
//     in arguments of type json ([JSON]): a caller may send the canonical
//     or the relaxed form, and the key order is kept (a sort's, an index's
//     keys'). Results are always canonical Extended JSON, so that every
//     value keeps its BSON type on its way back: an int32 is
//     {"$numberInt":"7"} and an int64 {"$numberLong":"7"}, an ObjectId
//     {"$oid":"..."}, a date {"$date":{"$numberLong":"..."}}, a
//     Decimal128 {"$numberDecimal":"..."}, binary data
//     {"$binary":{"base64":"...","subType":"00"}}. A document read back
//     is the document written, byte for byte in that form.
//   - find and aggregate stream their documents (StreamDownload), one
//     canonical Extended JSON document per line, in batches as the server
//     returns them: a result set of any size passes through the plugin and
//     the host in bounded memory. Their result, after the stream, counts
//     the documents sent.
//   - Reads are idempotent and the host's retry policy may repeat them.
//     Writes are not, unless the call says so with "idempotent": true (a
//     write whose repetition changes nothing, such as an update that sets
//     fields to values or an insert with its own _id that a retry would
//     refuse as a duplicate): see [IdempotentArg].
const CapabilityDocument = "document"

// Arguments of the document operations. Every operation names its
// collection; a filter that is unset matches every document.
type (
	// DocFindArgs are the arguments of find.
	DocFindArgs struct {
		Collection string          `nebula:"collection,required" doc:"The collection."`
		Filter     json.RawMessage `nebula:"filter" doc:"The query filter, an Extended JSON object; unset matches every document."`
		Projection json.RawMessage `nebula:"projection" doc:"Which fields to return, an Extended JSON object such as {\"total\": 1}."`
		Sort       json.RawMessage `nebula:"sort" doc:"The order, an Extended JSON object of fields to 1 or -1, in the order given."`
		Skip       int64           `nebula:"skip" default:"0" doc:"How many matching documents to skip."`
		Limit      int64           `nebula:"limit" default:"0" doc:"The most documents to return; 0 for all."`
		Hint       json.RawMessage `nebula:"hint" doc:"The index to use: its name as a string, or its keys as an object."`
		BatchSize  int32           `nebula:"batch_size" default:"0" doc:"How many documents the server sends per batch; 0 for its default."`
	}
	// DocFindOneArgs are the arguments of find_one.
	DocFindOneArgs struct {
		Collection string          `nebula:"collection,required" doc:"The collection."`
		Filter     json.RawMessage `nebula:"filter" doc:"The query filter, an Extended JSON object; unset matches every document."`
		Projection json.RawMessage `nebula:"projection" doc:"Which fields to return."`
		Sort       json.RawMessage `nebula:"sort" doc:"The order, when several documents match: the first is returned."`
		Skip       int64           `nebula:"skip" default:"0" doc:"How many matching documents to skip."`
		Hint       json.RawMessage `nebula:"hint" doc:"The index to use: its name, or its keys."`
	}
	// DocCountArgs are the arguments of count.
	DocCountArgs struct {
		Collection string          `nebula:"collection,required" doc:"The collection."`
		Filter     json.RawMessage `nebula:"filter" doc:"The query filter; unset counts every document."`
		Skip       int64           `nebula:"skip" default:"0" doc:"How many matching documents to skip before counting."`
		Limit      int64           `nebula:"limit" default:"0" doc:"The most documents to count; 0 for no limit."`
		Hint       json.RawMessage `nebula:"hint" doc:"The index to use: its name, or its keys."`
	}
	// DocDistinctArgs are the arguments of distinct.
	DocDistinctArgs struct {
		Collection string          `nebula:"collection,required" doc:"The collection."`
		Field      string          `nebula:"field,required" doc:"The field whose distinct values to return (dotted for an embedded one)."`
		Filter     json.RawMessage `nebula:"filter" doc:"The query filter; unset considers every document."`
	}
	// DocAggregateArgs are the arguments of aggregate.
	DocAggregateArgs struct {
		Collection   string            `nebula:"collection,required" doc:"The collection."`
		Pipeline     []json.RawMessage `nebula:"pipeline,required" doc:"The stages, each an Extended JSON object such as {\"$match\": {...}}."`
		AllowDiskUse bool              `nebula:"allow_disk_use" default:"false" doc:"Lets stages that need much memory write temporary files."`
		Hint         json.RawMessage   `nebula:"hint" doc:"The index to use: its name, or its keys."`
		BatchSize    int32             `nebula:"batch_size" default:"0" doc:"How many documents the server sends per batch; 0 for its default."`
	}
	// DocInsertOneArgs are the arguments of insert_one.
	DocInsertOneArgs struct {
		Collection string          `nebula:"collection,required" doc:"The collection."`
		Document   json.RawMessage `nebula:"document,required" doc:"The document, an Extended JSON object; without an _id, one is made (an ObjectId)."`
		Idempotent bool            `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry: true when the document carries its own _id, so that a repeated insert is refused as a duplicate rather than stored twice."`
	}
	// DocInsertManyArgs are the arguments of insert_many.
	DocInsertManyArgs struct {
		Collection string            `nebula:"collection,required" doc:"The collection."`
		Documents  []json.RawMessage `nebula:"documents,required" doc:"The documents, at least one; those without an _id get one."`
		Ordered    bool              `nebula:"ordered" default:"true" doc:"true stops at the first document that fails; false inserts every other one and reports each failure."`
		Idempotent bool              `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry (every document with its own _id)."`
	}
	// DocUpdateArgs are the arguments of update_one and update_many.
	DocUpdateArgs struct {
		Collection   string            `nebula:"collection,required" doc:"The collection."`
		Filter       json.RawMessage   `nebula:"filter,required" doc:"Which documents to update; {} for every one."`
		Update       json.RawMessage   `nebula:"update,required" doc:"The update: an object of update operators ({\"$set\": {...}}), or a list of aggregation stages."`
		Upsert       bool              `nebula:"upsert" default:"false" doc:"Inserts a document made of the filter and the update when none matches."`
		ArrayFilters []json.RawMessage `nebula:"array_filters" doc:"The filters that say which array elements an update's $[identifier] changes."`
		Hint         json.RawMessage   `nebula:"hint" doc:"The index to use: its name, or its keys."`
		Idempotent   bool              `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry: true when applying the update twice gives what applying it once does ($set, not $inc or $push)."`
	}
	// DocReplaceArgs are the arguments of replace_one.
	DocReplaceArgs struct {
		Collection  string          `nebula:"collection,required" doc:"The collection."`
		Filter      json.RawMessage `nebula:"filter,required" doc:"Which document to replace."`
		Replacement json.RawMessage `nebula:"replacement,required" doc:"The new document, without update operators; it keeps the old one's _id."`
		Upsert      bool            `nebula:"upsert" default:"false" doc:"Inserts the replacement when no document matches."`
		Hint        json.RawMessage `nebula:"hint" doc:"The index to use: its name, or its keys."`
		Idempotent  bool            `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry (a replacement is, unless another writer races it)."`
	}
	// DocDeleteArgs are the arguments of delete_one and delete_many.
	DocDeleteArgs struct {
		Collection string          `nebula:"collection,required" doc:"The collection."`
		Filter     json.RawMessage `nebula:"filter,required" doc:"Which documents to delete; {} for every one."`
		Hint       json.RawMessage `nebula:"hint" doc:"The index to use: its name, or its keys."`
		Idempotent bool            `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry (delete_many is; delete_one is when the filter matches one document at most)."`
	}
	// DocFindAndModifyArgs are the arguments of find_and_modify: exactly
	// one of update, replacement and remove.
	DocFindAndModifyArgs struct {
		Collection   string            `nebula:"collection,required" doc:"The collection."`
		Filter       json.RawMessage   `nebula:"filter" doc:"Which document; unset for any."`
		Sort         json.RawMessage   `nebula:"sort" doc:"The order, when several documents match: the first is modified."`
		Projection   json.RawMessage   `nebula:"projection" doc:"Which fields of the document to return."`
		Update       json.RawMessage   `nebula:"update" doc:"An update, as update_one's."`
		Replacement  json.RawMessage   `nebula:"replacement" doc:"A replacement, as replace_one's."`
		Remove       bool              `nebula:"remove" default:"false" doc:"Deletes the document instead."`
		Upsert       bool              `nebula:"upsert" default:"false" doc:"With update or replacement: inserts when none matches."`
		Return       string            `nebula:"return" default:"before" doc:"\"before\" returns the document as it was; \"after\" as it is after the update or replacement."`
		ArrayFilters []json.RawMessage `nebula:"array_filters" doc:"As update_one's."`
		Hint         json.RawMessage   `nebula:"hint" doc:"The index to use: its name, or its keys."`
		Idempotent   bool              `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry."`
	}
	// DocBulkWriteArgs are the arguments of bulk_write. Each operation is
	// an object with one key, the kind of write, whose value holds that
	// write's arguments without the collection: {"insert_one":
	// {"document": {...}}}, {"update_one": {"filter": ..., "update": ...,
	// "upsert": true}}, update_many, replace_one, delete_one, delete_many.
	DocBulkWriteArgs struct {
		Collection string            `nebula:"collection,required" doc:"The collection."`
		Operations []json.RawMessage `nebula:"operations,required" doc:"The writes, in order: each {\"insert_one\"|\"update_one\"|\"update_many\"|\"replace_one\"|\"delete_one\"|\"delete_many\": {arguments}}."`
		Ordered    bool              `nebula:"ordered" default:"true" doc:"true stops at the first write that fails; false performs every other one and reports each failure."`
		Idempotent bool              `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry."`
	}
	// DocCreateIndexArgs are the arguments of create_index.
	DocCreateIndexArgs struct {
		Collection    string          `nebula:"collection,required" doc:"The collection."`
		Keys          json.RawMessage `nebula:"keys,required" doc:"The indexed fields, in order, each to 1, -1 or a kind such as \"text\"."`
		Name          string          `nebula:"name" default:"" doc:"The index's name; \"\" lets the server make one from the keys."`
		Unique        bool            `nebula:"unique" default:"false" doc:"Refuses two documents with the same keys."`
		Sparse        bool            `nebula:"sparse" default:"false" doc:"Leaves out documents without the indexed fields."`
		ExpireAfter   time.Duration   `nebula:"expire_after" default:"0s" doc:"With a date field: removes documents this long after their date; 0s for never."`
		PartialFilter json.RawMessage `nebula:"partial_filter" doc:"Indexes only the documents that match this filter."`
	}
	// DocListIndexesArgs are the arguments of list_indexes.
	DocListIndexesArgs struct {
		Collection string `nebula:"collection,required" doc:"The collection."`
	}
	// DocDropIndexArgs are the arguments of drop_index.
	DocDropIndexArgs struct {
		Collection string `nebula:"collection,required" doc:"The collection."`
		Name       string `nebula:"name,required" doc:"The index's name."`
	}
)

// Results of the document operations, as JSON. Documents and values are
// canonical Extended JSON.
type (
	// DocStreamResult is the result of find and aggregate, after their
	// stream: how many documents it carried.
	DocStreamResult struct {
		Count int64 `json:"count"`
	}
	// DocFindOneResult is the result of find_one and find_and_modify:
	// Found is false, and Document null, when no document matched.
	DocFindOneResult struct {
		Document json.RawMessage `json:"document"`
		Found    bool            `json:"found"`
	}
	// DocCountResult is count's result.
	DocCountResult struct {
		Count int64 `json:"count"`
	}
	// DocDistinctResult is distinct's result: the values, an Extended
	// JSON array.
	DocDistinctResult struct {
		Values json.RawMessage `json:"values"`
	}
	// DocInsertOneResult is insert_one's result: the _id of the document.
	DocInsertOneResult struct {
		InsertedID json.RawMessage `json:"inserted_id"`
	}
	// DocInsertManyResult is insert_many's result: the _ids of the
	// documents inserted, in the order given.
	DocInsertManyResult struct {
		InsertedIDs []json.RawMessage `json:"inserted_ids"`
	}
	// DocUpdateResult is the result of update_one, update_many and
	// replace_one.
	DocUpdateResult struct {
		Matched    int64           `json:"matched"`
		Modified   int64           `json:"modified"`
		Upserted   int64           `json:"upserted"`
		UpsertedID json.RawMessage `json:"upserted_id,omitempty"`
	}
	// DocDeleteResult is the result of delete_one and delete_many.
	DocDeleteResult struct {
		Deleted int64 `json:"deleted"`
	}
	// DocBulkWriteResult is bulk_write's result: the totals, and one entry
	// per operation, in the order given, for those that were performed.
	DocBulkWriteResult struct {
		Inserted   int64              `json:"inserted"`
		Matched    int64              `json:"matched"`
		Modified   int64              `json:"modified"`
		Deleted    int64              `json:"deleted"`
		Upserted   int64              `json:"upserted"`
		Operations []DocBulkOperation `json:"operations"`
	}
	// DocBulkOperation is what bulk_write reports of one of its
	// operations: its index and kind; the _id an insert stored or an
	// upsert made.
	DocBulkOperation struct {
		Index      int             `json:"index"`
		Kind       string          `json:"kind"`
		InsertedID json.RawMessage `json:"inserted_id,omitempty"`
		UpsertedID json.RawMessage `json:"upserted_id,omitempty"`
	}
	// DocIndex is an index, as list_indexes returns it.
	DocIndex struct {
		Name   string          `json:"name"`
		Keys   json.RawMessage `json:"keys"`
		Unique bool            `json:"unique,omitempty"`
		// Spec is the whole specification the server reports.
		Spec json.RawMessage `json:"spec"`
	}
	// DocIndexesResult is list_indexes's result.
	DocIndexesResult struct {
		Indexes []DocIndex `json:"indexes"`
	}
	// DocIndexResult is create_index's result: the index's name.
	DocIndexResult struct {
		Name string `json:"name"`
	}
	// DocDropResult is drop_index's result.
	DocDropResult struct {
		OK bool `json:"ok"`
	}
)

// The kinds of write of bulk_write's operations.
const (
	DocInsertOne  = "insert_one"
	DocUpdateOne  = "update_one"
	DocUpdateMany = "update_many"
	DocReplaceOne = "replace_one"
	DocDeleteOne  = "delete_one"
	DocDeleteMany = "delete_many"
)

// DocBulkWrite is one of bulk_write's operations, decoded: Kind says
// which of the arguments apply.
type DocBulkWrite struct {
	Kind         string
	Document     json.RawMessage   // insert_one
	Filter       json.RawMessage   // all but insert_one
	Update       json.RawMessage   // update_one, update_many
	Replacement  json.RawMessage   // replace_one
	Upsert       bool              // updates and replace_one
	ArrayFilters []json.RawMessage // updates
	Hint         json.RawMessage
}

// DocumentStore is what a document driver implements, on its instances,
// for [DocumentOps]: the calls to its backend. The SDK has validated the
// arguments (the collection is named, the documents and filters are JSON
// objects); parsing them as Extended JSON is the driver's, which returns
// invalid_argument, naming the argument, when one is not.
type DocumentStore interface {
	// FindDocuments sends the documents that match to out, in order.
	FindDocuments(ctx context.Context, args DocFindArgs, out *DocumentWriter) error
	// AggregateDocuments sends what the pipeline yields to out.
	AggregateDocuments(ctx context.Context, args DocAggregateArgs, out *DocumentWriter) error
	FindOneDocument(ctx context.Context, args DocFindOneArgs) (DocFindOneResult, error)
	CountDocuments(ctx context.Context, args DocCountArgs) (DocCountResult, error)
	DistinctValues(ctx context.Context, args DocDistinctArgs) (DocDistinctResult, error)
	InsertOneDocument(ctx context.Context, args DocInsertOneArgs) (DocInsertOneResult, error)
	InsertDocuments(ctx context.Context, args DocInsertManyArgs) (DocInsertManyResult, error)
	// UpdateDocuments updates the first document that matches, or every
	// one when many.
	UpdateDocuments(ctx context.Context, args DocUpdateArgs, many bool) (DocUpdateResult, error)
	ReplaceDocument(ctx context.Context, args DocReplaceArgs) (DocUpdateResult, error)
	// DeleteDocuments deletes the first document that matches, or every
	// one when many.
	DeleteDocuments(ctx context.Context, args DocDeleteArgs, many bool) (DocDeleteResult, error)
	FindAndModifyDocument(ctx context.Context, args DocFindAndModifyArgs) (DocFindOneResult, error)
	BulkWriteDocuments(ctx context.Context, collection string, writes []DocBulkWrite, ordered bool) (DocBulkWriteResult, error)
	CreateIndex(ctx context.Context, args DocCreateIndexArgs) (DocIndexResult, error)
	ListIndexes(ctx context.Context, collection string) (DocIndexesResult, error)
	DropIndex(ctx context.Context, collection, name string) error
}

// DocumentOperations are the operations of CapabilityDocument.
func DocumentOperations() []Operation {
	update, del := MustSchemaFor(DocUpdateArgs{}), MustSchemaFor(DocDeleteArgs{})
	return []Operation{
		{Name: "find", Description: "Streams the documents that match a filter, one canonical Extended JSON document per line, sorted, projected, skipped and limited as asked; then returns how many were sent.", Args: MustSchemaFor(DocFindArgs{}), Stream: StreamDownload, Idempotent: true},
		{Name: "find_one", Description: "Returns the first document that matches a filter; found is false when none does.", Args: MustSchemaFor(DocFindOneArgs{}), Idempotent: true},
		{Name: "count", Description: "Returns how many documents match a filter.", Args: MustSchemaFor(DocCountArgs{}), Idempotent: true},
		{Name: "distinct", Description: "Returns the distinct values of a field among the documents that match a filter.", Args: MustSchemaFor(DocDistinctArgs{}), Idempotent: true},
		{Name: "aggregate", Description: "Runs an aggregation pipeline and streams what it yields, one canonical Extended JSON document per line; then returns how many were sent.", Args: MustSchemaFor(DocAggregateArgs{}), Stream: StreamDownload, Idempotent: true},
		{Name: "insert_one", Description: "Inserts a document and returns its _id.", Args: MustSchemaFor(DocInsertOneArgs{})},
		{Name: "insert_many", Description: "Inserts documents, in order or not, and returns their _ids.", Args: MustSchemaFor(DocInsertManyArgs{})},
		{Name: "update_one", Description: "Updates the first document that matches a filter, or upserts one.", Args: update},
		{Name: "update_many", Description: "Updates every document that matches a filter, or upserts one.", Args: update},
		{Name: "replace_one", Description: "Replaces the first document that matches a filter, or upserts the replacement.", Args: MustSchemaFor(DocReplaceArgs{})},
		{Name: "delete_one", Description: "Deletes the first document that matches a filter.", Args: del},
		{Name: "delete_many", Description: "Deletes every document that matches a filter.", Args: del},
		{Name: "find_and_modify", Description: "Updates, replaces or removes one document atomically and returns it as it was before, or after.", Args: MustSchemaFor(DocFindAndModifyArgs{})},
		{Name: "bulk_write", Description: "Performs inserts, updates, replacements and deletes in one request, in order or not, and reports each.", Args: MustSchemaFor(DocBulkWriteArgs{})},
		{Name: "create_index", Description: "Creates an index, unless one of the same keys and options exists, and returns its name.", Args: MustSchemaFor(DocCreateIndexArgs{}), Idempotent: true},
		{Name: "list_indexes", Description: "Returns the indexes of a collection.", Args: MustSchemaFor(DocListIndexesArgs{}), Idempotent: true},
		{Name: "drop_index", Description: "Drops an index by its name.", Args: MustSchemaFor(DocDropIndexArgs{})},
	}
}

// DocumentOps returns the operations of CapabilityDocument for instances
// of type I, performed by I's DocumentStore methods.
func DocumentOps[I DocumentStore]() []Op[I] {
	return []Op[I]{
		NewStreamOp("find", "", StreamDownload, func(i I, ctx context.Context, a DocFindArgs, _ io.Reader, w io.Writer) (DocStreamResult, error) {
			return streamDocuments(w, func(out *DocumentWriter) error { return i.FindDocuments(ctx, a, out) })
		}),
		NewOp("find_one", "", I.FindOneDocument),
		NewOp("count", "", I.CountDocuments),
		NewOp("distinct", "", I.DistinctValues),
		NewStreamOp("aggregate", "", StreamDownload, func(i I, ctx context.Context, a DocAggregateArgs, _ io.Reader, w io.Writer) (DocStreamResult, error) {
			return streamDocuments(w, func(out *DocumentWriter) error { return i.AggregateDocuments(ctx, a, out) })
		}),
		NewOp("insert_one", "", I.InsertOneDocument),
		NewOp("insert_many", "", I.InsertDocuments),
		NewOp("update_one", "", func(i I, ctx context.Context, a DocUpdateArgs) (DocUpdateResult, error) {
			return i.UpdateDocuments(ctx, a, false)
		}),
		NewOp("update_many", "", func(i I, ctx context.Context, a DocUpdateArgs) (DocUpdateResult, error) {
			return i.UpdateDocuments(ctx, a, true)
		}),
		NewOp("replace_one", "", I.ReplaceDocument),
		NewOp("delete_one", "", func(i I, ctx context.Context, a DocDeleteArgs) (DocDeleteResult, error) {
			return i.DeleteDocuments(ctx, a, false)
		}),
		NewOp("delete_many", "", func(i I, ctx context.Context, a DocDeleteArgs) (DocDeleteResult, error) {
			return i.DeleteDocuments(ctx, a, true)
		}),
		NewOp("find_and_modify", "", I.FindAndModifyDocument),
		NewOp("bulk_write", "", func(i I, ctx context.Context, a DocBulkWriteArgs) (DocBulkWriteResult, error) {
			writes, err := a.Writes()
			if err != nil {
				return DocBulkWriteResult{}, err
			}
			res, err := i.BulkWriteDocuments(ctx, a.Collection, writes, a.Ordered)
			if res.Operations == nil {
				res.Operations = []DocBulkOperation{}
			}
			return res, err
		}),
		NewOp("create_index", "", I.CreateIndex),
		NewOp("list_indexes", "", func(i I, ctx context.Context, a DocListIndexesArgs) (DocIndexesResult, error) {
			res, err := i.ListIndexes(ctx, a.Collection)
			if res.Indexes == nil {
				res.Indexes = []DocIndex{}
			}
			return res, err
		}),
		NewOp("drop_index", "", func(i I, ctx context.Context, a DocDropIndexArgs) (DocDropResult, error) {
			if err := i.DropIndex(ctx, a.Collection, a.Name); err != nil {
				return DocDropResult{}, err
			}
			return DocDropResult{OK: true}, nil
		}),
	}
}

// DocumentWriter is the stream of find and aggregate: a driver adds each
// document, as canonical Extended JSON, and the writer sends them one per
// line, several to a chunk. A driver calls Flush when it has sent what the
// server gave it so far (at the end of a batch), so that the caller gets
// the documents as the server sends them rather than when a chunk fills.
type DocumentWriter struct {
	w   io.Writer
	buf []byte
	n   int64
}

// docChunk is about the most a DocumentWriter holds before it sends a
// chunk.
const docChunk = 64 << 10

// NewDocumentWriter returns a writer of documents to w; [DocumentOps]
// makes them, and a driver's tests may.
func NewDocumentWriter(w io.Writer) *DocumentWriter {
	return &DocumentWriter{w: w, buf: make([]byte, 0, docChunk)}
}

// Append adds a document: appendDoc appends its canonical Extended JSON
// to dst (as the driver's Extended JSON encoder does) and returns the
// extended slice. A document must be one line: canonical Extended JSON
// never has a raw newline.
func (d *DocumentWriter) Append(appendDoc func(dst []byte) ([]byte, error)) error {
	start := len(d.buf)
	b, err := appendDoc(d.buf)
	if err != nil {
		d.buf = d.buf[:start]
		return err
	}
	if i := bytes.IndexByte(b[start:], '\n'); i >= 0 {
		d.buf = b[:start]
		return Errorf(KindInternal, "a document of the stream holds a newline")
	}
	d.buf = append(b, '\n')
	d.n++
	if len(d.buf) >= docChunk {
		return d.Flush()
	}
	return nil
}

// Flush sends what the writer holds.
func (d *DocumentWriter) Flush() error {
	if len(d.buf) == 0 {
		return nil
	}
	_, err := d.w.Write(d.buf)
	d.buf = d.buf[:0]
	if cap(d.buf) > 4*docChunk { // one huge document: do not keep its buffer
		d.buf = make([]byte, 0, docChunk)
	}
	return err
}

// Count returns how many documents were added.
func (d *DocumentWriter) Count() int64 { return d.n }

// streamDocuments runs a find or an aggregate over a writer to w, sends
// what is left, and counts the documents.
func streamDocuments(w io.Writer, run func(*DocumentWriter) error) (DocStreamResult, error) {
	out := NewDocumentWriter(w)
	err := run(out)
	if err == nil {
		err = out.Flush()
	}
	return DocStreamResult{Count: out.Count()}, err
}

// The rules of the document capability's arguments, applied before a
// driver's method runs (Validate), so that every driver refuses the same
// calls, as invalid_argument, with the same words.

func (a DocFindArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("filter", a.Filter, false), docObject("projection", a.Projection, false),
		docObject("sort", a.Sort, false), docHint(a.Hint), docCount("skip", a.Skip), docCount("limit", a.Limit), docCount("batch_size", int64(a.BatchSize)))
}

func (a DocFindOneArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("filter", a.Filter, false), docObject("projection", a.Projection, false),
		docObject("sort", a.Sort, false), docHint(a.Hint), docCount("skip", a.Skip))
}

func (a DocCountArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("filter", a.Filter, false), docHint(a.Hint), docCount("skip", a.Skip), docCount("limit", a.Limit))
}

func (a DocDistinctArgs) Validate() error {
	var field error
	if a.Field == "" {
		field = Errorf(KindInvalidArgument, "field must not be empty")
	}
	return docCheck(docCollection(a.Collection), field, docObject("filter", a.Filter, false))
}

func (a DocAggregateArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObjects("pipeline", a.Pipeline, false), docHint(a.Hint), docCount("batch_size", int64(a.BatchSize)))
}

func (a DocInsertOneArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("document", a.Document, true))
}

func (a DocInsertManyArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObjects("documents", a.Documents, true))
}

func (a DocUpdateArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("filter", a.Filter, true), docUpdate("update", a.Update, true),
		docObjects("array_filters", a.ArrayFilters, false), docHint(a.Hint))
}

func (a DocReplaceArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("filter", a.Filter, true), docReplacement("replacement", a.Replacement), docHint(a.Hint))
}

func (a DocDeleteArgs) Validate() error {
	return docCheck(docCollection(a.Collection), docObject("filter", a.Filter, true), docHint(a.Hint))
}

func (a DocFindAndModifyArgs) Validate() error {
	var how error
	n := 0
	for _, set := range []bool{len(a.Update) > 0, len(a.Replacement) > 0, a.Remove} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		how = Errorf(KindInvalidArgument, "give exactly one of update, replacement and remove = true")
	case a.Remove && a.Upsert:
		how = Errorf(KindInvalidArgument, "upsert does not go with remove")
	case a.Return != "before" && a.Return != "after":
		how = Errorf(KindInvalidArgument, "return is %q: want \"before\" or \"after\"", a.Return)
	}
	var doc error
	if len(a.Replacement) > 0 {
		doc = docReplacement("replacement", a.Replacement)
	}
	return docCheck(docCollection(a.Collection), how, docObject("filter", a.Filter, false), docObject("sort", a.Sort, false),
		docObject("projection", a.Projection, false), docUpdate("update", a.Update, false), doc,
		docObjects("array_filters", a.ArrayFilters, false), docHint(a.Hint))
}

func (a DocBulkWriteArgs) Validate() error {
	if err := docCollection(a.Collection); err != nil {
		return err
	}
	_, err := a.Writes()
	return err
}

// Writes decodes the operations of a bulk_write.
func (a DocBulkWriteArgs) Writes() ([]DocBulkWrite, error) {
	if len(a.Operations) == 0 {
		return nil, Errorf(KindInvalidArgument, "operations must hold at least one write")
	}
	writes := make([]DocBulkWrite, len(a.Operations))
	for i, raw := range a.Operations {
		w, err := docBulkWrite(raw)
		if err != nil {
			return nil, WrapError(KindInvalidArgument, err, fmt.Sprintf("operations[%d]", i))
		}
		writes[i] = w
	}
	return writes, nil
}

// docBulkWrite decodes one operation of bulk_write.
func docBulkWrite(raw json.RawMessage) (DocBulkWrite, error) {
	var one map[string]json.RawMessage
	if err := json.Unmarshal(raw, &one); err != nil || len(one) != 1 {
		return DocBulkWrite{}, fmt.Errorf("want an object with one key, the kind of write (%s, %s, %s, %s, %s or %s)",
			DocInsertOne, DocUpdateOne, DocUpdateMany, DocReplaceOne, DocDeleteOne, DocDeleteMany)
	}
	var w DocBulkWrite
	var body json.RawMessage
	for k, v := range one {
		w.Kind, body = k, v
	}
	var err error
	switch w.Kind {
	case DocInsertOne:
		var a struct {
			Document json.RawMessage `nebula:"document,required"`
		}
		if err = Decode(body, &a); err == nil {
			w.Document, err = a.Document, docObject("document", a.Document, true)
		}
	case DocUpdateOne, DocUpdateMany:
		var a struct {
			Filter       json.RawMessage   `nebula:"filter,required"`
			Update       json.RawMessage   `nebula:"update,required"`
			Upsert       bool              `nebula:"upsert"`
			ArrayFilters []json.RawMessage `nebula:"array_filters"`
			Hint         json.RawMessage   `nebula:"hint"`
		}
		if err = Decode(body, &a); err == nil {
			w.Filter, w.Update, w.Upsert, w.ArrayFilters, w.Hint = a.Filter, a.Update, a.Upsert, a.ArrayFilters, a.Hint
			err = docCheck(docObject("filter", a.Filter, true), docUpdate("update", a.Update, true), docObjects("array_filters", a.ArrayFilters, false), docHint(a.Hint))
		}
	case DocReplaceOne:
		var a struct {
			Filter      json.RawMessage `nebula:"filter,required"`
			Replacement json.RawMessage `nebula:"replacement,required"`
			Upsert      bool            `nebula:"upsert"`
			Hint        json.RawMessage `nebula:"hint"`
		}
		if err = Decode(body, &a); err == nil {
			w.Filter, w.Replacement, w.Upsert, w.Hint = a.Filter, a.Replacement, a.Upsert, a.Hint
			err = docCheck(docObject("filter", a.Filter, true), docReplacement("replacement", a.Replacement), docHint(a.Hint))
		}
	case DocDeleteOne, DocDeleteMany:
		var a struct {
			Filter json.RawMessage `nebula:"filter,required"`
			Hint   json.RawMessage `nebula:"hint"`
		}
		if err = Decode(body, &a); err == nil {
			w.Filter, w.Hint = a.Filter, a.Hint
			err = docCheck(docObject("filter", a.Filter, true), docHint(a.Hint))
		}
	default:
		return w, fmt.Errorf("unknown kind of write %q: want %s, %s, %s, %s, %s or %s", w.Kind,
			DocInsertOne, DocUpdateOne, DocUpdateMany, DocReplaceOne, DocDeleteOne, DocDeleteMany)
	}
	if err != nil {
		return w, fmt.Errorf("%s: %w", w.Kind, err)
	}
	return w, nil
}

// docCheck returns the first of errs that is not nil.
func docCheck(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// docCollection checks a collection's name as MongoDB has it: not empty,
// no NUL, no "$", not starting with "system.".
func docCollection(name string) error {
	switch {
	case name == "":
		return Errorf(KindInvalidArgument, "collection must not be empty")
	case strings.ContainsAny(name, "\x00$"):
		return Errorf(KindInvalidArgument, "collection %q holds a NUL or a $", name)
	case strings.HasPrefix(name, "system."):
		return Errorf(KindInvalidArgument, "collection %q is a system collection", name)
	}
	return nil
}

// docValueKind returns the first byte of a JSON value, 0 when raw is unset
// (absent or null).
func docValueKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || bytes.HasPrefix(raw, []byte("null")) {
		return 0
	}
	return raw[0]
}

// docObject checks that the argument name is a JSON object, or unset when
// it is not required.
func docObject(name string, raw json.RawMessage, required bool) error {
	switch docValueKind(raw) {
	case '{':
		return nil
	case 0:
		if !required {
			return nil
		}
		return Errorf(KindInvalidArgument, "%s is required: an Extended JSON object", name)
	}
	return Errorf(KindInvalidArgument, "%s must be an Extended JSON object, not %s", name, jsonShape(raw))
}

// docObjects checks that every element of the list name is a JSON object.
func docObjects(name string, raws []json.RawMessage, required bool) error {
	if required && len(raws) == 0 {
		return Errorf(KindInvalidArgument, "%s must hold at least one object", name)
	}
	for i, raw := range raws {
		if err := docObject(fmt.Sprintf("%s[%d]", name, i), raw, true); err != nil {
			return err
		}
	}
	return nil
}

// docUpdate checks an update: an object of operators, or a pipeline (a
// list of stage objects).
func docUpdate(name string, raw json.RawMessage, required bool) error {
	switch docValueKind(raw) {
	case '[':
		var stages []json.RawMessage
		if err := json.Unmarshal(raw, &stages); err != nil {
			return Errorf(KindInvalidArgument, "%s: %v", name, err)
		}
		return docObjects(name, stages, true)
	case '{':
		var ops map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ops); err != nil {
			return Errorf(KindInvalidArgument, "%s: %v", name, err)
		}
		for k := range ops {
			if !strings.HasPrefix(k, "$") {
				return Errorf(KindInvalidArgument, "%s holds the field %q: an update is made of operators such as $set (use replace_one to replace a document)", name, k)
			}
		}
		if len(ops) == 0 {
			return Errorf(KindInvalidArgument, "%s is empty: give operators such as $set", name)
		}
		return nil
	case 0:
		if !required {
			return nil
		}
		return Errorf(KindInvalidArgument, "%s is required: an object of update operators or a pipeline", name)
	}
	return Errorf(KindInvalidArgument, "%s must be an object of update operators or a list of stages, not %s", name, jsonShape(raw))
}

// docReplacement checks a replacement: an object without operators.
func docReplacement(name string, raw json.RawMessage) error {
	if err := docObject(name, raw, true); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Errorf(KindInvalidArgument, "%s: %v", name, err)
	}
	for k := range fields {
		if strings.HasPrefix(k, "$") {
			return Errorf(KindInvalidArgument, "%s holds the operator %q: a replacement is a whole document (use update_one to apply operators)", name, k)
		}
	}
	return nil
}

// docHint checks a hint: unset, an index's name or its keys.
func docHint(raw json.RawMessage) error {
	switch docValueKind(raw) {
	case 0, '"', '{':
		return nil
	}
	return Errorf(KindInvalidArgument, "hint must be an index's name or its keys, not %s", jsonShape(raw))
}

// docCount checks a count argument: not negative.
func docCount(name string, n int64) error {
	if n < 0 {
		return Errorf(KindInvalidArgument, "%s is %d: it must not be negative", name, n)
	}
	return nil
}

// jsonShape names the kind of a JSON value, for an error.
func jsonShape(raw json.RawMessage) string {
	switch docValueKind(raw) {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	}
	return "a number"
}
