//go:build !unix

package mux

import (
	"errors"
	"net"
	"os"
)

// Supported reports whether this platform has the connected socket pairs
// the transport runs on; where it has not, the host and its plugins talk
// gRPC alone.
const Supported = false

var errUnsupported = errors.New("mux: no socket pairs on this platform")

// SocketPair is not available on this platform.
func SocketPair() (host, plugin *os.File, err error) { return nil, nil, errUnsupported }

// FileConn is not available on this platform.
func FileConn(f *os.File) (net.Conn, error) {
	_ = f.Close()
	return nil, errUnsupported
}
