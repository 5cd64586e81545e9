package localfs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
)

// The driver's own files live under metaDir at the root, a name no key can
// have (see keyPath): the sidecars, their temporary files, and the lock
// files.
const (
	metaDir     = reservedPrefix
	sidecarDir  = metaDir + "/meta"
	sidecarTemp = metaDir + "/tmp"
	lockDir     = metaDir + "/locks"
)

// etagOf is the etag of the file fi describes: its inode, size and
// modification time in nanoseconds. Every write makes a new file (a temp
// file renamed into place) whose modification time the driver sets from
// the clock in nanoseconds, so the etag changes with every put and copy;
// metadata only ever changes with the bytes. A file changed by hand gets
// a new etag too.
func etagOf(fi fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x-%x"`, inode(fi), fi.Size(), fi.ModTime().UnixNano())
}

// sidecar is what a file cannot hold itself: the object's content type,
// user metadata and SHA-256, with the key and the etag of the file it
// belongs to.
type sidecar struct {
	Key         string            `json:"key"`
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	SHA256      string            `json:"sha256,omitempty"`
}

// sidecarPath is where the sidecar of key's file with etag lives: named by
// the SHA-256 of both, so that a new file's sidecar never overwrites the
// old file's, and a sidecar can only ever be found for the file it was
// written for.
func sidecarPath(key, etag string) string {
	h := sha256.Sum256([]byte(key + "\x00" + etag))
	x := hex.EncodeToString(h[:])
	return sidecarDir + "/" + x[:2] + "/" + x
}

// readSidecar returns the sidecar of key's file with etag; ok is false
// when it has none (a file placed by hand, or a sidecar lost to a crash),
// and the object then has no content type, metadata or SHA-256.
func (r *Resource) readSidecar(key, etag string) (sc sidecar, ok bool) {
	raw, err := r.root.ReadFile(sidecarPath(key, etag))
	if err != nil || json.Unmarshal(raw, &sc) != nil || sc.Key != key || sc.ETag != etag {
		return sidecar{}, false
	}
	return sc, true
}

// writeSidecar stores sc durably: a temp file, synced, renamed into place.
func (r *Resource) writeSidecar(sc sidecar) error {
	raw, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	if err := r.root.MkdirAll(sidecarTemp, dirPerm); err != nil {
		return r.fsError(err, "creating", sidecarTemp)
	}
	tmp, f, err := r.createTemp(sidecarTemp)
	if err != nil {
		return r.fsError(err, "creating a file in", sidecarTemp)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	dst := sidecarPath(sc.Key, sc.ETag)
	if err == nil {
		err = r.root.MkdirAll(path.Dir(dst), dirPerm)
	}
	if err == nil {
		err = r.root.Rename(tmp, dst)
	}
	if err != nil {
		_ = r.root.Remove(tmp)
		return r.fsError(err, "writing the metadata of", sc.Key)
	}
	return nil
}

// removeSidecar removes the sidecar of key's file with etag, if any. A
// sidecar left behind (a crash, an error) is never read again: no other
// file has that etag.
func (r *Resource) removeSidecar(key, etag string) {
	_ = r.root.Remove(sidecarPath(key, etag))
}

// lock takes the write locks of keys, across processes: a file lock on
// one of 256 lock files, chosen by the key's hash, so that writers of
// different keys seldom wait for each other. Every change to an object
// (the commit of put and copy, delete, move) holds its key's lock, so that
// conditions are checked and the object replaced with no other writer in
// between, whichever process it is in. The lock is held for the commit
// only, never while bytes stream. The caller must call unlock.
func (r *Resource) lock(keys ...string) (unlock func(), err error) {
	var shards []string
	for _, k := range keys {
		h := sha256.Sum256([]byte(k))
		shards = append(shards, hex.EncodeToString(h[:1]))
	}
	slices.Sort(shards) // one order, so that two movers cannot deadlock
	shards = slices.Compact(shards)
	if err := r.root.MkdirAll(lockDir, dirPerm); err != nil {
		return nil, r.fsError(err, "creating", lockDir)
	}
	var held []*os.File
	unlock = func() {
		for _, f := range slices.Backward(held) {
			unlockFile(f)
			_ = f.Close()
		}
	}
	for _, s := range shards {
		f, err := r.root.OpenFile(lockDir+"/"+s, os.O_RDWR|os.O_CREATE, filePerm)
		if err == nil {
			if err = lockFile(f); err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			unlock()
			return nil, r.fsError(err, "locking", lockDir+"/"+s)
		}
		held = append(held, f)
	}
	return unlock, nil
}

// syncDir makes the renames in dir durable.
func (r *Resource) syncDir(dir string) error {
	f, err := r.root.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, fs.ErrInvalid) {
		return nil // a platform that cannot sync a directory
	}
	return err
}
