package gcs

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the storage client's errors: the client's sentinels
// for a missing object or bucket, and the HTTP status of an error the
// service sent (with its reason, such as conditionNotMet, as the code); a
// token endpoint that refuses the credentials is permission_denied; a
// request that could not be sent or answered is a lost connection
// (sdk.IsConnectionLoss: the client's *url.Error is a net.Error).
var errorMap = sdk.ErrorMap{
	Backend: backendError,
	Client:  clientError,
}

// wrap turns an error of the client into an *sdk.Error (errorMap),
// without the resource's secrets; what names the operation.
func (r *Resource) wrap(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, "gcs "+what, r.secrets...)
}

// backendError classifies an error the service sent.
func backendError(err error) (sdk.BackendError, bool) {
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return sdk.BackendError{Kind: sdk.KindNotFound, Code: "notFound"}, true
	case errors.Is(err, storage.ErrBucketNotExist):
		return sdk.BackendError{Kind: sdk.KindNotFound, Code: "notFound", Detail: " (the bucket does not exist)"}, true
	}
	var g *googleapi.Error
	if !errors.As(err, &g) {
		return sdk.BackendError{}, false
	}
	code := strconv.Itoa(g.Code)
	if len(g.Errors) > 0 && g.Errors[0].Reason != "" {
		code = g.Errors[0].Reason
	}
	return statusError(g.Code, code), true
}

// statusError classifies an HTTP status of the service: as every HTTP
// backend's (sdk.HTTPStatusError), but a conflict (a concurrent change to
// the same object, or a bucket name taken) is worth retrying.
func statusError(status int, code string) sdk.BackendError {
	e := sdk.HTTPStatusError(status, code)
	if status == http.StatusConflict {
		e.Retryable = true
	}
	return e
}

// clientError classifies a token endpoint's refusal of the credentials
// (cloud.google.com/go/auth's, or golang.org/x/oauth2's for the older
// transport): a 4xx is permission_denied, anything else unavailable.
func clientError(err error) (sdk.Kind, bool) {
	status := 0
	var ae *auth.Error
	var oe *oauth2.RetrieveError
	switch {
	case errors.As(err, &ae) && ae.Response != nil:
		status = ae.Response.StatusCode
	case errors.As(err, &oe) && oe.Response != nil:
		status = oe.Response.StatusCode
	default:
		return "", false
	}
	if status >= 400 && status < 500 {
		return sdk.KindPermissionDenied, true
	}
	return sdk.KindUnavailable, true
}
