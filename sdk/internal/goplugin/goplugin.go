// Package goplugin speaks go-plugin's wire protocol without go-plugin
// (github.com/hashicorp/go-plugin v1.8.0, core protocol version 1, gRPC
// only): the plugin's side, which sdk.Serve serves, and as much of the
// host's side as sdktest's launcher needs. The host itself runs plugins
// with go-plugin's client, so everything here must read and write what
// go-plugin does; a plugin that imports the SDK then needs neither
// go-plugin nor go-hclog, and their modules stay out of its go.sum
// (docs/protocol.md).
//
// The steps of a start, as go-plugin's client and server take them:
//
//  1. The host runs the plugin with the magic cookie, the application
//     protocol versions it offers (PLUGIN_PROTOCOL_VERSIONS), the directory
//     for the plugin's socket (PLUGIN_UNIX_SOCKET_DIR) and, for mutual TLS,
//     its certificate (PLUGIN_CLIENT_CERT) in the environment.
//  2. The plugin picks the newest version both speak ([Negotiate]),
//     listens on a unix socket in that directory ([Listen]) and prints
//     one line on stdout ([HandshakeLine]).
//  3. The host dials the socket with gRPC and uses the plugin's services,
//     and go-plugin's own ([Register]): the health service, GRPCController
//     (Shutdown), GRPCStdio (what the plugin prints after the handshake)
//     and GRPCBroker.
//  4. The host stops the plugin with GRPCController.Shutdown, and kills it
//     if it has not exited 2 s later.
package goplugin

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// CoreProtocolVersion is go-plugin's own protocol version, the first field
// of the handshake line.
const CoreProtocolVersion = 1

// The environment go-plugin's client sets for a plugin.
const (
	// EnvProtocolVersions lists the application protocol versions the
	// host offers, separated by commas.
	EnvProtocolVersions = "PLUGIN_PROTOCOL_VERSIONS"
	// EnvUnixSocketDir is the directory a plugin makes its socket in (the
	// system's temporary directory when unset).
	EnvUnixSocketDir = "PLUGIN_UNIX_SOCKET_DIR"
	// EnvUnixSocketGroup, when set, is the group (a name or a numeric id)
	// that owns the socket and may write to it.
	EnvUnixSocketGroup = "PLUGIN_UNIX_SOCKET_GROUP"
	// EnvClientCert is the host's certificate (PEM) for mutual TLS.
	EnvClientCert = "PLUGIN_CLIENT_CERT"
	// EnvMinPort and EnvMaxPort bound the TCP port of a plugin on a
	// platform without unix sockets (Windows).
	EnvMinPort = "PLUGIN_MIN_PORT"
	EnvMaxPort = "PLUGIN_MAX_PORT"
)

// ErrHandshake is the error of a handshake line that go-plugin's client
// would refuse.
var ErrHandshake = errors.New("not a go-plugin handshake line")

// Negotiate returns the application protocol version a plugin serving the
// versions served speaks with a host that offered the list offered (the
// value of EnvProtocolVersions): the newest both have. Where they have
// none in common it returns the oldest it serves, as go-plugin's server
// does, so that the host's go-plugin reports the mismatch; ok is then
// false. Entries of offered that are not numbers are ignored.
func Negotiate(offered string, served []int) (version int, ok bool) {
	var host []int
	for s := range strings.SplitSeq(offered, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			host = append(host, v)
		}
	}
	mine := slices.Sorted(slices.Values(served))
	for _, v := range slices.Backward(mine) {
		if slices.Contains(host, v) {
			return v, true
		}
	}
	if len(mine) == 0 {
		return 0, false
	}
	return mine[0], false
}

// Listen makes the plugin's listener as go-plugin's server does: a unix
// socket with a fresh name in EnvUnixSocketDir, or in the system's
// temporary directory, owned by EnvUnixSocketGroup (mode 0660) when set;
// on Windows a TCP port on 127.0.0.1 between EnvMinPort and EnvMaxPort
// (any port when unset). Closing the listener removes the socket.
func Listen(getenv func(string) string) (net.Listener, error) {
	if runtime.GOOS == "windows" {
		return listenTCP(getenv)
	}
	f, err := os.CreateTemp(getenv(EnvUnixSocketDir), "plugin")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if group := getenv(EnvUnixSocketGroup); group != "" {
		if err := setGroupWritable(path, group, 0o660); err != nil {
			_ = l.Close()
			return nil, err
		}
	}
	// net's unix listener removes its socket file when closed.
	return l, nil
}

func listenTCP(getenv func(string) string) (net.Listener, error) {
	port := func(name string) (int, error) {
		s := getenv(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("couldn't get value from %s: %v", name, err)
		}
		return n, nil
	}
	lo, err := port(EnvMinPort)
	if err != nil {
		return nil, err
	}
	hi, err := port(EnvMaxPort)
	if err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, fmt.Errorf("%s value of %d is greater than %s value of %d", EnvMinPort, lo, EnvMaxPort, hi)
	}
	for p := lo; p <= hi; p++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			return l, nil
		}
	}
	return nil, errors.New("couldn't bind plugin TCP listener")
}

// setGroupWritable gives path to group (a name or a numeric id) with mode.
func setGroupWritable(path, group string, mode os.FileMode) error {
	gid, err := strconv.Atoi(group)
	if err != nil {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("failed to find gid from %q: %w", group, err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return fmt.Errorf("failed to parse %q group's gid as an integer: %w", group, err)
		}
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// HandshakeLine is the line, without its newline, a plugin prints on
// stdout once it listens on addr, speaking the application protocol
// version over gRPC:
//
//	1|<version>|<network>|<address>|grpc|<certificate>
//
// certificate is serverCert (DER) in unpadded standard base64, for a host
// that asked for go-plugin's AutoMTLS, and empty otherwise, exactly as
// go-plugin's server writes it.
func HandshakeLine(version int, addr net.Addr, serverCert []byte) string {
	cert := ""
	if len(serverCert) > 0 {
		cert = base64.RawStdEncoding.EncodeToString(serverCert)
	}
	return fmt.Sprintf("%d|%d|%s|%s|grpc|%s", CoreProtocolVersion, version, addr.Network(), addr.String(), cert)
}

// Handshake is a parsed handshake line.
type Handshake struct {
	// Version is the application protocol version the plugin speaks.
	Version int
	// Network ("unix" or "tcp") and Address are where it listens.
	Network, Address string
	// ServerCert is the plugin's certificate under go-plugin's AutoMTLS;
	// nil when the line carries none.
	ServerCert *x509.Certificate
}

// ParseHandshake reads a handshake line as go-plugin's client does, for
// a plugin speaking gRPC.
func ParseHandshake(line string) (Handshake, error) {
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) < 4 {
		return Handshake{}, fmt.Errorf("%w: %q", ErrHandshake, line)
	}
	if core, err := strconv.Atoi(parts[0]); err != nil || core != CoreProtocolVersion {
		return Handshake{}, fmt.Errorf("%w: core protocol version %q, want %d", ErrHandshake, parts[0], CoreProtocolVersion)
	}
	v, err := strconv.Atoi(parts[1])
	if err != nil {
		return Handshake{}, fmt.Errorf("%w: application protocol version %q", ErrHandshake, parts[1])
	}
	h := Handshake{Version: v, Network: parts[2], Address: parts[3]}
	if h.Network != "unix" && h.Network != "tcp" {
		return Handshake{}, fmt.Errorf("%w: unknown address type %q", ErrHandshake, h.Network)
	}
	if len(parts) < 5 || parts[4] != "grpc" {
		return Handshake{}, fmt.Errorf("%w: the plugin does not speak grpc", ErrHandshake)
	}
	// go-plugin takes a field of more than 50 characters for a
	// certificate, and ignores a shorter one.
	if len(parts) >= 6 && len(parts[5]) > 50 {
		der, err := base64.RawStdEncoding.DecodeString(parts[5])
		if err != nil {
			return Handshake{}, fmt.Errorf("%w: server certificate: %v", ErrHandshake, err)
		}
		if h.ServerCert, err = x509.ParseCertificate(der); err != nil {
			return Handshake{}, fmt.Errorf("%w: server certificate: %v", ErrHandshake, err)
		}
	}
	return h, nil
}
