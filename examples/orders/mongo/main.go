// Command mongo keeps orders in MongoDB through a host embedded in the
// program: it stores a few orders in a mongo resource, lists a
// customer's paid orders with a find streamed through
// Lease.OpenDocuments, and totals the paid orders per customer with an
// aggregate.
//
// Run it from the repository root, after make build, against the MongoDB
// (or FerretDB) that MONGO_URL names, by default mongodb://127.0.0.1:27017/
// (scripts/testenv up starts one there):
//
//	go run ./examples/orders/mongo
//	go run ./examples/orders/mongo -customer bob
//
// Documents travel as MongoDB Extended JSON (docs/mongo.md): the program
// encodes its orders with bson.MarshalExtJSON in the canonical form, so
// that a total in cents stays an int64 and a date a date, and decodes the
// documents it reads back with bson.UnmarshalExtJSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
)

func main() {
	configPath := flag.String("config", "examples/orders/mongo/orders.hcl", "configuration with one mongo resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	customer := flag.String("customer", "ada", "whose paid orders to list")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, *customer, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "orders/mongo: %v\n", err)
		}
		os.Exit(1)
	}
}

// Order is an order as the collection "orders" holds it.
type Order struct {
	ID       string    `bson:"_id"`
	Customer string    `bson:"customer"`
	Status   string    `bson:"status"` // open, paid or refunded
	Total    int64     `bson:"total"`  // in cents: an int64, {"$numberLong": "1999"}
	Items    []Item    `bson:"items"`
	Created  time.Time `bson:"created"` // a BSON date
}

// Item is a line of an order.
type Item struct {
	SKU string `bson:"sku"`
	Qty int32  `bson:"qty"`
}

// day is a time on 2026-12-DD, UTC.
func day(dd, hh, mm int) time.Time { return time.Date(2026, 12, dd, hh, mm, 0, 0, time.UTC) }

// orders are what the program stores.
var orders = []Order{
	{ID: "o-1001", Customer: "ada", Status: "paid", Total: 1999, Items: []Item{{"A-1", 1}}, Created: day(1, 9, 30)},
	{ID: "o-1002", Customer: "ada", Status: "open", Total: 500, Items: []Item{{"B-7", 1}}, Created: day(2, 14, 0)},
	{ID: "o-1003", Customer: "bob", Status: "paid", Total: 12000, Items: []Item{{"A-1", 10}}, Created: day(2, 16, 45)},
	{ID: "o-1004", Customer: "ada", Status: "paid", Total: 4500, Items: []Item{{"C-3", 2}, {"A-1", 1}}, Created: day(3, 10, 15)},
	{ID: "o-1005", Customer: "cy", Status: "paid", Total: 750, Items: []Item{{"B-7", 1}}, Created: day(4, 8, 0)},
	{ID: "o-1006", Customer: "bob", Status: "refunded", Total: 3000, Items: []Item{{"D-2", 3}}, Created: day(4, 11, 20)},
}

func run(ctx context.Context, configPath, pluginDir, customer string, out io.Writer) error {
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "mongo" {
		return fmt.Errorf("%s must declare one mongo resource", configPath)
	}
	resource := "mongo." + cfg.Resources[0].Name

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(pluginDir))
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			fmt.Fprintln(os.Stderr, "orders/mongo: close:", err)
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lease, err := h.Acquire(ctx, resource, host.ForWorkflow("orders-example"))
	if err != nil {
		return err
	}
	defer lease.Release()

	if err := store(ctx, lease, out); err != nil {
		return err
	}
	if err := paidOrders(ctx, lease, customer, out); err != nil {
		return err
	}
	return totals(ctx, lease, out)
}

// store replaces the example's orders: it deletes them, then inserts
// them anew, so that the program can run again.
func store(ctx context.Context, lease *host.Lease, out io.Writer) error {
	ids := make([]string, len(orders))
	docs := make([]json.RawMessage, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
		// Canonical Extended JSON: Total is {"$numberLong": "1999"}, Qty
		// {"$numberInt": "1"}, Created {"$date": {"$numberLong": "..."}}.
		doc, err := bson.MarshalExtJSON(o, true, false)
		if err != nil {
			return err
		}
		docs[i] = doc
	}
	filter, err := json.Marshal(map[string]any{"_id": map[string]any{"$in": ids}})
	if err != nil {
		return err
	}
	// Deleting by _id twice deletes what deleting once does: the call
	// marks itself idempotent, so that the host's retry policy may repeat
	// it after a failure.
	if _, err := lease.Invoke(ctx, "delete_many", map[string]any{
		"collection": "orders", "filter": json.RawMessage(filter), "idempotent": true,
	}); err != nil {
		return err
	}
	raw, err := lease.Invoke(ctx, "insert_many", map[string]any{"collection": "orders", "documents": docs})
	if err != nil {
		return err
	}
	var res struct {
		InsertedIDs []json.RawMessage `json:"inserted_ids"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	fmt.Fprintf(out, "stored %d orders\n", len(res.InsertedIDs))
	return nil
}

// paidOrders prints the customer's paid orders, newest first: a find,
// whose documents stream one at a time through OpenDocuments.
func paidOrders(ctx context.Context, lease *host.Lease, customer string, out io.Writer) error {
	filter, err := json.Marshal(map[string]any{"customer": customer, "status": "paid"})
	if err != nil {
		return err
	}
	docs, err := lease.OpenDocuments(ctx, "find", map[string]any{
		"collection": "orders",
		"filter":     json.RawMessage(filter),
		"sort":       json.RawMessage(`{"created": -1}`),
	})
	if err != nil {
		return err
	}
	defer docs.Close()
	fmt.Fprintf(out, "paid orders of %s, newest first:\n", customer)
	for docs.Next() {
		var o Order
		if err := bson.UnmarshalExtJSON(docs.Document(), true, &o); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s  %s  %d item(s)  %s\n", o.ID, o.Created.UTC().Format("2006-01-02 15:04"), len(o.Items), dollars(o.Total))
	}
	return docs.Err()
}

// totals prints the sum of the paid orders of each customer, largest
// first: an aggregate, streamed like a find.
func totals(ctx context.Context, lease *host.Lease, out io.Writer) error {
	docs, err := lease.OpenDocuments(ctx, "aggregate", map[string]any{
		"collection": "orders",
		"pipeline": []json.RawMessage{
			json.RawMessage(`{"$match": {"status": "paid"}}`),
			json.RawMessage(`{"$group": {"_id": "$customer", "total": {"$sum": "$total"}}}`),
			json.RawMessage(`{"$sort": {"total": -1, "_id": 1}}`),
		},
	})
	if err != nil {
		return err
	}
	defer docs.Close()
	fmt.Fprintln(out, "paid totals per customer:")
	for docs.Next() {
		var t struct {
			Customer string `bson:"_id"`
			Total    int64  `bson:"total"`
		}
		if err := bson.UnmarshalExtJSON(docs.Document(), true, &t); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-4s %10s\n", t.Customer, dollars(t.Total))
	}
	return docs.Err()
}

// dollars formats cents.
func dollars(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }
