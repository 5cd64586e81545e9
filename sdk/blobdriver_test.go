package sdk_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestDeleteBlobsEachDeletesEveryKeyBoundedlyAndStopsAtTheFirstError(t *testing.T) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = string(rune('a'+i%26)) + string(rune('0'+i/26))
	}
	var (
		mu      sync.Mutex
		seen    = map[string]bool{}
		running atomic.Int32
		most    atomic.Int32
	)
	err := sdk.DeleteBlobsEach(t.Context(), keys, func(_ context.Context, key string) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		seen[key] = true
		mu.Unlock()
		return nil
	})
	if err != nil || len(seen) != len(keys) {
		t.Fatalf("DeleteBlobsEach: %v, %d of %d keys removed", err, len(seen), len(keys))
	}
	if m := most.Load(); m > sdk.BlobDeleteConcurrency {
		t.Fatalf("%d removes ran at once, want at most %d", m, sdk.BlobDeleteConcurrency)
	}

	refused := sdk.Errorf(sdk.KindPermissionDenied, "refused")
	var calls atomic.Int32
	err = sdk.DeleteBlobsEach(t.Context(), keys, func(ctx context.Context, key string) error {
		if calls.Add(1) == 1 {
			return refused
		}
		<-ctx.Done() // the others wait to be stopped
		return ctx.Err()
	})
	if !errors.Is(err, refused) {
		t.Fatalf("DeleteBlobsEach with a refused key: %v, want the refusal", err)
	}
	if n := calls.Load(); n > sdk.BlobDeleteConcurrency+1 {
		t.Fatalf("%d removes were called after the first failed, want no new ones", n)
	}
}

func TestBlobStreamErrorClassifiesTheCallersStream(t *testing.T) {
	if err := sdk.BlobStreamError(t.Context(), io.ErrUnexpectedEOF, "x put"); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("a broken stream: %v, want unavailable", err)
	}
	tooBig := sdk.Errorf(sdk.KindInvalidArgument, "too big")
	if err := sdk.BlobStreamError(t.Context(), tooBig, "x put"); sdk.KindOf(err) != sdk.KindInvalidArgument || !errors.Is(err, tooBig) {
		t.Errorf("an error with a kind: %v, want it kept", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sdk.BlobStreamError(ctx, io.ErrUnexpectedEOF, "x put"); sdk.KindOf(err) != sdk.KindCanceled {
		t.Errorf("a canceled call: %v (kind %s), want canceled", err, sdk.KindOf(err))
	}
}
