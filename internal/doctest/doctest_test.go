// Package doctest keeps the shell transcripts of the documentation true:
// its test runs every command block of README.md and docs/*.md that is
// marked as runnable, and compares what each command prints with what the
// block shows.
//
// # Marking a block
//
// An HTML comment on the line before a fenced block (blank lines between
// are allowed) marks it. GitHub shows neither the comment nor any trace of
// it:
//
//	<!-- doctest -->               the next block, a ```console block, runs
//	<!-- doctest: background -->   the next ```console block holds one
//	                               command, a server such as nebula-host
//	                               run, which runs in the background until
//	                               the end of the file
//	<!-- doctest: file PATH -->    the next block, of any language, is
//	                               written to PATH in the working directory
//	                               before the blocks after it run
//	<!-- doctest: append PATH -->  the same, added at the end of PATH
//	<!-- doctest: env NAME=VAR --> no block: from here on the commands see
//	                               NAME set to the value of the test's
//	                               environment variable VAR (one of
//	                               scripts/testenv env's, so that a doc can
//	                               say DATABASE_URL where the test has
//	                               NEBULA_TEST_POSTGRES_URL); the test
//	                               fails when VAR is not set
//
// Every ```console block must be marked doctest or doctest: background, so
// that no transcript escapes the test; one that cannot run here is written
// as a plain ``` block.
//
// # Transcripts
//
// In a console block a line that starts with "$ " is a command, which
// continues on the next line when it ends with a backslash. The lines after
// a command, up to the next command, are what it prints, stdout and stderr
// together as a terminal shows them. They are compared line by line, with
// three allowances:
//
//   - blanks at the start and end of a line are ignored, and a run of
//     blanks inside a line equals any other run (a table's columns widen
//     with their contents);
//   - "..." inside a line matches any text within that line (a time, a
//     checksum, a path);
//   - a line that is "..." alone matches any number of lines, none
//     included.
//
// A command must exit with status 0, unless the next command of its block
// is "echo $?", which shows the reader its status.
//
// A background block's command runs as if followed by "&", its output
// going to a file of its own. The test waits until that output begins with
// what the block shows (for at most 3 minutes), then goes on; a command
// that ends before that fails the test.
//
// # Where the commands run
//
// The blocks of one file run in order in one bash process, so that cd,
// export, shell variables and jobs started with & carry from one command
// to the next. It starts in a fresh temporary directory that holds bin/
// and a copy of the repository's examples/, and PATH starts with that
// bin/. The test builds bin/nebula-host and bin/plugins/nebula-plugin-*
// itself, once for every file, from this checkout, with make build's
// flags for the plugins; it does not use make build's bin/, which may be
// older than the code. Each command's stdin is /dev/null, and it has 3
// minutes. The commands see the test's environment without NEBULA_ADDR,
// NEBULA_TOKEN, NEBULA_CACERT, NEBULA_CLIENT_CERT, NEBULA_CLIENT_KEY and
// NEBULA_VAR_*, which would change what nebula-host does. At the end of
// the file every process the shell started is stopped: SIGTERM, then
// SIGKILL 15 seconds later.
//
// A failure names the file and line of the command, the command, and a
// diff of what the block shows (-) and what the command printed (+).
package doctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Limits of the commands a doc runs.
const (
	commandTimeout = 3 * time.Minute  // one command in the foreground
	readyTimeout   = 3 * time.Minute  // a background command's output
	stopGrace      = 15 * time.Second // from SIGTERM to SIGKILL
)

// TestDocs runs the marked blocks of README.md and docs/*.md, one
// subtest per file.
func TestDocs(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	type doc struct {
		name  string
		steps []step
	}
	var runnable []doc
	for _, path := range docs {
		name, err := filepath.Rel(root, path)
		if err != nil {
			t.Fatal(err)
		}
		name = filepath.ToSlash(name)
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := parse(name, string(text))
		if err != nil {
			t.Error(err)
			continue
		}
		if len(steps) > 0 {
			runnable = append(runnable, doc{name, steps})
		}
	}
	if t.Failed() || len(runnable) == 0 {
		return
	}
	// bin ends in bin/, as make build's does: the paths the docs show
	// end .../bin/plugins/nebula-plugin-NAME.
	bin := filepath.Join(t.TempDir(), "bin")
	if err := build(root, bin); err != nil {
		t.Fatal(err)
	}
	// The files run one after another: their servers share the admin
	// endpoint's default address, 127.0.0.1:9464.
	for _, d := range runnable {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Symlink(bin, filepath.Join(dir, "bin")); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS(filepath.Join(root, "examples"))); err != nil {
				t.Fatal(err)
			}
			runDoc(t, d.name, dir, d.steps)
		})
	}
}

// build compiles nebula-host into bin and every plugin of the repository
// (plugins/*/cmd/nebula-plugin-*) into bin/plugins, the layout of make
// build, in which the host finds its plugins without configuration. The
// plugins get make build's flags (no VCS stamp, so that they report
// version "dev"); the host gets go build's.
func build(root, bin string) error {
	cmds, err := filepath.Glob(filepath.Join(root, "plugins", "*", "cmd", "nebula-plugin-*"))
	if err != nil {
		return err
	}
	if len(cmds) == 0 {
		return errors.New("no plugins/*/cmd/nebula-plugin-* in " + root)
	}
	plugins := []string{"build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(bin, "plugins") + string(filepath.Separator)}
	for _, c := range cmds {
		rel, err := filepath.Rel(root, c)
		if err != nil {
			return err
		}
		plugins = append(plugins, "./"+filepath.ToSlash(rel))
	}
	for _, args := range [][]string{{"build", "-o", filepath.Join(bin, "nebula-host"), "./cmd/nebula-host"}, plugins} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// runDoc runs the steps of the doc name in a shell working in dir, and
// stops everything the shell started when they are done.
func runDoc(t *testing.T, name, dir string, steps []step) {
	logs := t.TempDir()
	sh, err := startShell(dir, shellEnv(dir))
	if err != nil {
		t.Fatal(err)
	}
	var backgrounds []*background
	defer func() {
		if err := sh.stop(stopGrace); err != nil {
			t.Errorf("%s: stopping the shell: %v", name, err)
		}
		if t.Failed() {
			for _, b := range backgrounds {
				t.Logf("%s:%d: output of the background command %q:\n%s", name, b.line, b.command, b.output())
			}
		}
	}()
	for _, s := range steps {
		switch s := s.(type) {
		case fileStep:
			path := filepath.Join(dir, filepath.FromSlash(s.path))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			if s.append {
				flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
			}
			f, err := os.OpenFile(path, flag, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString(s.content)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("%s:%d: %v", name, s.line, err)
			}
		case envStep:
			v, ok := os.LookupEnv(s.from)
			if !ok {
				t.Fatalf("%s:%d: %s is not set; run the test with make test, or after scripts/testenv up and eval \"$(scripts/testenv env)\"", name, s.line, s.from)
			}
			if _, _, err := sh.run("export "+s.name+"="+shellQuote(v), commandTimeout); err != nil {
				t.Fatalf("%s:%d: %v", name, s.line, err)
			}
		case backgroundStep:
			b, err := sh.background(s.command, filepath.Join(logs, fmt.Sprintf("line%d", s.line)))
			if err != nil {
				t.Fatalf("%s:%d: $ %s: %v", name, s.line, s.command.text, err)
			}
			backgrounds = append(backgrounds, b)
			if err := b.waitReady(s.command.want, readyTimeout); err != nil {
				t.Fatalf("%s:%d: $ %s\n%v", name, s.line, s.command.text, err)
			}
		case runStep:
			for i, c := range s.commands {
				out, status, err := sh.run(c.text, commandTimeout)
				if err != nil {
					t.Fatalf("%s:%d: $ %s\n%v\n%s", name, c.line, c.text, err, out)
				}
				if d, ok := compare(c.want, lines(out)); !ok {
					t.Fatalf("%s:%d: $ %s\nexit status %d; the output differs (-doc +got):\n%s", name, c.line, c.text, status, d)
				}
				showsStatus := i+1 < len(s.commands) && s.commands[i+1].text == "echo $?"
				if status != 0 && !showsStatus {
					t.Fatalf("%s:%d: $ %s\nexit status %d, and the next command is not \"echo $?\"; output:\n%s", name, c.line, c.text, status, out)
				}
			}
		}
	}
}

// shellEnv is the environment of the shell working in dir: the test's,
// with dir/bin first in PATH and without the variables that would change
// what nebula-host does.
func shellEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case name == "NEBULA_ADDR", name == "NEBULA_TOKEN", name == "NEBULA_CACERT",
			name == "NEBULA_CLIENT_CERT", name == "NEBULA_CLIENT_KEY",
			strings.HasPrefix(name, "NEBULA_VAR_"):
			continue
		case name == "PATH":
			kv = "PATH=" + filepath.Join(dir, "bin") + string(filepath.ListSeparator) + value
		}
		env = append(env, kv)
	}
	return env
}

// shellQuote quotes s for bash, in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lines splits a command's output into lines; a last newline ends the last
// line rather than starting an empty one.
func lines(out string) []string {
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}
