package host

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/config/pluginlock"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
)

// lockedPlugin checks the plugin the catalog is about to start against the
// configuration's lock file. A plugin the lock file does not name is
// returned as it is. For one it names, the binary's SHA-256 must be the one
// the lock file records for this platform, and a sha256 of the plugin's
// block must agree; lockedPlugin then returns a copy of pl whose SHA256 is
// the locked checksum, so that the supervisor checks it again before every
// start, restarts included. Otherwise it returns an error diagnostic at the
// lock file's entry that says how to fix it.
func lockedPlugin(lock *pluginlock.File, pl *config.Plugin) (*config.Plugin, *hcl.Diagnostic) {
	entry := lock.Plugin(pl.Name)
	if entry == nil {
		return pl, nil
	}
	fail := func(summary, format string, args ...any) (*config.Plugin, *hcl.Diagnostic) {
		return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Subject: entry.DeclRange.Ptr(),
			Detail: fmt.Sprintf(format, args...)}
	}
	fix := fmt.Sprintf("If you replaced the plugin on purpose, run `nebula-host plugins upgrade %s SOURCE` (or `nebula-host plugins install SOURCE`) to record it; otherwise restore the binary.", pl.Name)
	platform := pluginlock.Platform()
	want := entry.SHA256[platform]
	if want == "" {
		return fail("Plugin not locked for this platform",
			"Plugin %q (%s): %s records its SHA-256 for other platforms, not for %s. Run `nebula-host plugins install SOURCE` on this platform to record it, or remove the plugin's entry from the lock file.",
			pl.Name, pl.Path, lock.Path, platform)
	}
	if pl.SHA256 != "" && pl.SHA256 != want {
		return fail("Plugin checksum contradicts the lock file",
			"Plugin %q (%s): its plugin block at %s:%d gives sha256 %s, but %s records %s. Remove sha256 from the block, or make the two agree.",
			pl.Name, pl.Path, pl.DeclRange.Filename, pl.DeclRange.Start.Line, short(pl.SHA256), lock.Path, short(want))
	}
	got, err := supervisor.FileSHA256(pl.Path)
	if err != nil {
		return fail("Cannot read plugin binary", "Plugin %q: %v; the lock file %s records its SHA-256, which the host must check.", pl.Name, err, lock.Path)
	}
	if got != want {
		return fail("Plugin checksum differs from the lock file",
			"Plugin %q: the binary %s has SHA-256 %s, but %s records %s for %s. %s",
			pl.Name, pl.Path, short(got), lock.Path, short(want), platform, fix)
	}
	locked := *pl
	locked.SHA256 = want
	return &locked, nil
}

// short returns the first 12 characters of a checksum, enough to tell two
// apart.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}
