// Command grpccall calls a gRPC server through a host embedded in the
// program, with JSON: it starts a small gRPC server of its own (the demo
// service of plugins/grpcclient/grpctest, whose types exist only as a
// descriptor the server's reflection serves), then, through the grpc
// resource of grpccall.hcl, lists the server's methods, calls a unary
// method, reads a server stream with Lease.OpenReader, sends a client
// stream with Lease.OpenWriter, and shows a status code as an error kind.
//
// Run it from the repository root, after make build (or a build of
// bin/plugins/nebula-plugin-grpc alone, docs/grpc.md):
//
//	go run ./examples/grpccall
//
// With -serve it only runs the demo server, for trying the plugin with
// nebula-host run and nebula-host call:
//
//	go run ./examples/grpccall -serve 127.0.0.1:50051
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/grpccall/grpccall.hcl", "configuration with one grpc resource whose target is var.target")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	serve := flag.String("serve", "", "only serve the demo gRPC server on this address (host:port) until interrupted, for nebula-host call to try (docs/grpc.md)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *serve != "" {
		if err := serveDemo(ctx, *serve); err != nil {
			fmt.Fprintf(os.Stderr, "grpccall: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *configPath, *pluginDir, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "grpccall: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath, pluginDir string, out io.Writer) error {
	// The server: the demo service, reflection and health, on a free
	// loopback port.
	srv, err := grpctest.Listen(grpctest.Options{})
	if err != nil {
		return err
	}
	defer srv.Stop()

	cfg, diags := config.Load(configPath, config.WithVariables(map[string]string{"target": srv.Addr}))
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(pluginDir))
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			fmt.Fprintln(os.Stderr, "grpccall: close:", err)
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	const demo = "grpc.demo"

	// What the server offers, as reflection tells it.
	var list struct {
		Services []struct {
			Name    string
			Methods []struct{ Name, Operation string }
		}
	}
	if err := call(ctx, h, demo, "list_services", map[string]any{}, &list); err != nil {
		return err
	}
	for _, s := range list.Services {
		if s.Name != grpctest.ServiceName {
			continue
		}
		fmt.Fprintln(out, "methods of", s.Name+":")
		for _, m := range s.Methods {
			fmt.Fprintf(out, "  %-28s %s\n", m.Name, m.Operation)
		}
	}

	// A unary call: JSON in, JSON out.
	var echo struct{ Response json.RawMessage }
	if err := call(ctx, h, demo, "invoke", map[string]any{
		"method":  "nebula.demo.v1.Demo/Echo",
		"request": map[string]any{"text": "hello", "count": 2, "tags": []string{"a", "b"}},
	}, &echo); err != nil {
		return err
	}
	fmt.Fprintf(out, "Echo: %s\n", echo.Response)

	return host.Use(ctx, h, demo, func(l *host.Lease) error {
		// A server stream: one JSON message per line.
		r, err := l.OpenReader(ctx, "server_stream", map[string]any{
			"method": "nebula.demo.v1.Demo/Count", "request": map[string]any{"count": 3, "text": "tick"},
		})
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fmt.Fprintf(out, "Count: %s\n", sc.Text())
		}
		if err := errors.Join(sc.Err(), r.Close()); err != nil {
			return err
		}
		fmt.Fprintf(out, "Count result: %s\n", r.Result())

		// A client stream: one JSON message per line in.
		w, err := l.OpenWriter(ctx, "client_stream", map[string]any{"method": "nebula.demo.v1.Demo/Sum"})
		if err != nil {
			return err
		}
		for i := 1; i <= 4; i++ {
			if _, err := fmt.Fprintf(w, "{\"seq\": %d}\n", i*10); err != nil {
				return errors.Join(err, w.Close())
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		var sum struct{ Response json.RawMessage }
		if err := json.Unmarshal(w.Result(), &sum); err != nil {
			return err
		}
		fmt.Fprintf(out, "Sum: %s\n", sum.Response)

		// A status code is an error kind, the code's name kept.
		_, err = l.Invoke(ctx, "invoke", map[string]any{
			"method": "nebula.demo.v1.Demo/Fail", "request": map[string]any{"code": "NOT_FOUND", "message": "no order 42"},
		})
		var se *sdk.Error
		if !errors.As(err, &se) {
			return fmt.Errorf("the call of Fail did not fail as expected: %v", err)
		}
		fmt.Fprintf(out, "Fail: kind %s, code %s: %s\n", se.Kind, se.Code, se.Message)
		return nil
	})
}

// serveDemo serves the demo server on addr until ctx ends.
func serveDemo(ctx context.Context, addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv, err := grpctest.Start(lis, grpctest.Options{})
	if err != nil {
		_ = lis.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "grpccall: serving %s with reflection and health on %s\n", grpctest.ServiceName, srv.Addr)
	<-ctx.Done()
	srv.Stop()
	return nil
}

// call invokes op on the resource and decodes its result into res.
func call(ctx context.Context, h *host.Host, resource, op string, args, res any) error {
	raw, err := h.Invoke(ctx, resource, op, args)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, res)
}
