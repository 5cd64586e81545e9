package stmtcache_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk/stmtcache"
)

// countingDriver is a database/sql driver that only counts prepares and
// statement closes.
type countingDriver struct{ prepares, closes atomic.Int64 }

func (d *countingDriver) Open(string) (driver.Conn, error) { return conn{d}, nil }

type conn struct{ d *countingDriver }

func (c conn) Prepare(string) (driver.Stmt, error) { c.d.prepares.Add(1); return stmt(c), nil }
func (c conn) Close() error                        { return nil }
func (c conn) Begin() (driver.Tx, error)           { return nil, errors.New("no transactions") }

type stmt struct{ d *countingDriver }

func (s stmt) Close() error                               { s.d.closes.Add(1); return nil }
func (s stmt) NumInput() int                              { return -1 }
func (s stmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(0), nil }
func (s stmt) Query([]driver.Value) (driver.Rows, error)  { return nil, errors.New("no rows") }

type connector struct{ d *countingDriver }

func (c connector) Connect(context.Context) (driver.Conn, error) { return conn(c), nil }
func (c connector) Driver() driver.Driver                        { return c.d }

func TestCacheReusesStatementsAndClosesTheLeastRecentlyUsed(t *testing.T) {
	d := &countingDriver{}
	db := sql.OpenDB(connector{d})
	defer db.Close()
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cache := stmtcache.New(2)
	for _, q := range []string{"a", "b", "a", "a", "c", "a"} {
		if _, err := cache.Prepare(t.Context(), c, q); err != nil {
			t.Fatal(err)
		}
	}
	// a, b prepared; a reused twice; c evicts b (a was used more
	// recently); a reused again.
	if p, cl := d.prepares.Load(), d.closes.Load(); p != 3 || cl != 1 || cache.Len() != 2 {
		t.Fatalf("prepares %d, closes %d, len %d", p, cl, cache.Len())
	}
	cache.Close()
	if cl := d.closes.Load(); cl != 3 || cache.Len() != 0 {
		t.Fatalf("after Close: closes %d, len %d", cl, cache.Len())
	}
}
