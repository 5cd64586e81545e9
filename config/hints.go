package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// errorAt returns an error diagnostic about rng.
func errorAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  rng.Ptr(),
	}
}

// suggestion returns the candidate closest to given, or "" when none is
// close. It uses the same rule as hcl's own "Did you mean" suggestions.
func suggestion(given string, candidates []string) string {
	for _, c := range candidates {
		if levenshtein.Distance(given, c, nil) < 3 {
			return c
		}
	}
	return ""
}

// didYouMean returns ` Did you mean "x"?` for the closest candidate, or "".
func didYouMean(given string, candidates []string) string {
	if s := suggestion(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// pos returns "file:line:column" for the start of rng.
func pos(rng hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", rng.Filename, rng.Start.Line, rng.Start.Column)
}

// quoteList returns `"a", "b" or "c"`.
func quoteList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// friendly names a cty type for a diagnostic.
func friendly(ty cty.Type) string {
	switch {
	case ty == cty.DynamicPseudoType:
		return "any"
	case ty.IsTupleType():
		return "list"
	case ty.IsObjectType():
		return "object"
	}
	return ty.FriendlyName()
}

// hintSensitiveHidden replaces the detail of an error that arose while
// evaluating an expression that uses a sensitive value.
const hintSensitiveHidden = "The expression uses a sensitive value, so the details of this error are hidden. Check the functions and operators it applies to that value."

// hintDuration is the advice given for a bad duration.
const hintDuration = `write a number with a unit, such as "10s", "250ms" or "1m30s".`

// durationDetail explains that s is not a duration, without showing s when
// it is secret.
func durationDetail(s string, secret bool) string {
	if secret {
		return "The value (sensitive, not shown) is not a duration; " + hintDuration
	}
	return fmt.Sprintf("%q is not a duration; %s", s, hintDuration)
}

// wrongType is the diagnostic for an attribute value that cannot be
// converted to the type the attribute wants.
func wrongType(name, want string, got cty.Type, rng hcl.Range) *hcl.Diagnostic {
	return errorAt(rng, "Incorrect attribute value type",
		fmt.Sprintf("Attribute %q wants %s, got %s.", name, want, friendly(got)))
}

// alreadyDeclared is the diagnostic for a second declaration of something
// that may be declared once.
func alreadyDeclared(rng hcl.Range, summary, what string, first hcl.Range, fix string) *hcl.Diagnostic {
	return errorAt(rng, summary, fmt.Sprintf("%s was already declared at %s. %s", what, pos(first), fix))
}
