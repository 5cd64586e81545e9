package scaffold

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sdkDir is this checkout's SDK.
func sdkDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "sdk")
}

func TestBadOptionsAreRefusedWithTheirReason(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{Name: "Demo"}, `plugin name "Demo": use lowercase letters`},
		{Options{Name: "9lives"}, "starting with a letter"},
		{Options{Name: "my-plugin"}, "lowercase letters, digits and underscores"},
		{Options{Name: "demo", Capability: "nosql"}, `capability "nosql": choose one of kv, sql, or none`},
		{Options{Name: "demo", Module: "has space/x"}, `module path "has space/x" is not a module path`},
		{Options{Name: "demo", SDKDir: t.TempDir()}, "no go.mod there"},
	} {
		_, err := Write(t.TempDir(), tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Write(%+v) = %v, want an error saying %q", tt.o, err, tt.want)
		}
	}
}

func TestItWritesOverNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Write(dir, Options{Name: "demo"})
	if err == nil || !strings.Contains(err.Error(), "already holds go.mod") {
		t.Fatalf("Write into a module = %v, want a refusal naming go.mod", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); string(b) != "module mine\n" {
		t.Fatalf("go.mod was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); !os.IsNotExist(err) {
		t.Fatalf("main.go was written beside the refusal: %v", err)
	}
}

func TestGoModRequiresTheSDKAsAsked(t *testing.T) {
	for _, tt := range []struct {
		o           Options
		want, wantN []string
	}{
		{Options{Name: "a", SDKVersion: "v1.2.3"}, []string{"module example.com/nebula-plugin-a\n", "require " + SDKModule + " v1.2.3\n"}, []string{"replace"}},
		{Options{Name: "a", Module: "github.com/you/p", SDKDir: sdkDir(t)}, []string{"module github.com/you/p\n", "require " + SDKModule + " v0.0.0\n", "replace " + SDKModule + " => /"}, nil},
		{Options{Name: "a"}, []string{"go 1.25.0\n"}, []string{"require", "replace"}},
	} {
		dir := t.TempDir()
		if _, err := Write(dir, tt.o); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%+v: go.mod has no %q:\n%s", tt.o, w, b)
			}
		}
		for _, w := range tt.wantN {
			if strings.Contains(string(b), w) {
				t.Errorf("%+v: go.mod has %q:\n%s", tt.o, w, b)
			}
		}
	}
}

// TestStandInsRequireWhatTheHostRequires: a stand-in backend's module is
// at the version of the host's go.mod, so that whoever built the host
// has it in the module cache.
func TestStandInsRequireWhatTheHostRequires(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for c, s := range standIns {
		for _, r := range s.Require {
			if !strings.Contains(string(b), "\t"+r+"\n") {
				t.Errorf("the %s stand-in requires %s, which the host's go.mod does not", c, r)
			}
		}
	}
}

// TestEveryCapabilityBuildsAndPassesItsTests writes the plugin of every
// capability, and none, and runs go vet and its tests there (the
// conformance checks in process; cmd/nebula-host's tests run the binary's
// too, through the host).
func TestEveryCapabilityBuildsAndPassesItsTests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins")
	}
	for _, c := range append([]string{""}, Capabilities...) {
		name := "plain"
		if c != "" {
			name = "with_" + c
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files, err := Write(dir, Options{Name: name, Capability: c, SDKDir: sdkDir(t)})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasSuffix(f, ".go") {
					if _, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, f), nil, parser.ParseComments); err != nil {
						t.Errorf("%s: %v", f, err)
					}
				}
			}
			for _, args := range [][]string{{"mod", "tidy"}, {"vet", "./..."}, {"test", "-short", "./..."}} {
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}
