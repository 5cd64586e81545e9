package sdk

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
)

// Masking and guesses. A caller can pass any value, and errors often echo
// what the caller passed ("no such key \"x\""). If a scrubber masked a
// secret wherever it appears, a caller who passes a guess equal to a
// secret would see "[redacted]" where any other guess is echoed as it
// was: the answer would confirm the guess. So a secret that occurs in the
// caller's own input is not masked in the errors of that call: the caller
// sent that text and learns nothing from seeing it again, and every guess
// gets the same kind of answer, right or wrong. Secrets the caller did not
// send are masked as always.

type callerInputKey struct{}

// callerInput is what a caller sent in a call. The strings of JSON
// arguments are read only when something asks for them (an error to
// mask), since reading them costs as much as decoding the arguments.
type callerInput struct {
	prev  *callerInput
	input []string
	json  []byte

	once sync.Once
	all  []string
}

func (c *callerInput) strings() []string {
	if c == nil {
		return nil
	}
	c.once.Do(func() {
		prev := c.prev.strings()
		all := append(append([]string(nil), prev...), c.input...)
		if c.json != nil {
			all = append(all, JSONStrings(c.json)...)
		}
		c.all = all
	})
	return c.all
}

// WithCallerInput returns ctx carrying what the caller sent in this call
// (its arguments, a statement's text and values), for [RedactContext].
// The SDK's server sets it on every call it hands a driver.
func WithCallerInput(ctx context.Context, input ...string) context.Context {
	if len(input) == 0 {
		return ctx
	}
	prev, _ := ctx.Value(callerInputKey{}).(*callerInput)
	return context.WithValue(ctx, callerInputKey{}, &callerInput{prev: prev, input: input})
}

// withCallerJSON is WithCallerInput of the strings of the JSON arguments
// raw ([JSONStrings]), read only when asked for.
func withCallerJSON(ctx context.Context, raw []byte) context.Context {
	prev, _ := ctx.Value(callerInputKey{}).(*callerInput)
	return context.WithValue(ctx, callerInputKey{}, &callerInput{prev: prev, json: raw})
}

// CallerInput returns what [WithCallerInput] put in ctx.
func CallerInput(ctx context.Context) []string {
	in, _ := ctx.Value(callerInputKey{}).(*callerInput)
	return in.strings()
}

// JSONStrings returns raw itself and every string (member names too) in
// the JSON text raw, unescaped: the ways a value the caller sent in JSON
// can be echoed.
func JSONStrings(raw []byte) []string {
	out := []string{string(raw)}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// RedactContext is [Redact] for an error of a call made with ctx: a
// secret that occurs in the caller's own input ([CallerInput]) is left
// as it is, so that the answer does not tell the caller whether a value
// it passed equals a secret (see the comment at the top of this file).
func RedactContext(ctx context.Context, err error, secrets ...string) error {
	return Redact(err, SecretsToMask(CallerInput(ctx), secrets)...)
}

// SecretsToMask returns the secrets that occur in none of the caller's
// input strings: the ones an error may be masked of without confirming a
// guess.
func SecretsToMask(input, secrets []string) []string {
	if len(input) == 0 {
		return secrets
	}
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sent := false
		for _, in := range input {
			if s != "" && strings.Contains(in, s) {
				sent = true
				break
			}
		}
		if !sent {
			out = append(out, s)
		}
	}
	return out
}

// StatementInput is what a caller sent in a statement, for masking: its
// text and the text of its values.
func StatementInput(st Statement) []string {
	out := []string{st.SQL}
	var walk func(v Value)
	walk = func(v Value) {
		switch v.Kind {
		case ValueText, ValueDecimal:
			out = append(out, v.Text)
		case ValueBytes, ValueJSON:
			out = append(out, string(v.Bytes))
		case ValueArray:
			for _, e := range v.Array {
				walk(e)
			}
		}
	}
	for _, a := range st.Args {
		walk(a)
	}
	return out
}
