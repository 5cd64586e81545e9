package mysql

import (
	"maps"
	"slices"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk/sqlscan"
)

func TestSessionNote(t *testing.T) {
	for _, c := range []struct {
		sql      string
		want     effect
		vars     []string // session variables to put back
		userVars []string
	}{
		{sql: "SELECT 1"},
		{sql: "select * from t where id = ?"},
		{sql: "UPDATE t SET x = 1, y = @y WHERE id = 2"},
		{sql: "INSERT INTO t VALUES ('set x = 1', 'get_lock', \"temporary\", `call`)"},
		{sql: "SELECT 'it\\'s; SET x = 1'"},
		{sql: "SELECT @x, @@session.sql_mode"},
		{sql: "SELECT 1 # SET x = 1"},
		{sql: "SELECT 1 -- LOCK TABLES t WRITE"},
		{sql: "SELECT 2--1"},
		{sql: "DO SLEEP(0)"},
		{sql: "SET GLOBAL max_connections = 100"},
		{sql: "SET @@global.max_connections = 100"},
		{sql: "SET PASSWORD = PASSWORD('x')"},
		{sql: "SELECT * FROM t FOR UPDATE"},
		{sql: "SET STATEMENT max_statement_time = 1 FOR SELECT 1"},
		{sql: "SET x = 1", want: effectVars, vars: []string{"x"}},
		{sql: "set Session wait_timeout=5, LOCAL net_read_timeout = (1+2), @@sort_buffer_size = 1, @@session.max_sort_length = DEFAULT, @@local.`long_query_time` := 3",
			want: effectVars, vars: []string{"`long_query_time`", "max_sort_length", "net_read_timeout", "sort_buffer_size", "wait_timeout"}},
		{sql: "SET GLOBAL a = 1, SESSION b = 2, c = 3", want: effectVars, vars: []string{"b", "c"}},
		{sql: "SET SESSION a = 1, GLOBAL b = 2, c = 3", want: effectVars, vars: []string{"a"}},
		{sql: "SET @x = 1, @`y z` := 2, @'w' = 3", want: effectVars, userVars: []string{"@'w'", "@`y z`", "@x"}},
		{sql: "SET NAMES latin1 COLLATE latin1_bin, @a = CONCAT('a', 'b')", want: effectVars, userVars: []string{"@a"}},
		{sql: "SET CHARACTER SET latin1", want: effectVars},
		{sql: "SET CHARSET utf8mb4", want: effectVars},
		{sql: "SET autocommit = 0", want: effectVars | effectTx, vars: []string{"autocommit"}},
		{sql: "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", want: effectVars},
		{sql: "SET TRANSACTION READ ONLY", want: effectTx},
		{sql: "SET STATEMENT sql_mode = '' FOR CREATE TEMPORARY TABLE t (a int)", want: effectConn},
		{sql: "SET STATEMENT a = (SELECT 1 FOR UPDATE) FOR SELECT @v := 1", want: effectVars, userVars: []string{"@v"}},
		{sql: "SET @x = GET_LOCK('a', 0)", want: effectVars | effectNamedLocks, userVars: []string{"@x"}},
		{sql: "SELECT GET_LOCK('a', 0)", want: effectNamedLocks},
		{sql: "SELECT @a := 1, @b", want: effectVars, userVars: []string{"@a", "@b"}},
		{sql: "SELECT 1, 2 INTO @a, @b", want: effectVars, userVars: []string{"@a", "@b"}},
		{sql: "LOAD DATA INFILE 'f' INTO TABLE t (@c) SET a = @c", want: effectVars, userVars: []string{"@c"}},
		{sql: "BEGIN", want: effectTx},
		{sql: "START TRANSACTION READ ONLY", want: effectTx},
		{sql: "LOCK TABLES t WRITE", want: effectTableLocks},
		{sql: "FLUSH TABLES t WITH READ LOCK", want: effectTableLocks},
		{sql: "FLUSH TABLES t FOR EXPORT", want: effectTableLocks},
		{sql: "USE other", want: effectSchema},
		{sql: "/*!40101 SET NAMES utf8 */", want: effectVars},
		{sql: "CREATE TEMPORARY TABLE t (a int)", want: effectConn},
		{sql: "PREPARE s FROM 'SELECT 1'", want: effectConn},
		{sql: "EXECUTE s", want: effectConn},
		{sql: "DEALLOCATE PREPARE s", want: effectConn},
		{sql: "DROP PREPARE s", want: effectConn},
		{sql: "CALL p(@out)", want: effectConn},
		{sql: "HANDLER t OPEN", want: effectConn},
		{sql: "XA START 'x'", want: effectConn},
		{sql: "BEGIN NOT ATOMIC SET @x = 1; END", want: effectConn},
		{sql: "SET ROLE r", want: effectConn},
		{sql: "LOCK INSTANCE FOR BACKUP", want: effectConn},
		{sql: "SET", want: effectConn},
		{sql: "SET x", want: effectConn},
		{sql: "SET x = 1, + 2", want: effectVars | effectConn, vars: []string{"x"}},
	} {
		var s session
		s.note(sqlscan.MySQL, c.sql)
		vars := slices.Sorted(maps.Keys(s.vars))
		userVars := slices.Sorted(maps.Keys(s.userVars))
		if s.effects != c.want || !slices.Equal(vars, c.vars) || !slices.Equal(userVars, c.userVars) {
			t.Errorf("note(%q): effects %b vars %q user vars %q; want %b %q %q", c.sql, s.effects, vars, userVars, c.want, c.vars, c.userVars)
		}
	}
}

// TestSessionNoteAfterSQLModeReadsQuotesBothWays: once sql_mode changed,
// a backslash may or may not escape, and a word after it is found either
// way.
func TestSessionNoteAfterSQLModeReadsQuotesBothWays(t *testing.T) {
	var s session
	s.note(sqlscan.MySQL, "SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
	s.effects = 0
	s.note(sqlscan.MySQL, `SELECT 'a\', GET_LOCK('x', 0)`)
	if s.effects != effectNamedLocks {
		t.Fatalf("effects %b, want the named lock", s.effects)
	}
}

func FuzzSessionNote(f *testing.F) {
	for _, s := range []string{"SET x = 1", "SET @a := (1", "SET @@", "SET @@session.", "SET STATEMENT FOR", "SELECT @", "'", "/*!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		var s session
		s.note(sqlscan.MySQL, sql) // must end, without panicking, on any text
		if len(s.vars)+len(s.userVars) > 0 && s.effects&effectVars == 0 {
			t.Fatalf("%q: variables noted without effectVars", sql)
		}
	})
}
