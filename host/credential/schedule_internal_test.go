package credential

import (
	"strings"
	"testing"
	"time"
)

func TestRefreshAt(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		life   time.Duration
		before time.Duration
		want   time.Duration // after t0
	}{
		{"default is a third of the lifetime", 90 * time.Second, 0, 60 * time.Second},
		{"default is at most five minutes", time.Hour, 0, 55 * time.Minute},
		{"refresh_before as given", time.Hour, 10 * time.Minute, 50 * time.Minute},
		{"at least 100ms before expiry", 240 * time.Millisecond, 0, 140 * time.Millisecond},
		{"refresh_before longer than the life", time.Minute, 5 * time.Minute, 6 * time.Second},
		{"never sooner than 100ms", 50 * time.Millisecond, 0, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refreshAt(t0, t0.Add(tc.life), tc.before).Sub(t0); got != tc.want {
				t.Errorf("refreshAt = t0+%v, want t0+%v", got, tc.want)
			}
		})
	}
}

func TestRetryDelayDoublesWithJitterUpTo30s(t *testing.T) {
	for streak, top := range map[int]time.Duration{1: 250 * time.Millisecond, 2: 500 * time.Millisecond, 3: time.Second, 9: 30 * time.Second, 100: 30 * time.Second} {
		for range 100 {
			if d := retryDelay(streak); d < top/2 || d > top {
				t.Fatalf("retryDelay(%d) = %v, want within [%v, %v]", streak, d, top/2, top)
			}
		}
	}
}

func TestLastLine(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	for _, tc := range []struct {
		name    string
		stderr  string
		cut     bool
		secrets []string
		want    string
	}{
		{"last line not blank", "first\nsecond\n\n  \n", false, nil, "second"},
		{"masked", "token abc123 refused\n", false, []string{"abc123"}, "token (secret) refused"},
		{"longer value first", "pw=abc123456\n", false, []string{"abc", "abc123456"}, "pw=(secret)"},
		{"masked before cutting", strings.Repeat("x", 195) + "SECRETVALUE\n", false, []string{"SECRETVALUE"}, strings.Repeat("x", 195) + "(secr…"},
		{"multi-line value in part", "line2-of-secret\n", false, []string{"line1-of-secret\nline2-of-secret"}, "(secret)"},
		{"cut at a rune", long, false, nil, strings.Repeat("é", 100) + "…"},
		{"head dropped, one line", "ECRET and more", true, []string{"SECRET"}, ""},
		{"head dropped, later line", "ECRET\nlast words", true, []string{"SECRET"}, "last words"},
		{"empty secret ignored", "text\n", false, []string{""}, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastLine([]byte(tc.stderr), tc.cut, tc.secrets); got != tc.want {
				t.Errorf("lastLine = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := tail{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnopqrstu", "vw"} {
		tl.Write([]byte(s))
	}
	got, cut := tl.last()
	if string(got) != "pqrstuvw" || !cut {
		t.Errorf("last = %q, %v; want %q, true", got, cut, "pqrstuvw")
	}
	small := tail{max: 8}
	small.Write([]byte("abc"))
	if got, cut := small.last(); string(got) != "abc" || cut {
		t.Errorf("last = %q, %v; want abc, false", got, cut)
	}
}
