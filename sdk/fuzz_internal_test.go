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

// FuzzQueryAnswerDecodesAsProtobufDoes: a query's answer decoded from
// its frame (queryAnswer.DecodeFrame, the data connection's path) is what
// protobuf's decoding and its conversion make of the same bytes, for
// any bytes protobuf accepts.
func FuzzQueryAnswerDecodesAsProtobufDoes(f *testing.F) {
	tz := time.Date(2026, 12, 3, 22, 0, 0, 5, time.FixedZone("", 3600))
	row := []Value{
		{Kind: ValueNull}, {Kind: ValueBool, Bool: true}, {Kind: ValueInt, Int: -7}, {Kind: ValueFloat, Float: 1.5},
		{Kind: ValueText, Text: "nebula"}, {Kind: ValueText, Text: "\xff\xfe"}, {Kind: ValueDecimal, Text: "1.10"},
		{Kind: ValueBytes, Bytes: []byte{0, 1}}, {Kind: ValueUUID, Bytes: make([]byte, 16)}, {Kind: ValueJSON, Bytes: []byte(`{}`)},
		{Kind: ValueDate, Time: time.Unix(86400, 0).UTC()}, {Kind: ValueTimestamp, Time: time.Unix(1, 2).UTC()},
		{Kind: ValueTimestampTZ, Time: tz}, {Kind: ValueTime, Duration: time.Hour},
		{Kind: ValueInterval, Interval: Interval{Months: 1, Days: -2, Microseconds: 3}},
		{Kind: ValueArray, Elem: ValueInt, Array: []Value{{Kind: ValueInt, Int: 1}, {Kind: ValueNull}}},
		{Kind: ValueArray, Elem: ValueText, Array: []Value{}},
	}
	pbRow := &pb.SQLRow{}
	var cols []*pb.SQLColumn
	for i, v := range row {
		pbRow.Values = append(pbRow.Values, valueToProto(v))
		cols = append(cols, &pb.SQLColumn{Name: "c" + string(rune('a'+i)), Kind: string(v.Kind), DatabaseType: "t"})
	}
	for _, m := range []*pb.SQLServiceQueryResponse{
		{Msg: &pb.SQLServiceQueryResponse_Result{Result: &pb.SQLResult{Columns: cols, Rows: []*pb.SQLRow{pbRow, pbRow}, Session: pb.SessionState_SESSION_STATE_CLEAN}}},
		{Msg: &pb.SQLServiceQueryResponse_Columns{Columns: &pb.SQLColumns{Columns: cols}}},
		{Msg: &pb.SQLServiceQueryResponse_Rows{Rows: &pb.SQLRowBatch{Rows: []*pb.SQLRow{pbRow}}}},
		{Msg: &pb.SQLServiceQueryResponse_End{End: &pb.SQLQueryEnd{Session: pb.SessionState_SESSION_STATE_DIRTY}}},
		{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pb.SQLServiceQueryResponse
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		want := answerFromProto(&m)
		var got queryAnswer
		if err := got.DecodeFrame(b); err != nil {
			t.Fatalf("protobuf reads it, DecodeFrame fails: %v", err)
		}
		if got.msg != want.msg || got.session != want.session || len(got.cols) != len(want.cols) || len(got.rows) != len(want.rows) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want.cols {
			if got.cols[i] != want.cols[i] {
				t.Fatalf("column %d: got %+v, want %+v", i, got.cols[i], want.cols[i])
			}
		}
		for i := range want.rows {
			if len(got.rows[i]) != len(want.rows[i]) {
				t.Fatalf("row %d: got %d values, want %d", i, len(got.rows[i]), len(want.rows[i]))
			}
			for j := range want.rows[i] {
				if !sameDecodedValue(got.rows[i][j], want.rows[i][j]) {
					t.Fatalf("row %d value %d: got %+v, want %+v", i, j, got.rows[i][j], want.rows[i][j])
				}
			}
		}
	})
}

// sameDecodedValue compares every field of two values, a time's zone
// offset too.
func sameDecodedValue(a, b Value) bool {
	if !sameWireValue(a, b) || a.Elem != b.Elem || a.Duration != b.Duration || a.Interval != b.Interval ||
		(a.Bytes == nil) != (b.Bytes == nil) || (a.Array == nil) != (b.Array == nil) {
		return false
	}
	_, ao := a.Time.Zone()
	_, bo := b.Time.Zone()
	if ao != bo {
		return false
	}
	for i := range a.Array {
		if !sameDecodedValue(a.Array[i], b.Array[i]) {
			return false
		}
	}
	return true
}
