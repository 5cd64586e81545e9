package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// This file checks with rapid that HCL values round-trip through a
// plugin's schema: a random schema (string, int, float, bool, duration,
// and lists and maps of them, nested), a random value of it written with
// hclwrite, loaded with config.Load and decoded with DecodeResources,
// must come out in Resource.Config as the value generated, with the
// defaults of the unset optional attributes; and a value of the wrong
// type for one attribute must be reported at that attribute's
// file:line. Run more cases with -rapid.checks=N; a failure prints the
// seed to replay it with -rapid.seed.

// drawType draws a schema type, nesting lists and maps depth deep at
// most.
func drawType(t *rapid.T, depth int) sdk.Type {
	kinds := []sdk.TypeKind{sdk.TypeString, sdk.TypeInt, sdk.TypeFloat, sdk.TypeBool, sdk.TypeDuration}
	if depth > 0 {
		kinds = append(kinds, sdk.TypeList, sdk.TypeMap)
	}
	switch k := rapid.SampledFrom(kinds).Draw(t, "kind"); k {
	case sdk.TypeList:
		return sdk.ListOf(drawType(t, depth-1))
	case sdk.TypeMap:
		return sdk.MapOf(drawType(t, depth-1))
	default:
		return sdk.Type{Kind: k}
	}
}

// drawValue draws a value of type ty: as HCL writes it, and as the
// decoded JSON should hold it.
func drawValue(t *rapid.T, ty sdk.Type) (cty.Value, any) {
	switch ty.Kind {
	case sdk.TypeString:
		// Any text, template sequences and quotes included: hclwrite
		// escapes them.
		s := rapid.StringMatching(`[a-zA-Z0-9 _.:/$%{}"\\-]{0,12}`).Draw(t, "string")
		return cty.StringVal(s), s
	case sdk.TypeInt:
		n := rapid.Int64Range(-1<<53, 1<<53).Draw(t, "int")
		return cty.NumberIntVal(n), float64(n)
	case sdk.TypeFloat:
		// Quarters are exact in binary and in the decimal HCL writes.
		f := float64(rapid.IntRange(-1_000_000, 1_000_000).Draw(t, "quarters")) / 4
		return cty.NumberFloatVal(f), f
	case sdk.TypeBool:
		b := rapid.Bool().Draw(t, "bool")
		return cty.BoolVal(b), b
	case sdk.TypeDuration:
		d := rapid.SampledFrom([]string{"0s", "1s", "250ms", "1m30s", "2h", "15us"}).Draw(t, "duration")
		return cty.StringVal(d), d
	case sdk.TypeList:
		n := rapid.IntRange(0, 3).Draw(t, "len")
		vals, out := make([]cty.Value, n), make([]any, n)
		for i := range n {
			vals[i], out[i] = drawValue(t, *ty.Elem)
		}
		if n == 0 {
			return cty.ListValEmpty(elemType(*ty.Elem)), out
		}
		return cty.ListVal(vals), out
	case sdk.TypeMap:
		keys := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z][a-z0-9_]{0,5}`), 0, 3, rapid.ID[string]).Draw(t, "keys")
		vals, out := make(map[string]cty.Value, len(keys)), make(map[string]any, len(keys))
		for _, k := range keys {
			vals[k], out[k] = drawValue(t, *ty.Elem)
		}
		if len(keys) == 0 {
			return cty.MapValEmpty(elemType(*ty.Elem)), out
		}
		return cty.MapVal(vals), out
	}
	t.Fatalf("no values of type %s", ty)
	return cty.NilVal, nil
}

// elemType is the cty type HCL writes values of ty as.
func elemType(ty sdk.Type) cty.Type {
	switch ty.Kind {
	case sdk.TypeString, sdk.TypeDuration:
		return cty.String
	case sdk.TypeInt, sdk.TypeFloat:
		return cty.Number
	case sdk.TypeBool:
		return cty.Bool
	case sdk.TypeList:
		return cty.List(elemType(*ty.Elem))
	}
	return cty.Map(elemType(*ty.Elem))
}

// wrongValue returns a value that does not convert to ty.
func wrongValue(ty sdk.Type) cty.Value {
	switch ty.Kind {
	case sdk.TypeString, sdk.TypeDuration:
		return cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.True})
	case sdk.TypeInt, sdk.TypeFloat:
		return cty.StringVal("not a number")
	case sdk.TypeBool:
		return cty.StringVal("maybe")
	case sdk.TypeList:
		return cty.True
	}
	return cty.NumberIntVal(7)
}

// roundTrip is the property.
func roundTrip(t *rapid.T) {
	n := rapid.IntRange(1, 6).Draw(t, "attributes")
	var schema sdk.Schema
	f := hclwrite.NewEmptyFile()
	body := f.Body().AppendNewBlock("resource", []string{"thing", "x"}).Body()
	want := map[string]any{}
	vals := make([]cty.Value, n)
	for i := range n {
		a := sdk.Attribute{Name: "a" + strconv.Itoa(i), Type: drawType(t, 2), Required: rapid.Bool().Draw(t, "required")}
		set := a.Required || rapid.Bool().Draw(t, "set")
		if !a.Required && rapid.Bool().Draw(t, "has_default") {
			_, def := drawValue(t, a.Type)
			raw, err := json.Marshal(def)
			if err != nil {
				t.Fatal(err)
			}
			a.Default = raw
			want[a.Name] = def
		}
		schema.Attributes = append(schema.Attributes, a)
		if set {
			vals[i], want[a.Name] = drawValue(t, a.Type)
			body.SetAttributeValue(a.Name, vals[i])
		}
	}
	text := string(f.Bytes())
	cfg, _ := loadText(t, text)
	if diags := cfg.DecodeResources(map[string]sdk.Schema{"thing": schema}); diags.HasErrors() {
		t.Fatalf("decoding\n%s\nagainst %+v:\n%s", text, schema, formatAll(diags))
	}
	var got, wantJSON any
	if err := json.Unmarshal(cfg.Resources[0].Config, &got); err != nil {
		t.Fatalf("decoded configuration %s: %v", cfg.Resources[0].Config, err)
	}
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &wantJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantJSON) {
		t.Fatalf("decoded\n%s\nas %s, want %s", text, cfg.Resources[0].Config, raw)
	}

	// The same body with one attribute of the wrong type.
	i := rapid.IntRange(0, n-1).Draw(t, "wrong")
	a := schema.Attributes[i]
	body.SetAttributeValue(a.Name, wrongValue(a.Type))
	text = string(f.Bytes())
	// The attribute's line, as HCL parses it (a map value's key of the
	// same name on another line must not be taken for it).
	line := 0
	parsed, pdiags := hclsyntax.ParseConfig([]byte(text), "main.hcl", hcl.InitialPos)
	if pdiags.HasErrors() {
		t.Fatalf("parse\n%s\n%s", text, pdiags)
	}
	for _, b := range parsed.Body.(*hclsyntax.Body).Blocks {
		if attr := b.Body.Attributes[a.Name]; attr != nil {
			line = attr.SrcRange.Start.Line
		}
	}
	cfg, path := loadText(t, text)
	diags := cfg.DecodeResources(map[string]sdk.Schema{"thing": schema})
	if len(diags) != 1 || cfg.Resources[0].Config != nil {
		t.Fatalf("decoding\n%s\nwith %s of the wrong type for %s: %d diagnostics, configuration %s:\n%s", text, a.Name, a.Type, len(diags), cfg.Resources[0].Config, formatAll(diags))
	}
	msg := config.FormatDiagnostic(diags[0])
	at := fmt.Sprintf("%s:%d:", path, line)
	if !strings.HasPrefix(msg, at) || !strings.Contains(msg, strconv.Quote(a.Name)) || !strings.Contains(msg, "Incorrect attribute value type") {
		t.Fatalf("wrong type for %s (%s) reported as %q, want it at %s and naming the attribute", a.Name, a.Type, msg, at)
	}
}

// loadText loads text as a configuration file.
func loadText(t *rapid.T, text string) (*config.Config, string) {
	dir, err := os.MkdirTemp("", "hcl-roundtrip-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path, environ(nil))
	if cfg == nil || diags.HasErrors() || len(cfg.Resources) != 1 {
		t.Fatalf("loading\n%s\n%s", text, formatAll(diags))
	}
	return cfg, path
}

// TestHCLRoundTripProperty checks that values of random schemas decode as
// written, and that a value of the wrong type is reported where it is.
func TestHCLRoundTripProperty(t *testing.T) {
	rapid.Check(t, roundTrip)
}
