package grpcclient_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// A caller's mistake is invalid_argument, never a backend failure, and
// its message names the argument at fault (and the field, or the
// operation to use instead).
func TestCallersMistakesAreInvalidArgumentNamingTheArgument(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	mistakes := []struct {
		sdktest.Mistake
		says []string
	}{
		{sdktest.Mistake{Name: "unknown method", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Nope"}`}, []string{"method", `"Nope"`, "Echo, Fail"}},
		{sdktest.Mistake{Name: "unknown service", Op: "invoke", Args: `{"method":"nebula.demo.v1.Nope/Echo"}`}, []string{"method", `"nebula.demo.v1.Nope"`}},
		{sdktest.Mistake{Name: "a message, not a service", Op: "invoke", Args: `{"method":"nebula.demo.v1.Seq/Echo"}`}, []string{"method", "not a service"}},
		{sdktest.Mistake{Name: "method without service", Op: "invoke", Args: `{"method":"Echo"}`}, []string{"method", `"Echo"`, "package.Service/Method"}},
		{sdktest.Mistake{Name: "method with two slashes", Op: "invoke", Args: `{"method":"a.B/C/D"}`}, []string{"method", "package.Service/Method"}},
		{sdktest.Mistake{Name: "empty method", Op: "invoke", Args: `{"method":""}`}, []string{"method"}},
		{sdktest.Mistake{Name: "method not a string", Op: "invoke", Args: `{"method":5}`}, []string{"method"}},
		{sdktest.Mistake{Name: "unknown field", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","request":{"txt":"x"}}`}, []string{"request", "nebula.demo.v1.EchoRequest", `"txt"`}},
		{sdktest.Mistake{Name: "field of the wrong type", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","request":{"count":"many"}}`}, []string{"request", "count"}},
		{sdktest.Mistake{Name: "int32 out of range", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","request":{"count":4294967296}}`}, []string{"request", "count"}},
		{sdktest.Mistake{Name: "request not an object", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","request":[1]}`}, []string{"request"}},
		{sdktest.Mistake{Name: "server-streaming method via invoke", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Count"}`}, []string{"method", "server-streaming", "server_stream"}},
		{sdktest.Mistake{Name: "client-streaming method via invoke", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Sum"}`}, []string{"method", "client-streaming", "client_stream"}},
		{sdktest.Mistake{Name: "bidi method via invoke", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Chat"}`}, []string{"method", "bidirectional", "bidi_stream"}},
		{sdktest.Mistake{Name: "metadata key with a space", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","metadata":{"bad key":"v"}}`}, []string{"metadata", `"bad key"`}},
		{sdktest.Mistake{Name: "reserved metadata key", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","metadata":{"grpc-timeout":"1S"}}`}, []string{"metadata", "grpc-timeout"}},
		{sdktest.Mistake{Name: "-bin value not base64", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","metadata":{"trace-bin":"%%%"}}`}, []string{"metadata", "base64"}},
		{sdktest.Mistake{Name: "unknown argument", Op: "invoke", Args: `{"method":"nebula.demo.v1.Demo/Echo","requests":{}}`}, []string{"requests"}},
		{sdktest.Mistake{Name: "describe of nothing", Op: "describe", Args: `{"symbol":"nebula.demo.v1.Nothing"}`}, []string{"symbol", "nebula.demo.v1.Nothing"}},
		{sdktest.Mistake{Name: "describe of a malformed name", Op: "describe", Args: `{"symbol":"not a name"}`}, []string{"symbol"}},
	}
	for _, m := range mistakes {
		t.Run(m.Name, func(t *testing.T) {
			_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: m.Op, Args: json.RawMessage(m.Args)})
			sdktest.CheckMistake(t, m.Mistake, err)
			for _, s := range m.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%v: does not say %s", err, s)
				}
			}
		})
	}

	// The same list through CheckMistakes, as every driver's.
	list := make([]sdktest.Mistake, len(mistakes))
	for i, m := range mistakes {
		list[i] = m.Mistake
	}
	sdktest.CheckMistakes(t, inst, list)
}

// A streaming operation given a method that streams otherwise says which
// operation to use.
func TestAStreamOperationNamesTheOneToUse(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	for op, m := range map[string]string{"server_stream": "Echo", "client_stream": "Count", "bidi_stream": "Sum"} {
		_, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: op, Args: json.RawMessage(`{"method":"` + demoMethod(m) + `"}`)}, strings.NewReader(""), nil)
		if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), "method") {
			t.Errorf("%s of %s: %v, want invalid_argument about the method", op, m, err)
		}
	}
}

// configErrors returns the attributes the configuration errors in err
// name.
func configErrors(err error) []string {
	var attrs []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *sdk.ConfigError
		if errors.As(err, &ce) {
			attrs = append(attrs, ce.Attribute)
		}
	}
	walk(err)
	return attrs
}

// A configuration mistake is refused at the attribute at fault, without
// connecting.
func TestConfigMistakesNameTheAttribute(t *testing.T) {
	bad := writeTemp(t, "bad.binpb", []byte("not a descriptor set"))
	for _, m := range []struct {
		name, attr string
		cfg        map[string]any
	}{
		{"empty target", "target", map[string]any{"target": " "}},
		{"unknown policy", "load_balancing", map[string]any{"load_balancing": "random"}},
		{"token in plaintext", "bearer_token", map[string]any{"bearer_token": "t0ken"}},
		{"token and authorization metadata", "bearer_token", map[string]any{"bearer_token": "t0ken", "allow_plaintext_token": true, "metadata": map[string]string{"authorization": "Basic x"}}},
		{"tls file without tls", "tls_ca_file", map[string]any{"tls_ca_file": "/ca.pem"}},
		{"missing CA file", "tls_ca_file", map[string]any{"tls": true, "tls_ca_file": "/no/such/ca.pem"}},
		{"bad metadata key", "metadata", map[string]any{"metadata": map[string]string{"Bad Key": "v"}}},
		{"bad secret metadata value", "secret_metadata", map[string]any{"secret_metadata": map[string]string{"x-api-key": "line\nbreak"}}},
		{"negative keepalive", "keepalive_time", map[string]any{"keepalive_time": "-1s"}},
		{"zero message size", "max_recv_message_size", map[string]any{"max_recv_message_size": 0}},
		{"missing descriptor set", "descriptor_set_file", map[string]any{"descriptor_set_file": "/no/such/set.binpb"}},
		{"not a descriptor set", "descriptor_set_file", map[string]any{"descriptor_set_file": bad}},
	} {
		t.Run(m.name, func(t *testing.T) {
			cfg := config(t, "127.0.0.1:1", m.cfg)
			if m.cfg["target"] != nil {
				cfg, _ = json.Marshal(m.cfg)
			}
			d := sdktest.Connect(t, grpcclient.New())
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "grpc", Name: "demo", Config: cfg})
			if !slices.Contains(configErrors(err), m.attr) {
				t.Fatalf("ValidateConfig: %v; want an error about %s", err, m.attr)
			}
			if strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), "line\nbreak") {
				t.Fatalf("the error quotes a secret: %v", err)
			}
			if _, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "grpc", Name: "demo", Config: cfg}); sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Fatalf("Configure: %v, want invalid_argument", err)
			}
		})
	}
}
