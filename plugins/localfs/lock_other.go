//go:build !unix

package localfs

import (
	"io/fs"
	"os"
	"sync"
)

// lockedFiles holds the lock files locked in this process, by name. Off
// Unix the locks hold between the goroutines of one plugin process only.
var (
	lockedMu   sync.Mutex // guards locked
	lockedCond = sync.NewCond(&lockedMu)
	locked     = map[string]bool{}
)

func lockFile(f *os.File) error {
	lockedMu.Lock()
	defer lockedMu.Unlock()
	for locked[f.Name()] {
		lockedCond.Wait()
	}
	locked[f.Name()] = true
	return nil
}

func unlockFile(f *os.File) {
	lockedMu.Lock()
	delete(locked, f.Name())
	lockedMu.Unlock()
	lockedCond.Broadcast()
}

// inode is 0 off Unix: the etag is the size and the modification time.
func inode(fs.FileInfo) uint64 { return 0 }

// errNotDir is what opening or reading a path through a file fails with.
var errNotDir = fs.ErrInvalid
