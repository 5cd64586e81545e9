package localfs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	return inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "put", Args: args(map[string]any{"key": name})}, data, io.Discard)
}

// get downloads name.
func get(ctx context.Context, inst instance, name string) (*bytes.Buffer, any, error) {
	var out bytes.Buffer
	res, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "get", Args: args(map[string]any{"key": name})}, strings.NewReader(""), &out)
	return &out, res, err
}

// call invokes a non-streaming operation and returns its result as JSON.
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
	return string(raw), nil
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

// cancellingReader yields chunks of data and cancels its context once it
// has yielded after bytes.
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
		{"stat", func() error { _, err := call(t, inst, "stat", map[string]any{"key": "a"}); return err }},
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
