package supervisor

import (
	"os/exec"
	"runtime"
	"syscall"
)

// lockSpawnThread pins the calling goroutine to its OS thread. Plugins are
// started from that thread with a parent-death signal, so the kernel kills
// them when the thread ends: when the host exits, even by SIGKILL. The
// goroutine must stay alive (and locked) for as long as its plugins run,
// which the supervisor's run loop does.
func lockSpawnThread() { runtime.LockOSThread() }

// setParentDeathSignal makes the kernel SIGKILL the plugin when the thread
// that started it ends. It also puts the plugin in a process group of its
// own: a signal for the host's group (Ctrl-C in a terminal, a service
// manager stopping the group) then reaches only the host, which closes the
// resources and stops its plugins in order, instead of the plugins dying
// under resources that are still closing.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
}
