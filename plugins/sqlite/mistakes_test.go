package sqlite_test

import (
	"math"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// TestCallerMistakesAreNeverBackendFailures sends the statements a careless
// caller writes: syntax errors, missing tables and columns, wrong argument
// counts and types, values out of range, malformed JSON, constraint
// violations, transaction misuse, and files it cannot attach. None may
// answer with a kind that says the backend failed.
func TestCallerMistakesAreNeverBackendFailures(t *testing.T) {
	inst := open(t, configure(t, connect(t), fileConfig(t, "")))
	tbl := table(t)
	mustExec(t, inst, "CREATE TABLE "+tbl+" (id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0), s TEXT UNIQUE) STRICT")
	mustExec(t, inst, "INSERT INTO "+tbl+" (id, n, s) VALUES (1, 1, 'a')")
	conflict := []sdk.Kind{sdk.KindConflict}
	precondition := []sdk.Kind{sdk.KindFailedPrecondition}
	sdktest.CheckSQLMistakes(t, inst, []sdktest.SQLMistake{
		{Name: "syntax error", SQL: "SELEC 1"},
		{Name: "missing table", SQL: "SELECT * FROM no_such_table"},
		{Name: "missing column", SQL: "SELECT nope FROM " + tbl},
		{Name: "missing function", SQL: "SELECT no_such_function(1)"},
		{Name: "too few arguments", SQL: "SELECT ?, ?", Args: []sdk.Value{text("a")}},
		{Name: "text into a STRICT integer column", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (2, ?)", Args: []sdk.Value{text("many")}},
		{Name: "NOT NULL", SQL: "INSERT INTO " + tbl + " (id) VALUES (3)"},
		{Name: "CHECK", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (4, -1)"},
		{Name: "UNIQUE", SQL: "INSERT INTO " + tbl + " (id, n, s) VALUES (5, 1, 'a')", Want: conflict},
		{Name: "PRIMARY KEY", SQL: "INSERT INTO " + tbl + " (id, n) VALUES (1, 1)", Want: conflict},
		{Name: "integer overflow", SQL: "SELECT abs(-9223372036854775808)"},
		{Name: "sum overflow", SQL: "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)"},
		{Name: "malformed JSON", SQL: "SELECT json('{not json')"},
		{Name: "JSON path", SQL: "SELECT json_extract('{}', 'no-dollar')"},
		{Name: "string too big", SQL: "SELECT zeroblob(2000000000)"},
		{Name: "raise in a statement", SQL: "SELECT RAISE(ABORT, 'no')"},
		{Name: "attach a missing directory", SQL: "ATTACH DATABASE '/nonexistent-dir/x/y.db' AS other", Want: precondition},
		{Name: "attach a name too long", SQL: "ATTACH DATABASE '" + strings.Repeat("n", 300) + ".db' AS other", Want: precondition},
		{Name: "detach what is not attached", SQL: "DETACH DATABASE nothing"},
		{Name: "commit without a transaction", SQL: "COMMIT", Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindFailedPrecondition}},
		{Name: "drop a missing table", SQL: "DROP TABLE no_such_table"},
		{Name: "create an existing table", SQL: "CREATE TABLE " + tbl + " (x)", Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindAlreadyExists}},
		{Name: "pragma of the wrong type", SQL: "SELECT * FROM pragma_table_info(1, 2, 3)"},
		{Name: "empty statement", SQL: " "},
		{Name: "only a comment", SQL: "-- nothing"},
		{Name: "empty query", SQL: "SELECT"},
	})
}

// TestValuesProtobufCannotHoldCrossThePluginLink: SQLite keeps text that
// is not UTF-8 and REALs that are infinite; a protobuf string must be
// UTF-8, and such a value used to fail the whole query over gRPC.
func TestValuesProtobufCannotHoldCrossThePluginLink(t *testing.T) {
	inst := open(t, configure(t, connect(t), memoryConfig))
	cols, rows := queryAll(t, inst, `SELECT CAST(x'ff41fe' AS TEXT), 9e999, -9e999, json('{"a":1}') AS "\xffname"`)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	if v := rows[0][0]; v.Kind != sdk.ValueText || v.Text != "\xffA\xfe" {
		t.Errorf("text that is not UTF-8 came back as %+v", v)
	}
	if v := rows[0][1]; v.Kind != sdk.ValueFloat || !math.IsInf(v.Float, 1) {
		t.Errorf("9e999 came back as %+v", v)
	}
	if v := rows[0][2]; v.Kind != sdk.ValueFloat || !math.IsInf(v.Float, -1) {
		t.Errorf("-9e999 came back as %+v", v)
	}
	if len(cols) != 4 {
		t.Errorf("columns %+v", cols)
	}
	// And back as arguments.
	_, back := queryAll(t, inst, "SELECT ?, ?", text("\xffA\xfe"), sdk.Value{Kind: sdk.ValueFloat, Float: math.Inf(-1)})
	if back[0][0].Text != "\xffA\xfe" || !math.IsInf(back[0][1].Float, -1) {
		t.Errorf("arguments came back as %+v", back[0])
	}
}
