package host_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/config"
)

// binDir holds the plugin binaries the tests run, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nebula-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	flag.Parse()
	// A fuzzing run (its coordinator and every worker process) runs only
	// the fuzz targets, which need no plugin binary: building four of
	// them in each process would eat the fuzzing time.
	fuzzing := flag.Lookup("test.fuzz").Value.String() != "" || flag.Lookup("test.fuzzworker").Value.String() == "true"
	if !fuzzing {
		if err := buildPlugins(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

func buildPlugins(dir string) error {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	modRoot := filepath.Dir(strings.TrimSpace(string(root)))
	targets := map[string]string{
		"nebula-plugin-probe":    "./host/internal/testplugin",
		"nebula-plugin-memory":   "./plugins/memory/cmd/nebula-plugin-memory",
		"nebula-plugin-localfs":  "./plugins/localfs/cmd/nebula-plugin-localfs",
		"nebula-plugin-postgres": "./plugins/postgres/cmd/nebula-plugin-postgres",
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(targets))
	for name, pkg := range targets {
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
			cmd.Dir = modRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("build %s: %v\n%s", pkg, err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func pluginPath(name string) string { return filepath.Join(binDir, "nebula-plugin-"+name) }

// loadHCL writes src to a file in a temp dir and loads it.
func loadHCL(t *testing.T, src string, opts ...config.Option) *config.Config {
	t.Helper()
	return loadHCLB(t, src, opts...)
}

func loadHCLB(t testing.TB, src string, opts ...config.Option) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir, opts...)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = config.WriteDiagnostics(&buf, cfg.Files, diags, false)
		t.Fatalf("load config:\n%s", buf.String())
	}
	return cfg
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
