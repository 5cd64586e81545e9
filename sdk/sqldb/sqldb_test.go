package sqldb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// varTracker is a Tracker for memDB: SET @var is undone by SET @var =
// NULL, BEGIN and START by ROLLBACK; a statement that says TEMP only by a
// new connection.
type varTracker struct {
	vars     []string
	tx, temp bool
}

func (t *varTracker) Note(q string) {
	f := strings.Fields(strings.ToUpper(q))
	switch {
	case len(f) == 0:
	case strings.Contains(strings.ToUpper(q), "TEMP"):
		t.temp = true
	case f[0] == "BEGIN", f[0] == "START":
		t.tx = true
	case f[0] == "SET" && len(f) > 1 && strings.HasPrefix(f[1], "@"):
		t.vars = append(t.vars, strings.Fields(q)[1])
	}
}

func (t *varTracker) Clean() bool { return len(t.vars) == 0 && !t.tx && !t.temp }

func (t *varTracker) Undo(txOpen bool) ([]string, bool) {
	if t.temp {
		return nil, true
	}
	var out []string
	if txOpen || t.tx {
		out = append(out, "ROLLBACK")
	}
	for _, v := range t.vars {
		out = append(out, "SET "+v+" = NULL")
	}
	return out, false
}

func (t *varTracker) Clear() { *t = varTracker{} }

// memErrors classifies memDB's errors by their code.
var memErrors = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var me *memError
		if !errors.As(err, &me) {
			return sdk.BackendError{}, false
		}
		kind := sdk.KindUnknown
		switch me.code {
		case "SYNTAX", "ARGS", "TYPE":
			kind = sdk.KindInvalidArgument
		case "READONLY":
			kind = sdk.KindFailedPrecondition
		}
		return sdk.BackendError{Kind: kind, Code: me.code}, true
	},
	Lost: func(err error) bool { return errors.Is(err, driver.ErrBadConn) },
}

func isCode(code string) func(error) bool {
	return func(err error) bool {
		var me *memError
		return errors.As(err, &me) && me.code == code
	}
}

// backend is a Backend for db with its defaults, whose connections track
// their statements with a varTracker.
func backend(db *memDB) *sqldb.Backend {
	return &sqldb.Backend{
		Name: "mem",
		Connect: func(ctx context.Context) (sqldb.Conn, error) {
			h := sql.OpenDB(db)
			conn, err := sqldb.TakeConn(ctx, h)
			if err != nil {
				return sqldb.Conn{}, err
			}
			return sqldb.Conn{DB: h, Conn: conn, Tracker: &varTracker{}}, nil
		},
		Errors: memErrors,
	}
}

// open opens a session of b, closed when the test ends.
func open(t *testing.T, b *sqldb.Backend) *sqldb.Session {
	t.Helper()
	s, err := sqldb.Open(t.Context(), b)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func exec(t *testing.T, s *sqldb.Session, q string, args ...sdk.Value) sdk.ExecResult {
	t.Helper()
	res, err := s.Exec(t.Context(), sdk.Statement{SQL: q, Args: args})
	if err != nil {
		t.Fatalf("exec %q: %v", q, err)
	}
	return res
}

func queryAll(t *testing.T, s *sqldb.Session, q string, args ...sdk.Value) ([]sdk.Column, [][]sdk.Value) {
	t.Helper()
	return sdktest.QueryAll(t, s, q, args...)
}

// wantErr fails the test unless err has kind and, when sentinel is not
// nil, wraps it.
func wantErr(t *testing.T, err error, kind sdk.Kind, sentinel error) {
	t.Helper()
	if sdk.KindOf(err) != kind || sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("got %v (kind %q), want kind %q and %v", err, sdk.KindOf(err), kind, sentinel)
	}
}

func text(s string) sdk.Value { return sdk.Value{Kind: sdk.ValueText, Text: s} }
func num(n int64) sdk.Value   { return sdk.Value{Kind: sdk.ValueInt, Int: n} }

func TestValuesCrossWithTheDefaultConversions(t *testing.T) {
	s := open(t, backend(newMemDB()))
	kolkata := time.FixedZone("IST", 5*3600+1800)
	at := time.Date(2026, 11, 27, 21, 0, 0, 123456000, kolkata)
	args := []sdk.Value{
		sdk.Null,
		{Kind: sdk.ValueBool, Bool: true},
		num(math.MinInt64),
		{Kind: sdk.ValueFloat, Float: -1.5},
		text("héllo"),
		{Kind: sdk.ValueDecimal, Text: "12.340"},
		{Kind: sdk.ValueBytes}, // nil bytes bind as empty bytes, not NULL
		{Kind: sdk.ValueTimestampTZ, Time: at},
	}
	cols, rows := queryAll(t, s, "SELECT ?, ?, ?, ?, ?, ?, ?, ?", args...)
	if len(cols) != len(args) || cols[2] != (sdk.Column{Name: "c3", Kind: sdk.ValueNull, DatabaseType: "INTEGER"}) {
		t.Fatalf("columns %+v", cols)
	}
	got := rows[0]
	want := []sdk.Value{
		sdk.Null,
		{Kind: sdk.ValueBool, Bool: true},
		num(math.MinInt64),
		{Kind: sdk.ValueFloat, Float: -1.5},
		text("héllo"),
		text("12.340"), // by its Go type: the backend says no more
		{Kind: sdk.ValueBytes, Bytes: []byte{}},
	}
	for i, w := range want {
		if g := got[i]; g.Kind != w.Kind || g.Bool != w.Bool || g.Int != w.Int || g.Float != w.Float || g.Text != w.Text ||
			string(g.Bytes) != string(w.Bytes) || (w.Bytes != nil) != (g.Bytes != nil) {
			t.Errorf("value %d: got %+v, want %+v", i, g, w)
		}
	}
	ts := got[7]
	if _, off := ts.Time.Zone(); ts.Kind != sdk.ValueTimestampTZ || !ts.Time.Equal(at) || off != 5*3600+1800 || ts.Time.Location().String() == "IST" {
		t.Errorf("timestamptz: got %+v (%v), want the instant with its offset and no zone name", ts, ts.Time.Location())
	}

	_, err := s.Query(t.Context(), sdk.Statement{SQL: "SELECT ?", Args: []sdk.Value{{Kind: sdk.ValueInterval}}})
	wantErr(t, err, sdk.KindInvalidArgument, nil)

	res := exec(t, s, "PUT ? ?", text("abc"), text("v"))
	if res != (sdk.ExecResult{RowsAffected: 1, LastInsertID: 3, HasLastInsertID: true}) {
		t.Fatalf("exec result %+v", res)
	}
	if _, rows := queryAll(t, s, "GET 'abc'"); len(rows) != 1 || rows[0][1].Text != "v" {
		t.Fatalf("GET: %+v", rows)
	}
}

func TestBackendValuesConvertBothWays(t *testing.T) {
	b := backend(newMemDB())
	b.Values = sqldb.Values{
		// Integers travel as text, and come back as ints from columns
		// the backend calls INTEGER.
		Bind: func(i int, v sdk.Value) (any, error) {
			if v.Kind == sdk.ValueInt {
				return "int:" + v.Text, nil
			}
			return sqldb.Bind(i, v)
		},
		Kind: func(dbType string) sdk.ValueKind {
			if dbType == "INTEGER" {
				return sdk.ValueInt
			}
			return sdk.ValueNull
		},
		Convert: func(col sdk.Column, v any) (sdk.Value, error) {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "int:") {
				return sdk.Value{Kind: sdk.ValueText, Text: strings.TrimPrefix(s, "int:") + "!"}, nil
			}
			if col.Kind == sdk.ValueInt {
				return sdk.Value{Kind: sdk.ValueInt, Int: v.(int64) * 10}, nil
			}
			return sqldb.Dynamic(v), nil
		},
	}
	s := open(t, b)
	cols, rows := queryAll(t, s, "SELECT ?, 7", sdk.Value{Kind: sdk.ValueInt, Text: "x"})
	if cols[1].Kind != sdk.ValueInt || rows[0][0].Text != "x!" || rows[0][1].Int != 70 {
		t.Fatalf("columns %+v, row %+v", cols, rows[0])
	}
}

func TestAValueTheBackendCannotConvertEndsTheRowsAsInternal(t *testing.T) {
	b := backend(newMemDB())
	b.Values.Convert = func(col sdk.Column, v any) (sdk.Value, error) {
		if n, ok := v.(int64); ok && n == 3 {
			return sdk.Value{}, errors.New("three is not a value")
		}
		return sqldb.Dynamic(v), nil
	}
	s := open(t, b)
	rows, err := s.Query(t.Context(), sdk.Statement{SQL: "SERIES 5"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if n != 2 || !strings.Contains(rows.Err().Error(), `column "n"`) {
		t.Fatalf("read %d rows, then %v", n, rows.Err())
	}
	wantErr(t, rows.Err(), sdk.KindInternal, nil)
	if !s.SessionClean() {
		t.Fatal("rows that ended on an error are still open")
	}
}

func TestStatementsArePreparedAndCachedAsTheBackendSays(t *testing.T) {
	for _, c := range []struct {
		name        string
		query, exec sqldb.Prepare
		// prepares after: a query without arguments, one with, the same
		// again, an exec without, an exec with, the same again.
		want []int64
	}{
		{"WithArgs", sqldb.PrepareWithArgs, sqldb.PrepareWithArgs, []int64{0, 1, 1, 1, 2, 2}},
		{"Always", sqldb.PrepareAlways, sqldb.PrepareAlways, []int64{1, 2, 2, 3, 4, 4}},
		{"Never", sqldb.PrepareNever, sqldb.PrepareNever, []int64{0, 0, 0, 0, 0, 0}},
		{"QueriesOnly", sqldb.PrepareAlways, sqldb.PrepareNever, []int64{1, 2, 2, 2, 2, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := newMemDB()
			b := backend(db)
			b.Query, b.Exec = c.query, c.exec
			s := open(t, b)
			var got []int64
			queryAll(t, s, "SELECT 1")
			got = append(got, db.prepares.Load())
			for range 2 {
				queryAll(t, s, "SELECT ?", num(1))
				got = append(got, db.prepares.Load())
			}
			exec(t, s, "PUT 'a' 'b'")
			got = append(got, db.prepares.Load())
			for range 2 {
				exec(t, s, "PUT ? 'b'", text("a"))
				got = append(got, db.prepares.Load())
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("prepares %v, want %v", got, c.want)
			}
		})
	}
}

func TestTheStatementCacheClosesWhatItEvicts(t *testing.T) {
	db := newMemDB()
	b := backend(db)
	b.Statements = 2
	s := open(t, b)
	for _, q := range []string{"SELECT ?", "SELECT ?, 1", "SELECT ?, 2", "SELECT ?"} {
		queryAll(t, s, q, num(1))
	}
	if p, c := db.prepares.Load(), db.closedStmts.Load(); p != 4 || c != 2 {
		t.Fatalf("prepared %d, closed %d; want 4 and 2", p, c)
	}
}

func TestTransactionsBeginWithTheStandardStatements(t *testing.T) {
	db := newMemDB()
	s, other := open(t, backend(db)), open(t, backend(db))
	ctx := t.Context()
	wantErr(t, s.Commit(ctx), sdk.KindFailedPrecondition, sqldb.ErrNoTx)
	wantErr(t, s.Rollback(ctx), sdk.KindFailedPrecondition, sqldb.ErrNoTx)
	wantErr(t, s.Begin(ctx, sdk.TxOptions{Isolation: "snapshot"}), sdk.KindInvalidArgument, nil)
	if ran := db.ran(); len(ran) != 0 {
		t.Fatalf("refused calls ran %q", ran)
	}

	if err := s.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationSerializable, ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if ran, want := db.ran(), []string{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION READ ONLY"}; !slices.Equal(ran, want) {
		t.Fatalf("Begin ran %q, want %q", ran, want)
	}
	if s.SessionClean() {
		t.Fatal("a session in a transaction says it is clean")
	}
	wantErr(t, s.Begin(ctx, sdk.TxOptions{}), sdk.KindFailedPrecondition, sqldb.ErrTxOpen)
	_, err := s.Exec(ctx, sdk.Statement{SQL: "PUT 'k' 'v'"})
	wantErr(t, err, sdk.KindFailedPrecondition, nil)
	if err := s.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	exec(t, s, "PUT 'k' 'v'")
	if _, rows := queryAll(t, other, "GET 'k'"); len(rows) != 0 {
		t.Fatal("an uncommitted write is visible to another session")
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, rows := queryAll(t, other, "GET 'k'"); len(rows) != 1 {
		t.Fatal("a committed write is not visible to another session")
	}
	if !s.SessionClean() {
		t.Fatal("a committed transaction left the session not clean")
	}
}

func TestTxHooksLetTheBackendRefuseForItself(t *testing.T) {
	db := newMemDB()
	b := backend(db)
	b.Tx = sqldb.Tx{
		Begin: func(opts sdk.TxOptions) ([]string, []string) {
			if opts.ReadOnly {
				return []string{"SET @ro = 1", "BEGIN"}, []string{"SET @ro = NULL"}
			}
			return []string{"BEGIN"}, nil
		},
		Open:             isCode("TXOPEN"),
		None:             isCode("NOTX"),
		FailedEndKeepsTx: true,
	}
	s := open(t, b)
	ctx := t.Context()
	// Without a transaction, COMMIT reaches the backend, which refuses.
	err := s.Commit(ctx)
	wantErr(t, err, sdk.KindFailedPrecondition, sqldb.ErrNoTx)
	if !isCode("NOTX")(err) {
		t.Fatalf("the backend's refusal is not the cause: %v", err)
	}
	// A transaction begun with a statement: Begin is refused by the
	// backend; Rollback ends it.
	exec(t, s, "BEGIN")
	wantErr(t, s.Begin(ctx, sdk.TxOptions{}), sdk.KindFailedPrecondition, sqldb.ErrTxOpen)
	// A read-only Begin whose BEGIN failed undid what it set first.
	wantErr(t, s.Begin(ctx, sdk.TxOptions{ReadOnly: true}), sdk.KindFailedPrecondition, sqldb.ErrTxOpen)
	if _, rows := queryAll(t, s, "SELECT @ro"); !rows[0][0].IsNull() {
		t.Fatalf("@ro after a failed Begin: %+v", rows[0][0])
	}
	if err := s.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// A read-only transaction's undo runs when it ends.
	if err := s.Begin(ctx, sdk.TxOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, rows := queryAll(t, s, "SELECT @ro"); rows[0][0].Int != 1 {
		t.Fatalf("@ro in the transaction: %+v", rows[0][0])
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, rows := queryAll(t, s, "SELECT @ro"); !rows[0][0].IsNull() {
		t.Fatalf("@ro after the transaction: %+v", rows[0][0])
	}
}

func TestOnlyADirtySessionIsResetAndOnlyAsFarAsItNeeds(t *testing.T) {
	db := newMemDB()
	s := open(t, backend(db))
	ctx := t.Context()
	queryAll(t, s, "SELECT ?", num(1))
	exec(t, s, "PUT 'k' 'v'")
	if !s.SessionClean() {
		t.Fatal("a query and a write left the session not clean")
	}
	prepared := db.prepares.Load()

	exec(t, s, "SET @x = 5")
	if s.SessionClean() {
		t.Fatal("SET @x left the session clean")
	}
	db.ran()
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if ran, want := db.ran(), []string{"SET @x = NULL"}; !slices.Equal(ran, want) {
		t.Fatalf("Reset ran %q, want %q", ran, want)
	}
	if !s.SessionClean() {
		t.Fatal("not clean after Reset")
	}
	if _, rows := queryAll(t, s, "SELECT @x"); !rows[0][0].IsNull() {
		t.Fatalf("@x after Reset: %+v", rows[0][0])
	}
	queryAll(t, s, "SELECT ?", num(1))
	if n := db.prepares.Load(); n != prepared || db.conns.Load() != 1 {
		t.Fatalf("a reset on the connection prepared %d statements again, on %d connections", n-prepared, db.conns.Load())
	}

	exec(t, s, "SET @y = 'temp'")
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if db.conns.Load() != 2 || db.closedConns.Load() != 1 {
		t.Fatalf("connections opened %d, closed %d; want a new one for the old", db.conns.Load(), db.closedConns.Load())
	}
	queryAll(t, s, "SELECT ?", num(1))
	if _, rows := queryAll(t, s, "SELECT @y"); !rows[0][0].IsNull() || db.prepares.Load() != prepared+1 {
		t.Fatalf("after a reconnect: @y %+v, %d prepares", rows[0][0], db.prepares.Load()-prepared)
	}
	if !s.SessionClean() {
		t.Fatal("not clean after a reconnect")
	}
}

func TestResetRollsBackAndEndsOpenRows(t *testing.T) {
	db := newMemDB()
	s := open(t, backend(db))
	ctx := t.Context()
	if err := s.Begin(ctx, sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	exec(t, s, "PUT 'k' 'v'")
	rows, err := s.Query(ctx, sdk.Statement{SQL: "SERIES 100"})
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal(rows.Err())
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Fatal("rows still open after Reset")
	}
	if !s.SessionClean() {
		t.Fatal("not clean after Reset")
	}
	if _, got := queryAll(t, s, "GET 'k'"); len(got) != 0 {
		t.Fatal("Reset did not roll back")
	}
	wantErr(t, s.Commit(ctx), sdk.KindFailedPrecondition, sqldb.ErrNoTx)
}

func TestABrokenConnectionIsUnavailableAndCannotBeReset(t *testing.T) {
	s := open(t, backend(newMemDB()))
	_, err := s.Exec(t.Context(), sdk.Statement{SQL: "BREAK"})
	wantErr(t, err, sdk.KindUnavailable, nil)
	wantErr(t, s.Check(t.Context()), sdk.KindUnavailable, nil)
	wantErr(t, s.Reset(t.Context()), sdk.KindUnavailable, nil)
}

func TestAConnectionTheClientDoubtsIsResetWhenItStillWorks(t *testing.T) {
	db := newMemDB()
	s := open(t, backend(db))
	exec(t, s, "SET @x = 1")
	exec(t, s, "DOUBT")
	if err := s.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	if db.conns.Load() != 1 || !s.SessionClean() {
		t.Fatalf("after Reset: %d connections, clean %v", db.conns.Load(), s.SessionClean())
	}
}

func TestACallWhoseContextEndedNeverReachesTheBackend(t *testing.T) {
	db := newMemDB()
	s := open(t, backend(db))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Query(ctx, sdk.Statement{SQL: "SELECT 1"})
	wantErr(t, err, sdk.KindCanceled, nil)
	_, err = s.Exec(ctx, sdk.Statement{SQL: "PUT 'a' 'b'"})
	wantErr(t, err, sdk.KindCanceled, nil)
	wantErr(t, s.Begin(ctx, sdk.TxOptions{}), sdk.KindCanceled, nil)
	if ran := db.ran(); len(ran) != 0 {
		t.Fatalf("canceled calls ran %q", ran)
	}
	// One that ends while it runs has the kind of its end.
	tctx, tcancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer tcancel()
	_, err = s.Exec(tctx, sdk.Statement{SQL: "SLEEP"})
	wantErr(t, err, sdk.KindTimeout, nil)
}

func TestExecOfSQLWithoutAStatementIsTheCallersMistake(t *testing.T) {
	s := open(t, backend(newMemDB()))
	_, err := s.Exec(t.Context(), sdk.Statement{SQL: "   "})
	wantErr(t, err, sdk.KindInvalidArgument, sqldb.ErrNoStatement)
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("the session after it: %v", err)
	}
	_, err = s.Exec(t.Context(), sdk.Statement{SQL: "PUT ?", Args: []sdk.Value{text("a")}})
	wantErr(t, err, sdk.KindInvalidArgument, nil)
}

func TestCloseEndsRowsStatementsAndTheConnectionOnce(t *testing.T) {
	db := newMemDB()
	s, err := sqldb.Open(t.Context(), backend(db))
	if err != nil {
		t.Fatal(err)
	}
	queryAll(t, s, "SELECT ?", num(1))
	rows, err := s.Query(t.Context(), sdk.Statement{SQL: "SERIES ?", Args: []sdk.Value{num(10)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Fatal("rows still open after Close")
	}
	if db.closedConns.Load() != 1 || db.closedStmts.Load() != db.prepares.Load() {
		t.Fatalf("after Close: %d of 1 connections and %d of %d statements closed",
			db.closedConns.Load(), db.closedStmts.Load(), db.prepares.Load())
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = s.Query(t.Context(), sdk.Statement{SQL: "SELECT 1"})
	wantErr(t, err, sdk.KindUnavailable, sqldb.ErrClosed)
	wantErr(t, s.Reset(t.Context()), sdk.KindUnavailable, sqldb.ErrClosed)
	wantErr(t, s.Commit(t.Context()), sdk.KindUnavailable, sqldb.ErrClosed)
	if s.SessionClean() {
		t.Fatal("a closed session says it is clean")
	}
}

func TestOpenNeedsABackendAndReturnsConnectErrorsAsTheyAre(t *testing.T) {
	if _, err := sqldb.Open(t.Context(), &sqldb.Backend{Name: "x"}); sdk.KindOf(err) != sdk.KindInternal {
		t.Fatalf("a Backend without Connect: %v", err)
	}
	refused := sdk.Errorf(sdk.KindUnauthenticated, "wrong password")
	b := &sqldb.Backend{Name: "x", Connect: func(context.Context) (sqldb.Conn, error) { return sqldb.Conn{}, refused }}
	if _, err := sqldb.Open(t.Context(), b); err != refused {
		t.Fatalf("Connect's error came back as %v", err)
	}
}

func TestDynamicIsTheValueByItsGoType(t *testing.T) {
	for _, c := range []struct {
		name string
		in   any
		want sdk.Value
	}{
		{"nil", nil, sdk.Null},
		{"int64", int64(-3), num(-3)},
		{"float64", 2.5, sdk.Value{Kind: sdk.ValueFloat, Float: 2.5}},
		{"bool", true, sdk.Value{Kind: sdk.ValueBool, Bool: true}},
		{"string", "s", text("s")},
		{"bytes", []byte{0xff}, sdk.Value{Kind: sdk.ValueBytes, Bytes: []byte{0xff}}},
		{"other", uint8(7), text("7")},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := sqldb.Dynamic(c.in)
			if got.Kind != c.want.Kind || got.Int != c.want.Int || got.Float != c.want.Float || got.Bool != c.want.Bool ||
				got.Text != c.want.Text || string(got.Bytes) != string(c.want.Bytes) {
				t.Fatalf("Dynamic(%#v) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
	utc := sqldb.Dynamic(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("Z0", 0)))
	if utc.Kind != sdk.ValueTimestampTZ || utc.Time.Location() != time.UTC {
		t.Fatalf("a time at offset 0: %+v", utc)
	}
}
