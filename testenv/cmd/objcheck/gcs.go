package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// gcsProject is the project the buckets are made in; fake-gcs-server keeps
// it but checks nothing about it.
const gcsProject = "nebula-test"

func checkGCS(ctx context.Context, st *steps, roundtrip bool) (err error) {
	// The client goes to STORAGE_EMULATOR_HOST, without credentials, only
	// when it is set: without it, it would look for Google's own servers.
	host, err := env("STORAGE_EMULATOR_HOST")
	if err != nil {
		return err
	}
	if _, err := env("NEBULA_GCS_ENDPOINT"); err != nil {
		return err
	}
	c, err := storage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("storage.NewClient with STORAGE_EMULATOR_HOST=%s: %w", host, err)
	}
	defer c.Close()

	n := 0
	for it := c.Buckets(ctx, gcsProject); ; n++ {
		if _, err := it.Next(); errors.Is(err, iterator.Done) {
			break
		} else if err != nil {
			return fmt.Errorf("listing buckets: %w", err)
		}
	}
	st.done("listed %d buckets at %s", n, os.Getenv("NEBULA_GCS_ENDPOINT"))
	if !roundtrip {
		return nil
	}

	name, key := uniqueName(), "dir/object.bin"
	b := c.Bucket(name)
	if err := b.Create(ctx, gcsProject, nil); err != nil {
		return fmt.Errorf("creating bucket %s: %w", name, err)
	}
	st.done("created bucket %s", name)
	defer func() { // clean up even when a step failed
		cctx, cancel := cleanupContext()
		defer cancel()
		derr := b.Object(key).Delete(cctx)
		if errors.Is(derr, storage.ErrObjectNotExist) {
			derr = nil
		}
		if derr == nil {
			derr = b.Delete(cctx)
		}
		if derr != nil && err == nil {
			err = fmt.Errorf("deleting bucket %s: %w", name, derr)
		}
		if err == nil {
			st.done("deleted the object and the bucket")
		}
	}()

	// Chunks of 256 KiB (the smallest the client allows): 600 KiB goes up
	// as a resumable upload in three requests.
	want := payload(600 << 10)
	w := b.Object(key).NewWriter(ctx)
	w.ChunkSize = 256 << 10
	w.ContentType = "application/octet-stream"
	if _, err := w.Write(want); err != nil {
		w.Close()
		return fmt.Errorf("writing %s/%s: %w", name, key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s/%s: %w", name, key, err)
	}
	if w.Attrs().Size != int64(len(want)) {
		return fmt.Errorf("writing %s/%s: the server says %d bytes, not %d", name, key, w.Attrs().Size, len(want))
	}
	st.done("wrote %s (%d bytes, resumable upload in 256 KiB chunks)", key, len(want))

	r, err := b.Object(key).NewReader(ctx)
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", name, key, err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", name, key, err)
	}
	if err := sameBytes("reading", got, want); err != nil {
		return err
	}
	st.done("read it back")
	return nil
}
