package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
)

// grpcSetup starts a demo gRPC server, whose service the plugin can only
// learn through reflection, and writes a configuration of one grpc
// resource, grpc.demo, on it, checked every 100ms and quarantined by one
// failed check.
func grpcSetup(t *testing.T) (srv *grpctest.Server, path, addr string) {
	t.Helper()
	srv, err := grpctest.Listen(grpctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	addr = freeAddress(t)
	path = writeFile(t, t.TempDir(), "main.hcl", fmt.Sprintf(`admin {
  address = %q
}

resource "grpc" "demo" {
  target   = %q
  metadata = { "x-tenant" = "acme" }

  health {
    interval        = "100ms"
    timeout         = "2s"
    unhealthy_after = 1
    healthy_after   = 1
  }
}
`, addr, srv.Addr))
	return srv, path, addr
}

// grpcEcho is a request of every kind of field the demo's messages have,
// and the exact JSON the server answers it with.
const (
	grpcEcho      = `{"text":"héllo","count":3,"tags":["a","b"],"big":"9007199254740993","inner":{"name":"n"}}`
	grpcEchoReply = `{"text":"héllo/acme","count":3,"tags":["a","b"],"big":"9007199254740993","inner":{"name":"n"}}`
)

// A method the plugin knows only through the server's reflection is
// called with JSON and answers the exact JSON expected: through the Go
// API of a host running the built plugin, and through nebula-host call.
func TestGRPCMethodFoundByReflectionAnswersJSONThroughTheHost(t *testing.T) {
	_, path, addr := grpcSetup(t)
	args := `{"method":"nebula.demo.v1.Demo/Echo","request":` + grpcEcho + `}`

	t.Run("Go API", func(t *testing.T) {
		h := goHost(t, path)
		raw, err := h.Invoke(t.Context(), "grpc.demo", "invoke", json.RawMessage(args))
		if err != nil {
			t.Fatal(err)
		}
		var res grpcclient.InvokeResult
		if err := json.Unmarshal(raw, &res); err != nil || string(res.Response) != grpcEchoReply {
			t.Fatalf("invoke returned %s (%v), want the response %s", raw, err, grpcEchoReply)
		}
	})

	t.Run("nebula-host call", func(t *testing.T) {
		startHost(t, path, addr)
		out := runCLI(t, nil, nil, "call", "-addr", addr, "grpc.demo", "invoke", args)
		var res grpcclient.InvokeResult
		if err := json.Unmarshal(out, &res); err != nil || compact(t, res.Response) != grpcEchoReply {
			t.Fatalf("nebula-host call printed %s (%v), want the response %s", out, err, grpcEchoReply)
		}
		// A caller's mistake is refused as invalid_argument, exit 2.
		r := nebula(t, nil, "call", "-addr", addr, "grpc.demo", "invoke", `{"method":"nebula.demo.v1.Demo/Echo","request":{"txt":"x"}}`)
		mustExit(t, r, 2, "an unknown field")
		if !strings.Contains(r.stderr, "invalid_argument") || !strings.Contains(r.stderr, `unknown field "txt"`) {
			t.Errorf("an unknown field printed %q", r.stderr)
		}
	})
}

// grpcStreamed is how many messages the server-streaming test receives.
const grpcStreamed = 10_000

// checkSequence reads NDJSON Seq messages and fails unless they are
// exactly 1..n, in order.
func checkSequence(t *testing.T, r *bufio.Scanner, n int) {
	t.Helper()
	seq := 0
	for r.Scan() {
		seq++
		var m struct{ Seq, Text string }
		if err := json.Unmarshal(r.Bytes(), &m); err != nil || m.Seq != fmt.Sprint(seq) || m.Text != "t" {
			t.Fatalf("message %d is %s (%v)", seq, r.Bytes(), err)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if seq != n {
		t.Fatalf("%d messages, want %d", seq, n)
	}
}

// A server-streaming call delivers 10,000 messages, each in its place,
// through the host: Lease.OpenReader, and nebula-host call -stream.
func TestGRPCServerStreamDeliversTenThousandMessagesInOrder(t *testing.T) {
	_, path, addr := grpcSetup(t)
	args := map[string]any{"method": "nebula.demo.v1.Demo/Count", "request": map[string]any{"count": grpcStreamed, "text": "t"}}

	t.Run("Lease.OpenReader", func(t *testing.T) {
		h := goHost(t, path)
		began := time.Now()
		err := host.Use(t.Context(), h, "grpc.demo", func(l *host.Lease) error {
			r, err := l.OpenReader(t.Context(), "server_stream", args)
			if err != nil {
				return err
			}
			defer r.Close()
			sc := bufio.NewScanner(r)
			checkSequence(t, sc, grpcStreamed)
			var res grpcclient.StreamResult
			if err := json.Unmarshal(r.Result(), &res); err != nil || res.Messages != grpcStreamed {
				t.Errorf("result %s (%v), want %d messages", r.Result(), err, grpcStreamed)
			}
			return r.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Lease.OpenReader: %d messages in order in %v", grpcStreamed, time.Since(began).Round(time.Millisecond))
	})

	t.Run("nebula-host call -stream", func(t *testing.T) {
		startHost(t, path, addr)
		raw, _ := json.Marshal(args)
		var out bytes.Buffer
		began := time.Now()
		stderr := runCLI(t, nil, &out, "call", "-addr", addr, "-stream", "grpc.demo", "server_stream", string(raw))
		checkSequence(t, bufio.NewScanner(&out), grpcStreamed)
		if !strings.Contains(string(stderr), fmt.Sprintf(`"messages":%d`, grpcStreamed)) {
			t.Errorf("the result printed is %s", stderr)
		}
		t.Logf("nebula-host call -stream: %d messages in order in %v", grpcStreamed, time.Since(began).Round(time.Millisecond))
	})
}

// The server's health service going NOT_SERVING quarantines the resource
// (its health checks fail as unavailable, new leases fail), and SERVING
// lifts the quarantine.
func TestGRPCNotServingQuarantinesTheResourceAndServingBringsItBack(t *testing.T) {
	srv, path, _ := grpcSetup(t)
	h := goHost(t, path)
	state := func() host.ResourceHealth {
		for _, r := range h.Health().Resources {
			if r.ID == "grpc.demo" {
				return r
			}
		}
		t.Fatal("no health of grpc.demo")
		return host.ResourceHealth{}
	}
	wait := func(what string, ok func(host.ResourceHealth) bool) time.Duration {
		t.Helper()
		began := time.Now()
		for !ok(state()) {
			if time.Since(began) > 20*time.Second {
				t.Fatalf("grpc.demo not %s after 20s: %+v", what, state())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(began)
	}
	wait("healthy", func(r host.ResourceHealth) bool { return r.State == host.HealthHealthy })

	srv.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	down := wait("quarantined", func(r host.ResourceHealth) bool { return r.Quarantined })
	r := state()
	if r.State != host.HealthUnhealthy || !strings.Contains(r.LastError, "NOT_SERVING") {
		t.Errorf("quarantined grpc.demo: state %s, last error %q; want unhealthy, NOT_SERVING", r.State, r.LastError)
	}
	if _, err := h.Invoke(t.Context(), "grpc.demo", "invoke", json.RawMessage(`{"method":"nebula.demo.v1.Demo/Echo"}`)); err == nil || !strings.Contains(err.Error(), "quarantined") {
		t.Errorf("a call on the quarantined resource: %v, want it refused", err)
	}

	srv.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	up := wait("healthy again", func(r host.ResourceHealth) bool { return r.State == host.HealthHealthy && !r.Quarantined })
	if _, err := h.Invoke(t.Context(), "grpc.demo", "invoke", json.RawMessage(`{"method":"nebula.demo.v1.Demo/Echo"}`)); err != nil {
		t.Fatalf("a call after the quarantine: %v", err)
	}
	t.Logf("NOT_SERVING → quarantined in %v; SERVING → healthy in %v (health interval 100ms)", down.Round(time.Millisecond), up.Round(time.Millisecond))
}
