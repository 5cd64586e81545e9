package pluginlock_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	sumA = "ce4c82ffc8b49943ff6e9fdcb1885be12465e3bc303a2da9360a487ea31c4047"
	sumB = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, src []byte, filename string) *pluginlock.File {
	t.Helper()
	f, diags := pluginlock.Parse(src, filename)
	if len(diags) > 0 {
		t.Fatalf("Parse(%s): %v", filename, diags)
	}
	return f
}

func TestParseReadsEveryField(t *testing.T) {
	f := mustParse(t, readFile(t, "valid.hcl"), "valid.hcl")
	if len(f.Plugins) != 2 {
		t.Fatalf("got %d plugins, want 2", len(f.Plugins))
	}
	pg := f.Plugin("postgres")
	if pg == nil {
		t.Fatal(`Plugin("postgres") = nil`)
	}
	if pg.Version != "0.9.0" || pg.Protocol != 2 || pg.Source != "https://example.com/nebula-plugin-postgres_0.9.0_linux_amd64.tar.gz" ||
		len(pg.SHA256) != 1 || pg.SHA256["linux_amd64"] != sumB {
		t.Errorf("postgres = %+v", pg)
	}
	if pg.DeclRange.Filename != "valid.hcl" || pg.DeclRange.Start.Line != 15 {
		t.Errorf("postgres DeclRange = %v, want valid.hcl line 15", pg.DeclRange)
	}
	if mem := f.Plugin("memory"); mem == nil || len(mem.SHA256) != 2 {
		t.Errorf("memory = %+v, want two checksums", mem)
	}
	if f.Plugin("redis") != nil {
		t.Error(`Plugin("redis") != nil`)
	}
	if f.HCL() == nil || string(f.HCL().Bytes) != string(readFile(t, "valid.hcl")) {
		t.Error("HCL() does not hold the source parsed")
	}
}

func TestBytesIsCanonical(t *testing.T) {
	want := string(readFile(t, "valid.hcl"))
	for _, name := range []string{"valid.hcl", "unsorted.hcl"} {
		t.Run(name, func(t *testing.T) {
			got := string(mustParse(t, readFile(t, name), name).Bytes())
			if got != want {
				t.Errorf("Bytes() =\n%s\nwant (testdata/valid.hcl)\n%s", got, want)
			}
		})
	}
}

func TestBytesOfAnEmptyFileIsTheHeader(t *testing.T) {
	b := (&pluginlock.File{}).Bytes()
	if !strings.HasPrefix(string(b), "# This file is maintained by") || strings.Contains(string(b), "plugin \"") {
		t.Errorf("Bytes() of no plugins = %q", b)
	}
	f := mustParse(t, b, "empty.hcl")
	if len(f.Plugins) != 0 {
		t.Errorf("parsed %d plugins from the header alone", len(f.Plugins))
	}
}

func TestParseRefusesWhatIsWrong(t *testing.T) {
	block := func(body string) string {
		return "plugin \"pg\" {\n" + body + "\n}\n"
	}
	full := func(version, protocol, sha string) string {
		return block("  version = " + version + "\n  protocol = " + protocol + "\n  sha256 = " + sha)
	}
	good := `{ linux_amd64 = "` + sumA + `" }`
	tests := []struct {
		name, src string
		summary   string
		line, col int
		detail    string
	}{
		{"syntax error", "plugin \"pg\" {", "Unclosed configuration block", 1, 13, ""},
		{"unknown attribute", block("  version = \"1\"\n  protocol = 1\n  sha256 = " + good + "\n  path = \"/x\""), "Unsupported argument", 5, 3, ""},
		{"unknown block", "provider \"pg\" {}\n", "Unsupported block type", 1, 1, ""},
		{"nested block", block("  version = \"1\"\n  protocol = 1\n  sha256 = " + good + "\n  extra {}"), "Unsupported block type", 5, 3, ""},
		{"missing version", block("  protocol = 1\n  sha256 = " + good), "Missing required argument", 1, 13, "version"},
		{"missing sha256", block("  version = \"1\"\n  protocol = 1"), "Missing required argument", 1, 13, "sha256"},
		{"no label", "plugin {\n}\n", "Missing name for plugin", 1, 8, ""},
		{"bad name", strings.Replace(full(`"1"`, "1", good), `"pg"`, `"../pg"`, 1), "Invalid plugin name", 1, 8, "letters, digits"},
		{"empty name", strings.Replace(full(`"1"`, "1", good), `"pg"`, `""`, 1), "Invalid plugin name", 1, 8, "empty"},
		{"duplicate plugin", full(`"1"`, "1", good) + full(`"2"`, "1", good), "Duplicate plugin", 6, 8, "already locked at f.hcl:1:1"},
		{"version not a string", full("1", "1", good), "Invalid version", 2, 13, "quoted string"},
		{"version with a reference", full("var.v", "1", good), "Invalid version", 2, 13, "quoted string"},
		{"version interpolated", full(`"v${1}"`, "1", good), "Invalid version", 2, 13, "quoted string"},
		{"version empty", full(`""`, "1", good), "Invalid version", 2, 13, "empty"},
		{"version with a newline", full(`"1\n2"`, "1", good), "Invalid version", 2, 13, "cannot be printed"},
		{"protocol zero", full(`"1"`, "0", good), "Invalid protocol", 3, 14, "whole number from 1"},
		{"protocol negative", full(`"1"`, "-2", good), "Invalid protocol", 3, 14, "whole number from 1"},
		{"protocol fraction", full(`"1"`, "1.5", good), "Invalid protocol", 3, 14, "whole number from 1"},
		{"protocol a string", full(`"1"`, `"2"`, good), "Invalid protocol", 3, 14, "whole number from 1"},
		{"protocol too large", full(`"1"`, "2147483648", good), "Invalid protocol", 3, 14, "whole number from 1"},
		{"protocol too long", full(`"1"`, "1"+strings.Repeat("0", 30), good), "Number too long", 3, 14, ""},
		{"protocol an expression", full(`"1"`, "1 + 1", good), "Invalid protocol", 3, 14, ""},
		{"sha256 a string", full(`"1"`, "1", `"`+sumA+`"`), "Invalid sha256", 4, 12, "object of checksums by platform"},
		{"sha256 empty", full(`"1"`, "1", "{}"), "Invalid sha256", 4, 12, "object of checksums by platform"},
		{"short hash", full(`"1"`, "1", `{ linux_amd64 = "`+sumA[:63]+`" }`), "Invalid sha256", 4, 28, "has 63 characters instead of 64"},
		{"uppercase hash", full(`"1"`, "1", `{ linux_amd64 = "`+strings.ToUpper(sumA)+`" }`), "Invalid sha256", 4, 28, "uppercase letter at position 1"},
		{"not hex", full(`"1"`, "1", `{ linux_amd64 = "`+sumA[:10]+"g"+sumA[11:]+`" }`), "Invalid sha256", 4, 28, "not hexadecimal at position 11"},
		{"hash a number", full(`"1"`, "1", `{ linux_amd64 = 12 }`), "Invalid sha256", 4, 28, "quoted string"},
		{"bad platform", full(`"1"`, "1", `{ linux = "`+sumA+`" }`), "Invalid platform", 4, 14, "GOOS_GOARCH"},
		{"uppercase platform", full(`"1"`, "1", `{ "Linux_AMD64" = "`+sumA+`" }`), "Invalid platform", 4, 14, "GOOS_GOARCH"},
		{"platform with a path", full(`"1"`, "1", `{ "linux_amd64/../x" = "`+sumA+`" }`), "Invalid platform", 4, 14, "GOOS_GOARCH"},
		{"platform an expression", full(`"1"`, "1", `{ (var.p) = "`+sumA+`" }`), "Invalid platform", 4, 14, "GOOS_GOARCH"},
		{"duplicate platform", full(`"1"`, "1", "{\n    linux_amd64 = \""+sumA+"\"\n    \"linux_amd64\" = \""+sumB+"\"\n  }"), "Duplicate platform", 6, 5, "already has a checksum at f.hcl:5:5"},
		{"source not a string", block("  version = \"1\"\n  protocol = 1\n  source = 3\n  sha256 = " + good), "Invalid source", 4, 12, "quoted string"},
		{"source with a control character", block("  version = \"1\"\n  protocol = 1\n  source = \"a\\u0007b\"\n  sha256 = " + good), "Invalid source", 4, 12, "cannot be printed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := pluginlock.Parse([]byte(tt.src), "f.hcl")
			if !diags.HasErrors() {
				t.Fatalf("Parse(%q) found no error", tt.src)
			}
			var d *hcl.Diagnostic
			for _, x := range diags {
				if x.Summary == tt.summary {
					d = x
					break
				}
			}
			if d == nil {
				t.Fatalf("no %q diagnostic in %v", tt.summary, diags)
			}
			if d.Subject == nil || d.Subject.Filename != "f.hcl" || d.Subject.Start.Line != tt.line || d.Subject.Start.Column != tt.col {
				t.Errorf("%s at %v, want f.hcl:%d:%d", tt.summary, d.Subject, tt.line, tt.col)
			}
			if !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", d.Detail, tt.detail)
			}
		})
	}
}

func TestParseKeepsThePluginsWithoutErrors(t *testing.T) {
	src := `plugin "good" {
  version  = "1.0.0"
  protocol = 2
  sha256   = { linux_amd64 = "` + sumA + `" }
}
plugin "bad" {
  version  = "1.0.0"
  protocol = 0
  sha256   = { linux_amd64 = "` + sumA + `" }
}
`
	f, diags := pluginlock.Parse([]byte(src), "f.hcl")
	if !diags.HasErrors() {
		t.Fatal("no error for protocol 0")
	}
	if len(f.Plugins) != 1 || f.Plugins[0].Name != "good" {
		t.Errorf("Plugins = %v, want good alone", f.Plugins)
	}
}

func TestSetAddsOrReplaces(t *testing.T) {
	f := &pluginlock.File{}
	f.Set(&pluginlock.Plugin{Name: "b", Version: "1", Protocol: 2, SHA256: map[string]string{"linux_amd64": sumA}})
	f.Set(&pluginlock.Plugin{Name: "a", Version: "1", Protocol: 2, SHA256: map[string]string{"linux_amd64": sumA}})
	f.Set(&pluginlock.Plugin{Name: "b", Version: "2", Protocol: 2, SHA256: map[string]string{"linux_amd64": sumB}})
	if len(f.Plugins) != 2 || f.Plugin("b").Version != "2" || f.Plugin("b").SHA256["linux_amd64"] != sumB {
		t.Fatalf("after Set: %+v", f.Plugins)
	}
	text := string(f.Bytes())
	if a, b := strings.Index(text, `plugin "a"`), strings.Index(text, `plugin "b"`); a < 0 || b < a {
		t.Errorf("Bytes() does not sort the plugins by name:\n%s", text)
	}
}

func TestNilFileHasNoPlugin(t *testing.T) {
	var f *pluginlock.File
	if f.Plugin("x") != nil {
		t.Error("a nil File has a plugin")
	}
}

func TestWriteThenRead(t *testing.T) {
	dir := t.TempDir()
	if f, diags := pluginlock.Read(dir); f != nil || diags != nil {
		t.Fatalf("Read of a directory without a lock file = %v, %v; want nil, nil", f, diags)
	}
	f := &pluginlock.File{Path: filepath.Join(dir, pluginlock.FileName)}
	f.Set(&pluginlock.Plugin{Name: "memory", Version: "0.2.0", Protocol: 2, Source: "https://example.com/m.tgz",
		SHA256: map[string]string{pluginlock.Platform(): sumA}})
	if err := pluginlock.Write(f); err != nil {
		t.Fatal(err)
	}
	// Once more over the first, as an upgrade does.
	f.Plugin("memory").Version = "0.3.0"
	if err := pluginlock.Write(f); err != nil {
		t.Fatal(err)
	}
	got, diags := pluginlock.Read(dir)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if got.Path != f.Path || string(got.Bytes()) != string(f.Bytes()) {
		t.Errorf("Read after Write:\n%s\nwant\n%s", got.Bytes(), f.Bytes())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("Write left %d files in the directory, want the lock file alone: %v", len(entries), entries)
	}
	st, err := os.Stat(f.Path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("lock file mode %v (%v), want 0644", st.Mode(), err)
	}
}

func TestWriteIntoAMissingDirectoryFails(t *testing.T) {
	f := &pluginlock.File{Path: filepath.Join(t.TempDir(), "nope", pluginlock.FileName)}
	err := pluginlock.Write(f)
	if err == nil || !strings.Contains(err.Error(), f.Path) {
		t.Errorf("Write into a missing directory: %v, want an error naming %s", err, f.Path)
	}
}

func TestReadReportsWhatItCannotRead(t *testing.T) {
	t.Run("a directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, pluginlock.FileName), 0o755); err != nil {
			t.Fatal(err)
		}
		f, diags := pluginlock.Read(dir)
		if f == nil || !diags.HasErrors() || !strings.Contains(diags[0].Detail, "not a regular file") {
			t.Errorf("Read = %v, %v", f, diags)
		}
	})
	t.Run("too large", func(t *testing.T) {
		dir := t.TempDir()
		big := make([]byte, 4<<20+1)
		if err := os.WriteFile(filepath.Join(dir, pluginlock.FileName), big, 0o644); err != nil {
			t.Fatal(err)
		}
		_, diags := pluginlock.Read(dir)
		if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "larger than 4 MiB") {
			t.Errorf("Read of a 4 MiB file: %v", diags)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, pluginlock.FileName), []byte("plugin \"x\" {\n  version = 1\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, diags := pluginlock.Read(dir)
		if f == nil || f.HCL() == nil || !diags.HasErrors() {
			t.Fatalf("Read = %v, %v; want the file and its errors", f, diags)
		}
		if s := diags[0].Subject; s == nil || s.Filename != filepath.Join(dir, pluginlock.FileName) {
			t.Errorf("diagnostic at %v, want the lock file", s)
		}
	})
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := pluginlock.Dir(dir); got != dir {
		t.Errorf("Dir(%s) = %s", dir, got)
	}
	if got := pluginlock.Dir(file); got != dir {
		t.Errorf("Dir(%s) = %s, want %s", file, got, dir)
	}
}

func TestCheckSHA256(t *testing.T) {
	if p := pluginlock.CheckSHA256(sumA); p != "" {
		t.Errorf("CheckSHA256 of a good checksum: %s", p)
	}
	if p := pluginlock.CheckSHA256("abc"); p != "has 3 characters instead of 64" {
		t.Errorf("CheckSHA256(abc) = %q", p)
	}
}
