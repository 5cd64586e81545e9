package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

type slowDown struct{}

func (slowDown) Check(context.Context) error { return nil }
func (slowDown) Close(context.Context) error { return nil }

type slowDownArgs struct{}

type slowDownResource struct{}

func (slowDownResource) Open(context.Context) (sdk.Instance, error) { return slowDown{}, nil }
func (slowDownResource) Close(context.Context) error                { return nil }

// A backend's Retry-After crosses the plugin boundary with the error's
// kind and code.
func TestRetryAfterCrossesThePluginBoundary(t *testing.T) {
	d := sdk.NewDriver("slow", "1.0.0", sdk.ResourceDef[struct{}, slowDown]{
		Name: "slow",
		Configure: func(context.Context, string, struct{}) (sdk.Resource, error) {
			return slowDownResource{}, nil
		},
		Operations: []sdk.Op[slowDown]{sdk.NewOp("call", "is refused for a while", func(slowDown, context.Context, slowDownArgs) (struct{}, error) {
			return struct{}{}, &sdk.Error{Kind: sdk.KindUnavailable, Message: "503 Service Unavailable", Code: "503", RetryAfter: 1500 * time.Millisecond}
		})},
	})
	inst := sdktest.Open(t, sdktest.Connect(t, d), sdk.ConfigureRequest{Type: "slow", Name: "x", Config: []byte(`{}`)})
	_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "call", Args: []byte(`{}`)})
	if sdk.KindOf(err) != sdk.KindUnavailable || sdk.RetryAfterOf(err) != 1500*time.Millisecond {
		t.Fatalf("err = %v (kind %s, retry after %v), want unavailable after 1.5s", err, sdk.KindOf(err), sdk.RetryAfterOf(err))
	}
	if sdk.RetryAfterOf(context.Canceled) != 0 {
		t.Fatal("an error that is no *sdk.Error has a retry-after")
	}
}
