package sqldb

import (
	"fmt"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Bind is the default Values.Bind: the kinds that every database/sql
// driver binds as database/sql's own types. NULL binds nil; bool, int,
// float, text and decimal (its exact text) their Go values; bytes a
// []byte that is never nil (nil would bind NULL); timestamptz its
// time.Time. Any other kind is invalid_argument: a driver binds the kinds
// its backend has a type for itself and falls back to Bind for these.
func Bind(i int, v sdk.Value) (any, error) {
	switch v.Kind {
	case sdk.ValueNull, "":
		return nil, nil
	case sdk.ValueBool:
		return v.Bool, nil
	case sdk.ValueInt:
		return v.Int, nil
	case sdk.ValueFloat:
		return v.Float, nil
	case sdk.ValueText, sdk.ValueDecimal:
		return v.Text, nil
	case sdk.ValueBytes:
		if v.Bytes == nil {
			return []byte{}, nil
		}
		return v.Bytes, nil
	case sdk.ValueTimestampTZ:
		return v.Time, nil
	}
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %d: cannot bind a value of kind %q", i+1, v.Kind)
}

// Dynamic is the default Values.Convert, and what a driver's Convert
// returns for a value that does not fit its column's kind: the value by
// its Go type, as database/sql hands it over (a backend's storage class,
// in SQLite's words). int64 is int, float64 float, bool bool, string
// text, []byte bytes, time.Time timestamptz (keeping its offset, not its
// location's name, as times cross the wire); any other type is text, as
// fmt prints it.
func Dynamic(v any) sdk.Value {
	switch x := v.(type) {
	case nil:
		return sdk.Null
	case int64:
		return sdk.Value{Kind: sdk.ValueInt, Int: x}
	case float64:
		return sdk.Value{Kind: sdk.ValueFloat, Float: x}
	case bool:
		return sdk.Value{Kind: sdk.ValueBool, Bool: x}
	case string:
		return sdk.Value{Kind: sdk.ValueText, Text: x}
	case []byte:
		return sdk.Value{Kind: sdk.ValueBytes, Bytes: x}
	case time.Time:
		return sdk.Value{Kind: sdk.ValueTimestampTZ, Time: FixedZone(x)}
	}
	return sdk.Value{Kind: sdk.ValueText, Text: fmt.Sprint(v)}
}

// FixedZone returns t with its offset but not its location's name: in
// UTC, or in a fixed zone, as times arrive from the host.
func FixedZone(t time.Time) time.Time {
	_, off := t.Zone()
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", off))
}

// convertDefault is Values.Convert when the driver sets none.
func convertDefault(_ sdk.Column, v any) (sdk.Value, error) { return Dynamic(v), nil }

// kindDefault is Values.Kind when the driver sets none.
func kindDefault(string) sdk.ValueKind { return sdk.ValueNull }

// bindAll converts a statement's arguments; nil when there are none.
func bindAll(bind func(int, sdk.Value) (any, error), vals []sdk.Value) ([]any, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		a, err := bind(i, v)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}
