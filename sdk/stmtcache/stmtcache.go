// Package stmtcache keeps a session's prepared statements, for drivers
// built on database/sql: one Cache per instance, keyed by SQL text, the
// least recently used statement closed when it is full.
package stmtcache

import (
	"container/list"
	"context"
	"database/sql"
)

// Cache is a small LRU of prepared statements on one connection. It is not
// safe for concurrent use: an exclusive instance uses it under its own
// lock.
type Cache struct {
	size  int
	order *list.List // of *entry, most recent first
	byKey map[string]*list.Element
}

type entry struct {
	query string
	stmt  *sql.Stmt
}

// New returns a cache of at most size statements (at least one).
func New(size int) *Cache {
	return &Cache{size: max(size, 1), order: list.New(), byKey: map[string]*list.Element{}}
}

// Prepare returns the prepared statement for query on conn, preparing it
// the first time.
func (c *Cache) Prepare(ctx context.Context, conn *sql.Conn, query string) (*sql.Stmt, error) {
	if e, ok := c.byKey[query]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*entry).stmt, nil
	}
	st, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.byKey[query] = c.order.PushFront(&entry{query: query, stmt: st})
	for c.order.Len() > c.size {
		e := c.order.Back()
		old := c.order.Remove(e).(*entry)
		delete(c.byKey, old.query)
		_ = old.stmt.Close()
	}
	return st, nil
}

// Len returns how many statements are cached.
func (c *Cache) Len() int { return c.order.Len() }

// Close closes every cached statement and empties the cache.
func (c *Cache) Close() {
	for e := c.order.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*entry).stmt.Close()
	}
	c.order.Init()
	clear(c.byKey)
}
