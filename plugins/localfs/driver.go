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

	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "localfs"

// Version is the driver's version.
const Version = "0.1.0"

// Config is the configuration of a localfs resource.
type Config struct {
	// Root is the directory the resource serves. A relative path is
	// relative to the plugin's working directory.
	Root string `nebula:"root,required" doc:"The directory whose files the resource serves; every path is relative to it and confined to it."`
	// CreateRoot creates Root (and its parents) when it does not exist.
	CreateRoot bool `nebula:"create_root" default:"false" doc:"Create the root directory, with its parents, if it does not exist."`
}

var configSchema = sdk.MustSchemaFor(Config{})

// Driver is the localfs driver. Its zero value is ready to use; New returns
// one.
type Driver struct{}

// New returns the localfs driver.
func New() *Driver { return &Driver{} }

// Info describes the driver and its one resource type, "localfs".
func (d *Driver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{
		Name:    "localfs",
		Version: Version,
		Types: []sdk.ResourceType{{
			Name:         TypeName,
			Description:  "Files under one local directory, with streamed upload and download; no path can reach outside the directory.",
			Config:       configSchema,
			Capabilities: []string{"blob"},
			Pooling:      sdk.PoolingShared,
			Operations:   operations,
		}},
	}
}

// ValidateConfig checks the configuration without touching the file
// system: root must not be empty or contain a NUL byte.
func (d *Driver) ValidateConfig(_ context.Context, req sdk.ValidateRequest) error {
	if err := checkType(req.Type); err != nil {
		return err
	}
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	return cfg.validate()
}

func (c Config) validate() error {
	switch {
	case c.Root == "":
		return sdk.AttributeError("root", "must not be empty", "Set the directory the resource serves, preferably as an absolute path.")
	case strings.ContainsRune(c.Root, 0):
		return sdk.AttributeError("root", "must not contain a NUL byte", "")
	}
	return nil
}

// Configure opens the root directory, creating it first when create_root
// is set. A missing root is a failed_precondition error.
func (d *Driver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	if err := checkType(req.Type); err != nil {
		return nil, err
	}
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of localfs resource "+req.Name)
	}
	if cfg.CreateRoot {
		if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
			return nil, rootError(cfg.Root, err, "creating")
		}
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, rootError(cfg.Root, err, "opening")
	}
	return &Resource{name: req.Name, root: root, errEscapes: escapeSentinel(root)}, nil
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

func checkType(name string) error {
	if name != TypeName {
		return sdk.Errorf(sdk.KindInvalidArgument, "localfs driver has no resource type %q", name)
	}
	return nil
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

// Interface guard.
var (
	_ sdk.Driver          = (*Driver)(nil)
	_ sdk.ConfigValidator = (*Driver)(nil)
)
