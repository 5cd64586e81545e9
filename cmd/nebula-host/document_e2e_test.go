package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// mongoURL is the MongoDB wire-protocol server of scripts/testenv
// (FerretDB), unless the environment names another.
func mongoURL() string {
	if v := os.Getenv("NEBULA_TEST_MONGO_URL"); v != "" {
		return v
	}
	return "mongodb://127.0.0.1:27017/"
}

// mongoDatabase names a database of the test's own on the server at url,
// which it drops at the end, and returns a direct client's handle on it.
func mongoDatabase(t *testing.T, url string) (string, *mongo.Database) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula_e2e_" + hex.EncodeToString(b[:])
	client, err := mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(t.Context(), nil); err != nil {
		_ = client.Disconnect(context.Background())
		t.Fatalf("the MongoDB server is unreachable at %s (NEBULA_TEST_MONGO_URL): %v\nRun `scripts/testenv up` (or `make test`) to start it.", url, err)
	}
	db := client.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return name, db
}

// mongoConfig writes a configuration of one mongo resource, documents,
// and an admin address; more goes inside the resource block.
func mongoConfig(t *testing.T, url, db, more string) (path, addr string) {
	t.Helper()
	addr = freeAddress(t)
	path = writeFile(t, t.TempDir(), "main.hcl", fmt.Sprintf(`admin {
  address = %q
}

resource "mongo" "documents" {
  uri                      = %q
  database                 = %q
  server_selection_timeout = "3s"
%s}
`, addr, url, db, more))
	return path, addr
}

// goHost starts a host in the test's process on the configuration at
// path, with the built plugins, and closes it at the end. Its logs are
// discarded unless opts, applied after the defaults, set a logger.
func goHost(t *testing.T, path string, opts ...host.Option) *host.Host {
	t.Helper()
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	defaults := []host.Option{host.WithLogger(slog.New(slog.DiscardHandler)), host.WithPluginDir(filepath.Join(binDir, "plugins"))}
	h, err := host.New(cfg, append(defaults, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("closing the host: %v", err)
		}
	})
	return h
}

// typedDocument is a document with a value of each BSON type the
// document capability keeps that FerretDB stores (it has no Decimal128,
// MinKey or MaxKey: plugins/mongo's extjson_internal_test.go round-trips
// those through the plugin's conversions), in canonical Extended JSON,
// with the _id given.
func typedDocument(id string) string {
	return `{"_id":{"$oid":"` + id + `"},` +
		`"int32":{"$numberInt":"7"},"int64":{"$numberLong":"7"},"big":{"$numberLong":"9007199254740993"},` +
		`"double":{"$numberDouble":"1.5"},"whole":{"$numberDouble":"2.0"},` +
		`"date":{"$date":{"$numberLong":"1733317200123"}},` +
		`"binary":{"$binary":{"base64":"AAECAwQ=","subType":"00"}},` +
		`"uuid":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"04"}},` +
		`"text":"héllo \"world\"\n","yes":true,"nothing":null,` +
		`"list":[{"$numberInt":"1"},{"$numberLong":"2"},"three"],` +
		`"nested":{"ref":{"$oid":"65a1b2c3d4e5f60718293a4c"},"at":{"$date":{"$numberLong":"0"}}},` +
		`"pattern":{"$regularExpression":{"pattern":"^a.*","options":"i"}},` +
		`"ts":{"$timestamp":{"t":1700000000,"i":3}}}`
}

// Every BSON type the server keeps comes back exactly as it went in:
// through `nebula-host call` (the admin API's JSON, both ways, and the
// find stream as lines) and through the Go API (Host.Invoke, and
// Lease.OpenDocuments), against the plugin binary.
func TestEveryBSONTypeRoundTripsThroughTheCLIAndTheGoAPI(t *testing.T) {
	db, _ := mongoDatabase(t, mongoURL())
	path, addr := mongoConfig(t, mongoURL(), db, "")

	t.Run("nebula-host call", func(t *testing.T) {
		startHost(t, path, addr)
		doc := typedDocument("65a1b2c3d4e5f60718293a01")
		out := runCLI(t, nil, nil, "call", "-addr", addr, "mongo.documents", "insert_one", `{"collection":"cli","document":`+doc+`}`)
		var ins sdk.DocInsertOneResult
		if err := json.Unmarshal(out, &ins); err != nil || string(compact(t, ins.InsertedID)) != `{"$oid":"65a1b2c3d4e5f60718293a01"}` {
			t.Fatalf("insert_one printed %s (%v)", out, err)
		}
		out = runCLI(t, nil, nil, "call", "-addr", addr, "mongo.documents", "find_one", `{"collection":"cli","filter":{"_id":{"$oid":"65a1b2c3d4e5f60718293a01"}}}`)
		var one sdk.DocFindOneResult
		if err := json.Unmarshal(out, &one); err != nil || !one.Found {
			t.Fatalf("find_one printed %s (%v)", out, err)
		}
		if got := compact(t, one.Document); got != doc {
			t.Fatalf("find_one returned\n%s\nwant\n%s", got, doc)
		}
		var stream bytes.Buffer
		runCLI(t, nil, &stream, "call", "-addr", addr, "-stream", "mongo.documents", "find", `{"collection":"cli"}`)
		if got := strings.TrimSuffix(stream.String(), "\n"); got != doc {
			t.Fatalf("find streamed\n%s\nwant\n%s", got, doc)
		}
	})

	t.Run("Go API", func(t *testing.T) {
		h := goHost(t, path)
		doc := typedDocument("65a1b2c3d4e5f60718293a02")
		if _, err := h.Invoke(t.Context(), "mongo.documents", "insert_one", map[string]any{"collection": "go", "document": json.RawMessage(doc)}); err != nil {
			t.Fatal(err)
		}
		raw, err := h.Invoke(t.Context(), "mongo.documents", "find_one", map[string]any{"collection": "go"})
		if err != nil {
			t.Fatal(err)
		}
		var one sdk.DocFindOneResult
		if err := json.Unmarshal(raw, &one); err != nil || compact(t, one.Document) != doc {
			t.Fatalf("find_one returned %s (%v), want the document %s", raw, err, doc)
		}
		err = host.Use(t.Context(), h, "mongo.documents", func(l *host.Lease) error {
			docs, err := l.OpenDocuments(t.Context(), "find", map[string]any{"collection": "go"})
			if err != nil {
				return err
			}
			defer docs.Close()
			n := 0
			for docs.Next() {
				n++
				if got := string(docs.Document()); got != doc {
					t.Errorf("OpenDocuments gave\n%s\nwant\n%s", got, doc)
				}
				// What a Go program does with it: the driver's own types.
				var d bson.D
				if err := bson.UnmarshalExtJSON(docs.Document(), true, &d); err != nil {
					t.Errorf("the document is not canonical Extended JSON: %v", err)
				}
				if _, ok := d[1].Value.(int32); !ok {
					t.Errorf("int32 decoded as %T", d[1].Value)
				}
				if _, ok := d[2].Value.(int64); !ok {
					t.Errorf("int64 decoded as %T", d[2].Value)
				}
			}
			if err := docs.Err(); err != nil {
				return err
			}
			if n != 1 || string(docs.Result()) != `{"count":1}` {
				t.Errorf("%d documents, result %s", n, docs.Result())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// compact returns JSON without insignificant space.
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}

// A duplicate _id is conflict, with the server's code 11000, through the
// CLI and the Go API; the first document stays as it was.
func TestADuplicateInsertIsAConflictWithCode11000(t *testing.T) {
	db, _ := mongoDatabase(t, mongoURL())
	path, addr := mongoConfig(t, mongoURL(), db, "")
	startHost(t, path, addr)
	insert := `{"collection":"orders","document":{"_id":"order-1","total":{"$numberInt":"5"}}}`
	runCLI(t, nil, nil, "call", "-addr", addr, "mongo.documents", "insert_one", insert)
	r := nebula(t, nil, "call", "-addr", addr, "mongo.documents", "insert_one", strings.Replace(insert, `"5"`, `"6"`, 1))
	mustExit(t, r, 2, "a duplicate insert_one")
	if !strings.Contains(r.stderr, "(conflict, code 11000)") || !strings.Contains(r.stderr, "duplicate key") {
		t.Errorf("a duplicate insert printed %q, want a conflict with code 11000 that says duplicate key", r.stderr)
	}

	h := goHost(t, path)
	_, err := h.Invoke(t.Context(), "mongo.documents", "insert_one", json.RawMessage(insert))
	var se *sdk.Error
	if sdk.KindOf(err) != sdk.KindConflict || !errors.As(err, &se) || se.Code != "11000" {
		t.Fatalf("a duplicate insert through the Go API: %v (kind %s), want conflict with code 11000", err, sdk.KindOf(err))
	}
	raw, err := h.Invoke(t.Context(), "mongo.documents", "find_one", json.RawMessage(`{"collection":"orders"}`))
	if err != nil || !strings.Contains(string(raw), `"total":{"$numberInt":"5"}`) {
		t.Fatalf("after the refused inserts: %s %v", raw, err)
	}
}

// streamDocs is how many documents the bounded-memory test streams.
const streamDocs = 200_000

// heapBudget is how much the host's heap may grow while they stream.
const heapBudget = 32 << 20

// 200,000 documents stream through the host, from the plugin binary
// through Lease.OpenDocuments, while the host's heap grows by less than
// heapBudget: the plugin sends them a batch at a time and the host
// holds one chunk of lines.
func TestTwoHundredThousandDocumentsStreamThroughTheHostInBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts and streams 200,000 documents")
	}
	db, direct := mongoDatabase(t, mongoURL())
	fill(t, direct.Collection("many"), streamDocs)
	path, _ := mongoConfig(t, mongoURL(), db, "")
	h := goHost(t, path)

	err := host.Use(t.Context(), h, "mongo.documents", func(l *host.Lease) error {
		docs, err := l.OpenDocuments(t.Context(), "find", map[string]any{"collection": "many", "sort": json.RawMessage(`{"_id":1}`), "batch_size": 1000})
		if err != nil {
			return err
		}
		defer docs.Close()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base, peak := ms.HeapAlloc, ms.HeapAlloc
		n, sum := 0, int64(0)
		for docs.Next() {
			var d struct {
				N struct {
					Int string `json:"$numberInt"`
				} `json:"n"`
			}
			if err := json.Unmarshal(docs.Document(), &d); err != nil {
				return err
			}
			if want := fmt.Sprint(n); d.N.Int != want {
				return fmt.Errorf("document %d has n %s", n, d.N.Int)
			}
			n++
			sum += int64(len(docs.Document()))
			if n%5000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		if err := docs.Err(); err != nil {
			return err
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		growth := int64(peak) - int64(base)
		t.Logf("%d documents, %d MiB of Extended JSON; heap %d MiB at the start, at most %d MiB (growth %.1f MiB)",
			n, sum>>20, base>>20, peak>>20, float64(growth)/(1<<20))
		if n != streamDocs {
			return fmt.Errorf("streamed %d documents, want %d", n, streamDocs)
		}
		if growth >= heapBudget {
			return fmt.Errorf("the heap grew by %d MiB while streaming, budget %d MiB", growth>>20, heapBudget>>20)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fill inserts n documents {_id, n, customer, items} into coll, unless
// it holds them already.
func fill(t *testing.T, coll *mongo.Collection, n int) {
	t.Helper()
	const batch = 5000
	docs := make([]any, 0, batch)
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("doc-%07d", i)}, {Key: "n", Value: int32(i)},
			{Key: "customer", Value: fmt.Sprintf("customer-%d", i%1000)},
			{Key: "items", Value: bson.A{bson.D{{Key: "sku", Value: "A-1"}, {Key: "qty", Value: int32(i % 7)}}}}})
		if len(docs) == batch || i == n-1 {
			if _, err := coll.InsertMany(t.Context(), docs); err != nil {
				t.Fatalf("inserting the documents: %v", err)
			}
			docs = docs[:0]
		}
	}
}

// ferretDB is a FerretDB server of the test's own, which it can kill and
// start again on the same port and data.
type ferretDB struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

// newFerretDB builds testenv's FerretDB (cached by the build cache after
// scripts/testenv built it) and starts it on a free port.
func newFerretDB(t *testing.T) *ferretDB {
	t.Helper()
	f := &ferretDB{bin: filepath.Join(t.TempDir(), "ferretdb"), dir: t.TempDir()}
	build := exec.Command("go", "build", "-o", f.bin, "./cmd/ferretdb")
	build.Dir = filepath.Join(moduleRoot, "testenv")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testenv/cmd/ferretdb: %v\n%s", err, out)
	}
	f.addr = freeAddress(t)
	f.start(t)
	t.Cleanup(func() { f.kill(t) })
	return f
}

func (f *ferretDB) start(t *testing.T) {
	t.Helper()
	f.cmd = exec.Command(f.bin, "-listen", f.addr, "-data-dir", f.dir)
	f.cmd.Stdout, f.cmd.Stderr = io.Discard, io.Discard
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", f.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("FerretDB does not listen on %s: %v", f.addr, err)
		}
	}
}

// kill kills the server at once, as a crash would.
func (f *ferretDB) kill(t *testing.T) {
	t.Helper()
	if f.cmd == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGKILL)
	_ = f.cmd.Wait()
	f.cmd = nil
}

func (f *ferretDB) url() string { return "mongodb://" + f.addr + "/" }

// A server killed while a find's cursor is open ends the stream with
// unavailable, and so do calls while it is down; once it is back, the
// next call succeeds.
func TestKillingTheServerMidCursorIsUnavailableThenTheNextCallSucceeds(t *testing.T) {
	f := newFerretDB(t)
	db, direct := mongoDatabase(t, f.url())
	fill(t, direct.Collection("many"), 20_000)
	path, _ := mongoConfig(t, f.url(), db, "")
	h := goHost(t, path)

	err := host.Use(t.Context(), h, "mongo.documents", func(l *host.Lease) error {
		docs, err := l.OpenDocuments(t.Context(), "find", map[string]any{"collection": "many", "batch_size": 100})
		if err != nil {
			return err
		}
		defer docs.Close()
		n := 0
		for docs.Next() {
			if n++; n == 150 {
				f.kill(t)
			}
		}
		if n >= 20_000 {
			t.Errorf("the whole collection came through a killed server")
		}
		if err := docs.Err(); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Errorf("the stream after the kill ended with %v (kind %s), want unavailable", err, sdk.KindOf(err))
		} else {
			t.Logf("after %d documents: %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// While it is down, a call waits server_selection_timeout for it and
	// fails as unavailable, not as a timeout of its own.
	if _, err := h.Invoke(t.Context(), "mongo.documents", "count", map[string]any{"collection": "many"}); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("a call while the server is down: %v (kind %s), want unavailable", err, sdk.KindOf(err))
	}

	f.start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	raw, err := h.Invoke(ctx, "mongo.documents", "count", map[string]any{"collection": "many"})
	if err != nil || string(raw) != `{"count":20000}` {
		t.Fatalf("the first call after the server came back: %s %v", raw, err)
	}
}

// FerretDB has no multi-document transactions: start_transaction on a
// mongo_session says so, as failed_precondition, and the session's other
// operations work.
func TestStartTransactionOnAServerWithoutTransactionsIsFailedPrecondition(t *testing.T) {
	db, _ := mongoDatabase(t, mongoURL())
	path, _ := mongoConfig(t, mongoURL(), db, "")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(src, []byte(`resource "mongo" "documents"`), []byte(`resource "mongo_session" "documents"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	h := goHost(t, path)
	err = host.Use(t.Context(), h, "mongo_session.documents", func(l *host.Lease) error {
		_, err := l.Invoke(t.Context(), "start_transaction", nil)
		if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "replica set") {
			t.Errorf("start_transaction: %v (kind %s), want failed_precondition naming the replica set transactions need", err, sdk.KindOf(err))
		}
		if _, err := l.Invoke(t.Context(), "insert_one", map[string]any{"collection": "s", "document": map[string]any{"a": 1}}); err != nil {
			t.Errorf("insert_one in the session: %v", err)
		}
		raw, err := l.Invoke(t.Context(), "count", map[string]any{"collection": "s"})
		if err != nil || string(raw) != `{"count":1}` {
			t.Errorf("count in the session: %s %v", raw, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
