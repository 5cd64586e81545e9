package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints, on any run.
const want = `stock: A-1 5, B-7 2, C-3 10
ada orders 2 x A-1, 1 x C-3: committed, $84.98
bob orders 1 x A-1, 3 x B-7: rolled back, B-7: 3 wanted, 2 in stock
  left in the database: 0 orders of bob, 0 order lines; stock: A-1 3, B-7 2, C-3 9
cy orders 1 x C-3 and stops before the commit: the host rolls the transaction back when the lease is released
  left in the database: 0 orders of cy, 0 order lines; stock: A-1 3, B-7 2, C-3 9
dan orders 1 x C-3: committed, $45.00
orders in the database:
  ada  2 line(s)   $84.98
  dan  1 line(s)   $45.00
stock: A-1 3, B-7 2, C-3 8
`

// The program, on orders.hcl, against the PostgreSQL of scripts/testenv
// (NEBULA_TEST_POSTGRES_URL) with the plugin binary built from this
// checkout, in a schema of the test's own: ada's and dan's orders commit;
// bob's, which fails at its second line, and cy's, whose lease ends with
// the transaction open, leave no row behind and give back the stock they
// took. A second run, which replaces the tables, prints the same; and the
// database, read beside the host, holds what the program printed.
func TestOrdersCommitWholeOrNotAtAll(t *testing.T) {
	url := os.Getenv("NEBULA_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn := connect(t, url)
	schema := scratchSchema(t, conn)
	t.Setenv("POSTGRES_URL", url)
	plugins := buildPlugin(t)

	for i := range 2 {
		var out bytes.Buffer
		if err := run(t.Context(), "orders.hcl", plugins, schema, &out); err != nil {
			t.Fatalf("run %d: %v\nprinted:\n%s", i+1, err, out.String())
		}
		if got := out.String(); got != want {
			t.Fatalf("run %d printed\n%s\nwant\n%s", i+1, got, want)
		}
	}

	type order struct {
		customer string
		total    int64
		lines    int64
	}
	var orders []order
	rows, err := conn.Query(t.Context(), `SELECT o.customer, o.total_cents, (SELECT count(*) FROM `+schema+`.order_lines l WHERE l.order_id = o.id)
		FROM `+schema+`.orders o ORDER BY o.id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o order
		if err := rows.Scan(&o.customer, &o.total, &o.lines); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if wantOrders := []order{{"ada", 8498, 2}, {"dan", 4500, 1}}; !slices.Equal(orders, wantOrders) {
		t.Errorf("the database holds the orders %+v; want %+v", orders, wantOrders)
	}
	var stock int
	if err := conn.QueryRow(t.Context(), `SELECT sum(stock) FROM `+schema+`.products`).Scan(&stock); err != nil {
		t.Fatal(err)
	}
	if stock != 13 {
		t.Errorf("the database holds %d items in stock; want 13 (17 less ada's 3 and dan's 1)", stock)
	}
}

// The program refuses a -schema that is not a plain identifier, which it
// would otherwise paste into its statements, before it starts anything.
func TestOrdersRefusesASchemaThatIsNotAnIdentifier(t *testing.T) {
	err := run(t.Context(), "orders.hcl", t.TempDir(), "shop; DROP TABLE x", &bytes.Buffer{})
	if err == nil || err.Error() != `-schema "shop; DROP TABLE x": want lower-case letters, digits and _, not starting with a digit` {
		t.Fatalf("run with a bad schema: %v", err)
	}
}

// connect opens a connection to the server at url beside the host, and
// fails the test, never skips it, when the server does not answer.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable at NEBULA_TEST_POSTGRES_URL (%s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", url, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// scratchSchema names a schema of the test's own, and drops it with its
// tables when the test ends.
func scratchSchema(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula_orders_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// buildPlugin builds nebula-plugin-postgres from this checkout into a
// directory of the test's own, and returns the directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-postgres"),
		"github.com/nebula-resource/nebula-resource/plugins/postgres/cmd/nebula-plugin-postgres")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-postgres: %v\nprinted:\n%s", err, out)
	}
	return dir
}
