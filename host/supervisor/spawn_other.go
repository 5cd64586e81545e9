//go:build !linux

package supervisor

import "os/exec"

// lockSpawnThread does nothing where there is no parent-death signal; the
// SDK's parent watch still stops orphaned plugins.
func lockSpawnThread() {}

func setParentDeathSignal(*exec.Cmd) {}
