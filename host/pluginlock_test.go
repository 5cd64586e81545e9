package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/config/pluginlock"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
)

// lockedConfig writes src as main.hcl and a lock file recording plugins in
// one directory, and loads it.
func lockedConfig(t *testing.T, src string, plugins ...*pluginlock.Plugin) *config.Config {
	t.Helper()
	dir := t.TempDir()
	mustDo(t, os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644))
	lock := &pluginlock.File{Path: filepath.Join(dir, pluginlock.FileName)}
	for _, p := range plugins {
		lock.Set(p)
	}
	mustDo(t, pluginlock.Write(lock))
	cfg, diags := config.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return cfg
}

// lockOf returns a lock entry for the plugin binary at path, on this
// platform.
func lockOf(t *testing.T, name, path string) *pluginlock.Plugin {
	t.Helper()
	sum, err := supervisor.FileSHA256(path)
	mustDo(t, err)
	return &pluginlock.Plugin{Name: name, Version: "dev", Protocol: 2, Source: path,
		SHA256: map[string]string{pluginlock.Platform(): sum}}
}

// lockDiagnostic runs host.Check on cfg and returns its one error
// diagnostic, which must be about the lock file.
func lockDiagnostic(t *testing.T, cfg *config.Config, opts ...host.Option) *hcl.Diagnostic {
	t.Helper()
	diags, err := host.Check(t.Context(), cfg, append([]host.Option{host.WithLogger(quietLogger())}, opts...)...)
	var de *host.DiagnosticsError
	if !errors.As(err, &de) || !diags.HasErrors() {
		t.Fatalf("Check = %v, %v; want diagnostics", diags, err)
	}
	if len(diags.Errs()) != 1 {
		t.Fatalf("want one error, got %v", diags)
	}
	d := diags[0]
	if d.Subject == nil || d.Subject.Filename != cfg.Lock.Path || d.Subject.Start.Line != 5 {
		t.Errorf("%q at %v, want the lock file's plugin block at line 5", d.Summary, d.Subject)
	}
	// The snippet shows the lock file's line.
	var buf bytes.Buffer
	mustDo(t, config.WriteDiagnostics(&buf, de.Files, diags, false))
	if !strings.Contains(buf.String(), `5: plugin "memory" {`) {
		t.Errorf("the diagnostic does not show the lock file's line:\n%s", buf.String())
	}
	return d
}

func TestAPluginWhoseChecksumMatchesTheLockFileStarts(t *testing.T) {
	t.Parallel()
	dir := privateDir(t, 0o755)
	path := copyPlugin(t, "memory", dir)
	for _, how := range []struct {
		name, src string
		opts      []host.Option
	}{
		{"found by type", `resource "memory" "m" {}`, []host.Option{host.WithPluginDir(dir)}},
		{"declared", declared(path, ""), nil},
	} {
		t.Run(how.name, func(t *testing.T) {
			cfg := lockedConfig(t, how.src, lockOf(t, "memory", path))
			h := startHost(t, cfg, append(how.opts, host.WithLogger(quietLogger()))...)
			if p := h.Plugins()[0]; p.Path != path || p.State != "running" {
				t.Errorf("plugin %+v, want %s running", p, path)
			}
		})
	}
}

func TestAPluginWhoseChecksumDiffersFromTheLockFileIsRefused(t *testing.T) {
	t.Parallel()
	dir := privateDir(t, 0o755)
	path := copyPlugin(t, "memory", dir)
	entry := lockOf(t, "memory", path)
	// Replaced: one byte more.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	mustDo(t, err)
	_, err = f.Write([]byte{0})
	mustDo(t, err)
	mustDo(t, f.Close())
	got, err := supervisor.FileSHA256(path)
	mustDo(t, err)

	for _, how := range []struct {
		name, src string
		opts      []host.Option
	}{
		{"found by type", `resource "memory" "m" {}`, []host.Option{host.WithPluginDir(dir)}},
		{"declared", declared(path, ""), nil},
	} {
		t.Run(how.name, func(t *testing.T) {
			cfg := lockedConfig(t, how.src, entry)
			d := lockDiagnostic(t, cfg, how.opts...)
			if d.Summary != "Plugin checksum differs from the lock file" {
				t.Errorf("summary %q", d.Summary)
			}
			for _, want := range []string{
				`Plugin "memory"`, path, cfg.Lock.Path, got[:12], entry.SHA256[pluginlock.Platform()][:12],
				"run `nebula-host plugins upgrade memory SOURCE` (or `nebula-host plugins install SOURCE`) to record it; otherwise restore the binary",
			} {
				if !strings.Contains(d.Detail, want) {
					t.Errorf("detail does not name %q:\n%s", want, d.Detail)
				}
			}
			// Start refuses it the same way, before starting anything.
			h, err := host.New(cfg, append(how.opts, host.WithLogger(quietLogger()))...)
			mustDo(t, err)
			err = h.Start(t.Context())
			_ = h.Close(context.Background())
			if err == nil || !strings.Contains(err.Error(), "Plugin checksum differs from the lock file") {
				t.Errorf("Start: %v", err)
			}
		})
	}
}

func TestALockFileEntryWithoutThisPlatformIsRefused(t *testing.T) {
	t.Parallel()
	path := copyPlugin(t, "memory", privateDir(t, 0o755))
	entry := lockOf(t, "memory", path)
	other := "plan9_mips"
	if pluginlock.Platform() == other {
		other = "linux_amd64"
	}
	entry.SHA256 = map[string]string{other: entry.SHA256[pluginlock.Platform()]}
	d := lockDiagnostic(t, lockedConfig(t, declared(path, ""), entry))
	if d.Summary != "Plugin not locked for this platform" || !strings.Contains(d.Detail, "not for "+pluginlock.Platform()) {
		t.Errorf("%s: %s", d.Summary, d.Detail)
	}
}

func TestAPluginBlockChecksumThatContradictsTheLockFileIsRefused(t *testing.T) {
	t.Parallel()
	path := copyPlugin(t, "memory", privateDir(t, 0o755))
	other := strings.Repeat("0", 64)
	d := lockDiagnostic(t, lockedConfig(t, declared(path, fmt.Sprintf("sha256 = %q", other)), lockOf(t, "memory", path)))
	if d.Summary != "Plugin checksum contradicts the lock file" || !strings.Contains(d.Detail, "gives sha256 000000000000") {
		t.Errorf("%s: %s", d.Summary, d.Detail)
	}
}

func TestAPluginTheLockFileDoesNotNameStartsAsBefore(t *testing.T) {
	t.Parallel()
	path := copyPlugin(t, "memory", privateDir(t, 0o755))
	probe := lockOf(t, "probe", pluginPath("probe"))
	cfg := lockedConfig(t, declared(path, ""), probe)
	startHost(t, cfg, host.WithLogger(quietLogger()))
}

// TestALockedPluginReplacedWhileRunningIsNotRestarted: the locked checksum
// is checked before every start, restarts included.
func TestALockedPluginReplacedWhileRunningIsNotRestarted(t *testing.T) {
	t.Parallel()
	dir := privateDir(t, 0o755)
	path := copyPlugin(t, "memory", dir)
	cfg := lockedConfig(t, `resource "memory" "m" {}`, lockOf(t, "memory", path))
	h := startHost(t, cfg, host.WithPluginDir(dir), host.WithLogger(quietLogger()), host.WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond))
	// Another program in its place (a running binary cannot be written,
	// but it can be replaced).
	tmp := filepath.Join(dir, ".replacement")
	mustDo(t, os.WriteFile(tmp, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	mustDo(t, os.Rename(tmp, path))
	mustDo(t, syscall.Kill(h.Plugins()[0].PID, syscall.SIGKILL))
	waitFor(t, 10*time.Second, "the restart to be refused", func() bool {
		return strings.Contains(h.Plugins()[0].LastError, supervisor.ErrChecksumMismatch.Error())
	})
	if p := h.Plugins()[0]; p.State == "running" {
		t.Fatalf("the replaced plugin runs: %+v", p)
	}
}
