package grpcclient_test

import (
	"encoding/json"
	"testing"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// Every connection, server and stream must be stopped when the test is.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demoMethod is the full name of a method of the demo service.
func demoMethod(m string) string { return grpctest.ServiceName + "/" + m }

// startServer starts a demo server, stopped when the test ends.
func startServer(t testing.TB, opts grpctest.Options) *grpctest.Server {
	t.Helper()
	s, err := grpctest.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// config is a configuration of a grpc resource with target addr, and
// more attributes.
func config(t testing.TB, addr string, more map[string]any) json.RawMessage {
	t.Helper()
	c := map[string]any{"target": addr}
	for k, v := range more {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// open configures a resource on cfg and opens an instance, over the
// plugin protocol in process.
func open(t testing.TB, cfg json.RawMessage) *sdktest.Instance {
	t.Helper()
	return sdktest.Open(t, sdktest.Connect(t, grpcclient.New()), sdk.ConfigureRequest{Type: grpcclient.TypeName, Name: "demo", Config: cfg})
}

// invoke performs op with args and decodes its result into R.
func invoke[R any](t testing.TB, inst *sdktest.Instance, op string, args any) (R, error) {
	t.Helper()
	var r R
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		return r, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s result %s: %v", op, b, err)
	}
	return r, nil
}

// must is invoke that fails the test on an error.
func must[R any](t testing.TB, inst *sdktest.Instance, op string, args any) R {
	t.Helper()
	r, err := invoke[R](t, inst, op, args)
	if err != nil {
		t.Fatalf("%s %v: %v", op, args, err)
	}
	return r
}
