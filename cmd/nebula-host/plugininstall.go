package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/config/pluginlock"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/internal/plugininstall"
)

const installUsage = `usage: nebula-host plugins install [flags] SOURCE

Installs the plugin binaries of SOURCE into the plugin directory and
records each in the lock file beside the configuration (.nebula.lock.hcl):
its version, protocol, source and SHA-256 for this platform. SOURCE is a
directory holding nebula-plugin-NAME files, a .tar.gz, .tgz or .zip
archive, or a binary named nebula-plugin-NAME; an archive or a binary may
be an https URL, verified with -sha256 or with -public-key. Each binary is
started once, to learn its name, version and protocol, before it is put in
place.

The plugin directory is -plugin-dir, else the plugin_dir of the
configuration's host block, else the directory plugins beside nebula-host.

Flags:
`

const verifyUsage = `usage: nebula-host plugins verify [-config PATH] [-plugin-dir DIR]

Checks that the binary of every plugin of the lock file beside the
configuration is where the host looks for it and has the SHA-256 the lock
file records for this platform. Exit status 0 when all match, 1 when one
does not (each is named).

Flags:
`

const upgradeUsage = `usage: nebula-host plugins upgrade [flags] NAME [SOURCE]

Replaces the binary of plugin NAME with the one SOURCE holds (default: the
source its lock entry records) and updates its lock entry. The new binary
must start and name itself NAME, or nothing changes; the old one is kept as
.nebula-plugin-NAME.previous in the plugin directory. Then, when a host is
running at -addr, asks it to reload (POST /v1/reload), and it moves to the
new binary; if the reload fails, the old binary and lock entry are put
back. With no host running, the new binary is used at the host's next
start.

Authentication and TLS come from NEBULA_TOKEN, NEBULA_CACERT,
NEBULA_CLIENT_CERT and NEBULA_CLIENT_KEY, as for "nebula-host reload".

Exit status: 0 upgraded; 1 a local error, nothing changed; 2 the host
refused the reload, and the old binary and lock entry are back.

Flags:
`

// installFlags are the flags of plugins install and upgrade that say
// where the plugin is and how it is verified.
type installFlags struct {
	sha256, publicKey, signature string
}

func (f *installFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.sha256, "sha256", "", "the SHA-256 of SOURCE (the archive, or the binary), in hexadecimal")
	fs.StringVar(&f.publicKey, "public-key", "", "a minisign public key, or the path of its .pub file: SOURCE must carry a signature it verifies")
	fs.StringVar(&f.signature, "signature", "", "the URL or path of SOURCE's minisign signature (default: SOURCE.minisig)")
}

func (f *installFlags) options(dir string) plugininstall.Options {
	return plugininstall.Options{Dir: dir, SHA256: f.sha256, PublicKey: f.publicKey, Signature: f.signature}
}

// parseInterspersed parses args with fs, letting flags follow the
// arguments too ("upgrade NAME -addr X"), and returns the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// lockSetup is what install, verify and upgrade read first: the
// configuration, its lock file (a new one when there is none) and the
// plugin directory.
type lockSetup struct {
	cfg  *config.Config
	lock *pluginlock.File
	dir  string // where plugins are installed
	dirs []string
}

// setup loads the configuration of cf (the current directory when -config
// is not given), its lock file, and the plugin directories in the order the
// host searches them.
func setup(cf *configFlags, stderr io.Writer) (*lockSetup, bool) {
	if cf.path == "" {
		cf.path = "."
	}
	cfg, ok := cf.load(stderr)
	if !ok {
		return nil, false
	}
	s := &lockSetup{cfg: cfg, lock: cfg.Lock}
	if s.lock == nil {
		s.lock = &pluginlock.File{Path: filepath.Join(pluginlock.Dir(cf.path), pluginlock.FileName)}
	}
	s.dirs = append(s.dirs, cf.pluginDir...)
	if cfg.Host.PluginDir != "" {
		s.dirs = append(s.dirs, cfg.Host.PluginDir)
	}
	if exe, err := os.Executable(); err == nil {
		s.dirs = append(s.dirs, filepath.Join(filepath.Dir(exe), "plugins"))
	}
	if len(s.dirs) == 0 {
		fmt.Fprintln(stderr, "nebula-host: no plugin directory: give -plugin-dir DIR")
		return nil, false
	}
	s.dir = s.dirs[0]
	return s, true
}

func cmdPluginsInstall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugins install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, installUsage)
		fs.PrintDefaults()
	}
	var cf configFlags
	cf.register(fs, true)
	var inf installFlags
	inf.register(fs)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitLocal
	}
	if len(rest) != 1 {
		fs.Usage()
		return exitLocal
	}
	s, ok := setup(&cf, stderr)
	if !ok {
		return exitLocal
	}
	results, err := plugininstall.Install(context.Background(), rest[0], s.lock, inf.options(s.dir))
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host plugins install: %v\n", err)
		return exitLocal
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "installed %s %s (protocol %d, sha256 %s) as %s; recorded in %s\n",
			r.Name, r.Version, r.Protocol, shortSum(r.SHA256), r.Path, s.lock.Path)
	}
	return exitOK
}

func cmdPluginsVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugins verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, verifyUsage)
		fs.PrintDefaults()
	}
	var cf configFlags
	cf.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitLocal
	}
	s, ok := setup(&cf, stderr)
	if !ok {
		return exitLocal
	}
	if s.cfg.Lock == nil {
		fmt.Fprintf(stderr, "nebula-host plugins verify: no lock file at %s; write it with \"nebula-host plugins install SOURCE\"\n", s.lock.Path)
		return exitLocal
	}
	failed := 0
	for _, p := range s.lock.Plugins {
		path := s.binary(p.Name)
		if path == "" {
			failed++
			fmt.Fprintf(stderr, "nebula-host plugins verify: plugin %q: no %s%s in %s\n", p.Name, host.PluginPrefix, p.Name, strings.Join(s.dirs, ", "))
			continue
		}
		if err := plugininstall.Check(p, path); err != nil {
			failed++
			fmt.Fprintf(stderr, "nebula-host plugins verify: %v\n", err)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d of %d plugins differ from %s\n", failed, len(s.lock.Plugins), s.lock.Path)
		return exitLocal
	}
	if n := len(s.lock.Plugins); n == 1 {
		fmt.Fprintf(stdout, "1 plugin matches %s\n", s.lock.Path)
	} else {
		fmt.Fprintf(stdout, "%d plugins match %s\n", n, s.lock.Path)
	}
	return exitOK
}

// binary returns the binary the host would start for plugin name: the path
// of its plugin block, else the first nebula-plugin-NAME in the plugin
// directories; "" when there is none.
func (s *lockSetup) binary(name string) string {
	for _, p := range s.cfg.Plugins {
		if p.Name == name {
			return p.Path
		}
	}
	for _, dir := range s.dirs {
		path := filepath.Join(dir, host.PluginPrefix+name)
		if _, err := os.Lstat(path); err == nil {
			return path
		}
	}
	return ""
}

func cmdPluginsUpgrade(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugins upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, upgradeUsage)
		fs.PrintDefaults()
	}
	var cf configFlags
	cf.register(fs, true)
	var inf installFlags
	inf.register(fs)
	addr := fs.String("addr", envOr("NEBULA_ADDR", api.DefaultAddress), "admin endpoint of the running host to reload (env NEBULA_ADDR)")
	fs.StringVar(addr, "admin", *addr, "the same as -addr")
	var af authFlags
	af.register(fs)
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting for the host's reload after this long")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitLocal
	}
	if len(rest) < 1 || len(rest) > 2 {
		fs.Usage()
		return exitLocal
	}
	name, source := rest[0], ""
	if len(rest) == 2 {
		source = rest[1]
	}
	s, ok := setup(&cf, stderr)
	if !ok {
		return exitLocal
	}
	u, err := plugininstall.Upgrade(context.Background(), name, source, s.lock, inf.options(s.dir))
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host plugins upgrade: %v\n", err)
		return exitLocal
	}
	fmt.Fprintf(stdout, "upgraded %s %s to %s (protocol %d, sha256 %s) at %s; recorded in %s\n",
		name, u.Previous.Version, u.Version, u.Protocol, shortSum(u.SHA256), u.Path, s.lock.Path)

	c, ok := newClient(stderr, "plugins upgrade", *addr, append(af.options(), api.WithTimeout(*timeout))...)
	if !ok {
		return undoUpgrade(u, stderr, exitLocal)
	}
	defer c.Close()
	res, err := c.Reload(context.Background())
	var e *api.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		fmt.Fprintf(stdout, "no host is running at %s: the new binary is used when the host next starts\n", *addr)
		return exitOK
	case errors.As(err, &e) && e.Code == api.CodeInvalidConfiguration:
		fmt.Fprintln(stderr, strings.TrimSuffix(e.Message, "\n"))
		return undoUpgrade(u, stderr, exitRemote)
	case err != nil:
		return undoUpgrade(u, stderr, callFailed(stderr, "plugins upgrade", *addr, err))
	}
	writeReload(stdout, res)
	return exitOK
}

// undoUpgrade puts the old binary and lock entry back after the host
// refused the new one, and returns code, or exitLocal when that fails.
func undoUpgrade(u *plugininstall.Upgraded, stderr io.Writer, code int) int {
	if err := u.Undo(); err != nil {
		fmt.Fprintf(stderr, "nebula-host plugins upgrade: the reload failed, and putting the old binary back failed too: %v\n", err)
		return exitLocal
	}
	fmt.Fprintf(stderr, "nebula-host plugins upgrade: the reload failed: the old binary of %s and its lock entry are back in place\n", u.Name)
	return code
}

// shortSum is a checksum's first 12 characters, enough to tell two apart.
func shortSum(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}
