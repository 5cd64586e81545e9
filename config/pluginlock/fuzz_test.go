package pluginlock_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
)

// FuzzParse parses arbitrary lock files. It checks that Parse never
// panics, that every diagnostic points into the file, and that a file
// without errors survives Bytes: parsing what Bytes writes gives no
// diagnostic and the same Bytes again. The seeds are testdata/*.hcl and
// one below; run it with
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 30s ./config/pluginlock
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.hcl"))
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("plugin \"a\" {\n  version = \"1\"\n  protocol = 1\n  sha256 = { \"linux_amd64\" = \"" +
		"0000000000000000000000000000000000000000000000000000000000000000\" }\n  source = <<EOT\nx${1}\nEOT\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 64<<10 {
			t.Skip("larger than a lock file worth fuzzing")
		}
		lock, diags := pluginlock.Parse(src, "f.hcl")
		if lock == nil {
			t.Fatal("Parse returned a nil File")
		}
		for _, d := range diags {
			if d.Subject != nil && (d.Subject.Filename != "f.hcl" || d.Subject.Start.Byte > len(src)) {
				t.Fatalf("diagnostic %q at %v, outside the file of %d bytes", d.Summary, d.Subject, len(src))
			}
		}
		if diags.HasErrors() {
			return
		}
		out := lock.Bytes()
		again, diags := pluginlock.Parse(out, "f.hcl")
		if len(diags) > 0 {
			t.Fatalf("Parse(Bytes()) = %v\nsource:\n%s\nBytes:\n%s", diags, src, out)
		}
		if len(again.Plugins) != len(lock.Plugins) {
			t.Fatalf("Parse(Bytes()) has %d plugins, the source %d", len(again.Plugins), len(lock.Plugins))
		}
		for _, p := range lock.Plugins {
			q := again.Plugin(p.Name)
			if q == nil || q.Version != p.Version || q.Protocol != p.Protocol || q.Source != p.Source || len(q.SHA256) != len(p.SHA256) {
				t.Fatalf("plugin %q: %+v after Bytes, %+v before", p.Name, q, p)
			}
			for platform, sum := range p.SHA256 {
				if q.SHA256[platform] != sum {
					t.Fatalf("plugin %q: sha256 of %s %q after Bytes, %q before", p.Name, platform, q.SHA256[platform], sum)
				}
			}
		}
		if !bytes.Equal(again.Bytes(), out) {
			t.Fatalf("Bytes is not stable:\n%s\nthen\n%s", out, again.Bytes())
		}
	})
}
