// Command objects copies files into and out of a blob resource through a
// host embedded in the program, and hands out presigned URLs that let
// any HTTP client download an object without credentials. The same
// program runs on local files in development (local.hcl, a localfs
// resource) and on an S3 bucket in production (s3.hcl), because both
// resource types offer the blob capability: the operations, arguments
// and results are the same. Presigned URLs need a bucket: s3, gcs and
// azblob offer presign (the blob_presign capability), localfs does not.
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
//	OBJECTS_BUCKET=my-bucket go run ./examples/objects -config examples/objects/s3.hcl url notes/today.txt
//	OBJECTS_BUCKET=my-bucket go run ./examples/objects -config examples/objects/s3.hcl fetch notes/today.txt copy.txt
//
// put and get stream: a file of any size goes through in bounded memory,
// and put leaves no object when it fails. url prints a presigned GET URL
// of an object; fetch downloads the object with a plain net/http GET of
// such a URL, as a browser or a partner's service would.
package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

const usage = `usage: objects [-config FILE] [-plugin-dir DIR] [-expires D] COMMAND
  put KEY FILE    store FILE (- for stdin) as the object KEY
  get KEY FILE    write the object KEY to FILE (- for stdout)
  list [PREFIX]   list the objects whose keys start with PREFIX
  url KEY         print a presigned URL that downloads KEY (buckets only)
  fetch KEY FILE  download KEY to FILE (- for stdout) with a plain HTTP GET
                  of a presigned URL (buckets only)`

func main() {
	configPath := flag.String("config", "examples/objects/local.hcl", "configuration with one blob resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	expires := flag.Duration("expires", 15*time.Minute, "how long a presigned URL works (url, fetch), up to 168h")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, usage); flag.PrintDefaults() }
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd := command{configPath: *configPath, pluginDir: *pluginDir, expires: *expires,
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if err := cmd.run(ctx, flag.Args()); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "objects: %v\n", err)
		}
		os.Exit(1)
	}
}

// command is one run of the program: its settings and its standard
// streams. Objects' bytes go to stdout; what the program did goes to
// stderr.
type command struct {
	configPath, pluginDir string
	expires               time.Duration
	stdin                 io.Reader
	stdout, stderr        io.Writer
}

func (c command) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cfg, diags := config.Load(c.configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 {
		return fmt.Errorf("%s declares %d resources; the example uses a configuration with one", c.configPath, len(cfg.Resources))
	}
	resource := cfg.Resources[0].ID()

	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(c.pluginDir))
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
			fmt.Fprintln(c.stderr, "objects: close:", err)
		}
	}()

	lease, err := h.Acquire(ctx, resource, host.ForWorkflow("objects-example"))
	if err != nil {
		return err
	}
	defer lease.Release()

	switch {
	case args[0] == "put" && len(args) == 3:
		return c.put(ctx, lease, args[1], args[2])
	case args[0] == "get" && len(args) == 3:
		return c.get(ctx, lease, args[1], args[2])
	case args[0] == "list" && len(args) <= 2:
		prefix := ""
		if len(args) == 2 {
			prefix = args[1]
		}
		return c.list(ctx, lease, prefix)
	case args[0] == "url" && len(args) == 2:
		u, err := c.presign(ctx, lease, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, u.URL)
		return nil
	case args[0] == "fetch" && len(args) == 3:
		return c.fetch(ctx, lease, args[1], args[2])
	}
	return errors.New(usage)
}

// put streams the file (or stdin) into the object: OpenWriter gives an
// io.Writer whose bytes are the put's stream.
func (c command) put(ctx context.Context, lease *host.Lease, key, path string) error {
	src := c.stdin
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
	fmt.Fprintf(c.stderr, "put %s: %d bytes, sha256 %s\n", res.Key, res.Size, res.SHA256)
	return nil
}

// get streams the object into the file (or stdout): OpenReader gives an
// io.Reader of the get's stream, which ends with the operation's error if
// it fails (its kind survives: sdk.KindOf).
func (c command) get(ctx context.Context, lease *host.Lease, key, path string) (err error) {
	r, err := lease.OpenReader(ctx, "get", map[string]any{"key": key, "checksum": "sha256"})
	if err != nil {
		return err
	}
	defer r.Close()
	dst, done, err := c.output(path)
	if err != nil {
		return err
	}
	defer func() { err = done(err) }()
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
	fmt.Fprintf(c.stderr, "get %s: %d bytes, sha256 %s\n", res.Key, res.Length, res.SHA256)
	return nil
}

// list prints the keys under prefix, a page at a time.
func (c command) list(ctx context.Context, lease *host.Lease, prefix string) error {
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
			fmt.Fprintf(c.stdout, "%12d  %s\n", o.Size, o.Key)
		}
		if token = page.Token; token == "" {
			return nil
		}
	}
}

// presign asks the resource for a URL that downloads the object for
// c.expires, and says until when on stderr. The URL is a credential
// until it expires: whoever holds it may read the object.
func (c command) presign(ctx context.Context, lease *host.Lease, key string) (sdk.BlobPresignResult, error) {
	if t := lease.Type(); !slices.Contains(t.Capabilities, sdk.CapabilityBlobPresign) {
		return sdk.BlobPresignResult{}, fmt.Errorf("%s cannot presign URLs: type %s has no %s capability (s3, gcs and azblob have it; try -config examples/objects/s3.hcl)",
			lease.Resource(), t.Name, sdk.CapabilityBlobPresign)
	}
	// Presigning sends nothing to the backend: the URL is signed with the
	// resource's credentials, and an object that does not exist is found
	// missing only when the URL is used.
	raw, err := lease.Invoke(ctx, "presign", map[string]any{"key": key, "method": "get", "expires": c.expires.String()})
	if err != nil {
		return sdk.BlobPresignResult{}, err
	}
	var res sdk.BlobPresignResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return sdk.BlobPresignResult{}, err
	}
	fmt.Fprintf(c.stderr, "presigned %s %s, valid until %s\n", res.Method, key, res.Expires.UTC().Format(time.RFC3339))
	return res, nil
}

// fetch downloads the object as someone given a presigned URL does: with
// a plain HTTP request, which carries no credentials and passes neither
// through the host nor through the plugin.
func (c command) fetch(ctx context.Context, lease *host.Lease, key, path string) (err error) {
	u, err := c.presign(ctx, lease, key)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, u.Method, u.URL, nil)
	if err != nil {
		return fmt.Errorf("the presigned URL of %q: %w", key, withoutURL(err))
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	// A client of its own, whose connections close when the download
	// ends; it takes a proxy from the environment, as most clients do.
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET of the presigned URL of %q: %w", key, withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET of the presigned URL of %q: %s%s", key, resp.Status, reason(resp.Body))
	}
	dst, done, err := c.output(path)
	if err != nil {
		return err
	}
	defer func() { err = done(err) }()
	n, err := io.Copy(dst, resp.Body)
	if err != nil {
		return fmt.Errorf("GET of the presigned URL of %q: %w", key, err)
	}
	fmt.Fprintf(c.stderr, "fetched %s with an HTTP GET of its presigned URL: %d bytes\n", key, n)
	return nil
}

// withoutURL returns what went wrong without the URL that a *url.Error
// names: a presigned URL is a credential, which errors must not show.
func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// reason returns the code and message of the XML error body that S3,
// GCS and Azure Blob Storage answer a refused request with, as
// " (Code: message)"; "" when the body holds no such error.
func reason(body io.Reader) string {
	var e struct {
		Code    string
		Message string
	}
	if xml.NewDecoder(io.LimitReader(body, 4096)).Decode(&e) != nil || e.Code == "" {
		return ""
	}
	return fmt.Sprintf(" (%s: %s)", e.Code, e.Message)
}

// output returns where to write a download to path (- for stdout), and
// the function that ends it with the download's error. A file is written
// beside path and renamed over it once whole, so that a failed download
// leaves no partial file.
func (c command) output(path string) (io.Writer, func(error) error, error) {
	if path == "-" {
		return c.stdout, func(err error) error { return err }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".objects-get-*")
	if err != nil {
		return nil, nil, err
	}
	return f, func(err error) error { return finish(f, path, err) }, nil
}

// finish closes the temporary file f and renames it to path if the
// download succeeded (err is nil), or removes it.
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
