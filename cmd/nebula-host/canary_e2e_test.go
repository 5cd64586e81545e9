package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nebula-resource/nebula-resource/internal/otlptest"
)

// The canaries: each API client's secrets, with a tail that a partial
// leak (a prefix cut off, a quoted fragment) still shows.
var apiCanaries = map[string]string{
	"CANARY_BEARER":        "cnry-bearer-7Hq2Lx",
	"CANARY_BASIC":         "cnry-basic-4Rt9Wm",
	"CANARY_CLIENT_SECRET": "cnry-client-8Vb3Kz",
	"CANARY_GRPC":          "cnry-grpc-2Pd6Nc",
	"CANARY_WS":            "cnry-ws-5Jf1Qs",
	"CANARY_GRAPHQL":       "cnry-graphql-9Xe4Gt",
}

// echoingServers are servers that refuse every call and echo the
// credentials they were sent in their refusal, as careless servers do:
// an HTTP API (401 with the Authorization header in its body), an OAuth2
// token endpoint (the client secret in its error), a WebSocket endpoint
// (401 at the handshake), a GraphQL endpoint (the token in a GraphQL
// error) and a gRPC server (the authorization metadata in its status).
func echoingServers(t *testing.T) (httpURL, grpcAddr string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied: authorization="+r.Header.Get("Authorization"), http.StatusUnauthorized)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied: authorization="+r.Header.Get("Authorization"), http.StatusUnauthorized)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client",
			"error_description": fmt.Sprintf("secret %q and authorization %q are not valid", r.PostForm.Get("client_secret"), r.Header.Get("Authorization"))})
	})
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		msg, _ := json.Marshal(fmt.Sprintf("token %q is not valid", r.Header.Get("Authorization")))
		fmt.Fprintf(w, `{"data":null,"errors":[{"message":%s,"extensions":{"code":"UNAUTHENTICATED"}}]}`, msg)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		return status.Errorf(codes.Unauthenticated, "token %q is not valid", md.Get("authorization"))
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return srv.URL, lis.Addr().String()
}

// TestNoAPIClientSecretLeaks is the canary test of the four API clients:
// each resource's secrets come from the environment, every server echoes
// them back in its refusals, and after calls of every kind (plain and
// streamed, through nebula-host call), health checks, a resource that
// fails to start and the host's shutdown, no canary appears in the
// host's log (at debug, with the plugins' logs in it), in the calls'
// errors, in health and the admin API's listings, in the
// metrics, or in any span the host and the plugins exported.
func TestNoAPIClientSecretLeaks(t *testing.T) {
	for k, v := range apiCanaries {
		t.Setenv(k, v)
	}
	httpURL, grpcAddr := echoingServers(t)
	col := otlptest.Start(t)
	addr := freeAddress(t)
	wsURL := "ws" + strings.TrimPrefix(httpURL, "http") + "/ws"
	path := writeFile(t, t.TempDir(), "main.hcl", fmt.Sprintf(`admin {
  address = %[1]q
}

telemetry {
  tracing {
    endpoint = %[2]q
    insecure = true
  }
}

resource "http" "bearer" {
  base_url     = %[3]q
  bearer_token = env("CANARY_BEARER")
}

resource "http" "basic" {
  base_url       = %[3]q
  basic_username = "ada"
  basic_password = env("CANARY_BASIC")
}

resource "http" "oauth" {
  base_url             = %[3]q
  oauth2_token_url     = "%[3]s/token"
  oauth2_client_id     = "nebula"
  oauth2_client_secret = env("CANARY_CLIENT_SECRET")
}

resource "grpc" "svc" {
  target                = %[4]q
  bearer_token          = env("CANARY_GRPC")
  allow_plaintext_token = true
  health_check          = false
}

resource "websocket" "feed" {
  url          = %[5]q
  bearer_token = env("CANARY_WS")
}

resource "graphql" "api" {
  base_url     = "%[3]s/graphql"
  bearer_token = env("CANARY_GRAPHQL")
}
`, addr, col.Addr(), httpURL, grpcAddr, wsURL))
	h := startHostWith(t, path, addr, "/livez", "-partial-start", "-log-level", "debug")
	env := []string{"NEBULA_ADDR=" + addr}

	var said strings.Builder
	out := t.TempDir() + "/out"
	for _, args := range [][]string{
		{"call", "http.bearer", "fetch", `{"path":"/echo"}`},
		{"call", "-out", out, "http.bearer", "request", `{"path":"/echo"}`},
		{"call", "http.basic", "fetch", `{"path":"/echo"}`},
		{"call", "http.oauth", "fetch", `{"path":"/echo"}`},
		{"call", "-out", out, "http.oauth", "request", `{"path":"/echo"}`},
		{"call", "grpc.svc", "invoke", `{"method":"canary.Echo/Call","request":{}}`},
		{"call", "websocket.feed", "send", `{"text":"hello"}`},
		{"call", "graphql.api", "query", `{"query":"{ hello }"}`},
		{"call", "-out", out, "graphql.api", "subscribe", `{"query":"subscription { ticks }"}`},
	} {
		r := nebula(t, env, args...)
		if r.code == 0 {
			t.Errorf("%s succeeded against a server that refuses everything:\n%s", strings.Join(args, " "), r)
		}
		said.WriteString(r.stdout + r.stderr)
	}
	// Let the background health checks run into the refusals too.
	time.Sleep(2 * time.Second)
	for _, args := range [][]string{{"health"}, {"health", "-json"}} {
		r := nebula(t, env, args...)
		said.WriteString(r.stdout + r.stderr)
	}
	for _, p := range []string{"/metrics", "/v1/resources", "/v1/health", "/v1/resources/http.oauth", "/v1/resources/websocket.feed"} {
		_, body, err := h.get(t, p)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		said.WriteString(body)
	}
	if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	h.waitExit(t, 20*time.Second)

	var spans strings.Builder
	for _, s := range col.Spans() {
		spans.WriteString(s.Name + " " + s.Text + "\n")
	}
	if col.Spans() == nil {
		t.Error("the collector received no span: the canary would not see a leak into one")
	}
	log := h.output(t)
	if !strings.Contains(log, "401") && !strings.Contains(log, "permission_denied") {
		t.Errorf("the host's log does not show the refusals, so the canary proves nothing:\n%s", log)
	}
	for name, where := range map[string]string{"the commands' output": said.String(), "the host's log": log, "the spans": spans.String()} {
		for _, secret := range apiCanaries {
			tail := secret[strings.LastIndexByte(secret, '-')+1:]
			if strings.Contains(where, tail) {
				t.Errorf("%s hold the secret %q (or its tail %q):\n%s", name, secret, tail, excerptAround(where, tail))
			}
		}
	}
}

// excerptAround returns the lines of s that hold sub.
func excerptAround(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
