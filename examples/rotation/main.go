// Command rotation rotates the bearer token of an HTTP API while workers
// call the API through a host embedded in the program, and no call fails.
//
// It starts a small API of its own on a loopback port, which accepts the
// bearer tokens it has issued. The http resource of rotation.hcl takes
// its token from a credential file (credential "api", source "file") in a
// temporary directory. Workers call the API through the host without
// pause. Then the program does what an operator or a secret manager does:
//
//  1. it issues a second token, which the API accepts beside the first;
//  2. it replaces the credential file atomically (a new file renamed over
//     the old), which the host notices: it opens the resource anew with
//     the second token beside the old one and sends new calls to it,
//     while the calls under way finish on the old one (warm, then drain);
//  3. it waits for the first call with the second token, then for the
//     resource's drain_timeout, after which nothing holds the first token;
//  4. it revokes the first token, and the workers go on a while.
//
// Run it from the repository root, after make build:
//
//	go run ./examples/rotation
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
)

func main() {
	configPath := flag.String("config", "examples/rotation/rotation.hcl", "configuration with one credential file and one http resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "rotation: %v\n", err)
		}
		os.Exit(1)
	}
}

// workerCount is how many workers call the API at once.
const workerCount = 4

// afterRevoke is how long the workers go on once the first token is
// revoked.
const afterRevoke = 500 * time.Millisecond

// api is the HTTP API: GET /v1/work answers 200 to a request that
// carries a bearer token it accepts, and 401 to any other.
type api struct {
	mu       sync.Mutex // guards the fields below
	accepted map[string]bool
	served   map[string]int           // calls served, by token
	firstUse map[string]chan struct{} // closed at the first call with a token
	refused  int
}

func newAPI() *api {
	return &api{accepted: map[string]bool{}, served: map[string]int{}, firstUse: map[string]chan struct{}{}}
}

// issue makes the API accept token, and returns a channel closed at the
// first call that carries it.
func (a *api) issue(token string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accepted[token] = true
	ch := make(chan struct{})
	a.firstUse[token] = ch
	return ch
}

// revoke makes the API refuse token.
func (a *api) revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.accepted, token)
}

// calls returns how many calls the API served with token, and how many
// it refused in all.
func (a *api) calls(token string) (served, refused int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.served[token], a.refused
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok || !a.accepted[token] {
		a.refused++
		http.Error(w, `{"error":"unknown or revoked token"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/v1/work" {
		http.NotFound(w, r)
		return
	}
	a.served[token]++
	if ch := a.firstUse[token]; ch != nil {
		close(ch)
		delete(a.firstUse, token)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"done":true}`)
}

// serve starts the API on a free loopback port and returns its base URL
// and a function that stops it.
func serve(a *api) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String() + "/v1", func() {
		_ = srv.Close()
		<-done
	}, nil
}

// newToken returns a random bearer token.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// writeCredential replaces the credential file with one that holds token,
// the way secret managers do: a new file renamed over the old, so that
// the host never reads a file half written.
func writeCredential(path, token string) error {
	data, err := json.Marshal(map[string]string{"token": token})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// workers call the API through the host until halted, and count the
// calls and the failures.
type workers struct {
	calls, failed atomic.Int64
	mu            sync.Mutex // guards firstErr
	firstErr      error
	stop          chan struct{}
	wg            sync.WaitGroup
}

// startWorkers starts n workers that call the fetch operation of the
// resource id without pause.
func startWorkers(ctx context.Context, h *host.Host, id string, n int) *workers {
	w := &workers{stop: make(chan struct{})}
	for range n {
		w.wg.Go(func() {
			for {
				select {
				case <-w.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := h.Invoke(cctx, id, "fetch", map[string]any{"path": "/work"}, host.ForWorkflow("rotation-example"))
				cancel()
				w.calls.Add(1)
				if err != nil {
					w.failed.Add(1)
					w.mu.Lock()
					if w.firstErr == nil {
						w.firstErr = err
					}
					w.mu.Unlock()
				}
			}
		})
	}
	return w
}

// halt stops the workers and waits for them. It is safe to call twice.
func (w *workers) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// err returns an error that says how many calls failed, with the first
// failure; nil when none did.
func (w *workers) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d calls failed; the first: %w", n, w.calls.Load(), w.firstErr)
	}
	return nil
}

// wait waits for ch, for at most d.
func wait(ctx context.Context, ch <-chan struct{}, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return fmt.Errorf("no %s within %v", what, d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func run(ctx context.Context, configPath, pluginDir string, out io.Writer) error {
	a := newAPI()
	base, stopAPI, err := serve(a)
	if err != nil {
		return err
	}
	defer stopAPI()
	dir, err := os.MkdirTemp("", "nebula-rotation-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	credFile := filepath.Join(dir, "api.json")
	first, err := newToken()
	if err != nil {
		return err
	}
	firstUsed := a.issue(first)
	if err := writeCredential(credFile, first); err != nil {
		return err
	}
	for k, v := range map[string]string{"ROTATION_API_URL": base, "ROTATION_CREDENTIAL_FILE": credFile} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}

	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "http" {
		return fmt.Errorf("%s must declare one http resource", configPath)
	}
	resource := cfg.Resources[0].ID()
	drain := cfg.Resources[0].Pool.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second // the host's default
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
			fmt.Fprintln(os.Stderr, "rotation: close:", err)
		}
	}()

	w := startWorkers(ctx, h, resource, workerCount)
	defer w.halt()
	if err := wait(ctx, firstUsed, 10*time.Second, "call with the first token"); err != nil {
		return errors.Join(err, w.err())
	}
	if err := sleep(ctx, 300*time.Millisecond); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d workers call %s through the host with the first token\n", workerCount, resource)

	// 1 and 2: a second token, accepted beside the first, written to the
	// credential file.
	second, err := newToken()
	if err != nil {
		return err
	}
	secondUsed := a.issue(second)
	if err := writeCredential(credFile, second); err != nil {
		return err
	}
	rotated := time.Now()
	fmt.Fprintln(out, "issued a second token (the API accepts both) and renamed a new credential file over the old")
	if err := wait(ctx, secondUsed, 10*time.Second, "call with the second token"); err != nil {
		return errors.Join(err, w.err())
	}
	switched := time.Since(rotated)
	atSwitch, _ := a.calls(first)
	fmt.Fprintln(out, "the host opened the resource anew with the second token; new calls carry it")

	// 3 and 4: once drain_timeout has passed since the switch, the old
	// instances are closed and nothing sends the first token any more.
	if err := sleep(ctx, drain); err != nil {
		return err
	}
	a.revoke(first)
	atRevoke, _ := a.calls(first)
	fmt.Fprintf(out, "calls under way on the old instances that finished with the first token: %d\n", atRevoke-atSwitch)
	fmt.Fprintf(out, "drain_timeout (%v) passed: the first token is revoked\n", drain)
	if err := sleep(ctx, afterRevoke); err != nil {
		return err
	}
	w.halt()

	for _, c := range h.Health().Credentials {
		fmt.Fprintf(out, "credential %s (%s): %s, version %d\n", c.Name, c.Source, c.State, c.Version)
	}
	servedFirst, refused := a.calls(first)
	servedSecond, _ := a.calls(second)
	if refused > 0 {
		return errors.Join(fmt.Errorf("the API refused %d calls", refused), w.err())
	}
	fmt.Fprintf(out, "served by the API: %d with the first token, %d with the second; refused: %d\n", servedFirst, servedSecond, refused)
	fmt.Fprintf(out, "%d calls, %d failed; switched to the new token after %d ms; old token revoked\n",
		w.calls.Load(), w.failed.Load(), switched.Milliseconds())
	return w.err()
}
