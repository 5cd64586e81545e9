package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckBinary returns why the file at path cannot be started as a plugin,
// or nil. The supervisor calls it before every start, next to the SHA-256
// check; the host calls it to report a bad plugin as a diagnostic before
// starting anything. Its errors wrap ErrNotPluginBinary or
// ErrInsecurePermissions and say what to do:
//
//   - no file at the path, or one that cannot be read;
//   - a directory, or another file that is not a regular file (a named
//     pipe, a socket, a device);
//   - a file no one may execute;
//   - unless allowWorldWritable, a binary writable by every user, or a
//     directory on its path (up to the root, for the path as given and
//     for the file a symbolic link leads to) writable by every user
//     without the sticky bit: any local user could then put another
//     program in the plugin's place, and the host would run it. This is
//     the check OpenSSH makes of key files with StrictModes.
func CheckBinary(path string, allowWorldWritable bool) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &binaryError{sentinel: ErrNotPluginBinary, cause: fs.ErrNotExist, msg: "no file at " + path}
	case errors.Is(err, fs.ErrPermission):
		return binaryErrorf(ErrNotPluginBinary, "cannot read %s: permission denied to the host's user", path)
	case err != nil:
		return binaryErrorf(ErrNotPluginBinary, "%v", err)
	}
	mode := st.Mode()
	switch {
	case mode.IsDir():
		return binaryErrorf(ErrNotPluginBinary, "%s is a directory, not a plugin binary", path)
	case !mode.IsRegular():
		return binaryErrorf(ErrNotPluginBinary, "%s is %s, not a plugin binary", path, fileKind(mode))
	case mode.Perm()&0o111 == 0:
		return binaryErrorf(ErrNotPluginBinary, "%s is not executable (mode %s); make it executable with chmod +x %s", path, mode, path)
	}
	if allowWorldWritable {
		return nil
	}
	if mode.Perm()&0o002 != 0 {
		return binaryErrorf(ErrInsecurePermissions, "the plugin binary %s is writable by every user (mode %s), so any local user could replace the program the host runs; fix it with chmod o-w %s, or set allow_world_writable = true in a plugin block for it to accept the risk",
			path, mode, path)
	}
	for _, dir := range dirsAbove(path) {
		dst, err := os.Stat(dir)
		if err != nil {
			continue // the file was found through it; nothing to judge
		}
		if dm := dst.Mode(); dm.Perm()&0o002 != 0 && dm&fs.ModeSticky == 0 {
			return binaryErrorf(ErrInsecurePermissions, "the directory %s, which holds the plugin binary %s, is writable by every user without the sticky bit (mode %s), so any local user could replace the program the host runs; fix it with chmod o-w %s, or set allow_world_writable = true in a plugin block for it to accept the risk",
				dir, path, dm, dir)
		}
	}
	return nil
}

// dirsAbove lists the directories from path's up to the root, for path as
// given and for the file its symbolic links lead to.
func dirsAbove(path string) []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(p string) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return
		}
		for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
			if !seen[dir] {
				seen[dir] = true
				dirs = append(dirs, dir)
			}
			if dir == filepath.Dir(dir) {
				return
			}
		}
	}
	add(path)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		add(real)
	}
	return dirs
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// binaryError is a problem with a plugin binary: its message says it all,
// and it wraps one of the package's sentinels.
type binaryError struct {
	sentinel error
	cause    error // nil, or fs.ErrNotExist
	msg      string
}

func binaryErrorf(sentinel error, format string, args ...any) error {
	return &binaryError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

func (e *binaryError) Error() string { return e.msg }
func (e *binaryError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}
