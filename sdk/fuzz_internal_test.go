package sdk

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// FuzzSQLWireRoundTrip: every value crosses the plugin link as it was,
// infinities, NaN and text that is not UTF-8 included.
func FuzzSQLWireRoundTrip(f *testing.F) {
	f.Add(uint8(0), int64(1), math.Inf(1), "text", []byte("{oops"))
	f.Add(uint8(1), int64(-1), math.NaN(), "\xff\xfe", []byte{0xff})
	f.Add(uint8(2), int64(0), math.Copysign(0, -1), "", []byte(nil))
	kinds := []ValueKind{ValueFloat, ValueText, ValueDecimal, ValueJSON, ValueBytes, ValueInt, ValueBool, ValueTimestampTZ, ValueArray}
	f.Fuzz(func(t *testing.T, k uint8, i int64, fl float64, text string, b []byte) {
		v := Value{Kind: kinds[int(k)%len(kinds)]}
		switch v.Kind {
		case ValueFloat:
			v.Float = fl
		case ValueText, ValueDecimal:
			v.Text = text
		case ValueJSON, ValueBytes:
			v.Bytes = b
		case ValueInt:
			v.Int = i
		case ValueBool:
			v.Bool = i%2 == 0
		case ValueTimestampTZ:
			v.Time = time.Unix(i%(1<<40), 0).UTC()
		case ValueArray:
			v.Elem = ValueText
			v.Array = []Value{{Kind: ValueText, Text: text}, {Kind: ValueFloat, Float: fl}}
		}
		raw, err := proto.Marshal(&pb.SQLRow{Values: []*pb.SQLValue{valueToProto(v)}})
		if err != nil {
			t.Fatalf("%+v does not marshal: %v", v, err)
		}
		var row pb.SQLRow
		if err := proto.Unmarshal(raw, &row); err != nil {
			t.Fatal(err)
		}
		got := valueFromProto(row.GetValues()[0])
		if !sameWireValue(v, got) {
			t.Fatalf("%+v came back as %+v", v, got)
		}
	})
}

func sameWireValue(a, b Value) bool {
	if a.Kind != b.Kind || a.Text != b.Text || string(a.Bytes) != string(b.Bytes) || a.Int != b.Int || a.Bool != b.Bool || !a.Time.Equal(b.Time) {
		return false
	}
	if math.Float64bits(a.Float) != math.Float64bits(b.Float) && !(math.IsNaN(a.Float) && math.IsNaN(b.Float)) {
		return false
	}
	if len(a.Array) != len(b.Array) {
		return false
	}
	for i := range a.Array {
		if !sameWireValue(a.Array[i], b.Array[i]) {
			return false
		}
	}
	return true
}
