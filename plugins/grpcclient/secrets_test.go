package grpcclient_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The bearer token and the secret metadata are sent with every call,
// and appear in no error, even from a server that quotes the call's
// metadata in its error message: in process and from the built binary.
func TestTheTokenIsInNoErrorEvenWhenTheServerEchoesIt(t *testing.T) {
	const token, apiKey = "tok-Zx81-s3cr3t", "key-Qw42-s3cr3t"
	s := startServer(t, grpctest.Options{})
	cfg := config(t, s.Addr, map[string]any{
		"bearer_token": token, "allow_plaintext_token": true,
		"secret_metadata": map[string]string{"x-api-key": apiKey},
	})
	for name, d := range map[string]sdk.Driver{
		"in process":   sdktest.Connect(t, grpcclient.New()),
		"built binary": sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-grpc")),
	} {
		t.Run(name, func(t *testing.T) {
			inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: grpcclient.TypeName, Name: "demo", Config: cfg})
			_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "invoke", Args: json.RawMessage(`{"method":"` + demoMethod("Fail") + `","request":{"code":"PERMISSION_DENIED","message":"denied:","echoMetadata":true}}`)})
			if sdk.KindOf(err) != sdk.KindPermissionDenied {
				t.Fatalf("%v, want permission_denied", err)
			}
			t.Logf("%v", err)
			msg := err.Error()
			if strings.Contains(msg, token) || strings.Contains(msg, apiKey) {
				t.Fatalf("the error holds a secret: %v", err)
			}
			// They were sent: the server quoted them, and they were
			// replaced.
			if !strings.Contains(msg, "authorization=[Bearer [redacted]]") || !strings.Contains(msg, "x-api-key=[[redacted]]") {
				t.Fatalf("the server did not get the token and the key, or they were not replaced: %v", err)
			}
		})
	}
}
