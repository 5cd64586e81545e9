package credential

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the store.
var (
	// ErrUnknown means no credential block has the name asked for.
	ErrUnknown = errors.New("unknown credential")
	// ErrExpired means a credential's value has expired and no newer value
	// could be fetched. Errors wrapping it are *ExpiredError values.
	ErrExpired = errors.New("credential expired")
	// ErrNotStarted means the store has no value yet: Start has not
	// completed successfully.
	ErrNotStarted = errors.New("credential store not started")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("credential store closed")
)

// SpecError reports a credential block that New refused.
type SpecError struct {
	// Name is the credential's name, the block's label.
	Name string
	// Field is the block's attribute at fault, as it is spelled in the
	// configuration ("path", "refresh_before"); "" when the fault is the
	// block itself, such as a duplicate name.
	Field string
	// Problem says what is wrong and how to fix it.
	Problem string
}

// Error returns the message, naming the credential and the field.
func (e *SpecError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("credential %q: %s", e.Name, e.Problem)
	}
	return fmt.Sprintf("credential %q: %s: %s", e.Name, e.Field, e.Problem)
}

// FetchError reports a fetch of a credential that failed. Its message
// names the credential and what went wrong, never a value.
type FetchError struct {
	// Name is the credential's name; Source its source.
	Name, Source string
	// Err is the cause.
	Err error
}

// Error returns the message.
func (e *FetchError) Error() string {
	return fmt.Sprintf("credential %q (source %s): %v", e.Name, e.Source, e.Err)
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// ExpiredError reports a credential whose value expired without a newer
// one. It wraps ErrExpired.
type ExpiredError struct {
	// Name is the credential's name.
	Name string
	// Expired is when the value expired.
	Expired time.Time
	// LastError is the last refresh failure; "" when none failed (a file
	// that nobody rewrote, for example).
	LastError string
}

// Error returns the message.
func (e *ExpiredError) Error() string {
	msg := fmt.Sprintf("credential %q expired at %s and no newer value was fetched", e.Name, e.Expired.UTC().Format(time.RFC3339))
	if e.LastError != "" {
		msg += "; the last refresh failed: " + e.LastError
	}
	return msg
}

// Unwrap returns ErrExpired.
func (e *ExpiredError) Unwrap() error { return ErrExpired }
