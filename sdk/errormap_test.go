package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// backendErr is an error a backend sent, with its code.
type backendErr struct{ code string }

func (e backendErr) Error() string { return "backend says " + e.code + " to user:hunter2" }

var testMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var be backendErr
		if !errors.As(err, &be) {
			return sdk.BackendError{}, false
		}
		switch be.code {
		case "DEADLOCK":
			return sdk.BackendError{Kind: sdk.KindConflict, Code: be.code, Retryable: true, Detail: " (deadlock)"}, true
		}
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: be.code}, true
	},
	Client: func(err error) (sdk.Kind, bool) {
		if strings.HasPrefix(err.Error(), "pool timeout") {
			return sdk.KindResourceExhausted, true
		}
		return "", false
	},
	Lost:      func(err error) bool { return strings.Contains(err.Error(), "conn gone") },
	Arguments: func(err error) bool { return strings.Contains(err.Error(), "cannot encode") },
	Fallback:  sdk.KindInternal,
}

func TestErrorMapDecidesInOrder(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name      string
		ctx       context.Context
		err       error
		kind      sdk.Kind
		code      string
		retryable bool
		message   string
	}{
		{"the context first", canceled, backendErr{"DEADLOCK"}, sdk.KindCanceled, "", false, "query: context canceled"},
		{"the backend's code", context.Background(), fmt.Errorf("exec: %w", backendErr{"DEADLOCK"}), sdk.KindConflict, "DEADLOCK", true, "query (deadlock)"},
		{"the backend's other code", context.Background(), backendErr{"SYNTAX"}, sdk.KindInvalidArgument, "SYNTAX", false, "query"},
		{"the client's own error", context.Background(), errors.New("pool timeout"), sdk.KindResourceExhausted, "", false, "query"},
		{"the backend's code before the client's error", context.Background(), fmt.Errorf("pool timeout: %w", backendErr{"DEADLOCK"}), sdk.KindConflict, "DEADLOCK", true, "query (deadlock)"},
		{"the client's error before a deadline it wraps", context.Background(), fmt.Errorf("pool timeout: %w", context.DeadlineExceeded), sdk.KindResourceExhausted, "", false, "query"},
		{"the client's error before a lost connection", context.Background(), fmt.Errorf("pool timeout: %w", io.ErrUnexpectedEOF), sdk.KindResourceExhausted, "", false, "query"},
		{"a deadline of the client's", context.Background(), fmt.Errorf("read: %w", context.DeadlineExceeded), sdk.KindTimeout, "", false, "query"},
		{"a lost connection", context.Background(), io.ErrUnexpectedEOF, sdk.KindUnavailable, "", false, "query"},
		{"the client's sign of a lost connection", context.Background(), errors.New("conn gone"), sdk.KindUnavailable, "", false, "query"},
		{"arguments refused", context.Background(), errors.New("cannot encode arg 1"), sdk.KindInvalidArgument, "", false, "query"},
		{"the standard library's", context.Background(), os.ErrNotExist, sdk.KindNotFound, "", false, "query"},
		{"nothing places it", context.Background(), errors.New("???"), sdk.KindInternal, "", false, "query"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := testMap.Wrap(c.ctx, c.err, "query", "hunter2")
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v, want an *sdk.Error", err, err)
			}
			if e.Kind != c.kind || e.Code != c.code || (e.Retryable != nil && *e.Retryable) != c.retryable || e.Message != c.message {
				t.Errorf("got kind %s code %q retryable %v message %q, want %s %q %v %q", e.Kind, e.Code, e.Retryable != nil && *e.Retryable, e.Message, c.kind, c.code, c.retryable, c.message)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the secret is in %q", err)
			}
		})
	}
	if testMap.Wrap(context.Background(), nil, "query") != nil {
		t.Error("nil became an error")
	}
	kept := sdk.Errorf(sdk.KindNotFound, "no such row")
	if err := testMap.Wrap(canceled, fmt.Errorf("x: %w", kept), "query"); !errors.Is(err, kept) || sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("an *sdk.Error was not kept as it is: %v", err)
	}
	if k := sdk.KindOf((sdk.ErrorMap{}).Wrap(context.Background(), errors.New("???"), "q")); k != sdk.KindUnknown {
		t.Errorf("no fallback: %s, want unknown", k)
	}
}

func TestHTTPStatusErrorClassifiesTheStatusesOfHTTPServices(t *testing.T) {
	for status, want := range map[int]sdk.Kind{
		404: sdk.KindNotFound, 412: sdk.KindFailedPrecondition, 304: sdk.KindFailedPrecondition,
		401: sdk.KindPermissionDenied, 403: sdk.KindPermissionDenied, 409: sdk.KindConflict,
		429: sdk.KindUnavailable, 408: sdk.KindUnavailable, 500: sdk.KindUnavailable, 503: sdk.KindUnavailable,
		400: sdk.KindInvalidArgument, 416: sdk.KindInvalidArgument, 413: sdk.KindInvalidArgument, 411: sdk.KindInvalidArgument,
		405: sdk.KindUnknown, 0: sdk.KindUnknown,
	} {
		e := sdk.HTTPStatusError(status, "TheCode")
		if e.Kind != want || e.Code != "TheCode" || e.Retryable != (want == sdk.KindUnavailable) {
			t.Errorf("HTTPStatusError(%d) = %+v, want kind %s", status, e, want)
		}
	}
}
