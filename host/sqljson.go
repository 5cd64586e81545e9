package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The JSON face of the SQL path, for nebula-host call and the admin
// endpoint: every resource with the sql capability answers the operations
// "query" and "exec" with JSON in and out.

// withSQLOperations returns the type's operations plus the SQL ones it
// does not describe itself (a type made with the SDK's typed API
// describes them; one described by hand may not).
func withSQLOperations(t sdk.ResourceType) sdk.ResourceType { return t.WithSQLOperations() }

// isHostSQLOperation reports whether op on this lease is one the host
// answers itself.
func (l *Lease) isHostSQLOperation(op string) bool { return l.r.hostSQLOperation(op) }

// hostSQLOperation reports whether op on this resource is one the host
// answers itself: query and exec of a type with the sql capability,
// whose names are the capability's (sdk.SQLOperations).
func (r *resource) hostSQLOperation(op string) bool {
	if op != "query" && op != "exec" {
		return false
	}
	return slices.Contains(r.rtype.Capabilities, sdk.CapabilitySQL)
}

type sqlJSONArgs struct {
	SQL     string            `json:"sql"`
	Args    []json.RawMessage `json:"args"`
	MaxRows *int              `json:"max_rows"`
}

func (l *Lease) invokeSQLJSON(ctx context.Context, op string, raw json.RawMessage) (json.RawMessage, error) {
	fail := func(err error) error { return &CallError{Resource: l.r.id, Operation: op, Err: err} }
	var a sqlJSONArgs
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return nil, fail(sdk.Errorf(sdk.KindInvalidArgument, "arguments: want {\"sql\": \"...\", \"args\": [...]}: %v", err))
	}
	if strings.TrimSpace(a.SQL) == "" {
		return nil, fail(sdk.Errorf(sdk.KindInvalidArgument, "argument \"sql\" is required"))
	}
	args := make([]any, len(a.Args))
	for i, r := range a.Args {
		v, err := jsonToValue(r)
		if err != nil {
			return nil, fail(sdk.Errorf(sdk.KindInvalidArgument, "argument %d: %v", i+1, err))
		}
		args[i] = v
	}
	if op == "exec" {
		res, err := l.Exec(ctx, a.SQL, args...)
		if err != nil {
			return nil, err
		}
		out := map[string]any{"rows_affected": res.RowsAffected}
		if res.HasLastInsertID {
			out["last_insert_id"] = res.LastInsertID
		}
		return marshalJSON(out)
	}
	maxRows := 1000
	if a.MaxRows != nil {
		maxRows = *a.MaxRows
	}
	rows, err := l.Query(ctx, a.SQL, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type col struct {
		Name         string        `json:"name"`
		Kind         sdk.ValueKind `json:"kind"`
		DatabaseType string        `json:"database_type,omitempty"`
	}
	out := struct {
		Columns   []col   `json:"columns"`
		Rows      [][]any `json:"rows"`
		Truncated bool    `json:"truncated,omitempty"`
	}{Columns: []col{}, Rows: [][]any{}}
	for _, c := range rows.Columns() {
		out.Columns = append(out.Columns, col{Name: c.Name, Kind: c.Kind, DatabaseType: c.DatabaseType})
	}
	for rows.Next() {
		if len(out.Rows) >= maxRows {
			out.Truncated = true
			break
		}
		vals := rows.Values()
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = valueJSON(v)
		}
		out.Rows = append(out.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return marshalJSON(out)
}

// marshalJSON encodes a result without escaping <, > and & as \u003c...:
// a JSON column's text comes back as it was stored.
func marshalJSON(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jsonToValue turns a JSON argument into a SQL value: null, booleans and
// strings as they are, whole numbers as ints, other numbers as exact
// decimals, and objects and arrays as JSON.
func jsonToValue(raw json.RawMessage) (sdk.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return sdk.Null, nil
	}
	switch raw[0] {
	case '{':
		if v, ok, err := taggedValue(raw); ok || err != nil {
			return v, err
		}
		return sdk.Value{Kind: sdk.ValueJSON, Bytes: append([]byte(nil), raw...)}, nil
	case '[':
		return sdk.Value{Kind: sdk.ValueJSON, Bytes: append([]byte(nil), raw...)}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return sdk.Value{}, err
	}
	switch v := x.(type) {
	case nil:
		return sdk.Null, nil
	case bool:
		return sdk.Value{Kind: sdk.ValueBool, Bool: v}, nil
	case string:
		return sdk.Value{Kind: sdk.ValueText, Text: v}, nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return sdk.Value{Kind: sdk.ValueInt, Int: i}, nil
		}
		return sdk.Value{Kind: sdk.ValueDecimal, Text: v.String()}, nil
	}
	return sdk.Value{}, fmt.Errorf("unsupported JSON value %s", raw)
}

// Values that JSON cannot hold as themselves are written as an object of
// one reserved key, in results and in arguments alike (docs/sql.md):
//
//	{"$float": "Infinity"}       a float that is +Inf, -Inf ("-Infinity") or NaN
//	{"$invalid_json": "{oops"}   a JSON column whose text is not valid JSON
//	                             (as an argument: that text, as text)
//	{"$json": {"$float": 1}}     a JSON value that is itself such an object
//
// So every value a query returns can be passed back as an argument and
// arrives as it was, and no JSON value is mistaken for a tag.
const (
	tagFloat       = "$float"
	tagInvalidJSON = "$invalid_json"
	tagJSON        = "$json"
)

// isTag reports whether raw is a JSON object of exactly one member whose
// name is a reserved tag, and returns the name and the member's value.
func isTag(raw []byte) (name string, val json.RawMessage, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return "", nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", nil, false
	}
	key, err := dec.Token()
	if err != nil {
		return "", nil, false
	}
	name, _ = key.(string)
	switch name {
	case tagFloat, tagInvalidJSON, tagJSON:
	default:
		return "", nil, false
	}
	if err := dec.Decode(&val); err != nil {
		return "", nil, false
	}
	// Exactly one member, and nothing after the object.
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "", nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, false
	}
	return name, val, true
}

// taggedValue decodes an argument written as a tag. ok is false for an
// object that is not one.
func taggedValue(raw json.RawMessage) (v sdk.Value, ok bool, err error) {
	name, val, ok := isTag(raw)
	if !ok {
		return sdk.Value{}, false, nil
	}
	switch name {
	case tagFloat:
		var f float64
		var text string
		switch {
		case json.Unmarshal(val, &text) == nil:
			switch text {
			case "Infinity", "+Infinity":
				f = math.Inf(1)
			case "-Infinity":
				f = math.Inf(-1)
			case "NaN":
				f = math.NaN()
			default:
				return sdk.Value{}, true, fmt.Errorf(`%s: want "Infinity", "-Infinity", "NaN" or a number, got %q`, tagFloat, text)
			}
		case json.Unmarshal(val, &f) == nil:
		default:
			return sdk.Value{}, true, fmt.Errorf(`%s: want "Infinity", "-Infinity", "NaN" or a number`, tagFloat)
		}
		return sdk.Value{Kind: sdk.ValueFloat, Float: f}, true, nil
	case tagInvalidJSON:
		var text string
		if err := json.Unmarshal(val, &text); err != nil {
			return sdk.Value{}, true, fmt.Errorf("%s: want the text as a string", tagInvalidJSON)
		}
		// As text: drivers refuse a JSON argument that is not JSON, and
		// a database that keeps such text in a JSON column (SQLite does)
		// stores text as it is.
		return sdk.Value{Kind: sdk.ValueText, Text: text}, true, nil
	}
	return sdk.Value{Kind: sdk.ValueJSON, Bytes: append([]byte(nil), bytes.TrimSpace(val)...)}, true, nil
}

// floatJSON is a float as the results show it: a number, or the tag for
// the values JSON has no number for.
func floatJSON(f float64) any {
	switch {
	case math.IsInf(f, 1):
		return map[string]string{tagFloat: "Infinity"}
	case math.IsInf(f, -1):
		return map[string]string{tagFloat: "-Infinity"}
	case math.IsNaN(f):
		return map[string]string{tagFloat: "NaN"}
	}
	return f
}

// jsonColumn is a JSON column's value as the results show it: the JSON
// itself, or a tag when it is not valid JSON or would read as a tag.
func jsonColumn(b []byte) any {
	if !json.Valid(b) || !utf8.Valid(b) {
		return map[string]string{tagInvalidJSON: strings.ToValidUTF8(string(b), "\uFFFD")}
	}
	if _, _, ok := isTag(b); ok {
		return map[string]json.RawMessage{tagJSON: b}
	}
	return json.RawMessage(b)
}

// valueJSON is a value as the JSON results show it: decimals as strings
// (exact), bytes and UUIDs as hex strings, times in RFC 3339; floats JSON
// has no number for and JSON columns that hold no valid JSON as tags.
func valueJSON(v sdk.Value) any {
	switch v.Kind {
	case sdk.ValueFloat:
		return floatJSON(v.Float)
	case sdk.ValueDecimal:
		return v.Text
	case sdk.ValueBytes:
		return "\\x" + hex.EncodeToString(v.Bytes)
	case sdk.ValueUUID:
		h := hex.EncodeToString(v.Bytes)
		if len(h) == 32 {
			return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		}
		return h
	case sdk.ValueDate:
		return v.Time.Format(time.DateOnly)
	case sdk.ValueTimestamp, sdk.ValueTimestampTZ:
		return v.Time.Format(time.RFC3339Nano)
	case sdk.ValueTime:
		return (time.Time{}).Add(v.Duration).Format("15:04:05.999999999")
	case sdk.ValueJSON:
		return jsonColumn(v.Bytes)
	case sdk.ValueArray:
		out := make([]any, len(v.Array))
		for i, e := range v.Array {
			out[i] = valueJSON(e)
		}
		return out
	}
	return v.Any()
}
