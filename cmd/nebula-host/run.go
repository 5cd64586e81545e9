package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/nebula-resource/nebula-resource/host/loglevel"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
	"github.com/nebula-resource/nebula-resource/sdk"
)

const protocolVersion = sdk.ProtocolVersion

// configFlags are the flags every command that reads a configuration takes.
type configFlags struct {
	path      string
	vars      multiFlag
	pluginDir multiFlag
	logLevel  string
	logFormat string
}

func (c *configFlags) register(fs *flag.FlagSet, withPath bool) {
	if withPath {
		fs.StringVar(&c.path, "config", "", "configuration file or directory of .hcl files")
	}
	fs.Var(&c.vars, "var", "set a variable, name=value (repeatable)")
	fs.Var(&c.pluginDir, "plugin-dir", "also look for nebula-plugin-<type> binaries here (repeatable)")
	fs.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error (default: the config's, else info)")
	fs.StringVar(&c.logFormat, "log-format", "", "text or json (default: the config's, else text)")
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// variables parses the -var flags.
func (c *configFlags) variables(stderr io.Writer) (map[string]string, bool) {
	vars := map[string]string{}
	for _, kv := range c.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(stderr, "nebula-host: -var %q: want name=value\n", kv)
			return nil, false
		}
		vars[k] = v
	}
	return vars, true
}

// load reads the configuration, printing diagnostics to stderr.
func (c *configFlags) load(stderr io.Writer) (*config.Config, bool) {
	vars, ok := c.variables(stderr)
	if !ok {
		return nil, false
	}
	cfg, diags := config.Load(c.path, config.WithVariables(vars))
	if len(diags) > 0 {
		printDiagnostics(stderr, cfg.Files, diags)
	}
	return cfg, !diags.HasErrors()
}

func (c *configFlags) logger(cfg *config.Config, stderr io.Writer) *slog.Logger {
	level, format := "info", "text"
	if cfg != nil {
		if cfg.Host.LogLevel != "" {
			level = cfg.Host.LogLevel
		}
		if cfg.Host.LogFormat != "" {
			format = cfg.Host.LogFormat
		}
	}
	if c.logLevel != "" {
		level = c.logLevel
	}
	if c.logFormat != "" {
		format = c.logFormat
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	levels := map[string]slog.Level{}
	if cfg != nil {
		for k, v := range cfg.Host.LogLevels {
			var l slog.Level
			if l.UnmarshalText([]byte(v)) == nil {
				levels[k] = l
			}
		}
	}
	opts := &slog.HandlerOptions{Level: loglevel.Lowest(lvl, levels)}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if format == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	return slog.New(loglevel.New(h, lvl, levels))
}

func (c *configFlags) hostOptions(log *slog.Logger) []host.Option {
	opts := []host.Option{host.WithLogger(log)}
	for _, d := range c.pluginDir {
		opts = append(opts, host.WithPluginDir(d))
	}
	return opts
}

// printHostError prints a host error about cfg; diagnostics get their
// source lines, and the secrets of cfg's files are hidden in them.
func printHostError(stderr io.Writer, cfg *config.Config, err error) {
	var de *host.DiagnosticsError
	if errors.As(err, &de) {
		printDiagnostics(stderr, de.Files, cfg.HideSecrets(de.Diagnostics))
		return
	}
	fmt.Fprintf(stderr, "nebula-host: %v\n", err)
}

func cmdRun(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, true)
	addr := fs.String("admin", "", "admin endpoint address (default: the config's admin.address, else "+admin.DefaultAddress+")")
	partial := fs.Bool("partial-start", false, "serve the resources that started even when others failed (the host reports not ready)")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if cf.path == "" {
		fmt.Fprintln(stderr, "nebula-host run: -config PATH is required")
		return exitLocal
	}
	cfg, ok := cf.load(stderr)
	if !ok {
		return exitLocal
	}
	vars, _ := cf.variables(stderr) // load parsed them already
	log := cf.logger(cfg, stderr)
	// Refuse a bad address before starting any plugin.
	acfg, adiags := adminConfig(cfg, *addr)
	if adiags.HasErrors() {
		printDiagnostics(stderr, cfg.Files, adiags)
		return exitLocal
	}
	acfg.Logger = log
	running := startSettingsOf(cfg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := append(cf.hostOptions(log), host.WithVersion(version))
	if *partial {
		opts = append(opts, host.WithPartialStart())
	}
	h, err := host.New(cfg, opts...)
	if err != nil {
		printHostError(stderr, cfg, err)
		return exitLocal
	}
	if err := h.Start(ctx); err != nil {
		printHostError(stderr, cfg, err)
		return exitLocal
	}
	// The host copied what it needs: from here on the parsed
	// configuration is garbage, a thousand resources' worth of it.
	shutdownTimeout := cfg.Host.ShutdownTimeout
	cfg = nil
	rl := &reloader{cf: &cf, vars: vars, h: h, log: log, running: running}
	acfg.Lookup = h.CredentialValue
	acfg.Reload = rl.reloadResult
	srv := admin.New(h, acfg)
	rl.srv = srv
	if err := srv.Start(); err != nil {
		fmt.Fprintf(stderr, "nebula-host: %v\n", err)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = h.Close(shutdownCtx)
		return exitLocal
	}
	log.Info("nebula-host serving", "ready", h.Ready(), "resources", len(h.ResourceIDs()), "admin", srv.Addr(), "version", version)
	// Starting many resources leaves garbage behind (decoded bodies,
	// plugin answers, connection buffers) that the heap would otherwise
	// keep from the OS for minutes: give it back once, now that the
	// host serves.
	debug.FreeOSMemory()

	// SIGHUP reloads the configuration, until SIGINT or SIGTERM.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rl.onHangup(ctx, hup)
	stop()
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	code := exitOK
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("admin shutdown", "error", err)
		code = exitLocal
	}
	if err := h.Close(shutdownCtx); err != nil {
		log.Error("host shutdown", "error", err)
		code = exitLocal
	}
	log.Info("stopped")
	return code
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	asJSON := fs.Bool("json", false, "print diagnostics as JSON, in the shape of terraform validate -json")
	addr := fs.String("admin", "", "check this admin endpoint address, as run -admin would use it")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: nebula-host validate [-json] PATH")
		return exitLocal
	}
	cf.path = fs.Arg(0)

	vars, ok := cf.variables(stderr)
	if !ok {
		return exitLocal
	}
	cfg, diags := config.Load(cf.path, config.WithVariables(vars))
	files := cfg.Files // Load always returns a Config with its files
	if !diags.HasErrors() {
		// What run checks after loading, before it starts plugins.
		_, adiags := adminConfig(cfg, *addr)
		diags = append(diags, adiags...)
	}
	if !diags.HasErrors() {
		log := cf.logger(cfg, io.Discard)
		hdiags, err := host.Check(context.Background(), cfg, cf.hostOptions(log)...)
		diags = append(diags, hdiags...)
		var de *host.DiagnosticsError
		switch {
		case errors.As(err, &de):
		case errors.Is(err, host.ErrCredential):
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Credential not readable", Detail: err.Error()})
		case err != nil:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin failed to start", Detail: err.Error()})
		}
	}
	diags = cfg.HideSecrets(diags) // those of the plugins
	if *asJSON {
		_ = config.WriteDiagnosticsJSON(stdout, files, diags)
	} else if len(diags) > 0 {
		printDiagnostics(stderr, files, diags)
	}
	if diags.HasErrors() {
		return exitLocal
	}
	if !*asJSON {
		fmt.Fprintln(stdout, "Success! The configuration is valid.")
	}
	return exitOK
}

// adminConfig returns the admin server's configuration from cfg and the
// -admin flag (which wins when set), and the diagnostics of what is wrong
// with the address: the checks of the admin block, and the admin server's
// own, which Start applies. run and validate both call it, so that validate
// accepts exactly the addresses run accepts.
func adminConfig(cfg *config.Config, flagAddr string) (admin.Config, hcl.Diagnostics) {
	acfg := admin.Config{
		Address: cfg.Admin.Address, AllowRemote: cfg.Admin.AllowRemote, Auth: cfg.Admin.Auth,
		AllowedHosts: cfg.Admin.AllowedHosts, AllowedOrigins: cfg.Admin.AllowedOrigins,
		MaxMessageSize: cfg.Host.MaxMessageSize,
	}
	var subject *hcl.Range
	if cfg.Admin.AddressRange != (hcl.Range{}) {
		subject = cfg.Admin.AddressRange.Ptr()
	}
	what := "The admin address"
	if flagAddr != "" {
		acfg.Address, subject, what = flagAddr, nil, "The -admin flag"
		if err := config.CheckAdminAddress(flagAddr, cfg.Admin.RemoteAccess()); err != nil {
			return acfg, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid -admin address", Detail: fmt.Sprintf("%s: %v", what, err)}}
		}
	}
	if err := admin.CheckAddress(acfg.Address, acfg.RemoteAccess()); err != nil {
		return acfg, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Admin address refused", Subject: subject,
			Detail: fmt.Sprintf("%s is refused by the admin server: %v.", what, err)}}
	}
	return acfg, nil
}

// printDiagnostics prints diagnostics with their source snippets, then one
// line per diagnostic, "file:line:column: severity: summary; detail", which
// editors and CI annotators can jump to (the snippets name only the line).
func printDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	_ = config.WriteDiagnostics(w, files, diags, false)
	for _, d := range diags {
		fmt.Fprintln(w, config.FormatDiagnostic(d))
	}
}
