package credential_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/credential"
)

// logBuffer collects a store's log records as text.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many records hold s.
func (b *logBuffer) count(s string) int { return strings.Count(b.String(), s) }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// changes counts the OnChange calls by credential.
type changes struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *changes) record(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[name]++
}

func (c *changes) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// newStore returns a store for specs that the test closes when it ends.
func newStore(t *testing.T, specs []credential.Spec, o credential.Options) *credential.Store {
	t.Helper()
	s, err := credential.New(specs, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// start starts s, failing the test on an error.
func start(t *testing.T, s *credential.Store) {
	t.Helper()
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// waitFor polls cond every 10ms until it holds or within runs out.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v in vain for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status returns the status of the credential name.
func status(t *testing.T, s *credential.Store, name string) credential.Status {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("Status has no credential %q", name)
	return credential.Status{}
}

// get returns the value of the credential name, failing the test on an
// error.
func get(t *testing.T, s *credential.Store, name string) credential.Value {
	t.Helper()
	v, err := s.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return v
}

// writeFile writes content to path, failing the test on an error.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content to a temporary file and renames it over
// path, so that no poll of path reads it half written.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	writeFile(t, path+".tmp", content)
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// script writes a shell script into a directory of its own and returns
// its path and the directory. The script starts with helpers:
//
//	dir       the directory
//	run       appends a line to $dir/runs and sets n to the run's number
//	exp N     prints the RFC 3339 time N seconds from now
func script(t *testing.T, body string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "cred.sh")
	head := "#!/bin/sh\n" +
		"dir=" + strconv.Quote(dir) + "\n" +
		`run() { echo run >> "$dir/runs"; n=$(( $(wc -l < "$dir/runs") )); }` + "\n" +
		`exp() { t=$(( $(date +%s) + $1 )); date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$t" +%Y-%m-%dT%H:%M:%SZ; }` + "\n"
	if err := os.WriteFile(path, []byte(head+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// runs returns how many times the script in dir ran.
func runs(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runs"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// shSpec returns an exec spec that runs the script at path with /bin/sh:
// running it through the shell, rather than executing the file the test
// just wrote, avoids ETXTBSY when parallel tests fork meanwhile.
func shSpec(name, path string) credential.Spec {
	return credential.Spec{Name: name, Source: credential.SourceExec, Command: []string{"/bin/sh", path}}
}

// jsonAttrs returns a JSON object of the attributes given as name, value
// pairs.
func jsonAttrs(kv ...string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", kv[i], kv[i+1])
	}
	b.WriteString("}")
	return b.String()
}

// runShell runs a script with /bin/sh.
func runShell(path string) error { return exec.Command("/bin/sh", path).Run() }
