package sqlite

import "testing"

func TestStatementEffect(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want effect
	}{
		{"SELECT 1", 0},
		{"INSERT INTO t VALUES ('temp; begin', \"temp\", [temp], `attach`)", 0},
		{"UPDATE t SET x = 1", 0},
		{"-- BEGIN\nSELECT 1", 0},
		{"/* PRAGMA x = 1 */ SELECT 1", 0},
		{"COMMIT", 0},
		{"PRAGMA foreign_keys", 0},
		{"PRAGMA main.user_version", 0},
		{"pragma table_info(t)", 0},
		{"PRAGMA main.index_list('t')", 0},
		{"PRAGMA integrity_check(10)", 0},
		{"PRAGMA wal_checkpoint(TRUNCATE)", 0},
		{"SELECT * FROM pragma_table_info('t')", 0},
		{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET a = 1; END", 0},
		{"BEGIN", effectTx},
		{"begin immediate transaction", effectTx},
		{"SAVEPOINT a", effectTx},
		{"SELECT 1; BEGIN", effectTx},
		{"PRAGMA foreign_keys = OFF", effectConn},
		{"PRAGMA main.cache_size = -2000", effectConn},
		{"PRAGMA recursive_triggers(1)", effectConn},
		{"PRAGMA query_only = 1", effectConn},
		{"ATTACH 'x.db' AS x", effectConn},
		{"DETACH x", effectConn},
		{"CREATE TEMP TABLE x (a)", effectConn},
		{"create temporary view v as select 1", effectConn},
		{"CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", effectConn},
		{"CREATE TABLE temp.x (a)", effectConn},
		{"BEGIN; CREATE TEMP TABLE x (a)", effectTx | effectConn},
	} {
		if got := statementEffect(c.sql); got != c.want {
			t.Errorf("statementEffect(%q) = %b, want %b", c.sql, got, c.want)
		}
	}
}

func FuzzStatementEffect(f *testing.F) {
	for _, s := range []string{"SELECT 1", "PRAGMA x = 1", "PRAGMA x(", "[", "'", "/*", "`a``b`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		statementEffect(sql) // must end, without panicking, on any text
	})
}
