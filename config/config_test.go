package config_test

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// schemas is the fixed set of resource types the tests decode against, as
// plugins would publish them.
var schemas = map[string]sdk.Schema{
	"memory": {Attributes: []sdk.Attribute{
		{Name: "max_entries", Type: sdk.Int},
		{Name: "default_ttl", Type: sdk.Duration, Default: json.RawMessage(`"1m"`)},
		{Name: "name", Type: sdk.String, Required: true},
		{Name: "password", Type: sdk.String, Sensitive: true},
	}},
	"localfs": {Attributes: []sdk.Attribute{
		{Name: "root", Type: sdk.String, Required: true},
		{Name: "home", Type: sdk.String},
		{Name: "tags", Type: sdk.ListOf(sdk.String)},
		{Name: "mode", Type: sdk.Int, Default: json.RawMessage(`420`)},
		{Name: "limits", Type: sdk.MapOf(sdk.Int)},
	}},
}

// environ returns a lookup function over a fixed environment, so that the
// tests do not depend on the real one.
func environ(env map[string]string) config.Option {
	return config.WithEnviron(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
}

// load loads path and decodes its resources, returning every diagnostic.
func load(t *testing.T, path string, opts ...config.Option) (*config.Config, hcl.Diagnostics) {
	t.Helper()
	cfg, diags := config.Load(path, opts...)
	if cfg == nil {
		t.Fatalf("Load(%q) returned a nil Config", path)
	}
	if !diags.HasErrors() {
		diags = append(diags, cfg.DecodeResources(schemas)...)
	}
	return cfg, diags
}

// mustLoad loads path and decodes its resources, failing on any error.
func mustLoad(t *testing.T, path string, opts ...config.Option) *config.Config {
	t.Helper()
	cfg, diags := load(t, path, opts...)
	if diags.HasErrors() {
		t.Fatalf("loading %s:\n%s", path, formatAll(diags))
	}
	return cfg
}

func formatAll(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(config.FormatDiagnostic(d))
		b.WriteByte('\n')
	}
	return b.String()
}
