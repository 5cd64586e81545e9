package grpcclient_test

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
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// pki is a CA and the PEM files of a server certificate for 127.0.0.1
// and a client certificate, both signed by it.
type pki struct {
	dir                string
	caPool             *x509.CertPool
	server             tls.Certificate
	clientCert, client string // PEM files: certificate, key
	ca                 string // PEM file
}

func newPKI(t *testing.T) pki {
	t.Helper()
	p := pki{dir: t.TempDir(), caPool: x509.NewCertPool()}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.caPool.AddCert(caCert)
	p.ca = filepath.Join(p.dir, "ca.pem")
	writeFile(t, p.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	sc, sk := issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	cc, ck := issue(3, x509.ExtKeyUsageClientAuth, nil)
	p.clientCert, p.client = filepath.Join(p.dir, "client.pem"), filepath.Join(p.dir, "client-key.pem")
	writeFile(t, p.clientCert, cc)
	writeFile(t, p.client, ck)
	return p
}

// requireToken refuses every call without "authorization: Bearer
// token" as UNAUTHENTICATED.
func requireToken(token string) []grpc.ServerOption {
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if a := md.Get("authorization"); len(a) != 1 || a[0] != "Bearer "+token {
			return status.Error(codes.Unauthenticated, "a bearer token is required")
		}
		return nil
	}
	return []grpc.ServerOption{
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

// Over mutual TLS, with a bearer token the server requires on every call
// (reflection and health checks included); without the client
// certificate, or with another token, the instance does not open.
func TestMutualTLSWithABearerToken(t *testing.T) {
	p := newPKI(t)
	const token = "tls-t0ken"
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: p.caPool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	s := startServer(t, grpctest.Options{ServerOptions: append(requireToken(token), grpc.Creds(creds))})
	tlsCfg := map[string]any{"tls": true, "tls_ca_file": p.ca, "tls_cert_file": p.clientCert, "tls_key_file": p.client, "bearer_token": token}

	inst := open(t, config(t, s.Addr, tlsCfg))
	res := must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo"), "request": map[string]any{"text": "over mTLS"}})
	if string(res.Response) != `{"text":"over mTLS"}` {
		t.Fatalf("Echo answered %s", res.Response)
	}
	if err := inst.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}

	for name, change := range map[string]map[string]any{
		"no client certificate": {"tls_cert_file": "", "tls_key_file": ""},
		"another token":         {"bearer_token": "not-the-t0ken"},
	} {
		t.Run(name, func(t *testing.T) {
			c := map[string]any{}
			for k, v := range tlsCfg {
				c[k] = v
			}
			for k, v := range change {
				c[k] = v
			}
			d := grpcclient.New()
			r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: grpcclient.TypeName, Name: "demo", Config: config(t, s.Addr, c)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(t.Context())
			inst, err := r.Open(t.Context())
			if err == nil {
				_ = inst.Close(t.Context())
				t.Fatal("the instance opened")
			}
			if k := sdk.KindOf(err); k != sdk.KindUnavailable && k != sdk.KindUnauthenticated {
				t.Fatalf("Open: %v (kind %s), want unavailable or unauthenticated", err, k)
			}
			t.Logf("%s: %v", name, err)
		})
	}
}
