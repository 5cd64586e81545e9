package sdk_test

import (
	"errors"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestKVOperationsHaveSchemas(t *testing.T) {
	seen := map[string]bool{}
	for _, op := range append(sdk.KVOperations(), sdk.PubSubOperations()...) {
		if seen[op.Name] || op.Description == "" || len(op.Args.Attributes) == 0 {
			t.Errorf("operation %+v: duplicate, undescribed or without arguments", op.Name)
		}
		seen[op.Name] = true
	}
	var a sdk.KVSetArgs
	if err := sdk.Decode([]byte(`{"key":"k","value":"v","ttl":"1m","mode":"nx"}`), &a); err != nil || a.TTL.Minutes() != 1 || a.Mode != "nx" {
		t.Fatalf("set's arguments decode to %+v, %v", a, err)
	}
}

func TestRedactRemovesSecretsAndKeepsTheCause(t *testing.T) {
	cause := errors.New("dial postgres://u:hunter2@db/x: refused")
	err := sdk.Redact(cause, "", "hunter2")
	if err.Error() != "dial postgres://u:[redacted]@db/x: refused" || !errors.Is(err, cause) {
		t.Fatalf("Redact = %q (is cause: %v)", err, errors.Is(err, cause))
	}
	if sdk.Redact(cause, "absent") != cause || sdk.Redact(nil, "x") != nil {
		t.Fatal("Redact changed an error without secrets, or a nil error")
	}
}
