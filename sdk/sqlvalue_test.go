package sdk_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestValueOfAndAnyAreInverses(t *testing.T) {
	s := "pointed"
	var nilp *int
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		in   any
		kind sdk.ValueKind
		back any
	}{
		{nil, sdk.ValueNull, nil},
		{true, sdk.ValueBool, true},
		{int8(-3), sdk.ValueInt, int64(-3)},
		{uint32(7), sdk.ValueInt, int64(7)},
		{2.5, sdk.ValueFloat, 2.5},
		{sdk.Decimal("1.000000000000000000000000000001"), sdk.ValueDecimal, sdk.Decimal("1.000000000000000000000000000001")},
		{"text", sdk.ValueText, "text"},
		{[]byte{0xff}, sdk.ValueBytes, []byte{0xff}},
		{at, sdk.ValueTimestampTZ, at},
		{sdk.Interval{Months: 1}, sdk.ValueInterval, sdk.Interval{Months: 1}},
		{sdk.UUID{1, 2}, sdk.ValueUUID, sdk.UUID{1, 2}},
		{json.RawMessage(`{"a":1}`), sdk.ValueJSON, json.RawMessage(`{"a":1}`)},
		{&s, sdk.ValueText, "pointed"},
		{nilp, sdk.ValueNull, nil},
	}
	for _, tc := range tests {
		v, err := sdk.ValueOf(tc.in)
		if err != nil || v.Kind != tc.kind {
			t.Errorf("ValueOf(%#v) = %+v, %v; want kind %s", tc.in, v, err, tc.kind)
			continue
		}
		if got, _ := json.Marshal(v.Any()); string(got) != mustJSON(tc.back) {
			t.Errorf("ValueOf(%#v).Any() = %#v, want %#v", tc.in, v.Any(), tc.back)
		}
	}
	arr, err := sdk.ValueOf([]any{nil, 1, 2})
	if err != nil || arr.Kind != sdk.ValueArray || arr.Elem != sdk.ValueInt || len(arr.Array) != 3 {
		t.Fatalf("array: %+v %v", arr, err)
	}
	if _, err := sdk.ValueOf(uint64(math.MaxUint64)); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("an unsigned integer too large: %v", err)
	}
	if _, err := sdk.ValueOf(make(chan int)); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("a channel: %v", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
