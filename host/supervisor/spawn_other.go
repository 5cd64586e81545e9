//go:build !linux

package supervisor

import (
	"os"
	"os/exec"
)

// lockSpawnThread does nothing where there is no parent-death signal; the
// SDK's parent watch still stops orphaned plugins.
func lockSpawnThread() {}

// prepareCmd does nothing: process groups and the parent-death signal are
// used on Linux only.
func prepareCmd(*exec.Cmd) {}

// awaitExit reaps the main process: without waitid's WNOWAIT, it is the
// way to learn that it exited. The lock is not held while waiting, so
// kill still works.
func awaitExit(r *groupRunner) {
	err := r.cmd.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waited = true
	r.exitErr = err
	close(r.reaped)
}

// killGroup kills the main process only.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
