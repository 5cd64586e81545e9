package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

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

// call invokes op with args and returns the result as JSON.
func call(t *testing.T, inst sdk.Instance, op, args string) (string, error) {
	t.Helper()
	res, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
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
		{name: "get of a missing key is not found",
			op: "get", args: `{"key":"a"}`, wantKind: sdk.KindNotFound},
		{name: "get without a key is an invalid argument",
			op: "get", args: `{}`, wantKind: sdk.KindInvalidArgument},
		{name: "get of an empty key is an invalid argument",
			op: "get", args: `{"key":""}`, wantKind: sdk.KindInvalidArgument},
		{name: "set returns an empty object",
			op: "set", args: `{"key":"a","value":"x"}`, want: `{}`},
		{name: "set replaces an earlier value", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"set", `{"key":"a","value":"2"}`}},
			op: "get", args: `{"key":"a"}`, want: `{"value":"2","found":true}`},
		{name: "set with a negative ttl is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","ttl":"-1s"}`, wantKind: sdk.KindInvalidArgument},
		{name: "set with a ttl that is not a duration is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","ttl":"soon"}`, wantKind: sdk.KindInvalidArgument},
		{name: "set with an unknown argument is an invalid argument",
			op: "set", args: `{"key":"a","value":"x","nx":true}`, wantKind: sdk.KindInvalidArgument},
		{name: "delete of a present key reports it deleted", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "delete", args: `{"key":"a"}`, want: `{"deleted":true}`},
		{name: "delete of a missing key reports nothing deleted",
			op: "delete", args: `{"key":"a"}`, want: `{"deleted":false}`},
		{name: "deleted keys are gone", setup: []step{{"set", `{"key":"a","value":"1"}`}, {"delete", `{"key":"a"}`}},
			op: "get", args: `{"key":"a"}`, wantKind: sdk.KindNotFound},
		{name: "exists is true for a present key", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "exists", args: `{"key":"a"}`, want: `{"exists":true}`},
		{name: "exists is false for a missing key",
			op: "exists", args: `{"key":"a"}`, want: `{"exists":false}`},
		{name: "ttl is empty for a key that does not expire", setup: []step{{"set", `{"key":"a","value":"1"}`}},
			op: "ttl", args: `{"key":"a"}`, want: `{"ttl":""}`},
		{name: "ttl of a missing key is not found",
			op: "ttl", args: `{"key":"a"}`, wantKind: sdk.KindNotFound},
		{name: "incr of a missing key counts from zero",
			op: "incr", args: `{"key":"n"}`, want: `{"value":1}`},
		{name: "incr adds by to an integer value", setup: []step{{"set", `{"key":"n","value":"40"}`}},
			op: "incr", args: `{"key":"n","by":2}`, want: `{"value":42}`},
		{name: "incr with a negative by subtracts", setup: []step{{"set", `{"key":"n","value":"1"}`}},
			op: "incr", args: `{"key":"n","by":-3}`, want: `{"value":-2}`},
		{name: "incr stores the new value as a string", setup: []step{{"incr", `{"key":"n","by":7}`}},
			op: "get", args: `{"key":"n"}`, want: `{"value":"7","found":true}`},
		{name: "incr of a value that is not an integer is a failed precondition", setup: []step{{"set", `{"key":"n","value":"seven"}`}},
			op: "incr", args: `{"key":"n"}`, wantKind: sdk.KindFailedPrecondition},
		{name: "incr that would overflow is a failed precondition", setup: []step{{"set", `{"key":"n","value":"9223372036854775807"}`}},
			op: "incr", args: `{"key":"n"}`, wantKind: sdk.KindFailedPrecondition},
		{name: "incr with a by that is not an integer is an invalid argument",
			op: "incr", args: `{"key":"n","by":"one"}`, wantKind: sdk.KindInvalidArgument},
		{name: "stats counts entries, hits and misses",
			setup: []step{{"set", `{"key":"a","value":"1"}`}, {"get", `{"key":"a"}`}, {"get", `{"key":"a"}`}, {"get", `{"key":"b"}`}},
			op:    "stats", args: `{}`, want: `{"entries":1,"hits":2,"misses":1,"evictions":0,"weighted_size":0}`},
		{name: "stats reports the weighted size when max_bytes is set", config: `{"max_bytes":1000}`,
			setup: []step{{"set", `{"key":"ab","value":"cde"}`}, {"set", `{"key":"f","value":""}`}},
			op:    "stats", args: `{}`, want: `{"entries":2,"hits":0,"misses":0,"evictions":0,"weighted_size":6}`},
		{name: "an unknown operation is unimplemented",
			op: "scan", args: `{}`, wantKind: sdk.KindUnimplemented},
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
		set    string
	}{
		{name: "the ttl argument of set makes an entry expire", config: `{}`, set: `{"key":"a","value":"1","ttl":"100ms"}`},
		{name: "default_ttl makes an entry set without ttl expire", config: `{"default_ttl":"100ms"}`, set: `{"key":"a","value":"1"}`},
		{name: "the ttl argument overrides a longer default_ttl", config: `{"default_ttl":"1h"}`, set: `{"key":"a","value":"1","ttl":"100ms"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, inst := open(t, tt.config)
			mustCall(t, inst, "set", tt.set)
			if got := mustCall(t, inst, "exists", `{"key":"a"}`); got != `{"exists":true}` {
				t.Fatalf("right after set, exists = %s", got)
			}
			time.Sleep(300 * time.Millisecond)
			if _, err := call(t, inst, "get", `{"key":"a"}`); sdk.KindOf(err) != sdk.KindNotFound {
				t.Errorf("after the ttl, get: error %v, want kind not_found", err)
			}
			if got := mustCall(t, inst, "exists", `{"key":"a"}`); got != `{"exists":false}` {
				t.Errorf("after the ttl, exists = %s", got)
			}
			if _, err := call(t, inst, "ttl", `{"key":"a"}`); sdk.KindOf(err) != sdk.KindNotFound {
				t.Errorf("after the ttl, ttl: error %v, want kind not_found", err)
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
		{name: "incr of a missing key gives it default_ttl", config: `{"default_ttl":"1h"}`,
			setup: []step{{"incr", `{"key":"a"}`}}, min: 59 * time.Minute, max: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, inst := open(t, tt.config)
			for _, s := range tt.setup {
				mustCall(t, inst, s.op, s.args)
			}
			var res struct{ TTL string }
			if err := json.Unmarshal([]byte(mustCall(t, inst, "ttl", `{"key":"a"}`)), &res); err != nil {
				t.Fatal(err)
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
				if _, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "incr", Args: json.RawMessage(`{"key":"n"}`)}); err != nil {
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
	for _, op := range []string{"get", "set", "delete", "exists", "ttl", "incr", "stats"} {
		t.Run(op+" on an instance of a closed resource is unavailable", func(t *testing.T) {
			_, err := call(t, inst, op, `{"key":"a","value":"1"}`)
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
			err := d.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "memory", Name: "test", Config: json.RawMessage(tt.config)})
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
	if info.Name != "memory" || info.Version != "0.1.0" {
		t.Errorf("Info = %s %s, want memory 0.1.0", info.Name, info.Version)
	}
	typ, ok := info.Type("memory")
	if !ok {
		t.Fatal(`Info has no type "memory"`)
	}
	if typ.Description == "" || typ.Pooling != sdk.PoolingShared || fmt.Sprint(typ.Capabilities) != "[kv]" {
		t.Errorf("type memory: description %q, pooling %q, capabilities %v", typ.Description, typ.Pooling, typ.Capabilities)
	}
	for _, a := range typ.Config.Attributes {
		if a.Description == "" {
			t.Errorf("config attribute %s has no description", a.Name)
		}
	}
	wantIdempotent := map[string]bool{"get": true, "set": true, "delete": true, "exists": true, "ttl": true, "incr": false, "stats": true}
	_, inst := open(t, `{}`)
	for _, op := range typ.Operations {
		t.Run("operation "+op.Name+" is described and implemented", func(t *testing.T) {
			if op.Description == "" {
				t.Error("no description")
			}
			want, known := wantIdempotent[op.Name]
			if !known {
				t.Fatalf("unexpected operation")
			}
			if op.Idempotent != want {
				t.Errorf("Idempotent = %v, want %v", op.Idempotent, want)
			}
			for _, a := range op.Args.Attributes {
				if a.Description == "" {
					t.Errorf("argument %s has no description", a.Name)
				}
			}
			if _, err := call(t, inst, op.Name, `{}`); sdk.KindOf(err) == sdk.KindUnimplemented {
				t.Errorf("Invoke: %v", err)
			}
		})
	}
	if len(typ.Operations) != len(wantIdempotent) {
		t.Errorf("%d operations, want %d", len(typ.Operations), len(wantIdempotent))
	}
}
