package goplugin_test

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/sdk/internal/goplugin"
	"github.com/nebula-resource/nebula-resource/sdk/internal/selfsigned"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNegotiatePicksTheNewestVersionBothSpeak(t *testing.T) {
	for name, tc := range map[string]struct {
		offered string
		served  []int
		want    int
		ok      bool
	}{
		"both speak both":               {"1,2", []int{1, 2}, 2, true},
		"the host's order is no matter": {"2,1", []int{2, 1}, 2, true},
		"an older host":                 {"1", []int{1, 2}, 1, true},
		"no data connection":            {"1,2", []int{1}, 1, true},
		"a newer host":                  {"2,3", []int{1, 2}, 2, true},
		"nothing in common":             {"3,4", []int{1, 2}, 1, false},
		"no offer":                      {"", []int{1, 2}, 1, false},
		"garbage is skipped":            {"x, 2", []int{1, 2}, 2, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := goplugin.Negotiate(tc.offered, tc.served)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Negotiate(%q, %v) = %d, %v; want %d, %v", tc.offered, tc.served, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestTheHandshakeLineIsGoPluginsAndParsesBack(t *testing.T) {
	addr := &net.UnixAddr{Net: "unix", Name: "/tmp/plugin-dir123/plugin456"}
	if got, want := goplugin.HandshakeLine(2, addr, nil), "1|2|unix|/tmp/plugin-dir123/plugin456|grpc|"; got != want {
		t.Errorf("HandshakeLine = %q, want %q", got, want)
	}
	cert := certificate(t)
	line := goplugin.HandshakeLine(1, addr, cert.Raw)
	h, err := goplugin.ParseHandshake(line + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 || h.Network != "unix" || h.Address != addr.Name || h.ServerCert == nil || !h.ServerCert.Equal(cert) {
		t.Errorf("ParseHandshake(%q) = %+v", line, h)
	}
	for _, bad := range []string{"hello", "2|1|unix|/x|grpc|", "1|x|unix|/x|grpc|", "1|1|pipe|/x|grpc|", "1|1|unix|/x|netrpc|", "1|1|unix|/x"} {
		if _, err := goplugin.ParseHandshake(bad); !errors.Is(err, goplugin.ErrHandshake) {
			t.Errorf("ParseHandshake(%q) = %v, want ErrHandshake", bad, err)
		}
	}
}

func TestListenMakesTheSocketInTheGivenDirectoryForTheGivenGroupAndRemovesIt(t *testing.T) {
	dir := t.TempDir()
	gid := strconv.Itoa(os.Getgid())
	env := map[string]string{goplugin.EnvUnixSocketDir: dir, goplugin.EnvUnixSocketGroup: gid}
	l, err := goplugin.Listen(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	path := l.Addr().String()
	if filepath.Dir(path) != dir || !strings.HasPrefix(filepath.Base(path), "plugin") {
		t.Errorf("socket %s, want plugin* in %s", path, dir)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket still there after Close: %v", err)
	}
}

func certificate(t *testing.T) *x509.Certificate {
	t.Helper()
	c, _, _, err := selfsigned.New()
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}
