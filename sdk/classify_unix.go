//go:build unix

package sdk

import (
	"errors"
	"syscall"
)

// kindOfErrno maps an operating system error number to a kind. The caller's
// mistakes (a name too long, a bad argument, a path through a file or a
// symbolic link loop, a file too large) are invalid_argument; the state of
// the file system (not empty, not a directory, a directory where a file was
// wanted) is failed_precondition; a disk that fails (EIO) or a peer that
// went away is unavailable, and only these say the backend is failing.
// Numbers it does not know give KindUnknown.
func kindOfErrno(errno syscall.Errno) Kind {
	switch errno {
	case syscall.ENOENT:
		return KindNotFound
	case syscall.EEXIST:
		return KindAlreadyExists
	case syscall.EACCES, syscall.EPERM, syscall.EROFS:
		return KindPermissionDenied
	case syscall.ENAMETOOLONG, syscall.EINVAL, syscall.ELOOP, syscall.EFBIG, syscall.ERANGE,
		syscall.EDOM, syscall.EILSEQ, syscall.E2BIG, syscall.EMSGSIZE:
		return KindInvalidArgument
	case syscall.ENOTDIR, syscall.EISDIR, syscall.ENOTEMPTY, syscall.EXDEV, syscall.EBUSY,
		syscall.ETXTBSY, syscall.EMLINK:
		return KindFailedPrecondition
	case syscall.ENOSPC, syscall.EDQUOT, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOBUFS:
		return KindResourceExhausted
	case syscall.ENOSYS, syscall.EOPNOTSUPP:
		return KindUnimplemented
	case syscall.ETIMEDOUT:
		return KindTimeout
	case syscall.EINTR:
		return KindCanceled
	case syscall.EIO, syscall.ESTALE, syscall.ENXIO, syscall.ENODEV, syscall.EAGAIN,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EHOSTDOWN,
		syscall.ENOTCONN, syscall.ESHUTDOWN, syscall.EADDRNOTAVAIL:
		return KindUnavailable
	}
	return KindUnknown
}

func kindOfErrnoIn(err error) (Kind, bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	k := kindOfErrno(errno)
	return k, k != KindUnknown
}

func isConnErrno(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EHOSTDOWN,
		syscall.ENOTCONN, syscall.ESHUTDOWN, syscall.ETIMEDOUT:
		return true
	}
	return false
}
