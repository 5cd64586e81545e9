package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

// tlsPair is a certificate authority's TLS configurations for a server
// that asks its clients for a certificate, and for a client that has one.
type tlsPair struct {
	server, client *tls.Config
}

// newTLS makes a certificate authority, a server certificate for
// 127.0.0.1 and a client certificate, all signed by it.
func newTLS(t *testing.T) tlsPair {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprint("leaf ", serial)},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	return tlsPair{
		server: &tls.Config{Certificates: []tls.Certificate{leaf(2, x509.ExtKeyUsageServerAuth)}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert},
		client: &tls.Config{Certificates: []tls.Certificate{leaf(3, x509.ExtKeyUsageClientAuth)}, RootCAs: pool},
	}
}

// authProxy is the deployment SECURITY.md recommends for remote callers:
// a reverse proxy that terminates mutual TLS and checks a bearer token in
// front of the shared host.
func authProxy(t *testing.T, token string) (string, tlsPair) {
	t.Helper()
	pair := newTLS(t)
	target, _ := url.Parse("http://" + addr)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/admin")
			r.Out.Header.Del("Authorization")
		},
		FlushInterval: -1,
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/admin/") {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	srv.TLS = pair.server
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/admin", pair
}

func TestClientThroughAProxyWithMutualTLSAndAToken(t *testing.T) {
	const token = "tok-8c1f-secret"
	base, pair := authProxy(t, token)
	hostport := strings.TrimPrefix(base, "https://")
	hostport = strings.TrimSuffix(hostport, "/admin")

	c := newClient(t, base, api.WithTLSConfig(pair.client), api.WithBearerToken(token))
	ps, err := c.Plugins(t.Context())
	if err != nil || len(ps) != 2 {
		t.Fatalf("plugins through the proxy: %+v %v", ps, err)
	}
	// Streams pass through too, both ways.
	data := bytes.Repeat([]byte("through the proxy "), 10_000)
	put(t, c, "proxy/x.bin", data)
	if got := get(t, c, "proxy/x.bin"); !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, put %d", len(got), len(data))
	}
	// An address without a scheme means https with WithTLSConfig; but the
	// proxy serves the API under /admin only.
	if err := newClient(t, hostport, api.WithTLSConfig(pair.client), api.WithBearerToken(token)).Live(t.Context()); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("https by default: %v", err)
	}

	t.Run("no token", func(t *testing.T) {
		_, err := newClient(t, base, api.WithTLSConfig(pair.client)).Plugins(t.Context())
		var e *api.Error
		if !errors.As(err, &e) || e.Kind != api.KindUnauthenticated || e.StatusCode != 401 || e.Message != "401 Unauthorized" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		_, err := newClient(t, base, api.WithTLSConfig(&tls.Config{RootCAs: pair.client.RootCAs}), api.WithBearerToken(token)).Plugins(t.Context())
		if err == nil || api.KindOf(err) != "" {
			t.Fatalf("%v", err)
		}
	})
}

// The bearer token is a secret: it appears in no error, and printing a
// client does not show it.
func TestClientNeverShowsItsToken(t *testing.T) {
	const token = "tok-5e3a9-never-shown"
	base, pair := authProxy(t, token)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	good := newClient(t, base, api.WithTLSConfig(pair.client), api.WithBearerToken(token))
	var errs []error
	add := func(_ any, err error) { errs = append(errs, err) }
	add(good.Resource(t.Context(), "memory.nope"))
	add(good.Invoke(t.Context(), "memory.cache", api.InvokeRequest{Operation: "gett"}))
	add(good.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "get", Args: json.RawMessage(`{"key":"missing"}`)}))
	add(newClient(t, base, api.WithTLSConfig(pair.client), api.WithBearerToken(token+"x")).Plugins(t.Context()))
	add(newClient(t, base, api.WithBearerToken(token)).Plugins(t.Context())) // an unknown authority
	add(newClient(t, closed, api.WithBearerToken(token)).Plugins(t.Context()))
	add(newClient(t, closed, api.WithBearerToken(token), api.WithTimeout(time.Nanosecond)).Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "get"}))
	add(api.NewClient("https://user:"+token+"@127.0.0.1:1", api.WithBearerToken(token)))
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d: no error", i)
			continue
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, token) {
				t.Errorf("call %d: the token is in the error: %s", i, s)
			}
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", good, good, good); strings.Contains(s, token) {
		t.Errorf("printing the client shows the token: %s", s)
	}
}
