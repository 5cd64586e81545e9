package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// edited are the files of the scaffold that were changed to make the
// greeter (README.md, "How it was made"); every other file the scaffold
// writes is here as it wrote it.
var edited = map[string]bool{
	"README.md":               true,
	"greeter/greeter.go":      true,
	"greeter/greeter_test.go": true,
}

// TestMadeWithPluginNew holds this module to what it was made with: the
// repository's nebula-host plugin new greeter, which the test runs again
// into a temporary directory. Every file it writes must be here, and those
// not edited since must be byte for byte what it writes, go.mod and go.sum
// included (the replace directive's path aside: the scaffold writes the
// SDK's absolute path, this module has ../../sdk). A plugin of your own
// has no need of this test: delete it.
func TestMadeWithPluginNew(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "nebula-host", "plugin.go")); err != nil {
		t.Skipf("not in the nebula-resource repository: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "./cmd/nebula-host", "plugin", "new", "greeter", "-dir", dir, "-sdk", "sdk")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nebula-host plugin new greeter: %v\n%s", err, out)
	}
	var written []string
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		written = append(written, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) == 0 {
		t.Fatalf("nebula-host plugin new greeter wrote nothing into %s", dir)
	}
	for _, name := range written {
		got, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Errorf("nebula-host plugin new writes %s, which this module lacks: %v", name, err)
			continue
		}
		if edited[name] {
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "go.mod" {
			sdk := filepath.Join(root, "sdk")
			if !bytes.Contains(want, []byte("=> "+sdk+"\n")) {
				t.Fatalf("the scaffold's go.mod does not replace the SDK with %s:\n%s", sdk, want)
			}
			want = bytes.Replace(want, []byte("=> "+sdk+"\n"), []byte("=> ../../sdk\n"), 1)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what nebula-host plugin new greeter writes; make it so again, or list it in edited and say why in README.md.\nhere:\n%s\nthe scaffold's:\n%s",
				name, got, want)
		}
	}
	t.Logf("nebula-host plugin new greeter writes %s; edited since: %d of them", strings.Join(written, ", "), len(edited))
}
