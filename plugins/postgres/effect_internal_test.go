package postgres

import "testing"

func TestStatementEffect(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want effect
	}{
		{"SELECT 1", 0},
		{"select * from t where id = $1", 0},
		{"UPDATE t SET x = 1 WHERE id = $2", 0},
		{"INSERT INTO t VALUES ('set temp; listen x', E'it\\'s set', $$SET x$$)", 0},
		{`SELECT "temp" FROM t`, 0},
		{"SET LOCAL statement_timeout = 5", 0},
		{"set transaction isolation level serializable", 0},
		{"SET CONSTRAINTS ALL DEFERRED", 0},
		{"SELECT pg_advisory_xact_lock(1)", 0},
		{"-- SET x = 1\nSELECT 1", 0},
		{"/* SET /* nested */ x */ SELECT 1", 0},
		{"LOCK TABLE t IN SHARE MODE", 0},
		{"SET search_path = other", effectSession},
		{"set statement_timeout=1", effectSession},
		{"  SET ROLE nobody", effectSession},
		{"SET SESSION AUTHORIZATION nobody", effectSession},
		{"RESET ALL", effectSession},
		{"LISTEN ch", effectSession},
		{"UNLISTEN *", effectSession},
		{"CREATE TEMP TABLE x (a int)", effectSession},
		{"create temporary view v as select 1", effectSession},
		{"SELECT 1 INTO TEMP t", effectSession},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", effectSession},
		{"SELECT pg_advisory_lock(1)", effectSession},
		{"select PG_TRY_ADVISORY_LOCK_SHARED(1)", effectSession},
		{"SELECT set_config('a.b', 'c', false)", effectSession},
		{"DO $$BEGIN PERFORM 1; END$$", effectSession},
		{"DO $body$ SELECT 1 $body$", effectSession},
		{"CALL p()", effectSession},
		{"LOAD 'auto_explain'", effectSession},
		{"SELECT 1; SET x.y = 1", effectSession},
		{`SELECT 'a\'; SET x.y = 1`, effectSession}, // a standard string: the backslash is a byte
		{"SELECT $tag$ SET x $tag$; SET x.y = 1", effectSession},
		{"/* c */ SET x.y = 1", effectSession},
		{"PREPARE TRANSACTION 'x'", effectSession},
		{"PREPARE p AS SELECT 1", effectPrepared},
		{"DEALLOCATE p", effectPrepared},
		{"DISCARD ALL", effectSession | effectPrepared},
		{"DISCARD TEMP", effectSession | effectPrepared},
	} {
		if got := statementEffect(c.sql); got != c.want {
			t.Errorf("statementEffect(%q) = %b, want %b", c.sql, got, c.want)
		}
	}
}

func FuzzStatementEffect(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SET x = 1", "$$", "$1$", "'", "/*", "\"a\"\"b\"", "E'\\\\'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		statementEffect(sql) // must end, without panicking, on any text
	})
}
