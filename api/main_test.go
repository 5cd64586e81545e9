package api_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The tests run a real host: nebula-host and its memory and localfs
// plugins, built from this repository (the module above this one) into a
// temporary directory laid out as make build lays out bin/.
var (
	// binDir holds nebula-host and plugins/nebula-plugin-*.
	binDir string
	// addr is the admin address of the host TestMain runs for every test:
	// resources memory.cache and localfs.files.
	addr string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nebula-api-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var stop func()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		if stop != nil {
			stop()
		}
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = filepath.Join(dir, "bin")
	if err := build(binDir); err != nil {
		fail(err)
	}
	if addr, stop, err = runHost(filepath.Join(dir, "main"), mainConfig, false); err != nil {
		fail(err)
	}
	// The examples read the address as nebula-host call does.
	os.Setenv("NEBULA_ADDR", addr)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		stop()
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// mainConfig is the configuration of the host every test shares; %s is
// the admin address, %s the localfs root.
const mainConfig = `
admin { address = %q }
resource "memory" "cache" {}
resource "localfs" "files" {
  root        = %q
  create_root = true
}
`

// build compiles nebula-host and the plugins the tests use into dir.
func build(dir string) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(b, []byte("module github.com/nebula-resource/nebula-resource\n")) {
		return fmt.Errorf("the repository's go.mod is not at %s (%v)", root, err)
	}
	builds := [][]string{{"-o", filepath.Join(dir, "nebula-host"), "./cmd/nebula-host"}}
	for _, p := range []string{"memory", "localfs"} {
		name := "nebula-plugin-" + p
		builds = append(builds, []string{"-o", filepath.Join(dir, "plugins", name), "./plugins/" + p + "/cmd/" + name})
	}
	for _, args := range builds {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// runHost starts nebula-host run with config (formatted with a free
// admin address and a localfs root) in dir, waits until its admin
// endpoint answers, and returns the address and a func that stops it.
// With partial, resources that fail to start do not stop the host.
func runHost(dir, config string, partial bool) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	a := ln.Addr().String()
	ln.Close()
	path := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(path, fmt.Appendf(nil, config, a, filepath.Join(dir, "files")), 0o644); err != nil {
		return "", nil, err
	}
	log, err := os.Create(filepath.Join(dir, "host.log"))
	if err != nil {
		return "", nil, err
	}
	defer log.Close() // the child has its own copy
	args := []string{"run", "-config", path}
	if partial {
		args = append(args, "-partial-start")
	}
	cmd := exec.Command(filepath.Join(binDir, "nebula-host"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	// The endpoint listens once the resources have started.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get("http://" + a + "/livez")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(filepath.Join(dir, "host.log"))
			return "", nil, fmt.Errorf("nebula-host did not answer on %s within 30s: %v\n%s", a, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startHost runs a host of config for one test, stopped at its end.
func startHost(t *testing.T, config string, partial bool) string {
	t.Helper()
	a, stop, err := runHost(t.TempDir(), config, partial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return a
}
