package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/admin"
)

// testCA is a certificate authority that writes the certificates it
// signs, and their keys, as PEM files into dir.
type testCA struct {
	t    *testing.T
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// file is the authority's certificate, PEM.
	file string
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: dir, name: name, cert: cert, key: key}
	ca.file = ca.write(name+".pem", "CERTIFICATE", der)
	return ca
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (ca *testCA) write(name, typ string, der []byte) string {
	ca.t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

// issue signs a certificate for cn (and 127.0.0.1, for a server) and
// returns the files of the certificate and of its key.
func (ca *testCA) issue(file, cn string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	ca.t.Helper()
	key := newKey(ca.t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return ca.write(file+".pem", "CERTIFICATE", der), ca.write(file+"-key.pem", "PRIVATE KEY", keyDER)
}

// The admin API over TLS: a client certificate of the authority in
// client_ca_file names its identity; one of another authority is refused
// at the handshake; a token works without a certificate.
func TestMutualTLSAuthenticatesClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "nebula-test-ca")
	rogue := newTestCA(t, dir, "rogue-ca")
	serverCert, serverKey := ca.issue("server", "nebula-host", 2, x509.ExtKeyUsageServerAuth)
	workerCert, workerKey := ca.issue("worker", "acme-worker", 3, x509.ExtKeyUsageClientAuth)
	strangerCert, strangerKey := ca.issue("stranger", "stranger", 4, x509.ExtKeyUsageClientAuth)
	rogueCert, rogueKey := rogue.issue("rogue", "acme-worker", 5, x509.ExtKeyUsageClientAuth)

	h := newHost(t, tenantHost)
	auth := config.AdminAuth{
		TLS: &config.AdminTLS{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: ca.file},
		Identities: []*config.Identity{
			{Name: "acme-worker", ClientCertNames: []string{"acme-worker"}, Tenant: "acme", Allow: []string{"read", "invoke"}},
			{Name: "ops", TokenSHA256: sha256Hex("tok-ops"), Allow: []string{"read", "admin"}},
		},
	}
	audit := new(syncBuffer)
	s := admin.New(h, admin.Config{Address: "127.0.0.1:0", Auth: auth, Audit: audit, Logger: slogDiscard()})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	addr := s.Addr()
	client := func(opts ...api.Option) *api.Client {
		t.Helper()
		c, err := api.NewClient(addr, append([]api.Option{api.WithCAFile(ca.file), api.WithTimeout(10 * time.Second)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	worker := client(api.WithClientCertificate(workerCert, workerKey))
	list, err := worker.Resources(t.Context())
	if err != nil {
		t.Fatalf("the worker's certificate: %v", err)
	}
	var ids []string
	for _, r := range list.Resources {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"memory.cache", "localfs.files"}) {
		t.Fatalf("the worker sees %v, want its tenant's resources", ids)
	}
	if _, err := worker.Invoke(t.Context(), "memory.cache", api.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"k","value":"v"}`)}); err != nil {
		t.Fatalf("the worker's call: %v", err)
	}
	if _, err := worker.Plugins(t.Context()); api.KindOf(err) != api.KindPermissionDenied {
		t.Fatalf("the worker lists plugins: %v", err)
	}

	// A token, without a certificate.
	if _, err := client(api.WithBearerToken("tok-ops")).Plugins(t.Context()); err != nil {
		t.Fatalf("a token without a certificate: %v", err)
	}
	// Neither: 401.
	_, err = client().Resources(t.Context())
	var e *api.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized || e.Code != api.CodeUnauthenticated {
		t.Fatalf("no credentials: %v", err)
	}
	// A certificate of the right authority that names no identity: 401.
	_, err = client(api.WithClientCertificate(strangerCert, strangerKey)).Resources(t.Context())
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a certificate that names no identity: %v", err)
	}
	// A certificate of another authority, with the same name: a client
	// that follows the server's list of authorities does not send it, and
	// is unauthenticated; one that sends it anyway fails its handshake,
	// and gets no answer.
	_, err = client(api.WithClientCertificate(rogueCert, rogueKey)).Resources(t.Context())
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a certificate of another authority, not sent: %v", err)
	}
	rogueKeyPair, err := tls.LoadX509KeyPair(rogueCert, rogueKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	forced := &tls.Config{RootCAs: pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogueKeyPair, nil }}
	_, err = client(api.WithTLSConfig(forced)).Resources(t.Context())
	if err == nil || api.KindOf(err) != "" {
		t.Fatalf("a certificate of another authority, sent anyway: %v", err)
	}
	// Plain HTTP gets nowhere.
	if resp, err := http.Get("http://" + addr + "/v1/resources"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served")
		}
	}
	// An older TLS is refused.
	conn, err := tls.Dial("tcp", addr, &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	// And the server still serves.
	if _, err := worker.Resources(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, l := range auditLines(t, audit.String()) {
		if l.Route == "POST /v1/resources/{name}/invoke" && (l.Identity != "acme-worker" || l.Tenant != "acme" || l.Result != "ok") {
			t.Errorf("the worker's call audited as %+v", l)
		}
	}
}

// SetAuth with the same tls block reads its files again: a certificate
// renewed in place is served to new connections.
func TestSetAuthServesARenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "nebula-test-ca")
	certFile, keyFile := ca.issue("server", "nebula-host", 10, x509.ExtKeyUsageServerAuth)
	auth := config.AdminAuth{
		TLS:        &config.AdminTLS{CertFile: certFile, KeyFile: keyFile},
		Identities: []*config.Identity{{Name: "ops", TokenSHA256: sha256Hex("tok-ops"), Allow: []string{"read"}}},
	}
	s := admin.New(newHost(t, tenantHost), admin.Config{Address: "127.0.0.1:0", Auth: auth, Logger: slogDiscard()})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	serial := func() int64 {
		t.Helper()
		resp, err := hc.Get("https://" + s.Addr() + "/livez")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 1 {
			t.Fatalf("protocol %s, want HTTP/1.1", resp.Proto)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if n := serial(); n != 10 {
		t.Fatalf("serial %d", n)
	}
	ca.issue("server", "nebula-host", 11, x509.ExtKeyUsageServerAuth)
	if err := s.SetAuth(auth); err != nil {
		t.Fatal(err)
	}
	if n := serial(); n != 11 {
		t.Fatalf("serial %d after SetAuth, want the renewed certificate's", n)
	}
	other := auth
	other.TLS = &config.AdminTLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.file}
	if err := s.SetAuth(other); !errors.Is(err, admin.ErrRestartNeeded) {
		t.Fatalf("SetAuth with client_ca_file added: %v", err)
	}
	// A tls block whose files cannot be read keeps the server from
	// starting.
	bad := auth
	bad.TLS = &config.AdminTLS{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: keyFile}
	if err := admin.New(newHost(t, tenantHost), admin.Config{Address: "127.0.0.1:0", Auth: bad, Logger: slogDiscard()}).Start(); err == nil {
		t.Fatal("Start with a missing certificate")
	}
}
