package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/nebula-resource/nebula-resource/config"
)

// Authentication and authorization.
//
// With no identity in Config.Auth the server trusts every caller the gate
// lets through, as it always has (and so listens on loopback only). With
// identities, the gate (serveHTTP, then guard) wants each request to prove
// one:
//
//  1. A bearer token, "Authorization: Bearer TOKEN". Its SHA-256 is
//     compared, in constant time, with the hash of every identity: its
//     token_sha256, or the hash of the current value of the credential
//     attribute its token names (Config.Lookup), computed once per value.
//     A request that sends a token must send a good one.
//  2. Otherwise, a client certificate that verified against the tls
//     block's client_ca_file, whose subject common name or one of whose DNS
//     names is in an identity's client_cert_names.
//
// Then the route's permission (Route.Permission) must be one the identity
// is allowed; PermissionAdmin wants an identity without a tenant too; and
// an identity that acts for a tenant may name only resources its tenant
// reaches (host.Host.Reaches), and is told the same whether another
// resource exists or not. GET /livez and GET /readyz need no identity: an
// orchestrator's probes carry none; /readyz lists resources only to an
// identity allowed read.

// Permission is what an identity must be allowed to use a route: one of
// the values of the identity block's allow, or none.
type Permission string

// The permissions of the routes.
const (
	// PermissionNone: no identity needed (the probes).
	PermissionNone Permission = ""
	// PermissionRead: listings, health, the API's description.
	PermissionRead Permission = config.PermissionRead
	// PermissionInvoke: operations, streaming ones included.
	PermissionInvoke Permission = config.PermissionInvoke
	// PermissionAdmin: plugins, metrics, reload; only an identity
	// without a tenant.
	PermissionAdmin Permission = config.PermissionAdmin
)

// ErrRestartNeeded wraps SetAuth's error for settings that a running
// server cannot change: its tls block.
var ErrRestartNeeded = errors.New("admin: the change needs a restart")

// identity is a config.Identity ready to authenticate requests.
type identity struct {
	name, tenant string
	allow        map[Permission]bool
	// sum is the SHA-256 of the fixed token (token_sha256); hasSum is
	// false without one.
	sum    [sha256.Size]byte
	hasSum bool
	// ref names the credential attribute that holds the token; nil
	// without one.
	ref *config.CredentialRef
	// cached is the last value Lookup returned for ref, with its hash.
	cached atomic.Pointer[tokenHash]
	// lookupFailed is set while Lookup fails for ref, so that the
	// failure is logged once, not on every request.
	lookupFailed atomic.Bool
}

// tokenHash is a token and its SHA-256.
type tokenHash struct {
	value string
	sum   [sha256.Size]byte
}

// authState is the server's authentication settings, swapped whole by
// SetAuth.
type authState struct {
	// cfg is what the state was made from, for SetAuth's comparisons.
	cfg        config.AdminAuth
	identities []*identity
	// byCert maps a client certificate name to its identity.
	byCert map[string]*identity
	// tls is the server's TLS configuration; nil without a tls block, or
	// until Start loads it.
	tls *tls.Config
	// audit receives the audit log; nil keeps none.
	audit *auditSink
}

// on reports whether requests must authenticate.
func (st *authState) on() bool { return len(st.identities) > 0 }

// newAuthState compiles a's identities. The TLS files and the audit log
// are the callers' to load.
func newAuthState(a config.AdminAuth) *authState {
	st := &authState{cfg: a, byCert: map[string]*identity{}}
	for _, ci := range a.Identities {
		id := &identity{name: ci.Name, tenant: ci.Tenant, allow: map[Permission]bool{}, ref: ci.Token}
		for _, p := range ci.Allow {
			id.allow[Permission(p)] = true
		}
		// Load checked the hash: 64 hexadecimal characters.
		if b, err := hex.DecodeString(ci.TokenSHA256); err == nil && len(b) == sha256.Size {
			id.sum, id.hasSum = [sha256.Size]byte(b), true
		}
		for _, n := range ci.ClientCertNames {
			if _, dup := st.byCert[n]; !dup {
				st.byCert[n] = id
			}
		}
		st.identities = append(st.identities, id)
	}
	return st
}

// checkAuth returns what keeps a from being served: an identity whose
// token is a credential without a Lookup to read it, or a non-loopback
// address without identities.
func (s *Server) checkAuth(a config.AdminAuth) error {
	for _, id := range a.Identities {
		if id.Token != nil && s.cfg.Lookup == nil {
			return fmt.Errorf("admin: identity %q takes its token from credential.%s.%s, but the admin server has no Config.Lookup to read credentials",
				id.Name, id.Token.Credential, id.Token.Attribute)
		}
	}
	return checkAddress(s.cfg.Address, s.cfg.AllowRemote, len(a.Identities) > 0)
}

// loadTLS returns the server's TLS configuration for t: its certificate,
// and the authorities client certificates must verify against.
func loadTLS(t *config.AdminTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("admin: tls: loading cert_file %s and key_file %s: %w", t.CertFile, t.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// The handlers rely on HTTP/1.1: full-duplex streams, trailers
		// and per-request deadlines.
		NextProtos: []string{"http/1.1"},
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("admin: tls: client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("admin: tls: client_ca_file %s holds no PEM certificate", t.ClientCAFile)
		}
		// A client without a certificate may still send a token; one
		// with a certificate must have one that verifies.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// sameTLS reports whether a and b name the same files.
func sameTLS(a, b *config.AdminTLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.CertFile == b.CertFile && a.KeyFile == b.KeyFile && a.ClientCAFile == b.ClientCAFile
}

// SetAuth replaces the identities and the audit settings with a's, for a
// configuration reload: requests that arrive after it returns are
// authenticated, and audited, by a's rules; those in flight keep the
// rules they began with. The tls block cannot change while the server
// runs: SetAuth refuses a tls block added, removed or naming other files
// with an error wrapping ErrRestartNeeded; the same files are read again,
// so that a certificate renewed in place is served from now on. Neither
// can a non-loopback address lose its last identity. On any error nothing
// changes.
func (s *Server) SetAuth(a config.AdminAuth) error {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	old := s.auth.Load()
	if !sameTLS(old.cfg.TLS, a.TLS) {
		return fmt.Errorf("%w: the admin block's tls block changed; the admin API keeps serving with the old one until nebula-host restarts", ErrRestartNeeded)
	}
	if err := s.checkAuth(a); err != nil {
		return err
	}
	st := newAuthState(a)
	if a.TLS != nil && old.tls != nil {
		t, err := loadTLS(a.TLS)
		if err != nil {
			return err
		}
		st.tls = t
	}
	sink, err := s.auditSinkFor(a.Audit, old.audit)
	if err != nil {
		return err
	}
	st.audit = sink
	s.auth.Store(st)
	if old.audit != nil && old.audit != sink {
		old.audit.close()
	}
	return nil
}

// caller is who made a request, as the gate found: an identity, or none
// when the request proved none (on a route that needs none), and then
// why. Requests carry one only when the server has identities.
type caller struct {
	id  *identity
	why string
}

type callerKey struct{}

// callerOf returns the request's caller, and whether the server
// authenticates at all (false: every caller is trusted).
func callerOf(r *http.Request) (c caller, authOn bool) {
	c, authOn = r.Context().Value(callerKey{}).(caller)
	return c, authOn
}

// tenantOf returns the tenant the request's identity acts for; "" for an
// operator, or when the server does not authenticate.
func tenantOf(r *http.Request) string {
	if c, _ := callerOf(r); c.id != nil {
		return c.id.tenant
	}
	return ""
}

// mayRead reports whether the request may see resources: always when the
// server does not authenticate, else when its identity is allowed read.
func mayRead(r *http.Request) bool {
	c, on := callerOf(r)
	return !on || (c.id != nil && c.id.allow[PermissionRead])
}

// authenticate returns the identity r proves, or nil and why it proves
// none. A token, when sent, decides; a client certificate counts only
// without one.
func (s *Server) authenticate(st *authState, r *http.Request) (*identity, string) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return nil, "the Authorization header is not \"Bearer TOKEN\""
		}
		sum := sha256.Sum256([]byte(token))
		var found *identity
		// Every identity is compared, so that the time taken says
		// nothing of which matched, or how far.
		for _, id := range st.identities {
			want, ok := s.tokenSum(id)
			if ok && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 && found == nil {
				found = id
			}
		}
		if found == nil {
			return nil, "the bearer token names no identity"
		}
		return found, ""
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		leaf := r.TLS.VerifiedChains[0][0]
		for _, n := range append([]string{leaf.Subject.CommonName}, leaf.DNSNames...) {
			if id := st.byCert[n]; id != nil && n != "" {
				return id, ""
			}
		}
		return nil, "the client certificate names no identity"
	}
	return nil, "the admin API needs credentials: send \"Authorization: Bearer TOKEN\" with the token of an identity of the admin block, or a client certificate one names"
}

// tokenSum returns the SHA-256 of id's token, and false when it has none
// now: no token, or a credential that could not be read.
func (s *Server) tokenSum(id *identity) ([sha256.Size]byte, bool) {
	if id.hasSum {
		return id.sum, true
	}
	if id.ref == nil || s.cfg.Lookup == nil {
		return [sha256.Size]byte{}, false
	}
	v, err := s.cfg.Lookup(id.ref.Credential, id.ref.Attribute)
	if err != nil || v == "" {
		if !id.lookupFailed.Swap(true) {
			reason := "it is empty"
			if err != nil {
				reason = err.Error()
			}
			s.log.Warn("the token of an identity cannot be read: it authenticates no request until it can", "identity", id.name,
				"credential", id.ref.Credential, "attribute", id.ref.Attribute, "reason", reason)
		}
		return [sha256.Size]byte{}, false
	}
	if id.lookupFailed.Swap(false) {
		s.log.Info("the token of an identity can be read again", "identity", id.name)
	}
	if c := id.cached.Load(); c != nil && c.value == v {
		return c.sum, true
	}
	c := &tokenHash{value: v, sum: sha256.Sum256([]byte(v))}
	id.cached.Store(c)
	return c.sum, true
}

// permissionError returns why id may not use rt, or nil.
func permissionError(id *identity, rt Route) error {
	switch {
	case rt.Permission == PermissionNone:
		return nil
	case rt.Permission == PermissionAdmin && id.tenant != "":
		return permissionDenied("identity %q acts for tenant %q: %s needs the %q permission of an identity without a tenant", id.name, id.tenant, rt.Pattern, PermissionAdmin)
	case !id.allow[rt.Permission]:
		return permissionDenied("identity %q may not use %s: it needs the %q permission, which the identity's allow does not list", id.name, rt.Pattern, rt.Permission)
	}
	return nil
}

// withCaller returns r carrying c.
func withCaller(r *http.Request, c caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

// logAttrs are the attributes of a caller in the logs.
func (c caller) logAttrs() []any {
	if c.id == nil {
		return nil
	}
	return []any{slog.String("identity", c.id.name), slog.String("tenant", c.id.tenant)}
}

// actingTenant returns the tenant a call acts for: the one its identity
// acts for, or, for an operator or a server without identities, the one
// the request names. A request that names another tenant than its
// identity's is refused.
func actingTenant(r *http.Request, named string) (string, error) {
	c, _ := callerOf(r)
	if c.id == nil || c.id.tenant == "" {
		return named, nil
	}
	if named != "" && named != c.id.tenant {
		return "", permissionDenied("identity %q acts for tenant %q, and may not act for tenant %s", c.id.name, c.id.tenant, Quote(named))
	}
	return c.id.tenant, nil
}

// tenantRefusal is the refusal of a resource the tenant does not reach:
// the same words whether the resource exists or not, and the host's own
// (host.Host.Invoke's).
func tenantRefusal(tenant, resource string) error {
	return permissionDenied("tenant %q may not use %q", tenant, resource)
}
