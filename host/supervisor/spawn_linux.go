package supervisor

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockSpawnThread pins the calling goroutine to its OS thread. Plugins are
// started from that thread with a parent-death signal, so the kernel kills
// them when the thread ends: when the host exits, even by SIGKILL. The
// goroutine must stay alive (and locked) for as long as its plugins run,
// which the supervisor's run loop does.
func lockSpawnThread() { runtime.LockOSThread() }

// prepareCmd makes the kernel SIGKILL the plugin when the thread that
// started it ends, and puts the plugin in a process group of its own.
func prepareCmd(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
}

// awaitExit waits for the runner's main process to exit without reaping
// it.
func awaitExit(r *groupRunner) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, r.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// killGroup sends SIGKILL to every process of the group pgid.
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }
