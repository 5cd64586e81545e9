package httpclient_test

import (
	"encoding/json"
	"testing"

	httpclient "github.com/nebula-resource/nebula-resource/plugins/http"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func suite(t *testing.T) sdktest.Suite {
	api := newAPI(t)
	return sdktest.Suite{
		Type:          httpclient.TypeName,
		Config:        string(configJSON(t, api.URL, map[string]any{"health_path": "/probe"})),
		InvalidConfig: `{"base_url":"ftp://127.0.0.1/"}`,
		Probe:         sdk.InvokeRequest{Operation: "fetch", Args: json.RawMessage(`{"path":"/probe"}`)},
		Failing:       &sdk.InvokeRequest{Operation: "fetch", Args: json.RawMessage(`{"path":"/missing"}`)},
		FailingKind:   sdk.KindNotFound,
	}
}

// The kit's contract, in process over real gRPC and as the built binary.
func TestHTTPConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, httpclient.New(), suite(t))
}

func TestHTTPConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-http"), suite(t))
}
