package postgres_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/postgres"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func conformance(t *testing.T) sdktest.Suite {
	cfg, _ := json.Marshal(map[string]any{"url": testURL(t), "statement_timeout": "30s"})
	return sdktest.Suite{
		Type:          "postgres",
		Config:        string(cfg),
		InvalidConfig: `{"url": "postgres://127.0.0.1/test", "connect_timeout": "-1s"}`,
		Probe:         sdk.InvokeRequest{Operation: "ping", Args: json.RawMessage(`{}`)},
		Failing:       &sdk.InvokeRequest{Operation: "no-such-op", Args: json.RawMessage(`{}`)},
		FailingKind:   sdk.KindUnimplemented,
	}
}

func TestPostgresConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, postgres.New(), conformance(t))
}

func TestPostgresConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-postgres"), conformance(t))
}
