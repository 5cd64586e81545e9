package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestErrorsDoNotConfirmGuessesOfThePassword: the server echoes a value
// the caller passed ('invalid input syntax for type integer: "..."'). A
// value equal to the configured password, a prefix of it, one that
// contains it and an unrelated one all get the same answer with the value
// echoed as sent; masking it only when it equals the password would
// confirm the guess.
func TestErrorsDoNotConfirmGuessesOfThePassword(t *testing.T) {
	const password = "pg-guess-me-7731"
	s := openSession(t, map[string]any{"password": password}) // trust auth: the server ignores it
	answer := func(guess string) string {
		_, err := s.Exec(t.Context(), sdk.Statement{SQL: "SELECT $1::int", Args: []sdk.Value{{Kind: sdk.ValueText, Text: guess}}})
		if sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Fatalf("guess %q: %v, want invalid_argument", guess, err)
		}
		return strings.ReplaceAll(err.Error(), fmt.Sprintf("%q", guess), "GUESS")
	}
	want := answer("unrelated-value")
	for _, guess := range []string{password, password[:6], "x" + password + "y", "pg-guess-me-7732"} {
		if got := answer(guess); got != want {
			t.Errorf("guess %q answered %q, an unrelated guess %q", guess, got, want)
		}
	}
}
