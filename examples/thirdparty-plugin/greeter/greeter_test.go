package greeter_test

import (
	"encoding/json"
	"testing"

	"example.com/nebula-plugin-greeter/greeter"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// suite is what the conformance kit needs to know about the greeter.
var suite = sdktest.Suite{
	Type:          "greeter",
	Config:        `{"greeting": "Hi"}`,
	InvalidConfig: `{"greeting": ""}`,
	Probe:         sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"name": "Ada"}`)},
	Failing:       &sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"name": ""}`)},
	FailingKind:   sdk.KindInvalidArgument,
}

// TestConformance runs the SDK's conformance checks in process, over real
// gRPC.
func TestConformance(t *testing.T) {
	sdktest.RunDriver(t, greeter.New(), suite)
}

// TestConformanceBinary runs the same checks against the built plugin
// binary, started the way the host starts it.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	sdktest.RunBinary(t, sdktest.Build(t, "example.com/nebula-plugin-greeter"), suite)
}

func TestGreet(t *testing.T) {
	tests := map[string]struct {
		config string
		want   string
	}{
		"default greeting": {config: `{}`, want: "Hello, Ada!"},
		"own greeting":     {config: `{"greeting": "Good morning"}`, want: "Good morning, Ada!"},
		"shout":            {config: `{"shout": true}`, want: "HELLO, ADA!"},
	}
	// Connect serves the driver over gRPC, as a plugin would be.
	d := sdktest.Connect(t, greeter.New())
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			res, err := d.Configure(ctx, sdk.ConfigureRequest{Type: "greeter", Name: "test", Config: json.RawMessage(tt.config)})
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			defer res.Close(ctx)
			inst, err := res.Open(ctx)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer inst.Close(ctx)
			// Over the wire, the host's view of an instance performs
			// the operations itself.
			out, err := inst.(sdk.Invoker).Invoke(ctx, sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"name": "Ada"}`)})
			if err != nil {
				t.Fatalf("greet: %v", err)
			}
			raw, _ := json.Marshal(out)
			var got struct{ Message string }
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("result %s: %v", raw, err)
			}
			if got.Message != tt.want {
				t.Errorf("greet = %q, want %q", got.Message, tt.want)
			}
		})
	}
}

func TestEmptyGreetingIsAConfigError(t *testing.T) {
	err := greeter.New().(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "greeter", Name: "test", Config: json.RawMessage(`{"greeting": " "}`)})
	ce, ok := err.(*sdk.ConfigError)
	if !ok || ce.Attribute != "greeting" {
		t.Fatalf("ValidateConfig = %v, want a config error about greeting", err)
	}
}
