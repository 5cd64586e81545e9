package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
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
	return rep, nil
}

// reloadResult is reload for the admin API's POST /v1/reload.
func (r *reloader) reloadResult(ctx context.Context) (api.ReloadResult, error) {
	rep, err := r.reload(ctx)
	if err != nil {
		return api.ReloadResult{}, err
	}
	return api.ReloadResult{Added: rep.Added, Removed: rep.Removed, Changed: rep.Changed, Unchanged: rep.Unchanged}, nil
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
