package localfs

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// reservedPrefix starts the names the driver keeps for itself: the
// directory of sidecars and locks at the root (metaDir) and the temporary
// files of writes in progress (tempPrefix). No key may have an element
// that starts with it, so no key can name them; list never shows them.
const reservedPrefix = ".nebula"

// keyPath checks that a key names a file under the root and returns the
// path it names, which is the key itself: "/" separates directories, and
// every element must be a file name. It refuses (invalid_argument) what
// the SDK's key rules allow but a file system cannot hold as one file per
// key: empty elements ("a//b", "a/", which S3 calls folder markers), "."
// and ".." elements, a backslash that would spell ".." on another platform
// ("a\..\x"), a Windows drive letter, and elements that start with
// ".nebula", the driver's own names. It also refuses what the SDK refuses
// (empty, absolute, NUL), for the operations the SDK does not check (move).
func keyPath(what, key string) (string, error) {
	switch {
	case key == "":
		return "", sdk.Errorf(sdk.KindInvalidArgument, "%s must not be empty", what)
	case strings.ContainsRune(key, 0):
		return "", sdk.Errorf(sdk.KindInvalidArgument, "%s %s contains a NUL byte", what, quote(key))
	case strings.HasPrefix(key, "/") || strings.HasPrefix(key, `\`) || hasVolume(key):
		return "", sdk.Errorf(sdk.KindInvalidArgument, "%s %s is absolute; keys are relative to the root", what, quote(key))
	case len(key) > sdk.BlobMaxKeyLen:
		return "", sdk.Errorf(sdk.KindInvalidArgument, "%s is %d bytes long; the most is %d", what, len(key), sdk.BlobMaxKeyLen)
	}
	for _, elem := range strings.FieldsFunc(key, func(r rune) bool { return r == '/' || r == '\\' }) {
		if elem == ".." {
			return "", sdk.Errorf(sdk.KindInvalidArgument, `%s %s has a ".." element; keys must stay under the root`, what, quote(key))
		}
	}
	for elem := range strings.SplitSeq(key, "/") {
		switch {
		case elem == "":
			return "", sdk.Errorf(sdk.KindInvalidArgument, `%s %s has an empty element ("//", or "/" at the end): localfs stores each object as a file, and a file needs a name`, what, quote(key))
		case elem == ".":
			return "", sdk.Errorf(sdk.KindInvalidArgument, `%s %s has a "." element`, what, quote(key))
		case strings.HasPrefix(elem, reservedPrefix):
			return "", sdk.Errorf(sdk.KindInvalidArgument, "%s %s has an element that starts with %q, which localfs keeps for its own files", what, quote(key), reservedPrefix)
		}
	}
	return key, nil
}

// hasVolume reports whether name starts with a Windows drive letter ("C:").
func hasVolume(name string) bool {
	return len(name) >= 2 && name[1] == ':' &&
		('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z')
}

// quote quotes a key or path for an error message.
func quote(name string) string { return strconv.Quote(name) }

// fsError turns an error from os.Root into an sdk error about name, doing
// being what failed ("reading", "removing", ...). The kind comes from the
// SDK's shared classifier of operating system errors, so that a caller's
// bad key (a name too long, a path through a file) is invalid_argument or
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
		msg += ": a name in the key is too long for the file system"
	case errors.Is(err, syscall.ENOTDIR):
		msg += ": a parent in the key is a file, not a directory"
	case errors.Is(err, syscall.ELOOP):
		msg += ": too many symbolic links"
	}
	return sdk.WrapError(sdk.ClassifyOr(err, sdk.KindInternal), err, msg)
}
