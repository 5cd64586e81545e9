// Command objects copies files into and out of a blob resource through a
// host embedded in the program. The same program runs on local files in
// development (local.hcl, a localfs resource) and on an S3 bucket in
// production (s3.hcl), because both resource types offer the blob
// capability: the operations, arguments and results are the same.
//
// Run it from the repository root, after make build:
//
//	go run ./examples/objects put notes/today.txt README.md
//	go run ./examples/objects list notes/
//	go run ./examples/objects get notes/today.txt copy.txt
//	echo hello | go run ./examples/objects put hello.txt -
//	go run ./examples/objects get hello.txt -
//
// and against a bucket, with the credentials of the default AWS chain:
//
//	OBJECTS_BUCKET=my-bucket go run ./examples/objects -config examples/objects/s3.hcl put notes/today.txt README.md
//
// put and get stream: a file of any size goes through in bounded memory,
// and put leaves no object when it fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

const usage = `usage: objects [-config FILE] [-plugin-dir DIR] COMMAND
  put KEY FILE   store FILE (- for stdin) as the object KEY
  get KEY FILE   write the object KEY to FILE (- for stdout)
  list [PREFIX]  list the objects whose keys start with PREFIX`

func main() {
	configPath := flag.String("config", "examples/objects/local.hcl", "configuration with one blob resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, usage); flag.PrintDefaults() }
	flag.Parse()
	if err := run(*configPath, *pluginDir, flag.Args()); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "objects: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(configPath, pluginDir string, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 {
		return fmt.Errorf("%s declares %d resources; the example uses a configuration with one", configPath, len(cfg.Resources))
	}
	resource := cfg.Resources[0].Type + "." + cfg.Resources[0].Name

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
			fmt.Fprintln(os.Stderr, "objects: close:", err)
		}
	}()

	lease, err := h.Acquire(ctx, resource, host.ForWorkflow("objects-example"))
	if err != nil {
		return err
	}
	defer lease.Release()

	switch {
	case args[0] == "put" && len(args) == 3:
		return put(ctx, lease, args[1], args[2])
	case args[0] == "get" && len(args) == 3:
		return get(ctx, lease, args[1], args[2])
	case args[0] == "list" && len(args) <= 2:
		prefix := ""
		if len(args) == 2 {
			prefix = args[1]
		}
		return list(ctx, lease, prefix)
	}
	return errors.New(usage)
}

// put streams the file (or stdin) into the object: OpenWriter gives an
// io.Writer whose bytes are the put's stream.
func put(ctx context.Context, lease *host.Lease, key, path string) error {
	src := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	w, err := lease.OpenWriter(ctx, "put", map[string]any{"key": key, "checksum": "sha256"})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		// Closing with the error fails the put: no object is left.
		_ = w.CloseWithError(err)
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	var res sdk.BlobPutResult
	if err := json.Unmarshal(w.Result(), &res); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "put %s: %d bytes, sha256 %s\n", res.Key, res.Size, res.SHA256)
	return nil
}

// get streams the object into the file (or stdout): OpenReader gives an
// io.Reader of the get's stream, which ends with the operation's error if
// it fails (its kind survives: sdk.KindOf).
func get(ctx context.Context, lease *host.Lease, key, path string) (err error) {
	r, err := lease.OpenReader(ctx, "get", map[string]any{"key": key, "checksum": "sha256"})
	if err != nil {
		return err
	}
	defer r.Close()
	dst := io.Writer(os.Stdout)
	if path != "-" {
		// Written beside the file and renamed over it once whole, so that
		// a failed get leaves no partial file.
		f, ferr := os.CreateTemp(filepath.Dir(path), ".objects-get-*")
		if ferr != nil {
			return ferr
		}
		defer func() { err = finish(f, path, err) }()
		dst = f
	}
	if _, err := io.Copy(dst, r); err != nil {
		if sdk.KindOf(err) == sdk.KindNotFound {
			return fmt.Errorf("no object %q", key)
		}
		return err
	}
	var res sdk.BlobGetResult
	if err := json.Unmarshal(r.Result(), &res); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "get %s: %d bytes, sha256 %s\n", res.Key, res.Length, res.SHA256)
	return nil
}

// list prints the keys under prefix, a page at a time.
func list(ctx context.Context, lease *host.Lease, prefix string) error {
	token := ""
	for {
		raw, err := lease.Invoke(ctx, "list", map[string]any{"prefix": prefix, "token": token})
		if err != nil {
			return err
		}
		var page sdk.BlobListResult
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		for _, o := range page.Objects {
			fmt.Printf("%12d  %s\n", o.Size, o.Key)
		}
		if token = page.Token; token == "" {
			return nil
		}
	}
}

// finish closes the temporary file f and renames it to path if the get
// succeeded (err is nil), or removes it.
func finish(f *os.File, path string, err error) error {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
