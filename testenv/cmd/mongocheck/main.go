// Command mongocheck checks the MongoDB wire-protocol server that
// scripts/testenv starts (FerretDB, testenv/cmd/ferretdb) or reuses, with
// the official Go driver (go.mongodb.org/mongo-driver/v2). It connects to
// -url, by default what `scripts/testenv env` exports:
//
//	eval "$(scripts/testenv env)" && .testenv/bin/mongocheck -roundtrip
//
// Without -roundtrip it pings the server and lists its databases, which
// scripts/testenv does for a server it reuses. With -roundtrip, as after
// scripts/testenv starts one, it works in a database of its own with a new
// name and drops it afterwards: it inserts documents, finds one back by a
// filter, runs an aggregation ($match, $group, $sort) and checks its
// result, creates a unique index, sees it listed and sees a duplicate key
// refused.
//
// It prints one line per step and exits 1 on failure.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func main() {
	var (
		uri       = flag.String("url", os.Getenv("NEBULA_TEST_MONGO_URL"), "the server's connection string (default $NEBULA_TEST_MONGO_URL)")
		roundtrip = flag.Bool("roundtrip", false, "insert, find, aggregate and index in a new database, then drop it (default: ping and list databases only)")
		timeout   = flag.Duration("timeout", 30*time.Second, "give up after this long")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: mongocheck [-roundtrip] [-timeout D] [-url mongodb://HOST:PORT/]\n"+
			"  -url defaults to NEBULA_TEST_MONGO_URL, as exported by scripts/testenv env\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *uri == "" {
		fmt.Fprintln(os.Stderr, `mongocheck: no -url, and NEBULA_TEST_MONGO_URL is not set (eval "$(scripts/testenv env)")`)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	st := &steps{start: time.Now(), last: time.Now()}
	err := check(ctx, st, *uri, *roundtrip)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongocheck %s: %v\n", *uri, err)
		os.Exit(1)
	}
	fmt.Printf("mongo: ok in %v\n", time.Since(st.start).Round(time.Millisecond))
}

// steps prints what the check did, with the time each step took.
type steps struct{ start, last time.Time }

func (s *steps) done(format string, args ...any) {
	fmt.Printf("  mongo  %-60s %v\n", fmt.Sprintf(format, args...), time.Since(s.last).Round(time.Millisecond))
	s.last = time.Now()
}

func check(ctx context.Context, st *steps, uri string, roundtrip bool) error {
	c, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetAppName("nebula-testenv-check").
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := cleanupContext()
		defer cancel()
		_ = c.Disconnect(cctx)
	}()

	if err := c.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	var info struct {
		Version         string `bson:"version"`
		FerretDBVersion string `bson:"ferretdbVersion"` // FerretDB only
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return fmt.Errorf("buildInfo: %w", err)
	}
	server := "MongoDB " + info.Version
	if info.FerretDBVersion != "" {
		server = fmt.Sprintf("FerretDB %s (as MongoDB %s)", info.FerretDBVersion, info.Version)
	}
	st.done("ping: %s", server)
	names, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("listing databases: %w", err)
	}
	st.done("listed %d databases", len(names))
	if !roundtrip {
		return nil
	}

	db := c.Database(uniqueName())
	dropped := false
	defer func() { // clean up even when a step failed
		if dropped {
			return
		}
		cctx, cancel := cleanupContext()
		defer cancel()
		if derr := db.Drop(cctx); derr != nil {
			fmt.Fprintf(os.Stderr, "mongocheck: dropping database %s: %v\n", db.Name(), derr)
		}
	}()
	coll := db.Collection("items")

	// Insert: one document alone, then several.
	token := uniqueName()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "sku", Value: "a"}, {Key: "kind", Value: "x"}, {Key: "qty", Value: 2}, {Key: "token", Value: token}}); err != nil {
		return fmt.Errorf("insertOne into %s.items: %w", db.Name(), err)
	}
	more := []any{
		bson.D{{Key: "sku", Value: "b"}, {Key: "kind", Value: "x"}, {Key: "qty", Value: 3}},
		bson.D{{Key: "sku", Value: "c"}, {Key: "kind", Value: "y"}, {Key: "qty", Value: 5}},
	}
	if _, err := coll.InsertMany(ctx, more); err != nil {
		return fmt.Errorf("insertMany: %w", err)
	}
	st.done("inserted 3 documents into %s.items", db.Name())

	// Find one back by a filter.
	var got struct {
		SKU   string `bson:"sku"`
		Token string `bson:"token"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "token", Value: token}}).Decode(&got); err != nil {
		return fmt.Errorf("findOne by token: %w", err)
	}
	if got.SKU != "a" || got.Token != token {
		return fmt.Errorf("findOne by token: got sku %q token %q, want sku a token %s", got.SKU, got.Token, token)
	}
	st.done("found the first document by a filter")

	// Aggregate: the quantity per kind, of documents with qty >= 2.
	cur, err := coll.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "qty", Value: bson.D{{Key: "$gte", Value: 2}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$kind"}, {Key: "total", Value: bson.D{{Key: "$sum", Value: "$qty"}}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}},
	})
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	var groups []struct {
		Kind  string `bson:"_id"`
		Total int64  `bson:"total"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return fmt.Errorf("aggregate: reading the result: %w", err)
	}
	if len(groups) != 2 || groups[0].Kind != "x" || groups[0].Total != 5 || groups[1].Kind != "y" || groups[1].Total != 5 {
		return fmt.Errorf("aggregate: got %+v, want [{x 5} {y 5}]", groups)
	}
	st.done("aggregated ($match, $group, $sort): x=5 y=5")

	// A unique index: created, listed, and enforced.
	name, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "sku", Value: 1}},
		Options: options.Index().SetUnique(true),
	})
	if err != nil {
		return fmt.Errorf("createIndexes: %w", err)
	}
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("listIndexes: %w", err)
	}
	listed := false
	for _, s := range specs {
		if s.Name == name {
			listed = s.Unique != nil && *s.Unique
		}
	}
	if !listed {
		return fmt.Errorf("listIndexes: no unique index %q among %d", name, len(specs))
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "sku", Value: "b"}})
	if !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("a second document with sku b: got %v, want a duplicate key error", err)
	}
	st.done("created unique index %s; a duplicate is refused", name)

	if err := db.Drop(ctx); err != nil {
		return fmt.Errorf("dropping database %s: %w", db.Name(), err)
	}
	dropped = true
	st.done("dropped database %s", db.Name())
	return nil
}

// uniqueName is a database name that no other run uses.
func uniqueName() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "nebula_testenv_" + hex.EncodeToString(b[:])
}

// cleanupContext is for cleaning up after the check's own context has run
// out.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
