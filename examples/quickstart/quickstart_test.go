// Package quickstart_test runs the quickstart as make run does: the host
// and the plugins built from this checkout, the plugins in plugins/
// beside nebula-host (bin/plugins/ beside bin/nebula-host), main.hcl as it
// is, and no server but the host's own. Then it calls it as the README
// does, with nebula-host from another process.
package quickstart_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildHost builds nebula-host and the quickstart's plugins into a
// temporary directory laid out as make build lays out bin/, and returns
// the path of nebula-host.
func buildHost(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkgs := map[string]string{filepath.Join(dir, "nebula-host"): "github.com/nebula-resource/nebula-resource/cmd/nebula-host"}
	for _, name := range []string{"memory", "localfs", "sqlite"} {
		bin := "nebula-plugin-" + name
		pkgs[filepath.Join(dir, "plugins", bin)] = "github.com/nebula-resource/nebula-resource/plugins/" + name + "/cmd/" + bin
	}
	for out, pkg := range pkgs {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return filepath.Join(dir, "nebula-host")
}

// freeAddress returns a loopback address no one listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestQuickstartValidatesAndServes validates main.hcl, serves it with
// nebula-host run in a fresh working directory (where localfs.files makes
// its root, .data/files), and performs the calls of the README with
// nebula-host call and health. The admin endpoint listens on a free port
// (-admin) rather than main.hcl's 127.0.0.1:9464, which a make run may
// hold.
func TestQuickstartValidatesAndServes(t *testing.T) {
	host := buildHost(t)
	conf, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(host, "validate", conf).CombinedOutput()
	if err != nil || string(out) != "Success! The configuration is valid.\n" {
		t.Fatalf("nebula-host validate %s: %v\n%s", conf, err, out)
	}

	work := t.TempDir()
	addr := freeAddress(t)
	run := exec.Command(host, "run", "-config", conf, "-admin", addr)
	run.Dir = work
	logPath := filepath.Join(t.TempDir(), "host.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	run.Stdout, run.Stderr = log, log
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	hostLog := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}
	// stop interrupts the host, as Ctrl-C does, and returns how it
	// exited; one that has not within 15s is killed.
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		if err := run.Process.Signal(os.Interrupt); err != nil {
			return err
		}
		select {
		case err := <-exited:
			return err
		case <-time.After(15 * time.Second):
			_ = run.Process.Kill()
			<-exited
			return errors.New("not stopped 15s after the interrupt: killed")
		}
	}
	defer func() { _ = stop() }()

	// make run prints the host's log; the host is ready once /readyz
	// answers 200.
	ready := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("nebula-host run exited before it was ready: %v\n%s", err, hostLog())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(ready) {
			t.Fatalf("nebula-host run not ready after 60s\n%s", hostLog())
		}
	}

	// The calls of the README, from another process, as another terminal
	// makes them: NEBULA_ADDR says where the host listens.
	t.Setenv("NEBULA_ADDR", addr)
	nebula := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(host, args...)
		cmd.Dir = work
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("nebula-host %s: %v\n%s%s\nthe host's log:\n%s", strings.Join(args, " "), err, out, stderr, hostLog())
		}
		return string(out)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  []string // in the output, spaces and line breaks removed
	}{
		{"", []string{"call", "memory.cache", "set", `{"key":"a","value":"1"}`}, []string{`{"ok":true}`}},
		{"", []string{"call", "memory.cache", "get", `{"key":"a"}`}, []string{`{"value":"1","found":true}`}},
		{"hello\n", []string{"call", "-in", "-", "localfs.files", "put", `{"key":"hello.txt"}`}, []string{`"key":"hello.txt","size":6`}},
		{"", []string{"call", "-stream", "localfs.files", "get", `{"key":"hello.txt"}`}, []string{`hello`}},
		{"", []string{"call", "sqlite.db", "exec", `{"sql":"CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)"}`}, []string{`"rows_affected":0`}},
		{"", []string{"call", "sqlite.db", "exec", `{"sql":"INSERT INTO notes(body) VALUES (?)","args":["hi"]}`}, []string{`"rows_affected":1`}},
		{"", []string{"call", "sqlite.db", "query", `{"sql":"SELECT id, body FROM notes"}`}, []string{`"rows":[[1,"hi"]]`}},
		{"", []string{"health"}, []string{"memory.cache", "localfs.files", "sqlite.db", "Overall:"}},
	} {
		got := nebula(c.stdin, c.args...)
		flat := strings.Join(strings.Fields(got), "")
		for _, want := range c.want {
			if !strings.Contains(flat, want) {
				t.Errorf("nebula-host %s printed\n%s\nwant it to hold %s", strings.Join(c.args, " "), got, want)
			}
		}
	}
	// localfs.files serves .data/files under the working directory, which
	// it created (create_root = true), as make run's does under the
	// repository's root.
	if b, err := os.ReadFile(filepath.Join(work, ".data", "files", "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf(".data/files/hello.txt holds %q (%v); want the file put through localfs.files", b, err)
	}

	// Ctrl-C, as in the terminal of make run: the host stops and exits 0.
	if err := stop(); err != nil {
		t.Errorf("nebula-host run, interrupted: %v\n%s", err, hostLog())
	}
	if !strings.Contains(hostLog(), `msg=stopped`) {
		t.Errorf("the host's log does not end with msg=stopped:\n%s", hostLog())
	}
}
