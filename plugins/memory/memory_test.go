package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open configures a memory resource with the given config JSON and opens
// one instance of it. Both are closed when the test ends.
func open(t *testing.T, config string) (sdk.Resource, sdk.Instance) {
	t.Helper()
	ctx := t.Context()
	res, err := memory.New().Configure(ctx, sdk.ConfigureRequest{Type: "memory", Name: "test", Config: json.RawMessage(config)})
	if err != nil {
		t.Fatalf("Configure(%s): %v", config, err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	inst, err := res.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return res, inst
}

// memoryType is the driver's type, which performs its operations.
var memoryType, _ = memory.New().Info().Type(memory.TypeName)

// invoke performs op on inst as the host does.
func invoke(ctx context.Context, inst sdk.Instance, op, args string) (any, error) {
	return memoryType.Invoke(ctx, inst, sdk.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
}

// call invokes op with args and returns the result as JSON.
func call(t *testing.T, inst sdk.Instance, op, args string) (string, error) {
	t.Helper()
	res, err := invoke(t.Context(), inst, op, args)
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("%s result %#v does not marshal: %v", op, res, err)
	}
	return string(raw), nil
}

// mustCall is call for steps that must succeed.
func mustCall(t *testing.T, inst sdk.Instance, op, args string) string {
	t.Helper()
	out, err := call(t, inst, op, args)
	if err != nil {
		t.Fatalf("%s %s: %v", op, args, err)
	}
	return out
}

type step struct{ op, args string }

func TestMemoryOperations(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		setup    []step
		op, args string
		want     string   // result JSON, when wantKind is empty
		wantKind sdk.Kind // error kind
	}{
		{name: "get returns a value that was set", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "get", args: `{"key":"a"}`, want: `{"value":"1","found":true}`},
		{name: "get of a missing key is not found, without an error",
			op: "get", args: `{"key":"a"}`, want: `{"found":false}`},
		{name: "get of an empty value is found", setup: []step{{"set", `{"key":"a","value":""}`}},
			op: "get", args: `{"key":"a"}`, want: `{"found":true}`},
		{name: "get without a key is an invalid argument",
			op: "get", args: `{}`, wantKind: sdk.KindInvalidArgument},
		{name: "get of an empty key is an invalid argument",
			op: "get", args: `{"key":""}`, wantKind: sdk.KindInvalidArgument},
		{name: "set reports the value stored",
			op: "set", args: `{"key":"a","value":"x"}`, want: `{"ok":true}`},
		{name: "set replaces an earlier value", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"a","value":"2"}`}},
			op: "get", args: `{"key":"a"}`, want: `{"value":"2","found":true}`},
		{name: "set nx stores a missing key",
			op: "set", args: `{"key":"a","value":"x","mode":"nx"}`, want: `{"ok":true}`},
		{name: "set nx of a present key stores nothing", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "set", args: `{"key":"a","value":"2","mode":"nx"}`, want: `{"ok":false}`},
		{name: "set nx of a present key keeps its value", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"a","value":"2","mode":"nx"}`}},
			op: "get", args: `{"key":"a"}`, want: `{"value":"1","found":true}`},
		{name: "set xx replaces a present key", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "set", args: `{"key":"a","value":"2","mode":"xx"}`, want: `{"ok":true}`},
		{name: "set xx stores the new value", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"a","value":"2","mode":"xx"}`}},
			op: "get", args: `{"key":"a"}`, want: `{"value":"2","found":true}`},
		{name: "set xx of a missing key stores nothing",
			op: "set", args: `{"key":"a","value":"2","mode":"xx"}`, want: `{"ok":false}`},
		{name: "set xx of a missing key does not create it", setup: []step{{"set", `{"key":"a","value":"2","mode":"xx"}`}},
			op: "exists", args: `{"keys":["a"]}`, want: `{"count":0}`},
		{name: "set's mode may be in capitals, as Redis takes it", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "set", args: `{"key":"a","value":"x","mode":"NX"}`, want: `{"ok":false}`},
		{name: "set with an unknown mode is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","mode":"sometimes"}`, wantKind: sdk.KindInvalidArgument},
		{name: "set with a negative ttl is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","ttl":"-1s"}`, wantKind: sdk.KindInvalidArgument},
		{name: "set with a ttl that is not a duration is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","ttl":"soon"}`, wantKind: sdk.KindInvalidArgument},
		{name: "set with an unknown argument is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","nx":true}`, wantKind: sdk.KindInvalidArgument},
		{name: "delete counts the keys it removed", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"b","value":"2"}`}},
			op: "delete", args: `{"keys":["a","b","c"]}`, want: `{"count":2}`},
		{name: "delete removes a key named twice once", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "delete", args: `{"keys":["a","a"]}`, want: `{"count":1}`},
		{name: "delete of a missing key counts nothing",
			op: "delete", args: `{"keys":["a"]}`, want: `{"count":0}`},
		{name: "deleted keys are gone", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"delete", `{"keys":["a"]}`}},
			op: "get", args: `{"key":"a"}`, want: `{"found":false}`},
		{name: "delete without keys is an invalid argument",
			op: "delete", args: `{"keys":[]}`, wantKind: sdk.KindInvalidArgument},
		{name: "delete of an empty key is an invalid argument",
			op: "delete", args: `{"keys":["a",""]}`, wantKind: sdk.KindInvalidArgument},
		{name: "exists counts the keys present", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"b","value":"2"}`}},
			op: "exists", args: `{"keys":["a","b","c"]}`, want: `{"count":2}`},
		{name: "exists counts a key named twice twice, as Redis does", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "exists", args: `{"keys":["a","a"]}`, want: `{"count":2}`},
		{name: "exists of a missing key counts nothing",
			op: "exists", args: `{"keys":["a"]}`, want: `{"count":0}`},
		{name: "exists of a single key is not a key argument",
			op: "exists", args: `{"key":"a"}`, wantKind: sdk.KindInvalidArgument},
		{name: "expire of a present key counts it", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "expire", args: `{"key":"a","ttl":"1m"}`, want: `{"count":1}`},
		{name: "expire of a missing key counts nothing",
			op: "expire", args: `{"key":"a","ttl":"1m"}`, want: `{"count":0}`},
		{name: "expire of a missing key does not create it", setup: []step{{"expire", `{"key":"a","ttl":"1m"}`}},
			op: "exists", args: `{"keys":["a"]}`, want: `{"count":0}`},
		{name: "expire keeps the value", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"expire", `{"key":"a","ttl":"1m"}`}},
			op: "get", args: `{"key":"a"}`, want: `{"value":"1","found":true}`},
		{name: "expire 0s removes the expiry", config: `{"default_ttl":"1h"}`, setup: []step{{"set", `{"key":"a","value":"1","ttl":"1m"}`}, {"expire", `{"key":"a","ttl":"0s"}`}},
			op: "ttl", args: `{"key":"a"}`, want: `{"found":true}`},
		{name: "expire with a negative ttl is an invalid argument", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "expire", args: `{"key":"a","ttl":"-1s"}`, wantKind: sdk.KindInvalidArgument},
		{name: "expire without a ttl is an invalid argument", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "expire", args: `{"key":"a"}`, wantKind: sdk.KindInvalidArgument},
		{name: "ttl is empty for a key that does not expire", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "ttl", args: `{"key":"a"}`, want: `{"found":true}`},
		{name: "ttl of a missing key is not found, without an error",
			op: "ttl", args: `{"key":"a"}`, want: `{"found":false}`},
		{name: "incr of a missing key counts from zero",
			op: "incr", args: `{"key":"n"}`, want: `{"value":1}`},
		{name: "incr adds by to an integer value", setup: []step{{"set", `{"key":"n","value":"40"}`}},
			op: "incr", args: `{"key":"n","by":2}`, want: `{"value":42}`},
		{name: "incr with a negative by subtracts", setup: []step{{"set", `{"key":"n","value":"1"}`}},
			op: "incr", args: `{"key":"n","by":-3}`, want: `{"value":-2}`},
		{name: "incr stores the new value as a string", setup: []step{{"incr", `{"key":"n","by":7}`}},
			op: "get", args: `{"key":"n"}`, want: `{"value":"7","found":true}`},
		{name: "incr of a value that is not an integer is an invalid argument", setup: []step{{"set", `{"key":"n","value":"seven"}`}},
			op: "incr", args: `{"key":"n"}`, wantKind: sdk.KindInvalidArgument},
		{name: "incr of a value that is not an integer leaves it alone", setup: []step{{"set", `{"key":"n","value":"seven"}`}, {"incr", `{"key":"n"}`}},
			op: "get", args: `{"key":"n"}`, want: `{"value":"seven","found":true}`},
		{name: "incr of an integer with a plus sign is an invalid argument, as in Redis", setup: []step{{"set", `{"key":"n","value":"+1"}`}},
			op: "incr", args: `{"key":"n"}`, wantKind: sdk.KindInvalidArgument},
		{name: "incr of an empty value is an invalid argument", setup: []step{{"set", `{"key":"n","value":""}`}},
			op: "incr", args: `{"key":"n"}`, wantKind: sdk.KindInvalidArgument},
		{name: "incr that would overflow is an invalid argument", setup: []step{{"set", `{"key":"n","value":"9223372036854775807"}`}},
			op: "incr", args: `{"key":"n"}`, wantKind: sdk.KindInvalidArgument},
		{name: "incr with a by that is not an integer is an invalid argument",
			op: "incr", args: `{"key":"n","by":"one"}`, wantKind: sdk.KindInvalidArgument},
		{name: "decr of a missing key counts from zero",
			op: "decr", args: `{"key":"n"}`, want: `{"value":-1}`},
		{name: "decr subtracts by", setup: []step{{"set", `{"key":"n","value":"44"}`}},
			op: "decr", args: `{"key":"n","by":2}`, want: `{"value":42}`},
		{name: "decr of a value that is not an integer is an invalid argument", setup: []step{{"set", `{"key":"n","value":"1.5"}`}},
			op: "decr", args: `{"key":"n"}`, wantKind: sdk.KindInvalidArgument},
		{name: "decr that would overflow is an invalid argument", setup: []step{{"set", `{"key":"n","value":"-9223372036854775808"}`}},
			op: "decr", args: `{"key":"n"}`, wantKind: sdk.KindInvalidArgument},
		{name: "decr by the smallest int64 is an invalid argument",
			op: "decr", args: `{"key":"n","by":-9223372036854775808}`, wantKind: sdk.KindInvalidArgument},
		{name: "mget returns the values in the order asked, missing keys included",
			setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"c","value":"3"}`}},
			op:    "mget", args: `{"keys":["c","b","a","c"]}`, want: `{"values":[{"value":"3","found":true},{"found":false},{"value":"1","found":true},{"value":"3","found":true}]}`},
		{name: "mget without keys is an invalid argument",
			op: "mget", args: `{"keys":[]}`, wantKind: sdk.KindInvalidArgument},
		{name: "mset reports the values stored",
			op: "mset", args: `{"values":{"a":"1","b":"2"}}`, want: `{"ok":true}`},
		{name: "mset stores every value", setup: []step{{"set", `{"key":"a","value":"0"}`}, {"mset", `{"values":{"a":"1","b":"2"}}`}},
			op: "mget", args: `{"keys":["a","b"]}`, want: `{"values":[{"value":"1","found":true},{"value":"2","found":true}]}`},
		{name: "mset without values is an invalid argument",
			op: "mset", args: `{"values":{}}`, wantKind: sdk.KindInvalidArgument},
		{name: "mset of an empty key is an invalid argument",
			op: "mset", args: `{"values":{"":"1"}}`, wantKind: sdk.KindInvalidArgument},
		{name: "mset with a negative ttl is an invalid argument",
			op: "mset", args: `{"values":{"a":"1"},"ttl":"-1s"}`, wantKind: sdk.KindInvalidArgument},
		{name: "scan of an empty cache returns no keys and no cursor",
			op: "scan", args: `{}`, want: `{"keys":[],"cursor":""}`},
		{name: "scan returns the matching keys in order",
			setup: []step{{"mset", `{"values":{"user:2":"","user:1":"","order:1":"","user:10":"","users":""}}`}},
			op:    "scan", args: `{"pattern":"user:*"}`, want: `{"keys":["user:1","user:10","user:2"],"cursor":""}`},
		{name: "scan's * matches a slash, unlike path.Match",
			setup: []step{{"mset", `{"values":{"a/b/c":"","a/b":"","b/a":""}}`}},
			op:    "scan", args: `{"pattern":"a/*"}`, want: `{"keys":["a/b","a/b/c"],"cursor":""}`},
		{name: "scan with a pattern that is not a glob is an invalid argument",
			op: "scan", args: `{"pattern":"user:[0-9"}`, wantKind: sdk.KindInvalidArgument},
		{name: "scan with a cursor it did not return is an invalid argument",
			op: "scan", args: `{"cursor":"42"}`, wantKind: sdk.KindInvalidArgument},
		{name: "scan with a count of 0 is an invalid argument",
			op: "scan", args: `{"count":0}`, wantKind: sdk.KindInvalidArgument},
		{name: "command is unimplemented: the memory plugin has no raw commands",
			op: "command", args: `{"args":["GET","a"]}`, wantKind: sdk.KindUnimplemented},
		{name: "stats counts entries, and the keys get and mget found and missed",
			setup: []step{{"set", `{"key":"a","value":"1"}`}, {"get", `{"key":"a"}`}, {"get", `{"key":"a"}`}, {"get", `{"key":"b"}`}, {"mget", `{"keys":["a","c"]}`}},
			op:    "stats", args: `{}`, want: `{"entries":1,"hits":3,"misses":2,"evictions":0,"weighted_size":0}`},
		{name: "stats does not count the reads of writes as hits or misses",
			setup: []step{{"set", `{"key":"a","value":"1","mode":"nx"}`}, {"set", `{"key":"a","value":"1","mode":"xx"}`}, {"incr", `{"key":"n"}`}, {"expire", `{"key":"a","ttl":"1m"}`}, {"exists", `{"keys":["a","b"]}`}},
			op:    "stats", args: `{}`, want: `{"entries":2,"hits":0,"misses":0,"evictions":0,"weighted_size":0}`},
		{name: "stats reports the weighted size when max_bytes is set", config: `{"max_bytes":1000}`,
			setup: []step{{"set", `{"key":"ab","value":"cde"}`}, {"set", `{"key":"f","value":""}`}},
			op:    "stats", args: `{}`, want: `{"entries":2,"hits":0,"misses":0,"evictions":0,"weighted_size":6}`},
		{name: "an unknown operation is unimplemented",
			op: "publish", args: `{}`, wantKind: sdk.KindUnimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := tt.config
			if config == "" {
				config = `{}`
			}
			_, inst := open(t, config)
			for _, s := range tt.setup {
				_, _ = call(t, inst, s.op, s.args)
			}
			got, err := call(t, inst, tt.op, tt.args)
			if tt.wantKind != "" {
				if sdk.KindOf(err) != tt.wantKind {
					t.Fatalf("%s %s: got result %s, error %v (kind %q); want kind %q", tt.op, tt.args, got, err, sdk.KindOf(err), tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", tt.op, tt.args, err)
			}
			if got != tt.want {
				t.Errorf("%s %s = %s, want %s", tt.op, tt.args, got, tt.want)
			}
		})
	}
}

func TestMemoryEntriesExpireAfterTheirTTL(t *testing.T) {
	tests := []struct {
		name   string
		config string
		setup  []step
	}{
		{name: "the ttl argument of set makes an entry expire", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"100ms"}`}}},
		{name: "default_ttl makes an entry set without ttl expire", config: `{"default_ttl":"100ms"}`,
			setup: []step{{"set", `{"key":"a","value":"1"}`}}},
		{name: "the ttl argument overrides a longer default_ttl", config: `{"default_ttl":"1h"}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"100ms"}`}}},
		{name: "set nx with a ttl makes an entry expire", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"100ms","mode":"nx"}`}}},
		{name: "set xx with a ttl makes an entry expire", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"0"}`}, {"set", `{"key":"a","value":"1","ttl":"100ms","mode":"xx"}`}}},
		{name: "the ttl argument of mset makes its entries expire", config: `{}`,
			setup: []step{{"mset", `{"values":{"a":"1"},"ttl":"100ms"}`}}},
		{name: "expire makes a persistent entry expire", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1"}`}, {"expire", `{"key":"a","ttl":"100ms"}`}}},
		{name: "expire shortens a longer ttl", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"1h"}`}, {"expire", `{"key":"a","ttl":"100ms"}`}}},
		{name: "incr keeps a short ttl", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"100ms"}`}, {"incr", `{"key":"a"}`}, {"decr", `{"key":"a","by":5}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, inst := open(t, tt.config)
			for _, s := range tt.setup {
				mustCall(t, inst, s.op, s.args)
			}
			if got := mustCall(t, inst, "exists", `{"keys":["a"]}`); got != `{"count":1}` {
				t.Fatalf("right after set, exists = %s", got)
			}
			time.Sleep(300 * time.Millisecond)
			for _, c := range []struct{ op, args, want string }{
				{"get", `{"key":"a"}`, `{"found":false}`},
				{"mget", `{"keys":["a"]}`, `{"values":[{"found":false}]}`},
				{"exists", `{"keys":["a"]}`, `{"count":0}`},
				{"ttl", `{"key":"a"}`, `{"found":false}`},
				{"scan", `{}`, `{"keys":[],"cursor":""}`},
				{"expire", `{"key":"a","ttl":"1h"}`, `{"count":0}`},
				{"set", `{"key":"a","value":"2","mode":"xx"}`, `{"ok":false}`},
				{"delete", `{"keys":["a"]}`, `{"count":0}`},
			} {
				if got := mustCall(t, inst, c.op, c.args); got != c.want {
					t.Errorf("after the ttl, %s %s = %s, want %s", c.op, c.args, got, c.want)
				}
			}
			if got := mustCall(t, inst, "incr", `{"key":"a"}`); got != `{"value":1}` {
				t.Errorf("after the ttl, incr counts from %s, want from 0", got)
			}
		})
	}
}

func TestMemoryExpireZeroMakesAKeyPersist(t *testing.T) {
	for _, config := range []string{`{}`, `{"default_ttl":"100ms"}`} {
		t.Run("config "+config, func(t *testing.T) {
			_, inst := open(t, config)
			mustCall(t, inst, "set", `{"key":"a","value":"1","ttl":"100ms"}`)
			if got := mustCall(t, inst, "expire", `{"key":"a","ttl":"0s"}`); got != `{"count":1}` {
				t.Fatalf("expire 0s = %s", got)
			}
			if got := mustCall(t, inst, "ttl", `{"key":"a"}`); got != `{"found":true}` {
				t.Errorf("after expire 0s, ttl = %s, want no expiry", got)
			}
			time.Sleep(300 * time.Millisecond)
			if got := mustCall(t, inst, "get", `{"key":"a"}`); got != `{"value":"1","found":true}` {
				t.Errorf("after the former ttl, get = %s, want the value", got)
			}
		})
	}
}

func TestMemoryTTLReportsTheTimeLeft(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		setup    []step
		min, max time.Duration
	}{
		{name: "ttl reports the ttl given to set", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"2m"}`}}, min: 110 * time.Second, max: 2 * time.Minute},
		{name: "ttl reports default_ttl for a set without ttl", config: `{"default_ttl":"1h"}`,
			setup: []step{{"set", `{"key":"a","value":"1"}`}}, min: 59 * time.Minute, max: time.Hour},
		{name: "incr keeps the expiry of an existing key", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"2m"}`}, {"incr", `{"key":"a"}`}}, min: 110 * time.Second, max: 2 * time.Minute},
		{name: "decr keeps the expiry of an existing key", config: `{"default_ttl":"1h"}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"2m"}`}, {"decr", `{"key":"a"}`}}, min: 110 * time.Second, max: 2 * time.Minute},
		{name: "incr of a missing key gives it default_ttl", config: `{"default_ttl":"1h"}`,
			setup: []step{{"incr", `{"key":"a"}`}}, min: 59 * time.Minute, max: time.Hour},
		{name: "expire sets the time left", config: `{"default_ttl":"1h"}`,
			setup: []step{{"set", `{"key":"a","value":"1"}`}, {"expire", `{"key":"a","ttl":"2m"}`}}, min: 110 * time.Second, max: 2 * time.Minute},
		{name: "expire lengthens a shorter ttl", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"1s"}`}, {"expire", `{"key":"a","ttl":"2m"}`}}, min: 110 * time.Second, max: 2 * time.Minute},
		{name: "set xx gives the key the new ttl", config: `{}`,
			setup: []step{{"set", `{"key":"a","value":"1","ttl":"1h"}`}, {"set", `{"key":"a","value":"2","ttl":"2m","mode":"xx"}`}}, min: 110 * time.Second, max: 2 * time.Minute},
		{name: "mset without a ttl gives its keys default_ttl", config: `{"default_ttl":"1h"}`,
			setup: []step{{"mset", `{"values":{"a":"1","b":"2"}}`}}, min: 59 * time.Minute, max: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, inst := open(t, tt.config)
			for _, s := range tt.setup {
				mustCall(t, inst, s.op, s.args)
			}
			var res sdk.KVTTLResult
			if err := json.Unmarshal([]byte(mustCall(t, inst, "ttl", `{"key":"a"}`)), &res); err != nil {
				t.Fatal(err)
			}
			if !res.Found {
				t.Fatalf("ttl: key not found")
			}
			left, err := time.ParseDuration(res.TTL)
			if err != nil {
				t.Fatalf("ttl %q is not a duration: %v", res.TTL, err)
			}
			if left < tt.min || left > tt.max {
				t.Errorf("ttl = %s, want between %s and %s", left, tt.min, tt.max)
			}
		})
	}
}

type statsResult struct {
	Entries      int    `json:"entries"`
	Hits         uint64 `json:"hits"`
	Misses       uint64 `json:"misses"`
	Evictions    uint64 `json:"evictions"`
	WeightedSize uint64 `json:"weighted_size"`
}

func stats(t *testing.T, inst sdk.Instance) statsResult {
	t.Helper()
	var s statsResult
	if err := json.Unmarshal([]byte(mustCall(t, inst, "stats", `{}`)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMemoryBoundsEvictEntriesAndCountEvictions(t *testing.T) {
	const writes = 200
	tests := []struct {
		name  string
		cfg   string
		check func(t *testing.T, s statsResult)
	}{
		{name: "max_entries bounds the number of entries", cfg: `{"max_entries":10}`,
			check: func(t *testing.T, s statsResult) {
				if s.Entries > 10 {
					t.Errorf("entries = %d, want at most 10", s.Entries)
				}
			}},
		{name: "max_bytes bounds the weighted size", cfg: `{"max_bytes":100}`,
			check: func(t *testing.T, s statsResult) {
				if s.WeightedSize > 100 {
					t.Errorf("weighted_size = %d, want at most 100", s.WeightedSize)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, inst := open(t, tt.cfg)
			for i := range writes {
				mustCall(t, inst, "set", fmt.Sprintf(`{"key":"key-%03d","value":"value"}`, i))
			}
			s := stats(t, inst)
			tt.check(t, s)
			if s.Evictions == 0 {
				t.Errorf("evictions = 0 after %d writes", writes)
			}
			if got := uint64(s.Entries) + s.Evictions; got != writes {
				t.Errorf("entries %d + evictions %d = %d, want %d", s.Entries, s.Evictions, got, writes)
			}
		})
	}
}

func TestMemoryIncrIsAtomicUnderConcurrency(t *testing.T) {
	const goroutines, each = 50, 100
	_, inst := open(t, `{}`)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, err := invoke(t.Context(), inst, "incr", `{"key":"n"}`); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("incr: %v", err)
	}
	want := fmt.Sprintf(`{"value":"%d","found":true}`, goroutines*each)
	if got := mustCall(t, inst, "get", `{"key":"n"}`); got != want {
		t.Errorf("after %d concurrent incrs, get = %s, want %s", goroutines*each, got, want)
	}
}

func TestMemoryClosedResourceIsUnavailable(t *testing.T) {
	ctx := t.Context()
	res, inst := open(t, `{"default_ttl":"1m"}`)
	mustCall(t, inst, "set", `{"key":"a","value":"1"}`)
	if err := res.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := res.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	closedArgs := map[string]string{
		"get": `{"key":"a"}`, "set": `{"key":"a","value":"1"}`, "delete": `{"keys":["a"]}`, "exists": `{"keys":["a"]}`,
		"expire": `{"key":"a","ttl":"1s"}`, "ttl": `{"key":"a"}`, "incr": `{"key":"a"}`, "decr": `{"key":"a"}`,
		"mget": `{"keys":["a"]}`, "mset": `{"values":{"a":"1"}}`, "scan": `{}`, "command": `{"args":["GET","a"]}`, "stats": `{}`,
	}
	for _, op := range sdk.KVOperations() {
		if _, ok := closedArgs[op.Name]; !ok {
			t.Fatalf("no arguments for %s", op.Name)
		}
	}
	for op, args := range closedArgs {
		t.Run(op+" on an instance of a closed resource is unavailable", func(t *testing.T) {
			_, err := call(t, inst, op, args)
			if sdk.KindOf(err) != sdk.KindUnavailable {
				t.Errorf("%s: error %v, want kind unavailable", op, err)
			}
		})
	}
	t.Run("check on an instance of a closed resource is unavailable", func(t *testing.T) {
		if err := inst.Check(ctx); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Errorf("Check: error %v, want kind unavailable", err)
		}
	})
	t.Run("open on a closed resource is unavailable", func(t *testing.T) {
		if _, err := res.Open(ctx); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Errorf("Open: error %v, want kind unavailable", err)
		}
	})
}

func TestMemoryClosedInstanceIsUnavailableButTheCacheLives(t *testing.T) {
	ctx := t.Context()
	res, inst := open(t, `{}`)
	mustCall(t, inst, "set", `{"key":"a","value":"1"}`)
	if err := inst.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, inst, "get", `{"key":"a"}`); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("get on a closed instance: error %v, want kind unavailable", err)
	}
	other, err := res.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if err := other.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if got := mustCall(t, other, "get", `{"key":"a"}`); got != `{"value":"1","found":true}` {
		t.Errorf("get on another instance = %s", got)
	}
}

func TestMemoryValidateConfig(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		wantAttrs  []string // attributes of the ConfigErrors, in order
		wantKind   sdk.Kind // for errors that are not ConfigErrors
		wantNoErrs bool
	}{
		{name: "an empty config is valid", config: `{}`, wantNoErrs: true},
		{name: "max_entries alone is valid", config: `{"max_entries":100,"default_ttl":"5m"}`, wantNoErrs: true},
		{name: "max_bytes alone is valid", config: `{"max_bytes":1048576}`, wantNoErrs: true},
		{name: "max_entries and max_bytes together are refused", config: `{"max_entries":1,"max_bytes":1}`, wantAttrs: []string{"max_bytes"}},
		{name: "a negative max_entries is refused", config: `{"max_entries":-1}`, wantAttrs: []string{"max_entries"}},
		{name: "a negative max_bytes is refused", config: `{"max_bytes":-1}`, wantAttrs: []string{"max_bytes"}},
		{name: "a negative default_ttl is refused", config: `{"default_ttl":"-1s"}`, wantAttrs: []string{"default_ttl"}},
		{name: "every problem is reported", config: `{"max_entries":-1,"max_bytes":-1,"default_ttl":"-1s"}`, wantAttrs: []string{"max_entries", "max_bytes", "default_ttl"}},
		{name: "an unknown attribute is an invalid argument", config: `{"size":1}`, wantKind: sdk.KindInvalidArgument},
		{name: "a value of the wrong type is an invalid argument", config: `{"max_entries":"ten"}`, wantKind: sdk.KindInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := memory.New()
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "memory", Name: "test", Config: json.RawMessage(tt.config)})
			switch {
			case tt.wantNoErrs:
				if err != nil {
					t.Fatalf("ValidateConfig(%s): %v", tt.config, err)
				}
				res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "memory", Name: "test", Config: json.RawMessage(tt.config)})
				if err != nil {
					t.Fatalf("Configure(%s) of a valid config: %v", tt.config, err)
				}
				_ = res.Close(t.Context())
				return
			case tt.wantKind != "":
				if sdk.KindOf(err) != tt.wantKind {
					t.Fatalf("ValidateConfig(%s): error %v, want kind %q", tt.config, err, tt.wantKind)
				}
				return
			}
			var got []string
			for _, e := range unjoin(err) {
				ce, ok := e.(*sdk.ConfigError)
				if !ok {
					t.Fatalf("ValidateConfig(%s): error %v (%T) is not a ConfigError", tt.config, e, e)
				}
				got = append(got, ce.Attribute)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantAttrs) {
				t.Errorf("ValidateConfig(%s) errors on %v, want %v", tt.config, got, tt.wantAttrs)
			}
			_, err = d.Configure(t.Context(), sdk.ConfigureRequest{Type: "memory", Name: "test", Config: json.RawMessage(tt.config)})
			if sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Errorf("Configure(%s): error %v, want kind invalid_argument", tt.config, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestMemoryInfoDescribesEverything(t *testing.T) {
	info := memory.New().Info()
	if info.Name != "memory" || info.Version != release.Version() {
		t.Errorf("Info = %s %s, want memory %s", info.Name, info.Version, release.Version())
	}
	typ, ok := info.Type("memory")
	if !ok {
		t.Fatal(`Info has no type "memory"`)
	}
	if typ.Description == "" || typ.Pooling != sdk.PoolingShared || !slices.Equal(typ.Capabilities, []string{sdk.CapabilityKV}) {
		t.Errorf("type memory: description %q, pooling %q, capabilities %v", typ.Description, typ.Pooling, typ.Capabilities)
	}
	if !strings.Contains(typ.Description, "no pub/sub") {
		t.Errorf("type memory: description %q does not say it has no pub/sub", typ.Description)
	}
	for _, a := range typ.Config.Attributes {
		if a.Description == "" {
			t.Errorf("config attribute %s has no description", a.Name)
		}
	}
	// The kv operations are the sdk's, exactly, so that Describe shows the
	// same contract as any other kv type; stats is memory's own.
	kv := sdk.KVOperations()
	if len(typ.Operations) != len(kv)+1 {
		t.Fatalf("%d operations, want the %d of the kv capability and stats", len(typ.Operations), len(kv))
	}
	for n, want := range kv {
		if !reflect.DeepEqual(typ.Operations[n], want) {
			t.Errorf("operation %d = %+v, want the sdk's %+v", n, typ.Operations[n], want)
		}
	}
	if stats := typ.Operations[len(kv)]; stats.Name != "stats" || !stats.Idempotent || stats.Description == "" {
		t.Errorf("last operation = %+v, want an idempotent, described stats", stats)
	}
	_, inst := open(t, `{}`)
	for _, op := range typ.Operations {
		t.Run("operation "+op.Name+" is implemented", func(t *testing.T) {
			_, err := call(t, inst, op.Name, `{}`)
			if op.Name != "command" && sdk.KindOf(err) == sdk.KindUnimplemented {
				t.Errorf("Invoke: %v", err)
			}
		})
	}
}

// An idle resource is cheap: configuring, opening and checking resources
// builds no cache, so starts no goroutine and allocates little; the first
// operation builds the cache of that resource only, and Close stops it.
func TestMemoryIdleResourcesBuildNoCache(t *testing.T) {
	ctx := t.Context()
	before := runtime.NumGoroutine()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	const n = 200
	var ress []sdk.Resource
	var insts []sdk.Instance
	for i := range n {
		res, err := memory.New().Configure(ctx, sdk.ConfigureRequest{Type: "memory", Name: fmt.Sprint("idle", i), Config: json.RawMessage(`{"max_entries":100,"default_ttl":"1m"}`)})
		if err != nil {
			t.Fatal(err)
		}
		inst, err := res.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := inst.Check(ctx); err != nil {
			t.Fatalf("Check of an idle resource: %v", err)
		}
		ress, insts = append(ress, res), append(insts, inst)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	if got := runtime.NumGoroutine(); got > before {
		t.Errorf("%d idle resources: %d goroutines, want no more than the %d before", n, got, before)
	}
	if per := (int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)) / n; per > 2048 {
		t.Errorf("an idle resource holds %d bytes of heap, want under 2 KiB", per)
	}
	if _, err := invoke(ctx, insts[0], "set", `{"key":"k","value":"v"}`); err != nil {
		t.Fatal(err)
	}
	got, err := invoke(ctx, insts[0], "get", `{"key":"k"}`)
	if err != nil || !strings.Contains(fmt.Sprint(got), "v") {
		t.Fatalf("get after set: %v, %v", got, err)
	}
	for _, res := range ress {
		if err := res.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := insts[1].Check(ctx); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("Check after Close: %v, want unavailable", err)
	}
	runtime.KeepAlive(insts)
}
