//go:build !unix

package credential

import "os/exec"

// prepareCmd leaves the command as it is: without process groups, a kill
// reaches the command itself only, and cmd.WaitDelay bounds the wait for
// what it left running.
func prepareCmd(*exec.Cmd) {}
