package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints, on any run and in either mode.
const want = `greeting = {"value":"hello","found":true}
missing = {"found":false}
incr greeting: invalid argument, as expected
visits = 1
`

// quickstart is the configuration the program runs by default, as seen
// from this directory.
const quickstart = "../quickstart"

// With -in-process, the program serves every resource of the quickstart
// (memory, localfs and sqlite) from the drivers compiled into it: its
// plugin directory is empty, and no other directory the host searches
// holds a plugin, so a type left to a plugin would fail the start.
func TestEmbedInProcessNeedsNoPluginBinary(t *testing.T) {
	// The quickstart's localfs root, which the host creates.
	t.Setenv("NEBULA_VAR_files_root", filepath.Join(t.TempDir(), "files"))
	empty := t.TempDir()
	var out bytes.Buffer
	if err := run(t.Context(), quickstart, empty, true, &out); err != nil {
		t.Fatalf("run -in-process with an empty plugin directory: %v\nprinted:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}

	// The same without -in-process fails: no plugin offers the types.
	out.Reset()
	err := run(t.Context(), quickstart, empty, false, &out)
	for _, typ := range []string{"memory", "localfs", "sqlite"} {
		if msg := fmt.Sprintf("No plugin offers the resource type %q", typ); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("run without -in-process and an empty plugin directory: %v; want an error that says %s", err, msg)
		}
	}
}

// Without -in-process, the same program starts the plugin binaries built
// from this checkout and prints the same.
func TestEmbedWithPluginBinaries(t *testing.T) {
	t.Setenv("NEBULA_VAR_files_root", filepath.Join(t.TempDir(), "files"))
	dir := t.TempDir()
	for _, name := range []string{"memory", "localfs", "sqlite"} {
		bin := "nebula-plugin-" + name
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, bin),
			"github.com/nebula-resource/nebula-resource/plugins/"+name+"/cmd/"+bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", bin, err, out)
		}
	}
	var out bytes.Buffer
	if err := run(t.Context(), quickstart, dir, false, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
}
