package redis_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// TestCallerMistakesAreNeverBackendFailures runs the kv mistakes every
// driver meets, and Redis's own, against the real standalone server and
// cluster: WRONGTYPE, keys in different slots, unknown commands, wrong
// arity, values that are not integers, increments that overflow.
func TestCallerMistakesAreNeverBackendFailures(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			inst := openKV(t, m.with(nil))
			p := prefix(t, m.admin)
			if _, err := invoke(t, inst, "command", map[string]any{"args": []string{"HSET", p + "hash", "f", "v"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := invoke(t, inst, "set", map[string]any{"key": p + "text", "value": "abc"}); err != nil {
				t.Fatal(err)
			}
			if _, err := invoke(t, inst, "set", map[string]any{"key": p + "big", "value": "9223372036854775807"}); err != nil {
				t.Fatal(err)
			}
			q := func(s string) string { return `"` + p + s + `"` }
			mistakes := append(append([]sdktest.Mistake(nil), sdktest.KVMistakes...),
				sdktest.Mistake{Name: "WRONGTYPE get of a hash", Op: "get", Args: `{"key":` + q("hash") + `}`},
				sdktest.Mistake{Name: "WRONGTYPE incr of a hash", Op: "incr", Args: `{"key":` + q("hash") + `}`},
				sdktest.Mistake{Name: "incr of text", Op: "incr", Args: `{"key":` + q("text") + `}`},
				sdktest.Mistake{Name: "incr past the largest integer", Op: "incr", Args: `{"key":` + q("big") + `}`},
				sdktest.Mistake{Name: "unknown command", Op: "command", Args: `{"args":["NOSUCHCOMMAND"]}`},
				sdktest.Mistake{Name: "wrong arity", Op: "command", Args: `{"args":["GET"]}`},
				sdktest.Mistake{Name: "syntax", Op: "command", Args: `{"args":["SET",` + q("k") + `,"v","BOGUS"]}`},
				sdktest.Mistake{Name: "no command", Op: "command", Args: `{"args":[]}`},
				sdktest.Mistake{Name: "WRONGTYPE through command", Op: "command", Args: `{"args":["LPUSH",` + q("hash") + `,"x"]}`},
				sdktest.Mistake{Name: "expire out of range", Op: "command", Args: `{"args":["EXPIRE",` + q("text") + `,"99999999999999999999"]}`},
				sdktest.Mistake{Name: "huge key", Op: "get", Args: `{"key":"` + strings.Repeat("k", 1<<20) + `"}`, Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindNotFound, ""}},
			)
			if m.name == "cluster" {
				mistakes = append(mistakes, sdktest.Mistake{Name: "CROSSSLOT", Op: "command", Args: `{"args":["MGET","{a}x","{b}y"]}`})
			}
			for _, mk := range mistakes {
				t.Run(mk.Name, func(t *testing.T) {
					_, err := invoke(t, inst, mk.Op, json.RawMessage(mk.Args))
					if err == nil && len(mk.Want) > 0 && mk.Want[len(mk.Want)-1] == "" {
						return // the server takes it: not a mistake here
					}
					sdktest.CheckMistake(t, mk, err)
				})
			}
		})
	}
}
