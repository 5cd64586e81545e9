package config

// Suggest returns the candidate closest to given, or "" when none is close,
// by the rule hcl uses for its "Did you mean" hints. The host uses it for
// resource and operation names so that every hint reads the same.
func Suggest(given string, candidates []string) string { return suggestion(given, candidates) }
