package s3

import (
	"context"
	"errors"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the S3 client's errors: the service's error code
// (NoSuchKey, PreconditionFailed, AccessDenied, SlowDown...) and, for a
// response without one (HEAD), its HTTP status; a request that could not
// be sent is a lost connection.
var errorMap = sdk.ErrorMap{
	Backend: backendError,
	Lost: func(err error) bool {
		var se *smithyhttp.RequestSendError
		return errors.As(err, &se)
	},
}

// wrap turns an error of the client into an *sdk.Error (errorMap),
// without the resource's secrets; what names the operation.
func (r *Resource) wrap(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, "s3 "+what, r.secrets...)
}

// backendError classifies an error the service sent.
func backendError(err error) (sdk.BackendError, bool) {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return sdk.BackendError{}, false
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return codeError(api.ErrorCode(), status), true
}

// codeError classifies an S3 error code, and the HTTP status for a code
// it does not know (0 when there is none): the whole answer's, or one
// key's of a DeleteObjects.
func codeError(code string, status int) sdk.BackendError {
	switch code {
	case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
		return sdk.BackendError{Kind: sdk.KindNotFound, Code: code}
	case "PreconditionFailed", "NotModified":
		return sdk.BackendError{Kind: sdk.KindFailedPrecondition, Code: code}
	case "ConditionalRequestConflict", "OperationAborted":
		return sdk.BackendError{Kind: sdk.KindConflict, Code: code, Retryable: true}
	case "InvalidRange":
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: code}
	case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AllAccessDisabled",
		"ExpiredToken", "InvalidToken", "AccountProblem":
		return sdk.BackendError{Kind: sdk.KindPermissionDenied, Code: code}
	case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
		"InternalError", "ServiceUnavailable":
		return sdk.BackendError{Kind: sdk.KindUnavailable, Code: code, Retryable: true}
	case "EntityTooLarge", "EntityTooSmall", "InvalidArgument", "InvalidRequest", "KeyTooLongError",
		"InvalidPart", "InvalidPartOrder", "InvalidDigest", "BadDigest", "MalformedXML":
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: code}
	}
	switch {
	case status == 404:
		return sdk.BackendError{Kind: sdk.KindNotFound, Code: code}
	case status == 412 || status == 304:
		return sdk.BackendError{Kind: sdk.KindFailedPrecondition, Code: code}
	case status == 416:
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: code}
	case status == 401 || status == 403:
		return sdk.BackendError{Kind: sdk.KindPermissionDenied, Code: code}
	case status == 409:
		return sdk.BackendError{Kind: sdk.KindConflict, Code: code}
	case status == 429 || status >= 500:
		return sdk.BackendError{Kind: sdk.KindUnavailable, Code: code, Retryable: true}
	case status == 400:
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: code}
	}
	return sdk.BackendError{Kind: sdk.KindUnknown, Code: code}
}
