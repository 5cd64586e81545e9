package azblob

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured container. Its instances share its client.
type Resource struct {
	name      string
	cfg       Config
	client    *container.Client
	transport *http.Transport // the client's, whose idle connections Close closes
	secrets   []string        // never in an error's text
	closed    atomic.Bool
	// idleBlocks holds the block buffers of puts that ended
	// (sdk.BlobParts).
	idleBlocks sync.Pool
}

// Open returns a handle on the resource's container.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close marks the resource closed, so that later calls fail as
// unavailable, and closes the client's idle connections. It is safe to
// call more than once.
func (r *Resource) Close(context.Context) error {
	r.closed.Store(true)
	r.transport.CloseIdleConnections()
	return nil
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "azblob resource %q is closed", r.name)
}

// key is the blob name of an object's key.
func (r *Resource) key(k string) string { return r.cfg.KeyPrefix + k }

// Instance is a handle on a resource's container. It is safe for
// concurrent use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the container can be reached with the
// credentials: Get Container Properties, or with a SAS token, which a
// service SAS does not allow, a List Blobs of one blob.
func (i *Instance) Check(ctx context.Context) error {
	if err := i.usable(ctx); err != nil {
		return err
	}
	var err error
	if i.res.cfg.SASToken != "" {
		one := int32(1)
		_, err = i.res.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: &one}).NextPage(ctx)
	} else {
		_, err = i.res.client.GetProperties(ctx, nil)
	}
	return i.res.wrap(ctx, err, "check container "+i.res.cfg.Container)
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
		return sdk.Errorf(sdk.KindUnavailable, "instance of azblob resource %q is closed", i.res.name)
	case i.res.closed.Load():
		return i.res.closedError()
	}
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, "azblob")
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
