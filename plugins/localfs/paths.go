package localfs

import (
	"errors"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// cleanPath checks a caller's path before it reaches the file system and
// returns it cleaned (slash-separated, relative to the root, "." for the
// root itself). It refuses empty and absolute paths, ".." elements and NUL
// bytes; a backslash counts as a separator for the ".." check, so that no
// platform can read "a\..\..\x" as a way out. allowRoot permits a path
// that names the root itself.
func cleanPath(name string, allowRoot bool) (string, error) {
	switch {
	case name == "":
		return "", sdk.Errorf(sdk.KindInvalidArgument, "path must not be empty")
	case strings.ContainsRune(name, 0):
		return "", sdk.Errorf(sdk.KindInvalidArgument, "path %s contains a NUL byte", quote(name))
	case strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || hasVolume(name):
		return "", sdk.Errorf(sdk.KindInvalidArgument, "path %s is absolute; paths are relative to the root", quote(name))
	}
	for _, elem := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if elem == ".." {
			return "", sdk.Errorf(sdk.KindInvalidArgument, `path %s has a ".." element; paths must stay under the root`, quote(name))
		}
	}
	clean := path.Clean(name)
	// Cleaning can bring what an element hid to the front: ./\ cleans to
	// \ and ./C:/x to C:/x, both absolute on Windows.
	if strings.HasPrefix(clean, `\`) || hasVolume(clean) {
		return "", sdk.Errorf(sdk.KindInvalidArgument, "path %s is absolute once cleaned; paths are relative to the root", quote(name))
	}
	if clean == "." && !allowRoot {
		return "", sdk.Errorf(sdk.KindInvalidArgument, "path %s names the root directory itself", quote(name))
	}
	return clean, nil
}

// hasVolume reports whether name starts with a Windows drive letter ("C:").
func hasVolume(name string) bool {
	return len(name) >= 2 && name[1] == ':' &&
		('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z')
}

// quote quotes a path for an error message.
func quote(name string) string { return strconv.Quote(name) }

// fsError turns an error from os.Root into an sdk error about name, doing
// being what failed ("reading", "removing", ...). The kind comes from the
// SDK's shared classifier of operating system errors, so that a caller's
// bad path (a name too long, a path through a file) is invalid_argument or
// failed_precondition and never counts as a failing backend; only what the
// classifier cannot place is internal.
func (r *Resource) fsError(err error, doing, name string) error {
	if err == nil {
		return nil
	}
	msg := doing + " " + quote(name)
	switch {
	case r.errEscapes != nil && errors.Is(err, r.errEscapes):
		return sdk.WrapError(sdk.KindPermissionDenied, err, msg+": path escapes the root")
	case errors.Is(err, os.ErrClosed):
		return sdk.WrapError(sdk.KindUnavailable, err, msg+": localfs resource "+quote(r.name)+" is closed")
	case errors.Is(err, syscall.ENOTEMPTY):
		msg += ": directory not empty"
	case errors.Is(err, syscall.ENAMETOOLONG):
		msg += ": a name in the path is too long for the file system"
	case errors.Is(err, syscall.ENOTDIR):
		msg += ": a parent in the path is not a directory"
	case errors.Is(err, syscall.ELOOP):
		msg += ": too many symbolic links"
	}
	return sdk.WrapError(sdk.ClassifyOr(err, sdk.KindInternal), err, msg)
}
