package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginNewWritesAPluginThatLoads does what a plugin author does:
// nebula-host plugin new demo -capability kv in an empty folder, then go
// test and go build there, then a host config that pins the binary's
// sha256, and calls through the running host; nothing is edited between.
// The module builds against this checkout's SDK (-sdk), as a plugin does
// against an SDK that is not released.
func TestPluginNewWritesAPluginThatLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inDir := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := inDir(hostBinary(), "plugin", "new", "demo", "-capability", "kv", "-sdk", filepath.Join(moduleRoot, "sdk"))
	for _, f := range []string{"go.mod", "go.sum", "main.go", "Makefile", "README.md", "demo/demo.go", "demo/store.go", "demo/demo_test.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("plugin new wrote no %s:\n%s", f, out)
		}
	}
	out = inDir("go", "test", "./...")
	if !strings.Contains(out, "ok  \texample.com/nebula-plugin-demo/demo") {
		t.Fatalf("go test ran no tests of the driver:\n%s", out)
	}
	inDir("go", "build", "-o", "nebula-plugin-demo", ".")

	bin := filepath.Join(dir, "nebula-plugin-demo")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	conf := t.TempDir()
	addr := freeAddress(t)
	cfg := writeFile(t, conf, "main.hcl", fmt.Sprintf(`
plugin "demo" {
  path   = %q
  sha256 = %q
}

admin {
  address = %q
}

resource "demo" "main" {}
`, bin, hex.EncodeToString(sum[:]), addr))

	r := nebula(t, nil, "describe", "-config", conf, "demo")
	mustExit(t, r, 0, "describe demo")
	for _, op := range []string{"get", "set", "incr", "scan", "default_ttl", "max_keys"} {
		if !strings.Contains(r.stdout, op) {
			t.Errorf("describe demo does not show %s:\n%s", op, r)
		}
	}

	startHost(t, cfg, addr)
	call := func(op, args string) string {
		t.Helper()
		r := nebula(t, nil, "call", "-addr", addr, "demo.main", op, args)
		mustExit(t, r, 0, "call "+op)
		return r.stdout
	}
	call("set", `{"key":"greeting","value":"hello"}`)
	if got := call("get", `{"key":"greeting"}`); !strings.Contains(got, `"value": "hello"`) {
		t.Errorf("get after set = %s", got)
	}
	if got := call("incr", `{"key":"n","by":5}`); !strings.Contains(got, `"value": 5`) {
		t.Errorf("incr = %s", got)
	}
	r = nebula(t, nil, "call", "-addr", addr, "demo.main", "get", `{"key":""}`)
	if r.code != 2 || !strings.Contains(r.stderr, "invalid_argument") {
		t.Errorf("get of an empty key: want exit 2 and invalid_argument\n%s", r)
	}
}
