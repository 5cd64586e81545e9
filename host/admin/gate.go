package admin

import (
	"cmp"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// serveHTTP is the gate in front of every route: the only way into the mux.
//
//  1. Host must be a loopback name (localhost, 127.0.0.1, [::1], any case,
//     with or without a port), the host of Config.Address, the IP address
//     the connection arrived on, or one of Config.AllowedHosts. A page that
//     rebinds its own name to this machine sends its own name.
//  2. A request with an Origin must come from this endpoint's own origin
//     (http://<Host>, or https://<Host> over TLS) or one of
//     Config.AllowedOrigins; one without an Origin must not say
//     Sec-Fetch-Site cross-site or same-site.
//  3. A method that sends a body (POST) must carry the content type of its
//     route: application/json for invoke and reload,
//     application/octet-stream for stream. A browser sends neither
//     without asking first (CORS preflight), which this server never
//     grants.
//  4. When the server has identities, the request must prove one (see
//     authenticate), unless its route needs none (the probes); then the
//     route's checks (guard) want the identity allowed the route's
//     permission, and a tenant's identity to name only resources its
//     tenant reaches.
//
// A refused request is answered with a JSON error whose code says which
// rule refused it (api.CodeHostNotAllowed, api.CodeCrossOrigin,
// api.CodeUnsupportedMediaType, api.CodeUnauthenticated,
// api.CodePermissionDenied), logged at warn level, and, for 401 and 403,
// written to the audit log; it reaches no handler, and so no driver. A
// request from one of Config.AllowedOrigins gets CORS answers
// (github.com/rs/cors): its preflight is answered, and so is it, with
// Access-Control-Allow-Origin.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, pattern := s.mux.Handler(r)
	if status, code, err := s.checkRequest(r, pattern); err != nil {
		s.refuse(w, r, pattern, start, status, code, err)
		return
	}
	if st := s.auth.Load(); st.on() {
		id, why := s.authenticate(st, r)
		// A request no route serves (the mux answers 404 or 405) needs an
		// identity too, so that nobody learns the routes without one; a
		// CORS preflight carries no credentials.
		if id == nil && pattern == "" && r.Method != http.MethodOptions {
			s.refuse(w, r, pattern, start, http.StatusUnauthorized, api.CodeUnauthenticated, sdk.Errorf(sdk.KindUnauthenticated, "%s", why))
			return
		}
		r = withCaller(r, caller{id: id, why: why})
	}
	rc := http.NewResponseController(w)
	if safeMethod(r.Method) {
		// Nothing to read; the answer must be taken within WriteTimeout.
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	} else if r.ContentLength != 0 {
		// A body must keep coming (the stream and invoke handlers keep
		// this deadline moving, or clear it at the body's end). Without a
		// body the server is already reading ahead to notice a closed
		// connection, which a deadline would end.
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	}
	s.next.ServeHTTP(w, r)
}

// checkRequest applies the gate's first rules, returning the status, code
// and error of a refusal, or a nil error. pattern is the route the request
// matches, "" for none.
func (s *Server) checkRequest(r *http.Request, pattern string) (int, string, error) {
	if err := s.checkHost(r); err != nil {
		return http.StatusMisdirectedRequest, api.CodeHostNotAllowed, err
	}
	if err := s.checkOrigin(r); err != nil {
		return http.StatusForbidden, api.CodeCrossOrigin, err
	}
	// No pattern: the mux answers 404 or 405 itself.
	if !safeMethod(r.Method) && pattern != "" {
		if err := checkContentType(r, s.contentTypes(pattern)); err != nil {
			return http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, err
		}
	}
	return 0, "", nil
}

// guard wraps a route's handler in the gate's checks of the caller, which
// need the route and its path values: the identity must be allowed the
// route's permission, and one that acts for a tenant may name only
// resources its tenant reaches. A route whose method acts (POST) is
// written to the audit log, whatever its outcome.
func (s *Server) guard(rt Route, h http.HandlerFunc) http.HandlerFunc {
	method, _, _ := strings.Cut(rt.Pattern, " ")
	audited := !safeMethod(method)
	named := strings.Contains(rt.Pattern, "{name}")
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if c, on := callerOf(r); on && rt.Permission != PermissionNone {
			if c.id == nil {
				s.refuse(w, r, rt.Pattern, start, http.StatusUnauthorized, api.CodeUnauthenticated, sdk.Errorf(sdk.KindUnauthenticated, "%s", c.why))
				return
			}
			if err := permissionError(c.id, rt); err != nil {
				s.refuse(w, r, rt.Pattern, start, http.StatusForbidden, api.CodePermissionDenied, err)
				return
			}
			if name := r.PathValue("name"); named && c.id.tenant != "" && !s.h.Reaches(c.id.tenant, name) {
				s.refuse(w, r, rt.Pattern, start, http.StatusForbidden, api.CodePermissionDenied, tenantRefusal(c.id.tenant, name))
				return
			}
		}
		if !audited {
			h(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w, tenant: tenantOf(r)}
		h(rec, r)
		s.auditRequest(r, rt.Pattern, start, cmp.Or(rec.status, http.StatusOK), rec.result(), rec.tenant, rec.operation)
	}
}

// refuse answers a request the gate refuses, logs it, and writes 401s and
// 403s to the audit log. route is the pattern it matched, "" for none.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, route string, start time.Time, status int, code string, err error) {
	c, _ := callerOf(r)
	s.log.Warn("request refused", append([]any{"code", code, "method", r.Method, "path", truncate(r.URL.Path, maxErrorName),
		"host", truncate(r.Host, maxErrorName), "origin", truncate(r.Header.Get("Origin"), maxErrorName),
		"sec_fetch_site", truncate(r.Header.Get("Sec-Fetch-Site"), maxErrorName),
		"content_type", truncate(r.Header.Get("Content-Type"), maxErrorName), "remote", r.RemoteAddr, "reason", err.Error()}, c.logAttrs()...)...)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	body := errorBody("", "", err)
	body.Error.Code = code
	// The body, if any, is not wanted: no read of it may wait, and the
	// connection ends after the answer.
	_ = rc.SetReadDeadline(time.Now())
	w.Header().Set("Connection", "close")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nebula"`)
	}
	writeJSON(w, status, body)
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		s.auditRequest(r, route, start, status, string(body.Error.Kind), tenantOf(r), r.PathValue("op"))
	}
}

// permissionDenied is a refusal of the caller's identity.
func permissionDenied(format string, args ...any) error {
	return sdk.Errorf(sdk.KindPermissionDenied, format, args...)
}

// contentTypes returns the content types of a registered pattern.
func (s *Server) contentTypes(pattern string) []string {
	for _, rt := range s.routes {
		if rt.Pattern == pattern {
			return rt.ContentTypes
		}
	}
	return nil
}

func (s *Server) checkHost(r *http.Request) error {
	if r.Host == "" {
		return sdk.Errorf(sdk.KindPermissionDenied, "the request has no Host header; send the address of this endpoint, such as %q", s.cfg.Address)
	}
	name, port := splitHost(r.Host)
	if config.IsLoopback(name) || s.allowedHosts[name] || (port != "" && s.allowedHosts[name+":"+port]) {
		return nil
	}
	if own, _ := splitHost(s.cfg.Address); own != "" && name == own {
		return nil
	}
	// An IP address of this machine that the caller dialled: a rebinding
	// page always sends a name, never an address.
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ip, _ := splitHost(local.String()); ip != "" && ip == name {
			return nil
		}
	}
	return sdk.Errorf(sdk.KindPermissionDenied,
		"Host %s is not a name of this admin endpoint (%s); use a loopback address, or add the name to allowed_hosts in the admin block", Quote(r.Host), s.cfg.Address)
}

func (s *Server) checkOrigin(r *http.Request) error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if s.allowedOrigins[strings.TrimSuffix(strings.ToLower(origin), "/")] || sameOrigin(origin, scheme, r.Host) {
			return nil
		}
		return sdk.Errorf(sdk.KindPermissionDenied,
			"cross-origin request from %s refused: the admin API serves only its own origin (%s://%s); add the origin to allowed_origins in the admin block to let its pages in", Quote(origin), scheme, truncate(r.Host, maxErrorName))
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "cross-site", "same-site":
		return sdk.Errorf(sdk.KindPermissionDenied,
			"request refused: the browser marks it Sec-Fetch-Site %s, and the admin API serves only its own origin", site)
	}
	return nil
}

// sameOrigin reports whether origin is scheme://host, ports defaulted.
func sameOrigin(origin, scheme, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	oname, oport := splitHost(u.Host)
	hname, hport := splitHost(host)
	return oname == hname && cmp.Or(oport, port) == cmp.Or(hport, port)
}

func checkContentType(r *http.Request, types []string) error {
	ct := r.Header.Get("Content-Type")
	want := strings.Join(types, " or ")
	if ct == "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "the request has no Content-Type; %s %s takes %s", r.Method, truncate(r.URL.Path, maxErrorName), want)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(types, mt) {
		return sdk.Errorf(sdk.KindInvalidArgument, "Content-Type %s is not accepted; %s %s takes %s", Quote(ct), r.Method, truncate(r.URL.Path, maxErrorName), want)
	}
	return nil
}

// safeMethod reports whether method sends no body to act on.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// splitHost returns a Host header's (or an address's) name, lower case and
// without brackets or a trailing dot, and its port, if any.
func splitHost(hostport string) (name, port string) {
	name = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		name, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		name = hostport[1 : len(hostport)-1]
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if ip := net.ParseIP(name); ip != nil {
		name = ip.String()
	}
	return name, port
}

// hostSet returns allowed_hosts as splitHost writes names: "name" or
// "name:port".
func hostSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, v := range list {
		name, port := splitHost(v)
		if port != "" {
			name += ":" + port
		}
		m[name] = true
	}
	return m
}

func lowerSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, v := range list {
		m[strings.TrimSuffix(strings.ToLower(v), "/")] = true
	}
	return m
}
