package mysql_test

import (
	"math"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// TestCallerMistakesAreNeverBackendFailures sends, to the real server, the
// statements a careless caller writes. None may answer with a kind that
// says the backend failed.
func TestCallerMistakesAreNeverBackendFailures(t *testing.T) {
	s := open(t)
	tbl := table(t, adminDB(t), "id INT PRIMARY KEY, n INT NOT NULL CHECK (n >= 0), s VARCHAR(3), j JSON, f DOUBLE")
	if _, err := s.Exec(t.Context(), sdk.Statement{SQL: "INSERT INTO " + tbl + " (id, n) VALUES (1, 1)"}); err != nil {
		t.Fatal(err)
	}
	txt := func(v string) sdk.Value { return sdk.Value{Kind: sdk.ValueText, Text: v} }
	num := func(v int64) sdk.Value { return sdk.Value{Kind: sdk.ValueInt, Int: v} }
	fl := func(v float64) sdk.Value { return sdk.Value{Kind: sdk.ValueFloat, Float: v} }
	conflict := []sdk.Kind{sdk.KindConflict}
	sdktest.CheckSQLMistakes(t, s, []sdktest.SQLMistake{
		{Name: "syntax error", SQL: "SELEC 1"},
		{Name: "empty statement", SQL: " "},
		{Name: "missing table", SQL: "SELECT * FROM no_such_table"},
		{Name: "missing column", SQL: "SELECT nope FROM " + tbl},
		{Name: "missing function", SQL: "SELECT no_such_function(1)"},
		{Name: "too few arguments", SQL: "SELECT ?, ?", Args: []sdk.Value{num(1)}},
		{Name: "too many arguments", SQL: "SELECT ?", Args: []sdk.Value{num(1), num(2)}},
		{Name: "text for an int", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (2, ?)", Args: []sdk.Value{txt("many")}},
		{Name: "int out of range", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (3, ?)", Args: []sdk.Value{num(1 << 40)}},
		{Name: "bigint overflow", SQL: "SELECT 9223372036854775807 + 1"},
		{Name: "string too long", SQL: "INSERT INTO " + tbl + " (id, n, s) VALUES (4, 1, 'abcdef')"},
		{Name: "invalid JSON", SQL: "INSERT INTO " + tbl + " (id, n, j) VALUES (5, 1, ?)", Args: []sdk.Value{txt("{not json")}},
		{Name: "infinity into a DOUBLE", SQL: "INSERT INTO " + tbl + " (id, n, f) VALUES (6, 1, ?)", Args: []sdk.Value{fl(posInf())}},
		{Name: "invalid date", SQL: "INSERT INTO " + tbl + " (id, n, s) VALUES (7, 1, CAST('2024-02-30' AS DATE))"},
		{Name: "NOT NULL", SQL: "INSERT INTO " + tbl + " (id) VALUES (8)"},
		{Name: "CHECK", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (9, -1)"},
		{Name: "duplicate key", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (1, 1)", Want: conflict},
		{Name: "name too long", SQL: "SELECT * FROM " + strings.Repeat("n", 300)},
		{Name: "signal", SQL: "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no'"},
		{Name: "subquery returns more than one row", SQL: "SELECT (SELECT 1 UNION SELECT 2)"},
		{Name: "missing database", SQL: "USE no_such_database_at_all", Want: []sdk.Kind{sdk.KindNotFound, sdk.KindInvalidArgument}},
		{Name: "missing user", SQL: "SET PASSWORD FOR 'nobody_at_all'@'%' = PASSWORD('x')", Want: []sdk.Kind{sdk.KindNotFound, sdk.KindInvalidArgument, sdk.KindPermissionDenied}},
		{Name: "regex", SQL: "SELECT 'a' REGEXP '('"},
		{Name: "release a missing savepoint", SQL: "RELEASE SAVEPOINT nope", Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindFailedPrecondition, sdk.KindNotFound}},
	})
}

func posInf() float64 { return math.Inf(1) }
