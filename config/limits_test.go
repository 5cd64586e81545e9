package config_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
)

// TestHugeNumbersAnswerQuickly takes a number too large (or too small) to
// print quickly into a configuration every way one can enter, and checks
// that Load and DecodeResources answer within 2 s (in milliseconds on an
// idle machine) with an error at the right line that names the limit.
// Before the limits, several of these made validate run for minutes.
func TestHugeNumbersAnswerQuickly(t *testing.T) {
	const variable = "variable \"n\" {\n  type = number\n}\n"
	long := strings.Repeat("9", 20_000)
	tests := []struct {
		name string
		src  string
		vars map[string]string // WithVariables
		env  map[string]string // the environment
		line int               // where the error is
		want string            // in the error
	}{
		{name: "literal", src: "resource \"memory\" \"m\" {\n  name        = \"m\"\n  max_entries = 1e9999999\n}\n", line: 3, want: "64-bit float"},
		{name: "tiny literal", src: "resource \"memory\" \"m\" {\n  name = tostring(1e-400)\n}\n", line: 2, want: "64-bit float"},
		{name: "length of tostring", src: "resource \"memory\" \"m\" {\n  name        = \"m\"\n  max_entries = length(tostring(1e9999999))\n}\n", line: 3, want: "64-bit float"},
		{name: "jsonencode", src: "resource \"memory\" \"m\" {\n  name = jsonencode(1e9999999)\n}\n", line: 2, want: "64-bit float"},
		{name: "format %d", src: "resource \"memory\" \"m\" {\n  name = format(\"%d\", 1e9999999)\n}\n", line: 2, want: "64-bit float"},
		{name: "template", src: "resource \"memory\" \"m\" {\n  name = \"${1e9999999}\"\n}\n", line: 2, want: "64-bit float"},
		{name: "string attribute", src: "resource \"memory\" \"m\" {\n  name = 1e9999999\n}\n", line: 2, want: "64-bit float"},
		{name: "in a pool setting", src: "resource \"memory\" \"m\" {\n  name = \"m\"\n  pool {\n    max_size = 1e9999999\n  }\n}\n", line: 4, want: "64-bit float"},
		{name: "variable default", src: "variable \"n\" {\n  type    = number\n  default = 1e9999999\n}\n", line: 3, want: "64-bit float"},
		{name: "variable from the environment", src: variable, env: map[string]string{"NEBULA_VAR_n": "1e9999999"}, line: 1, want: "64-bit float"},
		{name: "variable from -var", src: variable, vars: map[string]string{"n": "1e9999999"}, line: 1, want: "64-bit float"},
		{name: "variable of a list type", src: "variable \"n\" {\n  type = list(number)\n}\n", vars: map[string]string{"n": "[1, -1e9999999]"}, line: 1, want: "64-bit float"},
		{name: "long variable value", src: variable, env: map[string]string{"NEBULA_VAR_n": long}, line: 1, want: "limit of 400"},
		{name: "sensitive variable", src: "variable \"n\" {\n  type      = number\n  sensitive = true\n}\n", env: map[string]string{"NEBULA_VAR_n": "1e9999999"}, line: 1, want: "64-bit float"},
		{name: "long literal", src: "resource \"memory\" \"m\" {\n  name        = \"m\"\n  max_entries = " + long + "\n}\n", line: 3, want: "limit of 400"},
		{name: "tonumber result", src: "resource \"memory\" \"m\" {\n  name = tostring(tonumber(\"1e9999999\"))\n}\n", line: 2, want: "64-bit float"},
		{name: "jsondecode result", src: "resource \"memory\" \"m\" {\n  name = tostring(jsondecode(\"[1e9999999]\")[0])\n}\n", line: 2, want: "64-bit float"},
		{name: "product", src: "resource \"memory\" \"m\" {\n  name = tostring(1e300 * 1e300 * 1e300)\n}\n", line: 2, want: "64-bit float"},
		{name: "quotient", src: "resource \"memory\" \"m\" {\n  name = \"${1e-300 / 1e300}\"\n}\n", line: 2, want: "64-bit float"},
		{name: "product of variables", src: variable + "resource \"memory\" \"m\" {\n  name = tostring(var.n * var.n * var.n * var.n)\n}\n", vars: map[string]string{"n": "1e300"}, line: 5, want: "64-bit float"},
		{name: "variable validation", src: "variable \"n\" {\n  type = number\n  default = 1\n  validation {\n    condition     = length(tostring(var.n * 1e308 * 1e308)) > 0\n    error_message = \"no\"\n  }\n}\n", line: 5, want: "64-bit float"},
		{name: "format width", src: "resource \"memory\" \"m\" {\n  name = format(\"%0999999999d\", 1)\n}\n", line: 2, want: "limit of 1000"},
		{name: "replace growth", src: "resource \"memory\" \"m\" {\n  name = replace(replace(replace(replace(replace(\"aaaaaaaaaaaaaaaaaaaa\", \"a\", \"aaaaaaaaaaaaaaaaaaaa\"), \"a\", \"aaaaaaaaaaaaaaaaaaaa\"), \"a\", \"aaaaaaaaaaaaaaaaaaaa\"), \"a\", \"aaaaaaaaaaaaaaaaaaaa\"), \"a\", \"aaaaaaaaaaaaaaaaaaaa\")\n}\n", line: 2, want: "limit of 4194304 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "main.hcl")
			writeFile(t, path, tt.src)
			start := time.Now()
			cfg, diags := config.Load(path, config.WithVariables(tt.vars), environ(tt.env))
			diags = append(diags, cfg.DecodeResources(schemas)...)
			elapsed := time.Since(start)
			if elapsed > 2*time.Second {
				t.Errorf("took %s", elapsed)
			}
			var found bool
			for _, d := range diags {
				if d.Subject != nil && d.Subject.Start.Line == tt.line && strings.Contains(config.FormatDiagnostic(d), tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error at line %d naming %q:\n%s", tt.line, tt.want, formatAll(diags))
			}
		})
	}
}

// TestNumbersInRangeStillWork checks that the limits leave ordinary numbers,
// and the extremes of the range, alone.
func TestNumbersInRangeStillWork(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeFile(t, path, `
variable "big" {
  type    = number
  default = 1.7e308
}
resource "memory" "m" {
  name        = "${tostring(var.big)}-${format("%.3f", 1e-323)}-${jsonencode(-1.5e300 * 1e5)}"
  max_entries = 1000000 * 1000
}
`)
	cfg := mustLoad(t, path, environ(nil))
	assertJSON(t, cfg.Resource("memory.m").Config, fmt.Sprintf(`{"default_ttl":"1m","max_entries":1000000000,"name":%q}`,
		"17"+strings.Repeat("0", 307)+"-0.000--15"+strings.Repeat("0", 304)))
}

// TestEvaluationBudget checks that an expression that would run for hours
// (for expressions nested over large lists) stops at the budget with an
// error naming it.
func TestEvaluationBudget(t *testing.T) {
	defer config.SetEvalBudget(200 * time.Millisecond)()
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeFile(t, path, `
variable "s" {
  type = string
}
resource "memory" "m" {
  name = length([for a in split(",", var.s) : [for b in split(",", var.s) : [for c in split(",", var.s) : c]]])
}
`)
	start := time.Now()
	cfg, diags := config.Load(path, config.WithVariables(map[string]string{"s": strings.Repeat(",", 5000)}), environ(nil))
	diags = append(diags, cfg.DecodeResources(schemas)...)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("took %s", elapsed)
	}
	if got := formatAll(diags); !strings.Contains(got, "longer than the limit of 200ms") {
		t.Errorf("no error naming the budget:\n%s", got)
	}
}
