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
