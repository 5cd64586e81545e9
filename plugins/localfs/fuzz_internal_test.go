package localfs

import (
	"strings"
	"testing"
)

// FuzzKeyPath: a key keyPath accepts never leaves the root nor names the
// driver's own files: it is relative, has no empty, "." or ".." element,
// no NUL, and no element that starts with ".nebula", whatever the caller
// wrote.
func FuzzKeyPath(f *testing.F) {
	for _, s := range []string{"a/b.txt", "../x", "a/../../x", `a\..\..\x`, "/etc/passwd", "C:/x", ".", "", "a//b/./c", "a\x00b", "..", "a/..", "./../x", "\\\\server\\share", ".nebula/meta/x", "a/.nebula-put-x.tmp", "a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := keyPath("key", key)
		if err != nil {
			return
		}
		if p != key || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || hasVolume(p) || strings.ContainsRune(p, 0) {
			t.Fatalf("keyPath(%q) = %q: absolute, changed or holds NUL", key, p)
		}
		for _, elem := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
			if elem == ".." {
				t.Fatalf("keyPath(%q) = %q: has a .. element", key, p)
			}
		}
		for _, elem := range strings.Split(p, "/") {
			if elem == "" || elem == "." || strings.HasPrefix(elem, reservedPrefix) {
				t.Fatalf("keyPath(%q) = %q: element %q", key, p, elem)
			}
		}
	})
}
