package config

import "unicode/utf8"

// Suggest returns the candidate closest to given, or "" when none is close,
// by the rule hcl uses for its "Did you mean" hints. The host uses it for
// resource and operation names so that every hint reads the same.
//
// A close candidate is fewer than three edits away, so its length is within
// two runes of given's: the others are skipped without computing a
// distance, and a caller's name of a megabyte costs no more than a short
// one.
func Suggest(given string, candidates []string) string {
	n := utf8.RuneCountInString(given)
	var near []string
	for _, c := range candidates {
		if d := utf8.RuneCountInString(c) - n; d > -3 && d < 3 {
			near = append(near, c)
		}
	}
	return suggestion(given, near)
}
