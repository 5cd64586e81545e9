package config_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// An attribute of type json takes any HCL value, and the driver gets it
// as JSON: objects, tuples, numbers, strings, bools and nulls, nested.
func TestJSONAttributesTakeAnyValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeFile(t, path, `resource "docs" "orders" {
  filter = { status = "open", total = { "$gt" = 100.5 }, tags = ["a", 1, true, null] }
  docs   = [{ sku = "x" }, "plain", 3]
  name   = "a"
}
`)
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(formatAll(diags))
	}
	schemas := map[string]sdk.Schema{"docs": {Attributes: []sdk.Attribute{
		{Name: "filter", Type: sdk.JSON},
		{Name: "docs", Type: sdk.ListOf(sdk.JSON)},
		{Name: "name", Type: sdk.JSON},
	}}}
	if diags := cfg.DecodeResources(schemas); diags.HasErrors() {
		t.Fatal(formatAll(diags))
	}
	var got, want any
	if err := json.Unmarshal(cfg.Resource("docs.orders").Config, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(`{"filter":{"status":"open","total":{"$gt":100.5},"tags":["a",1,true,null]},"docs":[{"sku":"x"},"plain",3],"name":"a"}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config %s", cfg.Resource("docs.orders").Config)
	}
	if !strings.Contains(string(cfg.Resource("docs.orders").Config), `"$gt":100.5`) {
		t.Fatalf("config %s", cfg.Resource("docs.orders").Config)
	}
}

// A list or map of json still wants a list or a map.
func TestJSONCollectionsWantTheirShape(t *testing.T) {
	for src, want := range map[string]string{
		`docs = "x"`:      `Attribute "docs" wants list(json), got string`,
		`labels = [1, 2]`: `Attribute "labels" wants map(json), got tuple`,
	} {
		path := filepath.Join(t.TempDir(), "main.hcl")
		writeFile(t, path, "resource \"docs\" \"orders\" {\n  "+src+"\n}\n")
		cfg, diags := config.Load(path)
		if diags.HasErrors() {
			t.Fatal(formatAll(diags))
		}
		diags = cfg.DecodeResources(map[string]sdk.Schema{"docs": {Attributes: []sdk.Attribute{
			{Name: "docs", Type: sdk.ListOf(sdk.JSON)},
			{Name: "labels", Type: sdk.MapOf(sdk.JSON)},
		}}})
		if !diags.HasErrors() || !strings.Contains(formatAll(diags), want) {
			t.Errorf("%s: %s, want %q", src, formatAll(diags), want)
		}
	}
}
