package supervisor

import (
	"context"
	"errors"
	"fmt"
	"github.com/nebula-resource/nebula-resource/sdk"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// pipeGrace is how long after the plugin's process group is killed its
// stdout and stderr may stay open before the host closes its ends of them:
// only a process that left the group (setsid) can still hold them then.
// Until that, the last lines the plugin wrote (a panic, say) still reach
// the log.
const pipeGrace = 2 * time.Second

// groupRunner runs a plugin in a process group of its own, for go-plugin
// (ClientConfig.RunnerFunc), so that nothing the plugin starts can keep
// the host waiting:
//
//   - the plugin gets a parent-death signal and its own process group: a
//     signal for the host's group (Ctrl-C in a terminal, a service manager
//     stopping the group) reaches only the host, which closes the resources
//     and stops its plugins in order;
//   - when the plugin's main process exits, for whatever reason, every
//     process left in its group is killed with SIGKILL before the main
//     process is reaped, so the group's id cannot have been reused;
//   - Kill kills the whole group, not only the main process;
//   - if the stdout or stderr pipe is still open pipeGrace after that (a
//     process that left the group holds it), the host closes its ends, so
//     go-plugin's readers, and with them Client.Kill, always return.
//
// go-plugin reads the pipes to their end before it calls Wait. Without
// this, a child that inherited stdout (a script that runs `sleep 400`
// after printing its handshake, or backgrounds a child and exits) kept
// both the start and Client.Kill waiting for as long as the child lived.
type groupRunner struct {
	cmd    *exec.Cmd
	sha256 string // checked right before the binary is run, when set
	stdout io.ReadCloser
	stderr *tailReader

	pid        int
	data       *sdk.DataConn // the host's end of the plugin's data connection, closed once it exited
	leaderGone chan struct{} // closed once the main process exited and its group was killed
	reaped     chan struct{} // closed once Wait reaped the main process
	watcher    sync.WaitGroup

	mu       sync.Mutex // guards the fields below; held while signalling the group, so its id is never reused under it
	waited   bool
	exitErr  error // the main process's exit status, once reaped
	killedBy string
}

var _ runner.Runner = (*groupRunner)(nil)

// newGroupRunner returns a runner for cmd, which carries the environment
// go-plugin built.
func newGroupRunner(_ hclog.Logger, cmd *exec.Cmd, sha256 string) (*groupRunner, error) {
	prepareCmd(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &groupRunner{
		cmd: cmd, sha256: sha256, stdout: stdout, stderr: &tailReader{ReadCloser: stderr},
		leaderGone: make(chan struct{}),
		reaped:     make(chan struct{}),
	}, nil
}

// Start runs the plugin and the goroutine that watches its main process.
func (r *groupRunner) Start(context.Context) error {
	// The plugin holds its own copies of the files handed to it (the pipe
	// of its TLS key pair, sdk.PluginTLS): the host's close once it runs,
	// or once it will not.
	defer func() {
		for _, f := range r.cmd.ExtraFiles {
			_ = f.Close()
		}
	}()
	if r.sha256 != "" {
		// Checked again right before it runs, as go-plugin's SecureConfig
		// does for a plain command.
		sum, err := FileSHA256(r.cmd.Path)
		if err != nil {
			return err
		}
		if sum != r.sha256 {
			return fmt.Errorf("%w: the file changed after it was checked", ErrChecksumMismatch)
		}
	}
	if err := r.cmd.Start(); err != nil {
		_ = r.data.Close()
		return err
	}
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	r.mu.Unlock()
	r.watcher.Add(1)
	go r.watch()
	return nil
}

// watch waits for the main process to exit without reaping it, kills what
// is left of its group, and closes the pipes if they are still open
// pipeGrace later.
func (r *groupRunner) watch() {
	defer r.watcher.Done()
	awaitExit(r)
	// On Linux the main process is a zombie now: its pid, the group's id,
	// cannot be reused until Wait reaps it.
	killGroup(r.pid)
	_ = r.data.Close() // calls still in flight fail as unavailable
	close(r.leaderGone)
	t := time.NewTimer(pipeGrace)
	defer t.Stop()
	select {
	case <-r.reaped:
	case <-t.C:
		// Something outside the group still holds stdout or stderr.
		_ = r.stdout.Close()
		_ = r.stderr.Close()
	}
}

// Wait waits for the main process, reaps it and returns its exit status.
func (r *groupRunner) Wait(context.Context) error {
	<-r.leaderGone
	r.reap()
	r.watcher.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exitErr
}

// reap reaps the main process once.
func (r *groupRunner) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.waited {
		r.waited = true
		r.exitErr = r.cmd.Wait()
		close(r.reaped)
	}
}

// Kill kills the plugin's whole process group with SIGKILL.
func (r *groupRunner) Kill(context.Context) error {
	// go-plugin calls Kill when a graceful stop timed out, and after
	// the supervisor killed the group (then nothing is recorded).
	r.kill(killGraceful)
	return nil
}

// kill kills the process group. why, when set, is recorded as the reason
// unless the plugin had already exited or a reason is recorded.
func (r *groupRunner) kill(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 || r.waited {
		return
	}
	select {
	case <-r.leaderGone:
	default:
		if r.killedBy == "" {
			r.killedBy = why
		}
	}
	killGroup(r.pid)
}

// killReason returns why the host killed the plugin, or "".
func (r *groupRunner) killReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killedBy
}

// status reports whether the main process has been reaped and how it
// ended.
func (r *groupRunner) status() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.waited:
		return false, "still running"
	case r.exitErr == nil:
		return true, "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(r.exitErr, &ee) {
		return true, ee.ProcessState.String()
	}
	return true, r.exitErr.Error()
}

// stderrTail returns the last lines the plugin wrote to stderr.
func (r *groupRunner) stderrTail() string { return r.stderr.tail() }

func (r *groupRunner) Diagnose(context.Context) string { return "" }
func (r *groupRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *groupRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *groupRunner) Name() string                    { return r.cmd.Path }

// ID is the main process's pid.
func (r *groupRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 {
		return ""
	}
	return fmt.Sprint(r.pid)
}

func (r *groupRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *groupRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
