package supervisor

import (
	"errors"
	"fmt"
)

// Sentinel errors of the supervisor. Errors returned by it wrap one of these
// and name the plugin.
var (
	// ErrChecksumMismatch means the plugin binary's SHA-256 is not the one
	// the configuration gives. The plugin is not started.
	ErrChecksumMismatch = errors.New("plugin checksum mismatch")
	// ErrIncompatibleProtocol means the plugin speaks no protocol version
	// this host speaks.
	ErrIncompatibleProtocol = errors.New("incompatible plugin protocol")
	// ErrPluginDown means the plugin is not running: it exited and is being
	// restarted, or it has been stopped.
	ErrPluginDown = errors.New("plugin is not running")
	// ErrClosed means the supervisor has been closed.
	ErrClosed = errors.New("plugin supervisor closed")
	// ErrNotPluginBinary means the path does not name a file the host
	// can run: nothing is there, or a directory, or a file no one may
	// execute.
	ErrNotPluginBinary = errors.New("not a plugin binary")
	// ErrInsecurePermissions means every local user may replace the
	// plugin binary: it, or a directory above it, is world-writable.
	ErrInsecurePermissions = errors.New("plugin binary is writable by every user")
	// ErrStartTimeout means the plugin did not start within its start
	// timeout; its process group was killed.
	ErrStartTimeout = errors.New("plugin start timed out")
	// ErrHandshake means the plugin did not speak go-plugin's handshake:
	// it exited first, or printed something else on stdout.
	ErrHandshake = errors.New("plugin handshake failed")
)

// StartError is a failure to start a plugin.
type StartError struct {
	Plugin string
	Path   string
	Err    error
}

// Error names the plugin, its path and the cause.
func (e *StartError) Error() string {
	return fmt.Sprintf("plugin %q (%s): %v", e.Plugin, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }
