package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/postgres"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func TestCommitAndRollbackVisibility(t *testing.T) {
	s := openSession(t, nil)
	a := admin(t)
	tbl := table(t, "id int PRIMARY KEY")
	ctx := t.Context()
	count := func() int {
		var n int
		if err := a.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ins := func(id int64) {
		t.Helper()
		if _, err := s.Exec(ctx, sdk.Statement{SQL: "INSERT INTO " + tbl + " VALUES ($1)", Args: []sdk.Value{{Kind: sdk.ValueInt, Int: id}}}); err != nil {
			t.Fatal(err)
		}
	}

	wantKind(t, s.Commit(ctx), sdk.KindFailedPrecondition, "")
	wantKind(t, s.Rollback(ctx), sdk.KindFailedPrecondition, "")

	if err := s.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationSerializable}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.Begin(ctx, sdk.TxOptions{}), sdk.KindFailedPrecondition, "")
	if v := one(t, s, "SHOW transaction_isolation"); v.Text != "serializable" {
		t.Fatalf("isolation %q", v.Text)
	}
	ins(1)
	if n := count(); n != 0 {
		t.Fatalf("uncommitted row visible to another session: %d", n)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("committed row not visible: %d rows", n)
	}

	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	ins(2)
	if err := s.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("rolled back row visible: %d rows", n)
	}

	// A read-only transaction refuses writes.
	if err := s.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationRepeatableRead, ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Exec(ctx, sdk.Statement{SQL: "INSERT INTO " + tbl + " VALUES (3)"})
	wantKind(t, err, sdk.KindFailedPrecondition, "25006")
	// Commit of the failed transaction rolls back and says so.
	wantKind(t, s.Commit(ctx), sdk.KindFailedPrecondition, "25P02")
	wantKind(t, s.Begin(ctx, sdk.TxOptions{Isolation: "snapshot"}), sdk.KindInvalidArgument, "")
}

func TestResetMidTransactionLeavesACleanSession(t *testing.T) {
	s := openSession(t, map[string]any{"statement_timeout": "7s", "application_name": "reset-test"})
	a := admin(t)
	tbl := table(t, "id int PRIMARY KEY")
	ctx := t.Context()
	if v := one(t, s, "SHOW statement_timeout"); v.Text != "7s" {
		t.Fatalf("statement_timeout after connect: %q", v.Text)
	}
	// A statement prepared (and cached by pgx) before the reset.
	cached := "SELECT $1::int8 * 2"
	one(t, s, cached, sdk.Value{Kind: sdk.ValueInt, Int: 1})

	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"INSERT INTO " + tbl + " VALUES (1)",
		"SET work_mem = '7MB'",
		"SET statement_timeout = '1min'",
		"CREATE TEMP TABLE scratch (x int)",
	} {
		if _, err := s.Exec(ctx, sdk.Statement{SQL: sql}); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := s.Exec(ctx, sdk.Statement{SQL: "COMMIT"}); err != nil { // the temp table and settings outlive the tx
		t.Fatal(err)
	}
	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exec(ctx, sdk.Statement{SQL: "INSERT INTO " + tbl + " VALUES (2)"}); err != nil {
		t.Fatal(err)
	}
	// A result left open is closed by Reset too.
	rows, err := s.Query(ctx, sdk.Statement{SQL: "SELECT generate_series(1, 1000)"})
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()

	if err := s.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	var ids []int
	r, err := a.Query(ctx, "SELECT id FROM "+tbl+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id int
		_ = r.Scan(&id)
		ids = append(ids, id)
	}
	if r.Err() != nil || len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("after Reset the table holds %v (%v), want [1]: the open transaction was not rolled back", ids, r.Err())
	}

	// The next use sees a clean session: no transaction, settings back to
	// their defaults, statement_timeout applied again, no temp table.
	if err := s.Rollback(ctx); sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("Rollback after Reset: %v, want failed_precondition (no transaction)", err)
	}
	if v := one(t, s, "SHOW work_mem"); v.Text == "7MB" {
		t.Errorf("work_mem survived Reset")
	}
	if v := one(t, s, "SHOW statement_timeout"); v.Text != "7s" {
		t.Errorf("statement_timeout after Reset: %q, want 7s", v.Text)
	}
	if v := one(t, s, "SHOW application_name"); v.Text != "reset-test" {
		t.Errorf("application_name after Reset: %q", v.Text)
	}
	if v := one(t, s, "SELECT to_regclass('pg_temp.scratch')::text"); !v.IsNull() {
		t.Errorf("temp table survived Reset: %+v", v)
	}
	// pgx's statement cache was cleared with the server's statements.
	if v := one(t, s, cached, sdk.Value{Kind: sdk.ValueInt, Int: 21}); v.Int != 42 {
		t.Errorf("cached statement after Reset: %+v", v)
	}
	if _, err := s.Invoke(ctx, sdk.InvokeRequest{Operation: "ping"}); err != nil {
		t.Fatal(err)
	}
}

func TestServerErrorsKeepSQLSTATE(t *testing.T) {
	s := openSession(t, nil)
	tbl := table(t, "id int PRIMARY KEY")
	ctx := t.Context()
	ins := sdk.Statement{SQL: "INSERT INTO " + tbl + " VALUES ($1)", Args: []sdk.Value{{Kind: sdk.ValueInt, Int: 1}}}
	if _, err := s.Exec(ctx, ins); err != nil {
		t.Fatal(err)
	}
	_, err := s.Exec(ctx, ins)
	wantKind(t, err, sdk.KindConflict, "23505")
	if sdk.IsRetryable(err) {
		t.Error("a unique violation must not be retryable")
	}
	// Through Query as well (INSERT ... RETURNING fails while streaming).
	rows, err := s.Query(ctx, sdk.Statement{SQL: ins.SQL + " RETURNING id", Args: ins.Args})
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	wantKind(t, err, sdk.KindConflict, "23505")

	_, err = s.Query(ctx, sdk.Statement{SQL: "SELEC 1"})
	wantKind(t, err, sdk.KindInvalidArgument, "42601")
	_, err = s.Exec(ctx, sdk.Statement{SQL: "SELECT * FROM no_such_table_xyz"})
	wantKind(t, err, sdk.KindInvalidArgument, "42P01")
	_, err = s.Query(ctx, sdk.Statement{SQL: "SELECT no_such_column FROM " + tbl})
	wantKind(t, err, sdk.KindInvalidArgument, "42703")
	_, err = s.Exec(ctx, sdk.Statement{SQL: "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$"})
	wantKind(t, err, sdk.KindConflict, "40001")
	if !sdk.IsRetryable(err) {
		t.Error("a serialization failure must be retryable")
	}
	_, err = s.Exec(ctx, sdk.Statement{SQL: "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END $$"})
	wantKind(t, err, sdk.KindConflict, "40P01")
	if !sdk.IsRetryable(err) {
		t.Error("a deadlock must be retryable")
	}
	// An error while streaming arrives from Rows.Err, with its kind.
	rows, err = s.Query(ctx, sdk.Statement{SQL: "SELECT 1/(g-3) FROM generate_series(1, 5) g"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	wantKind(t, rows.Err(), sdk.KindInvalidArgument, "22012")
	rows.Close()
	if n > 2 { // the SDK may drop the rows of the batch the error ended
		t.Errorf("read %d rows before division by zero, want at most 2", n)
	}
	if v := one(t, s, "SELECT 1"); v.Int != 1 {
		t.Fatal(v)
	}
}

func TestTerminatedBackendIsUnavailable(t *testing.T) {
	s := openSession(t, nil)
	a := admin(t)
	ctx := t.Context()
	pid := one(t, s, "SELECT pg_backend_pid()").Int
	var ok bool
	if err := a.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v %v", pid, ok, err)
	}
	// Wait until the backend is gone.
	for deadline := time.Now().Add(5 * time.Second); ; {
		var n int
		if err := a.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("backend still there 5s after pg_terminate_backend")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := s.Query(ctx, sdk.Statement{SQL: "SELECT 1"})
	wantKind(t, err, sdk.KindUnavailable, "")
	if !sdk.IsRetryable(err) {
		t.Error("a lost connection must be retryable")
	}
	wantKind(t, s.Check(ctx), sdk.KindUnavailable, "")
	if err := s.Reset(ctx); err == nil {
		t.Fatal("Reset of a dead session succeeded")
	}
}

func TestStreamsManyRows(t *testing.T) {
	s := openSession(t, nil)
	const n = 100_000
	rows, err := s.Query(t.Context(), sdk.Statement{SQL: "SELECT g, 'row ' || g FROM generate_series(1, $1::int) g", Args: []sdk.Value{{Kind: sdk.ValueInt, Int: n}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		seen++
		if v := rows.Values(); v[0].Int != int64(seen) {
			t.Fatalf("row %d holds %d", seen, v[0].Int)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("read %d rows, want %d", seen, n)
	}
}

func TestClosingRowsEarlyCancelsTheQuery(t *testing.T) {
	s := openSession(t, nil)
	rows, err := s.Query(t.Context(), sdk.Statement{SQL: "SELECT generate_series(1, 1000000000)"})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		rows.Next()
	}
	start := time.Now()
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	// The session is usable again soon; it did not read a billion rows.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		err := s.Check(ctx)
		if err == nil {
			break
		}
		if sdk.KindOf(err) != sdk.KindFailedPrecondition {
			t.Fatalf("Check after closing rows: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("session free %v after Close", time.Since(start))
}

func TestCancelAndStatementTimeout(t *testing.T) {
	s := openSession(t, map[string]any{"statement_timeout": "200ms"})
	_, err := s.Exec(t.Context(), sdk.Statement{SQL: "SELECT pg_sleep(5)"})
	wantKind(t, err, sdk.KindTimeout, "57014")

	s = openSession(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Exec(ctx, sdk.Statement{SQL: "SELECT pg_sleep(5)"})
	if k := sdk.KindOf(err); k != sdk.KindTimeout && k != sdk.KindCanceled {
		t.Fatalf("expired context: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("the canceled statement ran for %v", time.Since(start))
	}
	// The cancel request stopped the statement; the session lives on.
	if v := one(t, s, "SELECT 1"); v.Int != 1 {
		t.Fatal(v)
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	d := sdktest.Connect(t, postgres.New())
	const secret = "s3cr3t-Pa55word"
	for _, cfg := range []map[string]any{
		{"url": "postgres://u:" + secret + "@127.0.0.1:notaport/db"},
		{"url": "postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=disable", "connect_timeout": "2s"},
		{"url": "postgres://u@127.0.0.1:1/db?sslmode=disable", "password": secret, "connect_timeout": "2s"},
		{"url": "postgres://u@127.0.0.1:1/db?sslmode=disable&password=" + secret},
	} {
		raw, _ := json.Marshal(cfg)
		res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "postgres", Name: "s", Config: raw})
		if err == nil {
			_, err = res.Open(t.Context())
			_ = res.Close(t.Context())
			wantKind(t, err, sdk.KindUnavailable, "")
		}
		if err == nil {
			t.Fatalf("%v: no error", cfg)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	d := postgres.New()
	for _, cfg := range []string{
		`{}`,
		`{"url": "postgres://h/db", "statement_timeout": "-1s"}`,
		`{"url": "postgres://h/db", "connect_timeout": "-1s"}`,
		`{"url": "postgres://h:99999999/db"}`,
	} {
		err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "postgres", Name: "x", Config: json.RawMessage(cfg)})
		var ce *sdk.ConfigError
		if err == nil || (!errors.As(err, &ce) && sdk.KindOf(err) != sdk.KindInvalidArgument) {
			t.Errorf("%s: got %v, want a config error", cfg, err)
		}
	}
	info := d.Info()
	typ, _ := info.Type("postgres")
	for _, name := range []string{"url", "password"} {
		if a, ok := typ.Config.Attribute(name); !ok || !a.Sensitive {
			t.Errorf("attribute %s is not sensitive", name)
		}
	}
	if a, _ := typ.Config.Attribute("connect_timeout"); string(a.Default) != `"10s"` {
		t.Errorf("connect_timeout default %s", a.Default)
	}
}

func TestDiscreteSettingsConnectLikeTheURL(t *testing.T) {
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	cfg, _ := json.Marshal(map[string]any{
		"host": u.Hostname(), "port": port, "user": u.User.Username(),
		"database": strings.TrimPrefix(u.Path, "/"), "sslmode": "disable",
	})
	d := sdktest.Connect(t, postgres.New())
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "postgres", Name: "discrete", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close(t.Context())
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(t.Context())
	if err := inst.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	both, _ := json.Marshal(map[string]any{"url": testURL(t), "host": "elsewhere"})
	if _, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "postgres", Name: "both", Config: both}); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("url and host together: %v", err)
	}
}

// TestOnlyDirtySessionsNeedAReset runs each kind of statement that leaves
// state in a session, and checks that the session then says it is not
// clean, and that Reset takes the state away; and that statements that
// leave none keep it clean, so that the host skips the reset and pgx's
// prepared statements survive the lease.
func TestOnlyDirtySessionsNeedAReset(t *testing.T) {
	s := openSession(t, map[string]any{"statement_timeout": "7s"})
	tbl := table(t, "id int PRIMARY KEY, v text")
	ctx := t.Context()
	clean := func() bool { return s.Instance.Instance.(sdk.SessionReporter).SessionClean() }
	exec := func(sql string) {
		t.Helper()
		if _, err := s.Exec(ctx, sdk.Statement{SQL: sql}); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if !clean() {
		t.Fatal("a new session is not clean")
	}
	one(t, s, "SELECT $1::int8 + 1", sdk.Value{Kind: sdk.ValueInt, Int: 1})
	exec("INSERT INTO " + tbl + " VALUES (1, 'set temp')")
	exec("UPDATE " + tbl + " SET v = 'x' WHERE id = 1")
	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	exec("SET LOCAL work_mem = '9MB'")
	if clean() {
		t.Fatal("a session in a transaction says it is clean")
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !clean() {
		t.Fatal("selects, writes and a committed transaction with SET LOCAL left the session not clean")
	}
	prepared := one(t, s, "SELECT count(*) FROM pg_prepared_statements").Int
	if prepared == 0 {
		t.Fatal("pgx prepared nothing")
	}

	for _, c := range []struct {
		dirty string // leaves state behind
		gone  string // a query whose answer is true once the state is gone
	}{
		{"SET work_mem = '9MB'", "SELECT current_setting('work_mem') <> '9MB'"},
		{"SET statement_timeout = '1min'", "SELECT current_setting('statement_timeout') = '7s'"},
		{"SET search_path = nowhere", "SELECT current_setting('search_path') <> 'nowhere'"},
		{"SELECT set_config('nebula.x', 'y', false)", "SELECT current_setting('nebula.x', true) IS DISTINCT FROM 'y'"},
		{"CREATE TEMP TABLE scratch (x int)", "SELECT to_regclass('pg_temp.scratch') IS NULL"},
		{"LISTEN nebula_channel", "SELECT count(*) = 0 FROM pg_listening_channels()"},
		{"SELECT pg_advisory_lock(4242)", "SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"},
		{"BEGIN; DECLARE held CURSOR WITH HOLD FOR SELECT 1; COMMIT", "SELECT count(*) = 0 FROM pg_cursors WHERE name = 'held'"},
		{"PREPARE mine AS SELECT 1", "SELECT count(*) = 0 FROM pg_prepared_statements WHERE name = 'mine'"},
		{"DO $$BEGIN PERFORM set_config('nebula.y', 'z', false); END$$", "SELECT current_setting('nebula.y', true) IS DISTINCT FROM 'z'"},
	} {
		exec(c.dirty)
		if clean() {
			t.Fatalf("after %q the session says it is clean", c.dirty)
		}
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset after %q: %v", c.dirty, err)
		}
		if !clean() {
			t.Fatalf("after Reset (of %q) the session is not clean", c.dirty)
		}
		if v := one(t, s, c.gone); !v.Bool {
			t.Fatalf("after %q and Reset: %s is false", c.dirty, c.gone)
		}
		// pgx's statement cache still matches the server: a cached
		// statement runs.
		if v := one(t, s, "SELECT $1::int8 + 1", sdk.Value{Kind: sdk.ValueInt, Int: 1}); v.Int != 2 {
			t.Fatalf("after %q and Reset, a cached statement answered %v", c.dirty, v)
		}
	}
	// A reset of session state alone keeps pgx's prepared statements.
	exec("SET work_mem = '9MB'")
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n := one(t, s, "SELECT count(*) FROM pg_prepared_statements").Int; n < prepared {
		t.Fatalf("a reset of settings dropped prepared statements: %d, had %d", n, prepared)
	}
}
