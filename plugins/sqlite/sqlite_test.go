package sqlite_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/sqlite"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The tests run the driver through sdktest.Connect, so that every value and
// error crosses real gRPC as it does in the host.

func connect(t *testing.T) sdk.Driver {
	t.Helper()
	return sdktest.Connect(t, sqlite.New())
}

func configure(t *testing.T, d sdk.Driver, cfg string) sdk.Resource {
	t.Helper()
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "sqlite", Name: "db", Config: json.RawMessage(cfg)})
	if err != nil {
		t.Fatalf("configure %s: %v", cfg, err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	return res
}

func open(t *testing.T, res sdk.Resource) sdk.SQLInstance {
	t.Helper()
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst.(sdk.SQLInstance)
}

func fileConfig(t *testing.T, extra string) string {
	cfg := `{"path": ` + strconv.Quote(filepath.Join(t.TempDir(), "test.db")) + extra + `}`
	return cfg
}

const memoryConfig = `{"path": ":memory:"}`

// both runs f against a database file and an in-memory database.
func both(t *testing.T, f func(t *testing.T, cfg string)) {
	t.Run("File", func(t *testing.T) { f(t, fileConfig(t, "")) })
	t.Run("Memory", func(t *testing.T) { f(t, memoryConfig) })
}

func table(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t_" + hex.EncodeToString(b[:])
}

func mustExec(t *testing.T, inst sdk.SQLInstance, q string, args ...sdk.Value) sdk.ExecResult {
	t.Helper()
	res, err := inst.Exec(t.Context(), sdk.Statement{SQL: q, Args: args})
	if err != nil {
		t.Fatalf("exec %q: %v", q, err)
	}
	return res
}

func queryAll(t *testing.T, inst sdk.SQLInstance, q string, args ...sdk.Value) ([]sdk.Column, [][]sdk.Value) {
	t.Helper()
	return sdktest.QueryAll(t, inst, q, args...)
}

func count(t *testing.T, inst sdk.SQLInstance, tbl string) int64 {
	t.Helper()
	_, rows := queryAll(t, inst, "SELECT count(*) FROM "+tbl)
	return rows[0][0].Int
}

func wantKind(t *testing.T, err error, kind sdk.Kind, code string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != kind || (code != "" && e.Code != code) {
		t.Fatalf("got error %v (%#v), want kind %s code %q", err, e, kind, code)
	}
	return e
}

func i64(n int64) sdk.Value         { return sdk.Value{Kind: sdk.ValueInt, Int: n} }
func text(s string) sdk.Value       { return sdk.Value{Kind: sdk.ValueText, Text: s} }
func decimal(s string) sdk.Value    { return sdk.Value{Kind: sdk.ValueDecimal, Text: s} }
func ts(t time.Time) sdk.Value      { return sdk.Value{Kind: sdk.ValueTimestamp, Time: t} }
func tstz(t time.Time) sdk.Value    { return sdk.Value{Kind: sdk.ValueTimestampTZ, Time: t} }
func date(t time.Time) sdk.Value    { return sdk.Value{Kind: sdk.ValueDate, Time: t} }
func bytesV(b []byte) sdk.Value     { return sdk.Value{Kind: sdk.ValueBytes, Bytes: b} }
func tod(d time.Duration) sdk.Value { return sdk.Value{Kind: sdk.ValueTime, Duration: d} }

func sameValue(a, b sdk.Value) bool {
	if a.Kind != b.Kind || a.Bool != b.Bool || a.Int != b.Int || a.Text != b.Text || string(a.Bytes) != string(b.Bytes) ||
		a.Duration != b.Duration || a.Interval != b.Interval || a.Elem != b.Elem || len(a.Array) != len(b.Array) {
		return false
	}
	if math.Float64bits(a.Float) != math.Float64bits(b.Float) || !a.Time.Equal(b.Time) {
		return false
	}
	_, ao := a.Time.Zone()
	_, bo := b.Time.Zone()
	return ao == bo
}

func TestEveryValueKindRoundTrips(t *testing.T) {
	both(t, func(t *testing.T, cfg string) {
		inst := open(t, configure(t, connect(t), cfg))
		tbl := table(t)
		mustExec(t, inst, `CREATE TABLE `+tbl+` (id INTEGER PRIMARY KEY, b BOOLEAN, i INTEGER, f REAL,
			d DECIMAL TEXT, n NUMERIC(10,2), s TEXT, by BLOB, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSON)`)
		kolkata := time.FixedZone("", 5*3600+1800)
		newfoundland := time.FixedZone("", -(3*3600 + 1800))
		uuid := []byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
		rows := [][]sdk.Value{{
			i64(1), {Kind: sdk.ValueBool, Bool: true}, i64(math.MinInt64), {Kind: sdk.ValueFloat, Float: -1.5e300},
			decimal("-123456789012345678901234567890.1234567890"), decimal("12.5"), text("héllo, 世界 \x00 end"),
			bytesV([]byte{0xff, 0x00, 0xfe, 0x80}), date(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)),
			tod(23*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond),
			ts(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
			tstz(time.Date(2026, 11, 27, 21, 0, 0, 123456000, kolkata)),
			{Kind: sdk.ValueUUID, Bytes: uuid}, {Kind: sdk.ValueJSON, Bytes: []byte(`{"a":[1,2,{"b":null}]}`)},
		}, {
			i64(2), {Kind: sdk.ValueBool, Bool: false}, i64(math.MaxInt64), {Kind: sdk.ValueFloat, Float: 0.1},
			decimal("0.000000000000000000000000000001"), decimal("42"), text(""),
			bytesV([]byte{}), date(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)), tod(0),
			ts(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)),
			tstz(time.Date(1999, 12, 31, 23, 59, 59, 1000, newfoundland)),
			{Kind: sdk.ValueUUID, Bytes: make([]byte, 16)}, {Kind: sdk.ValueJSON, Bytes: []byte(`"x"`)},
		}, {
			i64(3), sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null, sdk.Null,
		}}
		for _, r := range rows {
			res := mustExec(t, inst, `INSERT INTO `+tbl+` VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, r...)
			if res.RowsAffected != 1 || !res.HasLastInsertID || res.LastInsertID != r[0].Int {
				t.Fatalf("insert: %+v", res)
			}
		}
		cols, got := queryAll(t, inst, `SELECT * FROM `+tbl+` ORDER BY id`)
		wantKinds := []sdk.ValueKind{sdk.ValueInt, sdk.ValueBool, sdk.ValueInt, sdk.ValueFloat, sdk.ValueDecimal, sdk.ValueDecimal,
			sdk.ValueText, sdk.ValueBytes, sdk.ValueDate, sdk.ValueTime, sdk.ValueTimestamp, sdk.ValueTimestampTZ, sdk.ValueUUID, sdk.ValueJSON}
		for n, c := range cols {
			if c.Kind != wantKinds[n] {
				t.Errorf("column %s (%s): kind %s, want %s", c.Name, c.DatabaseType, c.Kind, wantKinds[n])
			}
		}
		if cols[4].DatabaseType != "DECIMAL TEXT" || cols[11].DatabaseType != "TIMESTAMPTZ" {
			t.Errorf("database types: %+v", cols)
		}
		if len(got) != len(rows) {
			t.Fatalf("got %d rows, want %d", len(got), len(rows))
		}
		for r := range rows {
			for c := range rows[r] {
				if !sameValue(got[r][c], rows[r][c]) {
					t.Errorf("row %d column %s: got %+v, want %+v", r, cols[c].Name, got[r][c], rows[r][c])
				}
			}
		}
		// Arguments compare with what they stored.
		_, got = queryAll(t, inst, `SELECT id FROM `+tbl+` WHERE d = ? AND tz = ? AND u = ? AND ts = ?`,
			rows[0][4], rows[0][11], rows[0][12], rows[0][10])
		if len(got) != 1 || got[0][0].Int != 1 {
			t.Errorf("lookup by decimal, timestamptz, uuid and timestamp: %+v", got)
		}
		// The stored texts are the documented ones (read through expressions,
		// which have no declared type).
		_, got = queryAll(t, inst, `SELECT typeof(d), ''||d, typeof(ts), ''||ts, ''||tz, ''||dt, ''||tm, typeof(u), typeof(b) FROM `+tbl+` WHERE id = 1`)
		wantText := []string{"text", "-123456789012345678901234567890.1234567890", "text", "9999-12-31T23:59:59.999999999Z",
			"2026-11-27T21:00:00.123456000+05:30", "0001-01-01", "23:59:59.999999", "blob", "integer"}
		for n, w := range wantText {
			if got[0][n].Kind != sdk.ValueText || got[0][n].Text != w {
				t.Errorf("stored value %d: got %+v, want text %q", n, got[0][n], w)
			}
		}
	})
}

func TestNumericAffinityAndDynamicValues(t *testing.T) {
	inst := open(t, configure(t, connect(t), memoryConfig))
	tbl := table(t)
	mustExec(t, inst, `CREATE TABLE `+tbl+` (n DECIMAL, i INTEGER, m MONEY, x)`)
	// A plain DECIMAL column keeps about 15 digits (NUMERIC affinity), as documented.
	mustExec(t, inst, `INSERT INTO `+tbl+` VALUES (?, 'abc', 7, x'00')`, decimal("1.25"))
	cols, got := queryAll(t, inst, `SELECT n, i, m, x, 1, 2.5, 'x', x'00ff', NULL, CURRENT_TIMESTAMP FROM `+tbl)
	want := []sdk.Value{decimal("1.25"), text("abc"), i64(7), bytesV([]byte{0}), i64(1), {Kind: sdk.ValueFloat, Float: 2.5},
		text("x"), bytesV([]byte{0, 0xff}), sdk.Null}
	for n, w := range want {
		if !sameValue(got[0][n], w) {
			t.Errorf("value %d (%s %q): got %+v, want %+v", n, cols[n].Kind, cols[n].DatabaseType, got[0][n], w)
		}
	}
	for _, c := range cols[2:] {
		if c.Kind != sdk.ValueNull {
			t.Errorf("column %s (%q): kind %s, want null (dynamic)", c.Name, c.DatabaseType, c.Kind)
		}
	}
	if v := got[0][9]; v.Kind != sdk.ValueText || len(v.Text) != len("2006-01-02 15:04:05") {
		t.Errorf("CURRENT_TIMESTAMP: %+v", v)
	}
}

func TestArgumentsSQLiteCannotBindAreInvalidArgument(t *testing.T) {
	inst := open(t, configure(t, connect(t), memoryConfig))
	for name, v := range map[string]sdk.Value{
		"interval":     {Kind: sdk.ValueInterval, Interval: sdk.Interval{Months: 1}},
		"array":        {Kind: sdk.ValueArray, Elem: sdk.ValueInt, Array: []sdk.Value{i64(1)}},
		"bad decimal":  decimal("1.2.3"),
		"short uuid":   {Kind: sdk.ValueUUID, Bytes: []byte{1, 2, 3}},
		"invalid json": {Kind: sdk.ValueJSON, Bytes: []byte(`{`)},
		"time of day":  tod(25 * time.Hour),
	} {
		_, err := inst.Query(t.Context(), sdk.Statement{SQL: "SELECT ?", Args: []sdk.Value{v}})
		if sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("%s: got %v, want invalid_argument", name, err)
		}
		_, err = inst.Exec(t.Context(), sdk.Statement{SQL: "SELECT ?", Args: []sdk.Value{v}})
		if sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("%s (exec): got %v, want invalid_argument", name, err)
		}
	}
}

func TestCommitAndRollbackVisibility(t *testing.T) {
	both(t, func(t *testing.T, cfg string) {
		res := configure(t, connect(t), cfg)
		a, b := open(t, res), open(t, res)
		tbl := table(t)
		mustExec(t, a, `CREATE TABLE `+tbl+` (id INTEGER PRIMARY KEY)`)
		ctx := t.Context()

		if err := a.Begin(ctx, sdk.TxOptions{}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, a, `INSERT INTO `+tbl+` VALUES (1)`)
		if !strings.Contains(cfg, ":memory:") {
			// WAL: the other connection reads the last committed state
			// without waiting. (A shared-cache table is locked instead.)
			if n := count(t, b, tbl); n != 0 {
				t.Fatalf("uncommitted row visible to another instance: %d", n)
			}
		}
		if err := a.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(t, b, tbl); n != 1 {
			t.Fatalf("after commit the other instance sees %d rows, want 1", n)
		}

		if err := a.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationSerializable}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, a, `INSERT INTO `+tbl+` VALUES (2)`)
		if n := count(t, a, tbl); n != 2 {
			t.Fatalf("inside the transaction: %d rows, want 2", n)
		}
		if err := a.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if n, m := count(t, a, tbl), count(t, b, tbl); n != 1 || m != 1 {
			t.Fatalf("after rollback: %d and %d rows, want 1", n, m)
		}
	})
}

func TestASecondInstanceSeesCommittedData(t *testing.T) {
	both(t, func(t *testing.T, cfg string) {
		d := connect(t)
		res := configure(t, d, cfg)
		tbl := table(t)
		first, err := res.Open(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		a := first.(sdk.SQLInstance)
		mustExec(t, a, `CREATE TABLE `+tbl+` (v TEXT)`)
		if err := a.Begin(t.Context(), sdk.TxOptions{}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, a, `INSERT INTO `+tbl+` VALUES ('committed')`)
		if err := a.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		// Close the first instance: for :memory: the resource keeps the
		// database alive.
		if err := first.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		b := open(t, res)
		_, got := queryAll(t, b, `SELECT v FROM `+tbl)
		if len(got) != 1 || got[0][0].Text != "committed" {
			t.Fatalf("second instance read %+v", got)
		}
		if cfg == memoryConfig {
			// Another resource, even of the same name, has its own database.
			other := open(t, configure(t, d, cfg))
			if _, err := other.Query(t.Context(), sdk.Statement{SQL: `SELECT v FROM ` + tbl}); sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Fatalf("another :memory: resource sees the table: %v", err)
			}
		}
	})
}

func TestMemoryDatabaseEndsWithTheResource(t *testing.T) {
	d := connect(t)
	res := configure(t, d, memoryConfig)
	a := open(t, res)
	mustExec(t, a, `CREATE TABLE kept (v)`)
	if err := res.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Open(t.Context()); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("open after close: %v", err)
	}
}

func TestResetMidTransactionLeavesACleanSession(t *testing.T) {
	both(t, func(t *testing.T, cfg string) {
		res := configure(t, connect(t), cfg)
		inst := open(t, res)
		ctx := t.Context()
		tbl := table(t)
		mustExec(t, inst, `CREATE TABLE `+tbl+` (id INTEGER PRIMARY KEY)`)
		if err := inst.Begin(ctx, sdk.TxOptions{ReadOnly: false}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, inst, `INSERT INTO `+tbl+` VALUES (1)`)
		rows, err := inst.Query(ctx, sdk.Statement{SQL: `SELECT id FROM ` + tbl})
		if err != nil {
			t.Fatal(err)
		}
		_ = rows // left open: Reset closes it
		if err := inst.(sdk.Resetter).Reset(ctx); err != nil {
			t.Fatalf("reset: %v", err)
		}
		if n := count(t, inst, tbl); n != 0 {
			t.Fatalf("reset did not roll back: %d rows", n)
		}
		wantKind(t, inst.Commit(ctx), sdk.KindFailedPrecondition, "")
		if n := count(t, open(t, res), tbl); n != 0 {
			t.Fatalf("another instance sees %d rows", n)
		}

		// A read-only transaction and a changed pragma are undone too.
		mustExec(t, inst, `PRAGMA foreign_keys = OFF`)
		if err := inst.Begin(ctx, sdk.TxOptions{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
		if err := inst.(sdk.Resetter).Reset(ctx); err != nil {
			t.Fatalf("reset: %v", err)
		}
		mustExec(t, inst, `INSERT INTO `+tbl+` VALUES (2)`)
		if _, got := queryAll(t, inst, `PRAGMA foreign_keys`); got[0][0].Int != 1 {
			t.Fatalf("foreign_keys after reset: %+v", got)
		}
		if err := inst.Begin(ctx, sdk.TxOptions{}); err != nil {
			t.Fatalf("begin after reset: %v", err)
		}
		if err := inst.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTransactionPreconditions(t *testing.T) {
	inst := open(t, configure(t, connect(t), fileConfig(t, "")))
	ctx := t.Context()
	wantKind(t, inst.Commit(ctx), sdk.KindFailedPrecondition, "")
	wantKind(t, inst.Rollback(ctx), sdk.KindFailedPrecondition, "")
	wantKind(t, inst.Begin(ctx, sdk.TxOptions{Isolation: "chaotic"}), sdk.KindInvalidArgument, "")
	for _, iso := range []sdk.IsolationLevel{sdk.IsolationDefault, sdk.IsolationReadUncommitted, sdk.IsolationReadCommitted,
		sdk.IsolationRepeatableRead, sdk.IsolationSerializable} {
		if err := inst.Begin(ctx, sdk.TxOptions{Isolation: iso}); err != nil {
			t.Fatalf("begin %q: %v", iso, err)
		}
		wantKind(t, inst.Begin(ctx, sdk.TxOptions{}), sdk.KindFailedPrecondition, "")
		if err := inst.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A transaction begun with a statement is refused the same way.
	mustExec(t, inst, "BEGIN")
	wantKind(t, inst.Begin(ctx, sdk.TxOptions{}), sdk.KindFailedPrecondition, "")
	if err := inst.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyTransactionRefusesWrites(t *testing.T) {
	inst := open(t, configure(t, connect(t), fileConfig(t, "")))
	ctx := t.Context()
	tbl := table(t)
	mustExec(t, inst, `CREATE TABLE `+tbl+` (id INTEGER)`)
	if err := inst.Begin(ctx, sdk.TxOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	count(t, inst, tbl)
	_, err := inst.Exec(ctx, sdk.Statement{SQL: `INSERT INTO ` + tbl + ` VALUES (1)`})
	wantKind(t, err, sdk.KindFailedPrecondition, "SQLITE_READONLY")
	if err := inst.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, inst, `INSERT INTO `+tbl+` VALUES (1)`)
}

func TestErrorsKeepKindAndCode(t *testing.T) {
	inst := open(t, configure(t, connect(t), fileConfig(t, "")))
	ctx := t.Context()
	p, c := table(t), table(t)
	mustExec(t, inst, `CREATE TABLE `+p+` (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
		CREATE TABLE `+c+` (pid INTEGER REFERENCES `+p+`(id))`)
	mustExec(t, inst, `INSERT INTO `+p+` VALUES (1, 'a')`)
	cases := []struct {
		sql  string
		kind sdk.Kind
		code string
	}{
		{`INSERT INTO ` + p + ` VALUES (2, 'a')`, sdk.KindConflict, "SQLITE_CONSTRAINT_UNIQUE"},
		{`INSERT INTO ` + p + ` VALUES (1, 'b')`, sdk.KindConflict, "SQLITE_CONSTRAINT_PRIMARYKEY"},
		{`INSERT INTO ` + c + ` VALUES (99)`, sdk.KindConflict, "SQLITE_CONSTRAINT_FOREIGNKEY"},
		{`INSERT INTO ` + p + ` VALUES (3, NULL)`, sdk.KindInvalidArgument, "SQLITE_CONSTRAINT_NOTNULL"},
		{`SELEC 1`, sdk.KindInvalidArgument, "SQLITE_ERROR"},
		{`SELECT * FROM no_such_table`, sdk.KindInvalidArgument, "SQLITE_ERROR"},
		{`SELECT no_such_column FROM ` + p, sdk.KindInvalidArgument, "SQLITE_ERROR"},
	}
	for _, tc := range cases {
		_, err := inst.Exec(ctx, sdk.Statement{SQL: tc.sql})
		e := wantKind(t, err, tc.kind, tc.code)
		if sdk.IsRetryable(e) {
			t.Errorf("%s: retryable", tc.sql)
		}
	}
	_, err := inst.Query(ctx, sdk.Statement{SQL: `SELEC 1`})
	wantKind(t, err, sdk.KindInvalidArgument, "SQLITE_ERROR")
}

func TestBusyDatabaseIsUnavailableAndRetryable(t *testing.T) {
	res := configure(t, connect(t), fileConfig(t, `, "busy_timeout": "50ms"`))
	a, b := open(t, res), open(t, res)
	ctx := t.Context()
	tbl := table(t)
	mustExec(t, a, `CREATE TABLE `+tbl+` (id INTEGER)`)
	if err := a.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, `INSERT INTO `+tbl+` VALUES (1)`)
	start := time.Now()
	_, err := b.Exec(ctx, sdk.Statement{SQL: `INSERT INTO ` + tbl + ` VALUES (2)`})
	e := wantKind(t, err, sdk.KindUnavailable, "SQLITE_BUSY")
	if !sdk.IsRetryable(e) {
		t.Error("busy is not retryable")
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("busy after %v, want the busy_timeout of 50ms", waited)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, b, `INSERT INTO `+tbl+` VALUES (2)`)
}

func TestStreamingALargeResult(t *testing.T) {
	// 100,000 rows from a file database; the in-memory database takes the
	// same path, with fewer rows to keep the race-enabled run short.
	t.Run("File", func(t *testing.T) { streamRows(t, fileConfig(t, ""), 100_000) })
	t.Run("Memory", func(t *testing.T) { streamRows(t, memoryConfig, 10_000) })
}

func streamRows(t *testing.T, cfg string, n int64) {
	inst := open(t, configure(t, connect(t), cfg))
	rows, err := inst.Query(t.Context(), sdk.Statement{
		SQL:  `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT x, 'row ' || x FROM c`,
		Args: []sdk.Value{i64(n)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := int64(0)
	for rows.Next() {
		seen++
		if v := rows.Values(); v[0].Int != seen || v[1].Text != "row "+strconv.FormatInt(seen, 10) {
			t.Fatalf("row %d: %+v", seen, v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("read %d rows, want %d", seen, n)
	}
}

func TestClosingRowsEarlyFreesTheConnection(t *testing.T) {
	inst := open(t, configure(t, connect(t), fileConfig(t, "")))
	rows, err := inst.Query(t.Context(), sdk.Statement{
		SQL: `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if !rows.Next() {
			t.Fatal(rows.Err())
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	tbl := table(t)
	mustExec(t, inst, `CREATE TABLE `+tbl+` (id INTEGER)`)
	if err := inst.Begin(t.Context(), sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := inst.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestContextEndsTheCall(t *testing.T) {
	inst := open(t, configure(t, connect(t), memoryConfig))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := inst.Query(ctx, sdk.Statement{SQL: "SELECT 1"})
	if k := sdk.KindOf(err); k != sdk.KindCanceled {
		t.Fatalf("canceled query: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = inst.Exec(ctx, sdk.Statement{SQL: `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`})
	if k := sdk.KindOf(err); k != sdk.KindTimeout && k != sdk.KindCanceled {
		t.Fatalf("query past its deadline: %v", err)
	}
	// The instance still works.
	if _, got := queryAll(t, inst, "SELECT 1"); got[0][0].Int != 1 {
		t.Fatal(got)
	}
}

func TestPingAndOperations(t *testing.T) {
	res := configure(t, connect(t), memoryConfig)
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := inst.(sdk.Invoker).Invoke(t.Context(), sdk.InvokeRequest{Operation: "ping", Args: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := out.(json.RawMessage); string(raw) != `{"ok":true}` {
		t.Fatalf("ping returned %s", out)
	}
	_, err = inst.(sdk.Invoker).Invoke(t.Context(), sdk.InvokeRequest{Operation: "vacuum", Args: json.RawMessage(`{}`)})
	wantKind(t, err, sdk.KindUnimplemented, "")
	if err := inst.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = inst.(sdk.SQLInstance).Exec(t.Context(), sdk.Statement{SQL: "SELECT 1"})
	if sdk.KindOf(err) == "" {
		t.Fatal("exec on a closed instance succeeded")
	}
}

func TestConfiguration(t *testing.T) {
	d := connect(t)
	dir := t.TempDir()
	for _, cfg := range []string{
		`{}`,
		`{"path": ""}`,
		`{"path": "file:x.db"}`,
		`{"path": "x.db", "journal_mode": "sideways"}`,
		`{"path": "x.db", "busy_timeout": "-1s"}`,
		`{"path": "x.db", "no_such": 1}`,
	} {
		_, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "sqlite", Name: "bad", Config: json.RawMessage(cfg)})
		if sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("config %s: got %v, want invalid_argument", cfg, err)
		}
	}
	pragma := func(inst sdk.SQLInstance, name string) sdk.Value {
		_, got := queryAll(t, inst, "PRAGMA "+name)
		return got[0][0]
	}
	// Defaults: WAL, 5s, foreign keys on.
	inst := open(t, configure(t, d, `{"path": `+strconv.Quote(filepath.Join(dir, "a b?#%.db"))+`}`))
	if v := pragma(inst, "journal_mode"); v.Text != "wal" {
		t.Errorf("journal_mode %+v", v)
	}
	if v := pragma(inst, "busy_timeout"); v.Int != 5000 {
		t.Errorf("busy_timeout %+v", v)
	}
	if v := pragma(inst, "foreign_keys"); v.Int != 1 {
		t.Errorf("foreign_keys %+v", v)
	}
	if _, got := queryAll(t, inst, "PRAGMA database_list"); got[0][2].Text != filepath.Join(dir, "a b?#%.db") {
		t.Errorf("database file: %+v", got[0])
	}
	inst = open(t, configure(t, d, `{"path": `+strconv.Quote(filepath.Join(dir, "b.db"))+`, "journal_mode": "DELETE", "busy_timeout": "250ms", "foreign_keys": false}`))
	if v := pragma(inst, "journal_mode"); v.Text != "delete" {
		t.Errorf("journal_mode %+v", v)
	}
	if v := pragma(inst, "busy_timeout"); v.Int != 250 {
		t.Errorf("busy_timeout %+v", v)
	}
	if v := pragma(inst, "foreign_keys"); v.Int != 0 {
		t.Errorf("foreign_keys %+v", v)
	}
	// A missing directory fails at Open.
	res := configure(t, d, `{"path": `+strconv.Quote(filepath.Join(dir, "missing", "c.db"))+`}`)
	if _, err := res.Open(t.Context()); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("open in a missing directory: %v", err)
	}
}
