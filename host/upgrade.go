package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
)

// fileStamp tells cheaply whether a file is still the one it was: a
// binary written anew or renamed over the old one has another.
type fileStamp struct{ fi os.FileInfo }

// stampOf stamps the file at path; the zero stamp when it cannot be read.
func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi}
}

// same reports whether both stamps are of the same file, unchanged.
func (s fileStamp) same(o fileStamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == o.fi
	}
	return os.SameFile(s.fi, o.fi) && s.fi.Size() == o.fi.Size() && s.fi.ModTime().Equal(o.fi.ModTime())
}

// pluginUpgrade is a running plugin whose binary changed, and the
// provider started from the new binary beside it.
type pluginUpgrade struct {
	old, new *provider
}

// newProviders returns the new providers of ups; oldProviders the old.
func newProviders(ups []pluginUpgrade) []*provider {
	out := make([]*provider, len(ups))
	for i, u := range ups {
		out[i] = u.new
	}
	return out
}

func oldProviders(ups []pluginUpgrade) []*provider {
	out := make([]*provider, len(ups))
	for i, u := range ups {
		out[i] = u.old
	}
	return out
}

// startUpgrades starts, beside each running plugin whose binary changed
// since it started, a plugin from the new binary, and returns the catalog
// with the new plugins in place of the old. A new binary is checked as at
// a start (the lock file of cfg, the sha256 of its plugin block) and must
// start and offer every type the old one offers; otherwise the plugins
// started are stopped and the error says which one failed and why, and
// the running plugins serve on. It returns cat itself when no binary
// changed. reloadMu is held.
func (h *Host) startUpgrades(ctx context.Context, cfg *config.Config, cat *catalog) (*catalog, []pluginUpgrade, error) {
	var ups []pluginUpgrade
	var diags hcl.Diagnostics
	var errs []error
	for _, p := range cat.providers {
		if p.sup == nil {
			continue
		}
		stamp := stampOf(p.plugin.Path)
		if stamp.same(p.stamp) {
			continue
		}
		sum, err := supervisor.FileSHA256(p.plugin.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %q: its binary changed and cannot be read; the running plugin serves on: %w", p.name, err))
			continue
		}
		if sum == p.sup.Info().SHA256 {
			p.stamp = stamp // the same content, written anew
			continue
		}
		pl := *p.plugin
		pl.SHA256 = ""
		if i := slices.IndexFunc(cfg.Plugins, func(b *config.Plugin) bool { return b.Name == p.name && b.Path == p.plugin.Path }); i >= 0 {
			pl = *cfg.Plugins[i] // its block as it is now, with its sha256
		}
		locked, diag := lockedPlugin(cfg.Lock, &pl)
		if diag != nil {
			diags = append(diags, diag)
			continue
		}
		if locked.SHA256 == "" {
			// Restarts of the new plugin start this binary or none.
			locked.SHA256 = sum
		}
		np := cat.newPlugin(locked)
		ups = append(ups, pluginUpgrade{old: p, new: np})
	}
	if len(errs) > 0 || diags.HasErrors() {
		if diags.HasErrors() {
			errs = append(errs, &DiagnosticsError{Diagnostics: diags, Files: cfg.Files})
		}
		return nil, nil, errors.Join(errs...)
	}
	if len(ups) == 0 {
		return cat, nil, nil
	}
	news := newProviders(ups)
	if err := startAll(ctx, news); err != nil {
		closeProviders(ctx, news)
		return nil, nil, fmt.Errorf("a new plugin binary did not start; the running plugins serve on: %w", err)
	}
	next := &catalog{types: map[string]*provider{}, installed: cat.installed, newPlugin: cat.newPlugin}
	for _, p := range cat.providers {
		if i := slices.IndexFunc(ups, func(u pluginUpgrade) bool { return u.old == p }); i >= 0 {
			p = ups[i].new
		}
		next.providers = append(next.providers, p)
	}
	diags = next.index()
	for _, u := range ups {
		for _, t := range u.old.info.Types {
			if next.types[t.Name] != u.new {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Plugin upgrade drops a resource type",
					Detail: fmt.Sprintf("The new binary of plugin %q (%s, version %s) does not offer resource type %q, which the running one (version %s) offers; the running plugin serves on.", u.new.name, u.new.plugin.Path, u.new.info.Version, t.Name, u.old.info.Version),
				})
			}
		}
	}
	if diags.HasErrors() {
		closeProviders(ctx, news)
		return nil, nil, &DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	return next, ups, nil
}

// closeProviders stops plugins started for an upgrade that did not
// happen.
func closeProviders(ctx context.Context, ps []*provider) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { _ = p.sup.Close(cctx) })
	}
	wg.Wait()
}

// retireUpgraded stops the old plugins of ups once the resources drained
// on them are closed (drained). Counted in h.wg by apply.
func (h *Host) retireUpgraded(ups []pluginUpgrade, drained *sync.WaitGroup) {
	defer h.wg.Done()
	drained.Wait()
	closeProviders(h.life, oldProviders(ups))
	for _, u := range ups {
		h.log.Info("plugin upgraded; the old process has stopped", "plugin", u.new.name,
			"from", u.old.info.Version, "to", u.new.info.Version, "sha256", u.new.sup.Info().SHA256)
	}
}
