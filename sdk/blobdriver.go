package sdk

import (
	"context"
	"sync"
)

// What blob drivers share beside BlobOps: the classification of a failed
// read of put's body, and deletes one request per key.

// BlobStreamError classifies an error a driver met reading put's body
// (the caller's stream) or writing get's output: the call's own end when
// ctx is done, the error's kind when it has one (the SDK's checks of size
// and SHA-256 give theirs), else unavailable, since the caller's stream
// broke. what names the call ("s3 put \"a.csv\": reading the upload").
func BlobStreamError(ctx context.Context, err error, what string) error {
	if cerr := ctx.Err(); cerr != nil {
		return WrapError(KindOf(cerr), cerr, what)
	}
	if k := KindOf(err); k != KindUnknown {
		return WrapError(k, err, what)
	}
	return WrapError(KindUnavailable, err, what)
}

// BlobDeleteConcurrency is how many requests DeleteBlobsEach has in
// flight at a time.
const BlobDeleteConcurrency = 16

// DeleteBlobsEach deletes keys with a call of remove per key, at most
// BlobDeleteConcurrency at a time, for a backend without a batch delete
// (Google Cloud Storage's JSON API, Azure Blob). remove returns nil for a
// key that is absent. The first error stops the calls not yet made and is
// returned; so is ctx's end.
func DeleteBlobsEach(ctx context.Context, keys []string, remove func(ctx context.Context, key string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	slots := make(chan struct{}, BlobDeleteConcurrency)
	for _, key := range keys {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := remove(ctx, key); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return WrapError(KindOf(err), err, "delete")
	}
	return nil
}
