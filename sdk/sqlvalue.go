package sdk

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Decimal is an exact decimal number in text, as "-12.3400". ValueOf makes
// a decimal Value of it, and Value.Any returns decimals as Decimal.
type Decimal string

// UUID is a UUID's 16 bytes.
type UUID [16]byte

// ValueOf converts a Go value to a Value: nil → NULL; bool; every integer
// type → int; float32, float64 → float; Decimal → decimal; string → text;
// []byte → bytes; time.Time → timestamptz; Interval → interval; UUID →
// uuid; json.RawMessage → json; a slice of any of these (but []byte) →
// array; a Value is returned as it is; a nil pointer → NULL and other
// pointers → what they point to.
func ValueOf(x any) (Value, error) {
	switch v := x.(type) {
	case nil:
		return Null, nil
	case Value:
		return v, nil
	case bool:
		return Value{Kind: ValueBool, Bool: v}, nil
	case Decimal:
		return Value{Kind: ValueDecimal, Text: string(v)}, nil
	case string:
		return Value{Kind: ValueText, Text: v}, nil
	case json.RawMessage:
		return Value{Kind: ValueJSON, Bytes: v}, nil
	case []byte:
		return Value{Kind: ValueBytes, Bytes: v}, nil
	case time.Time:
		return Value{Kind: ValueTimestampTZ, Time: v}, nil
	case Interval:
		return Value{Kind: ValueInterval, Interval: v}, nil
	case UUID:
		return Value{Kind: ValueUUID, Bytes: v[:]}, nil
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Value{Kind: ValueInt, Int: rv.Int()}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if u > 1<<63-1 {
			return Value{}, Errorf(KindInvalidArgument, "%d does not fit a signed 64-bit integer", u)
		}
		return Value{Kind: ValueInt, Int: int64(u)}, nil
	case reflect.Float32, reflect.Float64:
		return Value{Kind: ValueFloat, Float: rv.Float()}, nil
	case reflect.Pointer:
		if rv.IsNil() {
			return Null, nil
		}
		return ValueOf(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		out := Value{Kind: ValueArray, Array: make([]Value, rv.Len())}
		for i := range rv.Len() {
			e, err := ValueOf(rv.Index(i).Interface())
			if err != nil {
				return Value{}, fmt.Errorf("element %d: %w", i, err)
			}
			out.Array[i] = e
			if !e.IsNull() && out.Elem == "" {
				out.Elem = e.Kind
			}
		}
		return out, nil
	}
	return Value{}, Errorf(KindInvalidArgument, "no SQL value for a Go %T", x)
}

// Any returns the value as a Go value: nil, bool, int64, float64, Decimal,
// string, []byte, time.Time (dates, timestamps), time.Duration (times of
// day), Interval, UUID, json.RawMessage, or []any for arrays.
func (v Value) Any() any {
	switch v.Kind {
	case ValueBool:
		return v.Bool
	case ValueInt:
		return v.Int
	case ValueFloat:
		return v.Float
	case ValueDecimal:
		return Decimal(v.Text)
	case ValueText:
		return v.Text
	case ValueBytes:
		return v.Bytes
	case ValueDate, ValueTimestamp, ValueTimestampTZ:
		return v.Time
	case ValueTime:
		return v.Duration
	case ValueInterval:
		return v.Interval
	case ValueUUID:
		var u UUID
		copy(u[:], v.Bytes)
		return u
	case ValueJSON:
		return json.RawMessage(v.Bytes)
	case ValueArray:
		out := make([]any, len(v.Array))
		for i, e := range v.Array {
			out[i] = e.Any()
		}
		return out
	}
	return nil
}
