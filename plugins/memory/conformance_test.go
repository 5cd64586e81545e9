package memory_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

var conformance = sdktest.Suite{
	Type:          "memory",
	Config:        `{"max_entries": 100, "default_ttl": "1m"}`,
	InvalidConfig: `{"max_entries": 1, "max_bytes": 1}`,
	Probe:         sdk.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"k","value":"v"}`)},
	// A missing key is not an error (get answers found false); a raw
	// command is, always: the memory plugin has none.
	Failing:     &sdk.InvokeRequest{Operation: "command", Args: json.RawMessage(`{"args":["GET","k"]}`)},
	FailingKind: sdk.KindUnimplemented,
}

func TestMemoryConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, memory.New(), conformance)
}

func TestMemoryConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-memory"), conformance)
}
