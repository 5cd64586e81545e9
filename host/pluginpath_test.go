package host_test

// Where the host finds plugins and which files it refuses to run: a
// directory or non-executable file named like a plugin is reported as
// what it is, and a plugin any local user could replace (world-writable
// binary, or a world-writable directory without the sticky bit on its
// path) is refused unless allow_world_writable says otherwise.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
)

// copyPlugin copies the named test plugin to dir/nebula-plugin-<name>
// with mode 0755 and returns its path.
func copyPlugin(t *testing.T, name, dir string) string {
	t.Helper()
	src, err := os.Open(pluginPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "nebula-plugin-"+name)
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// privateDir returns a new directory with the given mode.
func privateDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startWith starts a host with the HCL and returns Start's error, closing
// the host.
func startWith(t *testing.T, src string, opts ...host.Option) error {
	t.Helper()
	h, err := host.New(loadHCL(t, src), append([]host.Option{host.WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		return err
	}
	err = h.Start(t.Context())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.Close(ctx)
	return err
}

func declared(path, extra string) string {
	return fmt.Sprintf(`
plugin "memory" {
  path = %q
  %s
}
resource "memory" "m" {}
`, path, extra)
}

func TestWorldWritablePluginsAreRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	type setup func(t *testing.T) (path, culprit string, mode os.FileMode)
	cases := []struct {
		name  string
		setup setup
	}{{
		name: "world-writable binary",
		setup: func(t *testing.T) (string, string, os.FileMode) {
			path := copyPlugin(t, "memory", privateDir(t, 0o755))
			if err := os.Chmod(path, 0o777); err != nil {
				t.Fatal(err)
			}
			return path, path, 0o777
		},
	}, {
		name: "world-writable plugin directory",
		setup: func(t *testing.T) (string, string, os.FileMode) {
			dir := privateDir(t, 0o777)
			return copyPlugin(t, "memory", dir), dir, os.ModeDir | 0o777
		},
	}, {
		name: "world-writable directory further up",
		setup: func(t *testing.T) (string, string, os.FileMode) {
			top := privateDir(t, 0o777)
			dir := filepath.Join(top, "bin")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return copyPlugin(t, "memory", dir), top, os.ModeDir | 0o777
		},
	}, {
		name: "symbolic link into a world-writable directory",
		setup: func(t *testing.T) (string, string, os.FileMode) {
			target := copyPlugin(t, "memory", privateDir(t, 0o777))
			link := filepath.Join(privateDir(t, 0o755), "nebula-plugin-memory")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link, filepath.Dir(target), os.ModeDir | 0o777
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, culprit, mode := tc.setup(t)
			err := startWith(t, declared(path, ""))
			if err == nil {
				t.Fatal("the host started a world-writable plugin")
			}
			for _, want := range []string{culprit, "writable by every user", "(mode " + mode.String() + ")", "chmod o-w " + culprit, "allow_world_writable = true"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
			}
			if err := startWith(t, declared(path, "allow_world_writable = true")); err != nil {
				t.Errorf("with allow_world_writable = true: %v", err)
			}
		})
	}

	t.Run("sticky world-writable directory", func(t *testing.T) {
		t.Parallel()
		dir := privateDir(t, os.ModeSticky|0o777)
		if err := startWith(t, declared(copyPlugin(t, "memory", dir), "")); err != nil {
			t.Errorf("a plugin in a sticky directory, as /tmp is: %v", err)
		}
	})

	t.Run("found by type", func(t *testing.T) {
		t.Parallel()
		dir := privateDir(t, 0o777)
		copyPlugin(t, "memory", dir)
		err := startWith(t, `resource "memory" "m" {}`, host.WithPluginDir(dir))
		if err == nil || !strings.Contains(err.Error(), "chmod o-w "+dir) {
			t.Errorf("a plugin found by type in a world-writable directory: %v", err)
		}
	})
}

// TestAPluginMadeWorldWritableIsNotRestarted: the check runs before every
// start, restarts included.
func TestAPluginMadeWorldWritableIsNotRestarted(t *testing.T) {
	t.Parallel()
	path := copyPlugin(t, "memory", privateDir(t, 0o755))
	h, err := host.New(loadHCL(t, declared(path, "")), host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close(context.Background()) }()
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(h.Plugins()[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the restart to be refused", func() bool {
		return strings.Contains(h.Plugins()[0].LastError, "chmod o-w "+path)
	})
	if p := h.Plugins()[0]; p.State == "running" {
		t.Fatalf("the plugin runs again: %+v", p)
	}
}

// TestWhatIsNamedLikeAPluginButIsNoneIsReportedAsWhatItIs: no "did you
// mean" of the type itself, but what the file is and what to do.
func TestWhatIsNamedLikeAPluginButIsNoneIsReportedAsWhatItIs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		make    func(t *testing.T, path string)
		want    []string
		summary string
	}{{
		name:    "directory",
		make:    func(t *testing.T, path string) { mustDo(t, os.Mkdir(path, 0o755)) },
		want:    []string{"is a directory, not a plugin binary"},
		summary: "Not a plugin binary",
	}, {
		name:    "file no one may execute",
		make:    func(t *testing.T, path string) { mustDo(t, os.WriteFile(path, []byte("#!/bin/sh\n"), 0o644)) },
		want:    []string{"is not executable (mode -rw-r--r--)", "chmod +x"},
		summary: "Not a plugin binary",
	}, {
		name:    "named pipe",
		make:    func(t *testing.T, path string) { mustDo(t, syscall.Mkfifo(path, 0o755)) },
		want:    []string{"is a named pipe, not a plugin binary"},
		summary: "Not a plugin binary",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := privateDir(t, 0o755)
			path := filepath.Join(dir, "nebula-plugin-memory")
			tc.make(t, path)
			for _, how := range []struct {
				name string
				src  string
				opts []host.Option
			}{
				{"found by type", `resource "memory" "m" {}`, []host.Option{host.WithPluginDir(dir)}},
				{"declared", declared(path, ""), nil},
			} {
				err := startWith(t, how.src, how.opts...)
				if err == nil {
					t.Fatalf("%s: started", how.name)
				}
				msg := err.Error()
				for _, w := range append([]string{path, tc.summary}, tc.want...) {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: error does not say %q:\n%s", how.name, w, msg)
					}
				}
				if strings.Contains(msg, "Did you mean") || strings.Contains(msg, "Known types") {
					t.Errorf("%s: a misleading suggestion:\n%s", how.name, msg)
				}
			}
		})
	}

	t.Run("missing declared binary", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nebula-plugin-memory")
		err := startWith(t, declared(path, ""))
		if err == nil || !strings.Contains(err.Error(), "Plugin binary not found") || !strings.Contains(err.Error(), "no file at "+path) {
			t.Errorf("missing binary: %v", err)
		}
	})

	t.Run("a usable binary in a later directory wins", func(t *testing.T) {
		t.Parallel()
		bad := privateDir(t, 0o755)
		mustDo(t, os.Mkdir(filepath.Join(bad, "nebula-plugin-memory"), 0o755))
		good := privateDir(t, 0o755)
		copyPlugin(t, "memory", good)
		if err := startWith(t, `resource "memory" "m" {}`, host.WithPluginDir(bad), host.WithPluginDir(good)); err != nil {
			t.Errorf("start: %v", err)
		}
	})

	t.Run("not a program", func(t *testing.T) {
		t.Parallel()
		dir := privateDir(t, 0o755)
		path := filepath.Join(dir, "nebula-plugin-memory")
		mustDo(t, os.WriteFile(path, []byte("this is text, not a program\n"), 0o755))
		err := startWith(t, declared(path, ""))
		if err == nil || !strings.Contains(err.Error(), "exec format error") || !strings.Contains(err.Error(), path) {
			t.Errorf("a text file: %v", err)
		}
		if !errors.Is(err, supervisor.ErrNotPluginBinary) {
			t.Errorf("%v does not wrap ErrNotPluginBinary", err)
		}
	})
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
