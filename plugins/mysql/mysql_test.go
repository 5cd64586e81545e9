package mysql_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/nebula-resource/nebula-resource/plugins/mysql"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func testDSN() string {
	if dsn := os.Getenv("NEBULA_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/test"
}

func configJSON(t testing.TB) string {
	b, err := json.Marshal(map[string]any{"dsn": testDSN(), "connect_timeout": "5s"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// adminDB is a plain connection pool to the test server, for setup and for
// looking at the data from outside the instance under test. The test fails
// when the server is unreachable.
func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := gomysql.ParseDSN(testDSN())
	if err != nil {
		t.Fatalf("NEBULA_TEST_MYSQL_DSN: %v", err)
	}
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("the MySQL/MariaDB test server at %s is unreachable (%v): run `scripts/testenv up` (or set NEBULA_TEST_MYSQL_DSN)", cfg.Addr, err)
	}
	return db
}

// table creates a table with a unique name and drops it when the test ends.
func table(t *testing.T, db *sql.DB, columns string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE TABLE " + name + " (" + columns + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + name) })
	return name
}

type session interface {
	sdk.Instance
	sdk.SQLInstance
	sdk.Resetter
}

// open opens an instance through the in-process gRPC plugin path.
func open(t *testing.T) session {
	t.Helper()
	adminDB(t)
	d := sdktest.Connect(t, mysql.New())
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "mysql", Name: "db", Config: json.RawMessage(configJSON(t))})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst.(session)
}

func queryAll(t *testing.T, s sdk.SQLInstance, q string, args ...sdk.Value) ([]sdk.Column, [][]sdk.Value) {
	t.Helper()
	return sdktest.QueryAll(t, s, q, args...)
}

func exec(t *testing.T, s sdk.SQLInstance, q string, args ...sdk.Value) sdk.ExecResult {
	t.Helper()
	res, err := s.Exec(t.Context(), sdk.Statement{SQL: q, Args: args})
	if err != nil {
		t.Fatalf("exec %q: %v", q, err)
	}
	return res
}

func isMariaDB(t *testing.T, s sdk.SQLInstance) bool {
	_, rows := queryAll(t, s, "SELECT VERSION()")
	return strings.Contains(strings.ToLower(rows[0][0].Text), "mariadb")
}

func intV(n int64) sdk.Value    { return sdk.Value{Kind: sdk.ValueInt, Int: n} }
func textV(s string) sdk.Value  { return sdk.Value{Kind: sdk.ValueText, Text: s} }
func countOf(v sdk.Value) int64 { return v.Int }
func errCode(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestEveryValueKindRoundTrips(t *testing.T) {
	s := open(t)
	db := adminDB(t)
	tbl := table(t, db, `id INT AUTO_INCREMENT PRIMARY KEY, b BOOLEAN NULL, i BIGINT NULL, u BIGINT UNSIGNED NULL,
		f DOUBLE NULL, f4 FLOAT NULL, d DECIMAL(40,10) NULL, s VARCHAR(100) NULL, bin VARBINARY(16) NULL, bl BLOB NULL,
		dt DATE NULL, tm TIME(6) NULL, ts DATETIME(6) NULL, tstz TIMESTAMP(6) NULL, j JSON NULL, uu CHAR(36) NULL`)
	kolkata := time.FixedZone("", 5*3600+1800)
	in := []sdk.Value{
		{Kind: sdk.ValueBool, Bool: true},
		intV(math.MinInt64),
		{Kind: sdk.ValueDecimal, Text: "18446744073709551615"},
		{Kind: sdk.ValueFloat, Float: -1.5e300},
		{Kind: sdk.ValueFloat, Float: 1.5},
		{Kind: sdk.ValueDecimal, Text: "-12345678901234567890.1234567890"}, // 30 digits
		textV("héllo, 世界 \x00 end"),
		{Kind: sdk.ValueBytes, Bytes: []byte{0xff, 0x00, 0xfe, 0x80}},
		{Kind: sdk.ValueBytes, Bytes: []byte{}},
		{Kind: sdk.ValueDate, Time: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
		{Kind: sdk.ValueTime, Duration: 23*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond},
		{Kind: sdk.ValueTimestamp, Time: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{Kind: sdk.ValueTimestampTZ, Time: time.Date(2026, 11, 27, 21, 0, 0, 123456000, kolkata)},
		{Kind: sdk.ValueJSON, Bytes: []byte(`{"a":[1,2,{"b":null}]}`)},
		{Kind: sdk.ValueUUID, Bytes: []byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}},
	}
	const cols = "b, i, u, f, f4, d, s, bin, bl, dt, tm, ts, tstz, j, uu"
	ins := "INSERT INTO " + tbl + " (" + cols + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	res := exec(t, s, ins, in...)
	if res.RowsAffected != 1 || !res.HasLastInsertID || res.LastInsertID != 1 {
		t.Fatalf("insert: %+v", res)
	}
	nulls := make([]sdk.Value, len(in))
	for i := range nulls {
		nulls[i] = sdk.Null
	}
	if res := exec(t, s, ins, nulls...); res.LastInsertID != 2 {
		t.Fatalf("second insert: %+v", res)
	}

	maria := isMariaDB(t, s)
	want := []sdk.Value{
		intV(1),
		intV(math.MinInt64),
		{Kind: sdk.ValueDecimal, Text: "18446744073709551615"},
		{Kind: sdk.ValueFloat, Float: -1.5e300},
		{Kind: sdk.ValueFloat, Float: 1.5},
		{Kind: sdk.ValueDecimal, Text: "-12345678901234567890.1234567890"},
		textV("héllo, 世界 \x00 end"),
		{Kind: sdk.ValueBytes, Bytes: []byte{0xff, 0x00, 0xfe, 0x80}},
		{Kind: sdk.ValueBytes, Bytes: []byte{}},
		{Kind: sdk.ValueDate, Time: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
		in[10],
		in[11],
		{Kind: sdk.ValueTimestampTZ, Time: in[12].Time.UTC()},
		{Kind: sdk.ValueJSON, Bytes: in[13].Bytes},
		textV("550e8400-e29b-41d4-a716-446655440000"),
	}
	wantCols := []sdk.Column{
		{Name: "b", Kind: sdk.ValueInt, DatabaseType: "TINYINT"},
		{Name: "i", Kind: sdk.ValueInt, DatabaseType: "BIGINT"},
		{Name: "u", Kind: sdk.ValueInt, DatabaseType: "UNSIGNED BIGINT"},
		{Name: "f", Kind: sdk.ValueFloat, DatabaseType: "DOUBLE"},
		{Name: "f4", Kind: sdk.ValueFloat, DatabaseType: "FLOAT"},
		{Name: "d", Kind: sdk.ValueDecimal, DatabaseType: "DECIMAL"},
		{Name: "s", Kind: sdk.ValueText, DatabaseType: "VARCHAR"},
		{Name: "bin", Kind: sdk.ValueBytes, DatabaseType: "VARBINARY"},
		{Name: "bl", Kind: sdk.ValueBytes, DatabaseType: "BLOB"},
		{Name: "dt", Kind: sdk.ValueDate, DatabaseType: "DATE"},
		{Name: "tm", Kind: sdk.ValueTime, DatabaseType: "TIME"},
		{Name: "ts", Kind: sdk.ValueTimestamp, DatabaseType: "DATETIME"},
		{Name: "tstz", Kind: sdk.ValueTimestampTZ, DatabaseType: "TIMESTAMP"},
		{Name: "j", Kind: sdk.ValueJSON, DatabaseType: "JSON"},
		{Name: "uu", Kind: sdk.ValueText, DatabaseType: "CHAR"},
	}
	if maria {
		// MariaDB's JSON is LONGTEXT on the wire (see doc.go).
		want[13] = textV(string(in[13].Bytes))
		wantCols[13] = sdk.Column{Name: "j", Kind: sdk.ValueText, DatabaseType: "TEXT"}
	}

	// Text protocol (no arguments) and binary protocol (arguments).
	for _, q := range []struct {
		name string
		sql  string
		args []sdk.Value
	}{
		{"text", "SELECT " + cols + " FROM " + tbl + " ORDER BY id", nil},
		{"binary", "SELECT " + cols + " FROM " + tbl + " WHERE id >= ? ORDER BY id", []sdk.Value{intV(1)}},
	} {
		t.Run(q.name, func(t *testing.T) {
			gotCols, rows := queryAll(t, s, q.sql, q.args...)
			if !reflect.DeepEqual(gotCols, wantCols) {
				t.Errorf("columns:\n got %+v\nwant %+v", gotCols, wantCols)
			}
			if len(rows) != 2 {
				t.Fatalf("%d rows, want 2", len(rows))
			}
			for i, w := range want {
				if !sameValue(rows[0][i], w) {
					t.Errorf("column %s: got %+v, want %+v", wantCols[i].Name, rows[0][i], w)
				}
				if !rows[1][i].IsNull() || rows[1][i].Kind != sdk.ValueNull {
					t.Errorf("column %s of the NULL row: got %+v", wantCols[i].Name, rows[1][i])
				}
			}
		})
	}

	t.Run("TimestampTZKeepsTheInstant", func(t *testing.T) {
		_, rows := queryAll(t, s, "SELECT tstz FROM "+tbl+" WHERE id = 1")
		if got := rows[0][0].Time; !got.Equal(in[12].Time) {
			t.Fatalf("got %v, want the instant %v", got, in[12].Time)
		}
	})

	t.Run("ArgumentsWithoutAMySQLTypeAreInvalid", func(t *testing.T) {
		for _, v := range []sdk.Value{
			{Kind: sdk.ValueInterval, Interval: sdk.Interval{Days: 1}},
			{Kind: sdk.ValueArray, Elem: sdk.ValueInt, Array: []sdk.Value{intV(1)}},
		} {
			_, err := s.Query(t.Context(), sdk.Statement{SQL: "SELECT ?", Args: []sdk.Value{v}})
			if sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Errorf("%s argument: got %v, want invalid_argument", v.Kind, err)
			}
		}
	})

	t.Run("TimeOutsideADay", func(t *testing.T) {
		d := -(838*time.Hour + 59*time.Minute + 59*time.Second)
		_, rows := queryAll(t, s, "SELECT CAST(? AS TIME)", sdk.Value{Kind: sdk.ValueTime, Duration: d})
		if v := rows[0][0]; v.Kind != sdk.ValueTime || v.Duration != d {
			t.Fatalf("got %+v, want %v", v, d)
		}
	})
}

func sameValue(a, b sdk.Value) bool {
	if a.Kind != b.Kind || a.Bool != b.Bool || a.Int != b.Int || a.Text != b.Text || !bytes.Equal(a.Bytes, b.Bytes) ||
		(a.Bytes == nil) != (b.Bytes == nil) && a.Kind == sdk.ValueBytes && len(b.Bytes) != 0 ||
		a.Duration != b.Duration || math.Float64bits(a.Float) != math.Float64bits(b.Float) || !a.Time.Equal(b.Time) {
		return false
	}
	_, ao := a.Time.Zone()
	_, bo := b.Time.Zone()
	return ao == bo
}

func TestCommitAndRollbackVisibility(t *testing.T) {
	s := open(t)
	db := adminDB(t)
	tbl := table(t, db, "id INT PRIMARY KEY, v VARCHAR(10)")
	count := func() int64 {
		var n int64
		if err := db.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ctx := t.Context()

	if err := s.Commit(ctx); sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("Commit without a transaction: %v", err)
	}
	if err := s.Rollback(ctx); sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("Rollback without a transaction: %v", err)
	}

	if err := s.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationReadCommitted}); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, sdk.TxOptions{}); sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("Begin in a transaction: %v", err)
	}
	exec(t, s, "INSERT INTO "+tbl+" VALUES (?, ?)", intV(1), textV("a"))
	if n := count(); n != 0 {
		t.Fatalf("uncommitted row visible outside: %d", n)
	}
	_, rows := queryAll(t, s, "SELECT COUNT(*) FROM "+tbl)
	if countOf(rows[0][0]) != 1 {
		t.Fatalf("own row not visible inside the transaction: %+v", rows)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("committed row not visible: %d", n)
	}

	if err := s.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationSerializable}); err != nil {
		t.Fatal(err)
	}
	exec(t, s, "INSERT INTO "+tbl+" VALUES (?, ?)", intV(2), textV("b"))
	if err := s.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("rolled back row visible: %d rows", n)
	}
	_, rows = queryAll(t, s, "SELECT COUNT(*) FROM "+tbl)
	if countOf(rows[0][0]) != 1 {
		t.Fatalf("rolled back row visible to the session: %+v", rows)
	}

	// A read-only transaction refuses writes.
	if err := s.Begin(ctx, sdk.TxOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Exec(ctx, sdk.Statement{SQL: "INSERT INTO " + tbl + " VALUES (3, 'c')"})
	if err == nil || errCode(err) != "1792" {
		t.Fatalf("write in a read-only transaction: %v (code %q)", err, errCode(err))
	}
	if err := s.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, sdk.TxOptions{Isolation: "snapshot"}); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("unknown isolation level: %v", err)
	}
}

func TestResetMidTransactionLeavesACleanSession(t *testing.T) {
	s := open(t)
	db := adminDB(t)
	tbl := table(t, db, "id INT PRIMARY KEY")
	ctx := t.Context()
	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	exec(t, s, "INSERT INTO "+tbl+" VALUES (1)")
	exec(t, s, "SET SESSION time_zone = '+05:00', SESSION sql_mode = 'ANSI_QUOTES', SESSION autocommit = 0")
	if err := s.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	var n int64
	if err := db.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after Reset the row is there (%d, %v)", n, err)
	}
	if _, rows := queryAll(t, s, "SELECT COUNT(*) FROM "+tbl); rows[0][0].Int != 0 {
		t.Fatalf("after Reset the session sees the row: %+v", rows)
	}
	// (Without FROM: MariaDB 10.11 reads @@autocommit as 0 in a query
	// with a table.)
	_, rows := queryAll(t, s, "SELECT @@SESSION.time_zone, @@SESSION.autocommit, @@SESSION.sql_mode LIKE '%ANSI_QUOTES%'")
	if r := rows[0]; r[0].Text != "+00:00" || r[1].Int != 1 || r[2].Int != 0 {
		t.Fatalf("session after Reset: time_zone, autocommit, ansi_quotes = %+v", r)
	}
	// The next use starts from scratch: a transaction can begin, and
	// autocommit is back on.
	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatalf("Begin after Reset: %v", err)
	}
	if err := s.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	exec(t, s, "INSERT INTO "+tbl+" VALUES (2)")
	if err := db.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil || n != 1 {
		t.Fatalf("autocommit insert after Reset not visible (%d, %v)", n, err)
	}
}

func TestErrorsKeepTheMySQLNumber(t *testing.T) {
	s := open(t)
	db := adminDB(t)
	tbl := table(t, db, "id INT PRIMARY KEY")
	exec(t, s, "INSERT INTO "+tbl+" VALUES (?)", intV(1))
	for _, c := range []struct {
		sql  string
		args []sdk.Value
		kind sdk.Kind
		code string
	}{
		{"INSERT INTO " + tbl + " VALUES (?)", []sdk.Value{intV(1)}, sdk.KindConflict, "1062"},
		{"INSERT INTO " + tbl + " VALUES (1)", nil, sdk.KindConflict, "1062"},
		{"SELEC 1", nil, sdk.KindInvalidArgument, "1064"},
		{"SELECT * FROM no_such_table_xyz", nil, sdk.KindInvalidArgument, "1146"},
		{"SELECT no_such_column FROM " + tbl + " WHERE id = ?", []sdk.Value{intV(1)}, sdk.KindInvalidArgument, "1054"},
	} {
		_, err := s.Exec(t.Context(), sdk.Statement{SQL: c.sql, Args: c.args})
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != c.kind || e.Code != c.code {
			t.Errorf("%s: got %v (kind %q code %q), want kind %q code %q", c.sql, err, sdk.KindOf(err), errCode(err), c.kind, c.code)
		}
	}
	// The session still works.
	if _, rows := queryAll(t, s, "SELECT COUNT(*) FROM "+tbl); rows[0][0].Int != 1 {
		t.Fatalf("count: %+v", rows)
	}
}

func TestKilledConnectionIsUnavailable(t *testing.T) {
	s := open(t)
	db := adminDB(t)
	_, rows := queryAll(t, s, "SELECT CONNECTION_ID()")
	id := rows[0][0].Int
	if _, err := db.Exec("KILL ?", id); err != nil {
		t.Fatalf("KILL %d: %v", id, err)
	}
	_, err := s.Exec(t.Context(), sdk.Statement{SQL: "SELECT 1"})
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("call after KILL: got %v (kind %q), want unavailable", err, sdk.KindOf(err))
	}
	if err := s.Check(t.Context()); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Check after KILL: got %v, want unavailable", err)
	}
	if err := s.Reset(t.Context()); err == nil {
		t.Fatal("Reset of a killed session succeeded")
	}
}

func TestStreams100kRows(t *testing.T) {
	s := open(t)
	const n = 100_000
	// Both servers bound recursion by default (MariaDB stops quietly
	// after 1000 iterations).
	if isMariaDB(t, s) {
		exec(t, s, "SET SESSION max_recursive_iterations = 1000000")
	} else {
		exec(t, s, "SET SESSION cte_max_recursion_depth = 1000000")
	}
	rows, err := s.Query(t.Context(), sdk.Statement{SQL: "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?) SELECT n, CONCAT('row ', n) FROM seq", Args: []sdk.Value{intV(n)}})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var count, sum int64
	for rows.Next() {
		v := rows.Values()
		count++
		sum += v[0].Int
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if count != n || sum != n*(n+1)/2 {
		t.Fatalf("read %d rows summing to %d, want %d rows", count, sum, n)
	}
	// The session is usable after the stream.
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestClosedInstanceIsUnavailable(t *testing.T) {
	s := open(t)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exec(t.Context(), sdk.Statement{SQL: "SELECT 1"}); err == nil {
		t.Fatal("Exec on a closed instance succeeded")
	}
}

func TestConfigErrorsHideThePassword(t *testing.T) {
	d := mysql.New()
	for _, cfg := range []string{
		`{"dsn": "root:s3cretpw@tcp(127.0.0.1:3306)/test?parseTime=s3cretpw"}`,
		`{"dsn": "root:s3cretpw@nosuchnet"}`,
		`{"dsn": "root@tcp(127.0.0.1:3306)/test", "connect_timeout": "0s"}`,
	} {
		err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "mysql", Name: "x", Config: json.RawMessage(cfg)})
		if err == nil {
			t.Errorf("%s accepted", cfg)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	info := d.Info()
	typ, _ := info.Type("mysql")
	for _, name := range []string{"dsn", "password"} {
		if a, ok := typ.Config.Attribute(name); !ok || !a.Sensitive {
			t.Errorf("attribute %q is not sensitive", name)
		}
	}
}

func TestAWrongPasswordIsUnauthenticated(t *testing.T) {
	adminDB(t)
	cfg, _ := json.Marshal(map[string]any{"dsn": testDSN(), "password": "definitely-wrong-pw"})
	d := sdktest.Connect(t, mysql.New())
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "mysql", Name: "db", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close(context.Background())
	inst, err := res.Open(t.Context())
	if err == nil {
		_ = inst.Close(context.Background())
		t.Skip("the server accepts any password for this user (unix_socket or no auth)")
	}
	if sdk.KindOf(err) != sdk.KindUnauthenticated || strings.Contains(err.Error(), "definitely-wrong-pw") {
		t.Fatalf("wrong password: %v (kind %q)", err, sdk.KindOf(err))
	}
}

var conformance = func(t *testing.T) sdktest.Suite {
	return sdktest.Suite{
		Type:          "mysql",
		Config:        configJSON(t),
		InvalidConfig: `{"dsn": "not a dsn"}`,
		Probe:         sdk.InvokeRequest{Operation: "ping", Args: json.RawMessage(`{}`)},
	}
}

func TestMySQLConformanceInProcess(t *testing.T) {
	adminDB(t)
	sdktest.RunDriver(t, mysql.New(), conformance(t))
}

func TestMySQLConformanceAsBuiltBinary(t *testing.T) {
	adminDB(t)
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-mysql"), conformance(t))
}

func TestDeadlockIsARetryableConflict(t *testing.T) {
	s1, s2 := open(t), open(t)
	db := adminDB(t)
	tbl := table(t, db, "id INT PRIMARY KEY, v INT")
	if _, err := db.Exec("INSERT INTO " + tbl + " VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, s := range []session{s1, s2} {
		if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, s1, "UPDATE "+tbl+" SET v = 1 WHERE id = 1")
	exec(t, s2, "UPDATE "+tbl+" SET v = 2 WHERE id = 2")
	errs := make(chan error, 2)
	go func() {
		_, err := s1.Exec(ctx, sdk.Statement{SQL: "UPDATE " + tbl + " SET v = 1 WHERE id = 2"})
		errs <- err
	}()
	time.Sleep(200 * time.Millisecond) // let s1 wait for the lock
	_, err2 := s2.Exec(ctx, sdk.Statement{SQL: "UPDATE " + tbl + " SET v = 2 WHERE id = 1"})
	if err2 == nil {
		_ = s2.Rollback(ctx) // s1 was the victim; let it finish
	}
	err1 := <-errs
	err := err2
	if err == nil {
		err = err1
	}
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindConflict || e.Code != "1213" || !sdk.IsRetryable(err) {
		t.Fatalf("deadlock: got %v / %v, want a retryable conflict with code 1213", err1, err2)
	}
	_ = s1.Rollback(ctx)
	_ = s2.Rollback(ctx)
}

func TestCanceledQueryStopsAndTheSessionIsReplaced(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Exec(ctx, sdk.Statement{SQL: "SELECT SLEEP(10)"})
	if k := sdk.KindOf(err); k != sdk.KindTimeout && k != sdk.KindCanceled {
		t.Fatalf("got %v (kind %q), want timeout or canceled", err, k)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the canceled query took %v", d)
	}
	// go-sql-driver closes the connection of a canceled call: the session
	// is gone, and Reset says so, so that the host replaces the instance.
	if err := s.Reset(t.Context()); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Reset after cancel: %v, want unavailable", err)
	}
}
