package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// referenceCheckArgs is how the host checked arguments before the
// compiled argChecker: every value read into a map, then each read again
// by sdk.CheckValue. It is the reference the checker must agree with
// (FuzzArgCheckerAgainstReference).
func referenceCheckArgs(op sdk.Operation, raw json.RawMessage) (json.RawMessage, error) {
	var args map[string]json.RawMessage
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := json.Unmarshal(trimmed, &args); err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: arguments must be a JSON object: %v", op.Name, err)
		}
	}
	if args == nil {
		args = map[string]json.RawMessage{}
	}
	var problems []string
	given := len(args)
	var filled []string // the arguments whose default was filled in
	names := op.Args.Names()
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := op.Args.Attribute(k); !ok {
			msg := fmt.Sprintf("unknown argument %s", sdk.QuoteShort(k))
			if s := config.Suggest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(names) > 0 {
				msg += " (arguments: " + strings.Join(names, ", ") + ")"
			} else {
				msg += " (the operation takes no arguments)"
			}
			problems = append(problems, msg)
		}
	}
	for _, a := range op.Args.Attributes {
		v, ok := args[a.Name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			switch {
			case a.Required:
				problems = append(problems, fmt.Sprintf("argument %q (%s) is required", a.Name, a.Type))
			case a.Default != nil:
				args[a.Name] = a.Default
				filled = append(filled, a.Name)
			}
			continue
		}
		if err := sdk.CheckValue(a.Type, v); err != nil {
			if a.Sensitive {
				problems = append(problems, fmt.Sprintf("argument %q wants %s (sensitive value not shown)", a.Name, a.Type))
			} else {
				problems = append(problems, fmt.Sprintf("argument %q: %v", a.Name, err))
			}
		}
	}
	if len(problems) > 0 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: %s", op.Name, strings.Join(problems, "; "))
	}
	if given > 0 {
		// The arguments go on as the caller wrote them, with the defaults
		// added at the end: encoding them all again would cost as much as
		// reading them (a millisecond per 100 KB). A name given twice
		// means its last value, here as in encoding/json and sdk.Decode.
		if len(filled) == 0 {
			return trimmed, nil
		}
		out := bytes.NewBuffer(make([]byte, 0, len(trimmed)+64*len(filled)))
		out.Write(trimmed[:len(trimmed)-1]) // without its closing brace
		for _, name := range filled {
			key, _ := json.Marshal(name)
			out.WriteByte(',')
			out.Write(key)
			out.WriteByte(':')
			out.Write(args[name])
		}
		out.WriteByte('}')
		return out.Bytes(), nil
	}
	out, err := json.Marshal(args)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: %v", op.Name, err)
	}
	return out, nil
}

// fuzzOperation has an argument of every type, required, defaulted and
// sensitive ones.
var fuzzOperation = sdk.Operation{Name: "op", Args: sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "key", Type: sdk.String, Required: true},
	{Name: "n", Type: sdk.Int, Default: json.RawMessage("1")},
	{Name: "f", Type: sdk.Float, Default: json.RawMessage(` 2.5 `)},
	{Name: "ok", Type: sdk.Bool},
	{Name: "ttl", Type: sdk.Duration},
	{Name: "tags", Type: sdk.ListOf(sdk.String)},
	{Name: "m", Type: sdk.MapOf(sdk.Int)},
	{Name: "deep", Type: sdk.ListOf(sdk.MapOf(sdk.ListOf(sdk.Duration)))},
	{Name: "secret", Type: sdk.String, Sensitive: true},
	{Name: "sm", Type: sdk.MapOf(sdk.Bool), Sensitive: true},
	{Name: "odd", Type: sdk.Type{Kind: "odd"}},
	{Name: "doc", Type: sdk.JSON},
	{Name: "docs", Type: sdk.ListOf(sdk.JSON)},
	{Name: "név", Type: sdk.String, Default: json.RawMessage(`"<&>"`)},
}}}

// FuzzArgCheckerAgainstReference: for any bytes, the compiled checker and
// the reference agree on accepting them, on what goes on to the plugin,
// and on the error.
func FuzzArgCheckerAgainstReference(f *testing.F) {
	for _, s := range []string{
		`{"key":"k"}`, `{"key":1}`, `{"key":"k","n":1.5}`, `[]`, `null`, ` `, `{}`, `{ }`, `"x"`, `{"key":"k"} x`,
		`{"key":"k","ttl":"1s","tags":["a"]}`, `{"secret":5}`, `{"key":"k","n":1e999}`, `{"key":"k","n":-0}`,
		`{"key":"k","n":9223372036854775807}`, `{"key":"k","n":9223372036854775808}`, `{"key":"k","n":-9223372036854775808}`,
		`{"key":"k","m":{"a":1,"a":"x"}}`, `{"key":"k","m":{"a":"x","a":1}}`, `{"key":"k","m":{"a":"x","b":true}}`,
		`{"key":"k","deep":[{"a":["1s",null]},null,{"b":["x"]}]}`, `{"key":null,"key":"k"}`, `{"key":"k","key":null}`,
		`{"ke\u0079":"k"}`, `{"key":"k","tt":"1s"}`, `{"KEY":"k"}`, `{"key":"k","n":null}`, `{"key":"k","odd":1}`, `{"key":"k","odd":null}`,
		`{"key":"k","sm":{"a":1}}`, `{"key":"k","ttl":"1\u0073"}`, "{\"key\":\"\xff\"}", "{\"\xff\":1}", `{"key":"k",}`, `{"key":"k"`,
		`{"key":"k","tags":[1,"a",2]}`, `{"key":"k","f":"1"}`, `{"key":"k","ok":tru}`, `{"key":"k","n":01}`, `{"key":"k","n":1.}`,
		`{"key":"\u12"}`, "{\"key\":\"a\tb\"}", `{"nope":1,"nope":2,"other":3}`, `{"key":"k","n":[[[[]]]]}`,
		`{"key":"k","doc":{"_id":{"$oid":"5f1d7a3b2c4e5a6b7c8d9e0f"},"n":{"$numberLong":"9007199254740993"},"f":1.0,"a":[1,"x",null,true]}}`,
		`{"key":"k","doc":"text","docs":[{},[],1,"s",false,null]}`, `{"key":"k","doc":{"a":}}`, `{"key":"k","docs":{"a":1}}`,
	} {
		f.Add([]byte(s))
	}
	c := newArgChecker(fuzzOperation)
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := c.check(raw)
		want, werr := referenceCheckArgs(fuzzOperation, raw)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: compiled %s, %v; reference %s, %v", raw, got, err, want, werr)
		}
		if err == nil {
			if !bytes.Equal(got, want) {
				t.Fatalf("%q: compiled %s; reference %s", raw, got, want)
			}
			return
		}
		if k := sdk.KindOf(err); k != sdk.KindInvalidArgument {
			t.Fatalf("%q: kind %s: %v", raw, k, err)
		}
		// sdk.CheckValue reports one of a map's wrong values, picked by
		// Go's map order: the reference may say either of two.
		for range 200 {
			if err.Error() == werr.Error() {
				return
			}
			_, werr = referenceCheckArgs(fuzzOperation, raw)
		}
		t.Fatalf("%q: compiled\n  %v\nreference\n  %v", raw, err, werr)
	})
}

// TestArgCheckerDeepNesting: nesting past encoding/json's limit is refused
// with encoding/json's error, and up to it accepted.
func TestArgCheckerDeepNesting(t *testing.T) {
	c := newArgChecker(fuzzOperation)
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		raw := []byte(`{"key":"k","deep":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + "}")
		got, err := c.check(raw)
		want, werr := referenceCheckArgs(fuzzOperation, raw)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !bytes.Equal(got, want) {
			t.Fatalf("depth %d: compiled %.40s, %v; reference %.40s, %v", depth, got, err, want, werr)
		}
		if tooDeep := strings.Contains(fmt.Sprint(err), "exceeded max depth"); tooDeep != (depth > maxDepth) {
			t.Fatalf("depth %d: %v", depth, err)
		}
	}
}

// TestArgCheckerAllocations: right arguments with nothing to default are
// checked without allocating.
func TestArgCheckerAllocations(t *testing.T) {
	c := newArgChecker(fuzzOperation)
	raw := []byte(`{"key":"k","n":5,"f":1.5,"ok":true,"tags":["a","b"],"m":{"x":1},"secret":"s","név":"x","deep":[{"a":[]}]}`)
	if _, err := c.check(raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.check(raw) }); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
