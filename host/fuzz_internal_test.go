package host

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// FuzzCheckArgs: whatever a caller sends, checking never panics, a refusal
// is invalid_argument, and what passes is a JSON object.
func FuzzCheckArgs(f *testing.F) {
	op := sdk.Operation{Name: "op", Args: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "key", Type: sdk.String, Required: true},
		{Name: "n", Type: sdk.Int, Default: json.RawMessage("1")},
		{Name: "ttl", Type: sdk.Duration},
		{Name: "tags", Type: sdk.ListOf(sdk.String)},
		{Name: "secret", Type: sdk.String, Sensitive: true},
	}}}
	for _, s := range []string{`{"key":"k"}`, `{"key":1}`, `{"key":"k","n":1.5}`, `[]`, `null`, `{"key":"k","ttl":"1s","tags":["a"]}`, `{"secret":5}`, `{"key":"k","n":1e999}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := newArgChecker(op).check(raw)
		if err != nil {
			if k := sdk.KindOf(err); k != sdk.KindInvalidArgument {
				t.Fatalf("kind %s: %v", k, err)
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("checked arguments %s are not a JSON object: %v", out, err)
		}
		// What the caller gave goes on unchanged, and n's default is
		// filled in when it is missing or null.
		var in map[string]json.RawMessage
		_ = json.Unmarshal(raw, &in)
		for k, v := range in {
			if k == "n" && string(bytes.TrimSpace(v)) == "null" {
				continue
			}
			if !bytes.Equal(m[k], v) {
				t.Fatalf("argument %q %s came out as %s", k, v, m[k])
			}
		}
		if n, ok := in["n"]; !ok || string(bytes.TrimSpace(n)) == "null" {
			if string(m["n"]) != "1" {
				t.Fatalf("n's default: got %s from %s", m["n"], out)
			}
		}
	})
}

// FuzzSQLJSONRoundTrip: a value given as a JSON argument comes back from
// the JSON results as the same value: what goes in comes out.
func FuzzSQLJSONRoundTrip(f *testing.F) {
	for _, s := range []string{`1`, `-0`, `1.5`, `"text"`, `null`, `true`, `{"a":1}`, `[1,"a"]`, `{"$float":"Infinity"}`, `{"$float":"NaN"}`, `{"$float":"-Infinity"}`, `{"$json":{"$float":1}}`, `{"$invalid_json":"{oops"}`, `{"$float":1,"$float":2}`} {
		f.Add([]byte(s), 0.0)
	}
	f.Add([]byte(`1`), math.Inf(1))
	f.Add([]byte(`1`), math.NaN())
	f.Fuzz(func(t *testing.T, raw []byte, fl float64) {
		// A float value read from a database always encodes, and decodes
		// back to the same float.
		out, err := marshalJSON(valueJSON(sdk.Value{Kind: sdk.ValueFloat, Float: fl}))
		if err != nil {
			t.Fatalf("float %v does not encode: %v", fl, err)
		}
		v, err := jsonToValue(out)
		if err != nil {
			t.Fatalf("float %v encoded as %s does not decode: %v", fl, out, err)
		}
		switch {
		case math.IsNaN(fl):
			if v.Kind != sdk.ValueFloat || !math.IsNaN(v.Float) {
				t.Fatalf("NaN came back as %+v", v)
			}
		case math.IsInf(fl, 0):
			if v.Kind != sdk.ValueFloat || v.Float != fl {
				t.Fatalf("%v came back as %+v", fl, v)
			}
		}
		// A JSON column holding any bytes encodes; valid JSON comes back
		// as the same JSON.
		col, err := marshalJSON(valueJSON(sdk.Value{Kind: sdk.ValueJSON, Bytes: raw}))
		if err != nil {
			t.Fatalf("JSON column %q does not encode: %v", raw, err)
		}
		back, err := jsonToValue(col)
		if err != nil {
			t.Fatalf("JSON column %q encoded as %s does not decode: %v", raw, col, err)
		}
		if json.Valid(raw) && json.Valid(back.Bytes) {
			var a, b bytes.Buffer
			_ = json.Compact(&a, raw)
			_ = json.Compact(&b, back.Bytes)
			if back.Kind == sdk.ValueJSON && a.String() != b.String() && utfValid(raw) {
				t.Fatalf("JSON column %s came back as %s", a.String(), b.String())
			}
		}
		// An argument that decodes re-encodes to JSON.
		if v, err := jsonToValue(raw); err == nil {
			if _, err := marshalJSON(valueJSON(v)); err != nil {
				t.Fatalf("argument %q decoded to %+v does not encode: %v", raw, v, err)
			}
		}
	})
}

func utfValid(b []byte) bool { return bytes.Equal(bytes.ToValidUTF8(b, nil), b) }
