package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestClassifyKnowsTheStandardLibrarysErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want sdk.Kind
	}{
		{"a name too long", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENAMETOOLONG}, sdk.KindInvalidArgument},
		{"EINVAL", &fs.PathError{Op: "open", Path: "x", Err: syscall.EINVAL}, sdk.KindInvalidArgument},
		{"a symbolic link loop", &fs.PathError{Op: "open", Path: "x", Err: syscall.ELOOP}, sdk.KindInvalidArgument},
		{"a path through a file", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOTDIR}, sdk.KindFailedPrecondition},
		{"a directory", &fs.PathError{Op: "open", Path: "x", Err: syscall.EISDIR}, sdk.KindFailedPrecondition},
		{"missing", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, sdk.KindNotFound},
		{"exists", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EEXIST}, sdk.KindAlreadyExists},
		{"read-only file system", syscall.EROFS, sdk.KindPermissionDenied},
		{"disk full", syscall.ENOSPC, sdk.KindResourceExhausted},
		{"disk failing", &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO}, sdk.KindUnavailable},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, sdk.KindUnavailable},
		{"connection timed out", syscall.ETIMEDOUT, sdk.KindTimeout},
		{"closed network connection", fmt.Errorf("read: %w", net.ErrClosed), sdk.KindUnavailable},
		{"context deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), sdk.KindTimeout},
		{"context canceled", context.Canceled, sdk.KindCanceled},
		{"database/sql argument count", errors.New("sql: expected 2 arguments, got 1"), sdk.KindInvalidArgument},
		{"an sdk error's kind", sdk.Errorf(sdk.KindConflict, "x"), sdk.KindConflict},
		{"an unknown sdk error over an errno", sdk.WrapError(sdk.KindUnknown, syscall.ENAMETOOLONG, "x"), sdk.KindInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := sdk.Classify(tt.err); !ok || got != tt.want {
				t.Fatalf("Classify(%v) = %q, %v; want %q", tt.err, got, ok, tt.want)
			}
		})
	}
	if k, ok := sdk.Classify(errors.New("something")); ok {
		t.Errorf("Classify of a plain error = %q, want none", k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if k := sdk.CallKind(ctx, syscall.ECONNRESET, sdk.KindInternal); k != sdk.KindCanceled {
		t.Errorf("CallKind with an ended context = %q, want canceled", k)
	}
}

func TestKindOfSQLStateByClass(t *testing.T) {
	for code, want := range map[string]sdk.Kind{
		"42601": sdk.KindInvalidArgument, "22003": sdk.KindInvalidArgument, "45000": sdk.KindInvalidArgument,
		"P0001": sdk.KindInvalidArgument, "08006": sdk.KindUnavailable, "57P01": sdk.KindUnavailable,
		"40001": sdk.KindConflict, "53300": sdk.KindResourceExhausted, "28000": sdk.KindUnauthenticated,
		"3D000": sdk.KindNotFound, "0A000": sdk.KindUnimplemented, "XX000": sdk.KindInternal,
		"HY000": sdk.KindUnknown, "": sdk.KindUnknown,
	} {
		if got := sdk.KindOfSQLState(code); got != want {
			t.Errorf("KindOfSQLState(%q) = %q, want %q", code, got, want)
		}
	}
}

// TestRedactContextDoesNotConfirmGuesses: a secret the caller sent is left
// in the error's text; one it did not send is masked.
func TestRedactContextDoesNotConfirmGuesses(t *testing.T) {
	const secret = "hunter2-pass"
	answer := func(guess string) string {
		ctx := sdk.WithCallerInput(context.Background(), sdk.JSONStrings([]byte(`{"key":"`+guess+`"}`))...)
		err := sdk.RedactContext(ctx, fmt.Errorf("no such key %q", guess), secret)
		return err.Error()
	}
	for _, guess := range []string{secret, "hunter2", "x" + secret, "unrelated"} {
		if got, want := answer(guess), fmt.Sprintf("no such key %q", guess); got != want {
			t.Errorf("guess %q answered %q, want %q", guess, got, want)
		}
	}
	ctx := sdk.WithCallerInput(context.Background(), "unrelated")
	if got := sdk.RedactContext(ctx, errors.New("login "+secret+" failed"), secret).Error(); got != "login [redacted] failed" {
		t.Errorf("a secret the caller did not send: %q", got)
	}
}
