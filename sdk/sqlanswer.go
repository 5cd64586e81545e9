package sdk

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nebula-resource/nebula-resource/sdk/internal/mux"
	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// A query's answer on the host's side: the messages of a
// SQLServiceQueryResponse stream as the SDK's columns and values. On the
// data connection a message is decoded from its frame straight into them
// (mux.FrameDecoder), rather than into a protobuf message for every
// column, row and value that is then converted: a one-row result costs a
// few allocations in place of a few dozen.

// queryAnswer is one message of a query's answer.
type queryAnswer struct {
	msg     answerMsg
	cols    []Column
	rows    [][]Value
	session pb.SessionState
}

// answerMsg is which of the response's oneof a message holds.
type answerMsg int

const (
	answerNone answerMsg = iota
	answerColumns
	answerRows
	answerEnd
	answerResult
)

// answerFromProto is m as a queryAnswer (the gRPC transport's path).
func answerFromProto(m *pb.SQLServiceQueryResponse) queryAnswer {
	var a queryAnswer
	columns := func(cs []*pb.SQLColumn) {
		for _, c := range cs {
			a.cols = append(a.cols, Column{Name: c.GetName(), Kind: ValueKind(c.GetKind()), DatabaseType: c.GetDatabaseType()})
		}
	}
	rows := func(rs []*pb.SQLRow) {
		for _, r := range rs {
			vals := make([]Value, len(r.GetValues()))
			for i, v := range r.GetValues() {
				vals[i] = valueFromProto(v)
			}
			a.rows = append(a.rows, vals)
		}
	}
	switch {
	case m.GetColumns() != nil:
		a.msg = answerColumns
		columns(m.GetColumns().GetColumns())
	case m.GetRows() != nil:
		a.msg = answerRows
		rows(m.GetRows().GetRows())
	case m.GetEnd() != nil:
		a.msg, a.session = answerEnd, m.GetEnd().GetSession()
	case m.GetResult() != nil:
		r := m.GetResult()
		a.msg, a.session = answerResult, r.GetSession()
		columns(r.GetColumns())
		rows(r.GetRows())
	}
	return a
}

// DecodeFrame decodes a SQLServiceQueryResponse from its frame. Strings
// and bytes are copied: the frame's buffer is reused.
func (a *queryAnswer) DecodeFrame(b []byte) error {
	*a = queryAnswer{}
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num < 1 || num > 4 || typ != protowire.BytesType {
			return nil // a field protobuf keeps unknown
		}
		// The last of the oneof's fields is the message's.
		*a = queryAnswer{msg: answerMsg(num)}
		return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			isMsg := typ == protowire.BytesType
			switch {
			case isMsg && (a.msg == answerColumns && num == 1 || a.msg == answerResult && num == 1):
				return a.column(v)
			case isMsg && (a.msg == answerRows && num == 1 || a.msg == answerResult && num == 2):
				return a.row(v)
			case a.msg == answerEnd && num == 1 && typ == protowire.VarintType,
				a.msg == answerResult && num == 3 && typ == protowire.VarintType:
				a.session = pb.SessionState(int32(x))
			}
			return nil
		})
	})
}

func (a *queryAnswer) column(b []byte) error {
	var c Column
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			c.Name = string(v)
		case 2:
			c.Kind = kindOf(v)
		case 3:
			c.DatabaseType = string(v)
		}
		return nil
	})
	a.cols = append(a.cols, c)
	return err
}

func (a *queryAnswer) row(b []byte) error {
	n := 0
	if err := eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			n++
		}
		return nil
	}); err != nil {
		return err
	}
	vals := make([]Value, 0, n)
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			val, err := decodeSQLValue(v, 0)
			vals = append(vals, val)
			return err
		}
		return nil
	})
	a.rows = append(a.rows, vals)
	return err
}

// maxArrayDepth bounds the nesting of arrays in a value, as protobuf
// bounds the nesting of messages (protobuf-go's default limit).
const maxArrayDepth = 10000

// decodeSQLValue decodes an encoded SQLValue, an element of arrays
// nested depth deep.
func decodeSQLValue(b []byte, depth int) (Value, error) {
	if depth > maxArrayDepth {
		return Value{}, fmt.Errorf("a value's arrays nest more than %d deep", maxArrayDepth)
	}
	var p valueParts
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if int(num) >= len(sqlValueTypes) || sqlValueTypes[num] != typ {
			return nil // a field protobuf keeps unknown
		}
		switch num {
		case 1:
			p.kind = kindOf(v)
		case 2:
			p.boolean = x != 0
		case 3:
			p.integer = protowire.DecodeZigZag(x)
		case 4:
			p.float = math.Float64frombits(x)
		case 5:
			p.text = string(v)
		case 6:
			p.bytes = bytes.Clone(v) // not nil: the field is there
		case 7:
			p.seconds = int64(x)
		case 8:
			p.nanos = int32(x)
		case 9:
			p.offset = int32(x)
		case 10:
			p.durationNanos = int64(x)
		case 11:
			p.months = int32(x)
		case 12:
			p.days = int32(x)
		case 13:
			p.microseconds = int64(x)
		case 14:
			e, err := decodeSQLValue(v, depth+1)
			if err != nil {
				return err
			}
			p.array = append(p.array, e)
		case 15:
			p.elem = kindOf(v)
		}
		return nil
	})
	return p.value(), err
}

// sqlValueTypes are the wire types of SQLValue's fields, by number.
var sqlValueTypes = [...]protowire.Type{
	1: protowire.BytesType, 2: protowire.VarintType, 3: protowire.VarintType, 4: protowire.Fixed64Type,
	5: protowire.BytesType, 6: protowire.BytesType, 7: protowire.VarintType, 8: protowire.VarintType,
	9: protowire.VarintType, 10: protowire.VarintType, 11: protowire.VarintType, 12: protowire.VarintType,
	13: protowire.VarintType, 14: protowire.BytesType, 15: protowire.BytesType,
}

// valueParts are the fields of a SQLValue, from a message or from its
// encoding; value makes the Value they describe.
type valueParts struct {
	kind          ValueKind
	boolean       bool
	integer       int64
	float         float64
	text          string
	bytes         []byte // nil when absent
	seconds       int64
	nanos, offset int32
	durationNanos int64
	months, days  int32
	microseconds  int64
	elem          ValueKind
	array         []Value
}

func (p *valueParts) value() Value {
	v := Value{Kind: p.kind}
	switch v.Kind {
	case ValueBool:
		v.Bool = p.boolean
	case ValueInt:
		v.Int = p.integer
	case ValueFloat:
		v.Float = p.float
	case ValueDecimal, ValueText:
		v.Text = p.text
		if p.bytes != nil {
			v.Text = string(p.bytes) // text that is not UTF-8
		}
	case ValueBytes, ValueUUID, ValueJSON:
		v.Bytes = p.bytes
	case ValueDate, ValueTimestamp:
		v.Time = time.Unix(p.seconds, int64(p.nanos)).UTC()
	case ValueTimestampTZ:
		loc := time.UTC
		if p.offset != 0 {
			loc = time.FixedZone("", int(p.offset))
		}
		v.Time = time.Unix(p.seconds, int64(p.nanos)).In(loc)
	case ValueTime:
		v.Duration = time.Duration(p.durationNanos)
	case ValueInterval:
		v.Interval = Interval{Months: p.months, Days: p.days, Microseconds: p.microseconds}
	case ValueArray:
		v.Elem = p.elem
		v.Array = p.array
		if v.Array == nil {
			v.Array = []Value{}
		}
	case "":
		v.Kind = ValueNull
	}
	return v
}

// valueKinds are the kinds of value there are.
var valueKinds = [...]ValueKind{
	ValueNull, ValueBool, ValueInt, ValueFloat, ValueDecimal, ValueText, ValueBytes, ValueUUID,
	ValueJSON, ValueDate, ValueTimestamp, ValueTimestampTZ, ValueTime, ValueInterval, ValueArray,
}

// kindOf is the kind named b, without allocating for the kinds there are.
func kindOf(b []byte) ValueKind {
	for _, k := range valueKinds {
		if string(b) == string(k) {
			return k
		}
	}
	return ValueKind(b)
}

// eachField calls fn with each field of the encoded message b: its
// number and type, and its value: v for a length-delimited field
// (aliasing b), x for the others (a fixed32's or fixed64's bits).
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("a malformed message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("a malformed message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			continue
		}
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

var _ mux.FrameDecoder = (*queryAnswer)(nil)
