package sqldb_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// memDB is a small database for database/sql, real enough to fail the
// way servers do: one table of text keys and values, transactions that
// buffer their writes until COMMIT, session variables, and connections
// that a statement can break. Its language, a statement a call:
//
//	SELECT expr, ...            one row: ?, an integer, 'text', NULL, @var
//	SERIES n                    n rows, 1 to n (n may be ?)
//	GET key / PUT key value     read or write the table (key, value: ? or literal)
//	SET @var = expr             a session variable
//	SET TRANSACTION ISOLATION LEVEL ...
//	START TRANSACTION [READ ONLY], BEGIN, COMMIT, ROLLBACK
//	SLEEP                       wait for the call's context to end
//	BREAK                       the connection breaks, as a killed one does
//	DOUBT                       IsValid says false until the next statement,
//	                            as modernc's SQLite does after an interrupt
//
// Text that holds no statement gives no result at all, as SQLite's driver
// does. Everything else is a syntax error.
type memDB struct {
	mu    sync.Mutex // guards table
	table map[string]string

	conns, closedConns, prepares, closedStmts atomic.Int64
	// log is every statement the connections ran, in order.
	logMu sync.Mutex
	log   []string
}

func newMemDB() *memDB { return &memDB{table: map[string]string{}} }

// ran returns the statements run since the last call, and forgets them.
func (db *memDB) ran() []string {
	db.logMu.Lock()
	defer db.logMu.Unlock()
	out := db.log
	db.log = nil
	return out
}

// memError is an error of the database, with a code as servers have.
type memError struct{ code, msg string }

func (e *memError) Error() string { return e.code + ": " + e.msg }

func (db *memDB) Connect(context.Context) (driver.Conn, error) {
	id := db.conns.Add(1)
	return &memConn{db: db, id: id, vars: map[string]driver.Value{}}, nil
}

func (db *memDB) Driver() driver.Driver { return memDriver{db} }

type memDriver struct{ db *memDB }

func (d memDriver) Open(string) (driver.Conn, error) { return d.db.Connect(context.Background()) }

// memConn is one connection: its session variables and transaction.
type memConn struct {
	db     *memDB
	id     int64
	vars   map[string]driver.Value
	tx     map[string]string // the open transaction's writes; nil without one
	ro     bool
	broken bool
	doubt  bool
	closed bool
}

func (c *memConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *memConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	if c.broken {
		return nil, driver.ErrBadConn
	}
	c.db.prepares.Add(1)
	return &memStmt{c: c, query: query}, nil
}

func (c *memConn) Close() error {
	if !c.closed {
		c.closed = true
		c.db.closedConns.Add(1)
	}
	return nil
}

func (c *memConn) Begin() (driver.Tx, error) {
	return nil, errors.New("memdb: transactions are statements")
}

// IsValid is driver.Validator: a broken connection is not.
func (c *memConn) IsValid() bool { return !c.broken && !c.closed && !c.doubt }

func (c *memConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, rows, err := c.run(ctx, query, args)
	if err == nil && rows != nil {
		res = memResult{} // the rows of a statement run for its effect
	}
	return res, err
}

func (c *memConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	_, rows, err := c.run(ctx, query, args)
	if err == nil && rows == nil {
		rows = &memRows{}
	}
	return rows, err
}

type memStmt struct {
	c     *memConn
	query string
}

func (s *memStmt) Close() error  { s.c.db.closedStmts.Add(1); return nil }
func (s *memStmt) NumInput() int { return -1 }
func (s *memStmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("memdb: use ExecContext")
}
func (s *memStmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("memdb: use QueryContext")
}
func (s *memStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}
func (s *memStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

// memResult is what a statement changed.
type memResult struct{ affected, lastID int64 }

func (r memResult) LastInsertId() (int64, error) { return r.lastID, nil }
func (r memResult) RowsAffected() (int64, error) { return r.affected, nil }

// run runs one statement.
func (c *memConn) run(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, *memRows, error) {
	if c.broken || c.closed {
		return nil, nil, driver.ErrBadConn
	}
	c.doubt = false
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, nil, nil
	}
	c.db.logMu.Lock()
	c.db.log = append(c.db.log, q)
	c.db.logMu.Unlock()
	p := &parser{args: args, vars: c.vars}
	word, rest, _ := strings.Cut(q, " ")
	switch strings.ToUpper(word) {
	case "SELECT":
		var row []driver.Value
		for e := range strings.SplitSeq(rest, ",") {
			v, err := p.value(strings.TrimSpace(e))
			if err != nil {
				return nil, nil, err
			}
			row = append(row, v)
		}
		return nil, &memRows{rows: [][]driver.Value{row}}, p.done()
	case "SERIES":
		v, err := p.value(strings.TrimSpace(rest))
		n, ok := v.(int64)
		if err != nil || !ok {
			return nil, nil, &memError{"SYNTAX", "SERIES takes a number"}
		}
		r := &memRows{names: []string{"n"}}
		for i := range n {
			r.rows = append(r.rows, []driver.Value{i + 1})
		}
		return nil, r, p.done()
	case "GET":
		k, err := p.text(strings.TrimSpace(rest))
		if err != nil {
			return nil, nil, err
		}
		r := &memRows{names: []string{"key", "value"}}
		if v, ok := c.get(k); ok {
			r.rows = [][]driver.Value{{k, v}}
		}
		return nil, r, p.done()
	case "PUT":
		ks, vs, _ := strings.Cut(strings.TrimSpace(rest), " ")
		k, err := p.text(ks)
		if err != nil {
			return nil, nil, err
		}
		v, err := p.text(strings.TrimSpace(vs))
		if err != nil {
			return nil, nil, err
		}
		if c.ro {
			return nil, nil, &memError{"READONLY", "the transaction is read only"}
		}
		if c.tx != nil {
			c.tx[k] = v
		} else {
			c.db.mu.Lock()
			c.db.table[k] = v
			c.db.mu.Unlock()
		}
		return memResult{affected: 1, lastID: int64(len(k))}, nil, p.done()
	case "SET":
		if strings.HasPrefix(strings.ToUpper(rest), "TRANSACTION ") {
			return memResult{}, nil, nil
		}
		name, expr, ok := strings.Cut(rest, "=")
		name = strings.TrimSpace(name)
		if !ok || !strings.HasPrefix(name, "@") {
			return nil, nil, &memError{"SYNTAX", "SET @var = value"}
		}
		v, err := p.value(strings.TrimSpace(expr))
		if err != nil {
			return nil, nil, err
		}
		c.vars[name] = v
		return memResult{}, nil, p.done()
	case "START", "BEGIN":
		if c.tx != nil {
			return nil, nil, &memError{"TXOPEN", "a transaction is already active"}
		}
		c.tx, c.ro = map[string]string{}, strings.HasSuffix(strings.ToUpper(rest), "READ ONLY")
		return memResult{}, nil, nil
	case "COMMIT", "ROLLBACK":
		if c.tx == nil {
			return nil, nil, &memError{"NOTX", "no transaction is active"}
		}
		if strings.EqualFold(word, "COMMIT") {
			c.db.mu.Lock()
			maps.Copy(c.db.table, c.tx)
			c.db.mu.Unlock()
		}
		c.tx, c.ro = nil, false
		return memResult{}, nil, nil
	case "SLEEP":
		<-ctx.Done()
		return nil, nil, ctx.Err()
	case "BREAK":
		c.broken = true
		return nil, nil, driver.ErrBadConn
	case "DOUBT":
		c.doubt = true
		return memResult{}, nil, nil
	}
	return nil, nil, &memError{"SYNTAX", "unknown statement " + strconv.Quote(word)}
}

// get reads key as the connection sees it: its transaction's writes
// first.
func (c *memConn) get(key string) (string, bool) {
	if v, ok := c.tx[key]; ok {
		return v, true
	}
	c.db.mu.Lock()
	defer c.db.mu.Unlock()
	v, ok := c.db.table[key]
	return v, ok
}

// parser reads the expressions of one statement, taking its arguments in
// order.
type parser struct {
	args []driver.NamedValue
	next int
	vars map[string]driver.Value
}

func (p *parser) value(e string) (driver.Value, error) {
	switch {
	case e == "?":
		if p.next >= len(p.args) {
			return nil, &memError{"ARGS", fmt.Sprintf("missing argument %d", p.next+1)}
		}
		p.next++
		return p.args[p.next-1].Value, nil
	case strings.EqualFold(e, "NULL"):
		return nil, nil
	case strings.HasPrefix(e, "@"):
		return p.vars[e], nil
	case len(e) >= 2 && e[0] == '\'' && e[len(e)-1] == '\'':
		return e[1 : len(e)-1], nil
	}
	n, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return nil, &memError{"SYNTAX", "bad expression " + strconv.Quote(e)}
	}
	return n, nil
}

func (p *parser) text(e string) (string, error) {
	v, err := p.value(e)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", &memError{"TYPE", fmt.Sprintf("%v is not text", v)}
	}
	return s, nil
}

// done checks that the statement used every argument.
func (p *parser) done() error {
	if p.next != len(p.args) {
		return &memError{"ARGS", fmt.Sprintf("%d arguments for %d placeholders", len(p.args), p.next)}
	}
	return nil
}

// memRows is a result, read from memory.
type memRows struct {
	names  []string
	rows   [][]driver.Value
	closed bool
}

func (r *memRows) Columns() []string {
	if r.names != nil {
		return r.names
	}
	var n int
	if len(r.rows) > 0 {
		n = len(r.rows[0])
	}
	out := make([]string, n)
	for i := range out {
		out[i] = "c" + strconv.Itoa(i+1)
	}
	return out
}

// ColumnTypeDatabaseTypeName names a column's type by its first value.
func (r *memRows) ColumnTypeDatabaseTypeName(i int) string {
	if len(r.rows) == 0 {
		return "TEXT"
	}
	switch r.rows[0][i].(type) {
	case int64:
		return "INTEGER"
	case string:
		return "TEXT"
	}
	return ""
}

func (r *memRows) Close() error { r.closed = true; return nil }

func (r *memRows) Next(dest []driver.Value) error {
	if r.closed || len(r.rows) == 0 {
		return io.EOF
	}
	copy(dest, r.rows[0])
	r.rows = r.rows[1:]
	return nil
}

var (
	_ driver.Connector                      = (*memDB)(nil)
	_ driver.ExecerContext                  = (*memConn)(nil)
	_ driver.QueryerContext                 = (*memConn)(nil)
	_ driver.ConnPrepareContext             = (*memConn)(nil)
	_ driver.Validator                      = (*memConn)(nil)
	_ driver.StmtExecContext                = (*memStmt)(nil)
	_ driver.StmtQueryContext               = (*memStmt)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*memRows)(nil)
)
