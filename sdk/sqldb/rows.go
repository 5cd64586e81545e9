package sqldb

import (
	"context"
	"database/sql"
	"strconv"
	"sync"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// rows streams a query's result from the client's cursor, converting each
// row as it is read (Values.Convert), so that a large result never sits
// whole in memory.
type rows struct {
	s    *Session
	ctx  context.Context // the query's
	what string
	rs   *sql.Rows
	cols []sdk.Column
	// raw receives a row's values as the client gives them; dest points
	// at each.
	raw  []any
	dest []any
	vals []sdk.Value
	err  error
	once sync.Once
}

// newRows describes rs's columns (Values.Kind) and registers the rows
// with the session, which closes them on Reset and Close.
func (s *Session) newRows(ctx context.Context, rs *sql.Rows, what string) (sdk.Rows, error) {
	types, err := rs.ColumnTypes()
	if err != nil {
		_ = rs.Close()
		return nil, s.wrap(ctx, err, what+": columns")
	}
	r := &rows{s: s, ctx: ctx, what: what, rs: rs, cols: make([]sdk.Column, len(types)),
		raw: make([]any, len(types)), dest: make([]any, len(types)), vals: make([]sdk.Value, len(types))}
	for i, t := range types {
		dbType := t.DatabaseTypeName()
		r.cols[i] = sdk.Column{Name: t.Name(), Kind: s.b.Values.Kind(dbType), DatabaseType: dbType}
		r.dest[i] = &r.raw[i]
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.rows[r] = struct{}{}
	}
	s.mu.Unlock()
	if closed { // closed while the query ran
		_ = rs.Close()
		return nil, sdk.WrapError(sdk.KindUnavailable, ErrClosed, what)
	}
	return r, nil
}

// Columns describes the result's columns.
func (r *rows) Columns() []sdk.Column { return r.cols }

// Values returns the current row; Next reuses the slice.
func (r *rows) Values() []sdk.Value { return r.vals }

// Err is the error that ended the rows.
func (r *rows) Err() error { return r.err }

// Next reads and converts the next row; at the end, or on an error, it
// closes the rows.
func (r *rows) Next() bool {
	if r.err != nil {
		return false
	}
	if !r.rs.Next() {
		r.err = r.s.wrap(r.ctx, r.rs.Err(), r.what)
		_ = r.Close()
		return false
	}
	if err := r.rs.Scan(r.dest...); err != nil {
		r.err = r.s.wrap(r.ctx, err, r.what+": scan")
		_ = r.Close()
		return false
	}
	for i, v := range r.raw {
		r.raw[i] = nil // the value is the row's now, not the next one's
		if v == nil {
			r.vals[i] = sdk.Null
			continue
		}
		val, err := r.s.b.Values.Convert(r.cols[i], v)
		if err != nil {
			r.err = sdk.WrapError(sdk.KindInternal, err, r.what+": column "+strconv.Quote(r.cols[i].Name))
			_ = r.Close()
			return false
		}
		r.vals[i] = val
	}
	return true
}

// Close closes the cursor and forgets the rows in the session. The client
// discards the rest of the result, or may close the connection when the
// query's context has ended (go-sql-driver's cancellation). Only the first
// call does anything.
func (r *rows) Close() error {
	var err error
	r.once.Do(func() {
		err = r.rs.Close()
		r.s.mu.Lock()
		delete(r.s.rows, r)
		r.s.mu.Unlock()
	})
	return r.s.wrap(r.ctx, err, r.what+": close rows")
}

var _ sdk.Rows = (*rows)(nil)
