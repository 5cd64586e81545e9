// Package kinded provides the error the host and its packages return for
// a failure of their own: it reads as its message alone, while errors.Is
// finds its sentinel and sdk.KindOf its kind.
package kinded

import (
	"fmt"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Error is an error whose text is its message alone, while errors.Is finds
// its sentinel and sdk.KindOf its kind.
type Error struct {
	msg      string
	sentinel error
	kind     *sdk.Error
}

// New returns an error of the given kind that wraps sentinel and reads as
// the formatted message.
func New(kind sdk.Kind, sentinel error, format string, args ...any) error {
	return Msg(kind, sentinel, fmt.Sprintf(format, args...))
}

// Msg returns an error of the given kind that wraps sentinel and reads as
// msg.
func Msg(kind sdk.Kind, sentinel error, msg string) error {
	return &Error{msg: msg, sentinel: sentinel, kind: &sdk.Error{Kind: kind, Message: msg}}
}

func (e *Error) Error() string   { return e.msg }
func (e *Error) Unwrap() []error { return []error{e.sentinel, e.kind} }

// Bare is Msg with a kind that carries no message of its own: an
// errors.As for *sdk.Error finds just the kind.
func Bare(kind sdk.Kind, sentinel error, msg string) error {
	return &Error{msg: msg, sentinel: sentinel, kind: &sdk.Error{Kind: kind}}
}
