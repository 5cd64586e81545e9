package graphql_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/graphql"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// suite is the conformance suite against the server at url: the probe
// is a query, and a query the server refuses in validation is
// invalid_argument.
func suite(t *testing.T, url string) sdktest.Suite {
	return sdktest.Suite{
		Type:          graphql.TypeName,
		Config:        config(t, url, nil),
		InvalidConfig: `{"base_url": "ftp://127.0.0.1/graphql"}`,
		Probe:         sdk.InvokeRequest{Operation: "query", Args: json.RawMessage(`{"query": "query Hello($n: String) { hello(name: $n) }", "variables": {"n": "conformance"}}`)},
		Failing:       &sdk.InvokeRequest{Operation: "query", Args: json.RawMessage(`{"query": "{ noSuchField }"}`)},
		FailingKind:   sdk.KindInvalidArgument,
	}
}

func TestConformance(t *testing.T) {
	s := startServer(t)
	sdktest.RunDriver(t, graphql.New(), suite(t, s.url()))
}

func TestConformanceOfTheBinary(t *testing.T) {
	s := startServer(t)
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-graphql"), suite(t, s.url()))
}
