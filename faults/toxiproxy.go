package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultToxiproxy is the address of toxiproxy's API when
// $NEBULA_TEST_TOXIPROXY is not set; scripts/testenv starts it there.
const DefaultToxiproxy = "127.0.0.1:8474"

// Directions of a toxic, for AddToxic: Downstream is what the server sends
// to the client, Upstream what the client sends to the server.
const (
	Downstream = "downstream"
	Upstream   = "upstream"
)

// Proxies is a client of a toxiproxy server's HTTP API.
type Proxies struct {
	base   string // http://host:port
	client *http.Client
}

// Toxiproxy connects to the toxiproxy server at $NEBULA_TEST_TOXIPROXY
// (default DefaultToxiproxy) and fails the test, with a hint to run
// scripts/testenv up, if it does not answer.
func Toxiproxy(t testing.TB) *Proxies {
	t.Helper()
	addr := os.Getenv("NEBULA_TEST_TOXIPROXY")
	if addr == "" {
		addr = DefaultToxiproxy
	}
	return ToxiproxyAt(t, addr)
}

// ToxiproxyAt connects to the toxiproxy server whose API listens on addr
// (host:port), for example one deployed beside a staging environment, and
// fails the test if it does not answer.
func ToxiproxyAt(t testing.TB, addr string) *Proxies {
	t.Helper()
	p := &Proxies{
		base: "http://" + addr,
		client: &http.Client{
			Timeout: 30 * time.Second,
			// No idle connections (and their goroutines) outlive a call,
			// so tests that check for leaked goroutines stay clean.
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	var version string
	if err := p.call(http.MethodGet, "/version", nil, http.StatusOK, &version); err != nil {
		t.Fatalf("toxiproxy does not answer on %s: %v\n"+
			"Start toxiproxy-server and set NEBULA_TEST_TOXIPROXY to its API address "+
			"(in the nebula-resource repository: `scripts/testenv up` and `eval \"$(scripts/testenv env)\"`).", addr, err)
	}
	return p
}

// proxySeq makes proxy names unique within the test process; the pid makes
// them unique between processes sharing one toxiproxy.
var proxySeq atomic.Int64

// Proxy creates a proxy in front of upstream (host:port) that listens on a
// port of toxiproxy's choosing on 127.0.0.1, and deletes it, closing its
// connections, when the test ends. The proxy starts enabled, with no toxics.
func (p *Proxies) Proxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	name := fmt.Sprintf("nebula_%s_%d_%d", safeName(t.Name()), os.Getpid(), proxySeq.Add(1))
	req := apiProxy{Name: name, Listen: "127.0.0.1:0", Upstream: upstream, Enabled: true}
	var got apiProxy
	if err := p.call(http.MethodPost, "/proxies", req, http.StatusCreated, &got); err != nil {
		t.Fatalf("toxiproxy: create proxy %s to %s: %v", name, upstream, err)
	}
	host, port, err := net.SplitHostPort(got.Listen)
	if err != nil {
		t.Fatalf("toxiproxy: proxy %s listens on %q: %v", name, got.Listen, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 {
		t.Fatalf("toxiproxy: proxy %s listens on %q: no port", name, got.Listen)
	}
	px := &Proxy{api: p, name: name, host: host, port: n}
	t.Cleanup(func() {
		err := p.call(http.MethodDelete, px.path(), nil, http.StatusNoContent, nil)
		if err != nil && !isNotFound(err) {
			t.Errorf("toxiproxy: delete proxy %s: %v", name, err)
		}
	})
	return px
}

// Proxy is one toxiproxy proxy: connections to Addr are passed on to the
// upstream server through the proxy's toxics.
type Proxy struct {
	api  *Proxies
	name string
	host string
	port int
	seq  atomic.Int64 // toxic names
}

// Toxic is a toxic added to a Proxy; pass it to Proxy.Remove.
type Toxic struct {
	Name   string // unique within its proxy
	Type   string // latency, reset_peer, timeout, ...
	Stream string // Downstream or Upstream
}

// Name is the proxy's name in toxiproxy (unique, derived from the test's).
func (x *Proxy) Name() string { return x.name }

// Addr is the host:port that clients connect to instead of the upstream.
func (x *Proxy) Addr() string { return net.JoinHostPort(x.host, strconv.Itoa(x.port)) }

// Host is the host of Addr (127.0.0.1).
func (x *Proxy) Host() string { return x.host }

// Port is the port of Addr. It stays the same across Disable and Enable.
func (x *Proxy) Port() int { return x.port }

// AddLatency delays everything the server sends by latency, give or take
// up to jitter (downstream), on open connections and new ones alike.
func (x *Proxy) AddLatency(t testing.TB, latency, jitter time.Duration) Toxic {
	t.Helper()
	return x.AddToxic(t, "latency", Downstream, map[string]any{
		"latency": latency.Milliseconds(),
		"jitter":  jitter.Milliseconds(),
	})
}

// AddResetPeer makes a connection fail with a TCP reset: the first data the
// server sends on it (downstream) is dropped and, after the given delay,
// the connection is closed abruptly. On connections opened while the toxic
// is in place toxiproxy closes with SO_LINGER 0, so the client sees
// "connection reset by peer"; connections already open when it is added
// see an ordinary close (EOF).
func (x *Proxy) AddResetPeer(t testing.TB, after time.Duration) Toxic {
	t.Helper()
	return x.AddToxic(t, "reset_peer", Downstream, map[string]any{
		"timeout": after.Milliseconds(),
	})
}

// AddTimeout makes the server go silent: everything it sends (downstream)
// is dropped, and a connection is closed once d has passed without the
// server sending anything (each dropped reply starts the wait anew). With
// d == 0 connections are never closed: clients hang until their own
// deadline.
func (x *Proxy) AddTimeout(t testing.TB, d time.Duration) Toxic {
	t.Helper()
	return x.AddToxic(t, "timeout", Downstream, map[string]any{
		"timeout": d.Milliseconds(),
	})
}

// AddToxic adds a toxic of any type toxiproxy knows (bandwidth, slicer,
// limit_data, slow_close, ...) in the given direction (Downstream or
// Upstream) with the given attributes, which toxiproxy documents per type.
// It applies to all of the proxy's connections, open or new.
func (x *Proxy) AddToxic(t testing.TB, typ, stream string, attributes map[string]any) Toxic {
	t.Helper()
	req := apiToxic{
		Name:       fmt.Sprintf("%s_%s_%d", typ, stream, x.seq.Add(1)),
		Type:       typ,
		Stream:     stream,
		Toxicity:   1,
		Attributes: attributes,
	}
	var got apiToxic
	if err := x.api.call(http.MethodPost, x.path()+"/toxics", req, http.StatusOK, &got); err != nil {
		t.Fatalf("toxiproxy: add %s toxic (%s) to %s: %v", typ, stream, x.name, err)
	}
	return Toxic{Name: got.Name, Type: got.Type, Stream: got.Stream}
}

// Remove removes a toxic from the proxy, for open connections and new ones.
func (x *Proxy) Remove(t testing.TB, toxic Toxic) {
	t.Helper()
	if err := x.api.call(http.MethodDelete, x.path()+"/toxics/"+toxic.Name, nil, http.StatusNoContent, nil); err != nil {
		t.Fatalf("toxiproxy: remove toxic %s from %s: %v", toxic.Name, x.name, err)
	}
}

// Toxics lists the proxy's toxics.
func (x *Proxy) Toxics(t testing.TB) []Toxic {
	t.Helper()
	var got []apiToxic
	if err := x.api.call(http.MethodGet, x.path()+"/toxics", nil, http.StatusOK, &got); err != nil {
		t.Fatalf("toxiproxy: list toxics of %s: %v", x.name, err)
	}
	out := make([]Toxic, 0, len(got))
	for _, g := range got {
		out = append(out, Toxic{Name: g.Name, Type: g.Type, Stream: g.Stream})
	}
	return out
}

// RemoveAll removes all of the proxy's toxics.
func (x *Proxy) RemoveAll(t testing.TB) {
	t.Helper()
	for _, toxic := range x.Toxics(t) {
		x.Remove(t, toxic)
	}
}

// Disable takes the "server" down: toxiproxy closes the proxy's open
// connections and stops listening, so new connections are refused.
func (x *Proxy) Disable(t testing.TB) {
	t.Helper()
	x.setEnabled(t, false)
}

// Enable brings the proxy back on the same address after Disable.
func (x *Proxy) Enable(t testing.TB) {
	t.Helper()
	x.setEnabled(t, true)
}

func (x *Proxy) setEnabled(t testing.TB, on bool) {
	t.Helper()
	var got apiProxy
	err := x.api.call(http.MethodPost, x.path(), map[string]bool{"enabled": on}, http.StatusOK, &got)
	if err == nil && got.Enabled != on {
		err = fmt.Errorf("proxy says enabled=%v", got.Enabled)
	}
	if err != nil {
		t.Fatalf("toxiproxy: set %s enabled=%v: %v", x.name, on, err)
	}
}

func (x *Proxy) path() string { return "/proxies/" + x.name }

// apiProxy and apiToxic are the JSON of toxiproxy's API.
type apiProxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
}

type apiToxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// apiError is a reply other than the expected status.
type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string {
	// toxiproxy answers {"error":"...","status":N}.
	var msg struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(e.body), &msg) == nil && msg.Error != "" {
		return fmt.Sprintf("%d %s", e.status, msg.Error)
	}
	return fmt.Sprintf("%d %s", e.status, strings.TrimSpace(e.body))
}

func isNotFound(err error) bool {
	e, ok := err.(*apiError)
	return ok && e.status == http.StatusNotFound
}

// call sends in (JSON, if not nil), expects status and decodes the reply
// into out: JSON, or the plain text into a *string.
func (p *Proxies) call(method, path string, in any, status int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// toxiproxy refuses user agents that look like browsers.
	req.Header.Set("User-Agent", "nebula-faults")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != status {
		return &apiError{status: resp.StatusCode, body: string(data)}
	}
	switch out := out.(type) {
	case nil:
		return nil
	case *string:
		*out = string(data)
		return nil
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("reply %q: %w", data, err)
		}
		return nil
	}
}

// safeName turns a test name into something fit for a URL path segment.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 60 {
			break
		}
	}
	return b.String()
}
