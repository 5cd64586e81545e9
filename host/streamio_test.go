package host_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// blobLease starts a host with a localfs resource compiled in, and
// returns a lease on it and the resource's root.
func blobLease(t *testing.T) (*host.Lease, string) {
	t.Helper()
	root := t.TempDir()
	cfg := loadHCL(t, "resource \"localfs\" \"files\" {\n  root = \""+root+"\"\n}\n")
	h := startHost(t, cfg, host.WithDriver("localfs", localfs.New()), host.WithLogger(quietLogger()))
	l, err := h.Acquire(t.Context(), "localfs.files")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return l, root
}

func TestAStreamWriterAndReaderCarryABlobBothWays(t *testing.T) {
	l, _ := blobLease(t)
	data := make([]byte, 5<<20+123)
	_, _ = rand.Read(data)

	w, err := l.OpenWriter(t.Context(), "put", map[string]any{"key": "dir/a.bin", "checksum": "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	// Small writes, as a caller copying from a slow source makes them.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 7777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var put sdk.BlobPutResult
	if err := json.Unmarshal(w.Result(), &put); err != nil {
		t.Fatalf("the writer's result %s: %v", w.Result(), err)
	}
	sum := sha256.Sum256(data)
	if put.Size != int64(len(data)) || put.SHA256 != hexOf(sum[:]) {
		t.Fatalf("put result %+v, want size %d sha256 %x", put, len(data), sum)
	}

	r, err := l.OpenReader(t.Context(), "get", map[string]any{"key": "dir/a.bin", "checksum": "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	var get sdk.BlobGetResult
	if err := json.Unmarshal(r.Result(), &get); err != nil || get.SHA256 != put.SHA256 {
		t.Fatalf("the reader's result %s (%v), want sha256 %s", r.Result(), err, put.SHA256)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close after the end: %v", err)
	}
}

func TestAStreamWriterClosedWithAnErrorLeavesNoObject(t *testing.T) {
	l, root := blobLease(t)
	w, err := l.OpenWriter(t.Context(), "put", map[string]any{"key": "half.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	broke := errors.New("the source broke")
	if err := w.CloseWithError(broke); err == nil {
		t.Fatal("a put whose writer was closed with an error succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("a second Close forgot the failure")
	}
	if _, err := os.Stat(filepath.Join(root, "half.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed put left a file: %v", err)
	}
	if w.Result() != nil {
		t.Fatalf("a failed put has a result: %s", w.Result())
	}
}

func TestAStreamReaderGivesTheOperationsErrorWithItsKind(t *testing.T) {
	l, _ := blobLease(t)
	r, err := l.OpenReader(t.Context(), "get", map[string]any{"key": "missing.bin"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Fatalf("reading a missing object: %v (kind %s), want not_found", err, sdk.KindOf(err))
	}
	if cerr := r.Close(); sdk.KindOf(cerr) != sdk.KindNotFound {
		t.Fatalf("Close after the failure: %v, want the not_found", cerr)
	}
}

func TestAStreamReaderClosedEarlyStopsTheOperation(t *testing.T) {
	l, root := blobLease(t)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := l.OpenReader(t.Context(), "get", map[string]any{"key": "big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close of a reader read in part: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Fatal("a read after Close succeeded")
	}
	// The lease is usable again.
	if _, err := l.Invoke(t.Context(), "stat", map[string]any{"key": "big.bin"}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReaderAndWriterCheckTheArgumentsFirst(t *testing.T) {
	l, _ := blobLease(t)
	if _, err := l.OpenWriter(t.Context(), "put", map[string]any{"nope": 1}); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("OpenWriter without a key: %v, want invalid_argument", err)
	}
	if _, err := l.OpenReader(t.Context(), "stat", map[string]any{"key": "a"}); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("OpenReader of an operation that does not stream: %v, want invalid_argument", err)
	}
	l.Release()
	if _, err := l.OpenReader(t.Context(), "get", map[string]any{"key": "a"}); !errors.Is(err, host.ErrLeaseReleased) {
		t.Fatalf("OpenReader on a released lease: %v, want ErrLeaseReleased", err)
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }
