package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The error map, on errors as the client returns them.
func TestErrorMap(t *testing.T) {
	api := func(code int, reason string) error {
		e := &googleapi.Error{Code: code, Message: "message"}
		if reason != "" {
			e.Errors = []googleapi.ErrorItem{{Reason: reason}}
		}
		return fmt.Errorf("storage: %w", e)
	}
	r := &Resource{secrets: []string{"s3cr3t"}}
	for _, c := range []struct {
		err       error
		kind      sdk.Kind
		code      string
		retryable bool
	}{
		{storage.ErrObjectNotExist, sdk.KindNotFound, "notFound", false},
		{fmt.Errorf("x: %w", storage.ErrBucketNotExist), sdk.KindNotFound, "notFound", false},
		{api(412, "conditionNotMet"), sdk.KindFailedPrecondition, "conditionNotMet", false},
		{api(304, ""), sdk.KindFailedPrecondition, "304", false},
		{api(416, ""), sdk.KindInvalidArgument, "416", false},
		{api(400, "invalid"), sdk.KindInvalidArgument, "invalid", false},
		{api(401, "required"), sdk.KindPermissionDenied, "required", false},
		{api(403, "forbidden"), sdk.KindPermissionDenied, "forbidden", false},
		{api(409, "conflict"), sdk.KindConflict, "conflict", true},
		{api(429, "rateLimitExceeded"), sdk.KindUnavailable, "rateLimitExceeded", true},
		{api(503, "backendError"), sdk.KindUnavailable, "backendError", true},
		{api(500, ""), sdk.KindUnavailable, "500", true},
		{&auth.Error{Response: &http.Response{StatusCode: 400}, Err: errors.New("invalid_grant s3cr3t")}, sdk.KindPermissionDenied, "", false},
		{&auth.Error{Response: &http.Response{StatusCode: 503}}, sdk.KindUnavailable, "", true},
	} {
		err := r.wrap(context.Background(), c.err, "op")
		var se *sdk.Error
		if !errors.As(err, &se) || se.Kind != c.kind || se.Code != c.code || sdk.IsRetryable(err) != c.retryable {
			t.Errorf("%v: %v (kind %s, code %q, retryable %v), want kind %s, code %q, retryable %v",
				c.err, err, sdk.KindOf(err), codeOf(se), sdk.IsRetryable(err), c.kind, c.code, c.retryable)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%v: the error holds the secret: %v", c.err, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.wrap(ctx, api(503, ""), "op"); sdk.KindOf(err) != sdk.KindCanceled {
		t.Errorf("an error of a canceled call: %v, want canceled", err)
	}
}

func codeOf(e *sdk.Error) string {
	if e == nil {
		return ""
	}
	return e.Code
}
