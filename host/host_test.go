package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// startHost starts a host and closes it when the test ends.
func startHost(t *testing.T, cfg *config.Config, opts ...host.Option) *host.Host {
	t.Helper()
	h, err := host.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func probeConfig(t *testing.T, extra string, opts ...config.Option) *config.Config {
	return loadHCL(t, fmt.Sprintf(`
plugin "probe" {
  path = %q
  %s
}
resource "probe" "p" {}
`, pluginPath("probe"), extra), opts...)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestInProcessDriverServesLeases(t *testing.T) {
	cfg := loadHCL(t, `resource "memory" "cache" { max_entries = 10 }`)
	h := startHost(t, cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))

	lease, err := h.Acquire(t.Context(), "memory.cache")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lease.Invoke(t.Context(), "set", map[string]any{"key": "a", "value": "1"}); err != nil {
		t.Fatal(err)
	}
	out, err := lease.Invoke(t.Context(), "get", `{"key":"a"}`)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Value string }
	if err := json.Unmarshal(out, &got); err != nil || got.Value != "1" {
		t.Fatalf("get returned %s (%v)", out, err)
	}
	lease.Release()
	lease.Release() // idempotent
	if _, err := lease.Invoke(t.Context(), "get", `{"key":"a"}`); !errors.Is(err, host.ErrLeaseReleased) {
		t.Fatalf("Invoke after Release: %v, want ErrLeaseReleased", err)
	}
	_, err = h.Invoke(t.Context(), "memory.cache", "command", `{"args":["GET","a"]}`)
	if sdk.KindOf(err) != sdk.KindUnimplemented {
		t.Fatalf("raw command: %v, want unimplemented", err)
	}
	var ce *host.CallError
	if !errors.As(err, &ce) || ce.Resource != "memory.cache" || ce.Operation != "command" {
		t.Fatalf("error %v is not a CallError naming the resource and operation", err)
	}
}

func TestBadCallsAreInvalidArgumentsWithHints(t *testing.T) {
	cfg := loadHCL(t, `resource "memory" "cache" {}`)
	h := startHost(t, cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	tests := []struct {
		name, resource, op, args string
		kind                     sdk.Kind
		want                     string
	}{
		{"unknown resource", "memory.cahce", "get", `{}`, sdk.KindNotFound, `did you mean "memory.cache"`},
		{"unknown operation", "memory.cache", "gte", `{}`, sdk.KindInvalidArgument, `did you mean "get"`},
		{"unknown argument", "memory.cache", "get", `{"kye":"a"}`, sdk.KindInvalidArgument, `unknown argument "kye" (did you mean "key"?)`},
		{"missing argument", "memory.cache", "get", `{}`, sdk.KindInvalidArgument, `argument "key" (string) is required`},
		{"wrong type", "memory.cache", "get", `{"key":1}`, sdk.KindInvalidArgument, `argument "key": want string, got a number`},
		{"not an object", "memory.cache", "get", `[1]`, sdk.KindInvalidArgument, `arguments must be a JSON object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Invoke(t.Context(), tc.resource, tc.op, tc.args)
			if sdk.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (kind %s), want kind %s containing %q", err, sdk.KindOf(err), tc.kind, tc.want)
			}
		})
	}
}

func TestStartReportsConfigErrorsWithPositions(t *testing.T) {
	cfg := loadHCL(t, `
resource "memory" "cache" {
  max_entrys = 10
}
resource "memroy" "other" {}
`)
	h, err := host.New(cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Start(t.Context())
	var de *host.DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("Start: %v, want a DiagnosticsError", err)
	}
	msg := de.Error()
	for _, want := range []string{`main.hcl:3:3`, `Did you mean "max_entries"?`, `main.hcl:5:10`, `"memory"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, msg)
		}
	}
	if _, err := h.Acquire(t.Context(), "memory.cache"); !errors.Is(err, host.ErrClosed) {
		t.Errorf("Acquire after a failed Start: %v, want ErrClosed", err)
	}
}

func TestPluginBinaryServesLeases(t *testing.T) {
	cfg := loadHCL(t, `
resource "memory" "cache" {}
resource "memory" "other" {}
resource "localfs" "files" {
  root = "`+t.TempDir()+`"
}`)
	h := startHost(t, cfg, host.WithPluginDir(binDir), host.WithLogger(quietLogger()))
	if _, err := h.Invoke(t.Context(), "memory.cache", "set", `{"key":"k","value":"v"}`); err != nil {
		t.Fatal(err)
	}
	// One process serves both memory resources, and each has its own data.
	if out, err := h.Invoke(t.Context(), "memory.other", "get", `{"key":"k"}`); err != nil || !strings.Contains(string(out), `"found":false`) {
		t.Fatalf("memory.other sees memory.cache's key: %s %v", out, err)
	}
	out, err := h.Invoke(t.Context(), "memory.cache", "get", `{"key":"k"}`)
	if err != nil || !strings.Contains(string(out), `"v"`) {
		t.Fatalf("get: %s %v", out, err)
	}
	lease, err := h.Acquire(t.Context(), "localfs.files")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	data := strings.Repeat("0123456789", 50_000)
	if _, err := lease.InvokeStream(t.Context(), "put", `{"key":"a/b.txt"}`, strings.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if _, err := lease.InvokeStream(t.Context(), "get", `{"key":"a/b.txt"}`, nil, &buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != data {
		t.Fatalf("got %d bytes back, want %d", buf.Len(), len(data))
	}
	if _, err := lease.Invoke(t.Context(), "get", `{"key":"a/b.txt"}`); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("Invoke of a streaming operation: %v, want invalid_argument", err)
	}
	if !h.Ready() {
		t.Fatal("host not ready")
	}
	plugins := h.Plugins()
	if len(plugins) != 2 || plugins[0].Name != "localfs" || plugins[0].Protocol != sdk.ProtocolVersion || plugins[0].PID == 0 || len(plugins[0].SHA256) != 64 {
		t.Fatalf("Plugins() = %+v", plugins)
	}
}

func TestChecksumMismatchRefusesToStartThePlugin(t *testing.T) {
	cfg := probeConfig(t, `sha256 = "`+strings.Repeat("ab", 32)+`"`)
	h, _ := host.New(cfg, host.WithLogger(quietLogger()))
	err := h.Start(t.Context())
	if !errors.Is(err, supervisor.ErrChecksumMismatch) {
		t.Fatalf("Start: %v, want ErrChecksumMismatch", err)
	}
	sum, _ := supervisor.FileSHA256(pluginPath("probe"))
	if !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
		t.Fatalf("error %q does not name both checksums", err)
	}
}

func TestChecksumIsVerifiedBeforeEveryRestart(t *testing.T) {
	// A copy of the plugin that the test can replace while it runs.
	path := t.TempDir() + "/nebula-plugin-probe"
	orig, err := os.ReadFile(pluginPath("probe"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, _ := supervisor.FileSHA256(path)
	cfg := loadHCL(t, fmt.Sprintf(`
plugin "probe" {
  path   = %q
  sha256 = %q
}
resource "probe" "p" {}`, path, sum))
	h := startHost(t, cfg, host.WithLogger(quietLogger()), host.WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond))
	pid := h.Plugins()[0].PID

	// Swap the binary (a new inode, as an installer would), then kill.
	tampered := append(append([]byte(nil), orig...), 0)
	if err := os.WriteFile(path+".new", tampered, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "restart to fail on the checksum", func() bool {
		return strings.Contains(h.Plugins()[0].LastError, "checksum mismatch")
	})
	if _, err := h.Acquire(t.Context(), "probe.p"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Acquire while the plugin cannot start: %v, want unavailable", err)
	}
	// Put the right binary back: the next restart succeeds.
	if err := os.WriteFile(path+".new", orig, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the plugin to come back", func() bool { return h.Ready() })
}

func TestKilledPluginFailsCallsAsUnavailableAndComesBack(t *testing.T) {
	h := startHost(t, probeConfig(t, ""), host.WithLogger(quietLogger()), host.WithRestartBackoff(50*time.Millisecond, time.Second))
	pid := h.Plugins()[0].PID

	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		badKinds  []string
		wrong     []string
		successes atomic.Int64
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				msg := fmt.Sprintf("w%d-%d", w, i)
				op, args := "echo", fmt.Sprintf(`{"message":%q}`, msg)
				if i%3 == 0 {
					op, args = "sleep", `{"duration":"20ms"}`
				}
				out, err := h.Invoke(context.Background(), "probe.p", op, args)
				if err != nil {
					if k := sdk.KindOf(err); k != sdk.KindUnavailable {
						mu.Lock()
						badKinds = append(badKinds, fmt.Sprintf("%s: %v", k, err))
						mu.Unlock()
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if op == "echo" && !strings.Contains(string(out), `"message":"`+msg+`"`) {
					mu.Lock()
					wrong = append(wrong, string(out))
					mu.Unlock()
				}
				successes.Add(1)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	before := successes.Load()
	waitFor(t, 10*time.Second, "calls to succeed after the kill", func() bool {
		return h.Ready() && successes.Load() > before+50
	})
	t.Logf("calls succeeded again %v after kill -9", time.Since(killed).Round(time.Millisecond))
	stop.Store(true)
	wg.Wait()

	if len(badKinds) > 0 {
		t.Errorf("%d errors of a kind other than unavailable, first: %s", len(badKinds), badKinds[0])
	}
	if len(wrong) > 0 {
		t.Errorf("%d wrong answers, first: %s", len(wrong), wrong[0])
	}
	p := h.Plugins()[0]
	if p.Restarts != 1 || p.PID == pid || p.PID == 0 {
		t.Errorf("after the kill: restarts %d, pid %d (was %d)", p.Restarts, p.PID, pid)
	}
}

func TestPluginSpeakingAnotherProtocolIsRefused(t *testing.T) {
	cfg := probeConfig(t, `args = ["-protocol=3"]`)
	h, _ := host.New(cfg, host.WithLogger(quietLogger()))
	err := h.Start(t.Context())
	if !errors.Is(err, supervisor.ErrIncompatibleProtocol) {
		t.Fatalf("Start: %v, want ErrIncompatibleProtocol", err)
	}
	if !strings.Contains(err.Error(), "protocol version 3") || !strings.Contains(err.Error(), "this host speaks versions 1 to 2") {
		t.Fatalf("message %q does not name the versions of both sides", err)
	}
}

// A plugin that serves protocol version 1 alone (gRPC, no data
// connection), as every plugin built before version 2 does, still serves
// calls and streams.
func TestAPluginOfProtocolVersionOneStillWorks(t *testing.T) {
	h := startHost(t, probeConfig(t, `args = ["-protocol=1"]`), host.WithLogger(quietLogger()))
	if p := h.Plugins()[0]; p.Protocol != 1 {
		t.Fatalf("protocol %d, want 1", p.Protocol)
	}
	out, err := h.Invoke(t.Context(), "probe.p", "echo", map[string]any{"message": "hello"})
	if err != nil || !strings.Contains(string(out), "hello") {
		t.Fatalf("echo: %s %v", out, err)
	}
}

func TestPluginDoesNotInheritTheHostEnvironment(t *testing.T) {
	t.Setenv("NEBULA_HOST_ONLY", "leak")
	h := startHost(t, probeConfig(t, `env = { GIVEN = "yes" }`), host.WithLogger(quietLogger()))
	out, err := h.Invoke(t.Context(), "probe.p", "env", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "NEBULA_HOST_ONLY") {
		t.Errorf("plugin saw the host's environment: %s", out)
	}
	if !strings.Contains(string(out), "GIVEN=yes") {
		t.Errorf("plugin lacks the configured environment: %s", out)
	}
}

func TestPluginLogLinesArriveInTheHostLogWithThePluginName(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := startHost(t, probeConfig(t, ""), host.WithLogger(log))
	if _, err := h.Invoke(t.Context(), "probe.p", "log", `{"message":"hello from the plugin"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Invoke(t.Context(), "probe.p", "print", `{"message":"printed by the plugin"}`); err != nil {
		t.Fatal(err)
	}
	hasLine := func(parts ...string) bool {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	}
	waitFor(t, 5*time.Second, "the plugin's log line in the host log", func() bool {
		return hasLine(`"msg":"hello from the plugin"`, `"plugin":"probe"`, `"label":"probe"`)
	})
	waitFor(t, 5*time.Second, "the plugin's printed line in the host log", func() bool {
		return hasLine(`"msg":"printed by the plugin"`, `"plugin":"probe"`, `"stream":"stdout"`)
	})
}

func TestSensitiveValuesNeverReachLogsOrErrors(t *testing.T) {
	const canary = "canary-7f3k-secret"
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := loadHCL(t, fmt.Sprintf(`
variable "pw" {
  type      = string
  sensitive = true
}
plugin "probe" {
  path = %q
}
resource "probe" "p" {
  password = var.pw
}`, pluginPath("probe")), config.WithVariables(map[string]string{"pw": canary}))
	h := startHost(t, cfg, host.WithLogger(log))
	_, err := h.Invoke(t.Context(), "probe.p", "leak", nil)
	if sdk.KindOf(err) != sdk.KindPermissionDenied {
		t.Fatalf("leak: %v, want permission_denied", err)
	}
	if strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), "(sensitive)") {
		t.Errorf("error not masked: %v", err)
	}
	waitFor(t, 5*time.Second, "the plugin's leaking log line", func() bool {
		return strings.Contains(logs.String(), "connecting failed with password")
	})
	if strings.Contains(logs.String(), canary) {
		t.Errorf("the secret reached the host log:\n%s", logs.String())
	}
}

func TestSensitiveValuesNeverReachHealthReports(t *testing.T) {
	const canary = "canary-9q2w-secret"
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := loadHCL(t, fmt.Sprintf(`
variable "pw" {
  type      = string
  sensitive = true
}
plugin "probe" {
  path = %q
}
resource "probe" "p" {
  password   = var.pw
  fail_check = true
  health {
    interval        = "50ms"
    unhealthy_after = 1
  }
}`, pluginPath("probe")), config.WithVariables(map[string]string{"pw": canary}))
	h := startHost(t, cfg, host.WithLogger(log))
	waitFor(t, 5*time.Second, "unhealthy", func() bool { return h.Health().Status == host.HealthUnhealthy })
	_, err := h.Acquire(t.Context(), "probe.p")
	if !errors.Is(err, host.ErrQuarantined) {
		t.Fatalf("acquire: %v", err)
	}
	report, _ := json.Marshal(h.Health())
	describe, _ := json.Marshal(h.Describe())
	for what, text := range map[string]string{"health report": string(report), "describe": string(describe), "acquire error": err.Error(), "log": logs.String()} {
		if strings.Contains(text, canary) {
			t.Errorf("the secret reached the %s:\n%s", what, text)
		}
	}
	if !strings.Contains(string(report), "cannot log in with password (sensitive)") {
		t.Errorf("the health report lacks the masked reason:\n%s", report)
	}
}

func TestCloseWaitsForLeasesToComeBack(t *testing.T) {
	cfg := loadHCL(t, `resource "memory" "cache" {}`)
	h, _ := host.New(cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	lease, err := h.Acquire(t.Context(), "memory.cache")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a lease out", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := h.Acquire(t.Context(), "memory.cache"); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("Acquire while closing: %v, want ErrClosed", err)
	}
	lease.Release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := h.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCloseWithAStuckLeaseStillStopsEverything(t *testing.T) {
	cfg := loadHCL(t, `
resource "memory" "cache" {}
resource "localfs" "files" {
  root = "`+t.TempDir()+`"
}`)
	h, _ := host.New(cfg, host.WithPluginDir(binDir), host.WithLogger(quietLogger()))
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range h.Plugins() {
		pids = append(pids, p.PID)
	}
	lease, err := h.Acquire(t.Context(), "localfs.files")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release() // never before Close returns: the lease is stuck

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = h.Close(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	for _, r := range h.Describe() {
		if r.State != host.StateClosed {
			t.Errorf("%s is %s after Close", r.ID, r.State)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("plugin pid %d still exists after Close (kill 0: %v)", pid, err)
		}
	}
}

// protocolOneCommit is the last commit whose SDK spoke protocol version 1
// alone.
const protocolOneCommit = "864e736"

// A plugin built on the SDK of protocol version 1, from this repository's
// history, serves calls through this host.
func TestAPluginBuiltOnTheSDKOfProtocolVersionOneStillWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin from the repository's history")
	}
	src := t.TempDir()
	archive := exec.Command("git", "archive", "--format=tar", protocolOneCommit)
	archive.Dir = ".."
	tarball, err := archive.Output()
	if err != nil {
		t.Skipf("git archive %s (a clone without the history?): %v", protocolOneCommit, err)
	}
	untar := exec.Command("tar", "-x", "-C", src)
	untar.Stdin = bytes.NewReader(tarball)
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "nebula-plugin-memory")
	build := exec.Command("go", "build", "-o", bin, "./plugins/memory/cmd/nebula-plugin-memory")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the memory plugin of %s: %v\n%s", protocolOneCommit, err, out)
	}
	cfg := loadHCL(t, fmt.Sprintf(`
plugin "memory" {
  path = %q
}
resource "memory" "old" {}
`, bin))
	h := startHost(t, cfg, host.WithLogger(quietLogger()))
	if p := h.Plugins()[0]; p.Protocol != 1 {
		t.Fatalf("the plugin of %s speaks protocol %d, want 1", protocolOneCommit, p.Protocol)
	}
	if _, err := h.Invoke(t.Context(), "memory.old", "set", map[string]any{"key": "k", "value": "v"}); err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(t.Context(), "memory.old", "get", map[string]any{"key": "k"})
	if err != nil || !strings.Contains(string(out), `"v"`) {
		t.Fatalf("get: %s %v", out, err)
	}
}
