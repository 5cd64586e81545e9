// Package plugininstall installs plugin binaries into a plugin directory
// and records them in the plugin lock file (config/pluginlock), for
// "nebula-host plugins install", "verify" and "upgrade".
//
// A source is one of:
//
//   - a local directory: its files named nebula-plugin-NAME;
//   - a .tar.gz, .tgz or .zip archive, a local file or an https URL: its
//     files named nebula-plugin-NAME, at any depth; other files (a README,
//     a LICENSE) are ignored;
//   - a plugin binary named nebula-plugin-NAME, a local file or an https
//     URL.
//
// What is downloaded is verified before anything is extracted: with the
// SHA-256 the operator gives, or with a minisign signature and the public
// key the operator gives; a download with neither is refused, and so is
// plain http. Extraction trusts nothing in an archive: it refuses entries
// whose paths are absolute or climb out with "..", symbolic and hard links,
// devices, names that appear twice, and more entries or bytes than the
// Limits, counting the bytes it decompresses rather than what headers
// claim. It never names a file after an entry's path: each binary is
// written to a hidden temporary file in the plugin directory (which the
// host's nebula-plugin-* glob never matches), made executable, synced, and
// started once to learn its name, version and protocol; only a binary that
// starts is renamed into place, atomically.
package plugininstall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
)

// Limits bound what a source may hold. The zero value of each field means
// its default.
type Limits struct {
	// MaxArchiveSize bounds a download, and a local archive or binary, in
	// bytes. Default 512 MiB.
	MaxArchiveSize int64
	// MaxEntries bounds the entries of an archive, directories included.
	// Default 1000.
	MaxEntries int
	// MaxFileSize bounds one plugin binary, in bytes written. Default 512
	// MiB.
	MaxFileSize int64
	// MaxTotalSize bounds the bytes decompressed from an archive, those of
	// the files skipped included. Default 1 GiB.
	MaxTotalSize int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxArchiveSize <= 0 {
		l.MaxArchiveSize = 512 << 20
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 1000
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = 512 << 20
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = 1 << 30
	}
	return l
}

// Options say where plugins go and how a source is verified.
type Options struct {
	// Dir is the plugin directory. It is made (mode 0755) when missing.
	Dir string
	// SHA256, when set, is the source's expected SHA-256 in hexadecimal:
	// the archive's, or the binary's. Required for an https source
	// without PublicKey.
	SHA256 string
	// PublicKey, when set, is a minisign public key (the base64 line of
	// its .pub file) or the path of its .pub file; the source must then
	// carry a signature that verifies with it.
	PublicKey string
	// Signature is where the source's minisign signature is, an https URL
	// or a path. Default: the source's own, followed by ".minisig".
	Signature string
	// Limits bound what the source may hold.
	Limits Limits
	// HTTPClient downloads https sources. Nil means a client that speaks
	// TLS 1.2 or later, with the environment's proxy settings, and gives
	// up on a download after 30 minutes. Either way, a redirect to a URL
	// that is not https is refused.
	HTTPClient *http.Client
	// StartTimeout bounds the start of each binary, to describe it.
	// Default 30s.
	StartTimeout time.Duration
	// Logger receives the plugins' log lines while they are described.
	// Nil discards them.
	Logger *slog.Logger
}

// Result is a plugin installed: its binary in place and its lock entry
// written.
type Result struct {
	// Name is NAME of the binary nebula-plugin-NAME, and of its lock entry.
	Name string
	// Path is the binary, in the plugin directory.
	Path string
	// Version, Protocol and Types are what the plugin said of itself;
	// Driver is its driver's own name.
	Version  string
	Protocol int
	Driver   string
	Types    []string
	// SHA256 is the binary's checksum, as the lock file records it.
	SHA256 string
}

// Install puts every plugin binary of source into o.Dir and records each in
// lock, which it writes: the version and protocol each plugin reports, the
// source, and its SHA-256 for this platform (the other platforms' checksums
// stay when the version and source are those already recorded). Each
// binary is started once before it is put in place; when one fails to
// start, nothing is installed.
func Install(ctx context.Context, source string, lock *pluginlock.File, o Options) ([]Result, error) {
	rec, err := recorded(source)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the plugin directory: %w", err)
	}
	ss, err := stage(ctx, source, &o, "")
	if err != nil {
		return nil, err
	}
	defer removeStaged(ss)
	results := make([]Result, len(ss))
	for i, s := range ss {
		if results[i], err = o.describe(ctx, s, rec); err != nil {
			return nil, err
		}
	}
	for i, s := range ss {
		if err := os.Rename(s.tmp, results[i].Path); err != nil {
			return nil, fmt.Errorf("put %s in place: %w", results[i].Path, err)
		}
		lock.Set(entryOf(results[i], rec, lock.Plugin(s.name)))
	}
	if err := pluginlock.Write(lock); err != nil {
		return nil, err
	}
	return results, nil
}

// Upgrade replaces the binary of plugin name with the one source holds
// (the source its lock entry records, when source is ""), and updates the
// entry, which it writes. The new binary must start and name itself name;
// otherwise nothing changes. The old binary is kept as a hidden backup,
// .nebula-plugin-NAME.previous, for Undo.
func Upgrade(ctx context.Context, name, source string, lock *pluginlock.File, o Options) (*Upgraded, error) {
	old := lock.Plugin(name)
	if old == nil {
		return nil, fmt.Errorf("the lock file %s has no plugin %q; install it with \"nebula-host plugins install SOURCE\"", lock.Path, name)
	}
	if source == "" {
		if source = old.Source; source == "" {
			return nil, fmt.Errorf("the lock file %s records no source for plugin %q; give one", lock.Path, name)
		}
	}
	rec, err := recorded(source)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the plugin directory: %w", err)
	}
	ss, err := stage(ctx, source, &o, name)
	if err != nil {
		return nil, err
	}
	defer removeStaged(ss)
	res, err := o.describe(ctx, ss[0], rec)
	if err != nil {
		return nil, err
	}
	if res.Driver != name {
		return nil, fmt.Errorf("refused: %s%s from %s names itself %q, not %q; nothing changed", Prefix, name, rec, res.Driver, name)
	}
	u := &Upgraded{Result: res, Previous: old, lock: lock}
	// A hard link keeps the old binary while the new one is renamed over
	// its name: the name always leads to one or the other.
	backup := filepath.Join(o.Dir, "."+Prefix+name+".previous")
	_ = os.Remove(backup)
	switch err := os.Link(res.Path, backup); {
	case err == nil:
		u.Backup = backup
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("keep the old binary as %s: %w", backup, err)
	}
	if err := os.Rename(ss[0].tmp, res.Path); err != nil {
		return nil, fmt.Errorf("put %s in place: %w", res.Path, err)
	}
	lock.Set(entryOf(res, rec, old))
	if err := pluginlock.Write(lock); err != nil {
		lock.Set(old)
		return nil, errors.Join(err, u.restoreBinary())
	}
	return u, nil
}

// Upgraded is a plugin upgraded: the new binary in place, its lock entry
// written, and the old binary kept to undo it.
type Upgraded struct {
	Result
	// Previous is the lock entry before the upgrade.
	Previous *pluginlock.Plugin
	// Backup is the old binary, kept under a hidden name; "" when there
	// was none.
	Backup string

	lock *pluginlock.File
}

// Undo puts the old binary and the old lock entry back.
func (u *Upgraded) Undo() error {
	err := u.restoreBinary()
	u.lock.Set(u.Previous)
	return errors.Join(err, pluginlock.Write(u.lock))
}

func (u *Upgraded) restoreBinary() error {
	if u.Backup == "" {
		return os.Remove(u.Path)
	}
	if err := os.Rename(u.Backup, u.Path); err != nil {
		return fmt.Errorf("restore the old binary %s: %w", u.Path, err)
	}
	return nil
}

// Check returns nil when the binary at path has the SHA-256 that entry
// records for this platform, or an error that says what differs.
func Check(entry *pluginlock.Plugin, path string) error {
	want := entry.SHA256[pluginlock.Platform()]
	if want == "" {
		return fmt.Errorf("plugin %q: the lock file records no SHA-256 for %s", entry.Name, pluginlock.Platform())
	}
	got, err := supervisor.FileSHA256(path)
	if err != nil {
		return fmt.Errorf("plugin %q: %w", entry.Name, err)
	}
	if got != want {
		return fmt.Errorf("plugin %q: %s has SHA-256 %s, the lock file records %s", entry.Name, path, got, want)
	}
	return nil
}

// describe starts the staged binary once and returns what it said of
// itself, with the path it will have once in place. source is as
// recorded.
func (o *Options) describe(ctx context.Context, s *staged, source string) (Result, error) {
	info, err := supervisor.Describe(ctx, supervisor.Config{Name: s.name, Path: s.tmp, SHA256: s.sum,
		StartTimeout: o.StartTimeout, Logger: o.Logger})
	if err != nil {
		return Result{}, fmt.Errorf("%s%s from %s does not start, so it is not installed: %w", Prefix, s.name, source, err)
	}
	return Result{Name: s.name, Path: filepath.Join(o.Dir, Prefix+s.name), Version: info.Version, Protocol: info.Protocol,
		Driver: info.Driver, Types: info.Types, SHA256: s.sum}, nil
}

// entryOf returns the lock entry of res. The checksums of other platforms
// stay when the version and source are old's.
func entryOf(res Result, source string, old *pluginlock.Plugin) *pluginlock.Plugin {
	sums := map[string]string{}
	if old != nil && old.Version == res.Version && old.Source == source {
		maps.Copy(sums, old.SHA256)
	}
	sums[pluginlock.Platform()] = res.SHA256
	return &pluginlock.Plugin{Name: res.Name, Version: res.Version, Protocol: res.Protocol, Source: source, SHA256: sums}
}

// recorded returns source as the lock file records it: a URL without its
// query (which may hold a token), a local path made absolute.
func recorded(source string) (string, error) {
	if strings.Contains(source, "://") {
		return display(source), nil
	}
	abs, err := filepath.Abs(source)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", source, err)
	}
	return abs, nil
}

// removeStaged removes the staged files not renamed into place.
func removeStaged(ss []*staged) {
	for _, s := range ss {
		_ = os.Remove(s.tmp)
	}
}
