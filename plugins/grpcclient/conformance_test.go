package grpcclient_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// suite is the conformance suite against a demo server: the probe is a
// unary call of a method known only through reflection, and the failing
// call one whose status is NOT_FOUND.
func suite(t *testing.T) sdktest.Suite {
	s := startServer(t, grpctest.Options{})
	failing := sdk.InvokeRequest{Operation: "invoke", Args: json.RawMessage(`{"method":"` + demoMethod("Fail") + `","request":{"code":"NOT_FOUND","message":"no such order"}}`)}
	return sdktest.Suite{
		Type:          grpcclient.TypeName,
		Config:        string(config(t, s.Addr, nil)),
		InvalidConfig: string(config(t, s.Addr, map[string]any{"load_balancing": "random"})),
		Probe:         sdk.InvokeRequest{Operation: "invoke", Args: json.RawMessage(`{"method":"` + demoMethod("Echo") + `","request":{"text":"probe"}}`)},
		Failing:       &failing,
		FailingKind:   sdk.KindNotFound,
	}
}

func TestConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, grpcclient.New(), suite(t))
}

func TestConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-grpc"), suite(t))
}
