package mysql_test

import (
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestOnlyDirtySessionsNeedAReset runs each kind of statement that leaves
// state in a session, and checks that the session then says it is not
// clean, and that Reset takes the state away (on the same connection,
// with its prepared statements, unless only a new connection clears the
// state); and that statements that leave none keep it clean, so that the
// host skips the reset.
func TestOnlyDirtySessionsNeedAReset(t *testing.T) {
	s := open(t)
	db := adminDB(t)
	tbl := table(t, db, "id INT PRIMARY KEY, v TEXT")
	other := table(t, db, "id INT PRIMARY KEY")
	proc := "nebula_test_proc_" + tbl[len("nebula_test_"):]
	if _, err := db.Exec("CREATE PROCEDURE " + proc + "() BEGIN SET @from_proc = 1; CREATE TEMPORARY TABLE proc_scratch (a INT); END"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP PROCEDURE IF EXISTS " + proc) })
	ctx := t.Context()
	clean := func() bool { return s.(sdk.SessionReporter).SessionClean() }
	one := func(q string, args ...sdk.Value) sdk.Value {
		t.Helper()
		_, rows := queryAll(t, s, q, args...)
		return rows[0][0]
	}
	isTrue := func(q string) bool { t.Helper(); return one(q).Int == 1 }
	fails := func(q string) bool {
		_, err := s.Exec(ctx, sdk.Statement{SQL: q})
		return err != nil
	}
	// prepares counts the server-side prepares of the session; a cached
	// statement runs without one.
	prepares := func() int64 {
		t.Helper()
		_, rows := queryAll(t, s, "SHOW SESSION STATUS LIKE 'Com_stmt_prepare'")
		var n int64
		for _, c := range rows[0][1].Text {
			n = n*10 + int64(c-'0')
		}
		return n
	}
	cached := "SELECT ? + 1"
	if !clean() {
		t.Fatal("a new session is not clean")
	}
	startCharset := one("SELECT CONCAT_WS(',', @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection)").Text
	conn := one("SELECT CONNECTION_ID()").Int
	one(cached, intV(1))
	exec(t, s, "INSERT INTO "+tbl+" VALUES (1, 'set @x := 1; lock tables')")
	exec(t, s, "UPDATE "+tbl+" SET v = 'x' WHERE id = ?", intV(1))
	one("SELECT @never_set, @@session.sql_mode, `get_lock` FROM (SELECT 1 AS `get_lock`) t")
	if err := s.Begin(ctx, sdk.TxOptions{Isolation: sdk.IsolationSerializable}); err != nil {
		t.Fatal(err)
	}
	if clean() {
		t.Fatal("a session in a transaction says it is clean")
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !clean() {
		t.Fatal("selects, writes and a committed transaction left the session not clean")
	}
	prepared := prepares()

	for _, c := range []struct {
		dirty   []string
		gone    func() bool // true once the state is gone
		newConn bool        // only a new connection clears it
	}{
		{dirty: []string{"SET SESSION wait_timeout = 5"}, gone: func() bool { return isTrue("SELECT @@SESSION.wait_timeout = @@GLOBAL.wait_timeout") }},
		{dirty: []string{"SET time_zone = '+05:00', @@sql_mode := 'ANSI_QUOTES'"}, gone: func() bool {
			return isTrue("SELECT @@time_zone = '+00:00' AND @@sql_mode NOT LIKE '%ANSI_QUOTES%'")
		}},
		{dirty: []string{"SET @u = 42"}, gone: func() bool { return isTrue("SELECT @u IS NULL") }},
		{dirty: []string{"SELECT 7 INTO @v"}, gone: func() bool { return isTrue("SELECT @v IS NULL") }},
		{dirty: []string{"SELECT @w := 7"}, gone: func() bool { return isTrue("SELECT @w IS NULL") }},
		{dirty: []string{"SET NAMES latin1"}, gone: func() bool {
			return one("SELECT CONCAT_WS(',', @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection)").Text == startCharset
		}},
		{dirty: []string{"SET autocommit = 0", "INSERT INTO " + tbl + " VALUES (2, 'uncommitted')"}, gone: func() bool {
			return isTrue("SELECT @@autocommit = 1") && isTrue("SELECT COUNT(*) = 0 FROM "+tbl+" WHERE id = 2")
		}},
		{dirty: []string{"BEGIN", "INSERT INTO " + tbl + " VALUES (3, 'uncommitted')"}, gone: func() bool {
			return isTrue("SELECT COUNT(*) = 0 FROM " + tbl + " WHERE id = 3")
		}},
		{dirty: []string{"SET TRANSACTION READ ONLY"}, gone: func() bool {
			// The next transaction may write.
			return s.Begin(ctx, sdk.TxOptions{}) == nil && !fails("INSERT INTO "+tbl+" VALUES (4, 'x')") && s.Rollback(ctx) == nil
		}},
		{dirty: []string{"LOCK TABLES " + tbl + " WRITE"}, gone: func() bool { return !fails("SELECT * FROM " + other) }},
		{dirty: []string{"FLUSH TABLES " + tbl + " WITH READ LOCK"}, gone: func() bool { return !fails("INSERT INTO " + tbl + " VALUES (5, 'x')") }},
		{dirty: []string{"SELECT GET_LOCK('nebula_test_lock', 0)"}, gone: func() bool { return isTrue("SELECT IS_USED_LOCK('nebula_test_lock') IS NULL") }},
		{dirty: []string{"USE information_schema"}, gone: func() bool { return one("SELECT DATABASE()").Text == "test" }},
		{dirty: []string{"CREATE TEMPORARY TABLE scratch (a INT)"}, newConn: true, gone: func() bool { return fails("SELECT * FROM scratch") }},
		{dirty: []string{"PREPARE mine FROM 'SELECT 1'"}, newConn: true, gone: func() bool { return fails("DEALLOCATE PREPARE mine") }},
		{dirty: []string{"CALL " + proc + "()"}, newConn: true, gone: func() bool {
			return isTrue("SELECT @from_proc IS NULL") && fails("SELECT * FROM proc_scratch")
		}},
	} {
		for _, q := range c.dirty {
			exec(t, s, q)
		}
		if clean() {
			t.Fatalf("after %q the session says it is clean", c.dirty)
		}
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset after %q: %v", c.dirty, err)
		}
		if !clean() {
			t.Fatalf("after Reset (of %q) the session is not clean", c.dirty)
		}
		if !c.gone() {
			t.Fatalf("after %q and Reset the state is still there", c.dirty)
		}
		now := one("SELECT CONNECTION_ID()").Int
		if c.newConn != (now != conn) {
			t.Fatalf("after %q and Reset the connection changed: %v (%d, was %d)", c.dirty, now != conn, now, conn)
		}
		conn = now
		if v := one(cached, intV(1)); v.Int != 2 {
			t.Fatalf("after %q and Reset a cached statement answered %+v", c.dirty, v)
		}
		if !c.newConn {
			if n := prepares(); n != prepared {
				t.Fatalf("after %q and Reset the session prepared %d statements again", c.dirty, n-prepared)
			}
		} else {
			prepared = prepares()
		}
		if !clean() {
			if err := s.Reset(ctx); err != nil { // what gone left
				t.Fatal(err)
			}
		}
	}
}
