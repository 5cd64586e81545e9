package localfs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// instance is what the tests use of a localfs instance.
type instance interface {
	sdk.Instance
	sdk.Invoker
	sdk.StreamInvoker
}

// open configures a localfs resource on dir and opens one instance of it.
// Both are closed when the test ends.
func open(t *testing.T, dir string) (sdk.Resource, instance) {
	t.Helper()
	ctx := t.Context()
	cfg, _ := json.Marshal(map[string]any{"root": dir})
	res, err := localfs.New().Configure(ctx, sdk.ConfigureRequest{Type: "localfs", Name: "test", Config: cfg})
	if err != nil {
		t.Fatalf("Configure(%s): %v", cfg, err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	inst, err := res.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	// The operations are called as the host calls them: through the type.
	typ, _ := localfs.New().Info().Type(localfs.TypeName)
	return res, &sdktest.Instance{Instance: inst, Type: typ}
}

// args encodes a map as an operation's arguments.
func args(m map[string]any) json.RawMessage {
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return raw
}

// put uploads data to name.
func put(ctx context.Context, inst instance, name string, data io.Reader) (any, error) {
	return inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"path": name})}, data, io.Discard)
}

// chunkRecorder keeps what is written to it, one chunk per Write.
type chunkRecorder struct {
	bytes.Buffer
	chunks []int
}

func (c *chunkRecorder) Write(p []byte) (int, error) {
	c.chunks = append(c.chunks, len(p))
	return c.Buffer.Write(p)
}

// get downloads name.
func get(ctx context.Context, inst instance, name string) (*chunkRecorder, any, error) {
	var out chunkRecorder
	res, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "get", Args: args(map[string]any{"path": name})}, strings.NewReader(""), &out)
	return &out, res, err
}

// call invokes a non-streaming operation and returns its result as JSON,
// with every mod_time checked to be RFC 3339 and then removed.
func call(t *testing.T, inst instance, op string, a map[string]any) (string, error) {
	t.Helper()
	res, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: args(a)})
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("%s result %#v does not marshal: %v", op, res, err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	scrubModTime(t, v)
	raw, _ = json.Marshal(v)
	return string(raw), nil
}

func scrubModTime(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if mt, ok := v["mod_time"]; ok {
			s, _ := mt.(string)
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				t.Errorf("mod_time %v is not RFC 3339: %v", mt, err)
			}
			delete(v, "mod_time")
		}
		if v["is_dir"] == true {
			delete(v, "size") // depends on the file system
		}
		for _, e := range v {
			scrubModTime(t, e)
		}
	case []any:
		for _, e := range v {
			scrubModTime(t, e)
		}
	}
}

// makeTree creates files under dir: a key ending in "/" is a directory,
// any other key a file with the value as content.
func makeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Set modes regardless of the umask, for stat's mode.
	for name := range files {
		perm := os.FileMode(0o644)
		if strings.HasSuffix(name, "/") {
			perm = 0o755
		}
		if err := os.Chmod(filepath.Join(dir, filepath.FromSlash(name)), perm); err != nil {
			t.Fatal(err)
		}
	}
}

// tree returns every path under dir, slash-separated, with "/" after
// directories, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestLocalFSPutThenGetReturnsTheSameBytes(t *testing.T) {
	data := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(data)
	sum := sha256.Sum256(data)

	dir := t.TempDir()
	_, inst := open(t, dir)
	res, err := put(t.Context(), inst, "deep/er/blob.bin", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	raw, _ := json.Marshal(res)
	if want := fmt.Sprintf(`{"size":%d,"sha256":"%s"}`, len(data), hex.EncodeToString(sum[:])); string(raw) != want {
		t.Errorf("put result = %s, want %s", raw, want)
	}
	if got, want := tree(t, dir), []string{"deep/", "deep/er/", "deep/er/blob.bin"}; !slices.Equal(got, want) {
		t.Errorf("files after put = %v, want %v", got, want)
	}

	out, res, err := get(t.Context(), inst, "deep/er/blob.bin")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("get returned %d bytes that differ from the %d put", out.Len(), len(data))
	}
	raw, _ = json.Marshal(res)
	if want := fmt.Sprintf(`{"size":%d}`, len(data)); string(raw) != want {
		t.Errorf("get result = %s, want %s", raw, want)
	}
	if len(out.chunks) != 16 || slices.Max(out.chunks) != 64<<10 {
		t.Errorf("get wrote chunks of %v bytes, want 16 of 64 KiB", out.chunks)
	}

	t.Run("put replaces an existing file", func(t *testing.T) {
		if _, err := put(t.Context(), inst, "deep/er/blob.bin", strings.NewReader("small")); err != nil {
			t.Fatalf("put: %v", err)
		}
		out, _, err := get(t.Context(), inst, "deep/er/blob.bin")
		if err != nil || out.String() != "small" {
			t.Errorf("get = %q, %v; want %q", out.String(), err, "small")
		}
	})
	t.Run("put of an empty stream makes an empty file", func(t *testing.T) {
		if _, err := put(t.Context(), inst, "empty", strings.NewReader("")); err != nil {
			t.Fatalf("put: %v", err)
		}
		out, res, err := get(t.Context(), inst, "empty")
		raw, _ := json.Marshal(res)
		if err != nil || out.Len() != 0 || string(raw) != `{"size":0}` {
			t.Errorf("get = %q, %s, %v; want an empty file", out.String(), raw, err)
		}
	})
}

func TestLocalFSStreamingErrors(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a.txt": "a", "sub/": ""})
	_, inst := open(t, dir)
	ctx := t.Context()
	tests := []struct {
		name string
		run  func() error
		want sdk.Kind
	}{
		{"get of a missing file is not found", func() error { _, _, err := get(ctx, inst, "nope"); return err }, sdk.KindNotFound},
		{"get of a directory is a failed precondition", func() error { _, _, err := get(ctx, inst, "sub"); return err }, sdk.KindFailedPrecondition},
		{"put onto a directory is a failed precondition", func() error { _, err := put(ctx, inst, "sub", strings.NewReader("x")); return err }, sdk.KindFailedPrecondition},
		{"put below a file is a failed precondition", func() error { _, err := put(ctx, inst, "a.txt/b", strings.NewReader("x")); return err }, sdk.KindFailedPrecondition},
		{"put without create_dirs into a missing directory is a failed precondition", func() error {
			_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"path": "new/x", "create_dirs": false})}, strings.NewReader("x"), io.Discard)
			return err
		}, sdk.KindFailedPrecondition},
		{"invoke of put says to use InvokeStream", func() error {
			_, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"path": "x"})})
			return err
		}, sdk.KindInvalidArgument},
		{"invoke of get says to use InvokeStream", func() error {
			_, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "get", Args: args(map[string]any{"path": "a.txt"})})
			return err
		}, sdk.KindInvalidArgument},
		{"InvokeStream of stat says to use Invoke", func() error {
			_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "stat", Args: args(map[string]any{"path": "a.txt"})}, strings.NewReader(""), io.Discard)
			return err
		}, sdk.KindInvalidArgument},
		{"an unknown operation is unimplemented", func() error {
			_, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "presign", Args: args(nil)})
			return err
		}, sdk.KindUnimplemented},
		{"an upload stream that fails is unavailable", func() error {
			_, err := put(ctx, inst, "b.txt", io.MultiReader(strings.NewReader("part"), iotestErrReader{errors.New("connection reset")}))
			return err
		}, sdk.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if sdk.KindOf(err) != tt.want {
				t.Fatalf("error %v (kind %q), want kind %q", err, sdk.KindOf(err), tt.want)
			}
		})
	}
	if got, want := tree(t, dir), []string{"a.txt", "sub/"}; !slices.Equal(got, want) {
		t.Errorf("files after the failed calls = %v, want %v", got, want)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// cancellingReader yields chunks of data and cancels its context once it
// has yielded after bytes.
type cancellingReader struct {
	cancel context.CancelFunc
	after  int
	read   int
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.read >= r.after {
		r.cancel()
	}
	n := min(len(p), 1024)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.read += n
	return n, nil
}

func TestLocalFSCancelledUploadLeavesNoFile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		path  string
	}{
		{name: "a cancelled upload of a new file leaves nothing", path: "new.bin"},
		{name: "a cancelled upload into a new directory leaves no file", path: "dir/new.bin"},
		{name: "a cancelled upload over a file leaves the old file", files: map[string]string{"old.bin": "old"}, path: "old.bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			makeTree(t, dir, tt.files)
			before := tree(t, dir)
			_, inst := open(t, dir)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, err := put(ctx, inst, tt.path, &cancellingReader{cancel: cancel, after: 100 << 10})
			if sdk.KindOf(err) != sdk.KindCanceled {
				t.Fatalf("put: error %v (kind %q), want kind canceled", err, sdk.KindOf(err))
			}
			after := slices.DeleteFunc(tree(t, dir), func(p string) bool { return p == "dir/" })
			if !slices.Equal(after, before) {
				t.Errorf("files after the cancelled put = %v, want %v", after, before)
			}
			for name, content := range tt.files {
				if got, _ := os.ReadFile(filepath.Join(dir, name)); string(got) != content {
					t.Errorf("%s = %q after the cancelled put, want %q", name, got, content)
				}
			}
		})
	}
}

func TestLocalFSCancelledDownloadStops(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"big": strings.Repeat("x", 1<<20)})
	_, inst := open(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := &cancellingWriter{cancel: cancel}
	_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "get", Args: args(map[string]any{"path": "big"})}, strings.NewReader(""), w)
	if sdk.KindOf(err) != sdk.KindCanceled {
		t.Fatalf("get: error %v (kind %q), want kind canceled", err, sdk.KindOf(err))
	}
	if w.writes != 1 {
		t.Errorf("get wrote %d chunks after the first cancelled it, want 0", w.writes-1)
	}
}

type cancellingWriter struct {
	cancel context.CancelFunc
	writes int
}

func (w *cancellingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.cancel()
	return len(p), nil
}

func TestLocalFSOperations(t *testing.T) {
	base := map[string]string{
		"a.txt":       "hello",
		"b/c.txt":     "world!",
		"b/d/e.txt":   "deep",
		"empty/":      "",
		"z.txt":       "",
		"b/.hidden":   "h",
		"skip/f.tmp0": "",
	}
	tests := []struct {
		name     string
		op       string
		args     map[string]any
		want     string   // result JSON without mod_time, when wantKind is empty
		wantKind sdk.Kind // error kind
		wantTree []string // the files afterwards, when set
	}{
		{name: "stat describes a file", op: "stat", args: map[string]any{"path": "b/c.txt"},
			want: `{"is_dir":false,"mode":"-rw-r--r--","path":"b/c.txt","size":6}`},
		{name: "stat cleans the path", op: "stat", args: map[string]any{"path": "./b//c.txt"},
			want: `{"is_dir":false,"mode":"-rw-r--r--","path":"b/c.txt","size":6}`},
		{name: "stat describes a directory", op: "stat", args: map[string]any{"path": "b/d"},
			want: `{"is_dir":true,"mode":"drwxr-xr-x","path":"b/d"}`},
		{name: "stat of dot describes the root", op: "stat", args: map[string]any{"path": "."},
			want: `{"is_dir":true,"mode":"drwxr-xr-x","path":"."}`},
		{name: "stat of a missing path is not found", op: "stat", args: map[string]any{"path": "nope"},
			wantKind: sdk.KindNotFound},
		{name: "list shows the root's entries by default", op: "list", args: map[string]any{},
			want: `{"entries":[{"is_dir":false,"path":"a.txt","size":5},{"is_dir":true,"path":"b"},{"is_dir":true,"path":"empty"},{"is_dir":true,"path":"skip"},{"is_dir":false,"path":"z.txt","size":0}]}`},
		{name: "list of a subdirectory gives paths from the root", op: "list", args: map[string]any{"prefix": "b"},
			want: `{"entries":[{"is_dir":false,"path":"b/.hidden","size":1},{"is_dir":false,"path":"b/c.txt","size":6},{"is_dir":true,"path":"b/d"}]}`},
		{name: "list recursive shows every depth in order", op: "list", args: map[string]any{"prefix": "b", "recursive": true},
			want: `{"entries":[{"is_dir":false,"path":"b/.hidden","size":1},{"is_dir":false,"path":"b/c.txt","size":6},{"is_dir":true,"path":"b/d"},{"is_dir":false,"path":"b/d/e.txt","size":4}]}`},
		{name: "list of an empty directory is an empty list", op: "list", args: map[string]any{"prefix": "empty", "recursive": true},
			want: `{"entries":[]}`},
		{name: "list of a missing directory is not found", op: "list", args: map[string]any{"prefix": "nope"},
			wantKind: sdk.KindNotFound},
		{name: "list of a file is a failed precondition", op: "list", args: map[string]any{"prefix": "a.txt"},
			wantKind: sdk.KindFailedPrecondition},
		{name: "delete removes a file", op: "delete", args: map[string]any{"path": "b/d/e.txt"},
			want:     `{"deleted":true}`,
			wantTree: []string{"a.txt", "b/", "b/.hidden", "b/c.txt", "b/d/", "empty/", "skip/", "skip/f.tmp0", "z.txt"}},
		{name: "delete of a missing file reports nothing deleted", op: "delete", args: map[string]any{"path": "nope"},
			want: `{"deleted":false}`},
		{name: "delete removes an empty directory", op: "delete", args: map[string]any{"path": "empty"},
			want:     `{"deleted":true}`,
			wantTree: []string{"a.txt", "b/", "b/.hidden", "b/c.txt", "b/d/", "b/d/e.txt", "skip/", "skip/f.tmp0", "z.txt"}},
		{name: "delete of a directory that is not empty is a failed precondition", op: "delete", args: map[string]any{"path": "b"},
			wantKind: sdk.KindFailedPrecondition},
		{name: "delete of the root is an invalid argument", op: "delete", args: map[string]any{"path": "."},
			wantKind: sdk.KindInvalidArgument},
		{name: "move renames a file", op: "move", args: map[string]any{"from": "a.txt", "to": "empty/a2.txt"},
			want:     `{}`,
			wantTree: []string{"b/", "b/.hidden", "b/c.txt", "b/d/", "b/d/e.txt", "empty/", "empty/a2.txt", "skip/", "skip/f.tmp0", "z.txt"}},
		{name: "move renames a directory", op: "move", args: map[string]any{"from": "b/d", "to": "d"},
			want:     `{}`,
			wantTree: []string{"a.txt", "b/", "b/.hidden", "b/c.txt", "d/", "d/e.txt", "empty/", "skip/", "skip/f.tmp0", "z.txt"}},
		{name: "move onto an existing file is already exists", op: "move", args: map[string]any{"from": "a.txt", "to": "z.txt"},
			wantKind: sdk.KindAlreadyExists},
		{name: "move with overwrite replaces an existing file", op: "move", args: map[string]any{"from": "a.txt", "to": "z.txt", "overwrite": true},
			want:     `{}`,
			wantTree: []string{"b/", "b/.hidden", "b/c.txt", "b/d/", "b/d/e.txt", "empty/", "skip/", "skip/f.tmp0", "z.txt"}},
		{name: "move of a missing file is not found", op: "move", args: map[string]any{"from": "nope", "to": "x"},
			wantKind: sdk.KindNotFound},
		{name: "move into a missing directory is a failed precondition", op: "move", args: map[string]any{"from": "a.txt", "to": "nope/a.txt"},
			wantKind: sdk.KindFailedPrecondition},
		{name: "move out of the root is an invalid argument", op: "move", args: map[string]any{"from": "a.txt", "to": "../a.txt"},
			wantKind: sdk.KindInvalidArgument},
		{name: "stat without a path is an invalid argument", op: "stat", args: map[string]any{},
			wantKind: sdk.KindInvalidArgument},
		{name: "list with an unknown argument is an invalid argument", op: "list", args: map[string]any{"glob": "*"},
			wantKind: sdk.KindInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			makeTree(t, dir, base)
			_, inst := open(t, dir)
			got, err := call(t, inst, tt.op, tt.args)
			if tt.wantKind != "" {
				if sdk.KindOf(err) != tt.wantKind {
					t.Fatalf("%s %v: got %s, error %v (kind %q); want kind %q", tt.op, tt.args, got, err, sdk.KindOf(err), tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %v: %v", tt.op, tt.args, err)
			}
			if got != tt.want {
				t.Errorf("%s %v =\n%s\nwant\n%s", tt.op, tt.args, got, tt.want)
			}
			if tt.wantTree != nil {
				if files := tree(t, dir); !slices.Equal(files, tt.wantTree) {
					t.Errorf("files afterwards = %v,\nwant %v", files, tt.wantTree)
				}
			}
		})
	}
}

func TestLocalFSListHidesUploadsInProgress(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a": "", ".nebula-put-ABC.tmp": "partial"})
	_, inst := open(t, dir)
	got, err := call(t, inst, "list", map[string]any{"recursive": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"entries":[{"is_dir":false,"path":"a","size":0}]}`; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
}

func TestLocalFSRefusesPathsOutsideTheRoot(t *testing.T) {
	outside := t.TempDir()
	makeTree(t, outside, map[string]string{"secret": "top secret"})
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a/b.txt": "inside"})
	relOutside, err := filepath.Rel(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link":       filepath.Join(outside, "secret"),
		"linkdir":    outside,
		"rellink":    filepath.Join(relOutside, "secret"),
		"a/reldir":   filepath.Join("..", relOutside),
		"insidelink": "a/b.txt", // stays inside: allowed
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Skipf("cannot create symbolic links: %v", err)
		}
	}
	_, inst := open(t, dir)
	ctx := t.Context()

	tests := []struct {
		path string
		want sdk.Kind
	}{
		{"../x", sdk.KindInvalidArgument},
		{"/etc/passwd", sdk.KindInvalidArgument},
		{"a/../../x", sdk.KindInvalidArgument},
		{"a/../b", sdk.KindInvalidArgument},
		{`a\..\..\x`, sdk.KindInvalidArgument},
		{"", sdk.KindInvalidArgument},
		{"a/b\x00.txt", sdk.KindInvalidArgument},
		{"link", sdk.KindPermissionDenied},
		{"linkdir/secret", sdk.KindPermissionDenied},
		{"rellink", sdk.KindPermissionDenied},
		{"a/reldir/secret", sdk.KindPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("get of %q is %s", tt.path, tt.want), func(t *testing.T) {
			out, _, err := get(ctx, inst, tt.path)
			if sdk.KindOf(err) != tt.want {
				t.Errorf("error %v (kind %q), want kind %q", err, sdk.KindOf(err), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("get wrote %q", out.String())
			}
		})
		t.Run(fmt.Sprintf("put of %q is %s", tt.path, tt.want), func(t *testing.T) {
			_, err := put(ctx, inst, tt.path, strings.NewReader("pwned"))
			if sdk.KindOf(err) != tt.want {
				t.Errorf("error %v (kind %q), want kind %q", err, sdk.KindOf(err), tt.want)
			}
		})
		for _, op := range []struct {
			name string
			args map[string]any
		}{
			{"stat", map[string]any{"path": tt.path}},
			{"list", map[string]any{"prefix": tt.path}},
			{"move", map[string]any{"from": "a/b.txt", "to": tt.path}},
		} {
			if tt.path == "" && op.name == "list" {
				continue // an empty prefix lists the root
			}
			t.Run(fmt.Sprintf("%s of %q is refused", op.name, tt.path), func(t *testing.T) {
				_, err := call(t, inst, op.name, op.args)
				// move onto a link is refused as already_exists: the
				// rename would replace the link, not follow it.
				if k := sdk.KindOf(err); k != tt.want && k != sdk.KindAlreadyExists {
					t.Errorf("error %v (kind %q), want a refusal", err, k)
				}
			})
		}
	}

	t.Run("a link that stays inside the root works", func(t *testing.T) {
		out, _, err := get(ctx, inst, "insidelink")
		if err != nil || out.String() != "inside" {
			t.Errorf("get = %q, %v; want %q", out.String(), err, "inside")
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

func TestLocalFSClosedResourceIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a": "x"})
	res, inst := open(t, dir)
	ctx := t.Context()
	if err := inst.Check(ctx); err != nil {
		t.Fatalf("Check of an open instance: %v", err)
	}
	if err := res.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := res.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"check", func() error { return inst.Check(ctx) }},
		{"stat", func() error { _, err := call(t, inst, "stat", map[string]any{"path": "a"}); return err }},
		{"get", func() error { _, _, err := get(ctx, inst, "a"); return err }},
		{"put", func() error { _, err := put(ctx, inst, "b", strings.NewReader("y")); return err }},
		{"open", func() error { _, err := res.Open(ctx); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" on a closed resource is unavailable", func(t *testing.T) {
			if err := tt.run(); sdk.KindOf(err) != sdk.KindUnavailable {
				t.Errorf("error %v, want kind unavailable", err)
			}
		})
	}
}

func TestLocalFSConfigure(t *testing.T) {
	parent := t.TempDir()
	makeTree(t, parent, map[string]string{"file": "x"})
	tests := []struct {
		name     string
		config   map[string]any
		wantAttr string   // ValidateConfig's ConfigError attribute
		wantKind sdk.Kind // Configure's error kind; "" for success
		wantText string   // in Configure's error
	}{
		{name: "an existing root is configured", config: map[string]any{"root": parent}},
		{name: "a missing root is a failed precondition naming it", config: map[string]any{"root": filepath.Join(parent, "missing")},
			wantKind: sdk.KindFailedPrecondition, wantText: filepath.Join(parent, "missing")},
		{name: "create_root creates a missing root", config: map[string]any{"root": filepath.Join(parent, "new", "root"), "create_root": true}},
		{name: "a root that is a file is a failed precondition", config: map[string]any{"root": filepath.Join(parent, "file")},
			wantKind: sdk.KindFailedPrecondition},
		{name: "an empty root is refused", config: map[string]any{"root": ""},
			wantAttr: "root", wantKind: sdk.KindInvalidArgument},
		{name: "a missing root attribute is an invalid argument", config: map[string]any{},
			wantKind: sdk.KindInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := localfs.New()
			cfg := args(tt.config)
			verr := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "localfs", Name: "test", Config: cfg})
			var ce *sdk.ConfigError
			switch {
			case tt.wantAttr != "":
				if !errors.As(verr, &ce) || ce.Attribute != tt.wantAttr {
					t.Errorf("ValidateConfig: %v, want a ConfigError on %s", verr, tt.wantAttr)
				}
			case verr != nil && errors.As(verr, &ce):
				t.Errorf("ValidateConfig: unexpected %v", verr)
			}
			res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "localfs", Name: "test", Config: cfg})
			if res != nil {
				defer res.Close(context.Background())
			}
			if sdk.KindOf(err) != tt.wantKind {
				t.Fatalf("Configure: error %v, want kind %q", err, tt.wantKind)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Configure: error %q does not name %q", err, tt.wantText)
			}
			if err == nil {
				if fi, err := os.Stat(tt.config["root"].(string)); err != nil || !fi.IsDir() {
					t.Errorf("root is not a directory after Configure: %v", err)
				}
			}
		})
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
	if typ.Description == "" || typ.Pooling != sdk.PoolingShared || len(typ.Capabilities) != 0 {
		t.Errorf("type localfs: description %q, pooling %q, capabilities %v", typ.Description, typ.Pooling, typ.Capabilities)
	}
	for _, a := range typ.Config.Attributes {
		if a.Description == "" {
			t.Errorf("config attribute %s has no description", a.Name)
		}
	}
	if a, _ := typ.Config.Attribute("root"); !a.Required {
		t.Error("root is not required")
	}
	want := map[string]struct {
		idempotent bool
		stream     sdk.StreamMode
	}{
		"put": {true, sdk.StreamUpload}, "get": {true, sdk.StreamDownload},
		"stat": {true, sdk.StreamNone}, "list": {true, sdk.StreamNone},
		"delete": {true, sdk.StreamNone}, "move": {false, sdk.StreamNone},
	}
	for _, op := range typ.Operations {
		t.Run("operation "+op.Name+" is described", func(t *testing.T) {
			w, ok := want[op.Name]
			if !ok {
				t.Fatal("unexpected operation")
			}
			if op.Description == "" {
				t.Error("no description")
			}
			if op.Idempotent != w.idempotent || op.Stream != w.stream {
				t.Errorf("Idempotent %v, Stream %q; want %v, %q", op.Idempotent, op.Stream, w.idempotent, w.stream)
			}
			for _, a := range op.Args.Attributes {
				if a.Description == "" {
					t.Errorf("argument %s has no description", a.Name)
				}
			}
		})
	}
	if len(typ.Operations) != len(want) {
		t.Errorf("%d operations, want %d", len(typ.Operations), len(want))
	}
}

func TestLocalFSCheckFailsWhenTheRootIsRemovedOrReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "root")
	makeTree(t, dir, map[string]string{"a": "x"})
	_, inst := open(t, dir)
	ctx := t.Context()
	if err := inst.Check(ctx); err != nil {
		t.Fatalf("Check of a healthy root: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := inst.Check(ctx); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Check after the root was removed: %v, want unavailable", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := inst.Check(ctx); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Check after the root was replaced by another directory: %v, want unavailable", err)
	}
}
