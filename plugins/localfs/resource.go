package localfs

import (
	"context"
	"os"
	"sync/atomic"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// chunkSize is how many bytes get and put move at a time; cancellation is
// checked between chunks.
const chunkSize = 64 << 10

// Permissions of the files and directories the driver creates, before the
// process umask.
const (
	filePerm = 0o644
	dirPerm  = 0o755
)

// Temporary files are named tempPrefix + random + tempSuffix: those of
// put, copy and move beside their target, those of sidecars in
// sidecarTemp. tempPrefix starts with reservedPrefix, so no key can name
// them and list does not show them.
const (
	tempPrefix = reservedPrefix + "-put-"
	tempSuffix = ".tmp"
)

// Resource is one configured root directory. Its instances share it.
type Resource struct {
	name string
	root *os.Root
	// errEscapes is the error os.Root reports for a path that leaves the
	// root; see escapeSentinel.
	errEscapes error
	closed     atomic.Bool
}

// Open returns a handle on the resource's root.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close closes the root. Calls in flight finish (os.Root keeps its
// directory open until they do); later calls fail as unavailable. Close is
// safe to call more than once.
func (r *Resource) Close(context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	return r.fsError(r.root.Close(), "closing root", r.root.Name())
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "localfs resource %q is closed", r.name)
}

// Instance is a handle on a resource's root. It is safe for concurrent use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the root directory can still be read.
func (i *Instance) Check(ctx context.Context) error {
	if err := i.usable(ctx, "check"); err != nil {
		return err
	}
	fi, err := i.res.root.Stat(".")
	if err != nil {
		return i.res.fsError(err, "checking root", ".")
	}
	if !fi.IsDir() {
		return sdk.Errorf(sdk.KindFailedPrecondition, "root of localfs resource %q is no longer a directory", i.res.name)
	}
	// The open handle outlives its directory: a root that was removed or
	// replaced still stats fine through it, while new files could not be
	// found by anyone else. Compare it with what its path names now.
	if now, err := os.Stat(i.res.root.Name()); err != nil || !os.SameFile(fi, now) {
		return sdk.Errorf(sdk.KindUnavailable, "root directory of localfs resource %q was removed or replaced", i.res.name)
	}
	return nil
}

// Close closes the handle; the root stays with the resource.
func (i *Instance) Close(context.Context) error {
	i.closed.Store(true)
	return nil
}

// usable returns an error when the instance or its resource is closed, or
// when ctx is done.
func (i *Instance) usable(ctx context.Context, op string) error {
	switch {
	case i.closed.Load():
		return sdk.Errorf(sdk.KindUnavailable, "instance of localfs resource %q is closed", i.res.name)
	case i.res.closed.Load():
		return i.res.closedError()
	}
	return ctxError(ctx, "localfs "+op)
}

// ctxError returns ctx's error as an sdk error of kind canceled or timeout,
// or nil while ctx is live.
func ctxError(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, what)
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Resource  = (*Resource)(nil)
	_ sdk.Instance  = (*Instance)(nil)
	_ sdk.BlobStore = (*Instance)(nil)
)
