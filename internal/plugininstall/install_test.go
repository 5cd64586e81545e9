package plugininstall_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
	"github.com/nebula-resource/nebula-resource/internal/plugininstall"
)

func readBin(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(pluginPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// assertInstalled checks that the memory plugin is in place in dir, as
// the lock file records it from source, and that nothing else is there.
func assertInstalled(t *testing.T, dir string, lock *pluginlock.File, source string, res []plugininstall.Result) {
	t.Helper()
	want := readBin(t, "memory")
	path := filepath.Join(dir, "nebula-plugin-memory")
	got, err := os.ReadFile(path)
	if err != nil || sha(got) != sha(want) {
		t.Fatalf("%s: %v, or not the memory plugin", path, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o755 {
		t.Errorf("%s has mode %v, want 0755", path, st.Mode())
	}
	if len(res) != 1 || res[0].Name != "memory" || res[0].Driver != "memory" || res[0].Path != path || res[0].SHA256 != sha(want) ||
		res[0].Protocol < 1 || res[0].Version == "" {
		t.Errorf("results %+v", res)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the plugin directory holds %v, want the plugin alone", entries)
	}
	read, diags := pluginlock.Read(filepath.Dir(lock.Path))
	if diags.HasErrors() || read == nil {
		t.Fatalf("lock file: %v", diags)
	}
	p := read.Plugin("memory")
	if p == nil || p.Source != source || p.Version != res[0].Version || p.Protocol != res[0].Protocol ||
		p.SHA256[pluginlock.Platform()] != sha(want) || len(p.SHA256) != 1 {
		t.Errorf("lock entry %+v, want source %s and this platform's checksum", p, source)
	}
}

func TestInstallFromEachKindOfSource(t *testing.T) {
	t.Parallel()
	bin := readBin(t, "memory")
	readme := entry{name: "README.md", body: []byte("# memory\n")}
	srcDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(srcDir, "nebula-plugin-memory"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcDir, "LICENSE"), []byte("MIT"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		source string
	}{
		{"directory", srcDir},
		{"tar.gz", writeSource(t, "memory.tar.gz", tarGz(t, readme, entry{name: "memory_0.2.0/", typ: '5'}, entry{name: "memory_0.2.0/nebula-plugin-memory", body: bin}))},
		{"tgz", writeSource(t, "memory.tgz", tarGz(t, entry{name: "nebula-plugin-memory", body: bin}, readme))},
		{"zip", writeSource(t, "memory.zip", zipOf(t, readme, entry{name: "nebula-plugin-memory", body: bin}))},
		{"binary", writeSource(t, "nebula-plugin-memory", bin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, dir, lock := installDirs(t)
			res, err := plugininstall.Install(t.Context(), tt.source, lock, plugininstall.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			assertInstalled(t, dir, lock, tt.source, res)
		})
	}
}

func TestInstallKeepsOtherPlatformsOfTheSameVersion(t *testing.T) {
	t.Parallel()
	_, dir, lock := installDirs(t)
	src := writeSource(t, "nebula-plugin-memory", readBin(t, "memory"))
	res, err := plugininstall.Install(t.Context(), src, lock, plugininstall.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	other := "plan9_arm"
	lock.Plugin("memory").SHA256[other] = strings.Repeat("a", 64)
	if _, err := plugininstall.Install(t.Context(), src, lock, plugininstall.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if sums := lock.Plugin("memory").SHA256; len(sums) != 2 || sums[pluginlock.Platform()] != res[0].SHA256 {
		t.Errorf("after installing the same version again: %v, want both platforms", sums)
	}
	// Another version keeps this platform's alone.
	lock.Plugin("memory").Version = "0.0.0-old"
	if _, err := plugininstall.Install(t.Context(), src, lock, plugininstall.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if sums := lock.Plugin("memory").SHA256; len(sums) != 1 {
		t.Errorf("after installing another version: %v, want this platform alone", sums)
	}
}

func TestABinaryThatDoesNotStartIsNotInstalled(t *testing.T) {
	t.Parallel()
	parent, dir, lock := installDirs(t)
	src := writeSource(t, "p.tar.gz", tarGz(t,
		entry{name: "nebula-plugin-memory", body: readBin(t, "memory")},
		entry{name: "nebula-plugin-broken", body: []byte("#!/bin/sh\necho broken >&2\nexit 3\n")}))
	_, err := plugininstall.Install(t.Context(), src, lock, plugininstall.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "nebula-plugin-broken from "+src+" does not start, so it is not installed") {
		t.Fatalf("Install of a broken plugin: %v", err)
	}
	assertNothingInstalled(t, parent, dir)
}

// server serves files over https from a map of path to body.
func server(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://"+r.Host+"/memory.tar.gz", http.StatusFound)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestInstallFromHTTPS(t *testing.T) {
	t.Parallel()
	archive := tarGz(t, entry{name: "nebula-plugin-memory", body: readBin(t, "memory")})
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hashed := minisign.NewReader(strings.NewReader(string(archive)))
	if _, err := io.Copy(io.Discard, hashed); err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubText, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	pubFile := writeSource(t, "minisign.pub", pubText)
	srv := server(t, map[string][]byte{
		"/memory.tar.gz":                archive,
		"/memory.tar.gz.minisig":        hashed.Sign(priv),
		"/legacy/memory.tar.gz":         archive,
		"/legacy/memory.tar.gz.minisig": minisign.Sign(priv, archive),
		"/other.minisig":                minisign.Sign(priv, []byte("something else")),
		"/nebula-plugin-memory":         readBin(t, "memory"),
	})
	url := srv.URL + "/memory.tar.gz"

	ok := []struct {
		name   string
		source string
		opts   plugininstall.Options
	}{
		{"checksum", url, plugininstall.Options{SHA256: sha(archive)}},
		{"checksum in uppercase", url, plugininstall.Options{SHA256: strings.ToUpper(sha(archive))}},
		{"signature beside it, key as text", url, plugininstall.Options{PublicKey: pub.String()}},
		{"signature beside it, key in a file", url, plugininstall.Options{PublicKey: pubFile}},
		{"legacy signature", srv.URL + "/legacy/memory.tar.gz", plugininstall.Options{PublicKey: pub.String()}},
		{"signature given", url, plugininstall.Options{PublicKey: pub.String(), Signature: srv.URL + "/memory.tar.gz.minisig"}},
		{"a binary", srv.URL + "/nebula-plugin-memory", plugininstall.Options{SHA256: sha(readBin(t, "memory"))}},
		{"query not recorded", url + "?token=s3cr3t", plugininstall.Options{SHA256: sha(archive)}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, dir, lock := installDirs(t)
			tt.opts.Dir, tt.opts.HTTPClient = dir, srv.Client()
			res, err := plugininstall.Install(t.Context(), tt.source, lock, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			assertInstalled(t, dir, lock, strings.TrimSuffix(tt.source, "?token=s3cr3t"), res)
		})
	}

	refused := []struct {
		name    string
		source  string
		opts    plugininstall.Options
		err     error
		message string
	}{
		{"plain http", "http://example.com/memory.tar.gz", plugininstall.Options{SHA256: sha(archive)},
			plugininstall.ErrInsecureSource, "plain http is refused"},
		{"another scheme", "ftp://example.com/memory.tar.gz", plugininstall.Options{SHA256: sha(archive)},
			plugininstall.ErrInsecureSource, `the URL scheme "ftp" is not supported`},
		{"nothing to verify with", url, plugininstall.Options{},
			plugininstall.ErrInsecureSource, "give the archive's SHA-256 (-sha256) or a minisign public key (-public-key)"},
		{"credentials in the URL", strings.Replace(url, "https://", "https://user:pw@", 1), plugininstall.Options{SHA256: sha(archive)},
			plugininstall.ErrInsecureSource, "the URL holds credentials"},
		{"wrong checksum", url, plugininstall.Options{SHA256: strings.Repeat("0", 64)},
			plugininstall.ErrChecksum, "has SHA-256 " + sha(archive) + ", not 0000"},
		{"signature of another key", url, plugininstall.Options{PublicKey: otherPub.String()},
			plugininstall.ErrSignature, "not with the public key given"},
		{"signature of another file", url, plugininstall.Options{PublicKey: pub.String(), Signature: srv.URL + "/other.minisig"},
			plugininstall.ErrSignature, "does not match"},
		{"signature missing", srv.URL + "/nebula-plugin-memory", plugininstall.Options{PublicKey: pub.String()},
			plugininstall.ErrSignature, "404 Not Found"},
		{"not a key", url, plugininstall.Options{PublicKey: "not-a-key"},
			plugininstall.ErrSignature, "neither a minisign key nor a file"},
		{"redirect to http", srv.URL + "/redirect", plugininstall.Options{SHA256: sha(archive)},
			plugininstall.ErrInsecureSource, "which is not https"},
		{"not found", srv.URL + "/nope.tar.gz", plugininstall.Options{SHA256: sha(archive)},
			nil, "the server answered 404 Not Found"},
		{"larger than the limit", url, plugininstall.Options{SHA256: sha(archive), Limits: plugininstall.Limits{MaxArchiveSize: 1 << 10}},
			plugininstall.ErrTooLarge, "more than the limit of 1024"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, dir, lock := installDirs(t)
			tt.opts.Dir, tt.opts.HTTPClient = dir, srv.Client()
			_, err := plugininstall.Install(t.Context(), tt.source, lock, tt.opts)
			if err == nil {
				t.Fatal("installed")
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q shows a credential", err)
			}
			assertNothingInstalled(t, parent, dir)
		})
	}
}

func TestInstallRefusesATLSServerItDoesNotTrust(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the client refuses
	srv.StartTLS()
	defer srv.Close()
	parent, dir, lock := installDirs(t)
	_, err := plugininstall.Install(t.Context(), srv.URL+"/memory.tar.gz", lock, plugininstall.Options{Dir: dir, SHA256: sha([]byte("x"))})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Install from a server signed by an unknown authority: %v", err)
	}
	assertNothingInstalled(t, parent, dir)
}

func TestUpgradeReplacesTheBinaryAndUndoRestoresIt(t *testing.T) {
	t.Parallel()
	_, dir, lock := installDirs(t)
	oldBin := readBin(t, "memory")
	if _, err := plugininstall.Install(t.Context(), writeSource(t, "nebula-plugin-memory", oldBin), lock, plugininstall.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	before := *lock.Plugin("memory")
	// A new build: the same program with one byte more.
	newBin := append(append([]byte(nil), oldBin...), 0)
	newSrc := writeSource(t, "memory.zip", zipOf(t, entry{name: "nebula-plugin-memory", body: newBin}, entry{name: "nebula-plugin-other", body: []byte("x")}))
	u, err := plugininstall.Upgrade(t.Context(), "memory", newSrc, lock, plugininstall.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nebula-plugin-memory")
	if got, _ := os.ReadFile(path); sha(got) != sha(newBin) {
		t.Error("the new binary is not in place")
	}
	if got, _ := os.ReadFile(u.Backup); u.Backup != filepath.Join(dir, ".nebula-plugin-memory.previous") || sha(got) != sha(oldBin) {
		t.Errorf("backup %s does not hold the old binary", u.Backup)
	}
	read, _ := pluginlock.Read(filepath.Dir(lock.Path))
	if p := read.Plugin("memory"); p.Source != newSrc || p.SHA256[pluginlock.Platform()] != sha(newBin) {
		t.Errorf("lock entry after the upgrade: %+v", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "nebula-plugin-other")); !errors.Is(err, os.ErrNotExist) {
		t.Error("an upgrade of memory installed another plugin of the archive")
	}

	if err := u.Undo(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); sha(got) != sha(oldBin) {
		t.Error("Undo did not restore the old binary")
	}
	read, _ = pluginlock.Read(filepath.Dir(lock.Path))
	if p := read.Plugin("memory"); p.Source != before.Source || p.SHA256[pluginlock.Platform()] != sha(oldBin) {
		t.Errorf("lock entry after Undo: %+v, want %+v", p, before)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("after Undo the plugin directory holds %v", entries)
	}
}

func TestUpgradeRefusesWhatWouldNotServeThePlugin(t *testing.T) {
	t.Parallel()
	oldBin := readBin(t, "memory")
	tests := []struct {
		name    string
		plugin  string
		source  func(t *testing.T) string
		message string
	}{
		{"another plugin under its name", "memory", func(t *testing.T) string {
			return writeSource(t, "nebula-plugin-memory", readBin(t, "probe"))
		}, `names itself "probe", not "memory"; nothing changed`},
		{"a binary that does not start", "memory", func(t *testing.T) string {
			return writeSource(t, "nebula-plugin-memory", []byte("#!/bin/sh\nexit 1\n"))
		}, "does not start, so it is not installed"},
		{"a source without it", "memory", func(t *testing.T) string {
			return writeSource(t, "p.tar.gz", tarGz(t, entry{name: "nebula-plugin-redis", body: []byte("x")}))
		}, "holds no file named nebula-plugin-memory"},
		{"a plugin the lock file does not name", "redis", func(t *testing.T) string {
			return writeSource(t, "nebula-plugin-redis", oldBin)
		}, `has no plugin "redis"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, dir, lock := installDirs(t)
			if _, err := plugininstall.Install(t.Context(), writeSource(t, "nebula-plugin-memory", oldBin), lock, plugininstall.Options{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			lockBefore, _ := os.ReadFile(lock.Path)
			_, err := plugininstall.Upgrade(t.Context(), tt.plugin, tt.source(t), lock, plugininstall.Options{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Upgrade: %v, want %q", err, tt.message)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "nebula-plugin-memory")); sha(got) != sha(oldBin) {
				t.Error("the old binary is not in place")
			}
			if lockAfter, _ := os.ReadFile(lock.Path); string(lockAfter) != string(lockBefore) {
				t.Errorf("the lock file changed:\n%s", lockAfter)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("the plugin directory holds %v", entries)
			}
		})
	}
}

func TestUpgradeWithoutASourceUsesTheRecordedOne(t *testing.T) {
	t.Parallel()
	_, dir, lock := installDirs(t)
	src := writeSource(t, "nebula-plugin-memory", readBin(t, "memory"))
	if _, err := plugininstall.Install(t.Context(), src, lock, plugininstall.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	u, err := plugininstall.Upgrade(t.Context(), "memory", "", lock, plugininstall.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if u.Previous.Source != src || lock.Plugin("memory").Source != src {
		t.Errorf("upgrade from the recorded source: previous %+v, now %+v", u.Previous, lock.Plugin("memory"))
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	path := writeSource(t, "nebula-plugin-x", []byte("binary"))
	entry := &pluginlock.Plugin{Name: "x", SHA256: map[string]string{pluginlock.Platform(): sha([]byte("binary"))}}
	if err := plugininstall.Check(entry, path); err != nil {
		t.Errorf("Check of a matching binary: %v", err)
	}
	entry.SHA256[pluginlock.Platform()] = strings.Repeat("0", 64)
	if err := plugininstall.Check(entry, path); err == nil || !strings.Contains(err.Error(), "the lock file records 0000") {
		t.Errorf("Check of a binary that differs: %v", err)
	}
	if err := plugininstall.Check(entry, path+".missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Check of a missing binary: %v", err)
	}
}
