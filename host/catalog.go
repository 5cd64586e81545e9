package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// PluginPrefix is the file name prefix of plugin binaries found by type:
// resource type "redis" is served by nebula-plugin-redis when no plugin
// block offers it.
const PluginPrefix = "nebula-plugin-"

// provider serves resource types: a supervised plugin process, or a driver
// compiled into the host.
type provider struct {
	name  string
	sup   *supervisor.Supervisor // nil for an in-process driver
	local sdk.Driver             // nil for a plugin
	info  sdk.DriverInfo         // as described at the first start
	// plugin is how the plugin was started (its block, or the binary
	// found by type, with the lock file's checksum); stamp is its binary
	// as it was then, to notice a new one (upgrade). Nil and zero for an
	// in-process driver.
	plugin *config.Plugin
	stamp  fileStamp
}

// driver returns the provider's current driver and generation.
func (p *provider) driver() (sdk.Driver, uint64, error) {
	if p.local != nil {
		return p.local, 1, nil
	}
	d, gen, err := p.sup.Driver()
	if err != nil {
		return nil, gen, newError(sdk.KindUnavailable, err, "%v", err)
	}
	return d, gen, nil
}

// PluginInfo describes a plugin or in-process driver serving the host.
type PluginInfo = supervisor.Info

func (p *provider) describe() PluginInfo {
	if p.sup != nil {
		return p.sup.Info()
	}
	types := make([]string, 0, len(p.info.Types))
	for _, t := range p.info.Types {
		types = append(types, t.Name)
	}
	sort.Strings(types)
	return PluginInfo{
		Name: p.name, Path: "(in process)", Version: p.info.Version, Driver: p.info.Name,
		Protocol: sdk.ProtocolVersion, Types: types, State: supervisor.StateRunning, Generation: 1,
	}
}

// catalog is the set of providers and the resource types they offer.
type catalog struct {
	providers []*provider
	types     map[string]*provider
	// installed names the plugin binaries in the plugin directories that
	// were not started, for "did you mean" hints.
	installed []string
	// dirs are the plugin directories, in the order they are searched.
	dirs []string
	// newPlugin makes the provider of a plugin, not started.
	newPlugin func(pl *config.Plugin) *provider
}

// hooks lets the host learn of plugin exits and restarts.
type hooks struct {
	onExit    func(p *provider, gen uint64)
	onRestart func(p *provider, d sdk.Driver, gen uint64)
}

// loadCatalog starts every plugin the configuration declares, then, for
// each resource type no plugin offers, the plugin named for it in the plugin
// directories. Configuration problems (a missing binary, a type offered
// twice) are diagnostics; a plugin that fails to start is an error.
func loadCatalog(ctx context.Context, cfg *config.Config, o *options, h hooks) (*catalog, hcl.Diagnostics, error) {
	c := &catalog{types: map[string]*provider{}}
	var diags hcl.Diagnostics

	for name, d := range o.drivers {
		c.providers = append(c.providers, &provider{name: name, local: d, info: d.Info()})
	}
	newSup := func(pl *config.Plugin) *provider {
		p := &provider{name: pl.Name, plugin: pl, stamp: stampOf(pl.Path)}
		p.sup = supervisor.New(supervisor.Config{
			Name: pl.Name, Path: pl.Path, SHA256: pl.SHA256, Args: pl.Args, Env: pl.Env,
			StartTimeout:       pl.StartTimeout,
			ResetAfter:         pl.RestartResetAfter,
			AllowWorldWritable: pl.AllowWorldWritable,
			MaxMessageSize:     cfg.Host.MaxMessageSize, // the plugin link's limit, as the admin API's
			// The plugin exports its spans to the host's collector and
			// follows the host's sampling decision.
			Tracing: supervisor.Tracing{
				Endpoint: cfg.Telemetry.Tracing.Endpoint,
				Insecure: cfg.Telemetry.Tracing.Insecure,
				Headers:  cfg.Telemetry.Tracing.Headers,
			},
			Logger:     o.logger,
			MinBackoff: o.minBackoff, MaxBackoff: o.maxBackoff,
			OnExit: func(gen uint64, _ error) {
				if h.onExit != nil {
					h.onExit(p, gen)
				}
			},
			OnRestart: func(d sdk.Driver, gen uint64) {
				if h.onRestart != nil {
					h.onRestart(p, d, gen)
				}
			},
		})
		return p
	}
	c.newPlugin = newSup
	var declared []*provider
	for _, pl := range cfg.Plugins {
		if err := supervisor.CheckBinary(pl.Path, pl.AllowWorldWritable); err != nil {
			diags = append(diags, binaryDiagnostic(fmt.Sprintf("Plugin %q", pl.Name), err, pl.DeclRange.Ptr()))
			continue
		}
		pl, ldiag := lockedPlugin(cfg.Lock, pl)
		if ldiag != nil {
			diags = append(diags, ldiag)
			continue
		}
		declared = append(declared, newSup(pl))
	}
	if diags.HasErrors() {
		return c, diags, nil
	}
	if err := startAll(ctx, declared); err != nil {
		c.providers = append(c.providers, declared...)
		return c, diags, err
	}
	c.providers = append(c.providers, declared...)
	diags = append(diags, c.index()...)

	// Plugins found by type, for types nobody offers yet.
	dirs := append(append([]string(nil), o.pluginDirs...), defaultPluginDirs(cfg)...)
	c.dirs = dirs
	var found []*provider
	seen := map[string]bool{}
	for _, r := range cfg.Resources {
		if c.types[r.Type] != nil || seen[r.Type] {
			continue
		}
		seen[r.Type] = true
		// The first usable binary wins; when there is none, what is wrong
		// with the first file of that name is the diagnostic, rather than
		// an unknown resource type with a "did you mean" of itself.
		var problem error
	search:
		for _, name := range pluginNames(r.Type) {
			if seen[name] && name != r.Type {
				break // found (or found wanting) for another type
			}
			for _, dir := range dirs {
				path := filepath.Join(dir, PluginPrefix+name)
				if _, err := os.Lstat(path); err != nil {
					continue
				}
				err := supervisor.CheckBinary(path, false)
				if err == nil {
					seen[name] = true
					if pl, ldiag := lockedPlugin(cfg.Lock, &config.Plugin{Name: name, Path: path}); ldiag != nil {
						diags = append(diags, ldiag)
					} else {
						found = append(found, newSup(pl))
					}
					problem = nil
					break search
				}
				if problem == nil {
					problem = err
				}
			}
			if problem != nil {
				break
			}
		}
		if problem != nil {
			diags = append(diags, binaryDiagnostic(fmt.Sprintf("The plugin for resource type %q", r.Type), problem, r.DeclRange.Ptr()))
		}
	}
	if diags.HasErrors() {
		return c, diags, nil
	}
	if err := startAll(ctx, found); err != nil {
		c.providers = append(c.providers, found...)
		return c, diags, err
	}
	c.providers = append(c.providers, found...)
	c.types = map[string]*provider{}
	diags = append(diags, c.index()...)
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, PluginPrefix+"*"))
		for _, m := range matches {
			// Only what could run is a known type: not a directory, not
			// a file no one may execute.
			if supervisor.CheckBinary(m, true) != nil {
				continue
			}
			if name := strings.TrimPrefix(filepath.Base(m), PluginPrefix); c.types[name] == nil {
				c.installed = append(c.installed, name)
			}
		}
	}
	return c, diags, nil
}

// searched says where the plugin of resource type typ was looked for, for
// an "Unknown resource type" diagnostic (config.Searched).
func (c *catalog) searched(typ string) string {
	if len(c.dirs) == 0 {
		return ""
	}
	names := pluginNames(typ)
	for i, n := range names {
		names[i] = PluginPrefix + n
	}
	return fmt.Sprintf("The host looked for %s in %s. Build it (make build), install it (nebula-host plugins install SOURCE), or declare it with a plugin block.",
		strings.Join(names, " or "), strings.Join(c.dirs, ", "))
}

// binaryDiagnostic reports a plugin binary the host will not start.
func binaryDiagnostic(what string, err error, subject *hcl.Range) *hcl.Diagnostic {
	summary := "Not a plugin binary"
	detail := fmt.Sprintf("%s: %v.", what, err)
	switch {
	case errors.Is(err, supervisor.ErrInsecurePermissions):
		summary = "Plugin binary writable by every user"
	case errors.Is(err, fs.ErrNotExist):
		summary = "Plugin binary not found"
		detail += " Build it (make build) or fix the path."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject}
}

// index maps each resource type to its provider; a type offered twice is a
// diagnostic.
func (c *catalog) index() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range c.providers {
		if p.sup != nil {
			d, _, err := p.driver()
			if err != nil {
				continue
			}
			p.info = d.Info()
		}
		for _, t := range p.info.Types {
			if other, ok := c.types[t.Name]; ok && other != p {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Resource type offered twice",
					Detail:   fmt.Sprintf("Plugins %q and %q both offer resource type %q; remove one of them.", other.name, p.name, t.Name),
				})
				continue
			}
			c.types[t.Name] = p
		}
	}
	return diags
}

// pluginNames are the names of the plugins that may offer resource type
// typ, in the order they are looked for: its own, then each shorter
// prefix that ends before an underscore, so that a driver's other types
// (mongo_session, redis_session) are found in its binary
// (nebula-plugin-mongo) when no resource of its main type is declared.
func pluginNames(typ string) []string {
	names := []string{typ}
	for i := strings.LastIndexByte(typ, '_'); i > 0; i = strings.LastIndexByte(typ[:i], '_') {
		names = append(names, typ[:i])
	}
	return names
}

func defaultPluginDirs(cfg *config.Config) []string {
	var dirs []string
	if cfg.Host.PluginDir != "" {
		dirs = append(dirs, cfg.Host.PluginDir)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "plugins"))
	}
	return dirs
}

// startAll starts the plugins in parallel and returns their errors joined.
func startAll(ctx context.Context, ps []*provider) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Go(func() { errs[i] = p.sup.Start(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// schemas returns each type's config schema, for decoding resources.
func (c *catalog) schemas() map[string]sdk.Schema {
	out := make(map[string]sdk.Schema, len(c.types))
	for name, p := range c.types {
		t, _ := p.info.Type(name)
		out[name] = t.Config
	}
	return out
}

// close stops every plugin.
func (c *catalog) close(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.providers))
	for i, p := range c.providers {
		if p.sup != nil {
			wg.Go(func() { errs[i] = p.sup.Close(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}
