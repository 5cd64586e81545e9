package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// scalarKinds maps the PostgreSQL types the driver decodes natively to
// their value kinds. Every other type is read in text format and returned
// as text, with the column's Kind left as ValueNull.
var scalarKinds = map[uint32]sdk.ValueKind{
	pgtype.BoolOID:        sdk.ValueBool,
	pgtype.Int2OID:        sdk.ValueInt,
	pgtype.Int4OID:        sdk.ValueInt,
	pgtype.Int8OID:        sdk.ValueInt,
	pgtype.Float4OID:      sdk.ValueFloat,
	pgtype.Float8OID:      sdk.ValueFloat,
	pgtype.NumericOID:     sdk.ValueDecimal,
	pgtype.TextOID:        sdk.ValueText,
	pgtype.VarcharOID:     sdk.ValueText,
	pgtype.BPCharOID:      sdk.ValueText,
	pgtype.NameOID:        sdk.ValueText,
	pgtype.ByteaOID:       sdk.ValueBytes,
	pgtype.DateOID:        sdk.ValueDate,
	pgtype.TimeOID:        sdk.ValueTime,
	pgtype.TimestampOID:   sdk.ValueTimestamp,
	pgtype.TimestamptzOID: sdk.ValueTimestampTZ,
	pgtype.IntervalOID:    sdk.ValueInterval,
	pgtype.UUIDOID:        sdk.ValueUUID,
	pgtype.JSONOID:        sdk.ValueJSON,
	pgtype.JSONBOID:       sdk.ValueJSON,
}

// arrayElems maps the array types the driver decodes natively to their
// element types.
var arrayElems = map[uint32]uint32{
	pgtype.BoolArrayOID:        pgtype.BoolOID,
	pgtype.Int2ArrayOID:        pgtype.Int2OID,
	pgtype.Int4ArrayOID:        pgtype.Int4OID,
	pgtype.Int8ArrayOID:        pgtype.Int8OID,
	pgtype.Float4ArrayOID:      pgtype.Float4OID,
	pgtype.Float8ArrayOID:      pgtype.Float8OID,
	pgtype.NumericArrayOID:     pgtype.NumericOID,
	pgtype.TextArrayOID:        pgtype.TextOID,
	pgtype.VarcharArrayOID:     pgtype.VarcharOID,
	pgtype.BPCharArrayOID:      pgtype.BPCharOID,
	pgtype.NameArrayOID:        pgtype.NameOID,
	pgtype.ByteaArrayOID:       pgtype.ByteaOID,
	pgtype.DateArrayOID:        pgtype.DateOID,
	pgtype.TimeArrayOID:        pgtype.TimeOID,
	pgtype.TimestampArrayOID:   pgtype.TimestampOID,
	pgtype.TimestamptzArrayOID: pgtype.TimestamptzOID,
	pgtype.IntervalArrayOID:    pgtype.IntervalOID,
	pgtype.UUIDArrayOID:        pgtype.UUIDOID,
	pgtype.JSONArrayOID:        pgtype.JSONOID,
	pgtype.JSONBArrayOID:       pgtype.JSONBOID,
}

// resultFormats asks for the binary format for the types above and the
// text format (the map's zero value) for every other type.
var resultFormats = func() pgx.QueryResultFormatsByOID {
	m := pgx.QueryResultFormatsByOID{}
	for oid := range scalarKinds {
		m[oid] = pgtype.BinaryFormatCode
	}
	for oid := range arrayElems {
		m[oid] = pgtype.BinaryFormatCode
	}
	return m
}()

// typeNames names the types pgx knows, as PostgreSQL's pg_type.typname
// does ("int4", "_int4", "timestamptz").
var typeNames = pgtype.NewMap()

// moreTypeNames names built-in types pgx does not register.
var moreTypeNames = map[uint32]string{
	24: "regproc", 705: "unknown", 790: "money", 791: "_money", 1266: "timetz", 1270: "_timetz",
	1790: "refcursor", 2205: "regclass", 2206: "regtype", 2249: "record", 2278: "void",
	2970: "txid_snapshot", 3220: "pg_lsn", 3615: "tsquery", 3734: "regconfig", 5038: "pg_snapshot",
}

func typeName(oid uint32) string {
	if t, ok := typeNames.TypeForOID(oid); ok {
		return t.Name
	}
	if n, ok := moreTypeNames[oid]; ok {
		return n
	}
	return "oid:" + strconv.FormatUint(uint64(oid), 10)
}

type decodeFunc func(raw []byte) (sdk.Value, error)

// columnFor describes a result column and returns the decoder of its
// values.
func columnFor(m *pgtype.Map, fd pgconn.FieldDescription) (sdk.Column, decodeFunc) {
	col := sdk.Column{Name: fd.Name, Kind: sdk.ValueNull, DatabaseType: typeName(fd.DataTypeOID)}
	if fd.Format == pgtype.BinaryFormatCode {
		if k, ok := scalarKinds[fd.DataTypeOID]; ok {
			col.Kind = k
			return col, scalarDecoder(m, fd.DataTypeOID, k)
		}
		if elem, ok := arrayElems[fd.DataTypeOID]; ok {
			col.Kind = sdk.ValueArray
			ek := scalarKinds[elem]
			return col, arrayDecoder(scalarDecoder(m, elem, ek), ek)
		}
	}
	// Text format: an unmapped type, returned as its text.
	return col, func(raw []byte) (sdk.Value, error) {
		if raw == nil {
			return sdk.Null, nil
		}
		return sdk.Value{Kind: sdk.ValueText, Text: string(raw)}, nil
	}
}

// infinite is how an infinite date or timestamp arrives: as text.
func infinite(m pgtype.InfinityModifier) sdk.Value {
	if m > 0 {
		return sdk.Value{Kind: sdk.ValueText, Text: "infinity"}
	}
	return sdk.Value{Kind: sdk.ValueText, Text: "-infinity"}
}

// scalarDecoder decodes binary values of one of the types of scalarKinds.
func scalarDecoder(m *pgtype.Map, oid uint32, k sdk.ValueKind) decodeFunc {
	scan := func(raw []byte, dst any) error {
		return m.Scan(oid, pgtype.BinaryFormatCode, raw, dst)
	}
	return func(raw []byte) (sdk.Value, error) {
		if raw == nil {
			return sdk.Null, nil
		}
		v := sdk.Value{Kind: k}
		switch k {
		case sdk.ValueBool:
			var x pgtype.Bool
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			v.Bool = x.Bool
		case sdk.ValueInt:
			var x pgtype.Int8
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			v.Int = x.Int64
		case sdk.ValueFloat:
			var x pgtype.Float8
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			v.Float = x.Float64
		case sdk.ValueDecimal:
			var x pgtype.Numeric
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			v.Text = numericText(x)
		case sdk.ValueText:
			v.Text = string(raw)
		case sdk.ValueBytes:
			v.Bytes = append([]byte{}, raw...)
		case sdk.ValueDate:
			var x pgtype.Date
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			if x.InfinityModifier != pgtype.Finite {
				return infinite(x.InfinityModifier), nil
			}
			y, mo, d := x.Time.Date()
			v.Time = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
		case sdk.ValueTime:
			var x pgtype.Time
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			v.Duration = time.Duration(x.Microseconds) * time.Microsecond
		case sdk.ValueTimestamp:
			var x pgtype.Timestamp
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			if x.InfinityModifier != pgtype.Finite {
				return infinite(x.InfinityModifier), nil
			}
			v.Time = x.Time.UTC()
		case sdk.ValueTimestampTZ:
			var x pgtype.Timestamptz
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			if x.InfinityModifier != pgtype.Finite {
				return infinite(x.InfinityModifier), nil
			}
			v.Time = x.Time.UTC()
		case sdk.ValueInterval:
			var x pgtype.Interval
			if err := scan(raw, &x); err != nil {
				return v, err
			}
			v.Interval = sdk.Interval{Months: x.Months, Days: x.Days, Microseconds: x.Microseconds}
		case sdk.ValueUUID:
			if len(raw) != 16 {
				return v, fmt.Errorf("uuid of %d bytes", len(raw))
			}
			v.Bytes = append([]byte{}, raw...)
		case sdk.ValueJSON:
			b := raw
			if oid == pgtype.JSONBOID {
				// jsonb's binary format is a version byte, 1, then the text.
				if len(b) == 0 || b[0] != 1 {
					return v, fmt.Errorf("unknown jsonb binary format version")
				}
				b = b[1:]
			}
			v.Bytes = append([]byte{}, b...)
		default:
			return v, fmt.Errorf("no decoder for kind %s", k)
		}
		return v, nil
	}
}

// numericText writes a numeric exactly, keeping its scale: "-12.3400".
func numericText(n pgtype.Numeric) string {
	switch {
	case n.NaN:
		return "NaN"
	case n.InfinityModifier == pgtype.Infinity:
		return "Infinity"
	case n.InfinityModifier == pgtype.NegativeInfinity:
		return "-Infinity"
	}
	i := n.Int
	if i == nil {
		i = new(big.Int)
	}
	digits := new(big.Int).Abs(i).String()
	sign := ""
	if i.Sign() < 0 {
		sign = "-"
	}
	if n.Exp >= 0 {
		if i.Sign() == 0 {
			return "0"
		}
		return sign + digits + strings.Repeat("0", int(n.Exp))
	}
	scale := int(-n.Exp)
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

// arrayDecoder decodes PostgreSQL's binary array format: the number of
// dimensions, a has-nulls flag, the element type, each dimension's length
// and lower bound, then the elements, each a length (-1 for NULL) and its
// bytes. A multidimensional array becomes nested arrays.
func arrayDecoder(elem decodeFunc, ek sdk.ValueKind) decodeFunc {
	return func(raw []byte) (sdk.Value, error) {
		if raw == nil {
			return sdk.Null, nil
		}
		bad := func() (sdk.Value, error) { return sdk.Value{}, fmt.Errorf("malformed binary array") }
		if len(raw) < 12 {
			return bad()
		}
		ndim := int(int32(binary.BigEndian.Uint32(raw)))
		rest := raw[12:]
		if ndim < 0 || len(rest) < 8*ndim {
			return bad()
		}
		dims := make([]int, ndim)
		for i := range dims {
			dims[i] = int(int32(binary.BigEndian.Uint32(rest[8*i:])))
			if dims[i] < 0 {
				return bad()
			}
		}
		rest = rest[8*ndim:]
		var build func(level int) (sdk.Value, error)
		build = func(level int) (sdk.Value, error) {
			out := sdk.Value{Kind: sdk.ValueArray, Elem: ek, Array: []sdk.Value{}}
			if ndim == 0 {
				return out, nil
			}
			out.Array = make([]sdk.Value, dims[level])
			if level < ndim-1 {
				out.Elem = sdk.ValueArray
				for i := range out.Array {
					sub, err := build(level + 1)
					if err != nil {
						return sdk.Value{}, err
					}
					out.Array[i] = sub
				}
				return out, nil
			}
			for i := range out.Array {
				if len(rest) < 4 {
					return bad()
				}
				n := int(int32(binary.BigEndian.Uint32(rest)))
				rest = rest[4:]
				if n < 0 {
					out.Array[i] = sdk.Null
					continue
				}
				if len(rest) < n {
					return bad()
				}
				v, err := elem(rest[:n:n])
				if err != nil {
					return sdk.Value{}, err
				}
				out.Array[i] = v
				rest = rest[n:]
			}
			return out, nil
		}
		return build(0)
	}
}

// encodeArgs turns statement arguments into values pgx binds.
func encodeArgs(vals []sdk.Value) ([]any, error) {
	args := make([]any, len(vals))
	for i, v := range vals {
		a, err := encodeTop(v)
		if err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument $%d: %v", i+1, err)
		}
		args[i] = a
	}
	return args, nil
}

// encodeTop binds a top-level argument. Plain Go types are used where they
// exist, so that the server's inferred parameter type decides the
// conversion (an int bound to a numeric or a float parameter, say).
func encodeTop(v sdk.Value) (any, error) {
	switch v.Kind {
	case sdk.ValueNull, "":
		return nil, nil
	case sdk.ValueBool:
		return v.Bool, nil
	case sdk.ValueInt:
		return v.Int, nil
	case sdk.ValueFloat:
		return v.Float, nil
	case sdk.ValueText:
		return v.Text, nil
	case sdk.ValueArray:
		return encodeArray(v)
	}
	return encodeElem(v)
}

// encodeElem binds a value as a pgtype value, which can also be NULL as
// an array element.
func encodeElem(v sdk.Value) (any, error) {
	switch v.Kind {
	case sdk.ValueBool:
		return pgtype.Bool{Bool: v.Bool, Valid: true}, nil
	case sdk.ValueInt:
		return pgtype.Int8{Int64: v.Int, Valid: true}, nil
	case sdk.ValueFloat:
		return pgtype.Float8{Float64: v.Float, Valid: true}, nil
	case sdk.ValueText:
		return pgtype.Text{String: v.Text, Valid: true}, nil
	case sdk.ValueDecimal:
		var n pgtype.Numeric
		if err := n.ScanScientific(strings.TrimSpace(v.Text)); err != nil || !n.Valid {
			return nil, fmt.Errorf("%q is not a decimal number", v.Text)
		}
		return n, nil
	case sdk.ValueBytes:
		if v.Bytes == nil {
			return []byte{}, nil // nil would bind NULL
		}
		return v.Bytes, nil
	case sdk.ValueDate:
		return pgtype.Date{Time: v.Time, Valid: true}, nil
	case sdk.ValueTime:
		if v.Duration < 0 || v.Duration > 24*time.Hour {
			return nil, fmt.Errorf("time of day %v is outside 00:00 to 24:00", v.Duration)
		}
		return pgtype.Time{Microseconds: int64(v.Duration / time.Microsecond), Valid: true}, nil
	case sdk.ValueTimestamp:
		return pgtype.Timestamp{Time: v.Time, Valid: true}, nil
	case sdk.ValueTimestampTZ:
		return pgtype.Timestamptz{Time: v.Time, Valid: true}, nil
	case sdk.ValueInterval:
		return pgtype.Interval{Months: v.Interval.Months, Days: v.Interval.Days, Microseconds: v.Interval.Microseconds, Valid: true}, nil
	case sdk.ValueUUID:
		if len(v.Bytes) != 16 {
			return nil, fmt.Errorf("uuid of %d bytes, want 16", len(v.Bytes))
		}
		return pgtype.UUID{Bytes: [16]byte(v.Bytes), Valid: true}, nil
	case sdk.ValueJSON:
		if len(v.Bytes) == 0 {
			return nil, fmt.Errorf("empty JSON")
		}
		return v.Bytes, nil
	}
	return nil, fmt.Errorf("cannot bind a value of kind %q", v.Kind)
}

// encodeArray binds an array, nested arrays being a multidimensional
// PostgreSQL array, which must be rectangular.
func encodeArray(v sdk.Value) (any, error) {
	leaf := v.Elem
	var dims []pgtype.ArrayDimension
	cur := v
	for {
		dims = append(dims, pgtype.ArrayDimension{Length: int32(len(cur.Array)), LowerBound: 1})
		if cur.Elem != sdk.ValueArray || len(cur.Array) == 0 {
			leaf = cur.Elem
			break
		}
		cur = cur.Array[0]
		if cur.Kind != sdk.ValueArray {
			return nil, fmt.Errorf("an element of an array of arrays is %s", cur.Kind)
		}
	}
	var elems []any
	var walk func(a sdk.Value, level int) error
	walk = func(a sdk.Value, level int) error {
		if a.Kind != sdk.ValueArray || int32(len(a.Array)) != dims[level].Length {
			return fmt.Errorf("a multidimensional array must be rectangular, with no NULL sub-arrays")
		}
		for _, e := range a.Array {
			if level < len(dims)-1 {
				if err := walk(e, level+1); err != nil {
					return err
				}
				continue
			}
			if e.IsNull() {
				elems = append(elems, nil)
				continue
			}
			if e.Kind != leaf {
				return fmt.Errorf("array of %s holds a %s", leaf, e.Kind)
			}
			x, err := encodeElem(e)
			if err != nil {
				return err
			}
			elems = append(elems, x)
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		dims = []pgtype.ArrayDimension{} // '{}'; nil Dims would bind NULL
	}
	switch leaf {
	case sdk.ValueBool:
		return typedArray[pgtype.Bool](elems, dims), nil
	case sdk.ValueInt:
		return typedArray[pgtype.Int8](elems, dims), nil
	case sdk.ValueFloat:
		return typedArray[pgtype.Float8](elems, dims), nil
	case sdk.ValueDecimal:
		return typedArray[pgtype.Numeric](elems, dims), nil
	case sdk.ValueText, sdk.ValueNull, "":
		return typedArray[pgtype.Text](elems, dims), nil
	case sdk.ValueBytes, sdk.ValueJSON:
		return typedArray[[]byte](elems, dims), nil
	case sdk.ValueDate:
		return typedArray[pgtype.Date](elems, dims), nil
	case sdk.ValueTime:
		return typedArray[pgtype.Time](elems, dims), nil
	case sdk.ValueTimestamp:
		return typedArray[pgtype.Timestamp](elems, dims), nil
	case sdk.ValueTimestampTZ:
		return typedArray[pgtype.Timestamptz](elems, dims), nil
	case sdk.ValueInterval:
		return typedArray[pgtype.Interval](elems, dims), nil
	case sdk.ValueUUID:
		return typedArray[pgtype.UUID](elems, dims), nil
	}
	return nil, fmt.Errorf("cannot bind an array of %q", leaf)
}

// typedArray builds a pgtype.Array of T from elements made by encodeElem;
// a nil element is NULL (T's zero value).
func typedArray[T any](elems []any, dims []pgtype.ArrayDimension) pgtype.Array[T] {
	out := pgtype.Array[T]{Elements: make([]T, len(elems)), Dims: dims, Valid: true}
	for i, e := range elems {
		if e != nil {
			out.Elements[i] = e.(T)
		}
	}
	return out
}

// rowsStream reads a result from the connection as the caller asks for
// rows. Closing it before the end reads and discards the rest of the
// result (canceling the call's context stops the query on the server).
type rowsStream struct {
	ctx  context.Context
	in   *Instance
	pr   pgx.Rows
	cols []sdk.Column
	decs []decodeFunc
	cur  []sdk.Value
	err  error
	done bool
}

func newRowsStream(ctx context.Context, in *Instance, pr pgx.Rows) *rowsStream {
	fds := pr.FieldDescriptions()
	r := &rowsStream{ctx: ctx, in: in, pr: pr, cols: make([]sdk.Column, len(fds)), decs: make([]decodeFunc, len(fds))}
	m := in.conn.TypeMap()
	for i, fd := range fds {
		r.cols[i], r.decs[i] = columnFor(m, fd)
	}
	return r
}

func (r *rowsStream) Columns() []sdk.Column { return r.cols }

// Values returns the current row. It is read by the goroutine that calls
// Next, so it needs no lock; a Close or Reset from elsewhere leaves it be.
func (r *rowsStream) Values() []sdk.Value { return r.cur }

func (r *rowsStream) Err() error {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	return r.err
}

func (r *rowsStream) Next() bool {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	if r.done {
		return false
	}
	if !r.pr.Next() {
		r.closeLocked()
		return false
	}
	raw := r.pr.RawValues()
	vals := make([]sdk.Value, len(raw))
	for i, b := range raw {
		v, err := r.decs[i](b)
		if err != nil {
			r.err = sdk.Errorf(sdk.KindInternal, "decoding column %q (%s): %v", r.cols[i].Name, r.cols[i].DatabaseType, err)
			r.closeLocked()
			return false
		}
		vals[i] = v
	}
	r.cur = vals
	return true
}

func (r *rowsStream) Close() error {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	r.closeLocked()
	return nil
}

// closeLocked ends the result; the caller holds in.mu.
func (r *rowsStream) closeLocked() {
	if r.done {
		return
	}
	r.done = true
	r.pr.Close()
	if r.err == nil {
		if err := r.pr.Err(); err != nil {
			r.err = r.in.wrap(r.ctx, err, "query")
		}
	}
	if r.in.rows == r {
		r.in.rows = nil
	}
}
