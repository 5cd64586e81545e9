package gcs

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured bucket. Its instances share its client.
type Resource struct {
	name   string
	cfg    Config
	client *storage.Client
	bucket *storage.BucketHandle
	// transport is the client's base transport, whose idle connections
	// Close closes.
	transport *http.Transport
	secrets   []string // never in an error's text
	// signer signs presigned URLs; nil without a service account key.
	signer *signer
	// signHost and signInsecure place presigned URLs on the endpoint; ""
	// for Google's.
	signHost     string
	signInsecure bool
	closed       atomic.Bool
}

// signer is a service account's key.
type signer struct {
	email string
	key   []byte // PEM
}

// Open returns a handle on the resource's bucket.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close closes the client; later calls fail as unavailable. It is safe to
// call more than once.
func (r *Resource) Close(context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	err := r.client.Close()
	r.transport.CloseIdleConnections()
	return err
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "gcs resource %q is closed", r.name)
}

// key is the backend's name of an object's key.
func (r *Resource) key(k string) string { return r.cfg.KeyPrefix + k }

// object is the handle of an object's key. Reads return the bytes as
// stored: an object with Content-Encoding gzip is not decompressed, so
// that sizes, ranges and checksums are the stored bytes'.
func (r *Resource) object(k string) *storage.ObjectHandle {
	return r.bucket.Object(r.key(k)).ReadCompressed(true)
}

// Instance is a handle on a resource's bucket. It is safe for concurrent
// use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the bucket's objects can be listed with the
// credentials (one object under key_prefix): the permission a blob user
// has, where reading the bucket's own metadata needs more.
func (i *Instance) Check(ctx context.Context) error {
	if err := i.usable(ctx); err != nil {
		return err
	}
	r := i.res
	q := &storage.Query{Prefix: r.cfg.KeyPrefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return sdk.WrapError(sdk.KindInternal, err, "gcs check")
	}
	it := r.bucket.Objects(ctx, q)
	it.PageInfo().MaxSize = 1
	if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
		return r.wrap(ctx, err, "check bucket "+r.cfg.Bucket)
	}
	return nil
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
		return sdk.Errorf(sdk.KindUnavailable, "instance of gcs resource %q is closed", i.res.name)
	case i.res.closed.Load():
		return i.res.closedError()
	}
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, "gcs")
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
