package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mongooptions "go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	mongodriver "github.com/nebula-resource/nebula-resource/plugins/mongo"
)

// The collections of the mongo workloads, made by probe when they lack
// documents and left in place for the next run: orders_N holds N small
// orders whose _ids are mongoOID(1) to mongoOID(N).
//
// Two sizes, because the server of scripts/testenv, FerretDB 1.x on
// SQLite, finds a document by _id by scanning the collection (its _id
// index is not on the expression its query filters by; an ObjectId or
// string _id is at least compared in SQLite, any other type in FerretDB
// after decoding each document): a find_one in 10,000 documents costs it
// milliseconds, which hides what the host adds, and in 100 documents
// about half a millisecond.
const mongoDatabase = "nebula_benchcompare"

var mongoSizes = []int{100, 10_000}

func mongoCollection(docs int) string { return "orders_" + strconv.Itoa(docs) }

// mongoClientOptions are the options the mongo driver gives its client at
// its defaults (plugins/mongo, Config.clientOptions): no retries (the
// host's policy retries), at most 100 pooled connections, primary reads,
// 10 s server selection and connect timeouts, its app name.
func mongoClientOptions(url string) *mongooptions.ClientOptions {
	return mongooptions.Client().ApplyURI(url).
		SetAppName("nebula-resource").
		SetReadPreference(readpref.Primary()).
		SetServerSelectionTimeout(10 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetMaxPoolSize(100).
		SetMinPoolSize(0).
		SetRetryReads(false).
		SetRetryWrites(false)
}

// mongoOID is the _id of the ith order: an ObjectId of its own, the same
// in every run.
func mongoOID(i int) bson.ObjectID {
	var id bson.ObjectID
	copy(id[:8], "nebulabc")
	binary.BigEndian.PutUint32(id[8:], uint32(i))
	return id
}

// mongoOrder is the ith order, of one to three items: about 200 bytes of
// BSON.
func mongoOrder(i int) bson.D {
	n := i%3 + 1
	items := make(bson.A, n)
	var total float64
	for k := range n {
		price := float64((i*7+k*13)%5000) / 100
		qty := int32(k + 1)
		total += price * float64(qty)
		items[k] = bson.D{{Key: "sku", Value: "sku-" + strconv.Itoa((i+k)%997)}, {Key: "qty", Value: qty}, {Key: "price", Value: price}}
	}
	return bson.D{
		{Key: "_id", Value: mongoOID(i)},
		{Key: "customer", Value: fmt.Sprintf("customer-%04d", i%1000)},
		{Key: "total", Value: total},
		{Key: "items", Value: items},
	}
}

// probeMongo checks that the server answers and fills the collections of
// the mongo workloads where they lack documents. The inserts are
// unordered, with the documents' own _ids, and duplicates are ignored, so
// that runs at the same time (or one interrupted) leave the same
// collections.
func probeMongo(ctx context.Context, url string) error {
	client, err := mongo.Connect(mongoClientOptions(url).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	if err := client.Ping(ctx, nil); err != nil {
		return err
	}
	for _, size := range mongoSizes {
		if err := fillMongo(ctx, client.Database(mongoDatabase).Collection(mongoCollection(size)), size); err != nil {
			return fmt.Errorf("fill %s.%s: %w", mongoDatabase, mongoCollection(size), err)
		}
	}
	return nil
}

func fillMongo(ctx context.Context, coll *mongo.Collection, size int) error {
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || n >= int64(size) {
		return err
	}
	const batch = 1000
	for first := 1; first <= size; first += batch {
		docs := make([]any, 0, batch)
		for i := first; i < first+batch && i <= size; i++ {
			docs = append(docs, mongoOrder(i))
		}
		_, err := coll.InsertMany(ctx, docs, mongooptions.InsertMany().SetOrdered(false))
		if err != nil && !onlyDuplicates(err) {
			return err
		}
	}
	if n, err = coll.CountDocuments(ctx, bson.D{}); err == nil && n < int64(size) {
		err = fmt.Errorf("%d documents, want %d", n, size)
	}
	return err
}

// onlyDuplicates reports whether every error of an insert is a
// duplicate _id: a document another run inserted first.
func onlyDuplicates(err error) bool {
	var bw mongo.BulkWriteException
	if !errors.As(err, &bw) || bw.WriteConcernError != nil || len(bw.WriteErrors) == 0 {
		return false
	}
	for _, we := range bw.WriteErrors {
		if !we.HasErrorCode(11000) {
			return false
		}
	}
	return true
}

// mongoFindOneWorkload is find_one by a random _id of the collection of
// docs orders: mongo-driver's FindOne(...).Raw() with the driver's client
// options (direct), or the host's find_one with the filter {"_id":
// {"$oid": ...}}, through Host.Invoke (a lease per call) or on a lease
// each worker holds for the whole phase (held). concurrency, when set,
// caps -c (1: the throughput at c=1).
func mongoFindOneWorkload(name string, docs int, held bool, concurrency int) *workload {
	return &workload{name: name, backend: "mongo", pluginType: "mongo", concurrency: concurrency, variants: standard,
		setup: func(ctx context.Context, e *runEnv, variant string) (*target, error) {
			return mongoFindOneSetup(ctx, e, variant, docs, held)
		}}
}

func mongoFindOneSetup(ctx context.Context, e *runEnv, variant string, docs int, held bool) (*target, error) {
	url, collName := e.spec.Backends.Mongo, mongoCollection(docs)
	randomID := func() bson.ObjectID { return mongoOID(rand.IntN(docs) + 1) }
	check := mongoOID(docs/2 + 1)
	if variant == direct {
		client, err := mongo.Connect(mongoClientOptions(url))
		if err != nil {
			return nil, err
		}
		e.onClose(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return client.Disconnect(ctx)
		})
		coll := client.Database(mongoDatabase).Collection(collName)
		find := func(ctx context.Context, id bson.ObjectID) (bson.Raw, error) {
			return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		}
		// Checked once: the document found is the one asked for. Each call
		// fails when there is none (mongo.ErrNoDocuments).
		raw, err := find(ctx, check)
		if err != nil {
			return nil, err
		}
		if got, ok := raw.Lookup("_id").ObjectIDOK(); !ok || got != check {
			return nil, fmt.Errorf("find_one of _id %s returned %s", check.Hex(), raw)
		}
		return callEach(func(ctx context.Context) error {
			_, err := find(ctx, randomID())
			return err
		}), nil
	}
	src := fmt.Sprintf("resource \"mongo\" \"orders\" {\n  uri = %q\n  database = %q\n  max_pool_size = 100\n}\n", url, mongoDatabase)
	h, err := e.startHost(ctx, variant, src, "mongo", mongodriver.New())
	if err != nil {
		return nil, err
	}
	const name = "mongo.orders"
	// The arguments as a caller sends them, JSON text: {"collection":
	// "orders_N", "filter": {"_id": {"$oid": "..."}}}.
	prefix := `{"collection":"` + collName + `","filter":{"_id":{"$oid":"`
	args := func(id bson.ObjectID) json.RawMessage {
		b := make([]byte, 0, len(prefix)+32)
		b = append(append(append(b, prefix...), id.Hex()...), `"}}}`...)
		return b
	}
	// found checks a result as cheaply as direct's Raw does: a document
	// was found.
	found := func(res []byte) error {
		if !bytes.Contains(res, []byte(`"found":true`)) {
			return fmt.Errorf("find_one found nothing: %s", res)
		}
		return nil
	}
	// Checked once: the document found is the one asked for.
	res, err := h.Invoke(ctx, name, "find_one", args(check))
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(res, []byte(`"_id":{"$oid":"`+check.Hex()+`"}`)) {
		return nil, fmt.Errorf("find_one of _id %s returned %s", check.Hex(), res)
	}
	if !held {
		return callEach(func(ctx context.Context) error {
			res, err := h.Invoke(ctx, name, "find_one", args(randomID()))
			if err != nil {
				return err
			}
			return found(res)
		}), nil
	}
	return &target{worker: func(ctx context.Context) (func(context.Context) error, func(), error) {
		l, err := h.Acquire(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context) error {
			res, err := l.Invoke(ctx, "find_one", args(randomID()))
			if err != nil {
				return err
			}
			return found(res)
		}, l.Release, nil
	}}, nil
}
