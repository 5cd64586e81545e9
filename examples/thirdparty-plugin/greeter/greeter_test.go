package greeter_test

import (
	"encoding/json"
	"errors"
	"testing"

	"example.com/nebula-plugin-greeter/greeter"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// suite is what the SDK's conformance checks need to know about the type.
var suite = sdktest.Suite{
	Type:          greeter.TypeName,
	Config:        `{"greeting": "Hi"}`,
	InvalidConfig: `{"greeting": ""}`,
	Probe:         sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"name": "Ada"}`)},
	Failing:       &sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"name": ""}`)},
	FailingKind:   sdk.KindInvalidArgument,
}

// TestConformance runs the conformance checks in process, over the plugin
// protocol.
func TestConformance(t *testing.T) {
	sdktest.RunDriver(t, greeter.New(), suite)
}

// TestConformanceBinary runs them against the built plugin binary, started
// as the host starts it.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	sdktest.RunBinary(t, sdktest.Build(t, "example.com/nebula-plugin-greeter"), suite)
}

func TestGreet(t *testing.T) {
	for name, tt := range map[string]struct{ config, want string }{
		"default greeting": {`{}`, "Hello, Ada!"},
		"own greeting":     {`{"greeting": "Good morning"}`, "Good morning, Ada!"},
		"shout":            {`{"shout": true}`, "HELLO, ADA!"},
	} {
		t.Run(name, func(t *testing.T) {
			inst := sdktest.Open(t, sdktest.Connect(t, greeter.New()), sdk.ConfigureRequest{Type: greeter.TypeName, Name: "test", Config: json.RawMessage(tt.config)})
			out, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"name": "Ada"}`)})
			if err != nil {
				t.Fatalf("greet: %v", err)
			}
			raw, _ := json.Marshal(out)
			var got greeter.GreetResult
			if err := json.Unmarshal(raw, &got); err != nil || got.Message != tt.want {
				t.Fatalf("greet = %s (%v), want message %q", raw, err, tt.want)
			}
		})
	}
}

func TestEmptyGreetingIsAConfigError(t *testing.T) {
	err := greeter.New().(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: greeter.TypeName, Name: "test", Config: json.RawMessage(`{"greeting": " "}`)})
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || ce.Attribute != "greeting" {
		t.Fatalf("ValidateConfig = %v, want a config error about greeting", err)
	}
}
