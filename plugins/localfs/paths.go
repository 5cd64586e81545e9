package localfs

import (
	"errors"
	"io/fs"
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
// being what failed ("reading", "removing", ...).
func (r *Resource) fsError(err error, doing, name string) error {
	if err == nil {
		return nil
	}
	msg := doing + " " + quote(name)
	var kind sdk.Kind
	switch {
	case r.errEscapes != nil && errors.Is(err, r.errEscapes):
		return sdk.WrapError(sdk.KindPermissionDenied, err, msg+": path escapes the root")
	case errors.Is(err, os.ErrClosed):
		return sdk.WrapError(sdk.KindUnavailable, err, msg+": localfs resource "+quote(r.name)+" is closed")
	case errors.Is(err, fs.ErrNotExist):
		kind = sdk.KindNotFound
	case errors.Is(err, syscall.ENOTEMPTY):
		kind = sdk.KindFailedPrecondition
		msg += ": directory not empty"
	case errors.Is(err, fs.ErrExist):
		kind = sdk.KindAlreadyExists
	case errors.Is(err, fs.ErrPermission):
		kind = sdk.KindPermissionDenied
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ELOOP):
		kind = sdk.KindFailedPrecondition
	case errors.Is(err, syscall.EINVAL):
		kind = sdk.KindInvalidArgument
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		kind = sdk.KindResourceExhausted
	default:
		if k := sdk.KindOf(err); k != sdk.KindUnknown {
			kind = k // an sdk error or a context error
		} else {
			kind = sdk.KindInternal
		}
	}
	return sdk.WrapError(kind, err, msg)
}
