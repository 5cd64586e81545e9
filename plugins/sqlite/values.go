package sqlite

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sqldb"
)

// The text forms of the temporal kinds. Timestamps are RFC 3339 with
// exactly nine fractional digits, so that UTC timestamps sort as text;
// time.RFC3339Nano parses them.
const (
	dateLayout      = "2006-01-02"
	timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"
)

// parseLayouts are the texts accepted as dates and timestamps when read:
// what bind writes, SQLite's own date functions' forms, and those forms
// with an offset.
var parseLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	dateLayout,
}

var timeLayouts = []string{"15:04:05.999999999", "15:04"}

var decimalRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// isDecimal reports whether s is a decimal literal (or NaN or ±Infinity,
// as PostgreSQL's numeric has them).
func isDecimal(s string) bool {
	switch s {
	case "NaN", "Infinity", "+Infinity", "-Infinity":
		return true
	}
	return decimalRE.MatchString(s)
}

// bind converts argument i to the value handed to SQLite
// (sqldb.Values.Bind): the kinds SQLite has no storage class for as TEXT
// or BLOB in the forms the package documentation gives, the others as
// sqldb.Bind does.
func bind(i int, v sdk.Value) (any, error) {
	bad := func(format string, args ...any) error {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %d (%s): "+format, append([]any{i + 1, v.Kind}, args...)...)
	}
	switch v.Kind {
	case sdk.ValueBool:
		if v.Bool {
			return int64(1), nil
		}
		return int64(0), nil
	case sdk.ValueDecimal:
		if !isDecimal(v.Text) {
			return nil, bad("%q is not a decimal number", v.Text)
		}
		return v.Text, nil
	case sdk.ValueDate:
		if y := v.Time.Year(); y < 0 || y > 9999 {
			return nil, bad("year %d is outside 0000-9999", y)
		}
		return v.Time.Format(dateLayout), nil
	case sdk.ValueTime:
		if v.Duration < 0 || v.Duration >= 24*time.Hour {
			return nil, bad("time of day %v is outside [0, 24h)", v.Duration)
		}
		return formatTimeOfDay(v.Duration), nil
	case sdk.ValueTimestamp:
		t := v.Time.UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return nil, bad("year %d is outside 0000-9999", y)
		}
		return t.Format(timestampLayout), nil
	case sdk.ValueTimestampTZ:
		if y := v.Time.Year(); y < 0 || y > 9999 {
			return nil, bad("year %d is outside 0000-9999", y)
		}
		return v.Time.Format(timestampLayout), nil
	case sdk.ValueUUID:
		if len(v.Bytes) != 16 {
			return nil, bad("want 16 bytes, got %d", len(v.Bytes))
		}
		return v.Bytes, nil
	case sdk.ValueJSON:
		if !json.Valid(v.Bytes) {
			return nil, bad("not valid JSON")
		}
		return string(v.Bytes), nil
	case sdk.ValueInterval, sdk.ValueArray:
		return nil, bad("SQLite has no %s type", v.Kind)
	}
	return sqldb.Bind(i, v)
}

func formatTimeOfDay(d time.Duration) string {
	h := d / time.Hour
	m := d % time.Hour / time.Minute
	s := d % time.Minute / time.Second
	ns := d % time.Second
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	if ns != 0 {
		out += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return out
}

// columnKind maps a declared column type (as SQLite reports it) to a
// value kind; see the package documentation.
func columnKind(decl string) sdk.ValueKind {
	d := strings.ToUpper(strings.TrimSpace(decl))
	if d == "" {
		return sdk.ValueNull
	}
	base := d
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = base[:i]
	}
	words := strings.Fields(base)
	if len(words) == 0 {
		return sdk.ValueNull
	}
	switch strings.Join(words, " ") {
	case "BOOL", "BOOLEAN":
		return sdk.ValueBool
	case "DATE":
		return sdk.ValueDate
	case "TIME", "TIME WITHOUT TIME ZONE":
		return sdk.ValueTime
	case "DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE":
		return sdk.ValueTimestamp
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMETZ":
		return sdk.ValueTimestampTZ
	case "UUID":
		return sdk.ValueUUID
	case "JSON":
		return sdk.ValueJSON
	}
	switch words[0] {
	case "DECIMAL", "NUMERIC":
		return sdk.ValueDecimal
	}
	// SQLite's affinity rules, in its order.
	switch {
	case strings.Contains(d, "INT"):
		return sdk.ValueInt
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return sdk.ValueText
	case strings.Contains(d, "BLOB"):
		return sdk.ValueBytes
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return sdk.ValueFloat
	}
	return sdk.ValueNull // NUMERIC affinity under a name we do not know
}

// convert makes the value of a column from what the driver read
// (sqldb.Values.Convert). A value that does not fit the column's kind
// (SQLite lets any column hold any value) keeps the kind of its storage
// class (sqldb.Dynamic).
func convert(col sdk.Column, v any) (sdk.Value, error) {
	return convertKind(col.Kind, v), nil
}

func convertKind(kind sdk.ValueKind, v any) sdk.Value {
	switch kind {
	case sdk.ValueInt:
		if x, ok := v.(int64); ok {
			return sdk.Value{Kind: sdk.ValueInt, Int: x}
		}
	case sdk.ValueBool:
		if x, ok := v.(int64); ok {
			return sdk.Value{Kind: sdk.ValueBool, Bool: x != 0}
		}
	case sdk.ValueFloat:
		switch x := v.(type) {
		case float64:
			return sdk.Value{Kind: sdk.ValueFloat, Float: x}
		case int64:
			return sdk.Value{Kind: sdk.ValueFloat, Float: float64(x)}
		}
	case sdk.ValueDecimal:
		switch x := v.(type) {
		case string:
			if isDecimal(x) {
				return sdk.Value{Kind: sdk.ValueDecimal, Text: x}
			}
		case int64:
			return sdk.Value{Kind: sdk.ValueDecimal, Text: strconv.FormatInt(x, 10)}
		case float64:
			if !math.IsInf(x, 0) && !math.IsNaN(x) {
				return sdk.Value{Kind: sdk.ValueDecimal, Text: strconv.FormatFloat(x, 'f', -1, 64)}
			}
		}
	case sdk.ValueText:
		if x, ok := v.(string); ok {
			return sdk.Value{Kind: sdk.ValueText, Text: x}
		}
	case sdk.ValueBytes:
		switch x := v.(type) {
		case []byte:
			return sdk.Value{Kind: sdk.ValueBytes, Bytes: x}
		case string:
			return sdk.Value{Kind: sdk.ValueBytes, Bytes: []byte(x)}
		}
	case sdk.ValueDate:
		if t, ok := asTime(v); ok {
			y, m, d := t.Date()
			return sdk.Value{Kind: sdk.ValueDate, Time: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
		}
	case sdk.ValueTime:
		if x, ok := v.(string); ok {
			if d, ok := parseTimeOfDay(x); ok {
				return sdk.Value{Kind: sdk.ValueTime, Duration: d}
			}
		}
	case sdk.ValueTimestamp:
		if t, ok := asTime(v); ok {
			return sdk.Value{Kind: sdk.ValueTimestamp, Time: t.UTC()}
		}
	case sdk.ValueTimestampTZ:
		if t, ok := asTime(v); ok {
			return sdk.Value{Kind: sdk.ValueTimestampTZ, Time: sqldb.FixedZone(t)}
		}
	case sdk.ValueUUID:
		switch x := v.(type) {
		case []byte:
			if len(x) == 16 {
				return sdk.Value{Kind: sdk.ValueUUID, Bytes: x}
			}
		case string:
			if b, ok := parseUUID(x); ok {
				return sdk.Value{Kind: sdk.ValueUUID, Bytes: b}
			}
		}
	case sdk.ValueJSON:
		switch x := v.(type) {
		case string:
			return sdk.Value{Kind: sdk.ValueJSON, Bytes: []byte(x)}
		case []byte:
			return sdk.Value{Kind: sdk.ValueJSON, Bytes: x}
		case int64:
			return sdk.Value{Kind: sdk.ValueJSON, Bytes: strconv.AppendInt(nil, x, 10)}
		case float64:
			if !math.IsInf(x, 0) && !math.IsNaN(x) {
				return sdk.Value{Kind: sdk.ValueJSON, Bytes: strconv.AppendFloat(nil, x, 'g', -1, 64)}
			}
		}
	}
	return sqldb.Dynamic(v)
}

// asTime is the time the driver parsed, or the time in a text.
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		for _, l := range parseLayouts {
			if t, err := time.Parse(l, x); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

func parseTimeOfDay(s string) (time.Duration, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
				time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), true
		}
	}
	return 0, false
}

// parseUUID parses the 36-character text form of a UUID (or its 32 hex
// digits without dashes).
func parseUUID(s string) ([]byte, bool) {
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return nil, false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}
