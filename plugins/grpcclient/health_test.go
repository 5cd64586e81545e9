package grpcclient_test

import (
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Check follows the health service: SERVING passes, NOT_SERVING and an
// unknown service fail as unavailable, and SERVING again passes.
func TestCheckFollowsTheHealthService(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	if err := inst.Check(t.Context()); err != nil {
		t.Fatalf("a SERVING server: %v", err)
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	err := inst.Check(t.Context())
	if sdk.KindOf(err) != sdk.KindUnavailable || err.Error() != "grpc health check: NOT_SERVING" {
		t.Fatalf("a NOT_SERVING server: %v (kind %s), want unavailable", err, sdk.KindOf(err))
	}
	if _, err := invoke[sdk.PingResult](t, inst, "ping", map[string]any{}); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("ping of a NOT_SERVING server: %v, want unavailable", err)
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if r := must[sdk.PingResult](t, inst, "ping", map[string]any{}); !r.OK {
		t.Fatal("ping of a SERVING server is not ok")
	}

	// A service of its own.
	s.Health.SetServingStatus(grpctest.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if err := open(t, config(t, s.Addr, map[string]any{"health_service": grpctest.ServiceName})).Check(t.Context()); err != nil {
		t.Fatalf("a SERVING service: %v", err)
	}
	err = open(t, config(t, s.Addr, map[string]any{"health_service": "nebula.demo.v1.Other"})).Check(t.Context())
	if sdk.KindOf(err) != sdk.KindUnavailable || sdk.KindOf(err) == "" {
		t.Fatalf("an unknown service: %v, want unavailable", err)
	}
	t.Logf("unknown service: %v", err)
}

// A server without the health service passes when the server as a whole
// is checked (the call reached it), and fails when a service is named;
// health_check false only checks the connection.
func TestAServerWithoutHealthService(t *testing.T) {
	s := startServer(t, grpctest.Options{NoHealth: true})
	if err := open(t, config(t, s.Addr, nil)).Check(t.Context()); err != nil {
		t.Fatalf("health_service \"\": %v", err)
	}
	err := open(t, config(t, s.Addr, map[string]any{"health_service": grpctest.ServiceName})).Check(t.Context())
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("a named service on a server without health: %v, want unavailable", err)
	}
	inst := open(t, config(t, s.Addr, map[string]any{"health_check": false}))
	if err := inst.Check(t.Context()); err != nil {
		t.Fatalf("health_check false: %v", err)
	}
	must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo")})
}

// An instance of a server that is not there fails to open, as
// unavailable.
func TestOpenFailsWithoutAServer(t *testing.T) {
	for _, hc := range []bool{true, false} {
		d := grpcclient.New()
		r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: grpcclient.TypeName, Name: "gone", Config: config(t, "127.0.0.1:1", map[string]any{"health_check": hc})})
		if err != nil {
			t.Fatal(err)
		}
		inst, err := r.Open(t.Context())
		if err == nil {
			_ = inst.Close(t.Context())
		}
		if sdk.KindOf(err) != sdk.KindUnavailable {
			t.Fatalf("health_check %v: Open: %v, want unavailable", hc, err)
		}
		_ = r.Close(t.Context())
	}
}
