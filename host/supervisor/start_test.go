package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// writeScript writes an executable shell script in a private directory
// and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nebula-plugin-script")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// readPid waits for a script to write its pid to path.
func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertGroupGone fails unless no live process is left in group pgid
// (zombies waiting for init to reap them do not count). Killed processes
// leave within moments; it waits up to a second for the kernel.
func assertGroupGone(t *testing.T, pgid int, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		left := faults.GroupMembers(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("%s: processes %v of the plugin's group %d are still running", what, left, pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestEveryStartEndsWithinItsTimeoutAndLeavesNoProcess starts plugins
// that misbehave in each way that used to hang the host: a child keeps
// the plugin's stdout open after the handshake, after the plugin exits, or
// after a wrong handshake line. Each start must fail within the start
// timeout with an error naming the plugin, its path and what happened,
// and leave no process of the plugin's group behind.
func TestEveryStartEndsWithinItsTimeoutAndLeavesNoProcess(t *testing.T) {
	const timeout = 2 * time.Second
	cases := []struct {
		name   string
		script string
		want   []string
		is     error
	}{{
		name:   "handshake then sleep",
		script: "echo \"1|1|unix|$DIR/no-socket|grpc|\"\nsleep 400\n",
		want:   []string{"printed its handshake, but the host could not talk to it", "no-socket"},
		is:     ErrHandshake,
	}, {
		name:   "child in the background, plugin exits",
		script: "sleep 400 &\nexit 0\n",
		want:   []string{"exited (exit status 0) before printing the go-plugin handshake line"},
		is:     ErrHandshake,
	}, {
		name:   "wrong handshake while a child holds stdout",
		script: "sleep 400 &\necho 'hello, I am not a plugin'\nsleep 400\n",
		want:   []string{`printed "hello, I am not a plugin" on stdout where the go-plugin handshake line was expected`},
		is:     ErrHandshake,
	}, {
		name:   "silence while a child holds stdout",
		script: "sleep 400 &\necho 'about to fail' >&2\nsleep 400\n",
		want:   []string{"did not print the go-plugin handshake line on stdout within 2s (start_timeout)", "process group was killed", "about to fail"},
		is:     ErrStartTimeout,
	}, {
		name:   "handshake to a socket that never answers",
		script: "exec python3 -c 'import socket,os,time,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind(os.environ[\"DIR\"]+\"/sock\")\ns.listen(5)\nprint(\"1|1|unix|\"+os.environ[\"DIR\"]+\"/sock|grpc|\", flush=True)\ntime.sleep(400)'\n",
		want:   []string{"printed its handshake but did not answer the host within 2s (start_timeout)"},
		is:     ErrStartTimeout,
	}, {
		name:   "wrong protocol version",
		script: "echo \"1|99|unix|$DIR/no-socket|grpc|\"\nsleep 400\n",
		want:   []string{"speaks protocol version 99"},
		is:     ErrIncompatibleProtocol,
	}, {
		name:   "wrong core protocol",
		script: "echo \"7|1|unix|$DIR/no-socket|grpc|\"\nsleep 400 &\n",
		want:   []string{"go-plugin core protocol 7"},
		is:     ErrIncompatibleProtocol,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pid")
			path := writeScript(t, "echo $$ > "+pidFile+"\n"+tc.script)
			s := New(Config{Name: "bad", Path: path, StartTimeout: timeout, Logger: quiet(),
				Env: map[string]string{"DIR": dir}})
			began := time.Now()
			err := s.Start(t.Context())
			took := time.Since(began)
			_ = s.Close(t.Context())
			if err == nil {
				t.Fatal("the start succeeded")
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			if took > timeout+time.Second {
				t.Errorf("the start took %v, want within the start timeout %v", took, timeout)
			}
			var se *StartError
			if !errors.As(err, &se) || se.Plugin != "bad" || se.Path != path {
				t.Errorf("error %v is not a StartError naming the plugin and its path", err)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			assertGroupGone(t, readPid(t, pidFile), "after a failed start")
		})
	}
}

// TestAStartEndsEvenWhenAChildLeavesTheGroupHoldingStdout: a child that
// calls setsid is out of the plugin's group and out of reach, but the
// host no longer waits for it to close the pipe.
func TestAStartEndsEvenWhenAChildLeavesTheGroupHoldingStdout(t *testing.T) {
	dir := t.TempDir()
	escaped := filepath.Join(dir, "escaped")
	path := writeScript(t, "setsid sh -c 'echo $$ > "+escaped+"; exec sleep 400' &\nwhile [ ! -s "+escaped+" ]; do sleep 0.05; done\nexit 0\n")
	s := New(Config{Name: "escapee", Path: path, StartTimeout: 5 * time.Second, Logger: quiet()})
	began := time.Now()
	err := s.Start(t.Context())
	took := time.Since(began)
	_ = s.Close(t.Context())
	pid := readPid(t, escaped)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if err == nil || !errors.Is(err, ErrHandshake) {
		t.Fatalf("start: %v, want a handshake failure", err)
	}
	if took > pipeGrace+2*time.Second {
		t.Fatalf("the start took %v, want about the pipe grace %v", took, pipeGrace)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
}

// wrapper writes a script that runs pre, then execs the test plugin: the
// plugin is then the group's leader, with what pre started beside it.
func wrapper(t *testing.T, pre string) string {
	t.Helper()
	return writeScript(t, pre+"exec "+testPlugin+"\n")
}

// TestCloseAndRestartLeaveNoProcessOfTheOldGroup: a plugin that started a
// child holding its stdout stops promptly on Close, and when it is killed
// and restarted, with every process of its group gone each time.
func TestCloseAndRestartLeaveNoProcessOfTheOldGroup(t *testing.T) {
	path := wrapper(t, "sleep 400 &\n")
	restarted := make(chan uint64, 4)
	s := New(Config{Name: "probe", Path: path, Logger: quiet(), MinBackoff: 10 * time.Millisecond,
		OnRestart: func(_ sdk.Driver, gen uint64) { restarted <- gen }})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := s.Info().PID
	if got := faults.GroupMembers(first); len(got) != 2 {
		t.Fatalf("group %d has %v, want the plugin and its child", first, got)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-restarted:
	case <-time.After(10 * time.Second):
		t.Fatal("no restart")
	}
	assertGroupGone(t, first, "after the plugin was killed and restarted")
	second := s.Info().PID
	if second == first || second == 0 {
		t.Fatalf("pid after the restart: %d (before %d)", second, first)
	}
	if info := s.Info(); info.State != StateRunning || info.Restarts != 1 || !strings.Contains(info.LastError, "signal: killed") {
		t.Errorf("after the restart: %+v", info)
	}
	began := time.Now()
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Close took %v", took)
	}
	assertGroupGone(t, second, "after Close")
}

// TestAPluginThatDiesAtStartIsReportedAsCrashLooping: after a first good
// run, every restart of this plugin fails; the supervisor keeps trying
// with growing delays and says so in Info.
func TestAPluginThatDiesAtStartIsReportedAsCrashLooping(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	path := wrapper(t, fmt.Sprintf("if [ -e %s ]; then echo 'cannot open my database' >&2; exit 3; fi\ntouch %s\n", marker, marker))
	s := New(Config{Name: "probe", Path: path, Logger: quiet(), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	if err := syscall.Kill(s.Info().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var info Info
	for {
		info = s.Info()
		if info.State == StateCrashLoop && info.Failures >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not crash-looping: %+v", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, w := range []string{"exited (exit status 3) before printing the go-plugin handshake line", "cannot open my database"} {
		if !strings.Contains(info.LastError, w) {
			t.Errorf("last error %q does not say %q", info.LastError, w)
		}
	}
	if info.NextRestart.IsZero() || time.Until(info.NextRestart) > 200*time.Millisecond {
		t.Errorf("next restart %v, want within MaxBackoff", info.NextRestart)
	}
	if _, _, err := s.Driver(); !errors.Is(err, ErrPluginDown) || !strings.Contains(err.Error(), "crash_loop") {
		t.Errorf("Driver: %v", err)
	}
}

// TestAFileThatIsNotAProgramIsReportedAndLeavesNothingBehind: the exec
// fails, and the socket directory go-plugin made for the plugin is
// removed.
func TestAFileThatIsNotAProgramIsReportedAndLeavesNothingBehind(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	path := filepath.Join(dir, "nebula-plugin-text")
	if err := os.WriteFile(path, []byte("just text\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Name: "text", Path: path, Logger: quiet()})
	err := s.Start(t.Context())
	_ = s.Close(t.Context())
	if !errors.Is(err, ErrNotPluginBinary) || !strings.Contains(err.Error(), "exec format error") || !strings.Contains(err.Error(), path) {
		t.Fatalf("start: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}
