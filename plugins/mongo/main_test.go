package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"

	mongodriver "github.com/nebula-resource/nebula-resource/plugins/mongo"
)

// Every client's monitors must be stopped when the test is.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serverURL is the MongoDB wire-protocol server of scripts/testenv
// (FerretDB), unless the environment names another.
func serverURL() string {
	if v := os.Getenv("NEBULA_TEST_MONGO_URL"); v != "" {
		return v
	}
	return "mongodb://127.0.0.1:27017/"
}

// newDatabase names a database of the test's own, which it drops at the
// end, and returns a direct client on the server for checks.
func newDatabase(t testing.TB) (string, *mongo.Database) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula_test_" + hex.EncodeToString(b[:])
	client, err := mongo.Connect(options.Client().ApplyURI(serverURL()).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(ctx)
		t.Fatalf("the MongoDB server is unreachable at %s (NEBULA_TEST_MONGO_URL): %v\nRun `scripts/testenv up` (or `make test`) to start it.", serverURL(), err)
	}
	db := client.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		_ = client.Disconnect(ctx)
	})
	return name, db
}

// config is a mongo resource's configuration on the test's database.
func config(db string, more map[string]any) json.RawMessage {
	cfg := map[string]any{"uri": serverURL(), "database": db, "server_selection_timeout": "5s"}
	for k, v := range more {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return raw
}

// open opens an instance of typ on the database, in process over gRPC.
func open(t testing.TB, typ, db string, more map[string]any) *sdktest.Instance {
	t.Helper()
	d := sdktest.Connect(t, mongodriver.New())
	return sdktest.Open(t, d, sdk.ConfigureRequest{Type: typ, Name: "docs", Config: config(db, more)})
}

// invoke calls op and returns its JSON result.
func invoke(t testing.TB, inst *sdktest.Instance, op string, args any) (json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		return nil, err
	}
	if r, ok := out.(json.RawMessage); ok {
		return r, nil
	}
	return json.Marshal(out)
}

// must is invoke that fails the test on an error, decoding into R.
func must[R any](t testing.TB, inst *sdktest.Instance, op string, args any) R {
	t.Helper()
	raw, err := invoke(t, inst, op, args)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	var r R
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: result %s: %v", op, raw, err)
	}
	return r
}
