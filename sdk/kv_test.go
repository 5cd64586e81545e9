package sdk_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestKVArgumentsRefuseWhatEveryDriverWould: the kv and pub/sub
// capabilities' arguments check themselves, so that every driver refuses
// the same calls with the same words.
func TestKVArgumentsRefuseWhatEveryDriverWould(t *testing.T) {
	for _, tt := range []struct {
		args interface{ Validate() error }
		want string // "" for valid
	}{
		{sdk.KVKeyArgs{Key: "k"}, ""},
		{sdk.KVKeyArgs{}, "key must not be empty"},
		{sdk.KVKeysArgs{Keys: []string{"a", "b"}}, ""},
		{sdk.KVKeysArgs{}, "keys must hold at least one key"},
		{sdk.KVKeysArgs{Keys: []string{"a", ""}}, "keys[1] must not be empty"},
		{sdk.KVSetArgs{Key: "k", Mode: "Nx", TTL: time.Second}, ""},
		{sdk.KVSetArgs{Key: "k", Mode: "sometimes"}, `mode "sometimes": use "" (always set)`},
		{sdk.KVSetArgs{Key: "k", TTL: -time.Second}, "ttl -1s must not be negative"},
		{sdk.KVSetArgs{Mode: "nx"}, "key must not be empty"},
		{sdk.KVMSetArgs{Values: map[string]string{"a": "1"}}, ""},
		{sdk.KVMSetArgs{}, "values must hold at least one key"},
		{sdk.KVMSetArgs{Values: map[string]string{"": "1"}}, "values: a key must not be empty"},
		{sdk.KVMSetArgs{Values: map[string]string{"a": "1"}, TTL: -1}, "must not be negative"},
		{sdk.KVExpireArgs{Key: "k"}, ""},
		{sdk.KVExpireArgs{Key: "k", TTL: -time.Second}, "0s removes the expiry"},
		{sdk.KVIncrArgs{Key: "k", By: -3}, ""},
		{sdk.KVIncrArgs{}, "key must not be empty"},
		{sdk.KVScanArgs{Count: 10}, ""},
		{sdk.KVScanArgs{}, "count 0 must be positive"},
		{sdk.KVCommandArgs{Args: []string{"PING"}}, ""},
		{sdk.KVCommandArgs{Args: []string{""}}, "args must start with a command name"},
		{sdk.PublishArgs{Channel: "c"}, ""},
		{sdk.PublishArgs{Message: "m"}, "channel must not be empty"},
		{sdk.SubscribeArgs{Patterns: []string{"news.*"}}, ""},
		{sdk.SubscribeArgs{}, "subscribe needs at least one channel or pattern"},
		{sdk.SubscribeArgs{Channels: []string{"a"}, Patterns: []string{""}}, "patterns[0] must not be empty"},
	} {
		err := tt.args.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%#v: %v, want valid", tt.args, err)
		case tt.want != "" && (sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(fmt.Sprint(err), tt.want)):
			t.Errorf("%#v: %v (kind %q), want invalid_argument saying %q", tt.args, err, sdk.KindOf(err), tt.want)
		}
	}
	for mode, want := range map[string]sdk.KVCondition{"": sdk.KVAlways, "nx": sdk.KVIfAbsent, "NX": sdk.KVIfAbsent, "xX": sdk.KVIfPresent} {
		if got, err := (sdk.KVSetArgs{Key: "k", Mode: mode}).Condition(); got != want || err != nil {
			t.Errorf("mode %q: condition %d, %v; want %d", mode, got, err, want)
		}
	}
}
