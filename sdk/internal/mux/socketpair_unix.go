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
	// Room for a stream's whole window and a message beyond it, so that a
	// sender writes a large chunk in one system call rather than waiting
	// for the reader a few kilobytes at a time (the kernel caps it at
	// net.core.wmem_max; where that is lower, this is a hint).
	for _, fd := range fds {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, socketBuffer)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, socketBuffer)
	}
	return os.NewFile(uintptr(fds[0]), "nebula-mux-host"), os.NewFile(uintptr(fds[1]), "nebula-mux-plugin"), nil
}

// socketBuffer is the send and receive buffer of each end.
const socketBuffer = 1 << 20

// FileConn turns one end into a net.Conn, and closes f: the connection
// has its own descriptor.
func FileConn(f *os.File) (net.Conn, error) {
	c, err := net.FileConn(f)
	_ = f.Close()
	return c, err
}
