//go:build unix

package sdk

import (
	"crypto/tls"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// serverTLSFromPrepared reads, as a plugin would, what p.Prepare handed a
// command, from the pipe's read end in this process.
func serverTLSFromPrepared(t *testing.T, p *PluginTLS) *tls.Config {
	t.Helper()
	cmd := exec.Command("true")
	r, err := p.Prepare(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	env := map[string]string{}
	for _, kv := range cmd.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env[pluginTLSFDEnv] != "3" || !strings.Contains(env[pluginClientCert], "CERTIFICATE") {
		t.Fatalf("Prepare set %v", cmd.Env)
	}
	for _, kv := range cmd.Env {
		if strings.Contains(kv, "PRIVATE KEY") {
			t.Fatal("Prepare put a private key in the environment")
		}
	}
	// In this process the pipe is not descriptor 3: name a copy of it,
	// which serverTLS closes as a plugin closes its own.
	fd, err := syscall.Dup(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	env[pluginTLSFDEnv] = strconv.Itoa(fd)
	cfg, err := serverTLS(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// handshake runs a TLS handshake between client and server configurations
// over an in-memory connection and returns the client's error.
func handshake(client, server *tls.Config) error {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		err := tls.Server(s, server).Handshake()
		_ = s.Close()
		done <- err
	}()
	err := tls.Client(c, client).Handshake()
	_ = c.Close()
	<-done
	return err
}

func TestHostAndPluginAuthenticateEachOtherWithTheKeysTheHostMade(t *testing.T) {
	p, err := NewPluginTLS()
	if err != nil {
		t.Fatal(err)
	}
	server := serverTLSFromPrepared(t, p)
	if err := handshake(p.Config(), server); err != nil {
		t.Fatalf("the host's handshake with its plugin: %v", err)
	}

	other, err := NewPluginTLS()
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(other.Config(), server); err == nil {
		t.Fatal("a client with another host's certificate was accepted by the plugin")
	}
	if err := handshake(p.Config(), serverTLSFromPrepared(t, other)); err == nil {
		t.Fatal("the host accepted a plugin serving another start's certificate")
	}
}

func TestAPluginWithoutTheHostsKeysLeavesTLSToGoPlugin(t *testing.T) {
	cfg, err := serverTLS(func(string) string { return "" })
	if cfg != nil || err != nil {
		t.Fatalf("got %v, %v; want nil, nil", cfg, err)
	}
	for _, fd := range []string{"x", "1", "99999"} {
		if _, err := serverTLS(func(k string) string {
			if k == pluginTLSFDEnv {
				return fd
			}
			return ""
		}); err == nil {
			t.Fatalf("%s=%s was accepted", pluginTLSFDEnv, fd)
		}
	}
}
