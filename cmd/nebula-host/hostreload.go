package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
)

// reloader applies the configuration files anew to a running host: what
// SIGHUP and the admin API's POST /v1/reload do.
type reloader struct {
	cf   *configFlags
	vars map[string]string
	h    *host.Host
	srv  *admin.Server // nil until the admin server is made
	log  *slog.Logger
	// running are the settings the host applies only when it starts,
	// as the host started with them.
	running startSettings
}

// startSettings are the parts of a configuration that a reload does not
// apply: the host block, telemetry, the plugins and the admin address.
type startSettings struct {
	host      config.HostSettings
	telemetry config.Telemetry
	plugins   []config.Plugin
	address   string
}

func startSettingsOf(cfg *config.Config) startSettings {
	st := startSettings{host: cfg.Host, telemetry: cfg.Telemetry, address: cfg.Admin.Address}
	st.host.QuotaStoreRange = hcl.Range{}
	for _, p := range cfg.Plugins {
		p := *p
		p.DeclRange = hcl.Range{}
		st.plugins = append(st.plugins, p)
	}
	return st
}

// restartNeeded names the settings of cfg that differ from those the host
// started with, which take effect only at the next start.
func (r *reloader) restartNeeded(cfg *config.Config) []string {
	now := startSettingsOf(cfg)
	var out []string
	for _, c := range []struct {
		what string
		same bool
	}{
		{"host block", reflect.DeepEqual(now.host, r.running.host)},
		{"telemetry block", reflect.DeepEqual(now.telemetry, r.running.telemetry)},
		{"plugin blocks", reflect.DeepEqual(now.plugins, r.running.plugins)},
		{"admin address", now.address == r.running.address},
	} {
		if !c.same {
			out = append(out, c.what)
		}
	}
	return out
}

// reload reads the files and reloads the host (host.Host.Reload). A
// configuration with errors changes nothing; its error is a
// *configError listing each diagnostic as file:line:column.
func (r *reloader) reload(ctx context.Context) (host.ReloadReport, error) {
	cfg, diags := config.Load(r.cf.path, config.WithVariables(r.vars))
	if diags.HasErrors() {
		return host.ReloadReport{}, newConfigError(cfg.HideSecrets(diags))
	}
	rep, err := r.h.Reload(ctx, cfg)
	var de *host.DiagnosticsError
	switch {
	case errors.As(err, &de):
		return host.ReloadReport{}, newConfigError(cfg.HideSecrets(de.Diagnostics))
	case err != nil:
		return host.ReloadReport{}, err
	}
	if r.srv != nil {
		if err := r.srv.SetAuth(cfg.Admin.Auth); err != nil {
			r.log.Warn("admin settings not applied by the reload", "error", err)
		}
	}
	rep.RestartNeeded = r.restartNeeded(cfg)
	if len(rep.RestartNeeded) > 0 {
		r.log.Warn("changed settings that apply at the next start only", "settings", strings.Join(rep.RestartNeeded, ", "))
	}
	return rep, nil
}

// reloadResult is reload for the admin API's POST /v1/reload.
func (r *reloader) reloadResult(ctx context.Context) (api.ReloadResult, error) {
	rep, err := r.reload(ctx)
	if err != nil {
		return api.ReloadResult{}, err
	}
	return api.ReloadResult{Added: rep.Added, Removed: rep.Removed, Changed: rep.Changed, Unchanged: rep.Unchanged, RestartNeeded: rep.RestartNeeded, Upgraded: rep.Upgraded}, nil
}

// configError is a configuration refused by a reload: its diagnostics,
// one "file:line:column: severity: summary; detail" line each.
type configError struct{ lines []string }

func newConfigError(diags hcl.Diagnostics) *configError {
	e := &configError{}
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			e.lines = append(e.lines, config.FormatDiagnostic(d))
		}
	}
	return e
}

// InvalidConfiguration marks the error as a configuration refused: the
// admin API answers it 422 with its text.
func (e *configError) InvalidConfiguration() bool { return true }

func (e *configError) Error() string {
	return "the configuration has errors; nothing changed:\n" + strings.Join(e.lines, "\n")
}

// onHangup reloads on each SIGHUP until ctx ends, logging what changed
// or why nothing did.
func (r *reloader) onHangup(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP: reloading the configuration", "path", r.cf.path)
			rep, err := r.reload(ctx)
			if err != nil {
				r.log.Error("reload refused", "error", err.Error())
				continue
			}
			r.log.Info("reloaded", "added", rep.Added, "removed", rep.Removed, "changed", rep.Changed, "unchanged", rep.Unchanged)
		}
	}
}
