package plugininstall

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
)

// Prefix is the file name prefix of a plugin binary, as the host looks for
// it (host.PluginPrefix): nebula-plugin-NAME.
const Prefix = "nebula-plugin-"

// nameRE is a plugin name, what follows Prefix: the names the lock file
// accepts.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// pluginName returns NAME for a file named nebula-plugin-NAME, and false
// for any other file, which an install ignores (a README, a LICENSE, a
// checksum file).
func pluginName(base string) (string, bool) {
	name, ok := strings.CutPrefix(base, Prefix)
	return name, ok && nameRE.MatchString(name)
}

// staged is a plugin binary written into the plugin directory under a
// hidden temporary name, which the host's nebula-plugin-* glob never
// matches, waiting to be renamed into place.
type staged struct {
	name string // NAME of nebula-plugin-NAME
	tmp  string // its temporary path
	sum  string // its SHA-256, lowercase hex
}

// extractor writes the plugin binaries of one source into dir, within the
// limits. It never writes anywhere but dir, and there only under names it
// makes: an entry's path is checked, and refused when unsafe, but never
// used to name a file.
type extractor struct {
	dir  string
	lim  Limits
	only string // when set, the one plugin to take

	entries int
	seen    map[string]bool // entry paths, cleaned
	written int64
	out     []*staged
	byName  map[string]string // plugin name to the entry that held it
}

func newExtractor(dir string, lim Limits, only string) *extractor {
	return &extractor{dir: dir, lim: lim.withDefaults(), only: only, seen: map[string]bool{}, byName: map[string]string{}}
}

// remove deletes every file the extractor wrote that is still at its
// temporary name.
func (x *extractor) remove() {
	for _, s := range x.out {
		_ = os.Remove(s.tmp)
	}
}

// Kinds of archive entries. Only files and directories are accepted.
const (
	kindFile    = "a regular file"
	kindDir     = "a directory"
	kindSymlink = "a symbolic link"
	kindLink    = "a hard link"
	kindDevice  = "a device file"
	kindPipe    = "a named pipe"
	kindSocket  = "a socket"
)

// entry checks one archive entry, counting it, and returns the name of the
// plugin it holds, or "" for an entry to skip (a directory, a file that is
// no plugin binary, another plugin than the one asked for).
func (x *extractor) entry(name, kind string) (string, error) {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return "", fmt.Errorf("%w: more than %d entries", ErrUnsafeArchive, x.lim.MaxEntries)
	}
	clean, err := entryPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: entry %q %v", ErrUnsafeArchive, name, err)
	}
	if kind != kindFile && kind != kindDir {
		return "", fmt.Errorf("%w: entry %q is %s; a plugin archive may hold only regular files and directories", ErrUnsafeArchive, name, kind)
	}
	if x.seen[clean] {
		return "", fmt.Errorf("%w: entry %q appears twice", ErrUnsafeArchive, name)
	}
	x.seen[clean] = true
	if kind == kindDir {
		return "", nil
	}
	plugin, ok := pluginName(path.Base(clean))
	if !ok || (x.only != "" && plugin != x.only) {
		return "", nil
	}
	if first, dup := x.byName[plugin]; dup {
		return "", fmt.Errorf("%w: entries %q and %q both hold %s%s", ErrUnsafeArchive, first, name, Prefix, plugin)
	}
	x.byName[plugin] = name
	return plugin, nil
}

// entryPath returns an entry's path cleaned, or what makes it unsafe: an
// absolute path, a ".." element, a NUL. Backslashes count as separators,
// as an archive made on Windows means them.
func entryPath(name string) (string, error) {
	p := strings.ReplaceAll(name, `\`, "/")
	switch {
	case name == "":
		return "", errors.New("has an empty name")
	case strings.ContainsRune(name, 0):
		return "", errors.New("has a NUL character in its name")
	case strings.HasPrefix(p, "/") || (len(p) >= 2 && p[1] == ':'):
		return "", errors.New("has an absolute path: it would be written outside the plugin directory")
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", errors.New("leaves the archive's directory (..): it would be written outside the plugin directory")
		}
	}
	return strings.TrimSuffix(path.Clean(p), "/"), nil
}

// write copies the binary of plugin from r (the archive entry entry) to a
// new hidden file in dir, executable, synced to disk, counting the bytes
// it writes against the limits.
func (x *extractor) write(plugin, entry string, r io.Reader) error {
	f, err := os.CreateTemp(x.dir, "."+Prefix+plugin+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s%s into %s: %w", Prefix, plugin, x.dir, err)
	}
	s := &staged{name: plugin, tmp: f.Name()}
	x.out = append(x.out, s)
	h := sha256.New()
	limit := min(x.lim.MaxFileSize, x.lim.MaxTotalSize-x.written)
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	x.written += n
	switch {
	case err != nil:
		err = fmt.Errorf("entry %q: %w", entry, err)
	case n > x.lim.MaxFileSize:
		err = fmt.Errorf("%w: entry %q holds more than %d bytes (the limit of a plugin binary)", ErrTooLarge, entry, x.lim.MaxFileSize)
	case n > limit:
		err = fmt.Errorf("%w: the archive holds more than %d bytes, uncompressed, at entry %q", ErrTooLarge, x.lim.MaxTotalSize, entry)
	}
	if err == nil {
		err = f.Chmod(0o755)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", s.tmp, cerr)
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return err
}

// extractTarGz stages the plugin binaries of a .tar.gz stream.
func (x *extractor) extractTarGz(r io.Reader) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip-compressed archive: %w", err)
	}
	defer gz.Close()
	// Every byte decompressed counts, those of skipped entries too.
	tr := tar.NewReader(&capReader{r: gz, left: x.lim.MaxTotalSize, limit: x.lim.MaxTotalSize})
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		// An insecure path is refused below, naming the entry.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return fmt.Errorf("read the archive: %w", err)
		}
		var kind string
		switch hdr.Typeflag {
		case tar.TypeReg:
			kind = kindFile
		case tar.TypeDir:
			kind = kindDir
		case tar.TypeXGlobalHeader: // metadata, such as git archive's commit id
			if x.entries++; x.entries > x.lim.MaxEntries {
				return fmt.Errorf("%w: more than %d entries", ErrUnsafeArchive, x.lim.MaxEntries)
			}
			continue
		case tar.TypeSymlink:
			kind = kindSymlink
		case tar.TypeLink:
			kind = kindLink
		case tar.TypeChar, tar.TypeBlock:
			kind = kindDevice
		case tar.TypeFifo:
			kind = kindPipe
		default:
			kind = fmt.Sprintf("of type %q", hdr.Typeflag)
		}
		plugin, err := x.entry(hdr.Name, kind)
		if err != nil {
			return err
		}
		if plugin != "" {
			if err := x.write(plugin, hdr.Name, tr); err != nil {
				return err
			}
		}
	}
}

// capReader reads from r until limit bytes have been read, then fails
// with ErrTooLarge.
type capReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("%w: the archive holds more than %d bytes, uncompressed", ErrTooLarge, c.limit)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// extractZip stages the plugin binaries of a zip archive.
func (x *extractor) extractZip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	// An insecure path is refused below, naming the entry.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("not a zip archive: %w", err)
	}
	if len(zr.File) > x.lim.MaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrUnsafeArchive, x.lim.MaxEntries)
	}
	for _, zf := range zr.File {
		plugin, err := x.entry(zf.Name, zipKind(zf))
		if err != nil {
			return err
		}
		if plugin == "" {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("entry %q: %w", zf.Name, err)
		}
		err = x.write(plugin, zf.Name, rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// zipKind returns the kind of a zip entry, from its mode.
func zipKind(zf *zip.File) string {
	mode := zf.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return kindSymlink
	case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return kindDevice
	case mode&fs.ModeNamedPipe != 0:
		return kindPipe
	case mode&fs.ModeSocket != 0:
		return kindSocket
	case mode.IsDir() || strings.HasSuffix(zf.Name, "/"):
		return kindDir
	case mode.IsRegular():
		return kindFile
	}
	return fmt.Sprintf("of mode %s", mode)
}
