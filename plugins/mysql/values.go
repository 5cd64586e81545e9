package mysql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
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

// convert makes the value of one column from what go-sql-driver read
// (sqldb.Values.Convert). Values arrive as []byte (text protocol, and
// strings and decimals of the binary protocol), int64, uint64, float32,
// float64 or time.Time: MySQL sends every string as bytes, so a []byte
// is text or bytes by its column's type.
func convert(col sdk.Column, src any) (sdk.Value, error) {
	switch col.Kind {
	case sdk.ValueDecimal:
		if b, ok := src.([]byte); ok {
			// Exact text, never through float64.
			return sdk.Value{Kind: sdk.ValueDecimal, Text: string(b)}, nil
		}
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
	// Unknown column types, or a value of an unexpected Go type: bytes
	// are text when they can be.
	switch v := src.(type) {
	case []byte:
		if utf8.Valid(v) {
			return sdk.Value{Kind: sdk.ValueText, Text: string(v)}, nil
		}
	case time.Time:
		return sdk.Value{Kind: sdk.ValueTimestamp, Time: v.UTC()}, nil
	}
	return sqldb.Dynamic(src), nil
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

// bind converts argument i to what go-sql-driver binds
// (sqldb.Values.Bind): the kinds MySQL has no Go type for as text in
// MySQL's forms, the others as sqldb.Bind does (bool as 1/0).
func bind(i int, v sdk.Value) (any, error) {
	switch v.Kind {
	case sdk.ValueJSON:
		return string(v.Bytes), nil
	case sdk.ValueDate:
		return v.Time.Format("2006-01-02"), nil
	case sdk.ValueTime:
		return formatTime(v.Duration), nil
	case sdk.ValueTimestamp:
		// The wall clock, whatever zone the Time carries.
		return v.Time.Format(dateTimeLayout), nil
	case sdk.ValueTimestampTZ:
		// The instant in the session's time zone, UTC.
		return v.Time.UTC().Format(dateTimeLayout), nil
	case sdk.ValueUUID:
		if len(v.Bytes) != 16 {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %d: a uuid has 16 bytes, got %d", i+1, len(v.Bytes))
		}
		b := v.Bytes
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
	case sdk.ValueInterval, sdk.ValueArray:
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "argument %d: MySQL cannot bind a value of kind %q", i+1, v.Kind)
	}
	return sqldb.Bind(i, v)
}
