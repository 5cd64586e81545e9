package localfs

import (
	"path"
	"strings"
	"testing"
)

// FuzzCleanPath: a path cleanPath accepts never leaves the root: it is
// relative, has no ".." element and no NUL, whatever the caller wrote.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b.txt", "../x", "a/../../x", `a\..\..\x`, "/etc/passwd", "C:/x", ".", "", "a//b/./c", "a\x00b", "..", "a/..", "./../x", "\\\\server\\share"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, allowRoot := range []bool{false, true} {
			clean, err := cleanPath(name, allowRoot)
			if err != nil {
				continue
			}
			if strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, `\`) || hasVolume(clean) || strings.ContainsRune(clean, 0) {
				t.Fatalf("cleanPath(%q) = %q: absolute or holds NUL", name, clean)
			}
			for _, elem := range strings.FieldsFunc(clean, func(r rune) bool { return r == '/' || r == '\\' }) {
				if elem == ".." {
					t.Fatalf("cleanPath(%q) = %q: has a .. element", name, clean)
				}
			}
			if path.Clean(clean) != clean || (clean == "." && !allowRoot) {
				t.Fatalf("cleanPath(%q) = %q: not clean, or the root when not allowed", name, clean)
			}
		}
	})
}
