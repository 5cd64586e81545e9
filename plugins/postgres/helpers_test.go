package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nebula-resource/nebula-resource/plugins/postgres"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testURL returns the test server's URL and fails the test, never skips
// it, when the server does not answer.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("NEBULA_TEST_POSTGRES_URL")
	if u == "" {
		u = defaultTestURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable (NEBULA_TEST_POSTGRES_URL or %s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", defaultTestURL, err)
	}
	_ = conn.Close(ctx)
	return u
}

// admin opens a direct pgx connection to the test server, beside the
// driver, to look at what the driver did.
func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// session is an instance of the driver reached over in-process gRPC, as the
// host sees it.
type session struct {
	*sdktest.Instance
	sdk.SQLInstance
}

func (s session) Reset(ctx context.Context) error {
	return s.Instance.Instance.(sdk.Resetter).Reset(ctx)
}

// openSession configures a resource with extra settings merged into
// {"url": ...} and opens one instance over gRPC.
func openSession(t testing.TB, extra map[string]any) session {
	t.Helper()
	cfg := map[string]any{"url": testURL(t)}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	inst := sdktest.Open(t, sdktest.Connect(t, postgres.New()), sdk.ConfigureRequest{Type: "postgres", Name: "test", Config: raw})
	return session{Instance: inst, SQLInstance: inst.Instance.(sdk.SQLInstance)}
}

// table creates a table with a unique name, dropped when the test ends.
func table(t testing.TB, columns string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "nebula_test_" + hex.EncodeToString(b)
	a := admin(t)
	if _, err := a.Exec(t.Context(), "CREATE TABLE "+name+" ("+columns+")"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL(t))
		if err != nil {
			t.Errorf("drop table %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			t.Errorf("drop table %s: %v", name, err)
		}
	})
	return name
}

// one runs a query returning one value.
func one(t testing.TB, s sdk.SQLInstance, sql string, args ...sdk.Value) sdk.Value {
	t.Helper()
	_, rows := sdktest.QueryAll(t, s, sql, args...)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("query %q: want one value, got %v", sql, rows)
	}
	return rows[0][0]
}

func wantKind(t testing.TB, err error, kind sdk.Kind, code string) {
	t.Helper()
	if k := sdk.KindOf(err); k != kind {
		t.Fatalf("error kind %q, want %q (err: %v)", k, kind, err)
	}
	if code != "" {
		var e *sdk.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Fatalf("error code: want %s (err: %#v)", code, err)
		}
	}
}
