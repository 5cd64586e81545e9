package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// serverError is an error reply as go-redis returns it.
type serverError string

func (e serverError) Error() string { return string(e) }
func (serverError) RedisError()     {}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestWrapErrorKinds(t *testing.T) {
	cases := []struct {
		err       error
		kind      sdk.Kind
		code      string
		retryable bool
	}{
		{serverError("WRONGTYPE Operation against a key holding the wrong kind of value"), sdk.KindInvalidArgument, "WRONGTYPE", false},
		{serverError("ERR syntax error"), sdk.KindInvalidArgument, "ERR", false},
		{serverError("ERR value is not an integer or out of range"), sdk.KindInvalidArgument, "ERR", false},
		{serverError("ERR unknown command 'FOO', with args beginning with: "), sdk.KindInvalidArgument, "ERR", false},
		{serverError("ERR max number of clients reached"), sdk.KindResourceExhausted, "ERR", true},
		{serverError("ERR DISCARD without MULTI"), sdk.KindFailedPrecondition, "ERR", false},
		{serverError("ERR This instance has cluster support disabled"), sdk.KindFailedPrecondition, "ERR", false},
		{serverError("NOAUTH Authentication required."), sdk.KindUnauthenticated, "NOAUTH", false},
		{serverError("WRONGPASS invalid username-password pair or user is disabled."), sdk.KindUnauthenticated, "WRONGPASS", false},
		{serverError("NOPERM User u has no permissions to run the 'set' command"), sdk.KindPermissionDenied, "NOPERM", false},
		{serverError("CLUSTERDOWN The cluster is down"), sdk.KindUnavailable, "CLUSTERDOWN", true},
		{serverError("TRYAGAIN Multiple keys request during rehashing of slot"), sdk.KindUnavailable, "TRYAGAIN", true},
		{serverError("LOADING Redis is loading the dataset in memory"), sdk.KindUnavailable, "LOADING", true},
		{serverError("MASTERDOWN Link with MASTER is down"), sdk.KindUnavailable, "MASTERDOWN", true},
		{serverError("READONLY You can't write against a read only replica."), sdk.KindUnavailable, "READONLY", true},
		{serverError("MOVED 3999 127.0.0.1:6381"), sdk.KindUnavailable, "MOVED", true},
		{serverError("OOM command not allowed when used memory > 'maxmemory'."), sdk.KindResourceExhausted, "OOM", true},
		{serverError("EXECABORT Transaction discarded because of previous errors."), sdk.KindInvalidArgument, "EXECABORT", false},
		{serverError("CROSSSLOT Keys in request don't hash to the same slot"), sdk.KindInvalidArgument, "CROSSSLOT", false},
		{serverError("NOSCRIPT No matching script."), sdk.KindNotFound, "NOSCRIPT", false},
		{serverError("BUSYGROUP Consumer Group name already exists"), sdk.KindAlreadyExists, "BUSYGROUP", false},
		{serverError("SOMETHINGNEW happened"), sdk.KindUnknown, "SOMETHINGNEW", false},
		{goredis.TxFailedErr, sdk.KindConflict, "", false},
		{fmt.Errorf("wrapped: %w", goredis.TxFailedErr), sdk.KindConflict, "", false},
		{goredis.ErrClosed, sdk.KindUnavailable, "", true},
		{goredis.ErrPoolTimeout, sdk.KindResourceExhausted, "", true},
		{io.EOF, sdk.KindUnavailable, "", true},
		{io.ErrUnexpectedEOF, sdk.KindUnavailable, "", true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, sdk.KindUnavailable, "", true},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, sdk.KindUnavailable, "", true},
		{&net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}, sdk.KindTimeout, "", true},
		{errors.New("redis: Conn is in a bad state: EOF"), sdk.KindUnavailable, "", true},
		{errors.New("redis: all sentinels specified in configuration are unreachable"), sdk.KindUnavailable, "", true},
		{context.DeadlineExceeded, sdk.KindTimeout, "", true},
		{context.Canceled, sdk.KindCanceled, "", false},
		{errors.New("something else"), sdk.KindUnknown, "", false},
	}
	for _, c := range cases {
		err := errorMap.Wrap(context.Background(), c.err, "redis op")
		var e *sdk.Error
		if !errors.As(err, &e) {
			t.Fatalf("%v: not an *sdk.Error: %#v", c.err, err)
		}
		if e.Kind != c.kind || e.Code != c.code || e.IsRetryable() != c.retryable {
			t.Errorf("%v: kind %s, code %q, retryable %v; want %s, %q, %v", c.err, e.Kind, e.Code, e.IsRetryable(), c.kind, c.code, c.retryable)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%v: the cause is lost", c.err)
		}
	}
}

func TestWrapErrorContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if k := sdk.KindOf(errorMap.Wrap(ctx, io.EOF, "op")); k != sdk.KindCanceled {
		t.Fatalf("canceled call: %s", k)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 0)
	defer cancel()
	if k := sdk.KindOf(errorMap.Wrap(ctx, io.EOF, "op")); k != sdk.KindTimeout {
		t.Fatalf("expired call: %s", k)
	}
	if errorMap.Wrap(ctx, nil, "op") != nil {
		t.Fatal("nil became an error")
	}
}

func TestWrapErrorHidesSecrets(t *testing.T) {
	err := errorMap.Wrap(context.Background(), errors.New("dial tcp: password s3cr3t-pw refused"), "redis open", "s3cr3t-pw")
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("the secret shows: %v", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("no redaction mark: %v", err)
	}
}

func TestJSONValue(t *testing.T) {
	in := []any{
		"s", int64(-3), 1.5, true, nil,
		map[any]any{"k": []any{int64(1), "x"}, int64(7): "seven"},
		serverError("ERR inner"),
	}
	got := fmt.Sprintf("%v", jsonValue(in))
	want := "[s -3 1.5 true <nil> map[7:seven k:[1 x]] map[error:ERR inner]]"
	if got != want {
		t.Fatalf("jsonValue: %s, want %s", got, want)
	}
}
