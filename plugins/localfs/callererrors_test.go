package localfs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// backendKinds are the kinds that say the backend is failing: the host's
// circuit breaker counts them. A caller's mistake must never have one, nor
// internal or unknown.
var backendKinds = map[sdk.Kind]bool{
	sdk.KindUnavailable: true, sdk.KindTimeout: true, sdk.KindInternal: true, sdk.KindUnknown: true,
}

// TestLocalFSCallerMistakesAreNeverBackendFailures goes through every
// operation with the key mistakes a caller can make: names too long for
// the file system (ENAMETOOLONG), keys too long as a whole, keys through a
// file (ENOTDIR), a directory where an object is wanted, a move onto an
// existing object.
func TestLocalFSCallerMistakesAreNeverBackendFailures(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"f.txt": "x", "d/inner.txt": "y", "e/.keep": ""})
	_, inst := open(t, dir)
	ctx := t.Context()
	long := strings.Repeat("n", 300) // one name over NAME_MAX (255)
	// 5,501 bytes, over the longest key (1,024).
	deep := strings.Repeat("abcdefghij/", 500) + "x"
	tests := []struct {
		name string
		op   string
		args map[string]any
		want sdk.Kind
	}{
		{"stat of a 300-byte name", "stat", map[string]any{"key": long}, sdk.KindInvalidArgument},
		{"stat of a missing 5,501-byte key", "stat", map[string]any{"key": deep}, sdk.KindInvalidArgument},
		{"delete of a 300-byte name", "delete", map[string]any{"keys": []string{long}}, sdk.KindInvalidArgument},
		{"move to a 300-byte name", "move", map[string]any{"from": "f.txt", "to": long}, sdk.KindInvalidArgument},
		{"move from a 300-byte name", "move", map[string]any{"from": long, "to": "g.txt"}, sdk.KindInvalidArgument},
		{"stat through a file", "stat", map[string]any{"key": "f.txt/x"}, sdk.KindNotFound},
		{"delete through a file", "delete", map[string]any{"keys": []string{"f.txt/x"}}, ""},
		{"move from through a file", "move", map[string]any{"from": "f.txt/x", "to": "g"}, sdk.KindNotFound},
		{"stat of a directory", "stat", map[string]any{"key": "d"}, sdk.KindNotFound},
		{"move of a missing object", "move", map[string]any{"from": "nope.txt", "to": "g.txt"}, sdk.KindNotFound},
		{"move onto an existing object", "move", map[string]any{"from": "f.txt", "to": "d/inner.txt"}, sdk.KindAlreadyExists},
		{"move of a directory", "move", map[string]any{"from": "d", "to": "d2"}, sdk.KindNotFound},
		{"move onto a directory", "move", map[string]any{"from": "f.txt", "to": "e", "overwrite": true}, sdk.KindFailedPrecondition},
		{"move through a file", "move", map[string]any{"from": "d/inner.txt", "to": "f.txt/x"}, sdk.KindFailedPrecondition},
		{"copy through a file", "copy", map[string]any{"from": "d/inner.txt", "to": "f.txt/x"}, sdk.KindFailedPrecondition},
		{"copy onto a directory", "copy", map[string]any{"from": "f.txt", "to": "d"}, sdk.KindFailedPrecondition},
		{"copy of a directory", "copy", map[string]any{"from": "d", "to": "x"}, sdk.KindNotFound},
		{"stat of a missing object", "stat", map[string]any{"key": "missing"}, sdk.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(t, inst, tt.op, tt.args)
			if k := sdk.KindOf(err); k != tt.want {
				t.Fatalf("error %.300v (kind %q), want kind %q", err, k, tt.want)
			}
		})
	}
	streams := []struct {
		name, op, path string
		want           sdk.Kind
	}{
		{"get of a 300-byte name", "get", long, sdk.KindInvalidArgument},
		{"put of a 300-byte name", "put", long, sdk.KindInvalidArgument},
		{"put of a 300-byte name in a new directory", "put", "new/" + long, sdk.KindInvalidArgument},
		{"put of a 300-byte directory name", "put", long + "/x", sdk.KindInvalidArgument},
		{"get of a 5,501-byte key", "get", deep, sdk.KindInvalidArgument},
		{"get through a file", "get", "f.txt/x", sdk.KindNotFound},
		{"put through a file", "put", "f.txt/x", sdk.KindFailedPrecondition},
		{"get of a directory", "get", "d", sdk.KindNotFound},
		{"put onto a directory", "put", "d", sdk.KindFailedPrecondition},
	}
	for _, tt := range streams {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.op == "get" {
				_, _, err = get(ctx, inst, tt.path)
			} else {
				_, err = put(ctx, inst, tt.path, strings.NewReader("data"))
			}
			if k := sdk.KindOf(err); k != tt.want {
				t.Fatalf("error %.300v (kind %q), want kind %q", err, k, tt.want)
			}
		})
	}
	// Whatever a name holds, the answer is a caller's kind.
	for _, name := range []string{long + ".txt", "a/" + long, strings.Repeat("é", 200), "x\ny", "d/" + long + "/y", strings.Repeat("a/", 3000)} {
		for _, op := range []string{"stat", "delete", "list"} {
			t.Run(fmt.Sprintf("%s of a %d-byte name", op, len(name)), func(t *testing.T) {
				a := map[string]any{"key": name}
				switch op {
				case "list":
					a = map[string]any{"prefix": name}
				case "delete":
					a = map[string]any{"keys": []string{name}}
				}
				_, err := call(t, inst, op, a)
				if err != nil && backendKinds[sdk.KindOf(err)] {
					t.Fatalf("error %.300v has kind %q, which counts as a backend failure", err, sdk.KindOf(err))
				}
			})
		}
	}
}
