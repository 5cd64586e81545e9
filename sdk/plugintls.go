package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/nebula-resource/nebula-resource/sdk/internal/selfsigned"
)

// The host and a plugin authenticate each other with mutual TLS on the
// plugin's local socket, as go-plugin's AutoMTLS does, but with ECDSA
// P-256 keys, and the host makes the key pairs of both ends: AutoMTLS
// makes P-521 keys in each process, whose scalar tables cost every host
// and plugin process half a megabyte of heap for as long as it runs, and
// milliseconds of CPU per start. The host hands the plugin its key pair
// through an inherited pipe (never the environment, which a plugin's
// children would inherit) whose descriptor pluginTLSFDEnv names, and its
// own certificate in go-plugin's PLUGIN_CLIENT_CERT. A plugin that does not
// read the pipe (one built on an SDK before it, or not on the SDK) answers
// with go-plugin's AutoMTLS, which the host accepts as before.
const (
	pluginTLSFDEnv   = "NEBULA_PLUGIN_TLS_FD"
	pluginClientCert = "PLUGIN_CLIENT_CERT"
	// maxPluginTLS bounds what a plugin reads from the pipe.
	maxPluginTLS = 64 << 10
)

// PluginTLS is the mutual TLS of one plugin start, for the host's side.
// Make one with NewPluginTLS per start, give the plugin's command to
// Prepare, and dial with Config.
type PluginTLS struct {
	config    *tls.Config
	clientPEM []byte // the host's certificate
	serverPEM []byte // the plugin's certificate and key
}

// NewPluginTLS makes the key pairs of both ends.
func NewPluginTLS() (*PluginTLS, error) {
	clientCert, clientPEM, _, err := selfsigned.New()
	if err != nil {
		return nil, err
	}
	serverCert, serverCertPEM, serverKeyPEM, err := selfsigned.New()
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverCert.Leaf)
	return &PluginTLS{
		config: &tls.Config{
			Certificates: []tls.Certificate{clientCert},
			RootCAs:      roots,
			ServerName:   "localhost",
			MinVersion:   tls.VersionTLS13,
		},
		clientPEM: clientPEM,
		serverPEM: append(serverCertPEM, serverKeyPEM...),
	}, nil
}

// Config is the host's TLS configuration: its certificate, and the
// plugin's as the only root. A plugin that answers with go-plugin's
// AutoMTLS replaces the root with its own certificate.
func (p *PluginTLS) Config() *tls.Config { return p.config }

// Prepare arranges for cmd to hand the plugin its key pair and the host's
// certificate: a pipe holding the pair, added to cmd.ExtraFiles, and two
// variables added to cmd.Env. Close the returned file once cmd has started
// (or failed to): the plugin holds its own copy.
func (p *PluginTLS) Prepare(cmd *exec.Cmd) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The pair is a few hundred bytes, far under a pipe's buffer: the
	// write does not wait for the plugin.
	_, err = w.Write(p.serverPEM)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("hand the plugin its TLS key pair: %w", err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	fd := 2 + len(cmd.ExtraFiles) // ExtraFiles[i] is descriptor 3+i
	cmd.Env = append(cmd.Env, pluginTLSFDEnv+"="+strconv.Itoa(fd), pluginClientCert+"="+string(p.clientPEM))
	return r, nil
}

// serverTLS is the plugin's side: the TLS configuration made of the key
// pair the host handed it and the host's certificate, or nil when the host
// handed none (Serve then answers with AutoMTLS if the host asked for it).
func serverTLS(getenv func(string) string) (*tls.Config, error) {
	fdText := getenv(pluginTLSFDEnv)
	if fdText == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor the host passed", pluginTLSFDEnv, fdText)
	}
	f := os.NewFile(uintptr(fd), "nebula-plugin-tls")
	if f == nil {
		return nil, fmt.Errorf("%s=%d: no such descriptor", pluginTLSFDEnv, fd)
	}
	pair, err := io.ReadAll(io.LimitReader(f, maxPluginTLS))
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("read the TLS key pair from the host: %w", err)
	}
	cert, err := tls.X509KeyPair(pair, pair)
	if err != nil {
		return nil, fmt.Errorf("the TLS key pair from the host: %w", err)
	}
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM([]byte(getenv(pluginClientCert))) {
		return nil, fmt.Errorf("%s holds no certificate", pluginClientCert)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
