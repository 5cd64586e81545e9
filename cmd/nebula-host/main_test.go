package main_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The tests run the built binaries, laid out the way make build lays out
// bin/: the host, and its plugins in plugins/ beside it, where it finds
// them without configuration.
var (
	// binDir holds nebula-host and plugins/nebula-plugin-*, built once by
	// TestMain.
	binDir string
	// moduleRoot is the directory of go.mod.
	moduleRoot string
)

// testVersion is linked into the host binary, as make build links the git
// version.
const testVersion = "e2e-test"

// plugins are the plugin binaries the tests need, by resource type.
var plugins = []string{"memory", "localfs", "sqlite"}

// checkOnlyPlugins are built too, for the tests that only validate
// configurations of their types (the drivers' own checks run in validate),
// and s3 for the test that moves a gibibyte through it.
var checkOnlyPlugins = []string{"postgres", "mysql", "redis", "kafka", "s3", "mongo"}

// apiPlugins are the API clients' plugins, by the name the host looks
// for, and the directory of each, where it differs.
var (
	apiPlugins = []string{"http", "grpc", "websocket", "graphql"}
	pluginDirs = map[string]string{"grpc": "grpcclient"}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nebula-host-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// build compiles the host and the plugins into dir, from the module root.
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("go env GOMOD: not inside a module")
	}
	moduleRoot = filepath.Dir(gomod)

	builds := [][]string{{"-ldflags", "-X github.com/nebula-resource/nebula-resource/internal/release.version=" + testVersion, "-o", filepath.Join(dir, "nebula-host"), "./cmd/nebula-host"}}
	for _, p := range slices.Concat(plugins, checkOnlyPlugins, apiPlugins) {
		name := "nebula-plugin-" + p
		// As make build builds them: no VCS stamp, so that they report
		// the version of a build that is no release, "dev".
		builds = append(builds, []string{"-trimpath", "-buildvcs=false", "-o", filepath.Join(dir, "plugins", name), "./plugins/" + cmp.Or(pluginDirs[p], p) + "/cmd/" + name})
	}
	for _, args := range builds {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func hostBinary() string { return filepath.Join(binDir, "nebula-host") }

// result is what a finished nebula-host command left behind.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// nebula runs nebula-host with args to completion (30s at most) in a fresh
// directory, with env added to the test's environment.
func nebula(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hostBinary(), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("nebula-host %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	if ctx.Err() != nil {
		t.Fatalf("nebula-host %s: still running after 30s\n%s", strings.Join(args, " "), r)
	}
	return r
}

// mustExit fails the test unless r ended with code.
func mustExit(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: want exit %d, got\n%s", what, code, r)
	}
}

// freeAddress returns a loopback address nothing listens on (for now).
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// quickstart returns examples/quickstart/main.hcl as a test may run it:
// admin on a free loopback port and the localfs root under dir.
func quickstart(t *testing.T, dir string) (src, addr string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "examples", "quickstart", "main.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	src = string(b)
	addr = freeAddress(t)
	for old, repl := range map[string]string{
		`"127.0.0.1:9464"`: fmt.Sprintf("%q", addr),
		`".data/files"`:    fmt.Sprintf("%q", filepath.Join(dir, "files")),
	} {
		if strings.Count(src, old) != 1 {
			t.Fatalf("examples/quickstart/main.hcl: want %s exactly once, to replace it", old)
		}
		src = strings.Replace(src, old, repl, 1)
	}
	return src, addr
}

// writeQuickstart writes the quickstart into a fresh directory and returns
// the file's path and the admin address.
func writeQuickstart(t *testing.T) (path, addr string) {
	t.Helper()
	dir := t.TempDir()
	src, addr := quickstart(t, dir)
	return writeFile(t, dir, "main.hcl", src), addr
}

// hostProcess is a nebula-host run started by startHost.
type hostProcess struct {
	cmd  *exec.Cmd
	addr string
	log  string // the file holding the host's stdout and stderr
	// exited is closed once cmd.Wait returned; err is what it returned.
	exited chan struct{}
	err    error
}

// startHost starts nebula-host run -config path and waits until addr's
// /readyz answers 200. Cleanup interrupts the host and waits for it.
func startHost(t *testing.T, path, addr string) *hostProcess {
	t.Helper()
	return startHostWith(t, path, addr, "/readyz")
}

// startHostWith starts nebula-host run -config path with the flags more
// and waits until addr's probe (/readyz, or /livez for a host that may
// start with some resources failed) answers 200.
func startHostWith(t *testing.T, path, addr, probe string, more ...string) *hostProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, hostBinary(), append([]string{"run", "-config", path}, more...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = filepath.Dir(path)
	logPath := filepath.Join(t.TempDir(), "host.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &hostProcess{cmd: cmd, addr: addr, log: logPath, exited: make(chan struct{})}
	go func() {
		defer close(h.exited)
		h.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel() // SIGINT, then SIGKILL after WaitDelay
		select {
		case <-h.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-h.exited
			t.Errorf("nebula-host did not stop within 15s of SIGINT\n%s", h.output(t))
		}
		if t.Failed() {
			t.Logf("nebula-host run log:\n%s", h.output(t))
		}
	})
	h.waitProbe(t, probe)
	return h
}

// output returns what the host has printed so far.
func (h *hostProcess) output(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(h.log)
	if err != nil {
		t.Errorf("reading the host's log: %v", err)
	}
	return string(b)
}

// waitProbe polls the probe path until it answers 200, for 10s at most.
func (h *hostProcess) waitProbe(t *testing.T, probe string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := h.get(t, probe)
		if err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-h.exited:
			t.Fatalf("nebula-host exited before it was ready (%v):\n%s", h.err, h.output(t))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 after 10s (last: %d %q, %v)", probe, code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get requests path from the admin endpoint. It keeps no connection open,
// so no transport goroutine outlives the test.
func (h *hostProcess) get(t *testing.T, path string) (int, string, error) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + h.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// pluginInfo is the part of GET /v1/plugins the tests read.
type pluginInfo struct {
	Name     string
	Version  string
	Protocol int
	Types    []string
	PID      int
}

// pluginPIDs returns the PIDs of the host's plugins, checking that they are
// running children of the host.
func (h *hostProcess) pluginPIDs(t *testing.T) map[string]int {
	t.Helper()
	code, body, err := h.get(t, "/v1/plugins")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/plugins: %d %v\n%s", code, err, body)
	}
	var infos []pluginInfo
	if err := json.Unmarshal([]byte(body), &infos); err != nil {
		t.Fatalf("GET /v1/plugins: %v\n%s", err, body)
	}
	pids := map[string]int{}
	for _, p := range infos {
		if p.PID <= 0 {
			t.Fatalf("plugin %s has PID %d\n%s", p.Name, p.PID, body)
		}
		if ppid := parentPID(t, p.PID); ppid != h.cmd.Process.Pid {
			t.Fatalf("plugin %s (PID %d) has parent %d, want the host %d", p.Name, p.PID, ppid, h.cmd.Process.Pid)
		}
		pids[p.Name] = p.PID
	}
	for _, name := range plugins {
		if _, ok := pids[name]; !ok {
			t.Fatalf("GET /v1/plugins lists no %s plugin\n%s", name, body)
		}
	}
	return pids
}

// procStat returns the state letter and parent PID of a process from
// /proc/PID/stat.
func procStat(pid int) (state byte, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')': %q", pid, b)
	}
	if _, err := fmt.Sscanf(string(b[i+1:]), " %c %d", &state, &ppid); err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %w: %q", pid, err, b)
	}
	return state, ppid, nil
}

func parentPID(t *testing.T, pid int) int {
	t.Helper()
	_, ppid, err := procStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// processGone reports whether pid no longer runs: it does not exist, or it
// is a zombie waiting for whoever inherited it to reap it.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	state, _, err := procStat(pid)
	return errors.Is(err, os.ErrNotExist) || state == 'Z'
}

// waitGone waits up to limit for every process in pids to be gone, and
// fails the test naming those that remain.
func waitGone(t *testing.T, pids map[string]int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var alive []string
		for name, pid := range pids {
			if !processGone(pid) {
				alive = append(alive, fmt.Sprintf("%s (PID %d)", name, pid))
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes still running %v after the host stopped: %s", limit, strings.Join(alive, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExit waits up to limit for the host to exit.
func (h *hostProcess) waitExit(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-h.exited:
	case <-time.After(limit):
		t.Fatalf("nebula-host still running %v after the signal\n%s", limit, h.output(t))
	}
}
