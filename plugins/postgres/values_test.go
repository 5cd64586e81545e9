package postgres_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// same compares two values exactly; times compare as instants.
func same(a, b sdk.Value) bool {
	if a.Kind != b.Kind || a.Bool != b.Bool || a.Int != b.Int || a.Text != b.Text || !bytes.Equal(a.Bytes, b.Bytes) ||
		a.Duration != b.Duration || a.Interval != b.Interval || a.Elem != b.Elem || len(a.Array) != len(b.Array) ||
		math.Float64bits(a.Float) != math.Float64bits(b.Float) || !a.Time.Equal(b.Time) {
		return false
	}
	for i := range a.Array {
		if !same(a.Array[i], b.Array[i]) {
			return false
		}
	}
	return true
}

func show(v sdk.Value) string {
	switch v.Kind {
	case sdk.ValueArray:
		parts := make([]string, len(v.Array))
		for i, e := range v.Array {
			parts[i] = show(e)
		}
		return fmt.Sprintf("array<%s>[%s]", v.Elem, strings.Join(parts, ", "))
	case sdk.ValueBytes, sdk.ValueUUID, sdk.ValueJSON:
		return fmt.Sprintf("%s(%q)", v.Kind, v.Bytes)
	case sdk.ValueDate, sdk.ValueTimestamp, sdk.ValueTimestampTZ:
		return fmt.Sprintf("%s(%s)", v.Kind, v.Time.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%+v", v)
}

func arr(elem sdk.ValueKind, vs ...sdk.Value) sdk.Value {
	return sdk.Value{Kind: sdk.ValueArray, Elem: elem, Array: vs}
}

func TestEveryKindRoundTripsExactly(t *testing.T) {
	s := openSession(t, nil)
	kolkata := time.FixedZone("IST", 5*3600+1800)
	i := func(n int64) sdk.Value { return sdk.Value{Kind: sdk.ValueInt, Int: n} }
	txt := func(x string) sdk.Value { return sdk.Value{Kind: sdk.ValueText, Text: x} }
	dec := func(x string) sdk.Value { return sdk.Value{Kind: sdk.ValueDecimal, Text: x} }
	tstz := sdk.Value{Kind: sdk.ValueTimestampTZ, Time: time.Date(2026, 11, 27, 21, 0, 0, 123456000, kolkata)}
	cols := []struct {
		name, typ, dbType string
		kind              sdk.ValueKind
		val               sdk.Value
	}{
		{"b", "bool", "bool", sdk.ValueBool, sdk.Value{Kind: sdk.ValueBool, Bool: true}},
		{"i2", "int2", "int2", sdk.ValueInt, i(-32768)},
		{"i4", "int4", "int4", sdk.ValueInt, i(2147483647)},
		{"i8", "int8", "int8", sdk.ValueInt, i(math.MinInt64)},
		{"f4", "float4", "float4", sdk.ValueFloat, sdk.Value{Kind: sdk.ValueFloat, Float: -1.5}},
		{"f8", "float8", "float8", sdk.ValueFloat, sdk.Value{Kind: sdk.ValueFloat, Float: 1.0000000000000002e-300}},
		{"n30", "numeric", "numeric", sdk.ValueDecimal, dec("123456789012345678901234567890.123456789012345678901234567890")},
		{"nneg", "numeric(12,4)", "numeric", sdk.ValueDecimal, dec("-12.3400")},
		{"nsmall", "numeric", "numeric", sdk.ValueDecimal, dec("0.000000000000000000000000000001")},
		{"nbig", "numeric", "numeric", sdk.ValueDecimal, dec("-100000000000000000000000000000")},
		{"nnan", "numeric", "numeric", sdk.ValueDecimal, dec("NaN")},
		{"t", "text", "text", sdk.ValueText, txt("héllo, 世界 'quoted' end")},
		{"vc", "varchar(20)", "varchar", sdk.ValueText, txt("varchar")},
		{"bp", "char(5)", "bpchar", sdk.ValueText, txt("ab   ")},
		{"by", "bytea", "bytea", sdk.ValueBytes, sdk.Value{Kind: sdk.ValueBytes, Bytes: []byte{0xff, 0x00, 0xfe, 0x80, 'x'}}},
		{"byempty", "bytea", "bytea", sdk.ValueBytes, sdk.Value{Kind: sdk.ValueBytes, Bytes: []byte{}}},
		{"d", "date", "date", sdk.ValueDate, sdk.Value{Kind: sdk.ValueDate, Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"d2", "date", "date", sdk.ValueDate, sdk.Value{Kind: sdk.ValueDate, Time: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}},
		{"tm", "time", "time", sdk.ValueTime, sdk.Value{Kind: sdk.ValueTime, Duration: 23*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond}},
		{"ts", "timestamp", "timestamp", sdk.ValueTimestamp, sdk.Value{Kind: sdk.ValueTimestamp, Time: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)}},
		{"tstz", "timestamptz", "timestamptz", sdk.ValueTimestampTZ, tstz},
		{"iv", "interval", "interval", sdk.ValueInterval, sdk.Value{Kind: sdk.ValueInterval, Interval: sdk.Interval{Months: -14, Days: 3, Microseconds: 4_000_001}}},
		{"u", "uuid", "uuid", sdk.ValueUUID, sdk.Value{Kind: sdk.ValueUUID, Bytes: []byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}}},
		{"j", "json", "json", sdk.ValueJSON, sdk.Value{Kind: sdk.ValueJSON, Bytes: []byte(`{"b": [1, 2, {"c": null}], "a": "x"}`)}},
		{"jb", "jsonb", "jsonb", sdk.ValueJSON, sdk.Value{Kind: sdk.ValueJSON, Bytes: []byte(`{"a": [1, 2, {"b": null}]}`)}},
		{"ai", "int8[]", "_int8", sdk.ValueArray, arr(sdk.ValueInt, i(1), sdk.Null, i(-3))},
		{"a4", "int4[]", "_int4", sdk.ValueArray, arr(sdk.ValueInt)},
		{"at", "text[]", "_text", sdk.ValueArray, arr(sdk.ValueText, txt("a,b"), txt(`"q"`), sdk.Null, txt(""))},
		{"an", "numeric[]", "_numeric", sdk.ValueArray, arr(sdk.ValueDecimal, dec("1.50"), dec("-123456789012345678901234567890"))},
		{"a2", "int4[][]", "_int4", sdk.ValueArray, arr(sdk.ValueArray, arr(sdk.ValueInt, i(1), i(2)), arr(sdk.ValueInt, i(3), sdk.Null))},
		{"aby", "bytea[]", "_bytea", sdk.ValueArray, arr(sdk.ValueBytes, sdk.Value{Kind: sdk.ValueBytes, Bytes: []byte{0xff}}, sdk.Null, sdk.Value{Kind: sdk.ValueBytes, Bytes: []byte{}})},
		{"atz", "timestamptz[]", "_timestamptz", sdk.ValueArray, arr(sdk.ValueTimestampTZ, tstz)},
		{"au", "uuid[]", "_uuid", sdk.ValueArray, arr(sdk.ValueUUID, sdk.Value{Kind: sdk.ValueUUID, Bytes: bytes.Repeat([]byte{7}, 16)})},
		{"ajb", "jsonb[]", "_jsonb", sdk.ValueArray, arr(sdk.ValueJSON, sdk.Value{Kind: sdk.ValueJSON, Bytes: []byte(`[1, "x"]`)})},
		{"ab", "bool[]", "_bool", sdk.ValueArray, arr(sdk.ValueBool, sdk.Value{Kind: sdk.ValueBool, Bool: false}, sdk.Null)},
		{"aiv", "interval[]", "_interval", sdk.ValueArray, arr(sdk.ValueInterval, sdk.Value{Kind: sdk.ValueInterval, Interval: sdk.Interval{Days: -1}})},
		{"ad", "date[]", "_date", sdk.ValueArray, arr(sdk.ValueDate, sdk.Value{Kind: sdk.ValueDate, Time: time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)})},
	}
	var defs, names, params []string
	var args []sdk.Value
	for n, c := range cols {
		defs = append(defs, c.name+" "+c.typ)
		names = append(names, c.name)
		params = append(params, fmt.Sprintf("$%d", n+1))
		args = append(args, c.val)
	}
	tbl := table(t, "id int PRIMARY KEY, "+strings.Join(defs, ", "))
	insert := "INSERT INTO " + tbl + " (id, " + strings.Join(names, ", ") + ") VALUES (%d, " + strings.Join(params, ", ") + ")"
	res, err := s.Exec(t.Context(), sdk.Statement{SQL: fmt.Sprintf(insert, 1), Args: args})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if res.RowsAffected != 1 || res.HasLastInsertID {
		t.Fatalf("insert result %+v", res)
	}
	nulls := make([]sdk.Value, len(args))
	if _, err := s.Exec(t.Context(), sdk.Statement{SQL: fmt.Sprintf(insert, 2), Args: nulls}); err != nil {
		t.Fatalf("insert NULLs: %v", err)
	}

	columns, rows := sdktest.QueryAll(t, s, "SELECT "+strings.Join(names, ", ")+" FROM "+tbl+" ORDER BY id")
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	for n, c := range cols {
		if columns[n].Name != c.name || columns[n].Kind != c.kind || columns[n].DatabaseType != c.dbType {
			t.Errorf("column %d: got %+v, want name %s kind %s type %s", n, columns[n], c.name, c.kind, c.dbType)
		}
		if got := rows[0][n]; !same(got, c.val) {
			t.Errorf("%s (%s): got %s, want %s", c.name, c.typ, show(got), show(c.val))
		}
		if got := rows[1][n]; !got.IsNull() {
			t.Errorf("%s (%s): NULL came back as %s", c.name, c.typ, show(got))
		}
	}
	// A timestamptz comes back as the same instant, in UTC.
	if got := rows[0][20]; got.Time.Location() != time.UTC {
		t.Errorf("timestamptz location %v, want UTC", got.Time.Location())
	}

	// The values also bind as arguments of a query.
	got := one(t, s, "SELECT count(*) FROM "+tbl+" WHERE n30 = $1 AND by = $2 AND tstz = $3 AND ai = $4",
		cols[6].val, cols[14].val, tstz, cols[25].val)
	if got.Int != 1 {
		t.Errorf("query with arguments matched %d rows, want 1", got.Int)
	}
}

func TestUnmappedTypesArriveAsText(t *testing.T) {
	s := openSession(t, nil)
	columns, rows := sdktest.QueryAll(t, s, "SELECT '192.168.0.1/24'::inet, '12:34:56+02'::timetz, 'infinity'::timestamptz, '{\"(1,2)\"}'::point[]")
	wantTypes := []string{"inet", "timetz", "timestamptz", "_point"}
	for i, c := range columns {
		if c.DatabaseType != wantTypes[i] {
			t.Errorf("column %d type %q, want %q", i, c.DatabaseType, wantTypes[i])
		}
	}
	if columns[0].Kind != sdk.ValueNull || rows[0][0].Kind != sdk.ValueText || rows[0][0].Text != "192.168.0.1/24" {
		t.Errorf("inet: %+v %s", columns[0], show(rows[0][0]))
	}
	if rows[0][1].Text != "12:34:56+02" {
		t.Errorf("timetz: %s", show(rows[0][1]))
	}
	if rows[0][2].Kind != sdk.ValueText || rows[0][2].Text != "infinity" {
		t.Errorf("infinite timestamptz: %s", show(rows[0][2]))
	}
}

func TestArgumentsThatCannotBindAreInvalidArgument(t *testing.T) {
	s := openSession(t, nil)
	for _, v := range []sdk.Value{
		{Kind: sdk.ValueUUID, Bytes: []byte{1, 2}},
		{Kind: sdk.ValueDecimal, Text: "12,5"},
		{Kind: sdk.ValueTime, Duration: -time.Second},
		arr(sdk.ValueInt, sdk.Value{Kind: sdk.ValueText, Text: "x"}),
		arr(sdk.ValueArray, arr(sdk.ValueInt, sdk.Value{Kind: sdk.ValueInt, Int: 1}), arr(sdk.ValueInt)),
		{Kind: "no-such-kind"},
	} {
		_, err := s.Query(t.Context(), sdk.Statement{SQL: "SELECT $1::text", Args: []sdk.Value{v}})
		if sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("%s: got %v, want invalid_argument", show(v), err)
		}
	}
	// Too few arguments, and a value the parameter type cannot take.
	_, err := s.Exec(t.Context(), sdk.Statement{SQL: "SELECT $1::int + $2::int", Args: []sdk.Value{{Kind: sdk.ValueInt, Int: 1}}})
	wantKind(t, err, sdk.KindInvalidArgument, "")
	_, err = s.Exec(t.Context(), sdk.Statement{SQL: "SELECT $1::int2", Args: []sdk.Value{{Kind: sdk.ValueInt, Int: 1 << 40}}})
	wantKind(t, err, sdk.KindInvalidArgument, "")
	// The session is still fine.
	if v := one(t, s, "SELECT $1::int8 + 1", sdk.Value{Kind: sdk.ValueInt, Int: 41}); v.Int != 42 {
		t.Fatalf("got %s", show(v))
	}
}
