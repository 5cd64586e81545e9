package host_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// echoDriver's only operation fails with an error that echoes the key the
// caller passed, and, for key "leak", an error holding the configured
// password itself (as a careless client library might).
type echoDriver struct{}

func (echoDriver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "echo", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name: "echo", Description: "echoes keys in errors",
		Config:     sdk.Schema{Attributes: []sdk.Attribute{{Name: "password", Type: sdk.String, Sensitive: true}}},
		Operations: []sdk.Operation{{Name: "get", Description: "fails", Args: sdk.Schema{Attributes: []sdk.Attribute{{Name: "key", Type: sdk.String, Required: true}}}}},
	}}}
}

func (echoDriver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	var cfg struct {
		Password string `nebula:"password,sensitive"`
	}
	if err := req.Decode(&cfg); err != nil {
		return nil, err
	}
	return echoResource{cfg.Password}, nil
}

type echoResource struct{ password string }

func (r echoResource) Open(context.Context) (sdk.Instance, error) { return r, nil }
func (r echoResource) Close(context.Context) error                { return nil }
func (r echoResource) Check(context.Context) error                { return nil }
func (r echoResource) Invoke(_ context.Context, req sdk.InvokeRequest) (any, error) {
	var a struct {
		Key string `nebula:"key,required"`
	}
	if err := req.Decode(&a); err != nil {
		return nil, err
	}
	if a.Key == "leak" {
		return nil, sdk.Errorf(sdk.KindNotFound, "login with %s failed", r.password)
	}
	return nil, sdk.Errorf(sdk.KindNotFound, "no such key %q", a.Key)
}

// TestMaskingDoesNotConfirmGuesses: a caller passes values equal to the
// configured password, a prefix of it, a value that contains it, and
// unrelated values. Each error echoes the value as it was sent, so the
// answers have the same form whatever the guess; a secret the caller did
// not send is still masked.
func TestMaskingDoesNotConfirmGuesses(t *testing.T) {
	const secret = "hunter2-correct-horse"
	cfg := loadHCL(t, `resource "echo" "x" {
  password = "`+secret+`"
}`)
	h := startHost(t, cfg, host.WithDriver("echo", echoDriver{}), host.WithLogger(quietLogger()))
	answer := func(key string) string {
		_, err := h.Invoke(t.Context(), "echo.x", "get", map[string]string{"key": key})
		if err == nil {
			t.Fatalf("get %q succeeded", key)
		}
		// What a guess is told, with the guess itself taken out: the
		// same for every guess unless masking gives one away.
		return strings.ReplaceAll(err.Error(), fmt.Sprintf("%q", key), "GUESS")
	}
	want := answer("unrelated-value")
	for _, guess := range []string{secret, secret[:7], "x" + secret + "y", "hunter3-correct-horse", strings.ToUpper(secret)} {
		if got := answer(guess); got != want {
			t.Errorf("guess %q is answered %q, other guesses %q: the answer tells the guess apart", guess, got, want)
		}
	}
	if got := answer("leak"); strings.Contains(got, secret) || !strings.Contains(got, "(sensitive)") {
		t.Errorf("a secret the caller did not send is not masked: %s", got)
	}
}
