package host

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The SQL data path of a lease, for resources whose type has the "sql"
// capability (postgres, mysql, sqlite). Such types pool exclusively, so a
// transaction begun on a lease stays with it until Commit or Rollback, and
// releasing the lease with a transaction open rolls it back.

// sqlInstance returns the lease's session, or an error saying why the
// lease cannot speak SQL.
func (l *Lease) sqlInstance(op string) (sdk.SQLInstance, error) {
	if err := l.ended(op); err != nil {
		return nil, err
	}
	si, ok := l.inst.(sdk.SQLInstance)
	if !ok || !slices.Contains(l.r.rtype.Capabilities, sdk.CapabilitySQL) {
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: sdk.Errorf(sdk.KindInvalidArgument, "resource type %q has no sql capability", l.r.typ())}
	}
	return si, nil
}

func statement(query string, args []any) (sdk.Statement, error) {
	st := sdk.Statement{SQL: query, Args: make([]sdk.Value, len(args))}
	for i, a := range args {
		v, err := sdk.ValueOf(a)
		if err != nil {
			return sdk.Statement{}, fmt.Errorf("argument %d: %w", i+1, err)
		}
		st.Args[i] = v
	}
	return st, nil
}

// Query runs a statement that returns rows. The arguments are Go values
// converted by sdk.ValueOf. Read the rows with Next and Scan, and Close
// them (reading them all closes them too); the lease stays yours.
func (l *Lease) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	si, err := l.sqlInstance("query")
	if err != nil {
		return nil, err
	}
	st, err := statement(query, args)
	if err != nil {
		return nil, &CallError{Resource: l.r.id, Operation: "query", Err: err}
	}
	// Of the resilience policies, the breaker and the bulkhead apply to a
	// query until its first rows arrive; only ctx bounds the rows. The
	// span covers the query until its first rows.
	c := call{r: l.r, op: "query", n: l.r.opIndex("query"), owner: l.owner, query: query, lease: l}
	rows, qctx, err := c.once(ctx, func(ctx context.Context) (any, error) { return si.Query(ctx, st) })
	if err != nil {
		_, err = l.r.result(l.h, "query", nil, err, nil, sdk.StatementInput(st)...)
		return nil, err
	}
	return &Rows{l: l, ctx: qctx, rows: rows.(sdk.Rows), input: sdk.StatementInput(st)}, nil
}

// Exec runs a statement that returns no rows.
func (l *Lease) Exec(ctx context.Context, query string, args ...any) (sdk.ExecResult, error) {
	si, err := l.sqlInstance("exec")
	if err != nil {
		return sdk.ExecResult{}, err
	}
	st, err := statement(query, args)
	if err != nil {
		return sdk.ExecResult{}, &CallError{Resource: l.r.id, Operation: "exec", Err: err}
	}
	res, err := l.sqlCall(ctx, "exec", query, func(ctx context.Context) (any, error) { return si.Exec(ctx, st) }, sdk.StatementInput(st)...)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	return res.(sdk.ExecResult), nil
}

// Begin starts a transaction on the lease's session.
func (l *Lease) Begin(ctx context.Context, opts sdk.TxOptions) error {
	return l.txCall(ctx, "begin", func(ctx context.Context, si sdk.SQLInstance) error { return si.Begin(ctx, opts) })
}

// Commit commits the lease's transaction.
func (l *Lease) Commit(ctx context.Context) error {
	return l.txCall(ctx, "commit", func(ctx context.Context, si sdk.SQLInstance) error { return si.Commit(ctx) })
}

// Rollback rolls the lease's transaction back.
func (l *Lease) Rollback(ctx context.Context) error {
	return l.txCall(ctx, "rollback", func(ctx context.Context, si sdk.SQLInstance) error { return si.Rollback(ctx) })
}

func (l *Lease) txCall(ctx context.Context, op string, call func(context.Context, sdk.SQLInstance) error) error {
	si, err := l.sqlInstance(op)
	if err != nil {
		return err
	}
	_, err = l.sqlCall(ctx, op, "", func(ctx context.Context) (any, error) { return nil, call(ctx, si) })
	return err
}

// sqlCall runs one SQL call under the resource's resilience policies. SQL
// statements are never retried: the host cannot know they are idempotent.
// query is the SQL text, for the span when query_text is on.
func (l *Lease) sqlCall(ctx context.Context, op, query string, fn func(context.Context) (any, error), input ...string) (any, error) {
	if err := l.ended(op); err != nil {
		return nil, err
	}
	c := call{r: l.r, op: op, n: l.r.opIndex(op), owner: l.owner, query: query, lease: l, fn: fn}
	res, err := c.run(ctx)
	if err != nil {
		return nil, l.h.callError(l.r, op, err, input...)
	}
	return res, nil
}

// WithTx acquires the named SQL resource, begins a transaction, runs fn,
// and commits when fn returns nil or rolls back when it returns an error
// or panics. The lease is always released.
func WithTx(ctx context.Context, h *Host, name string, opts sdk.TxOptions, fn func(*Lease) error, acquire ...AcquireOption) (err error) {
	return Use(ctx, h, name, func(l *Lease) error {
		if err := l.Begin(ctx, opts); err != nil {
			return err
		}
		committed := false
		defer func() {
			if !committed {
				_ = l.Rollback(context.WithoutCancel(ctx))
			}
		}()
		if err := fn(l); err != nil {
			return err
		}
		if err := l.Commit(ctx); err != nil {
			return err
		}
		committed = true
		return nil
	}, acquire...)
}

// Rows is a query's result, read row by row:
//
//	rows, err := lease.Query(ctx, "SELECT id, name FROM users WHERE team = $1", team)
//	if err != nil { ... }
//	defer rows.Close()
//	for rows.Next() {
//		var id int64
//		var name string
//		if err := rows.Scan(&id, &name); err != nil { ... }
//	}
//	if err := rows.Err(); err != nil { ... }
type Rows struct {
	l    *Lease
	ctx  context.Context // the query's: a stream it ended is not the backend's failure
	rows sdk.Rows
	err  error
	// input is what the caller sent, for masking (callError)
	input []string
}

// Columns describes the result's columns.
func (r *Rows) Columns() []sdk.Column { return r.rows.Columns() }

// Next moves to the next row and reports whether there is one.
func (r *Rows) Next() bool { return r.rows.Next() }

// Values returns the current row's values, valid until Next.
func (r *Rows) Values() []sdk.Value { return r.rows.Values() }

// Err returns the error that ended the rows, if any, with its kind.
func (r *Rows) Err() error {
	if r.err != nil {
		return r.err
	}
	if err := r.rows.Err(); err != nil {
		r.l.r.pol.Record(r.ctx, err)
		_, r.err = r.l.finish("query", time.Now(), nil, err, nil, r.input...)
	}
	return r.err
}

// Close stops reading; the rest of the result is not sent.
func (r *Rows) Close() error { return r.rows.Close() }

// Scan copies the current row into dest, one pointer per column: *any,
// *sdk.Value, *string, *[]byte, *bool, *int, *int64 (and the other integer
// types), *float64, *float32, *sdk.Decimal, *time.Time, *time.Duration,
// *sdk.Interval, *sdk.UUID, or a pointer to a pointer of these, which is
// set to nil for NULL.
func (r *Rows) Scan(dest ...any) error {
	vals := r.rows.Values()
	if len(dest) != len(vals) {
		return sdk.Errorf(sdk.KindInvalidArgument, "Scan: %d destinations for %d columns", len(dest), len(vals))
	}
	for i, d := range dest {
		if err := scanValue(vals[i], d); err != nil {
			return sdk.Errorf(sdk.KindInvalidArgument, "Scan: column %d (%s): %v", i+1, r.rows.Columns()[i].Name, err)
		}
	}
	return nil
}

func scanValue(v sdk.Value, dest any) error {
	switch d := dest.(type) {
	case *any:
		*d = v.Any()
		return nil
	case *sdk.Value:
		*d = v
		return nil
	}
	dv := reflect.ValueOf(dest)
	if dv.Kind() != reflect.Pointer || dv.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	target := dv.Elem()
	if target.Kind() == reflect.Pointer { // **T: nil for NULL
		if v.IsNull() {
			target.Set(reflect.Zero(target.Type()))
			return nil
		}
		fresh := reflect.New(target.Type().Elem())
		if err := scanValue(v, fresh.Interface()); err != nil {
			return err
		}
		target.Set(fresh)
		return nil
	}
	if v.IsNull() {
		return fmt.Errorf("NULL into %s; scan into a pointer to a pointer, or *any", target.Type())
	}
	src := reflect.ValueOf(v.Any())
	switch {
	case src.Type().AssignableTo(target.Type()):
		target.Set(src)
	case src.CanConvert(target.Type()) && convertible(src.Kind(), target.Kind()):
		c := src.Convert(target.Type())
		if isInt(src.Kind()) && isInt(target.Kind()) && c.Int() != src.Int() {
			return fmt.Errorf("%d overflows %s", src.Int(), target.Type())
		}
		target.Set(c)
	default:
		return fmt.Errorf("cannot put a %s value into %s", v.Kind, target.Type())
	}
	return nil
}

// convertible allows the conversions that keep the value: between integer
// types, between float types, and string to and from Decimal.
func convertible(from, to reflect.Kind) bool {
	switch {
	case isInt(from) && isInt(to):
		return true
	case (from == reflect.Float32 || from == reflect.Float64) && (to == reflect.Float32 || to == reflect.Float64):
		return true
	case from == reflect.String && to == reflect.String:
		return true
	}
	return false
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

// Stmt is one statement of a batch: SQL text and Go arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// Batch runs statements without rows in order, in one call to the plugin
// and, where the backend can (PostgreSQL), one round trip to the database.
// The first error stops the batch and names the statement; run the batch
// in a transaction to make it all or nothing.
func (l *Lease) Batch(ctx context.Context, stmts ...Stmt) ([]sdk.ExecResult, error) {
	si, err := l.sqlInstance("batch")
	if err != nil {
		return nil, err
	}
	b, ok := si.(sdk.Batcher)
	if !ok {
		return nil, &CallError{Resource: l.r.id, Operation: "batch", Err: sdk.Errorf(sdk.KindUnimplemented, "the driver cannot run batches")}
	}
	sts := make([]sdk.Statement, len(stmts))
	for i, s := range stmts {
		if sts[i], err = statement(s.SQL, s.Args); err != nil {
			return nil, &CallError{Resource: l.r.id, Operation: "batch", Err: fmt.Errorf("statement %d: %w", i+1, err)}
		}
	}
	var input []string
	for _, st := range sts {
		input = append(input, sdk.StatementInput(st)...)
	}
	res, err := l.sqlCall(ctx, "batch", batchText(stmts), func(ctx context.Context) (any, error) { return b.Batch(ctx, sts) }, input...)
	if err != nil {
		return nil, err
	}
	return res.([]sdk.ExecResult), nil
}

// batchText is a batch's statements, one per line, for the span when
// query_text is on.
func batchText(stmts []Stmt) string {
	texts := make([]string, len(stmts))
	for i, s := range stmts {
		texts[i] = s.SQL
	}
	return strings.Join(texts, ";\n")
}
