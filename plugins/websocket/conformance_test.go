package websocket_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// suite is the conformance suite against an echo server: ping is the
// probe, and a send over send_limit the failing call.
func suite(t *testing.T) sdktest.Suite {
	srv := echoServer(t)
	return sdktest.Suite{
		Type:          websocket.TypeName,
		Config:        string(config(wsURL(srv), map[string]any{"send_limit": 16})),
		InvalidConfig: `{"url": "http://127.0.0.1:1/", "buffer": 0}`,
		Probe:         sdk.InvokeRequest{Operation: "ping", Args: json.RawMessage(`{}`)},
		Failing:       &sdk.InvokeRequest{Operation: "send", Args: json.RawMessage(`{"text":"more than sixteen bytes"}`)},
		FailingKind:   sdk.KindInvalidArgument,
	}
}

func TestWebSocketConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, websocket.New(), suite(t))
}

func TestWebSocketConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-websocket"), suite(t))
}
