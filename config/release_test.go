package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
)

// TestReleaseSyntaxKeepsDiagnosticsWhole checks that once the syntax
// trees are released, a diagnostic still shows its snippet, masked, and
// the block it is in, and that decoding again is refused with a
// diagnostic rather than done on an empty body.
func TestReleaseSyntaxKeepsDiagnosticsWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	src := "resource \"memory\" \"cache\" {\n  name     = \"c\"\n  password = \"hunter2-secret\"\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, path)
	r := cfg.Resource("memory.cache")
	if r.Body == nil || len(r.Config) == 0 {
		t.Fatalf("before ReleaseSyntax: Body %v, Config %s", r.Body, r.Config)
	}
	cfg.ReleaseSyntax()
	cfg.ReleaseSyntax() // a second call is harmless
	if r.Body != nil {
		t.Errorf("Body = %v after ReleaseSyntax, want nil", r.Body)
	}
	if !strings.Contains(string(r.Config), `"name":"c"`) {
		t.Errorf("Config = %s after ReleaseSyntax, want it kept", r.Config)
	}

	// A diagnostic raised later, such as a driver refusing the password.
	rng := hcl.Range{Filename: path, Start: hcl.Pos{Line: 3, Column: 14, Byte: 57}, End: hcl.Pos{Line: 3, Column: 30, Byte: 73}}
	d := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Password refused", Detail: "The backend refused it.", Subject: &rng}}
	var out bytes.Buffer
	if err := writeDiagnostics(&out, cfg.Files, d); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{`in resource "memory" "cache"`, "password =", "Password refused"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostic after ReleaseSyntax lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "hunter2-secret") {
		t.Errorf("diagnostic after ReleaseSyntax shows the secret:\n%s", text)
	}

	again := cfg.DecodeResources(schemas)
	if !again.HasErrors() || !strings.Contains(again.Error(), "ReleaseSyntax") {
		t.Errorf("DecodeResources after ReleaseSyntax = %v, want an error naming ReleaseSyntax", again)
	}
}

func writeDiagnostics(w *bytes.Buffer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	return config.WriteDiagnostics(w, files, diags, false)
}
