package sdktest

import (
	"slices"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// QueryAll runs a query on inst and reads every row, failing the test on
// any error: the result's columns and its rows, each a copy (Values
// reuses its slice), so that SQL drivers' tests need no reader of their
// own.
func QueryAll(t testing.TB, inst sdk.SQLInstance, q string, args ...sdk.Value) ([]sdk.Column, [][]sdk.Value) {
	t.Helper()
	rows, err := inst.Query(t.Context(), sdk.Statement{SQL: q, Args: args})
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	defer rows.Close()
	var out [][]sdk.Value
	for rows.Next() {
		out = append(out, slices.Clone(rows.Values()))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: rows: %v", q, err)
	}
	return rows.Columns(), out
}
