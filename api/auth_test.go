package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

func TestClientReloadPostsAndReadsTheResult(t *testing.T) {
	const token = "tok-reload-4d2e"
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/reload" || r.Header.Get("Content-Type") != api.ContentTypeJSON ||
			string(body) != "{}" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", api.ContentTypeJSON)
		if fail {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Kind: api.KindFailedPrecondition, Code: api.CodeInvalidConfiguration,
				Message: "the configuration has errors; nothing changed:\nmain.hcl:3:5: error: Unsupported argument; An argument named \"sise\" is not expected here."}})
			return
		}
		_, _ = io.WriteString(w, `{"added":["memory.fresh"],"changed":["memory.tuned"],"unchanged":2}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, api.WithBearerToken(token))
	res, err := c.Reload(t.Context())
	if err != nil || strings.Join(res.Added, ",") != "memory.fresh" || res.Removed != nil || strings.Join(res.Changed, ",") != "memory.tuned" ||
		res.Unchanged != 2 {
		t.Fatalf("Reload = %+v, %v", res, err)
	}
	fail = true
	_, err = c.Reload(t.Context())
	var e *api.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnprocessableEntity || e.Code != api.CodeInvalidConfiguration ||
		!strings.Contains(e.Message, "\nmain.hcl:3:5: error: Unsupported argument") {
		t.Fatalf("a refused reload: %#v", err)
	}
}

// pki is a certificate authority with a server certificate for 127.0.0.1
// and a client certificate, written as PEM files into dir.
type pki struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := pki{caFile: write("ca.pem", "CERTIFICATE", caDER), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	serverDER, serverKey := leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	clientDER, clientKey := leaf(3, "worker", x509.ExtKeyUsageClientAuth)
	p.certFile = write("client.pem", "CERTIFICATE", clientDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = write("client-key.pem", "PRIVATE KEY", keyDER)
	return p
}

// WithCAFile and WithClientCertificate read their PEM files: the client
// trusts the authority and presents the certificate.
func TestClientSpeaksTLSWithTheFilesItIsGiven(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != "worker" {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	hostport := strings.TrimPrefix(srv.URL, "https://")

	// No scheme means https with the files.
	if err := newClient(t, hostport, api.WithCAFile(p.caFile), api.WithClientCertificate(p.certFile, p.keyFile)).Live(t.Context()); err != nil {
		t.Fatalf("with the authority and the certificate: %v", err)
	}
	err := newClient(t, hostport, api.WithCAFile(p.caFile)).Live(t.Context())
	if e := (*api.Error)(nil); !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the certificate: %v", err)
	}
	if err := newClient(t, srv.URL).Live(t.Context()); err == nil || api.KindOf(err) != "" {
		t.Fatalf("without the authority: %v", err)
	}
	// The files add to a configuration given.
	base := &tls.Config{ServerName: "127.0.0.1"}
	if err := newClient(t, srv.URL, api.WithTLSConfig(base), api.WithCAFile(p.caFile), api.WithClientCertificate(p.certFile, p.keyFile)).Live(t.Context()); err != nil {
		t.Fatalf("WithTLSConfig and the files: %v", err)
	}
	if base.RootCAs != nil || base.Certificates != nil {
		t.Fatal("the files changed the configuration given")
	}

	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]api.Option{
		"a missing authority file":  {api.WithCAFile(filepath.Join(dir, "missing.pem"))},
		"an authority file not PEM": {api.WithCAFile(notPEM)},
		"a certificate without key": {api.WithClientCertificate(p.certFile, "")},
		"a key that is no key":      {api.WithClientCertificate(p.certFile, notPEM)},
		"with an http.Client":       {api.WithCAFile(p.caFile), api.WithHTTPClient(http.DefaultClient)},
	} {
		if _, err := api.NewClient(hostport, opts...); !errors.Is(err, api.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := api.NewClient("http://"+hostport, api.WithCAFile(p.caFile)); !errors.Is(err, api.ErrInvalidConfig) {
		t.Errorf("http:// with WithCAFile: %v", err)
	}
}
