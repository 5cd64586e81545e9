package redis_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis runs a private redis-server, for what the shared test servers
// cannot offer (TLS, Sentinel), with the given arguments after a
// configuration file or none. It is killed when the test ends. ready
// reports when it serves.
func startRedis(t testing.TB, args []string, ready func() error) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed: %v\nRun `scripts/testenv up` (or `make test`), which installs it.", err)
	}
	logPath := filepath.Join(t.TempDir(), "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("the private redis-server %v did not become ready: %v\n%s", args, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ping(addr string, tlsConfig *tls.Config) func() error {
	return func() error {
		c := goredis.NewClient(&goredis.Options{Addr: addr, TLSConfig: tlsConfig, MaxRetries: -1, DialerRetries: 1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	}
}

// sentinel is a private master with one sentinel watching it.
type sentinel struct {
	master     string // host:port of the master
	sentinel   string // host:port of the sentinel
	masterName string
}

func startSentinel(t testing.TB) sentinel {
	t.Helper()
	mport, sport := freePort(t), freePort(t)
	s := sentinel{
		master:     "127.0.0.1:" + strconv.Itoa(mport),
		sentinel:   "127.0.0.1:" + strconv.Itoa(sport),
		masterName: "nebula-test-master",
	}
	dir := t.TempDir()
	startRedis(t, []string{"--port", strconv.Itoa(mport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, ping(s.master, nil))
	conf := filepath.Join(dir, "sentinel.conf")
	body := strings.Join([]string{
		"port " + strconv.Itoa(sport),
		"bind 127.0.0.1",
		"dir " + dir,
		"sentinel monitor " + s.masterName + " 127.0.0.1 " + strconv.Itoa(mport) + " 1",
		"sentinel down-after-milliseconds " + s.masterName + " 1000",
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startRedis(t, []string{conf, "--sentinel"}, func() error {
		c := goredis.NewSentinelClient(&goredis.Options{Addr: s.sentinel, MaxRetries: -1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.GetMasterAddrByName(ctx, s.masterName).Result()
		return err
	})
	return s
}

// pki is a CA and a server and a client certificate it signed, as PEM
// files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	pool                                             *x509.CertPool
}

func newPKI(t testing.TB) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nebula test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "redis.test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			DNSNames: []string{"redis.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	serverDER, serverKey := issue(2, x509.ExtKeyUsageServerAuth)
	clientDER, clientKey := issue(3, x509.ExtKeyUsageClientAuth)
	p := pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", serverDER),
		serverKey:  write("server-key.pem", "PRIVATE KEY", keyDER(serverKey)),
		clientCert: write("client.pem", "CERTIFICATE", clientDER),
		clientKey:  write("client-key.pem", "PRIVATE KEY", keyDER(clientKey)),
		pool:       x509.NewCertPool(),
	}
	p.pool.AddCert(caCert)
	return p
}

// startTLSRedis runs a private redis-server that speaks only TLS; with
// clientCerts it requires a client certificate signed by the CA.
func startTLSRedis(t testing.TB, p pki, clientCerts bool) string {
	t.Helper()
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	auth := "no"
	var certs []tls.Certificate
	if clientCerts {
		auth = "yes"
		c, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		certs = []tls.Certificate{c}
	}
	startRedis(t, []string{
		"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", p.serverCert, "--tls-key-file", p.serverKey, "--tls-ca-cert-file", p.ca,
		"--tls-auth-clients", auth, "--save", "", "--appendonly", "no", "--dir", t.TempDir(),
	}, ping(addr, &tls.Config{RootCAs: p.pool, Certificates: certs, MinVersion: tls.VersionTLS12}))
	return addr
}
