package postgres_test

import (
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// TestCallerMistakesAreNeverBackendFailures sends, to the real server, the
// statements a careless caller writes. None may answer with a kind that
// says the backend failed.
func TestCallerMistakesAreNeverBackendFailures(t *testing.T) {
	s := openSession(t, nil)
	tbl := table(t, "id int PRIMARY KEY, n int NOT NULL CHECK (n >= 0), s varchar(3), j jsonb, f float8")
	if _, err := s.Exec(t.Context(), sdk.Statement{SQL: "INSERT INTO " + tbl + " (id, n) VALUES (1, 1)"}); err != nil {
		t.Fatal(err)
	}
	txt := func(v string) sdk.Value { return sdk.Value{Kind: sdk.ValueText, Text: v} }
	num := func(v int64) sdk.Value { return sdk.Value{Kind: sdk.ValueInt, Int: v} }
	conflict := []sdk.Kind{sdk.KindConflict}
	sdktest.CheckSQLMistakes(t, s, []sdktest.SQLMistake{
		{Name: "syntax error", SQL: "SELEC 1"},
		{Name: "missing table", SQL: "SELECT * FROM no_such_table"},
		{Name: "missing column", SQL: "SELECT nope FROM " + tbl},
		{Name: "missing function", SQL: "SELECT no_such_function(1)"},
		{Name: "too few arguments", SQL: "SELECT $1::int, $2::int", Args: []sdk.Value{num(1)}},
		{Name: "too many arguments", SQL: "SELECT $1::int", Args: []sdk.Value{num(1), num(2)}},
		{Name: "text for an int", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (2, $1)", Args: []sdk.Value{txt("many")}},
		{Name: "int out of range", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (3, $1)", Args: []sdk.Value{num(1 << 40)}},
		{Name: "integer overflow", SQL: "SELECT 2147483647::int + 1"},
		{Name: "division by zero", SQL: "SELECT 1/0"},
		{Name: "string too long", SQL: "INSERT INTO " + tbl + " (id, n, s) VALUES (4, 1, 'abcdef')"},
		{Name: "invalid JSON", SQL: "INSERT INTO " + tbl + " (id, n, j) VALUES (5, 1, $1::jsonb)", Args: []sdk.Value{txt("{not json")}},
		{Name: "invalid date", SQL: "SELECT '2024-02-30'::date"},
		{Name: "NOT NULL", SQL: "INSERT INTO " + tbl + " (id) VALUES (6)"},
		{Name: "CHECK", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (7, -1)"},
		{Name: "duplicate key", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (1, 1)", Want: conflict},
		{Name: "permission", SQL: "SET SESSION AUTHORIZATION nobody_at_all", Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindPermissionDenied, sdk.KindNotFound}},
		{Name: "name too long", SQL: "SELECT * FROM " + strings.Repeat("n", 300)},
		{Name: "raise", SQL: "DO $$ BEGIN RAISE EXCEPTION 'no'; END $$"},
		{Name: "assert", SQL: "DO $$ BEGIN ASSERT false; END $$"},
		{Name: "case not found", SQL: "DO $$ BEGIN CASE 1 WHEN 2 THEN NULL; END CASE; END $$"},
		{Name: "subquery returns more than one row", SQL: "SELECT (SELECT generate_series(1, 2))"},
		{Name: "release a missing savepoint", SQL: "DO $$ BEGIN PERFORM 1; END $$; RELEASE SAVEPOINT nope", Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindFailedPrecondition}},
		{Name: "array subscript", SQL: "SELECT (ARRAY[1,2])[1:2][1:2][1:2][1:2][1:2][1:2][1:2]"},
		{Name: "regex", SQL: "SELECT 'a' ~ '('"},
	})
}
