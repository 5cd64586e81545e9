package host_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/mysql"
	"github.com/nebula-resource/nebula-resource/plugins/sqlite"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// queryJSON runs the JSON query operation and returns its rows.
func queryJSON(t *testing.T, h *host.Host, res, sql string, args ...any) [][]json.RawMessage {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"sql": sql, "args": args})
	out, err := h.Invoke(t.Context(), res, "query", json.RawMessage(raw))
	if err != nil {
		t.Fatalf("query %s: %v", sql, err)
	}
	var r struct{ Rows [][]json.RawMessage }
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("query %s: %v in %s", sql, err, out)
	}
	return r.Rows
}

func execJSON(t *testing.T, h *host.Host, res, sql string, args ...any) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"sql": sql, "args": args})
	if _, err := h.Invoke(t.Context(), res, "exec", json.RawMessage(raw)); err != nil {
		t.Fatalf("exec %s: %v", sql, err)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSQLiteValuesJSONCannotHoldTravelLosslessly: a REAL holding +Inf or
// -Inf and a JSON column holding text that is not JSON used to fail the
// whole query as unknown. They come back tagged, and the tags passed back
// as arguments store the same values again.
func TestSQLiteValuesJSONCannotHoldTravelLosslessly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadHCL(t, `resource "sqlite" "db" {
  path = "`+filepath.Join(dir, "v.db")+`"
}`)
	h := startHost(t, cfg, host.WithDriver("sqlite", sqlite.New()), host.WithLogger(quietLogger()))
	execJSON(t, h, "sqlite.db", "CREATE TABLE v (id INTEGER PRIMARY KEY, r REAL, j JSON)")
	execJSON(t, h, "sqlite.db", `INSERT INTO v VALUES (1, 9e999, '{oops'), (2, -9e999, '{"$float":1}'), (3, 1.5, '[1,2]'), (4, NULL, 'not json at all')`)
	rows := queryJSON(t, h, "sqlite.db", "SELECT r, j FROM v ORDER BY id")
	want := [][2]string{
		{`{"$float":"Infinity"}`, `{"$invalid_json":"{oops"}`},
		{`{"$float":"-Infinity"}`, `{"$json":{"$float":1}}`},
		{`1.5`, `[1,2]`},
		{`null`, `{"$invalid_json":"not json at all"}`},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		if got := [2]string{compact(t, rows[i][0]), compact(t, rows[i][1])}; got != w {
			t.Errorf("row %d = %s, want %s", i+1, got, w)
		}
	}
	// Every value read comes back unchanged when passed as an argument.
	execJSON(t, h, "sqlite.db", "CREATE TABLE w (id INTEGER PRIMARY KEY, r REAL, j JSON)")
	for i, row := range rows {
		execJSON(t, h, "sqlite.db", "INSERT INTO w VALUES (?, ?, ?)", i+1, row[0], row[1])
	}
	again := queryJSON(t, h, "sqlite.db", "SELECT r, j FROM w ORDER BY id")
	for i := range rows {
		for c := range 2 {
			if a, b := compact(t, rows[i][c]), compact(t, again[i][c]); a != b {
				t.Errorf("row %d column %d: %s read back as %s", i+1, c+1, a, b)
			}
		}
	}
	// The typed Go API sees the very values.
	l, err := h.Acquire(t.Context(), "sqlite.db")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	r, err := l.Query(t.Context(), "SELECT r, j FROM w WHERE id = 1")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Next() {
		t.Fatalf("no row: %v", r.Err())
	}
	v := r.Values()
	if !math.IsInf(v[0].Float, 1) || string(v[1].Bytes)+v[1].Text != "{oops" {
		t.Errorf("typed values %+v", v)
	}
	r.Close()
}

// TestPostgresNonFiniteFloatsTravelLosslessly: float8 'Infinity',
// '-Infinity' and 'NaN', alone and in arrays, come back tagged through the
// real plugin and server, and go back as arguments.
func TestPostgresNonFiniteFloatsTravelLosslessly(t *testing.T) {
	h := postgresHost(t, "")
	rows := queryJSON(t, h, "postgres.main", `SELECT 'Infinity'::float8, '-Infinity'::float8, 'NaN'::float8, ARRAY['Infinity'::float8, 1.5], '{"$json":1}'::jsonb, 2.5::float4`)
	want := []string{`{"$float":"Infinity"}`, `{"$float":"-Infinity"}`, `{"$float":"NaN"}`, `[{"$float":"Infinity"},1.5]`, `{"$json":{"$json":1}}`, `2.5`}
	for i, w := range want {
		if got := compact(t, rows[0][i]); got != w {
			t.Errorf("column %d = %s, want %s", i+1, got, w)
		}
	}
	back := queryJSON(t, h, "postgres.main", `SELECT $1::float8 = 'Infinity'::float8, $2::float8 = '-Infinity'::float8, $3::float8 = 'NaN'::float8, $4::jsonb = '{"$json":1}'::jsonb`,
		rows[0][0], rows[0][1], rows[0][2], rows[0][4])
	if got := fmt.Sprint(compact(t, back[0][0]), compact(t, back[0][1]), compact(t, back[0][2]), compact(t, back[0][3])); got != "truetruetruetrue" {
		t.Errorf("tags as arguments compare as %s, want all true", got)
	}
	for _, bad := range []string{`{"$float":"Infinit"}`, `{"$float":true}`, `{"$invalid_json":5}`} {
		raw := `{"sql":"SELECT $1::float8","args":[` + bad + `]}`
		if _, err := h.Invoke(t.Context(), "postgres.main", "query", raw); sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("argument %s: %v, want invalid_argument", bad, err)
		}
	}
}

// TestMySQLValuesTravelLosslessly: MariaDB keeps no infinities and checks
// its JSON columns, so the tags there are the escape of a JSON value that
// looks like one; an infinite argument is the caller's invalid_argument,
// never unknown.
func TestMySQLValuesTravelLosslessly(t *testing.T) {
	dsn := os.Getenv("NEBULA_TEST_MYSQL_DSN")
	if dsn == "" {
		dsn = "root@tcp(127.0.0.1:3306)/test"
	}
	cfg := loadHCL(t, `resource "mysql" "db" {
  dsn = "`+dsn+`"
}`)
	h := startHost(t, cfg, host.WithDriver("mysql", mysql.New()), host.WithLogger(quietLogger()))
	rows := queryJSON(t, h, "mysql.db", `SELECT JSON_OBJECT('$float', 1), 1e308 * 10 IS NULL, CAST(1.5 AS DOUBLE)`)
	t.Logf("mysql row: %s", rows[0])
	raw := `{"sql":"SELECT ?","args":[{"$float":"Infinity"}]}`
	_, err := h.Invoke(t.Context(), "mysql.db", "query", raw)
	if k := sdk.KindOf(err); err != nil && k != sdk.KindInvalidArgument {
		t.Errorf("an infinite argument: %v (kind %s), want success or invalid_argument", err, k)
	}
	// MariaDB has no JSON type on the wire: a JSON document comes back as
	// text, a JSON string, whatever it holds.
	if got := compact(t, rows[0][0]); got != `"{\"$float\": 1}"` {
		t.Errorf("JSON_OBJECT came back as %s", got)
	}
}
