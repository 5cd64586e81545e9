// Package redact keeps secrets out of what the host prints.
//
// The host adds every sensitive value it learns (sensitive variables,
// sensitive resource attributes) to a Set. Errors that leave the host and
// lines that reach its log pass through the Set, which replaces each secret
// with "(sensitive)". It is the last line of defence, behind never
// printing sensitive values in the first place.
package redact

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Mask replaces a secret.
const Mask = "(sensitive)"

// minLen is the shortest value treated as a secret: masking "1" or "a"
// everywhere would garble every message and protect nothing.
const minLen = 4

// Set is a set of secret strings. The zero value is an empty set ready to
// use; a nil *Set redacts nothing.
type Set struct {
	mu       sync.RWMutex // guards secrets and replacer
	secrets  map[string]struct{}
	replacer *strings.Replacer
}

// Add adds secrets to the set. Values shorter than four bytes are ignored.
func (s *Set) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]struct{}{}
	}
	for _, v := range secrets {
		if len(v) >= minLen {
			s.secrets[v] = struct{}{}
		}
	}
	s.replacer = maskReplacer(slices.Collect(maps.Keys(s.secrets)))
}

// String returns str with every secret masked.
func (s *Set) String(str string) string {
	if s == nil {
		return str
	}
	s.mu.RLock()
	r := s.replacer
	s.mu.RUnlock()
	if r == nil {
		return str
	}
	return r.Replace(str)
}

// Error returns err unchanged when its text holds no secret, and otherwise
// an error with the masked text that still unwraps to err, so errors.Is and
// errors.As keep working.
func (s *Set) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if masked := s.String(msg); masked != msg {
		return &redacted{msg: masked, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// Handler returns a slog.Handler that masks secrets in the message and in
// every string, error and stringer attribute before passing the record to
// next.
func (s *Set) Handler(next slog.Handler) slog.Handler { return &handler{set: s, next: next} }

type handler struct {
	set  *Set
	next slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.set.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.set.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.set.String(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, h.set.String(x.String()))
		case []byte:
			return slog.String(a.Key, h.set.String(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.attr(a)
	}
	return &handler{set: h.set, next: h.next.WithAttrs(masked)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{set: h.set, next: h.next.WithGroup(name)}
}

// ErrorFor is Error for the error of a call whose caller sent input (its
// arguments, a statement and its values). A secret that occurs in the
// input is not masked: the caller sent that text, and masking it would
// tell the caller that a value it passed equals a secret, where any other
// value comes back as it was sent. Every guess, right or wrong, gets the
// same answer; secrets the caller did not send are masked as always.
func (s *Set) ErrorFor(err error, input []string) error {
	if err == nil || s == nil || len(input) == 0 {
		return s.Error(err)
	}
	s.mu.RLock()
	all := slices.Collect(maps.Keys(s.secrets))
	s.mu.RUnlock()
	keep := sdk.SecretsToMask(input, all)
	if len(keep) == len(all) {
		return s.Error(err)
	}
	msg := err.Error()
	if masked := maskReplacer(keep).Replace(msg); masked != msg {
		return &redacted{msg: masked, err: err}
	}
	return err
}

// maskReplacer replaces each of secrets with Mask.
func maskReplacer(secrets []string) *strings.Replacer {
	pairs := make([]string, 0, 2*len(secrets))
	for _, v := range secrets {
		pairs = append(pairs, v, Mask)
	}
	return strings.NewReplacer(pairs...)
}
