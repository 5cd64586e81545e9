package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// blobDriver streams its blob to the caller in one Write (get), as a
// driver that has the bytes at hand does, or reads the caller's bytes and
// drops them (put).
type blobDriver struct{ blob []byte }

func (d blobDriver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "blob", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name:   "blob",
		Config: sdk.Schema{},
		Operations: []sdk.Operation{
			{Name: "get", Args: sdk.Schema{}, Stream: sdk.StreamDownload},
			{Name: "put", Args: sdk.Schema{}, Stream: sdk.StreamUpload},
		},
	}}}
}

func (d blobDriver) Configure(context.Context, sdk.ConfigureRequest) (sdk.Resource, error) {
	return d, nil
}
func (d blobDriver) Open(context.Context) (sdk.Instance, error) { return d, nil }
func (d blobDriver) Close(context.Context) error                { return nil }
func (d blobDriver) Check(context.Context) error                { return nil }
func (d blobDriver) Invoke(context.Context, sdk.InvokeRequest) (any, error) {
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "get streams: use InvokeStream")
}

func (d blobDriver) InvokeStream(_ context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	if req.Operation == "put" {
		n, err := io.Copy(io.Discard, in)
		return map[string]int64{"bytes": n}, err
	}
	_, err := out.Write(d.blob)
	return map[string]int{"bytes": len(d.blob)}, err
}

// BenchmarkInvokeStreamGet1MiB is a 1 MiB get through the SDK's stream
// path and the data connection, one call at a time, into a buffer the
// caller reuses.
func BenchmarkInvokeStreamGet1MiB(b *testing.B) {
	blob := bytes.Repeat([]byte("nebula-!"), 1<<17)
	si := openBlob(b, blob)
	var out bytes.Buffer
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if _, err := si.InvokeStream(b.Context(), sdk.InvokeRequest{Operation: "get"}, nil, &out); err != nil {
			b.Fatal(err)
		}
		if out.Len() != len(blob) {
			b.Fatalf("got %d bytes, want %d", out.Len(), len(blob))
		}
	}
}

// BenchmarkInvokeStreamPut1MiB is a 1 MiB put the same way.
func BenchmarkInvokeStreamPut1MiB(b *testing.B) {
	blob := bytes.Repeat([]byte("nebula-!"), 1<<17)
	si := openBlob(b, nil)
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := si.InvokeStream(b.Context(), sdk.InvokeRequest{Operation: "put"}, bytes.NewReader(blob), nil)
		if err != nil {
			b.Fatal(err)
		}
		if string(res.(json.RawMessage)) != `{"bytes":1048576}` {
			b.Fatalf("result %s", res)
		}
	}
}

func openBlob(b *testing.B, blob []byte) sdk.StreamInvoker {
	d := sdktest.Connect(b, blobDriver{blob: blob})
	res, err := d.Configure(b.Context(), sdk.ConfigureRequest{Type: "blob", Name: "b", Config: json.RawMessage(`{}`)})
	if err != nil {
		b.Fatal(err)
	}
	inst, err := res.Open(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return inst.(sdk.StreamInvoker)
}
