package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/config/pluginlock"
)

func TestLoadReadsThePluginLockFileBesideTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(main, []byte("resource \"memory\" \"m\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, pluginlock.FileName)
	for _, path := range []string{dir, main} {
		cfg, diags := config.Load(path)
		if diags.HasErrors() || cfg.Lock != nil {
			t.Fatalf("Load(%s) without a lock file: Lock %v, %v", path, cfg.Lock, diags)
		}
	}

	src := "plugin \"memory\" {\n  version  = \"0.2.0\"\n  protocol = 2\n  sha256   = { linux_amd64 = \"" + strings.Repeat("ab", 32) + "\" }\n}\n"
	if err := os.WriteFile(lock, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, main} {
		cfg, diags := config.Load(path)
		if diags.HasErrors() {
			t.Fatalf("Load(%s): %v", path, diags)
		}
		if p := cfg.Lock.Plugin("memory"); p == nil || p.Version != "0.2.0" || cfg.Lock.Path != lock {
			t.Errorf("Load(%s): Lock = %+v", path, cfg.Lock)
		}
	}

	// An invalid lock file is an invalid configuration, shown with its
	// source line.
	if err := os.WriteFile(lock, []byte(strings.Replace(src, "protocol = 2", "protocol = 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir)
	if !diags.HasErrors() {
		t.Fatal("Load with protocol = 0 in the lock file: no error")
	}
	var buf bytes.Buffer
	if err := config.WriteDiagnostics(&buf, cfg.Files, diags, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Invalid protocol") || !strings.Contains(buf.String(), "3:   protocol = 0") {
		t.Errorf("diagnostics do not show the lock file's line:\n%s", buf.String())
	}
	if got := config.FormatDiagnostic(diags[0]); !strings.HasPrefix(got, lock+":3:14: error: Invalid protocol") {
		t.Errorf("FormatDiagnostic = %q", got)
	}
}
