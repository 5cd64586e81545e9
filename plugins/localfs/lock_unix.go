//go:build unix

package localfs

import (
	"io/fs"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f; flock locks conflict between
// open files, in one process or in many.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// inode is fi's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // uint32 on some platforms
	}
	return 0
}

// errNotDir is what opening or reading a path through a file fails with.
var errNotDir = syscall.ENOTDIR
