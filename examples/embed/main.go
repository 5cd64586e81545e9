// Command embed runs nebula-resource inside a Go program: it loads the
// quickstart configuration, starts the host, sets and gets a key in
// memory.cache, and closes the host.
//
// Run it from the repository root, after make build:
//
//	go run ./examples/embed
//
// With -in-process the quickstart's drivers (memory, localfs and sqlite)
// are compiled into the program instead, and no plugin binaries are
// needed:
//
//	go run ./examples/embed -in-process
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/plugins/sqlite"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/quickstart", "configuration file or directory")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	inProcess := flag.Bool("in-process", false, "compile the drivers in instead of starting plugins")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if err := run(ctx, *configPath, *pluginDir, *inProcess, os.Stdout); err != nil {
		// A configuration problem comes with file, line and column; print
		// it with source snippets, as nebula-host does.
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintln(os.Stderr, "embed:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath, pluginDir string, inProcess bool, out io.Writer) error {
	// 1. Read the HCL. Problems found here are diagnostics, not errors.
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}

	// 2. Create the host. Plugin stderr and the host's own messages go to
	// this logger, with sensitive values masked.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []host.Option{host.WithLogger(log), host.WithPluginDir(pluginDir)}
	if inProcess {
		opts = append(opts,
			host.WithDriver("memory", memory.New()),
			host.WithDriver("localfs", localfs.New()),
			host.WithDriver("sqlite", sqlite.New()),
		)
	}
	h, err := host.New(cfg, opts...)
	if err != nil {
		return err
	}

	// 3. Start the plugins and the resources. Close stops them again,
	// waiting for leases still out until its context ends.
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			fmt.Fprintln(os.Stderr, "embed: close:", err)
		}
	}()

	// 4. Use a resource: acquire a lease, invoke operations, release it.
	// The owner labels the lease in logs and in Describe, so that a lease
	// kept too long says who holds it.
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lease, err := h.Acquire(callCtx, "memory.cache", host.ForWorkflow("embed-example"), host.ForStep("greet"))
	if err != nil {
		return err
	}
	defer lease.Release()

	if _, err := lease.Invoke(callCtx, "set", map[string]any{"key": "greeting", "value": "hello", "ttl": "1m"}); err != nil {
		return err
	}
	got, err := lease.Invoke(callCtx, "get", map[string]any{"key": "greeting"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "greeting = %s\n", got)

	// A missing key is not an error: found is false.
	got, err = lease.Invoke(callCtx, "get", map[string]any{"key": "missing"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "missing = %s\n", got)

	// Errors keep the kind the plugin gave them.
	_, err = lease.Invoke(callCtx, "incr", map[string]any{"key": "greeting"})
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		fmt.Fprintln(out, "incr greeting: invalid argument, as expected")
	case err != nil:
		return fmt.Errorf("incr greeting: %w (kind %s)", err, sdk.KindOf(err))
	}

	// host.Call acquires, invokes, releases, and decodes the JSON result.
	visits, err := host.Call[struct{ Value int }](callCtx, h, "memory.cache", "incr", map[string]any{"key": "visits"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "visits = %d\n", visits.Value)
	return nil
}
