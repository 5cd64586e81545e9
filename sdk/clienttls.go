package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// ClientTLS is the TLS of a driver's connections to its backend, as its
// configuration gives it, with the attributes named tls,
// tls_server_name, tls_ca_file, tls_cert_file, tls_key_file and
// tls_insecure_skip_verify.
type ClientTLS struct {
	Enabled            bool
	ServerName         string
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool
}

// Unused returns, for a connection without TLS, an attribute error for
// each TLS setting that is set all the same: why says why there is no TLS
// ("tls is false", "the url is ws://"), fix how to have it.
func (c ClientTLS) Unused(why, fix string) []error {
	var errs []error
	for _, a := range []struct {
		name string
		set  bool
	}{
		{"tls_server_name", c.ServerName != ""}, {"tls_ca_file", c.CAFile != ""},
		{"tls_cert_file", c.CertFile != ""}, {"tls_key_file", c.KeyFile != ""},
		{"tls_insecure_skip_verify", c.InsecureSkipVerify},
	} {
		if a.set {
			errs = append(errs, AttributeError(a.name, "is set but "+why, fix+", or remove "+a.name+"."))
		}
	}
	return errs
}

// Config builds the TLS configuration, or nil without TLS, reading the CA,
// certificate and key files. Its errors are attribute errors
// ([AttributeError]) naming the attribute that is wrong: a file that
// cannot be read or holds no certificate, a certificate without its key,
// a TLS setting given with tls false.
func (c ClientTLS) Config() (*tls.Config, []error) {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, AttributeError(attr, summary, detail))
	}
	if !c.Enabled {
		return nil, c.Unused("tls is false", "Set tls = true to connect with TLS")
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the user's explicit choice, documented as testing only
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		switch {
		case err != nil:
			add("tls_ca_file", "cannot be read", err.Error())
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				add("tls_ca_file", "holds no PEM certificate", "The file must hold one or more CA certificates in PEM form (-----BEGIN CERTIFICATE-----).")
			}
			cfg.RootCAs = pool
		}
	}
	switch {
	case (c.CertFile == "") != (c.KeyFile == ""):
		add("tls_cert_file", "tls_cert_file and tls_key_file go together", "Set both, for a client certificate, or neither.")
	case c.CertFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			add("tls_cert_file", "cannot load the client certificate and key", err.Error())
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg, errs
}
