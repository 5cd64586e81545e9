package doctest

import (
	"regexp"
	"strings"
)

// wildcard is the text that stands for what varies: within a line, any
// text of that line; alone on a line, any number of lines.
const wildcard = "..."

// A pattern is one line of output a doc shows.
type pattern struct {
	text  string         // as the doc shows it
	lines bool           // "..." alone: any number of lines
	re    *regexp.Regexp // otherwise, what a line must match, normalized
}

// compile returns the patterns of the lines a doc shows.
func compile(want []string) []pattern {
	ps := make([]pattern, len(want))
	for i, w := range want {
		n := normalize(w)
		if n == wildcard {
			ps[i] = pattern{text: w, lines: true}
			continue
		}
		parts := strings.Split(n, wildcard)
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		ps[i] = pattern{text: w, re: regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")}
	}
	return ps
}

// normalize drops the blanks at the ends of a line and makes each run of
// blanks inside it one space.
func normalize(line string) string { return strings.Join(strings.Fields(line), " ") }

// compare reports whether got matches the lines a doc shows, want, and
// returns a diff of them: lines the doc shows that are missing, "-";
// lines printed that the doc does not show, "+"; the rest, " ".
func compare(want, got []string) (diff string, ok bool) {
	return align(compile(want), got)
}

// prefix is compare for output that may go on after what the doc shows.
func prefix(want, got []string) (diff string, ok bool) {
	return align(append(compile(want), pattern{text: wildcard, lines: true}), got)
}

// align finds the edit from ps to got with the fewest lines added or
// removed, a "..." line taking any number of lines for free, and returns
// it as a diff, and whether nothing needed to change.
func align(ps []pattern, got []string) (string, bool) {
	norm := make([]string, len(got))
	for j, g := range got {
		norm[j] = normalize(g)
	}
	// cost[i][j] is the fewest edits that make ps[i:] match got[j:].
	cost := make([][]int, len(ps)+1)
	for i := range cost {
		cost[i] = make([]int, len(got)+1)
	}
	match := func(i, j int) bool { return !ps[i].lines && j < len(got) && ps[i].re.MatchString(norm[j]) }
	for i := len(ps); i >= 0; i-- {
		for j := len(got); j >= 0; j-- {
			switch {
			case i == len(ps):
				cost[i][j] = len(got) - j
			case ps[i].lines:
				c := cost[i+1][j]
				if j < len(got) {
					c = min(c, cost[i][j+1])
				}
				cost[i][j] = c
			default:
				c := 1 + cost[i+1][j]
				if j < len(got) {
					c = min(c, 1+cost[i][j+1])
				}
				if match(i, j) {
					c = min(c, cost[i+1][j+1])
				}
				cost[i][j] = c
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(ps) || j < len(got) {
		switch {
		case i < len(ps) && ps[i].lines && cost[i][j] == cost[i+1][j]:
			i++ // the wildcard takes no more lines
		case i < len(ps) && ps[i].lines:
			b.WriteString("  " + got[j] + "\n")
			j++
		case i < len(ps) && match(i, j) && cost[i][j] == cost[i+1][j+1]:
			b.WriteString("  " + got[j] + "\n")
			i, j = i+1, j+1
		case i < len(ps) && cost[i][j] == 1+cost[i+1][j]:
			b.WriteString("- " + ps[i].text + "\n")
			i++
		default:
			b.WriteString("+ " + got[j] + "\n")
			j++
		}
	}
	return b.String(), cost[0][0] == 0
}
