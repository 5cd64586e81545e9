package memory

import "testing"

func TestGlobMatchesAsRedisDoes(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"a*", "a", true},
		{"a*", "a/b/c", true},
		{"*c", "abc", true},
		{"*c", "abd", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXcYYb", false},
		{"a**c", "ac", true},
		{"*a*a*a*", "aaa", true},
		{"*a*a*a*", "aa", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"?", "é", false}, // ? is one byte, as in Redis; é is two
		{"??", "é", true},
		{"user:[0-9]", "user:7", true},
		{"user:[0-9]", "user:a", false},
		{"user:[9-0]", "user:5", true}, // a reversed range, as Redis allows
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[^abc]", "d", true},
		{"[^abc]", "a", false},
		{"[a-]", "-", true},
		{"[\\]]", "]", true},
		{"[\\^]", "^", true},
		{"a\\*", "a*", true},
		{"a\\*", "ab", false},
		{"\\?", "?", true},
		{"\\?", "x", false},
		{"h[ae]llo*", "hello world", true},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern)
		if err != nil {
			t.Errorf("compileGlob(%q): %v", tt.pattern, err)
			continue
		}
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestGlobRefusesMalformedPatterns(t *testing.T) {
	for _, p := range []string{"[", "[abc", "a[0-", "[]", "[^]", "a\\", "[\\"} {
		if _, err := compileGlob(p); err == nil {
			t.Errorf("compileGlob(%q) accepted it", p)
		}
	}
}

func TestCursorRoundTripsAndRefusesOthers(t *testing.T) {
	for _, k := range []string{"a", "user:1", "ключ", "\x00\xff"} {
		got, err := decodeCursor(encodeCursor(k))
		if err != nil || got != k {
			t.Errorf("decodeCursor(encodeCursor(%q)) = %q, %v", k, got, err)
		}
	}
	for _, c := range []string{"x", "k", "k!!", "a2V5"} {
		if _, err := decodeCursor(c); err == nil {
			t.Errorf("decodeCursor(%q) accepted it", c)
		}
	}
}
