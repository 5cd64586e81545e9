//go:build unix

package mux

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// Supported reports whether this platform has the connected socket pairs
// the transport runs on.
const Supported = true

// SocketPair returns the two ends of a connected Unix stream socket pair,
// as files: one stays with the host, the other goes to the plugin as an
// inherited descriptor. Both are close-on-exec in this process.
func SocketPair() (host, plugin *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "nebula-mux-host"), os.NewFile(uintptr(fds[1]), "nebula-mux-plugin"), nil
}

// FileConn turns one end into a net.Conn, and closes f: the connection
// has its own descriptor.
func FileConn(f *os.File) (net.Conn, error) {
	c, err := net.FileConn(f)
	_ = f.Close()
	return c, err
}
