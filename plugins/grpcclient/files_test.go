package grpcclient_test

import (
	"os"
	"testing"
)

// writeFile writes b to path.
func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// shortTempDir is a temporary directory with a path short enough for a
// unix socket (t.TempDir's may not be), removed at the end.
func shortTempDir(t testing.TB) (string, error) {
	dir, err := os.MkdirTemp("", "grpc")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir, nil
}

// writeTemp writes b to a file named name in a temporary directory and
// returns its path.
func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	writeFile(t, path, b)
	return path
}
