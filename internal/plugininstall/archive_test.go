package plugininstall_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
	"github.com/nebula-resource/nebula-resource/internal/plugininstall"
)

// entry is one file of an archive a test makes.
type entry struct {
	name string
	body []byte
	typ  byte        // tar type; 0 means a regular file
	link string      // for links
	mode fs.FileMode // for zip: the file's mode; 0 means 0755
}

// bigEntry is the size past which the archives the tests make store an
// entry without compressing it: compressing a plugin binary with the race
// detector on takes a minute on a busy machine.
const bigEntry = 4 << 20

func tarGz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	level := gzip.DefaultCompression
	for _, e := range entries {
		if len(e.body) > bigEntry {
			level = gzip.NoCompression
		}
	}
	gz, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link, Format: tar.FormatPAX}
		switch e.typ {
		case 0:
			hdr.Typeflag = tar.TypeReg
		case tar.TypeReg:
		default:
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if len(e.body) > bigEntry {
			hdr.Method = zip.Store
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o755
		}
		hdr.SetMode(mode)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeSource writes data as a file named name in a fresh directory and
// returns its path.
func writeSource(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// installDirs returns a plugin directory inside a parent directory that
// holds nothing else, and the lock file of a configuration beside them.
func installDirs(t *testing.T) (parent, dir string, lock *pluginlock.File) {
	t.Helper()
	parent = t.TempDir()
	dir = filepath.Join(parent, "plugins")
	lock = &pluginlock.File{Path: filepath.Join(parent, pluginlock.FileName)}
	return parent, dir, lock
}

// assertNothingInstalled fails unless the plugin directory is empty (or
// missing) and nothing else appeared beside it: no lock file, no file an
// entry named.
func assertNothingInstalled(t *testing.T, parent, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("the plugin directory holds %s", e.Name())
	}
	entries, _ = os.ReadDir(parent)
	for _, e := range entries {
		if e.Name() != "plugins" {
			t.Errorf("beside the plugin directory: %s", e.Name())
		}
	}
}

func TestMaliciousArchivesAreRefusedNamingTheEntry(t *testing.T) {
	t.Parallel()
	bin := []byte("#!/bin/sh\nexit 0\n")
	zeros := make([]byte, 2<<20)
	small := plugininstall.Limits{MaxFileSize: 1 << 20, MaxTotalSize: 3 << 20, MaxEntries: 20}
	many := make([]entry, 21)
	for i := range many {
		many[i] = entry{name: "doc/" + strings.Repeat("x", i+1), body: []byte("x")}
	}
	tests := []struct {
		name    string
		file    string
		data    []byte
		limits  plugininstall.Limits
		err     error
		message string
	}{
		{"tar slip", "p.tar.gz", tarGz(t, entry{name: "../nebula-plugin-evil", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "../nebula-plugin-evil" leaves the archive's directory (..)`},
		{"tar slip, deeper", "p.tgz", tarGz(t, entry{name: "a/b/../../../nebula-plugin-evil", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "a/b/../../../nebula-plugin-evil" leaves the archive's directory`},
		{"tar absolute path", "p.tar.gz", tarGz(t, entry{name: "/tmp/nebula-plugin-evil", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "/tmp/nebula-plugin-evil" has an absolute path`},
		{"tar backslash slip", "p.tar.gz", tarGz(t, entry{name: `..\nebula-plugin-evil`, body: bin}), small,
			plugininstall.ErrUnsafeArchive, `leaves the archive's directory`},
		{"tar symlink", "p.tar.gz", tarGz(t, entry{name: "nebula-plugin-evil", typ: tar.TypeSymlink, link: "/bin/sh"}), small,
			plugininstall.ErrUnsafeArchive, `entry "nebula-plugin-evil" is a symbolic link`},
		{"tar symlink to a file later written through", "p.tar.gz", tarGz(t,
			entry{name: "dir", typ: tar.TypeSymlink, link: "/etc"}, entry{name: "dir/nebula-plugin-evil", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "dir" is a symbolic link`},
		{"tar hard link", "p.tar.gz", tarGz(t, entry{name: "nebula-plugin-evil", typ: tar.TypeLink, link: "/etc/passwd"}), small,
			plugininstall.ErrUnsafeArchive, `entry "nebula-plugin-evil" is a hard link`},
		{"tar device", "p.tar.gz", tarGz(t, entry{name: "README", typ: tar.TypeChar}), small,
			plugininstall.ErrUnsafeArchive, `entry "README" is a device file`},
		{"tar named pipe", "p.tar.gz", tarGz(t, entry{name: "fifo", typ: tar.TypeFifo}), small,
			plugininstall.ErrUnsafeArchive, `entry "fifo" is a named pipe`},
		{"tar duplicate", "p.tar.gz", tarGz(t, entry{name: "nebula-plugin-a", body: bin}, entry{name: "./nebula-plugin-a", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "./nebula-plugin-a" appears twice`},
		{"tar one plugin twice", "p.tar.gz", tarGz(t, entry{name: "x/nebula-plugin-a", body: bin}, entry{name: "y/nebula-plugin-a", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entries "x/nebula-plugin-a" and "y/nebula-plugin-a" both hold nebula-plugin-a`},
		{"tar too many entries", "p.tar.gz", tarGz(t, many...), small,
			plugininstall.ErrUnsafeArchive, "more than 20 entries"},
		{"tar bomb", "p.tar.gz", tarGz(t, entry{name: "nebula-plugin-bomb", body: zeros}), small,
			plugininstall.ErrTooLarge, `entry "nebula-plugin-bomb" holds more than 1048576 bytes`},
		{"tar bomb in a file that is skipped", "p.tar.gz", tarGz(t, entry{name: "a", body: zeros}, entry{name: "b", body: zeros}), small,
			plugininstall.ErrTooLarge, "more than 3145728 bytes, uncompressed"},
		{"oversized archive", "p.tar.gz", tarGz(t, entry{name: "nebula-plugin-a", body: zeros}), plugininstall.Limits{MaxArchiveSize: 1000},
			plugininstall.ErrTooLarge, "more than the limit of 1000"},
		{"zip slip", "p.zip", zipOf(t, entry{name: "../../nebula-plugin-evil", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "../../nebula-plugin-evil" leaves the archive's directory (..)`},
		{"zip absolute path", "p.zip", zipOf(t, entry{name: "/etc/nebula-plugin-evil", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "/etc/nebula-plugin-evil" has an absolute path`},
		{"zip windows absolute path", "p.zip", zipOf(t, entry{name: `C:\nebula-plugin-evil`, body: bin}), small,
			plugininstall.ErrUnsafeArchive, `has an absolute path`},
		{"zip symlink", "p.zip", zipOf(t, entry{name: "nebula-plugin-evil", body: []byte("/bin/sh"), mode: fs.ModeSymlink | 0o777}), small,
			plugininstall.ErrUnsafeArchive, `entry "nebula-plugin-evil" is a symbolic link`},
		{"zip device", "p.zip", zipOf(t, entry{name: "dev", mode: fs.ModeDevice | 0o644}), small,
			plugininstall.ErrUnsafeArchive, `entry "dev" is a device file`},
		{"zip duplicate", "p.zip", zipOf(t, entry{name: "nebula-plugin-a", body: bin}, entry{name: "nebula-plugin-a", body: bin}), small,
			plugininstall.ErrUnsafeArchive, `entry "nebula-plugin-a" appears twice`},
		{"zip too many entries", "p.zip", zipOf(t, many...), small,
			plugininstall.ErrUnsafeArchive, "more than 20 entries"},
		{"zip bomb", "p.zip", zipOf(t, entry{name: "nebula-plugin-bomb", body: zeros}), small,
			plugininstall.ErrTooLarge, `entry "nebula-plugin-bomb" holds more than 1048576 bytes`},
		{"zip whose header lies about the size", "p.zip", lyingZip(t, zeros), small,
			nil, `entry "nebula-plugin-liar"`},
		{"not gzip", "p.tar.gz", []byte("plain text"), small, nil, "not a gzip-compressed archive"},
		{"not zip", "p.zip", []byte("plain text"), small, nil, "not a zip archive"},
		{"no plugin in it", "p.tar.gz", tarGz(t, entry{name: "README.md", body: []byte("hi")}, entry{name: "nebula-plugin-x.sig", body: []byte("x")}), small,
			plugininstall.ErrNoPlugin, "holds no file named nebula-plugin-NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, dir, lock := installDirs(t)
			src := writeSource(t, tt.file, tt.data)
			_, err := plugininstall.Install(t.Context(), src, lock, plugininstall.Options{Dir: dir, Limits: tt.limits})
			if err == nil {
				t.Fatal("installed")
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), src) {
				t.Errorf("error %q does not say %q and name %s", err, tt.message, src)
			}
			assertNothingInstalled(t, parent, dir)
		})
	}
}

// lyingZip returns a zip whose one entry's header says it holds 10 bytes,
// when it decompresses to data.
func lyingZip(t *testing.T, data []byte) []byte {
	t.Helper()
	var compressed bytes.Buffer
	zw := zip.NewWriter(&compressed)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "nebula-plugin-liar", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(compressed.Bytes()), int64(compressed.Len()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zr.File[0].OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	out := zip.NewWriter(&buf)
	hdr := zr.File[0].FileHeader
	hdr.UncompressedSize64 = 10
	w, err = out.CreateRaw(&hdr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(mustRead(t, raw)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustRead(t *testing.T, r interface{ Read([]byte) (int, error) }) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
