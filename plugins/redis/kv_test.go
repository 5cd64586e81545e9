package redis_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestKVOperations runs every kv operation, with the semantics of sdk/kv.go,
// against a standalone server and a cluster, and on a redis_session's
// connection.
func TestKVOperations(t *testing.T) {
	type target struct {
		mode
		typ string
	}
	targets := []target{{standalone(t), redis.TypeName}, {cluster(t), redis.TypeName}, {standalone(t), redis.SessionTypeName}}
	targets[2].name = "session"
	for _, tg := range targets {
		m := tg.mode
		t.Run(m.name, func(t *testing.T) {
			inst := open(t, configure(t, tg.typ, m.config))
			p := prefix(t, m.admin)
			k := func(name string) string { return p + name }

			t.Run("GetSet", func(t *testing.T) {
				if r := call[sdk.KVGetResult](t, inst, "get", args{"key": k("missing")}); r.Found || r.Value != "" {
					t.Fatalf("get of a missing key: %+v", r)
				}
				for _, v := range []string{"v1", "", "ünïcødé\nline\t\"quoted\"\x00nul"} {
					if r := call[sdk.KVSetResult](t, inst, "set", args{"key": k("a"), "value": v}); !r.OK {
						t.Fatalf("set: %+v", r)
					}
					if r := call[sdk.KVGetResult](t, inst, "get", args{"key": k("a")}); !r.Found || r.Value != v {
						t.Fatalf("get %q: %+v", v, r)
					}
					if got := m.admin.Get(t.Context(), k("a")).Val(); got != v {
						t.Fatalf("the server holds %q, want %q", got, v)
					}
				}
				fails(t, inst, "get", args{"key": ""}, sdk.KindInvalidArgument, "")
			})

			t.Run("SetModes", func(t *testing.T) {
				key := k("modes")
				if r := call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "1", "mode": "xx"}); r.OK {
					t.Fatal("set xx of a missing key stored it")
				}
				if m.admin.Exists(t.Context(), key).Val() != 0 {
					t.Fatal("set xx of a missing key created it")
				}
				if r := call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "1", "mode": "nx"}); !r.OK {
					t.Fatal("set nx of a missing key did not store it")
				}
				if r := call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "2", "mode": "nx"}); r.OK {
					t.Fatal("set nx of a present key stored it")
				}
				if r := call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "3", "mode": "XX"}); !r.OK {
					t.Fatal("set xx of a present key did not store it")
				}
				if got := m.admin.Get(t.Context(), key).Val(); got != "3" {
					t.Fatalf("value %q, want 3", got)
				}
				fails(t, inst, "set", args{"key": key, "value": "x", "mode": "zz"}, sdk.KindInvalidArgument, "")
				fails(t, inst, "set", args{"key": key, "value": "x", "ttl": "-1s"}, sdk.KindInvalidArgument, "")
			})

			t.Run("SetTTL", func(t *testing.T) {
				key := k("ttl")
				call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "v", "ttl": "1m"})
				r := call[sdk.KVTTLResult](t, inst, "ttl", args{"key": key})
				d, err := time.ParseDuration(r.TTL)
				if !r.Found || err != nil || d <= 55*time.Second || d > time.Minute {
					t.Fatalf("ttl after set with ttl 1m: %+v", r)
				}
				if pt := m.admin.PTTL(t.Context(), key).Val(); pt <= 55*time.Second || pt > time.Minute {
					t.Fatalf("the server's PTTL is %s", pt)
				}
				// A set without ttl makes the key persistent, as SET does.
				call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "v"})
				if r := call[sdk.KVTTLResult](t, inst, "ttl", args{"key": key}); !r.Found || r.TTL != "" {
					t.Fatalf("ttl of a persistent key: %+v", r)
				}
				// Expiry takes effect.
				call[sdk.KVSetResult](t, inst, "set", args{"key": key, "value": "v", "ttl": "50ms"})
				time.Sleep(120 * time.Millisecond)
				if r := call[sdk.KVGetResult](t, inst, "get", args{"key": key}); r.Found {
					t.Fatalf("get of an expired key: %+v", r)
				}
				if r := call[sdk.KVTTLResult](t, inst, "ttl", args{"key": key}); r.Found {
					t.Fatalf("ttl of an expired key: %+v", r)
				}
			})

			t.Run("DeleteExists", func(t *testing.T) {
				keys := []string{k("d1"), k("d2"), k("d3")}
				for _, key := range keys[:2] {
					m.admin.Set(t.Context(), key, "x", 0)
				}
				if r := call[sdk.KVCountResult](t, inst, "exists", args{"keys": keys}); r.Count != 2 {
					t.Fatalf("exists: %+v, want 2", r)
				}
				// EXISTS counts a key as often as it is named.
				if r := call[sdk.KVCountResult](t, inst, "exists", args{"keys": []string{keys[0], keys[0], keys[2]}}); r.Count != 2 {
					t.Fatalf("exists with a repeated key: %+v, want 2", r)
				}
				if r := call[sdk.KVCountResult](t, inst, "delete", args{"keys": keys}); r.Count != 2 {
					t.Fatalf("delete: %+v, want 2", r)
				}
				if r := call[sdk.KVCountResult](t, inst, "delete", args{"keys": keys}); r.Count != 0 {
					t.Fatalf("delete again: %+v, want 0", r)
				}
				if n := m.admin.Exists(t.Context(), keys[0]).Val() + m.admin.Exists(t.Context(), keys[1]).Val(); n != 0 {
					t.Fatalf("%d deleted keys are still there", n)
				}
				fails(t, inst, "delete", args{"keys": []string{}}, sdk.KindInvalidArgument, "")
				fails(t, inst, "exists", args{"keys": []string{k("x"), ""}}, sdk.KindInvalidArgument, "")
			})

			t.Run("ExpireAndTTL", func(t *testing.T) {
				key := k("exp")
				if r := call[sdk.KVCountResult](t, inst, "expire", args{"key": key, "ttl": "1m"}); r.Count != 0 {
					t.Fatalf("expire of a missing key: %+v", r)
				}
				if r := call[sdk.KVCountResult](t, inst, "expire", args{"key": key, "ttl": "0s"}); r.Count != 0 {
					t.Fatalf("expire 0s of a missing key: %+v", r)
				}
				if r := call[sdk.KVTTLResult](t, inst, "ttl", args{"key": key}); r.Found || r.TTL != "" {
					t.Fatalf("ttl of a missing key: %+v", r)
				}
				m.admin.Set(t.Context(), key, "v", 0)
				if r := call[sdk.KVTTLResult](t, inst, "ttl", args{"key": key}); !r.Found || r.TTL != "" {
					t.Fatalf("ttl of a persistent key: %+v", r)
				}
				if r := call[sdk.KVCountResult](t, inst, "expire", args{"key": key, "ttl": "1500ms"}); r.Count != 1 {
					t.Fatalf("expire: %+v", r)
				}
				r := call[sdk.KVTTLResult](t, inst, "ttl", args{"key": key})
				if d, err := time.ParseDuration(r.TTL); !r.Found || err != nil || d <= time.Second || d > 1500*time.Millisecond {
					t.Fatalf("ttl after expire 1500ms: %+v", r)
				}
				// 0s removes the expiry (PERSIST).
				if r := call[sdk.KVCountResult](t, inst, "expire", args{"key": key, "ttl": "0s"}); r.Count != 1 {
					t.Fatalf("expire 0s: %+v", r)
				}
				if pt := m.admin.PTTL(t.Context(), key).Val(); pt != -1 {
					t.Fatalf("PTTL after expire 0s: %v, want -1 (no expiry)", pt)
				}
				// Also for a key that had none.
				if r := call[sdk.KVCountResult](t, inst, "expire", args{"key": key, "ttl": "0s"}); r.Count != 1 {
					t.Fatalf("expire 0s of a persistent key: %+v", r)
				}
				fails(t, inst, "expire", args{"key": key, "ttl": "-5s"}, sdk.KindInvalidArgument, "")
			})

			t.Run("IncrDecr", func(t *testing.T) {
				key := k("n")
				steps := []struct {
					op   string
					by   any
					want int64
				}{{"incr", nil, 1}, {"incr", 5, 6}, {"decr", 2, 4}, {"decr", nil, 3}, {"incr", -10, -7}, {"decr", -7, 0}}
				for _, s := range steps {
					a := args{"key": key}
					if s.by != nil {
						a["by"] = s.by
					}
					if r := call[sdk.KVIncrResult](t, inst, s.op, a); r.Value != s.want {
						t.Fatalf("%s by %v: %d, want %d", s.op, s.by, r.Value, s.want)
					}
				}
				m.admin.Set(t.Context(), k("text"), "not a number", 0)
				fails(t, inst, "incr", args{"key": k("text")}, sdk.KindInvalidArgument, "ERR")
				m.admin.Set(t.Context(), k("max"), strconv.FormatInt(1<<63-1, 10), 0)
				fails(t, inst, "incr", args{"key": k("max")}, sdk.KindInvalidArgument, "ERR")
				m.admin.HSet(t.Context(), k("hash"), "f", "v")
				fails(t, inst, "incr", args{"key": k("hash")}, sdk.KindInvalidArgument, "WRONGTYPE")
			})

			t.Run("MGetMSet", func(t *testing.T) {
				values := map[string]string{}
				for i := range 20 {
					values[k(fmt.Sprintf("m%02d", i))] = fmt.Sprintf("value %d", i)
				}
				if r := call[sdk.KVSetResult](t, inst, "mset", args{"values": values}); !r.OK {
					t.Fatalf("mset: %+v", r)
				}
				keys := []string{k("m03"), k("missing"), k("m17"), k("m03"), k("m00")}
				r := call[sdk.KVMGetResult](t, inst, "mget", args{"keys": keys})
				want := []sdk.KVGetResult{
					{Value: "value 3", Found: true}, {}, {Value: "value 17", Found: true},
					{Value: "value 3", Found: true}, {Value: "value 0", Found: true},
				}
				if !slices.Equal(r.Values, want) {
					t.Fatalf("mget:\n got %+v\nwant %+v", r.Values, want)
				}
				for key, v := range values {
					if got := m.admin.Get(t.Context(), key).Val(); got != v {
						t.Fatalf("%s holds %q, want %q", key, got, v)
					}
					if pt := m.admin.PTTL(t.Context(), key).Val(); pt != -1 {
						t.Fatalf("%s has PTTL %v after mset without ttl", key, pt)
					}
				}
				// With a ttl every key gets it.
				call[sdk.KVSetResult](t, inst, "mset", args{"values": map[string]string{k("t1"): "a", k("t2"): "b"}, "ttl": "30s"})
				for _, key := range []string{k("t1"), k("t2")} {
					if pt := m.admin.PTTL(t.Context(), key).Val(); pt <= 25*time.Second || pt > 30*time.Second {
						t.Fatalf("%s has PTTL %v after mset with ttl 30s", key, pt)
					}
				}
				fails(t, inst, "mget", args{"keys": []string{}}, sdk.KindInvalidArgument, "")
				fails(t, inst, "mset", args{"values": map[string]string{}}, sdk.KindInvalidArgument, "")
				fails(t, inst, "mset", args{"values": map[string]string{"": "x"}}, sdk.KindInvalidArgument, "")
			})

			t.Run("Scan", func(t *testing.T) {
				want := map[string]bool{}
				for i := range 57 {
					key := k(fmt.Sprintf("scan:%03d", i))
					want[key] = true
					m.admin.Set(t.Context(), key, "x", 0)
				}
				m.admin.Set(t.Context(), k("other"), "x", 0)
				got := map[string]bool{}
				cursor, pages := "", 0
				for {
					r := call[sdk.KVScanResult](t, inst, "scan", args{"pattern": k("scan:*"), "cursor": cursor, "count": 10})
					pages++
					for _, key := range r.Keys {
						if !want[key] {
							t.Fatalf("scan returned %q, which does not match the pattern", key)
						}
						got[key] = true // SCAN may return a key twice
					}
					if r.Cursor == "" {
						break
					}
					cursor = r.Cursor
					if pages > 1000 {
						t.Fatal("scan does not end")
					}
				}
				if len(got) != len(want) {
					t.Fatalf("scan found %d of %d keys", len(got), len(want))
				}
				if pages < 2 {
					t.Fatalf("scan with count 10 returned %d keys in %d page(s)", len(got), pages)
				}
				// A pattern that matches nothing still ends.
				r := call[sdk.KVScanResult](t, inst, "scan", args{"pattern": k("nothing:*"), "count": 1000000})
				if len(r.Keys) != 0 || r.Cursor != "" {
					t.Fatalf("scan of nothing: %+v", r)
				}
				fails(t, inst, "scan", args{"cursor": "not-a-cursor"}, sdk.KindInvalidArgument, "")
				fails(t, inst, "scan", args{"count": 0}, sdk.KindInvalidArgument, "")
			})

			t.Run("Command", func(t *testing.T) {
				h := k("h")
				if r := call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"HSET", h, "f1", "v1", "f2", "v2"}}); r.Result != float64(2) {
					t.Fatalf("HSET: %#v", r.Result)
				}
				r := call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"HGETALL", h}})
				if obj, ok := r.Result.(map[string]any); !ok || obj["f1"] != "v1" || obj["f2"] != "v2" || len(obj) != 2 {
					t.Fatalf("HGETALL: %#v", r.Result)
				}
				l := k("l")
				call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"RPUSH", l, "a", "b", "c"}})
				r = call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"LRANGE", l, "0", "-1"}})
				if arr, ok := r.Result.([]any); !ok || len(arr) != 3 || arr[0] != "a" || arr[2] != "c" {
					t.Fatalf("LRANGE: %#v", r.Result)
				}
				r = call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"GET", k("missing")}})
				if r.Result != nil {
					t.Fatalf("GET of a missing key: %#v, want null", r.Result)
				}
				z := k("z")
				call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"ZADD", z, "1.5", "m"}})
				r = call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"ZSCORE", z, "m"}})
				if r.Result != 1.5 && r.Result != "1.5" {
					t.Fatalf("ZSCORE: %#v", r.Result)
				}
				r = call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"EXISTS", h}})
				if r.Result != float64(1) {
					t.Fatalf("EXISTS: %#v", r.Result)
				}
				fails(t, inst, "command", args{"args": []string{"GET", h}}, sdk.KindInvalidArgument, "WRONGTYPE")
				fails(t, inst, "command", args{"args": []string{"NOSUCHCOMMAND", "x"}}, sdk.KindInvalidArgument, "ERR")
				fails(t, inst, "command", args{"args": []string{"GET"}}, sdk.KindInvalidArgument, "ERR")
				fails(t, inst, "command", args{"args": []string{}}, sdk.KindInvalidArgument, "")
				for _, forbidden := range [][]string{{"select", "1"}, {"SUBSCRIBE", "c"}, {"MULTI"}, {"WATCH", h}, {"CLIENT", "REPLY", "OFF"}} {
					err := fails(t, inst, "command", args{"args": forbidden}, sdk.KindInvalidArgument, "")
					if !strings.Contains(err.Error(), "not allowed") {
						t.Fatalf("%v: %v", forbidden, err)
					}
				}
			})

			t.Run("PingAndPublish", func(t *testing.T) {
				if r := call[map[string]bool](t, inst, "ping", args{}); !r["ok"] {
					t.Fatalf("ping: %v", r)
				}
				if tg.typ == redis.SessionTypeName {
					// The session has no publish: the SDK answers an
					// operation the type lacks as unimplemented (the
					// host refuses it as invalid_argument before it
					// reaches the plugin).
					fails(t, inst, "publish", args{"channel": k("nobody"), "message": "m"}, sdk.KindUnimplemented, "")
					return
				}
				if r := call[sdk.KVCountResult](t, inst, "publish", args{"channel": k("nobody"), "message": "m"}); r.Count != 0 {
					t.Fatalf("publish with no subscriber: %+v", r)
				}
			})
		})
	}
}

// TestDatabaseIsSelected checks that a standalone resource uses its
// configured database.
func TestDatabaseIsSelected(t *testing.T) {
	m := standalone(t)
	inst := openKV(t, m.with(map[string]any{"database": 3}))
	p := prefix(t, m.admin)
	call[sdk.KVSetResult](t, inst, "set", args{"key": p + "db", "value": "three"})
	if n := m.admin.Exists(t.Context(), p+"db").Val(); n != 0 {
		t.Fatal("the key went to database 0")
	}
	admin3 := clientFor(t, redisAddr(t), 3)
	if got := admin3.Get(t.Context(), p+"db").Val(); got != "three" {
		t.Fatalf("database 3 holds %q", got)
	}
	admin3.Del(t.Context(), p+"db")
}
