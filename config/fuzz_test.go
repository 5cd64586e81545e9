package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
)

// fuzzCanary is the value of the sensitive variable "secret" in FuzzLoad.
const fuzzCanary = "Fz-Canary-77"

// FuzzLoad loads and decodes arbitrary configurations, with a sensitive
// variable and a number variable set from the environment, and writes
// their diagnostics every way. It checks that nothing panics, that each
// input is answered within the limits (no hang), that the source kept for
// snippets keeps every line and offset, and that the sensitive variable's
// value never shows unless the source itself holds it. The seed corpus is
// in testdata/fuzz/FuzzLoad; run it with
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 30s ./config
func FuzzLoad(f *testing.F) {
	types := pluginSchemas(f)
	for name, s := range schemas {
		types[name] = s
	}
	f.Add([]byte("resource \"memory\" \"m\" {\n  name = var.secret\n}\n"), "1e9999999")
	f.Fuzz(func(t *testing.T, src []byte, number string) {
		if len(src) > 64<<10 {
			t.Skip("larger than a configuration worth fuzzing")
		}
		path := filepath.Join(t.TempDir(), "main.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		env := environ(map[string]string{"NEBULA_VAR_secret": fuzzCanary, "NEBULA_VAR_n": number})
		start := time.Now()
		cfg, diags := config.Load(path, env)
		diags = append(diags, cfg.DecodeResources(types, config.AlsoKnown("echo"))...)
		// Load and DecodeResources each have an evaluation budget of 10 s;
		// past both, something is unbounded.
		if elapsed := time.Since(start); elapsed > 25*time.Second {
			t.Fatalf("took %s", elapsed)
		}
		var text, js bytes.Buffer
		if err := config.WriteDiagnostics(&text, cfg.Files, diags, true); err != nil {
			t.Fatal(err)
		}
		if err := config.WriteDiagnosticsJSON(&js, cfg.Files, diags); err != nil {
			t.Fatal(err)
		}
		if f := cfg.Files[path]; f != nil {
			if len(f.Bytes) != len(src) || bytes.Count(f.Bytes, []byte("\n")) != bytes.Count(src, []byte("\n")) {
				t.Fatalf("the masked source has other lines or length:\n%q\n%q", src, f.Bytes)
			}
		}
		if !bytes.Contains(src, []byte(fuzzCanary)) && !bytes.Contains([]byte(number), []byte(fuzzCanary)) {
			for _, out := range []string{text.String(), js.String(), formatAll(diags)} {
				if strings.Contains(out, fuzzCanary) {
					t.Fatalf("the sensitive value shows:\n%s", out)
				}
			}
		}
	})
}
