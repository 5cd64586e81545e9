package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// kindOf maps go-sql-driver's column type name to a value kind.
func kindOf(dbType string) sdk.ValueKind {
	switch strings.TrimPrefix(dbType, "UNSIGNED ") {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		return sdk.ValueInt
	case "FLOAT", "DOUBLE":
		return sdk.ValueFloat
	case "DECIMAL":
		return sdk.ValueDecimal
	case "CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET":
		return sdk.ValueText
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "BIT", "GEOMETRY", "VECTOR":
		return sdk.ValueBytes
	case "DATE":
		return sdk.ValueDate
	case "TIME":
		return sdk.ValueTime
	case "DATETIME":
		return sdk.ValueTimestamp
	case "TIMESTAMP":
		return sdk.ValueTimestampTZ
	case "JSON":
		return sdk.ValueJSON
	}
	return sdk.ValueNull
}

// rows streams a query's result from the server.
type rows struct {
	ctx  context.Context
	rows *sql.Rows
	cols []sdk.Column
	// dest holds a *sql.RawBytes for DECIMAL columns and a *any for the
	// others.
	dest []any
	vals []sdk.Value
	err  error
}

func newRows(ctx context.Context, r *sql.Rows) (*rows, error) {
	types, err := r.ColumnTypes()
	if err != nil {
		return nil, wrapErr(ctx, err, "mysql query columns")
	}
	out := &rows{ctx: ctx, rows: r, cols: make([]sdk.Column, len(types)), dest: make([]any, len(types)), vals: make([]sdk.Value, len(types))}
	for i, t := range types {
		dbType := t.DatabaseTypeName()
		kind := kindOf(dbType)
		out.cols[i] = sdk.Column{Name: t.Name(), Kind: kind, DatabaseType: dbType}
		if kind == sdk.ValueDecimal {
			// Exact text, never through float64.
			out.dest[i] = new(sql.RawBytes)
		} else {
			out.dest[i] = new(any)
		}
	}
	return out, nil
}

func (r *rows) Columns() []sdk.Column { return r.cols }
func (r *rows) Values() []sdk.Value   { return r.vals }
func (r *rows) Err() error            { return r.err }

func (r *rows) Next() bool {
	if r.err != nil {
		return false
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			r.err = wrapErr(r.ctx, err, "mysql query")
		}
		_ = r.rows.Close()
		return false
	}
	if err := r.rows.Scan(r.dest...); err != nil {
		r.err = wrapErr(r.ctx, err, "mysql scan")
		_ = r.rows.Close()
		return false
	}
	for i, d := range r.dest {
		v, err := toValue(r.cols[i], d)
		if err != nil {
			r.err = sdk.WrapError(sdk.KindInternal, err, "mysql column "+strconv.Quote(r.cols[i].Name))
			_ = r.rows.Close()
			return false
		}
		r.vals[i] = v
	}
	return true
}

// Close stops reading. go-sql-driver discards the rest of the result, or
// closes the connection when the query's context is done.
func (r *rows) Close() error {
	return wrapErr(r.ctx, r.rows.Close(), "mysql close rows")
}

// toValue converts one scanned column value. Values arrive as []byte (text
// protocol, and strings and decimals of the binary protocol), int64,
// uint64, float32, float64 or time.Time.
func toValue(col sdk.Column, dest any) (sdk.Value, error) {
	if rb, ok := dest.(*sql.RawBytes); ok {
		if *rb == nil {
			return sdk.Null, nil
		}
		return sdk.Value{Kind: sdk.ValueDecimal, Text: string(*rb)}, nil
	}
	src := *(dest.(*any))
	if src == nil {
		return sdk.Null, nil
	}
	switch col.Kind {
	case sdk.ValueInt:
		switch v := src.(type) {
		case int64:
			return sdk.Value{Kind: sdk.ValueInt, Int: v}, nil
		case uint64:
			if v > math.MaxInt64 {
				return sdk.Value{Kind: sdk.ValueDecimal, Text: strconv.FormatUint(v, 10)}, nil
			}
			return sdk.Value{Kind: sdk.ValueInt, Int: int64(v)}, nil
		case []byte:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				if _, uerr := strconv.ParseUint(string(v), 10, 64); uerr == nil {
					return sdk.Value{Kind: sdk.ValueDecimal, Text: string(v)}, nil
				}
				return sdk.Value{}, fmt.Errorf("integer %q: %w", v, err)
			}
			return sdk.Value{Kind: sdk.ValueInt, Int: n}, nil
		}
	case sdk.ValueFloat:
		switch v := src.(type) {
		case float64:
			return sdk.Value{Kind: sdk.ValueFloat, Float: v}, nil
		case float32:
			// The shortest decimal of the float32, as the text protocol
			// sends it.
			f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
			return sdk.Value{Kind: sdk.ValueFloat, Float: f}, nil
		case []byte:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return sdk.Value{}, fmt.Errorf("float %q: %w", v, err)
			}
			return sdk.Value{Kind: sdk.ValueFloat, Float: f}, nil
		}
	case sdk.ValueText:
		if b, ok := src.([]byte); ok {
			return sdk.Value{Kind: sdk.ValueText, Text: string(b)}, nil
		}
	case sdk.ValueBytes, sdk.ValueJSON:
		if b, ok := src.([]byte); ok {
			return sdk.Value{Kind: col.Kind, Bytes: b}, nil
		}
	case sdk.ValueDate, sdk.ValueTimestamp, sdk.ValueTimestampTZ:
		switch v := src.(type) {
		case time.Time:
			// loc=UTC: DATE and DATETIME are wall clocks read as UTC;
			// TIMESTAMP is sent in the session's time zone, +00:00.
			return sdk.Value{Kind: col.Kind, Time: v.UTC()}, nil
		case []byte:
			return sdk.Value{}, fmt.Errorf("unparsed time %q", v)
		}
	case sdk.ValueTime:
		if b, ok := src.([]byte); ok {
			d, err := parseTime(string(b))
			if err != nil {
				return sdk.Value{}, err
			}
			return sdk.Value{Kind: sdk.ValueTime, Duration: d}, nil
		}
	}
	// Unknown column types, or a value of an unexpected Go type.
	switch v := src.(type) {
	case []byte:
		if utf8.Valid(v) {
			return sdk.Value{Kind: sdk.ValueText, Text: string(v)}, nil
		}
		return sdk.Value{Kind: sdk.ValueBytes, Bytes: v}, nil
	case string:
		return sdk.Value{Kind: sdk.ValueText, Text: v}, nil
	case int64:
		return sdk.Value{Kind: sdk.ValueInt, Int: v}, nil
	case float64:
		return sdk.Value{Kind: sdk.ValueFloat, Float: v}, nil
	case time.Time:
		return sdk.Value{Kind: sdk.ValueTimestamp, Time: v.UTC()}, nil
	}
	return sdk.Value{}, fmt.Errorf("unexpected %T for a %s column", src, col.DatabaseType)
}

// parseTime parses a MySQL TIME, [-]H+:MM:SS[.ffffff].
func parseTime(s string) (time.Duration, error) {
	bad := fmt.Errorf("malformed TIME %q", s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, bad
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return 0, bad
		}
		n[i] = v
	}
	d := time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second
	if frac != "" {
		if len(frac) > 9 {
			return 0, bad
		}
		f, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return 0, bad
		}
		d += time.Duration(f)
	}
	if neg {
		d = -d
	}
	return d, nil
}

// formatTime formats a duration as a MySQL TIME literal.
func formatTime(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	d -= s * time.Second
	out := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, s)
	if d != 0 {
		out += fmt.Sprintf(".%06d", d/time.Microsecond)
	}
	return out
}

const dateTimeLayout = "2006-01-02 15:04:05.999999"

// bindArgs converts statement arguments to go-sql-driver values.
func bindArgs(vals []sdk.Value) ([]any, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		switch v.Kind {
		case sdk.ValueNull, "":
			args[i] = nil
		case sdk.ValueBool:
			args[i] = v.Bool
		case sdk.ValueInt:
			args[i] = v.Int
		case sdk.ValueFloat:
			args[i] = v.Float
		case sdk.ValueDecimal, sdk.ValueText:
			args[i] = v.Text
		case sdk.ValueBytes:
			b := v.Bytes
			if b == nil {
				b = []byte{} // nil []byte would bind as NULL
			}
			args[i] = b
		case sdk.ValueJSON:
			args[i] = string(v.Bytes)
		case sdk.ValueDate:
			args[i] = v.Time.Format("2006-01-02")
		case sdk.ValueTime:
			args[i] = formatTime(v.Duration)
		case sdk.ValueTimestamp:
			// The wall clock, whatever zone the Time carries.
			args[i] = v.Time.Format(dateTimeLayout)
		case sdk.ValueTimestampTZ:
			// The instant in the session's time zone, UTC.
			args[i] = v.Time.UTC().Format(dateTimeLayout)
		case sdk.ValueUUID:
			if len(v.Bytes) != 16 {
				return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %d: a uuid has 16 bytes, got %d", i+1, len(v.Bytes))
			}
			b := v.Bytes
			args[i] = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		default:
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %d: MySQL cannot bind a value of kind %q", i+1, v.Kind)
		}
	}
	return args, nil
}
