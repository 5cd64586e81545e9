package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
)

// linePrefix matches the file:line:column a golden line must start with.
var linePrefix = regexp.MustCompile(`^testdata/invalid/[a-z0-9_]+\.hcl:\d+:\d+: error: `)

// TestInvalidConfigsMatchGoldenDiagnostics loads every broken file under
// testdata/invalid, decodes its resources, and compares the diagnostics
// with the .golden file next to it. Run with -update to rewrite them.
func TestInvalidConfigsMatchGoldenDiagnostics(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 18 {
		t.Fatalf("want at least 18 invalid inputs, found %d", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			cfg, diags := config.Load(path, environ(map[string]string{"HOME": "/home/test"}))
			// Decode even when Load failed, to show every problem at once.
			diags = append(diags, cfg.DecodeResources(schemas)...)
			if !diags.HasErrors() {
				t.Fatalf("%s loaded without errors", path)
			}
			got := formatAll(diags)
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !linePrefix.MatchString(line) {
					t.Errorf("line lacks file:line:column: %s", line)
				}
			}
			golden := strings.TrimSuffix(path, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
