package main_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
)

// memoryBinary returns the built memory plugin and its SHA-256.
func memoryBinary(t *testing.T) ([]byte, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(binDir, "plugins", "nebula-plugin-memory"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// memoryTarGz returns a .tar.gz of the memory plugin beside a README, as a
// release would ship it. The binary is stored, not compressed: compressing
// it with the race detector on takes long.
func memoryTarGz(t *testing.T, bin []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		body []byte
	}{{"README.md", []byte("# memory plugin\n")}, {"nebula-plugin-memory", bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
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

// installSetup writes a configuration of one memory resource, and returns
// its directory, an empty plugin directory's path (not made yet) and the
// lock file's path.
func installSetup(t *testing.T, hcl string) (conf, plugins, lock string) {
	t.Helper()
	dir := t.TempDir()
	conf = filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, "main.hcl", hcl)
	return conf, filepath.Join(dir, "plugins"), filepath.Join(conf, pluginlock.FileName)
}

// lockEntry reads the memory plugin's entry of the lock file.
func lockEntry(t *testing.T, lock string) *pluginlock.Plugin {
	t.Helper()
	f, diags := pluginlock.Read(filepath.Dir(lock))
	if diags.HasErrors() || f == nil {
		t.Fatalf("lock file %s: %v", lock, diags)
	}
	p := f.Plugin("memory")
	if p == nil {
		t.Fatalf("lock file %s has no memory plugin", lock)
	}
	return p
}

func TestPluginsInstallWritesTheLockFileAndATamperedPluginIsRefused(t *testing.T) {
	t.Parallel()
	bin, sum := memoryBinary(t)
	conf, plugins, lock := installSetup(t, "resource \"memory\" \"cache\" {}\n")
	archive := writeFile(t, t.TempDir(), "nebula-plugin-memory_linux_amd64.tar.gz", string(memoryTarGz(t, bin)))

	r := nebula(t, nil, "plugins", "install", "-config", conf, "-plugin-dir", plugins, archive)
	mustExit(t, r, 0, "plugins install")
	installed := filepath.Join(plugins, "nebula-plugin-memory")
	p := lockEntry(t, lock)
	if p.Source != archive || p.SHA256[pluginlock.Platform()] != sum || p.Protocol != 2 || p.Version == "" {
		t.Errorf("lock entry %+v, want source %s and sha256 %s", p, archive, sum)
	}
	if !strings.Contains(r.stdout, "installed memory "+p.Version) || !strings.Contains(r.stdout, installed) || !strings.Contains(r.stdout, lock) {
		t.Errorf("plugins install: stdout does not say what it installed\n%s", r)
	}
	if entries, _ := os.ReadDir(plugins); len(entries) != 1 {
		t.Errorf("the plugin directory holds %v, want the plugin alone (no README, no temporary file)", entries)
	}

	mustExit(t, nebula(t, nil, "validate", "-plugin-dir", plugins, conf), 0, "validate of the installed plugin")
	r = nebula(t, nil, "plugins", "verify", "-config", conf, "-plugin-dir", plugins)
	mustExit(t, r, 0, "plugins verify")
	if !strings.Contains(r.stdout, "1 plugin matches "+lock) {
		t.Errorf("plugins verify: %s", r)
	}

	// One byte more: another program.
	f, err := os.OpenFile(installed, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-plugin-dir", plugins, conf},
		{"run", "-config", conf, "-plugin-dir", plugins, "-admin", freeAddress(t)},
	} {
		r := nebula(t, nil, args...)
		mustExit(t, r, 1, args[0]+" of a tampered plugin")
		for _, want := range []string{
			"Error: Plugin checksum differs from the lock file",
			"on " + lock + " line 5, in plugin \"memory\"",
			"the binary " + installed + " has SHA-256",
			"but " + lock + " records " + sum[:12],
			"run `nebula-host plugins upgrade memory SOURCE` (or `nebula-host plugins install SOURCE`) to record it",
			lock + ":5:1: error: Plugin checksum differs from the lock file",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s of a tampered plugin: stderr does not say %q\n%s", args[0], want, r)
			}
		}
	}
	r = nebula(t, nil, "plugins", "verify", "-config", conf, "-plugin-dir", plugins)
	mustExit(t, r, 1, "plugins verify of a tampered plugin")
	if !strings.Contains(r.stderr, `plugin "memory": `+installed+" has SHA-256") || !strings.Contains(r.stderr, "the lock file records "+sum) {
		t.Errorf("plugins verify does not name the mismatch\n%s", r)
	}

	// Installing again puts the recorded binary back.
	mustExit(t, nebula(t, nil, "plugins", "install", "-config", conf, "-plugin-dir", plugins, archive), 0, "plugins install again")
	mustExit(t, nebula(t, nil, "plugins", "verify", "-config", conf, "-plugin-dir", plugins), 0, "plugins verify after installing again")
}

func TestPluginsInstallFromADirectoryAZipAndHTTPS(t *testing.T) {
	t.Parallel()
	bin, sum := memoryBinary(t)
	archive := memoryTarGz(t, bin)
	archiveSum := sha256.Sum256(archive)

	srcDir := t.TempDir()
	writeFile(t, srcDir, "nebula-plugin-memory", string(bin))
	writeFile(t, srcDir, "LICENSE", "MIT\n")

	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "dist/nebula-plugin-memory", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zipPath := writeFile(t, t.TempDir(), "memory.zip", zbuf.String())

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/releases/nebula-plugin-memory.tar.gz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(archive)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// The host's TLS stack trusts the test server's authority.
	ca := writeFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	trust := []string{"SSL_CERT_FILE=" + ca}
	url := srv.URL + "/releases/nebula-plugin-memory.tar.gz"

	for _, tt := range []struct {
		name   string
		env    []string
		args   []string
		source string
	}{
		{"directory", nil, []string{srcDir}, srcDir},
		{"zip", nil, []string{zipPath}, zipPath},
		{"https with -sha256", trust, []string{"-sha256", hex.EncodeToString(archiveSum[:]), url}, url},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conf, plugins, lock := installSetup(t, "resource \"memory\" \"cache\" {}\n")
			r := nebula(t, tt.env, append([]string{"plugins", "install", "-config", conf, "-plugin-dir", plugins}, tt.args...)...)
			mustExit(t, r, 0, "plugins install")
			if p := lockEntry(t, lock); p.Source != tt.source || p.SHA256[pluginlock.Platform()] != sum {
				t.Errorf("lock entry %+v, want source %s", p, tt.source)
			}
			mustExit(t, nebula(t, nil, "validate", "-plugin-dir", plugins, conf), 0, "validate")
		})
	}

	t.Run("https refused", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{url}, "give the archive's SHA-256 (-sha256) or a minisign public key (-public-key)"},
			{[]string{"-sha256", strings.Repeat("0", 64), url}, "checksum mismatch"},
			{[]string{"-sha256", strings.Repeat("0", 64), strings.Replace(url, "https://", "http://", 1)}, "plain http is refused"},
		} {
			conf, plugins, lock := installSetup(t, "resource \"memory\" \"cache\" {}\n")
			r := nebula(t, trust, append([]string{"plugins", "install", "-config", conf, "-plugin-dir", plugins}, tt.args...)...)
			mustExit(t, r, 1, "plugins install "+strings.Join(tt.args, " "))
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("plugins install %s: stderr does not say %q\n%s", strings.Join(tt.args, " "), tt.want, r)
			}
			if _, err := os.Stat(lock); err == nil {
				t.Error("a refused install wrote the lock file")
			}
			if entries, _ := os.ReadDir(plugins); len(entries) > 0 {
				t.Errorf("a refused install left %v", entries)
			}
		}
	})
}

func TestPluginsUpgradePutsTheOldBinaryBackWhenTheHostRefusesTheReload(t *testing.T) {
	t.Parallel()
	bin, oldSum := memoryBinary(t)
	token := "upgrade-test-token"
	tokenSum := sha256.Sum256([]byte(token))
	addr := freeAddress(t)
	conf, plugins, lock := installSetup(t, fmt.Sprintf(`admin {
  address = %q
  identity "ops" {
    token_sha256 = %q
    allow        = ["read", "admin"]
  }
}
resource "memory" "cache" {}
`, addr, hex.EncodeToString(tokenSum[:])))
	mustExit(t, nebula(t, nil, "plugins", "install", "-config", conf, "-plugin-dir", plugins, writeFile(t, t.TempDir(), "nebula-plugin-memory", string(bin))), 0, "plugins install")
	installed := filepath.Join(plugins, "nebula-plugin-memory")

	// No host running: the new binary stays, for the next start.
	newBin := append(append([]byte(nil), bin...), 0)
	newSum := sha256.Sum256(newBin)
	newSrc := writeFile(t, t.TempDir(), "nebula-plugin-memory", string(newBin))
	r := nebula(t, nil, "plugins", "upgrade", "-config", conf, "-plugin-dir", plugins, "memory", newSrc, "-addr", freeAddress(t))
	mustExit(t, r, 0, "plugins upgrade with no host running")
	if !strings.Contains(r.stdout, "no host is running at") || lockEntry(t, lock).SHA256[pluginlock.Platform()] != hex.EncodeToString(newSum[:]) {
		t.Errorf("plugins upgrade with no host running:\n%s", r)
	}
	mustExit(t, nebula(t, nil, "plugins", "upgrade", "-config", conf, "-plugin-dir", plugins, "memory", writeFile(t, t.TempDir(), "nebula-plugin-memory", string(bin)), "-addr", freeAddress(t)), 0, "plugins upgrade back")

	before, err := os.ReadFile(lock)
	if err != nil {
		t.Fatal(err)
	}

	startHostWith(t, filepath.Join(conf, "main.hcl"), addr, "/readyz", "-plugin-dir", plugins)

	// Without the token the host refuses the reload: all goes back.
	r = nebula(t, []string{"NEBULA_TOKEN="}, "plugins", "upgrade", "-config", conf, "-plugin-dir", plugins, "-addr", addr, "memory", newSrc)
	mustExit(t, r, 2, "plugins upgrade refused by the host")
	if !strings.Contains(r.stderr, "unauthenticated") || !strings.Contains(r.stderr, "the old binary of memory and its lock entry are back in place") {
		t.Errorf("plugins upgrade refused by the host: stderr does not say so\n%s", r)
	}
	if got, _ := os.ReadFile(lock); string(got) != string(before) {
		t.Errorf("the lock file was not put back:\n%s", got)
	}
	if got, _ := os.ReadFile(installed); sha256.Sum256(got) != [32]byte(mustHex(t, oldSum)) {
		t.Error("the old binary was not put back")
	}

	// With it, the host reloads.
	r = nebula(t, []string{"NEBULA_TOKEN=" + token}, "plugins", "upgrade", "-config", conf, "-plugin-dir", plugins, "-addr", addr, "memory", newSrc)
	mustExit(t, r, 0, "plugins upgrade")
	if !strings.Contains(r.stdout, "upgraded memory") || !strings.Contains(r.stdout, "unchanged:") {
		t.Errorf("plugins upgrade: stdout does not say what happened\n%s", r)
	}
	if got, _ := os.ReadFile(installed); sha256.Sum256(got) != newSum {
		t.Error("the new binary is not in place")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
