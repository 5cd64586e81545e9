package memory_test

import (
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// TestMemoryCallerMistakesAreInvalidArguments runs the kv mistakes every
// driver meets, and memory's own: an integer operation on a value that is
// not one, an increment that overflows, a pattern that does not parse.
func TestMemoryCallerMistakesAreInvalidArguments(t *testing.T) {
	_, inst := open(t, `{}`)
	mustCall(t, inst, "set", `{"key":"text","value":"abc"}`)
	mustCall(t, inst, "set", `{"key":"big","value":"9223372036854775807"}`)
	mistakes := append(append([]sdktest.Mistake(nil), sdktest.KVMistakes...),
		sdktest.Mistake{Name: "incr of text", Op: "incr", Args: `{"key":"text"}`},
		sdktest.Mistake{Name: "incr past the largest integer", Op: "incr", Args: `{"key":"big"}`},
		sdktest.Mistake{Name: "decr past the smallest integer", Op: "decr", Args: `{"key":"x","by":-9223372036854775808}`},
		sdktest.Mistake{Name: "pattern with an open set", Op: "scan", Args: `{"pattern":"a[bc"}`},
		sdktest.Mistake{Name: "pattern ending in a lone backslash", Op: "scan", Args: `{"pattern":"a\\"}`},
		sdktest.Mistake{Name: "raw command", Op: "command", Args: `{"args":["HSET","h","f","v"]}`, Want: []sdk.Kind{sdk.KindUnimplemented}},
	)
	sdktest.CheckMistakes(t, &sdktest.Instance{Instance: inst, Type: memoryType}, mistakes)
}
