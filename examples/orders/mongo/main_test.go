package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints for ada, on any run.
const want = `stored 6 orders
paid orders of ada, newest first:
  o-1004  2026-12-03 10:15  2 item(s)  $45.00
  o-1001  2026-12-01 09:30  1 item(s)  $19.99
paid totals per customer:
  bob     $120.00
  ada      $64.99
  cy        $7.50
`

// The program, on orders.hcl, against the MongoDB wire-protocol server of
// scripts/testenv (NEBULA_TEST_MONGO_URL) with the plugin binary built
// from this checkout, in a database of the test's own: it stores the
// orders, lists ada's paid ones through OpenDocuments and totals them per
// customer with an aggregate; and a second run, which deletes the orders
// before it stores them again, prints the same.
func TestOrdersStoresListsAndTotals(t *testing.T) {
	url := os.Getenv("NEBULA_TEST_MONGO_URL")
	if url == "" {
		url = "mongodb://127.0.0.1:27017/"
	}
	db := scratchDatabase(t, url)
	t.Setenv("MONGO_URL", url)
	t.Setenv("ORDERS_DATABASE", db)
	plugins := buildPlugin(t)

	for i := range 2 {
		var out bytes.Buffer
		if err := run(t.Context(), "orders.hcl", plugins, "ada", &out); err != nil {
			t.Fatalf("run %d: %v\nprinted:\n%s", i+1, err, out.String())
		}
		if got := out.String(); got != want {
			t.Fatalf("run %d printed\n%s\nwant\n%s", i+1, got, want)
		}
	}
}

// scratchDatabase names a database of the test's own on the server at
// url, and drops it when the test ends.
func scratchDatabase(t *testing.T, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula_orders_test_" + hex.EncodeToString(b[:])
	client, err := mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(t.Context(), nil); err != nil {
		_ = client.Disconnect(context.Background())
		t.Fatalf("no MongoDB server at %s (NEBULA_TEST_MONGO_URL): %v\nRun `scripts/testenv up` (or `make test`) to start one.", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Database(name).Drop(ctx); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		_ = client.Disconnect(ctx)
	})
	return name
}

// buildPlugin builds nebula-plugin-mongo from this checkout into a
// directory of the test's own, and returns the directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-mongo"),
		"github.com/nebula-resource/nebula-resource/plugins/mongo/cmd/nebula-plugin-mongo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-mongo: %v\n%s", err, out)
	}
	return dir
}
