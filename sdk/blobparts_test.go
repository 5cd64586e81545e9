package sdk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The parts of a body come back whole and in order, at most concurrency
// of them in flight, each in one of at most concurrency buffers.
func TestBlobPartsSendsEveryPartWithinTheConcurrency(t *testing.T) {
	const size, concurrency = 1 << 20, 3
	data := make([]byte, 10*size+12345)
	_, _ = rand.Read(data)
	var idle sync.Pool
	parts := sdk.NewBlobParts(bytes.NewReader(data), size, concurrency, &idle)
	first, more, err := parts.First()
	if err != nil || !more || len(first) != size {
		t.Fatalf("First: %d bytes, more %v, %v", len(first), more, err)
	}
	var (
		mu       sync.Mutex
		got      = map[int][]byte{}
		buffers  = map[*byte]bool{}
		inFlight atomic.Int32
		most     atomic.Int32
	)
	n, total, err := parts.Upload(t.Context(), first, "test put", func(_ context.Context, n int, part []byte) error {
		k := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); k > m && !most.CompareAndSwap(m, k); m = most.Load() {
		}
		mu.Lock()
		defer mu.Unlock()
		got[n] = bytes.Clone(part)
		buffers[&part[:1][0]] = true
		return nil
	})
	parts.Close()
	if err != nil || n != 11 || total != int64(len(data)) {
		t.Fatalf("Upload: %d parts, %d bytes, %v; want 11, %d", n, total, err, len(data))
	}
	var joined []byte
	for k := range n {
		joined = append(joined, got[k]...)
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("the parts joined differ from the body")
	}
	if m := most.Load(); m > concurrency {
		t.Errorf("%d parts were in flight at once, want at most %d", m, concurrency)
	}
	if len(buffers) > concurrency {
		t.Errorf("the parts used %d buffers, want at most %d", len(buffers), concurrency)
	}
}

// A small body is read whole by First, and not from a part buffer.
func TestBlobPartsFirstReadsASmallBodyWhole(t *testing.T) {
	parts := sdk.NewBlobParts(bytes.NewReader([]byte("small")), 1<<20, 2, nil)
	first, more, err := parts.First()
	if err != nil || more || string(first) != "small" {
		t.Fatalf("First of a small body: %q, more %v, %v", first, more, err)
	}
}

// A failed send and a broken body each end the upload with their error.
func TestBlobPartsStopsAtTheFirstFailure(t *testing.T) {
	const size = 64 << 10
	refused := sdk.Errorf(sdk.KindPermissionDenied, "refused")
	parts := sdk.NewBlobParts(io.LimitReader(rand.Reader, 50*size), size, 2, nil)
	first, _, _ := parts.First()
	var sent atomic.Int32
	_, _, err := parts.Upload(t.Context(), first, "test put", func(ctx context.Context, n int, _ []byte) error {
		sent.Add(1)
		if n == 3 {
			return refused
		}
		return nil
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Upload with a refused part: %v, want the refusal", err)
	}
	if s := sent.Load(); s > 6 {
		t.Errorf("%d parts were sent after part 3 failed, want the upload to stop", s)
	}

	broken := io.MultiReader(io.LimitReader(rand.Reader, 3*size), iotestErrReader{errors.New("the caller's stream broke")})
	parts = sdk.NewBlobParts(broken, size, 2, nil)
	first, _, _ = parts.First()
	_, _, err = parts.Upload(t.Context(), first, "test put", func(context.Context, int, []byte) error { return nil })
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Upload of a broken body: %v (kind %s), want unavailable", err, sdk.KindOf(err))
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }
