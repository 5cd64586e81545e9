package localfs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// invoke calls a non-streaming operation and decodes its result into R.
func invoke[R any](t *testing.T, inst instance, op string, a map[string]any) (R, error) {
	t.Helper()
	var r R
	out, err := call(t, inst, op, a)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%s result %s: %v", op, out, err)
	}
	return r, nil
}

func listKeys(t *testing.T, inst instance, a map[string]any) ([]string, []string, string) {
	t.Helper()
	page, err := invoke[sdk.BlobListResult](t, inst, "list", a)
	if err != nil {
		t.Fatalf("list %v: %v", a, err)
	}
	var keys []string
	for _, o := range page.Objects {
		keys = append(keys, o.Key)
	}
	return keys, page.Prefixes, page.Token
}

func TestLocalFSRefusesKeysOutsideTheRoot(t *testing.T) {
	outside := t.TempDir()
	makeTree(t, outside, map[string]string{"secret": "top secret"})
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a/b.txt": "inside"})
	relOutside, err := filepath.Rel(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"link":       filepath.Join(outside, "secret"),
		"linkdir":    outside,
		"rellink":    filepath.Join(relOutside, "secret"),
		"a/reldir":   filepath.Join("..", relOutside),
		"insidelink": "a/b.txt", // stays inside: allowed
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Skipf("cannot create symbolic links: %v", err)
		}
	}
	_, inst := open(t, dir)
	ctx := t.Context()
	for _, tt := range []struct {
		key  string
		want sdk.Kind
	}{
		{"../x", sdk.KindInvalidArgument},
		{"/etc/passwd", sdk.KindInvalidArgument},
		{"a/../../x", sdk.KindInvalidArgument},
		{"a/../b", sdk.KindInvalidArgument},
		{`a\..\..\x`, sdk.KindInvalidArgument},
		{"a//b", sdk.KindInvalidArgument},
		{"a/./b", sdk.KindInvalidArgument},
		{"a/", sdk.KindInvalidArgument},
		{".nebula/locks/00", sdk.KindInvalidArgument},
		{"a/.nebula-put-x.tmp", sdk.KindInvalidArgument},
		{"", sdk.KindInvalidArgument},
		{"a/b\x00.txt", sdk.KindInvalidArgument},
		{"link", sdk.KindPermissionDenied},
		{"linkdir/secret", sdk.KindPermissionDenied},
		{"rellink", sdk.KindPermissionDenied},
		{"a/reldir/secret", sdk.KindPermissionDenied},
	} {
		t.Run(fmt.Sprintf("%q is %s", tt.key, tt.want), func(t *testing.T) {
			out, _, err := get(ctx, inst, tt.key)
			if sdk.KindOf(err) != tt.want || out.Len() != 0 {
				t.Errorf("get: %v (kind %q), %d bytes; want kind %q", err, sdk.KindOf(err), out.Len(), tt.want)
			}
			if _, err := put(ctx, inst, tt.key, strings.NewReader("pwned")); sdk.KindOf(err) != tt.want {
				t.Errorf("put: %v (kind %q), want kind %q", err, sdk.KindOf(err), tt.want)
			}
			for _, op := range []struct {
				name string
				args map[string]any
			}{
				{"stat", map[string]any{"key": tt.key}},
				{"delete", map[string]any{"keys": []string{tt.key}}},
				{"copy", map[string]any{"from": "a/b.txt", "to": tt.key}},
				{"copy", map[string]any{"from": tt.key, "to": "a/c.txt"}},
				{"move", map[string]any{"from": "a/b.txt", "to": tt.key}},
			} {
				_, err := call(t, inst, op.name, op.args)
				k := sdk.KindOf(err)
				// A copy from an escaping link that the SDK lets through
				// is refused; delete and move of a link that stays are
				// the only successes, and none is in this table.
				if k != tt.want && !(tt.want == sdk.KindPermissionDenied && k == sdk.KindAlreadyExists) {
					t.Errorf("%s %v: %v (kind %q), want kind %q", op.name, op.args, err, k, tt.want)
				}
			}
		})
	}
	t.Run("a link that stays inside the root works", func(t *testing.T) {
		out, _, err := get(ctx, inst, "insidelink")
		if err != nil || out.String() != "inside" {
			t.Errorf("get = %q, %v; want %q", out.String(), err, "inside")
		}
	})
	t.Run("list shows no link that leads out", func(t *testing.T) {
		keys, prefixes, _ := listKeys(t, inst, map[string]any{})
		if want := []string{"a/b.txt", "insidelink"}; !slices.Equal(keys, want) || len(prefixes) != 0 {
			t.Errorf("list = %q %q, want %q", keys, prefixes, want)
		}
	})
	t.Run("nothing outside the root changed", func(t *testing.T) {
		if got, want := tree(t, outside), []string{"secret"}; !slices.Equal(got, want) {
			t.Errorf("files outside = %v, want %v", got, want)
		}
		if got, _ := os.ReadFile(filepath.Join(outside, "secret")); string(got) != "top secret" {
			t.Errorf("secret = %q", got)
		}
	})
}

// The driver's own files (sidecars, locks, temp files) are never objects,
// and metadata survives in its sidecar.
func TestLocalFSSidecarsAreNeverListed(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"x/.nebula-put-ABC.tmp": "partial", "empty/sub/": ""})
	_, inst := open(t, dir)
	ctx := t.Context()
	_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"key": "r/report.csv", "content_type": "text/csv", "metadata": map[string]string{"owner": "ada"}})}, strings.NewReader("a,b\n"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".nebula", "meta")); err != nil {
		t.Fatalf("no sidecar directory: %v", err)
	}
	for _, a := range []map[string]any{{}, {"delimiter": "/"}, {"prefix": ".nebula"}, {"prefix": ".nebula/"}, {"prefix": "x/"}} {
		keys, prefixes, _ := listKeys(t, inst, a)
		want, wantPrefixes := []string{"r/report.csv"}, []string(nil)
		switch {
		case a["delimiter"] == "/":
			want, wantPrefixes = nil, []string{"r/"}
		case a["prefix"] != nil:
			want = nil
		}
		if !slices.Equal(keys, want) || !slices.Equal(prefixes, wantPrefixes) {
			t.Errorf("list %v = %q %q, want %q %q", a, keys, prefixes, want, wantPrefixes)
		}
	}
	info, err := invoke[sdk.BlobInfo](t, inst, "stat", map[string]any{"key": "r/report.csv"})
	if err != nil || info.ContentType != "text/csv" || info.Metadata["owner"] != "ada" || info.SHA256 == "" {
		t.Errorf("stat = %+v, %v", info, err)
	}
	// A file edited by hand is another object: a new etag, no metadata.
	if err := os.WriteFile(filepath.Join(dir, "r", "report.csv"), []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edited, err := invoke[sdk.BlobInfo](t, inst, "stat", map[string]any{"key": "r/report.csv"})
	if err != nil || edited.ETag == info.ETag || edited.Metadata != nil || edited.ContentType != "application/octet-stream" || edited.SHA256 != "" {
		t.Errorf("stat after an edit by hand = %+v, %v; before %+v", edited, err, info)
	}
}

// list walks in key order ("a-b" sorts before "a/x"), gives prefixes only
// for directories that hold objects, and pages with tokens.
func TestLocalFSListsInKeyOrder(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a/x": "1", "a-b": "2", "a.txt": "3", "a/y/z": "4", "b/": "", "c/d/": "", "e": "5"})
	_, inst := open(t, dir)
	all := []string{"a-b", "a.txt", "a/x", "a/y/z", "e"}
	if keys, _, _ := listKeys(t, inst, map[string]any{}); !slices.Equal(keys, all) {
		t.Errorf("list = %q, want %q", keys, all)
	}
	var paged []string
	for token, n := "", 0; ; n++ {
		keys, _, next := listKeys(t, inst, map[string]any{"limit": 2, "token": token})
		paged = append(paged, keys...)
		if token = next; token == "" || n > 5 {
			break
		}
	}
	if !slices.Equal(paged, all) {
		t.Errorf("list in pages of 2 = %q, want %q", paged, all)
	}
	keys, prefixes, _ := listKeys(t, inst, map[string]any{"delimiter": "/"})
	if want := []string{"a-b", "a.txt", "e"}; !slices.Equal(keys, want) || !slices.Equal(prefixes, []string{"a/"}) {
		t.Errorf("list with delimiter = %q %q, want %q [a/]", keys, prefixes, want)
	}
	keys, prefixes, token := listKeys(t, inst, map[string]any{"delimiter": "/", "prefix": "a", "limit": 2})
	if !slices.Equal(keys, []string{"a-b", "a.txt"}) || len(prefixes) != 0 || token != "a.txt" {
		t.Errorf("first page = %q %q %q", keys, prefixes, token)
	}
	keys, prefixes, token = listKeys(t, inst, map[string]any{"delimiter": "/", "prefix": "a", "limit": 2, "token": "a/"})
	if len(keys) != 0 || len(prefixes) != 0 || token != "" {
		t.Errorf("the page after the prefix token a/ = %q %q %q, want nothing", keys, prefixes, token)
	}
	if keys, _, _ := listKeys(t, inst, map[string]any{"prefix": "a/y"}); !slices.Equal(keys, []string{"a/y/z"}) {
		t.Errorf("list a/y = %q", keys)
	}
	if keys, _, _ := listKeys(t, inst, map[string]any{"prefix": "../"}); len(keys) != 0 {
		t.Errorf("list ../ = %q", keys)
	}
}

// Deleting the last object of a directory removes the directories left
// empty, up to the root.
func TestLocalFSDeleteRemovesEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	_, inst := open(t, dir)
	for _, k := range []string{"a/b/c/1", "a/2"} {
		if _, err := put(t.Context(), inst, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := call(t, inst, "delete", map[string]any{"keys": []string{"a/b/c/1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a/b after deleting its last object: %v", err)
	}
	if _, err := call(t, inst, "delete", map[string]any{"keys": []string{"a/2"}}); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range tree(t, dir) {
		if !strings.HasPrefix(p, ".nebula") {
			left = append(left, p)
		}
	}
	if len(left) != 0 {
		t.Errorf("left after deleting every object: %q", left)
	}
	if got := tree(t, filepath.Join(dir, ".nebula", "meta")); slices.ContainsFunc(got, func(p string) bool { return !strings.HasSuffix(p, "/") }) {
		t.Errorf("sidecars left after deleting every object: %q", got)
	}
}

// Of many puts with if_none_match "*" at once, from several instances and
// resources on one root (as separate processes would be), exactly one
// creates the object.
func TestLocalFSConcurrentCreatesHaveOneWinner(t *testing.T) {
	dir := t.TempDir()
	var insts []instance
	for range 4 {
		_, inst := open(t, dir)
		insts = append(insts, inst)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = insts[i%len(insts)].InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"key": "once/k", "if_none_match": "*"})},
				strings.NewReader(fmt.Sprint("writer ", i)), io.Discard)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("writers %d and %d both created the object", won, i)
		case err == nil:
			won = i
		case sdk.KindOf(err) != sdk.KindAlreadyExists:
			t.Errorf("writer %d: %v, want already_exists", i, err)
		}
	}
	out, _, err := get(t.Context(), insts[0], "once/k")
	if won < 0 || err != nil || out.String() != fmt.Sprint("writer ", won) {
		t.Errorf("winner %d; the object holds %q (%v)", won, out.String(), err)
	}
	if got := tree(t, filepath.Join(dir, "once")); !slices.Equal(got, []string{"k"}) {
		t.Errorf("files beside the object: %q", got)
	}
}

// A put whose stream breaks leaves the old object and no temp file.
func TestLocalFSFailedPutLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	_, inst := open(t, dir)
	if _, err := put(t.Context(), inst, "d/k", strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	broken := io.MultiReader(strings.NewReader(strings.Repeat("x", 200<<10)), iotestErr{})
	if _, err := put(t.Context(), inst, "d/k", broken); err == nil {
		t.Fatal("a put from a broken stream succeeded")
	}
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"key": "d/k", "sha256": strings.Repeat("0", 64)})}, strings.NewReader("other"), io.Discard); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("a put with the wrong SHA-256: %v", err)
	}
	if got := tree(t, filepath.Join(dir, "d")); !slices.Equal(got, []string{"k"}) {
		t.Errorf("files in d/ = %q, want only k", got)
	}
	if out, _, err := get(t.Context(), inst, "d/k"); err != nil || out.String() != "kept" {
		t.Errorf("get = %q, %v", out.String(), err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("the stream broke") }

// move renames an object with its metadata and keeps its etag.
func TestLocalFSMoveKeepsTheObject(t *testing.T) {
	dir := t.TempDir()
	_, inst := open(t, dir)
	if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"key": "a/k", "content_type": "text/plain"})}, strings.NewReader("v"), io.Discard); err != nil {
		t.Fatal(err)
	}
	before, _ := invoke[sdk.BlobInfo](t, inst, "stat", map[string]any{"key": "a/k"})
	moved, err := invoke[sdk.BlobInfo](t, inst, "move", map[string]any{"from": "a/k", "to": "b/c/k"})
	if err != nil || moved.Key != "b/c/k" || moved.ETag != before.ETag || moved.ContentType != "text/plain" {
		t.Fatalf("move = %+v, %v; before %+v", moved, err, before)
	}
	if after, err := invoke[sdk.BlobInfo](t, inst, "stat", map[string]any{"key": "b/c/k"}); err != nil || after.ContentType != "text/plain" {
		t.Errorf("stat after move = %+v, %v", after, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a/ after moving its only object: %v", err)
	}
}

func TestLocalFSInfoDescribesEverything(t *testing.T) {
	info := localfs.New().Info()
	if info.Name != "localfs" || info.Version != release.Version() {
		t.Errorf("Info = %s %s, want localfs %s", info.Name, info.Version, release.Version())
	}
	typ, ok := info.Type("localfs")
	if !ok {
		t.Fatal(`Info has no type "localfs"`)
	}
	if typ.Description == "" || typ.Pooling != sdk.PoolingShared || !slices.Equal(typ.Capabilities, []string{sdk.CapabilityBlob}) {
		t.Errorf("type localfs: description %q, pooling %q, capabilities %v", typ.Description, typ.Pooling, typ.Capabilities)
	}
	for _, a := range typ.Config.Attributes {
		if a.Description == "" {
			t.Errorf("config attribute %s has no description", a.Name)
		}
	}
	want := append(sdk.BlobOperations(), sdk.Operation{Name: "move"})
	if len(typ.Operations) != len(want) {
		t.Errorf("%d operations, want %d", len(typ.Operations), len(want))
	}
	for _, w := range want {
		op, ok := typ.Operation(w.Name)
		if !ok || op.Description == "" || op.Idempotent != w.Idempotent || op.Stream != w.Stream {
			t.Errorf("operation %s = %+v, want %+v", w.Name, op, w)
		}
		for _, a := range op.Args.Attributes {
			if a.Description == "" {
				t.Errorf("%s argument %s has no description", w.Name, a.Name)
			}
		}
	}
}
