package sqlite_test

import (
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestOnlyDirtySessionsNeedAReset runs each kind of statement that leaves
// state on a connection, and checks that the instance then says it is not
// clean, and that Reset takes the state away (with ROLLBACK on the same
// connection and its prepared statements, or with a new connection); and
// that statements that leave none keep it clean, so that the host skips
// the reset.
func TestOnlyDirtySessionsNeedAReset(t *testing.T) {
	both(t, func(t *testing.T, cfg string) {
		res := configure(t, connect(t), cfg)
		inst := open(t, res)
		ctx := t.Context()
		tbl := table(t)
		clean := func() bool { return inst.(sdk.SessionReporter).SessionClean() }
		one := func(q string, args ...sdk.Value) sdk.Value {
			t.Helper()
			_, rows := queryAll(t, inst, q, args...)
			return rows[0][0]
		}
		fails := func(q string) bool {
			_, err := inst.Exec(ctx, sdk.Statement{SQL: q})
			return err != nil
		}
		canBegin := func() bool { return inst.Begin(ctx, sdk.TxOptions{}) == nil && inst.Rollback(ctx) == nil }

		mustExec(t, inst, `CREATE TABLE `+tbl+` (id INTEGER PRIMARY KEY, v TEXT)`)
		if !clean() {
			t.Fatal("CREATE TABLE left the instance not clean")
		}
		cached := "SELECT ? + 1"
		one(cached, sdk.Value{Kind: sdk.ValueInt, Int: 1})
		mustExec(t, inst, `INSERT INTO `+tbl+` VALUES (1, 'temp; begin')`)
		mustExec(t, inst, `UPDATE `+tbl+` SET v = 'x' WHERE id = ?`, sdk.Value{Kind: sdk.ValueInt, Int: 1})
		one(`PRAGMA foreign_keys`)
		one(`SELECT count(*) FROM pragma_table_info('` + tbl + `')`)
		queryAll(t, inst, `PRAGMA table_info(`+tbl+`)`)
		if err := inst.Begin(ctx, sdk.TxOptions{}); err != nil {
			t.Fatal(err)
		}
		if clean() {
			t.Fatal("an instance in a transaction says it is clean")
		}
		if err := inst.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if !clean() {
			t.Fatal("selects, writes, reading pragmas and a committed transaction left the instance not clean")
		}

		// last_insert_rowid() is the connection's own: it outlives a
		// ROLLBACK, not a new connection. The prepared statements live as
		// long as the connection.
		for n, c := range []struct {
			dirty   string
			gone    func() bool // true once the state is gone
			newConn bool        // only a new connection clears it
		}{
			{dirty: "BEGIN; DELETE FROM " + tbl, gone: func() bool { return canBegin() && one("SELECT count(*) FROM "+tbl).Int == 1 }},
			{dirty: "SAVEPOINT a", gone: canBegin},
			{dirty: "PRAGMA foreign_keys = OFF", newConn: true, gone: func() bool { return one("PRAGMA foreign_keys").Int == 1 }},
			{dirty: "PRAGMA recursive_triggers(1)", newConn: true, gone: func() bool { return one("PRAGMA recursive_triggers").Int == 0 }},
			{dirty: "ATTACH ':memory:' AS other", newConn: true, gone: func() bool {
				return one("SELECT count(*) FROM pragma_database_list WHERE name = 'other'").Int == 0
			}},
			{dirty: "CREATE TEMP TABLE scratch (a)", newConn: true, gone: func() bool { return fails("SELECT * FROM scratch") }},
			{dirty: "CREATE TEMPORARY VIEW v AS SELECT 1", newConn: true, gone: func() bool { return fails("SELECT * FROM temp.v") }},
		} {
			marker := int64(100 + n)
			mustExec(t, inst, "INSERT INTO "+tbl+" VALUES (?, 'marker')", sdk.Value{Kind: sdk.ValueInt, Int: marker})
			mustExec(t, inst, "DELETE FROM "+tbl+" WHERE id = ?", sdk.Value{Kind: sdk.ValueInt, Int: marker})
			if !clean() {
				t.Fatalf("before %q the instance is not clean", c.dirty)
			}
			mustExec(t, inst, c.dirty)
			if clean() {
				t.Fatalf("after %q the instance says it is clean", c.dirty)
			}
			if err := inst.(sdk.Resetter).Reset(ctx); err != nil {
				t.Fatalf("Reset after %q: %v", c.dirty, err)
			}
			if !clean() {
				t.Fatalf("after Reset (of %q) the instance is not clean", c.dirty)
			}
			if !c.gone() {
				t.Fatalf("after %q and Reset the state is still there", c.dirty)
			}
			wantMarker := marker
			if c.newConn {
				wantMarker = 0
			}
			if got := one("SELECT last_insert_rowid()").Int; got != wantMarker {
				t.Fatalf("after %q and Reset last_insert_rowid() is %d, want %d (new connection: %v)", c.dirty, got, wantMarker, c.newConn)
			}
			if v := one(cached, sdk.Value{Kind: sdk.ValueInt, Int: 1}); v.Int != 2 {
				t.Fatalf("after %q and Reset a cached statement answered %+v", c.dirty, v)
			}
			if !clean() {
				if err := inst.(sdk.Resetter).Reset(ctx); err != nil { // what gone left
					t.Fatal(err)
				}
			}
		}

		// A read-only transaction left open: Reset rolls it back and
		// turns query_only off, on the same connection.
		if err := inst.Begin(ctx, sdk.TxOptions{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
		if err := inst.(sdk.Resetter).Reset(ctx); err != nil {
			t.Fatal(err)
		}
		mustExec(t, inst, "INSERT INTO "+tbl+" VALUES (2, 'after read only')")
	})
}
