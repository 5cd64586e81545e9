package plugininstall

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzLimits keep each fuzzed extraction small.
var fuzzLimits = Limits{MaxEntries: 64, MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20}

// FuzzExtractTarGz extracts arbitrary .tar.gz archives. It checks that
// extraction never panics, never writes outside the plugin directory, and
// leaves in it only hidden temporary files of plugin binaries within the
// limits, or nothing when it fails. The seeds are seedArchives; run it
// with
//
//	go test -run '^$' -fuzz FuzzExtractTarGz -fuzztime 30s ./internal/plugininstall
func FuzzExtractTarGz(f *testing.F) {
	for _, entries := range seedArchives() {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, e := range entries {
			hdr := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: e.typ, Linkname: e.link}
			if e.typ == tar.TypeReg {
				hdr.Size = int64(len(e.body))
			}
			if tw.WriteHeader(hdr) != nil {
				f.Fatal("tar header of ", e.name)
			}
			_, _ = tw.Write(e.body)
		}
		_ = tw.Close()
		_ = gz.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzExtract(t, func(x *extractor) error { return x.extractTarGz(bytes.NewReader(data)) })
	})
}

// FuzzExtractZip is FuzzExtractTarGz for zip archives.
//
//	go test -run '^$' -fuzz FuzzExtractZip -fuzztime 30s ./internal/plugininstall
func FuzzExtractZip(f *testing.F) {
	for _, entries := range seedArchives() {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, e := range entries {
			hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
			switch e.typ {
			case tar.TypeSymlink:
				hdr.SetMode(0o777 | os.ModeSymlink)
				e.body = []byte(e.link)
			case tar.TypeDir:
				hdr.SetMode(0o755 | os.ModeDir)
			default:
				hdr.SetMode(0o755)
			}
			w, err := zw.CreateHeader(hdr)
			if err != nil {
				f.Fatal(err)
			}
			_, _ = w.Write(e.body)
		}
		_ = zw.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzExtract(t, func(x *extractor) error { return x.extractZip(bytes.NewReader(data), int64(len(data))) })
	})
}

type seedEntry struct {
	name string
	typ  byte
	body []byte
	link string
}

func seedArchives() [][]seedEntry {
	bin := []byte("#!/bin/sh\nexit 0\n")
	return [][]seedEntry{
		{{name: "README.md", typ: tar.TypeReg, body: []byte("hi")}, {name: "nebula-plugin-a", typ: tar.TypeReg, body: bin}},
		{{name: "dist/", typ: tar.TypeDir}, {name: "dist/nebula-plugin-b", typ: tar.TypeReg, body: bin}},
		{{name: "../nebula-plugin-evil", typ: tar.TypeReg, body: bin}},
		{{name: "/tmp/nebula-plugin-evil", typ: tar.TypeReg, body: bin}},
		{{name: "nebula-plugin-link", typ: tar.TypeSymlink, link: "/bin/sh"}},
		{{name: "nebula-plugin-a", typ: tar.TypeReg, body: bin}, {name: "nebula-plugin-a", typ: tar.TypeReg, body: bin}},
		{{name: "nebula-plugin-zeros", typ: tar.TypeReg, body: make([]byte, 2<<20)}},
	}
}

// fuzzExtract runs one extraction into a plugin directory of its own and
// checks what it left.
func fuzzExtract(t *testing.T, extract func(x *extractor) error) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	x := newExtractor(dir, fuzzLimits, "")
	err := extract(x)
	if err != nil {
		x.remove()
	}
	outside, _ := os.ReadDir(parent)
	if len(outside) != 1 {
		t.Fatalf("extraction wrote beside the plugin directory: %v", outside)
	}
	inside, _ := os.ReadDir(dir)
	if err != nil && len(inside) > 0 {
		t.Fatalf("a failed extraction (%v) left %v", err, inside)
	}
	if err == nil && len(inside) != len(x.out) {
		t.Fatalf("the plugin directory holds %d files, the extraction staged %d", len(inside), len(x.out))
	}
	for _, e := range inside {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "."+Prefix) || !strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("the plugin directory holds %s (%v), not a hidden temporary file", e.Name(), e.Type())
		}
	}
	if err != nil {
		return
	}
	var total int64
	for _, s := range x.out {
		b, rerr := os.ReadFile(s.tmp)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if int64(len(b)) > fuzzLimits.MaxFileSize {
			t.Fatalf("%s holds %d bytes, past the limit", s.name, len(b))
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != s.sum {
			t.Fatalf("%s: the checksum recorded is not the file's", s.name)
		}
		if _, ok := pluginName(Prefix + s.name); !ok {
			t.Fatalf("staged a plugin of name %q", s.name)
		}
		total += int64(len(b))
	}
	if total > fuzzLimits.MaxTotalSize {
		t.Fatalf("staged %d bytes, past the limit", total)
	}
}
