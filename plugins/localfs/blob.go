package localfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// defaultContentType is the content type of an object put without one.
const defaultContentType = "application/octet-stream"

// moveArgs are the arguments of move, localfs's own operation.
type moveArgs struct {
	From      string `nebula:"from,required" doc:"The key of the object to move."`
	To        string `nebula:"to,required" doc:"The object's new key."`
	Overwrite bool   `nebula:"overwrite" default:"false" doc:"Replace an object at to; otherwise one there is an already_exists error."`
}

// operations are the blob capability's and move.
var operations = append(sdk.BlobOps[*Instance](),
	sdk.NewOp("move", "Renames an object, with its content type and metadata, within the root: one rename, without copying the bytes.", (*Instance).move),
)

// PutBlob streams body into a temp file beside the object's file, syncs
// it, and commits it (see commit). A body that fails leaves the old object
// and no temp file.
func (i *Instance) PutBlob(ctx context.Context, a sdk.BlobPutArgs, body io.Reader) (sdk.BlobInfo, error) {
	if err := i.usable(ctx, "put"); err != nil {
		return sdk.BlobInfo{}, err
	}
	name, err := keyPath("key", a.Key)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	if err := r.checkTarget(name, "put"); err != nil {
		return sdk.BlobInfo{}, err
	}
	tmp, f, err := r.createTempBeside(name)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	_, sum, rerr, werr := pump(ctx, f, body)
	switch {
	case rerr != nil:
		err = sdk.BlobStreamError(ctx, rerr, "reading the upload of "+quote(name))
	case werr != nil:
		err = r.fsError(werr, "writing", name)
	}
	return r.finish(ctx, f, tmp, err, pending{key: name, sha: sum, contentType: a.ContentType, metadata: a.Metadata, ifNoneMatch: a.IfNoneMatch, ifMatch: a.IfMatch})
}

// pending is a write whose bytes are in a temp file, waiting for commit.
type pending struct {
	key                  string
	sha                  []byte
	contentType          string
	metadata             map[string]string
	ifNoneMatch, ifMatch string
}

// finish closes the temp file f after a write that ended with err and
// commits it, or removes it.
func (r *Resource) finish(_ context.Context, f *os.File, tmp string, err error, p pending) (sdk.BlobInfo, error) {
	if err == nil {
		// The etag holds the modification time: set it from the clock, in
		// nanoseconds, rather than the file system's coarser one.
		now := time.Now()
		err = r.fsError(r.root.Chtimes(tmp, now, now), "writing", p.key)
	}
	if err == nil {
		err = r.fsError(f.Sync(), "writing", p.key)
	}
	if cerr := f.Close(); err == nil {
		err = r.fsError(cerr, "writing", p.key)
	}
	var info sdk.BlobInfo
	if err == nil {
		info, err = r.commit(tmp, p)
	}
	if err != nil {
		_ = r.root.Remove(tmp)
		return sdk.BlobInfo{}, err
	}
	return info, nil
}

// commit puts the temp file tmp in place as p.key's object, under the
// key's lock: it checks the conditions against the object there now,
// writes the new file's sidecar (named by its etag, so the old object
// keeps its own), renames the file over the old one, syncs the directory,
// and removes the old object's sidecar. A crash at any point shows the old
// object with its metadata or the new one with its own: never a mix.
func (r *Resource) commit(tmp string, p pending) (sdk.BlobInfo, error) {
	fi, err := r.root.Lstat(tmp)
	if err != nil {
		return sdk.BlobInfo{}, r.fsError(err, "writing", p.key)
	}
	etag := etagOf(fi)
	unlock, err := r.lock(p.key)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	defer unlock()
	old, err := r.root.Stat(p.key)
	exists := err == nil
	switch {
	case exists && !old.Mode().IsRegular():
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindFailedPrecondition, "cannot write %s: it is a directory", quote(p.key))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return sdk.BlobInfo{}, r.fsError(err, "writing", p.key)
	case p.ifNoneMatch == "*" && exists:
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindAlreadyExists, "%s exists (if_none_match is \"*\")", quote(p.key))
	case p.ifMatch != "" && !exists:
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s does not exist, so it does not have etag %s", quote(p.key), p.ifMatch)
	case p.ifMatch != "" && etagOf(old) != p.ifMatch:
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s has etag %s, not %s", quote(p.key), etagOf(old), p.ifMatch)
	}
	sc := sidecar{Key: p.key, ETag: etag, ContentType: p.contentType, Metadata: p.metadata, SHA256: hex.EncodeToString(p.sha)}
	if err := r.writeSidecar(sc); err != nil {
		return sdk.BlobInfo{}, err
	}
	if err := r.root.Rename(tmp, p.key); err != nil {
		r.removeSidecar(p.key, etag)
		return sdk.BlobInfo{}, r.fsError(err, "writing", p.key)
	}
	if err := r.syncDir(path.Dir(p.key)); err != nil {
		return sdk.BlobInfo{}, r.fsError(err, "writing", p.key)
	}
	if exists {
		r.removeSidecar(p.key, etagOf(old))
	}
	return infoOf(p.key, fi, sc, true), nil
}

// infoOf describes key's file fi with its sidecar sc, when ok.
func infoOf(key string, fi fs.FileInfo, sc sidecar, ok bool) sdk.BlobInfo {
	info := sdk.BlobInfo{Key: key, Size: fi.Size(), ETag: etagOf(fi), ContentType: defaultContentType, LastModified: fi.ModTime().UTC()}
	if ok {
		if sc.ContentType != "" {
			info.ContentType = sc.ContentType
		}
		info.Metadata, info.SHA256 = sc.Metadata, sc.SHA256
	}
	return info
}

// checkTarget refuses, before any byte moves, a key whose file would
// leave the root or that names a directory.
func (r *Resource) checkTarget(name, op string) error {
	fi, err := r.root.Stat(name)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return sdk.Errorf(sdk.KindFailedPrecondition, "cannot %s %s: it is a directory", op, quote(name))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return r.fsError(err, op+"ting", name)
	}
	return nil
}

// createTempBeside creates the parent directories of name and a temp file
// in the same directory, so that the rename into place is atomic. A
// delete may remove an empty parent in between: that is tried again.
func (r *Resource) createTempBeside(name string) (string, *os.File, error) {
	dir := path.Dir(name)
	for attempt := 0; ; attempt++ {
		if dir != "." {
			if err := r.root.MkdirAll(dir, dirPerm); err != nil {
				return "", nil, r.fsError(err, "creating directory", dir)
			}
		}
		tmp, f, err := r.createTemp(dir)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue
		}
		if err != nil {
			return "", nil, r.fsError(err, "creating a file in", dir)
		}
		return tmp, f, nil
	}
}

// createTemp creates a new temp file in dir.
func (r *Resource) createTemp(dir string) (string, *os.File, error) {
	for {
		tmp := path.Join(dir, tempPrefix+rand.Text()+tempSuffix)
		f, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue // 130 random bits collided; try another name
		}
		return tmp, f, err
	}
}

// pump copies src to dst chunk by chunk, checking ctx between chunks, and
// returns how many bytes it copied and their SHA-256; rerr is src's error
// (or ctx's), werr dst's.
func pump(ctx context.Context, dst io.Writer, src io.Reader) (n int64, sum []byte, rerr, werr error) {
	h := sha256.New()
	buf := make([]byte, chunkSize)
	for {
		if err := ctxError(ctx, "localfs"); err != nil {
			return n, nil, err, nil
		}
		m, err := io.ReadFull(src, buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return n, nil, nil, werr
			}
			h.Write(buf[:m])
			n += int64(m)
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return n, h.Sum(nil), nil, nil
		case err != nil:
			return n, nil, err, nil
		}
	}
}

// readError is fsError for a key being read: a key through a file ("a/b"
// where "a" is an object) names no object, so it is not_found.
func (r *Resource) readError(err error, doing, key string) error {
	if errors.Is(err, errNotDir) {
		return sdk.WrapError(sdk.KindNotFound, err, doing+" "+quote(key)+": no object (a parent in the key is an object, not a directory)")
	}
	return r.fsError(err, doing, key)
}

// openObject opens key's file and returns it with its info and etag; a
// key that is absent, or names a directory or anything but a file, is
// not_found, and one whose etag is not ifMatch (when set)
// failed_precondition.
func (r *Resource) openObject(key, ifMatch, doing string) (*os.File, fs.FileInfo, string, error) {
	f, err := r.root.Open(key)
	if err != nil {
		return nil, nil, "", r.readError(err, doing, key)
	}
	fi, err := f.Stat()
	var etag string
	switch {
	case err != nil:
		err = r.fsError(err, doing, key)
	case !fi.Mode().IsRegular():
		err = sdk.Errorf(sdk.KindNotFound, "%s %s: no object (it is a directory)", doing, quote(key))
	default:
		if etag = etagOf(fi); ifMatch != "" && ifMatch != etag {
			err = sdk.Errorf(sdk.KindFailedPrecondition, "%s has etag %s, not %s", quote(key), etag, ifMatch)
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, "", err
	}
	return f, fi, etag, nil
}

// GetBlob sends the range of the object from the file it opened: the
// etag, the if_match check and the bytes all come from that one file,
// whatever replaces it meanwhile.
func (i *Instance) GetBlob(ctx context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	if err := i.usable(ctx, "get"); err != nil {
		return sdk.BlobInfo{}, err
	}
	name, err := keyPath("key", a.Key)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	f, fi, etag, err := r.openObject(name, a.IfMatch, "getting")
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	defer f.Close()
	if a.Offset > 0 && a.Offset >= fi.Size() {
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindInvalidArgument, "offset %d is at or past the end of %s, which holds %d bytes", a.Offset, quote(name), fi.Size())
	}
	sc, ok := r.readSidecar(name, etag)
	n := fi.Size() - a.Offset
	if a.Length >= 0 {
		n = min(n, a.Length)
	}
	if _, rerr, werr := pumpRange(ctx, w, f, a.Offset, n); rerr != nil {
		return sdk.BlobInfo{}, r.fsError(rerr, "reading", name)
	} else if werr != nil {
		return sdk.BlobInfo{}, sdk.BlobStreamError(ctx, werr, "sending "+quote(name))
	}
	return infoOf(name, fi, sc, ok), nil
}

// pumpRange copies n bytes of f from offset to w.
func pumpRange(ctx context.Context, w io.Writer, f *os.File, offset, n int64) (int64, error, error) {
	copied, _, rerr, werr := pump(ctx, w, io.NewSectionReader(f, offset, n))
	if rerr != nil && sdk.KindOf(rerr) != sdk.KindUnknown {
		// ctx ended: that is the caller's, not the file's.
		return copied, nil, rerr
	}
	return copied, rerr, werr
}

// StatBlob returns the object's info with its sidecar's content type,
// metadata and SHA-256.
func (i *Instance) StatBlob(ctx context.Context, key string) (sdk.BlobInfo, error) {
	if err := i.usable(ctx, "stat"); err != nil {
		return sdk.BlobInfo{}, err
	}
	name, err := keyPath("key", key)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	fi, err := i.res.root.Stat(name)
	switch {
	case err != nil:
		return sdk.BlobInfo{}, i.res.readError(err, "stat", name)
	case !fi.Mode().IsRegular():
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindNotFound, "stat %s: no object (it is a directory)", quote(name))
	}
	sc, ok := i.res.readSidecar(name, etagOf(fi))
	return infoOf(name, fi, sc, ok), nil
}

// DeleteBlobs removes each object's file and sidecar under the key's
// lock, then the directories the removal left empty, up to the root. A
// key that is absent or names a directory is not an error.
func (i *Instance) DeleteBlobs(ctx context.Context, keys []string) error {
	if err := i.usable(ctx, "delete"); err != nil {
		return err
	}
	for _, key := range keys {
		if err := ctxError(ctx, "localfs delete"); err != nil {
			return err
		}
		name, err := keyPath("key", key)
		if err != nil {
			return err
		}
		if err := i.res.deleteOne(name); err != nil {
			return err
		}
	}
	return nil
}

func (r *Resource) deleteOne(name string) error {
	unlock, err := r.lock(name)
	if err != nil {
		return err
	}
	fi, err := r.root.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) || err == nil && !fi.Mode().IsRegular():
		unlock()
		return nil
	case err != nil:
		unlock()
		return r.fsError(err, "deleting", name)
	}
	err = r.root.Remove(name)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		r.removeSidecar(name, etagOf(fi))
		err = nil
	}
	unlock()
	if err != nil {
		return r.fsError(err, "deleting", name)
	}
	r.prune(path.Dir(name))
	return nil
}

// prune removes dir and its parents while they are empty directories (not
// links), stopping at the root: empty directories are not objects, and a
// tree of them would only slow list down.
func (r *Resource) prune(dir string) {
	for dir != "." {
		if fi, err := r.root.Lstat(dir); err != nil || !fi.IsDir() || r.root.Remove(dir) != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

// CopyBlob copies the bytes of the file it opened (so if_match holds for
// exactly those bytes) to a temp file beside the copy, and commits it
// like put, with the source's content type and metadata. A source whose
// bytes no longer have the SHA-256 its sidecar holds is not copied.
func (i *Instance) CopyBlob(ctx context.Context, a sdk.BlobCopyArgs) (sdk.BlobInfo, error) {
	if err := i.usable(ctx, "copy"); err != nil {
		return sdk.BlobInfo{}, err
	}
	from, err := keyPath("from", a.From)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	to, err := keyPath("to", a.To)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	src, fi, etag, err := r.openObject(from, a.IfMatch, "copying")
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	defer src.Close()
	if err := r.checkTarget(to, "copy"); err != nil {
		return sdk.BlobInfo{}, err
	}
	if a.IfNoneMatch == "*" {
		// Checked again under the lock; this spares copying the bytes.
		if _, err := r.root.Stat(to); err == nil {
			return sdk.BlobInfo{}, sdk.Errorf(sdk.KindAlreadyExists, "%s exists (if_none_match is \"*\")", quote(to))
		}
	}
	sc, _ := r.readSidecar(from, etag)
	tmp, f, err := r.createTempBeside(to)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	n, sum, rerr, werr := pump(ctx, f, io.NewSectionReader(src, 0, fi.Size()))
	switch {
	case rerr != nil && sdk.KindOf(rerr) != sdk.KindUnknown:
		err = rerr
	case rerr != nil:
		err = r.fsError(rerr, "reading", from)
	case werr != nil:
		err = r.fsError(werr, "writing", to)
	case n != fi.Size() || sc.SHA256 != "" && sc.SHA256 != hex.EncodeToString(sum):
		err = sdk.WrapError(sdk.KindUnavailable, sdk.ErrBlobChecksum, "copying "+quote(from)+": its file no longer holds the bytes it was written with")
	}
	return r.finish(ctx, f, tmp, err, pending{key: to, sha: sum, contentType: sc.ContentType, metadata: sc.Metadata, ifNoneMatch: a.IfNoneMatch})
}

// move renames an object's file and its sidecar, under both keys' locks.
// A rename keeps the file's inode, size and modification time, so the
// object keeps its etag.
func (i *Instance) move(ctx context.Context, a moveArgs) (sdk.BlobInfo, error) {
	if err := i.usable(ctx, "move"); err != nil {
		return sdk.BlobInfo{}, err
	}
	from, err := keyPath("from", a.From)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	to, err := keyPath("to", a.To)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	unlock, err := r.lock(from, to)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	defer unlock()
	fi, err := r.root.Stat(from)
	switch {
	case err != nil:
		return sdk.BlobInfo{}, r.readError(err, "moving", from)
	case !fi.Mode().IsRegular():
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindNotFound, "moving %s: no object (it is a directory); move moves one object", quote(from))
	}
	etag := etagOf(fi)
	sc, ok := r.readSidecar(from, etag)
	if from == to {
		return infoOf(to, fi, sc, ok), nil
	}
	old, err := r.root.Stat(to)
	exists := err == nil
	switch {
	case exists && !old.Mode().IsRegular():
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindFailedPrecondition, "cannot move to %s: it is a directory", quote(to))
	case exists && !a.Overwrite:
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindAlreadyExists, "cannot move %s to %s: %s exists (set overwrite to replace it)", quote(from), quote(to), quote(to))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return sdk.BlobInfo{}, r.fsError(err, "moving to", to)
	}
	if dir := path.Dir(to); dir != "." {
		if err := r.root.MkdirAll(dir, dirPerm); err != nil {
			return sdk.BlobInfo{}, r.fsError(err, "creating directory", dir)
		}
	}
	if ok {
		sc.Key = to
		if err := r.writeSidecar(sc); err != nil {
			return sdk.BlobInfo{}, err
		}
	}
	if err := r.root.Rename(from, to); err != nil {
		r.removeSidecar(to, etag)
		return sdk.BlobInfo{}, r.fsError(err, "moving "+quote(from)+" to", to)
	}
	_ = r.syncDir(path.Dir(to))
	_ = r.syncDir(path.Dir(from))
	r.removeSidecar(from, etag)
	if exists {
		r.removeSidecar(to, etagOf(old))
	}
	r.prune(path.Dir(from))
	return infoOf(to, fi, sc, ok), nil
}

// ListBlobs lists from the deepest directory the prefix names, reading
// each directory once, in key order: a directory's entries sorted with
// "/" after a directory's name, as its keys have it. Without a delimiter
// it descends into every directory after the token; with "/" it gives
// each directory that holds an object as a prefix. Only files are
// objects (and links inside the root to files); the driver's own files,
// links that lead out, and empty directories are not.
func (i *Instance) ListBlobs(ctx context.Context, a sdk.BlobListArgs) (sdk.BlobListResult, error) {
	if err := i.usable(ctx, "list"); err != nil {
		return sdk.BlobListResult{}, err
	}
	l := &lister{r: i.res, ctx: ctx, args: a}
	dir, base, rest := ".", "", a.Prefix
	if j := strings.LastIndex(a.Prefix, "/"); j >= 0 {
		dir, base, rest = a.Prefix[:j], a.Prefix[:j+1], a.Prefix[j+1:]
		if _, err := keyPath("prefix", dir); err != nil {
			return l.page, nil // no key has this prefix
		}
	}
	if err := l.walk(dir, base, rest); err != nil && !errors.Is(err, errPageFull) {
		return sdk.BlobListResult{}, err
	}
	return l.page, nil
}

// errPageFull stops a walk that found one entry more than the page holds.
var errPageFull = errors.New("page full")

type lister struct {
	r    *Resource
	ctx  context.Context
	args sdk.BlobListArgs
	page sdk.BlobListResult
}

// entry is an object or a directory in a directory being listed.
type entry struct {
	key  string // the object's key, or the directory's prefix with its "/"
	dir  string // the directory's path, for a directory
	info fs.FileInfo
}

// readDir returns the entries of dir whose names start with only, in key
// order. A directory that is gone, or is a file, has none.
func (l *lister) readDir(dir, base, only string) ([]entry, error) {
	if err := ctxError(l.ctx, "localfs list"); err != nil {
		return nil, err
	}
	f, err := l.r.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
		return nil, nil
	}
	if err != nil {
		return nil, l.r.fsError(err, "listing", dir)
	}
	des, err := f.ReadDir(-1)
	_ = f.Close()
	if err != nil {
		if errors.Is(err, errNotDir) {
			return nil, nil
		}
		return nil, l.r.fsError(err, "listing", dir)
	}
	var out []entry
	for _, d := range des {
		name := d.Name()
		if strings.HasPrefix(name, reservedPrefix) || !strings.HasPrefix(name, only) {
			continue
		}
		p := path.Join(dir, name)
		switch t := d.Type(); {
		case t.IsDir():
			out = append(out, entry{key: base + name + "/", dir: p})
		case t.IsRegular():
			if fi, err := d.Info(); err == nil {
				out = append(out, entry{key: base + name, info: fi})
			}
		case t&fs.ModeSymlink != 0:
			// A link is an object when it leads to a file inside the
			// root; links to directories are not followed (no cycles).
			if fi, err := l.r.root.Stat(p); err == nil && fi.Mode().IsRegular() {
				out = append(out, entry{key: base + name, info: fi})
			}
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return out, nil
}

func (l *lister) walk(dir, base, only string) error {
	entries, err := l.readDir(dir, base, only)
	if err != nil {
		return err
	}
	token := l.args.Token
	for _, e := range entries {
		if e.dir == "" {
			if e.key <= token {
				continue
			}
			if err := l.add(e); err != nil {
				return err
			}
			continue
		}
		if l.args.Delimiter != "" {
			if e.key <= token {
				continue // listed on an earlier page, or before the token
			}
			if has, err := l.holdsObject(e.dir); err != nil {
				return err
			} else if has {
				if err := l.add(e); err != nil {
					return err
				}
			}
			continue
		}
		if e.key <= token && !strings.HasPrefix(token, e.key) {
			continue // every key under it sorts before the token
		}
		if err := l.walk(e.dir, e.key, ""); err != nil {
			return err
		}
	}
	return nil
}

// add puts e on the page, or, when the page is full, ends it.
func (l *lister) add(e entry) error {
	p := &l.page
	if len(p.Objects)+len(p.Prefixes) == l.args.Limit {
		p.Token = p.LastKey()
		return errPageFull
	}
	if e.dir != "" {
		p.Prefixes = append(p.Prefixes, e.key)
	} else {
		p.Objects = append(p.Objects, infoOf(e.key, e.info, sidecar{}, false))
		// A list entry carries no content type: that is the sidecar's,
		// which list does not read.
		p.Objects[len(p.Objects)-1].ContentType = ""
	}
	return nil
}

// holdsObject reports whether dir holds an object at any depth.
func (l *lister) holdsObject(dir string) (bool, error) {
	entries, err := l.readDir(dir, "", "")
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.dir == "" {
			return true, nil
		}
		if has, err := l.holdsObject(e.dir); err != nil || has {
			return has, err
		}
	}
	return false, nil
}
