package host_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// fakeSQL is an in-process SQL driver for the host's SQL path: "echo"
// returns its arguments as one row; every lifecycle call is recorded.
type fakeSQL struct {
	mu  sync.Mutex
	log []string
}

func (f *fakeSQL) record(s string) { f.mu.Lock(); f.log = append(f.log, s); f.mu.Unlock() }
func (f *fakeSQL) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeSQL) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "fakesql", Version: "1", Types: []sdk.ResourceType{{
		Name: "fakesql", Pooling: sdk.PoolingExclusive, Capabilities: []string{sdk.CapabilitySQL},
	}}}
}
func (f *fakeSQL) Configure(context.Context, sdk.ConfigureRequest) (sdk.Resource, error) {
	return fakeSQLRes{f}, nil
}

type fakeSQLRes struct{ f *fakeSQL }

func (r fakeSQLRes) Open(context.Context) (sdk.Instance, error) { return &fakeSQLSession{f: r.f}, nil }
func (r fakeSQLRes) Close(context.Context) error                { return nil }

type fakeSQLSession struct {
	f  *fakeSQL
	tx bool
}

func (s *fakeSQLSession) Check(context.Context) error { return nil }
func (s *fakeSQLSession) Close(context.Context) error { return nil }
func (s *fakeSQLSession) Invoke(context.Context, sdk.InvokeRequest) (any, error) {
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "no operations")
}
func (s *fakeSQLSession) Reset(context.Context) error {
	if s.tx {
		s.f.record("ROLLBACK by reset")
		s.tx = false
	}
	return nil
}
func (s *fakeSQLSession) Query(_ context.Context, st sdk.Statement) (sdk.Rows, error) {
	if st.SQL != "echo" {
		return nil, &sdk.Error{Kind: sdk.KindInvalidArgument, Message: "syntax error", Code: "42601"}
	}
	cols := make([]sdk.Column, len(st.Args))
	for i, a := range st.Args {
		cols[i] = sdk.Column{Name: string(a.Kind), Kind: a.Kind}
	}
	return &oneRow{cols: cols, vals: st.Args}, nil
}
func (s *fakeSQLSession) Exec(_ context.Context, st sdk.Statement) (sdk.ExecResult, error) {
	s.f.record(st.SQL)
	return sdk.ExecResult{RowsAffected: 1}, nil
}
func (s *fakeSQLSession) Begin(context.Context, sdk.TxOptions) error {
	if s.tx {
		return sdk.Errorf(sdk.KindFailedPrecondition, "a transaction is open")
	}
	s.tx = true
	s.f.record("BEGIN")
	return nil
}
func (s *fakeSQLSession) Commit(context.Context) error {
	s.tx = false
	s.f.record("COMMIT")
	return nil
}
func (s *fakeSQLSession) Rollback(context.Context) error {
	s.tx = false
	s.f.record("ROLLBACK")
	return nil
}

type oneRow struct {
	cols []sdk.Column
	vals []sdk.Value
	done bool
}

func (r *oneRow) Columns() []sdk.Column { return r.cols }
func (r *oneRow) Next() bool {
	if r.done {
		return false
	}
	r.done = true
	return true
}
func (r *oneRow) Values() []sdk.Value { return r.vals }
func (r *oneRow) Err() error          { return nil }
func (r *oneRow) Close() error        { return nil }

func sqlHost(t *testing.T) (*host.Host, *fakeSQL) {
	f := &fakeSQL{}
	h := startHost(t, loadHCL(t, `
resource "fakesql" "db" {}
resource "memory" "cache" {}`), host.WithDriver("fakesql", f), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	return h, f
}

func TestQueryConvertsArgumentsAndScansResults(t *testing.T) {
	h, _ := sqlHost(t)
	at := time.Date(2026, 11, 27, 21, 0, 0, 0, time.FixedZone("", 3600))
	err := host.Use(t.Context(), h, "fakesql.db", func(l *host.Lease) error {
		rows, err := l.Query(t.Context(), "echo", int32(7), "text", nil, sdk.Decimal("1.50"), at, []byte{0xff}, []int{1, 2})
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return rows.Err()
		}
		var (
			n     int
			s     string
			null  *string
			dec   sdk.Decimal
			ts    time.Time
			b     []byte
			array any
		)
		if err := rows.Scan(&n, &s, &null, &dec, &ts, &b, &array); err != nil {
			return err
		}
		if n != 7 || s != "text" || null != nil || dec != "1.50" || !ts.Equal(at) || len(b) != 1 || len(array.([]any)) != 2 {
			t.Errorf("scanned %v %q %v %q %v %v %v", n, s, null, dec, ts, b, array)
		}
		var small int8
		var str string
		if err := rows.Scan(&small, &str, &null, &dec, &ts, &b, &array); err != nil {
			t.Errorf("int into int8: %v", err)
		}
		if err := rows.Scan(&str, &str, &str, &dec, &ts, &b, &array); sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("int into string, NULL into string: %v", err)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithTxCommitsOrRollsBackAndReleasingMidTransactionResets(t *testing.T) {
	h, f := sqlHost(t)
	if err := host.WithTx(t.Context(), h, "fakesql.db", sdk.TxOptions{}, func(l *host.Lease) error {
		_, err := l.Exec(t.Context(), "INSERT 1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := host.WithTx(t.Context(), h, "fakesql.db", sdk.TxOptions{}, func(l *host.Lease) error {
		_, _ = l.Exec(t.Context(), "INSERT 2")
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("WithTx: %v", err)
	}
	l, err := h.Acquire(t.Context(), "fakesql.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Begin(t.Context(), sdk.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	l.Release() // with the transaction open
	l, _ = h.Acquire(t.Context(), "fakesql.db")
	if err := l.Begin(t.Context(), sdk.TxOptions{}); err != nil {
		t.Fatalf("the next holder did not get a clean session: %v", err)
	}
	l.Release()
	// Releases reset in the background, and a second session may have
	// served the second holder meanwhile: the resets land in any order.
	want := []string{"BEGIN", "INSERT 1", "COMMIT", "BEGIN", "INSERT 2", "ROLLBACK", "BEGIN", "BEGIN", "ROLLBACK by reset", "ROLLBACK by reset"}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if got = f.events(); len(got) >= len(want) {
			break
		}
	}
	sorted := slices.Clone(got)
	if len(sorted) == len(want) {
		slices.Sort(sorted[6:])
	}
	if !slices.Equal(sorted, want) {
		t.Fatalf("events:\n got %v\nwant %v (the last four in any order)", got, want)
	}
}

func TestSQLOnAResourceWithoutTheCapabilityIsRefused(t *testing.T) {
	h, _ := sqlHost(t)
	err := host.Use(t.Context(), h, "memory.cache", func(l *host.Lease) error {
		_, err := l.Exec(t.Context(), "SELECT 1")
		return err
	})
	if sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("got %v", err)
	}
}

func TestQueryAndExecAnswerJSONForCallAndTheAdminEndpoint(t *testing.T) {
	h, _ := sqlHost(t)
	out, err := h.Invoke(t.Context(), "fakesql.db", "query", `{"sql":"echo","args":[1,"a",1.50,null,{"x":1},true]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"columns":[{"name":"int","kind":"int"},{"name":"text","kind":"text"},{"name":"decimal","kind":"decimal"},{"name":"null","kind":"null"},{"name":"json","kind":"json"},{"name":"bool","kind":"bool"}],"rows":[[1,"a","1.50",null,{"x":1},true]]}`
	if string(out) != want {
		t.Fatalf("query:\n got %s\nwant %s", out, want)
	}
	out, err = h.Invoke(t.Context(), "fakesql.db", "exec", map[string]any{"sql": "INSERT 3"})
	if err != nil || string(out) != `{"rows_affected":1}` {
		t.Fatalf("exec: %s %v", out, err)
	}
	if _, err := h.Invoke(t.Context(), "fakesql.db", "query", `{"sql":"echo","bogus":1}`); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("unknown argument: %v", err)
	}
	info, _ := h.DescribeResource("fakesql.db")
	var names []string
	for _, op := range info.Operations {
		names = append(names, op.Name)
	}
	if !slices.Contains(names, "query") || !slices.Contains(names, "exec") {
		t.Fatalf("operations: %v", names)
	}
}
