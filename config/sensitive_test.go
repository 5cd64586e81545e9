package config_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

const canary = "canary-s3cr3t-value"

// TestSensitiveValuesNeverAppearInDiagnostics loads a configuration that
// misuses a sensitive variable in every way it can fail, and checks that
// no output format shows its value.
func TestSensitiveValuesNeverAppearInDiagnostics(t *testing.T) {
	types := map[string]sdk.Schema{
		"memory": schemas["memory"],
		"echo": {Attributes: []sdk.Attribute{
			{Name: "text", Type: sdk.String},
			{Name: "count", Type: sdk.Int},
			{Name: "ratio", Type: sdk.Float},
			{Name: "items", Type: sdk.ListOf(sdk.Int)},
			{Name: "labels", Type: sdk.MapOf(sdk.String)},
			{Name: "ttls", Type: sdk.MapOf(sdk.Duration)},
			{Name: "more", Type: sdk.String},
			{Name: "format", Type: sdk.String},
		}},
	}
	sources := map[string][]config.Option{
		"WithVariables": {config.WithVariables(map[string]string{"secret": canary}), environ(nil)},
		"environment":   {environ(map[string]string{"NEBULA_VAR_secret": canary})},
	}
	for name, opts := range sources {
		t.Run(name, func(t *testing.T) {
			cfg, diags := config.Load("testdata/canary/canary.hcl", opts...)
			diags = append(diags, cfg.DecodeResources(types)...)
			if len(diags) < 10 {
				t.Fatalf("want many diagnostics, got:\n%s", formatAll(diags))
			}
			for _, d := range diags {
				if d.Expression != nil || d.EvalContext != nil {
					t.Errorf("diagnostic carries an expression or context: %s", config.FormatDiagnostic(d))
				}
			}
			t.Logf("diagnostics:\n%s", formatAll(diags))

			var text, js bytes.Buffer
			if err := config.WriteDiagnostics(&text, cfg.Files, diags, true); err != nil {
				t.Fatal(err)
			}
			if err := config.WriteDiagnosticsJSON(&js, cfg.Files, diags); err != nil {
				t.Fatal(err)
			}
			outputs := map[string]string{
				"FormatDiagnostic":     formatAll(diags),
				"WriteDiagnostics":     text.String(),
				"WriteDiagnosticsJSON": js.String(),
				"Error":                diags.Error(),
			}
			for format, out := range outputs {
				// The canary and any recognisable part of it.
				for _, leak := range []string{canary, "s3cr3t", "canary-"} {
					if strings.Contains(out, leak) {
						t.Errorf("%s output contains %q:\n%s", format, leak, out)
					}
				}
			}
			// The unmarked value is still available to the host.
			if v := cfg.Variables[0]; !v.Sensitive || v.Value.AsString() != canary || v.Value.IsMarked() {
				t.Errorf("var.secret = %#v (sensitive %v), want the unmarked canary", v.Value, v.Sensitive)
			}
		})
	}
}

// TestSensitiveAttributeValueIsNotShown checks that an attribute the schema
// marks sensitive never has its value shown, even from a literal.
func TestSensitiveAttributeValueIsNotShown(t *testing.T) {
	types := map[string]sdk.Schema{"vault": {Attributes: []sdk.Attribute{
		{Name: "token", Type: sdk.Int, Sensitive: true},
		{Name: "lease", Type: sdk.Duration, Sensitive: true},
		{Name: "plain", Type: sdk.Int},
	}}}
	path := t.TempDir() + "/vault.hcl"
	writeFile(t, path, `
resource "vault" "v" {
  token = 12.75
  lease = "forever-`+canary+`"
  plain = 1.5
}
`)
	cfg, diags := config.Load(path, environ(nil))
	diags = append(diags, cfg.DecodeResources(types)...)
	got := formatAll(diags)
	want := []string{
		path + `:3:11: error: Incorrect attribute value type; Attribute "token" wants a whole number.`,
		path + `:4:11: error: Invalid duration; The value (sensitive, not shown) is not a duration; write a number with a unit, such as "10s", "250ms" or "1m30s".`,
		path + `:5:11: error: Incorrect attribute value type; Attribute "plain" wants a whole number, got 1.5.`,
	}
	if got != strings.Join(want, "\n")+"\n" {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestSensitiveValueReachesConfig checks that a sensitive value decodes
// into the JSON for the plugin, unmarked.
func TestSensitiveValueReachesConfig(t *testing.T) {
	path := t.TempDir() + "/ok.hcl"
	writeFile(t, path, `
variable "pw" {
  sensitive = true
}
resource "memory" "m" {
  name     = "m"
  password = "${var.pw}!"
}
`)
	cfg := mustLoad(t, path, config.WithVariables(map[string]string{"pw": "hunter2"}), environ(nil))
	var got map[string]any
	if err := json.Unmarshal(cfg.Resource("memory.m").Config, &got); err != nil {
		t.Fatal(err)
	}
	if got["password"] != "hunter2!" {
		t.Errorf("password = %v", got["password"])
	}
}
