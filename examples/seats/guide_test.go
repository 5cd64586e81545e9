package seats_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The testing guide (docs/testing.md) shows what the sold-out test prints
// when Reserve leaks its lease. This test runs that command, on the leaky
// copy of Reserve (-leaky), and checks that it fails and prints what the
// guide shows; the same test passes on Reserve itself (TestSoldOutTakesNoSeats).
func TestTheGuideShowsWhatALeakedLeasePrints(t *testing.T) {
	if *leaky {
		t.Skip("this test runs the leaky variant itself")
	}
	doc, err := os.ReadFile("../../docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- seats: the output of go test -run TestSoldOutTakesNoSeats ./examples/seats -leaky -->"
	_, rest, ok := strings.Cut(string(doc), marker+"\n```\n")
	if !ok {
		t.Fatalf("docs/testing.md has no block after %q", marker)
	}
	block, _, _ := strings.Cut(rest, "```")
	lines := strings.Split(strings.TrimRight(block, "\n"), "\n")
	if want := "$ go test -run TestSoldOutTakesNoSeats ./examples/seats -leaky"; lines[0] != want {
		t.Fatalf("the block's command is %q, want %q", lines[0], want)
	}

	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestSoldOutTakesNoSeats$", ".", "-leaky")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if _, failed := err.(*exec.ExitError); !failed {
		t.Fatalf("go test on the leaky Reserve: %v, want it to fail; it printed:\n%s", err, out.String())
	}
	if err := matchLines(lines[1:], strings.Split(out.String(), "\n")); err != "" {
		t.Fatalf("docs/testing.md shows:\n%s\n\nthe command printed:\n%s\n%s", strings.Join(lines[1:], "\n"), out.String(), err)
	}
}

// matchLines matches printed lines against the lines a doc shows, in
// order: "..." in a line matches any text, a line "..." alone any number
// of lines; blanks at either end of a line do not count.
func matchLines(want, got []string) string {
	var match func(w, g int) bool
	match = func(w, g int) bool {
		if w == len(want) {
			for ; g < len(got); g++ {
				if strings.TrimSpace(got[g]) != "" && !strings.HasPrefix(got[g], "FAIL\t") {
					return false
				}
			}
			return true
		}
		pat := strings.TrimSpace(want[w])
		if pat == "..." {
			for k := g; k <= len(got); k++ {
				if match(w+1, k) {
					return true
				}
			}
			return false
		}
		return g < len(got) && linePattern(pat).MatchString(strings.TrimSpace(got[g])) && match(w+1, g+1)
	}
	if !match(0, 0) {
		return "they differ"
	}
	return ""
}

func linePattern(pat string) *regexp.Regexp {
	parts := strings.Split(pat, "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}
