package s3

import (
	"context"
	"sync"
	"sync/atomic"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured bucket. Its instances share its client.
type Resource struct {
	name    string
	cfg     Config
	client  *awss3.Client
	presign *awss3.PresignClient
	secrets []string // never in an error's text
	closed  atomic.Bool
	// idleParts holds the part buffers of puts that ended (sdk.BlobParts).
	idleParts sync.Pool
	// stopSweep stops the sweep of incomplete multipart uploads and waits
	// for it (sweep.go); nil when there is none.
	stopSweep func()
	stopOnce  sync.Once
}

// Open returns a handle on the resource's bucket.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close marks the resource closed, so that later calls fail as
// unavailable, and stops its sweep of incomplete multipart uploads and
// waits for it: a request of the sweep under way has sweepStopGrace to
// finish before it is canceled. The client
// holds no connection that needs closing beyond its idle ones. It is safe
// to call more than once.
func (r *Resource) Close(context.Context) error {
	r.closed.Store(true)
	r.stopOnce.Do(func() {
		if r.stopSweep != nil {
			r.stopSweep()
		}
	})
	return nil
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "s3 resource %q is closed", r.name)
}

// key is the backend's key of an object's key.
func (r *Resource) key(k string) string { return r.cfg.KeyPrefix + k }

// Instance is a handle on a resource's bucket. It is safe for concurrent
// use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the bucket can be reached with the credentials
// (HeadBucket).
func (i *Instance) Check(ctx context.Context) error {
	if err := i.usable(ctx); err != nil {
		return err
	}
	_, err := i.res.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &i.res.cfg.Bucket})
	return i.res.wrap(ctx, err, "check bucket "+i.res.cfg.Bucket)
}

// Close closes the handle; the client stays with the resource.
func (i *Instance) Close(context.Context) error {
	i.closed.Store(true)
	return nil
}

// usable returns an error when the instance or its resource is closed, or
// when ctx is done.
func (i *Instance) usable(ctx context.Context) error {
	switch {
	case i.closed.Load():
		return sdk.Errorf(sdk.KindUnavailable, "instance of s3 resource %q is closed", i.res.name)
	case i.res.closed.Load():
		return i.res.closedError()
	}
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, "s3")
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Resource      = (*Resource)(nil)
	_ sdk.Instance      = (*Instance)(nil)
	_ sdk.BlobStore     = (*Instance)(nil)
	_ sdk.BlobPresigner = (*Instance)(nil)
)
