//go:build unix

package credential

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// prepareCmd puts the command in a process group of its own, and makes
// the kill on timeout or Close reach the whole group: a shell script's
// children, left running, would otherwise outlive it and hold its output
// open.
func prepareCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
