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
	"sync/atomic"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// chunkSize is how many bytes get and put move at a time; cancellation is
// checked between chunks.
const chunkSize = 64 << 10

// Permissions of the files and directories the driver creates, before the
// process umask.
const (
	filePerm = 0o644
	dirPerm  = 0o755
)

// Temporary upload files are named tempPrefix + random + tempSuffix, in the
// directory of their target. list does not show them.
const (
	tempPrefix = ".nebula-put-"
	tempSuffix = ".tmp"
)

// Resource is one configured root directory. Its instances share it.
type Resource struct {
	name string
	root *os.Root
	// errEscapes is the error os.Root reports for a path that leaves the
	// root; see escapeSentinel.
	errEscapes error
	closed     atomic.Bool
}

// Open returns a handle on the resource's root.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	return &Instance{res: r}, nil
}

// Close closes the root. Calls in flight finish (os.Root keeps its
// directory open until they do); later calls fail as unavailable. Close is
// safe to call more than once.
func (r *Resource) Close(context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	return r.fsError(r.root.Close(), "closing root", r.root.Name())
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "localfs resource %q is closed", r.name)
}

// Instance is a handle on a resource's root. It is safe for concurrent use.
type Instance struct {
	res    *Resource
	closed atomic.Bool
}

// Check reports whether the root directory can still be read.
func (i *Instance) Check(ctx context.Context) error {
	if err := i.usable(ctx, "check"); err != nil {
		return err
	}
	fi, err := i.res.root.Stat(".")
	if err != nil {
		return i.res.fsError(err, "checking root", ".")
	}
	if !fi.IsDir() {
		return sdk.Errorf(sdk.KindFailedPrecondition, "root of localfs resource %q is no longer a directory", i.res.name)
	}
	// The open handle outlives its directory: a root that was removed or
	// replaced still stats fine through it, while new files could not be
	// found by anyone else. Compare it with what its path names now.
	if now, err := os.Stat(i.res.root.Name()); err != nil || !os.SameFile(fi, now) {
		return sdk.Errorf(sdk.KindUnavailable, "root directory of localfs resource %q was removed or replaced", i.res.name)
	}
	return nil
}

// Close closes the handle; the root stays with the resource.
func (i *Instance) Close(context.Context) error {
	i.closed.Store(true)
	return nil
}

// usable returns an error when the instance or its resource is closed, or
// when ctx is done.
func (i *Instance) usable(ctx context.Context, op string) error {
	switch {
	case i.closed.Load():
		return sdk.Errorf(sdk.KindUnavailable, "instance of localfs resource %q is closed", i.res.name)
	case i.res.closed.Load():
		return i.res.closedError()
	}
	return ctxError(ctx, "localfs "+op)
}

// ctxError returns ctx's error as an sdk error of kind canceled or timeout,
// or nil while ctx is live.
func ctxError(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, what)
	}
	return nil
}

// checked makes a typed operation of fn: it fails at once when the
// instance or its resource is closed or ctx has ended.
func checked[A any](name string, fn func(*Instance, context.Context, A) (any, error)) func(*Instance, context.Context, A) (any, error) {
	return func(i *Instance, ctx context.Context, args A) (any, error) {
		if err := i.usable(ctx, name); err != nil {
			return nil, err
		}
		return fn(i, ctx, args)
	}
}

// checkedStream is checked for the operations that stream bytes.
func checkedStream[A any](name string, fn func(*Instance, context.Context, A, io.Reader, io.Writer) (any, error)) func(*Instance, context.Context, A, io.Reader, io.Writer) (any, error) {
	return func(i *Instance, ctx context.Context, args A, in io.Reader, out io.Writer) (any, error) {
		if err := i.usable(ctx, name); err != nil {
			return nil, err
		}
		return fn(i, ctx, args, in, out)
	}
}

// The operations' arguments and results.
type (
	pathArgs struct {
		Path string `nebula:"path,required" doc:"The file's path, slash-separated and relative to the root."`
	}
	putArgs struct {
		Path       string `nebula:"path,required" doc:"The file's path, slash-separated and relative to the root; an existing file is replaced."`
		CreateDirs bool   `nebula:"create_dirs" default:"true" doc:"Create missing parent directories."`
	}
	statArgs struct {
		Path string `nebula:"path,required" doc:"The path of a file or directory, slash-separated and relative to the root; \".\" is the root."`
	}
	listArgs struct {
		Prefix    string `nebula:"prefix" default:"." doc:"The directory to list, slash-separated and relative to the root; \".\" or empty is the root."`
		Recursive bool   `nebula:"recursive" default:"false" doc:"Also list the contents of subdirectories, at every depth."`
	}
	deleteArgs struct {
		Path string `nebula:"path,required" doc:"The path of a file or empty directory, slash-separated and relative to the root."`
	}
	moveArgs struct {
		From      string `nebula:"from,required" doc:"The path to move, slash-separated and relative to the root."`
		To        string `nebula:"to,required" doc:"The new path, slash-separated and relative to the root; its parent directory must exist."`
		Overwrite bool   `nebula:"overwrite" default:"false" doc:"Replace what is at to; otherwise an existing to is an already_exists error."`
	}

	putResult struct {
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	getResult struct {
		Size int64 `json:"size"`
	}
	statResult struct {
		Path    string `json:"path"`
		Size    int64  `json:"size"`
		Mode    string `json:"mode"`
		ModTime string `json:"mod_time"`
		IsDir   bool   `json:"is_dir"`
	}
	listEntry struct {
		Path    string `json:"path"`
		Size    int64  `json:"size"`
		IsDir   bool   `json:"is_dir"`
		ModTime string `json:"mod_time"`
	}
	listResult struct {
		Entries []listEntry `json:"entries"`
	}
	deleteResult struct {
		Deleted bool `json:"deleted"`
	}
)

var operations = []sdk.Op[*Instance]{
	sdk.NewStreamOp("put", "Uploads a file from the byte stream, replacing any file at the path; the file appears only once the upload is complete.",
		sdk.StreamUpload, checkedStream("put", (*Instance).put)).Idempotent(),
	sdk.NewStreamOp("get", "Downloads a file as a byte stream.", sdk.StreamDownload, checkedStream("get", (*Instance).get)).Idempotent(),
	sdk.NewOp("stat", "Returns the size, mode, modification time and kind of a file or directory.", checked("stat", (*Instance).stat)).Idempotent(),
	sdk.NewOp("list", "Lists a directory's entries, sorted by path, optionally at every depth.", checked("list", (*Instance).list)).Idempotent(),
	sdk.NewOp("delete", "Removes a file or an empty directory and reports whether it was there.", checked("delete", (*Instance).delete)).Idempotent(),
	sdk.NewOp("move", "Renames a file or directory within the root.", checked("move", (*Instance).move)),
}

func (i *Instance) put(ctx context.Context, args putArgs, in io.Reader, _ io.Writer) (any, error) {
	name, err := cleanPath(args.Path, false)
	if err != nil {
		return nil, err
	}
	r := i.res
	// Refuse a target that leads out of the root or is a directory. The
	// rename below would replace a symbolic link rather than follow it,
	// but a link that escapes is refused all the same.
	if fi, err := r.root.Stat(name); err == nil {
		if fi.IsDir() {
			return nil, sdk.Errorf(sdk.KindFailedPrecondition, "cannot put %s: it is a directory", quote(name))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, r.fsError(err, "putting", name)
	}
	dir := path.Dir(name)
	if args.CreateDirs && dir != "." {
		if err := r.root.MkdirAll(dir, dirPerm); err != nil {
			return nil, r.fsError(err, "creating directory", dir)
		}
	}
	tmp, f, err := i.createTemp(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, sdk.Errorf(sdk.KindFailedPrecondition, "cannot put %s: directory %s does not exist (set create_dirs to create it)", quote(name), quote(dir))
		}
		return nil, r.fsError(err, "creating a file in", dir)
	}
	size, sum, err := upload(ctx, f, in, name)
	if err == nil {
		err = r.fsError(f.Sync(), "writing", name)
	}
	if cerr := f.Close(); err == nil {
		err = r.fsError(cerr, "writing", name)
	}
	if err == nil {
		err = r.fsError(r.root.Rename(tmp, name), "putting", name)
	}
	if err != nil {
		_ = r.root.Remove(tmp)
		return nil, err
	}
	return putResult{Size: size, SHA256: hex.EncodeToString(sum)}, nil
}

// createTemp creates a new temporary upload file in dir.
func (i *Instance) createTemp(dir string) (string, *os.File, error) {
	for {
		tmp := path.Join(dir, tempPrefix+rand.Text()+tempSuffix)
		f, err := i.res.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue // 130 random bits collided; try another name
		}
		return tmp, f, err
	}
}

// upload copies in to f chunk by chunk, checking ctx between chunks, and
// returns the size and SHA-256 of what it copied.
func upload(ctx context.Context, f *os.File, in io.Reader, name string) (int64, []byte, error) {
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var size int64
	for {
		if err := ctxError(ctx, "put "+quote(name)); err != nil {
			return 0, nil, err
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return 0, nil, err
			}
			h.Write(buf[:n])
			size += int64(n)
		}
		switch {
		case rerr == io.EOF:
			return size, h.Sum(nil), nil
		case rerr != nil:
			return 0, nil, streamError(ctx, rerr, "reading the upload of "+quote(name))
		}
	}
}

// streamError classifies an error of the caller's byte stream: ctx's error
// if it is done, the error's own kind if it has one, else unavailable.
func streamError(ctx context.Context, err error, what string) error {
	if cerr := ctxError(ctx, what); cerr != nil {
		return cerr
	}
	if k := sdk.KindOf(err); k != sdk.KindUnknown {
		return sdk.WrapError(k, err, what)
	}
	return sdk.WrapError(sdk.KindUnavailable, err, what)
}

func (i *Instance) get(ctx context.Context, args pathArgs, _ io.Reader, out io.Writer) (any, error) {
	name, err := cleanPath(args.Path, false)
	if err != nil {
		return nil, err
	}
	r := i.res
	f, err := r.root.Open(name)
	if err != nil {
		return nil, r.fsError(err, "getting", name)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, r.fsError(err, "getting", name)
	}
	if fi.IsDir() {
		return nil, sdk.Errorf(sdk.KindFailedPrecondition, "cannot get %s: it is a directory", quote(name))
	}
	buf := make([]byte, chunkSize)
	var size int64
	for {
		if err := ctxError(ctx, "get "+quote(name)); err != nil {
			return nil, err
		}
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				return nil, streamError(ctx, err, "sending "+quote(name))
			}
			size += int64(n)
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return getResult{Size: size}, nil
		case rerr != nil:
			return nil, r.fsError(rerr, "reading", name)
		}
	}
}

func (i *Instance) stat(_ context.Context, args statArgs) (any, error) {
	name, err := cleanPath(args.Path, true)
	if err != nil {
		return nil, err
	}
	fi, err := i.res.root.Stat(name)
	if err != nil {
		return nil, i.res.fsError(err, "stat", name)
	}
	return statResult{
		Path:    name,
		Size:    fi.Size(),
		Mode:    fi.Mode().String(),
		ModTime: fi.ModTime().UTC().Format(time.RFC3339Nano),
		IsDir:   fi.IsDir(),
	}, nil
}

func (i *Instance) list(ctx context.Context, args listArgs) (any, error) {
	if args.Prefix == "" {
		args.Prefix = "."
	}
	prefix, err := cleanPath(args.Prefix, true)
	if err != nil {
		return nil, err
	}
	r := i.res
	// Stat first, so that a prefix that escapes through a link or is not
	// a directory gets a precise error.
	fi, err := r.root.Stat(prefix)
	if err != nil {
		return nil, r.fsError(err, "listing", prefix)
	}
	if !fi.IsDir() {
		return nil, sdk.Errorf(sdk.KindFailedPrecondition, "cannot list %s: it is not a directory", quote(prefix))
	}
	entries := []listEntry{}
	add := func(p string, d fs.DirEntry) error {
		if isTemp(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the directory was read
		}
		if err != nil {
			return err
		}
		entries = append(entries, listEntry{
			Path:    p,
			Size:    info.Size(),
			IsDir:   d.IsDir(),
			ModTime: info.ModTime().UTC().Format(time.RFC3339Nano),
		})
		return nil
	}
	fsys := r.root.FS()
	if args.Recursive {
		err = fs.WalkDir(fsys, prefix, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if cerr := ctxError(ctx, "list "+quote(prefix)); cerr != nil {
				return cerr
			}
			if p == prefix {
				return nil
			}
			return add(p, d)
		})
	} else {
		var des []fs.DirEntry
		des, err = fs.ReadDir(fsys, prefix)
		for _, d := range des {
			if err != nil {
				break
			}
			err = add(path.Join(prefix, d.Name()), d)
		}
	}
	if err != nil {
		return nil, r.fsError(err, "listing", prefix)
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.Path, b.Path) })
	return listResult{Entries: entries}, nil
}

func isTemp(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}

func (i *Instance) delete(_ context.Context, args deleteArgs) (any, error) {
	name, err := cleanPath(args.Path, false)
	if err != nil {
		return nil, err
	}
	err = i.res.root.Remove(name)
	switch {
	case err == nil:
		return deleteResult{Deleted: true}, nil
	case errors.Is(err, fs.ErrNotExist):
		return deleteResult{Deleted: false}, nil
	case errors.Is(err, fs.ErrExist):
		// Some systems report a directory that is not empty as EEXIST.
		return nil, sdk.WrapError(sdk.KindFailedPrecondition, err, "deleting "+quote(name)+": directory not empty")
	}
	return nil, i.res.fsError(err, "deleting", name)
}

func (i *Instance) move(_ context.Context, args moveArgs) (any, error) {
	from, err := cleanPath(args.From, false)
	if err != nil {
		return nil, err
	}
	to, err := cleanPath(args.To, false)
	if err != nil {
		return nil, err
	}
	r := i.res
	if _, err := r.root.Lstat(from); err != nil {
		return nil, r.fsError(err, "moving", from)
	}
	if from == to {
		return struct{}{}, nil
	}
	if !args.Overwrite {
		// Not atomic with the rename: a file created at to in between is
		// replaced. os.Root offers no rename that refuses to replace.
		_, err := r.root.Lstat(to)
		switch {
		case err == nil:
			return nil, sdk.Errorf(sdk.KindAlreadyExists, "cannot move %s to %s: %s exists (set overwrite to replace it)", quote(from), quote(to), quote(to))
		case !errors.Is(err, fs.ErrNotExist):
			return nil, r.fsError(err, "moving to", to)
		}
	}
	if err := r.root.Rename(from, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// from was checked above, so the parent of to is missing
			// (or from went away meanwhile).
			return nil, sdk.WrapError(sdk.KindFailedPrecondition, err, "moving "+quote(from)+" to "+quote(to))
		}
		return nil, r.fsError(err, "moving "+quote(from)+" to", to)
	}
	return struct{}{}, nil
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
