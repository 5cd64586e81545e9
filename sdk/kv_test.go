package sdk_test

import (
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
