// Package localfs is the nebula-resource driver for objects kept as files
// under one local directory, with the blob capability (sdk.CapabilityBlob)
// of the bucket drivers, presign excepted, so that a configuration moves
// between local files and a bucket by changing the resource's type. It
// adds one operation of its own, move, which renames an object.
//
// A resource of type "localfs" owns an [os.Root] opened on its root
// directory; every instance shares it, and Resource.Close closes it.
//
// # Keys and files
//
// A key is the path of its object's file under the root, "/" separating
// directories. Keys are checked twice: first lexically (keyPath: no empty,
// "." or ".." elements, nothing absolute; invalid_argument), then by
// os.Root, which refuses any path that leaves the root through a symbolic
// link (permission_denied). Links that stay inside the root are followed.
// Directories exist only to hold objects: put creates them, and a delete
// removes those it leaves empty, up to the root. Empty directories are not
// objects and list never shows them; a key that names a directory is
// not_found for get and stat and refused for put.
//
// # Writes
//
// put and copy write the bytes to a temp file beside the target, set its
// modification time from the clock, fsync it, and commit it: under the
// key's lock, check if_none_match and if_match against the object there
// now, write the new file's sidecar, rename the file over the old one,
// fsync the directory, remove the old sidecar. A put whose stream fails
// (the SDK fails it at the end when the SHA-256 does not match) removes
// its temp file and leaves the old object as it was.
//
// The locks are flock(2) locks on 256 files under .nebula/locks, chosen by
// the key's hash, so that conditional writes hold against other processes
// serving the same root too; they are held for the commit only, never
// while bytes stream. Off Unix they hold within one process.
//
// # Etags and sidecars
//
// An object's etag is its file's inode, size and modification time in
// nanoseconds: every write makes a new file with a new time, so the etag
// changes whenever the bytes or the metadata do, and a file edited by hand
// gets a new one too.
//
// What a file cannot hold (content type, user metadata, the SHA-256 of the
// bytes) is in a JSON sidecar under .nebula/meta, named by the SHA-256 of
// the key and the etag of the file it describes. A new file's sidecar is
// written before the rename and never overwrites the old file's, so a
// crash shows either the old object with its metadata or the new one with
// its own, never one object with another's metadata; a sidecar whose file
// is gone is never read again. get reports the SHA-256, which the SDK
// compares with the bytes it sends. Sidecars rather than extended
// attributes: xattrs are missing or small on some file systems (tmpfs
// without user xattrs, some network and container file systems), are
// lost by many copy and backup tools, and cannot be written atomically
// with the rename. A file without a sidecar (placed by hand, or after a
// tree was copied, which changes inodes) is an object of type
// application/octet-stream without metadata.
//
// No key can name the driver's own files: keys may not have elements that
// start with ".nebula", the name of the root's .nebula directory and of
// temp files (.nebula-put-*.tmp), which list never shows.
//
// # List
//
// list reads from the deepest directory the prefix names, each directory
// once, in key order. Without a delimiter it walks every directory; with
// "/" it gives each directory that holds an object as a prefix. The token
// is the page's last key or prefix; a page after a prefix skips its keys.
// List entries carry size, etag and last modification, not the sidecar's
// content type and metadata (stat has them).
//
// The plugin binary is cmd/nebula-plugin-localfs:
//
//	func main() { sdk.Serve(localfs.New(), otelexport.Option()) }
package localfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "localfs"

// Config is the configuration of a localfs resource.
type Config struct {
	// Root is the directory the resource serves. A relative path is
	// relative to the plugin's working directory.
	Root string `nebula:"root,required" doc:"The directory whose files the resource serves; every path is relative to it and confined to it."`
	// CreateRoot creates Root (and its parents) when it does not exist.
	CreateRoot bool `nebula:"create_root" default:"false" doc:"Create the root directory, with its parents, if it does not exist."`
}

// New returns the localfs driver.
func New() sdk.Driver { return sdk.NewDriver("localfs", release.Version(), localfsType) }

// localfsType is the driver's one resource type, "localfs".
var localfsType = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  "Objects as files under one local directory, with the blob capability of the buckets (presign excepted) and move; no key can reach outside the directory.",
	Capabilities: []string{sdk.CapabilityBlob},
	Pooling:      sdk.PoolingShared,
	Configure:    configure,
	Operations:   operations,
}

// Validate checks the configuration without touching the file system:
// root must not be empty or contain a NUL byte.
func (c Config) Validate() error {
	switch {
	case c.Root == "":
		return sdk.AttributeError("root", "must not be empty", "Set the directory the resource serves, preferably as an absolute path.")
	case strings.ContainsRune(c.Root, 0):
		return sdk.AttributeError("root", "must not contain a NUL byte", "")
	}
	return nil
}

// configure opens the root directory, creating it first when create_root
// is set. A missing root is a failed_precondition error.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	if cfg.CreateRoot {
		if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
			return nil, rootError(cfg.Root, err, "creating")
		}
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, rootError(cfg.Root, err, "opening")
	}
	return &Resource{name: name, root: root, errEscapes: escapeSentinel(root)}, nil
}

func rootError(root string, err error, doing string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sdk.Errorf(sdk.KindFailedPrecondition, "root directory %q does not exist (set create_root = true to create it)", root)
	case errors.Is(err, fs.ErrPermission):
		return sdk.WrapError(sdk.KindPermissionDenied, err, "permission denied "+doing+" root directory "+quote(root))
	}
	// ENOTDIR and the like: the root is there, but is not usable.
	return sdk.WrapError(sdk.KindFailedPrecondition, err, doing+" root directory "+quote(root))
}

// escapeSentinel returns the error os.Root wraps in an fs.PathError when a
// path leaves the root. The os package does not export it, so it is learnt
// from a path that escapes lexically ("/"): os.Root refuses that before any
// system call.
func escapeSentinel(root *os.Root) error {
	_, err := root.Lstat("/")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
