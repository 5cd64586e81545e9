// Package localfs is the nebula-resource driver for files under one local
// directory.
//
// A resource of type "localfs" owns an [os.Root] opened on its root
// directory; every instance shares it, and Resource.Close closes it. All
// paths are slash-separated and relative to the root. They are checked
// twice: first lexically (no empty, absolute or ".." paths, no NUL bytes:
// invalid_argument), then by os.Root itself, which refuses any path that
// leaves the root through a symbolic link (permission_denied).
//
// Uploads (put) stream into a temporary file beside the target and are
// renamed into place only when complete, so a failed or cancelled upload
// never leaves a partial file.
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
	Name:        TypeName,
	Description: "Files under one local directory, with streamed upload and download; no path can reach outside the directory.",
	Pooling:     sdk.PoolingShared,
	Configure:   configure,
	Operations:  operations,
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
