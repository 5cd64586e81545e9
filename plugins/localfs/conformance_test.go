package localfs_test

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func conformance(t *testing.T) sdktest.Suite {
	root, _ := json.Marshal(map[string]string{"root": t.TempDir()})
	return sdktest.Suite{
		Type:          "localfs",
		Config:        string(root),
		InvalidConfig: `{"root": ""}`,
		Probe:         sdk.InvokeRequest{Operation: "list", Args: json.RawMessage(`{}`)},
		Failing:       &sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"path":"../x"}`)},
		FailingKind:   sdk.KindInvalidArgument,
	}
}

func TestLocalFSConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, localfs.New(), conformance(t))
}

func TestLocalFSConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-localfs"), conformance(t))
}

func TestLocalFSStreamsSurviveTheWire(t *testing.T) {
	ctx := t.Context()
	d := sdktest.Connect(t, localfs.New())
	root, _ := json.Marshal(map[string]string{"root": t.TempDir()})
	res, err := d.Configure(ctx, sdk.ConfigureRequest{Type: "localfs", Name: "wire", Config: root})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close(ctx)
	inst, err := res.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(ctx)
	si, ok := inst.(sdk.StreamInvoker)
	if !ok {
		t.Fatalf("remote instance %T does not stream", inst)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if _, err := si.InvokeStream(ctx, sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"path":"a/b.bin"}`)}, bytes.NewReader(data), io.Discard); err != nil {
		t.Fatalf("put: %v", err)
	}
	var out bytes.Buffer
	if _, err := si.InvokeStream(ctx, sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"path":"a/b.bin"}`)}, bytes.NewReader(nil), &out); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("get over gRPC returned %d bytes that differ from the %d put", out.Len(), len(data))
	}
	_, err = si.InvokeStream(ctx, sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"path":"../etc/passwd"}`)}, bytes.NewReader(nil), &out)
	if sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Errorf("get of ../etc/passwd over gRPC: error %v, want kind invalid_argument", err)
	}
}
