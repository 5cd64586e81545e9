// Package host runs nebula-resource resources, embedded in a Go program or
// behind the nebula-host command.
//
// A Host takes a configuration loaded by package config, starts the driver
// plugins it needs, decodes every resource block with the schema its plugin
// publishes, configures the resources and hands out leases:
//
//	cfg, diags := config.Load("examples/quickstart")
//	if diags.HasErrors() { ... }
//	h, err := host.New(cfg, host.WithLogger(logger))
//	if err != nil { ... }
//	if err := h.Start(ctx); err != nil { ... } // a *host.DiagnosticsError names file:line:column
//	defer h.Close(context.Background())
//
//	lease, err := h.Acquire(ctx, "memory.cache")
//	if err != nil { ... }
//	defer lease.Release()
//	out, err := lease.Invoke(ctx, "get", map[string]any{"key": "a"})
//
// Errors from operations carry the kind the plugin gave them
// (sdk.KindOf(err)), so callers can tell a missing key (not_found) from a
// backend outage (unavailable).
//
// When a plugin process dies, calls in flight fail as unavailable, the
// host restarts the plugin with exponential backoff, configures its
// resources again and serves them without a restart of its own.
package host
