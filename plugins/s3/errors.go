package s3

import (
	"context"
	"errors"
	"io"
	"strconv"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the S3 client's errors: the service's error code
// (NoSuchKey, PreconditionFailed, AccessDenied, SlowDown...) and, for a
// response without one (HEAD), its HTTP status; credentials that could
// not be had are unauthenticated; a request that could not be sent is a
// lost connection.
var errorMap = sdk.ErrorMap{
	Backend: backendError,
	Client:  credentialsKind,
	Lost:    requestNotSent,
}

func requestNotSent(err error) bool {
	var se *smithyhttp.RequestSendError
	return errors.As(err, &se)
}

// credentialsKind classifies a failure to get the credentials that no
// service answered (STS's answers are the backend's): unauthenticated,
// unless it is a lost connection (STS, or the instance's metadata
// service, out of reach) or a deadline.
func credentialsKind(err error) (sdk.Kind, bool) {
	var ce *credentialsError
	if !errors.As(err, &ce) || sdk.IsConnectionLoss(err) || requestNotSent(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", false
	}
	return sdk.KindUnauthenticated, true
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
	return sdk.HTTPStatusError(status, code)
}

// bodyReader is an object's body as get copies it: it counts the bytes
// and keeps the read error, to tell it from the caller's stream failing.
type bodyReader struct {
	r   io.Reader
	n   int64
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// getError classifies the error of copying an object's body to the
// caller. Reading the body fails only when the connection does (a reset,
// a close in the middle, a read timeout): that is a retryable
// unavailable, whatever the error looks like, unless the call's context
// ended; its message says where to resume. An error of the caller's
// stream is classified as any other.
func (r *Resource) getError(ctx context.Context, err error, body *bodyReader, a sdk.BlobGetArgs, etag string) error {
	what := "get " + strconv.Quote(a.Key)
	if body.err == nil || !errors.Is(err, body.err) || ctx.Err() != nil {
		return r.wrap(ctx, err, what)
	}
	return sdk.BlobResumeError("s3 "+what, a, body.n, etag, sdk.RedactContext(ctx, err, r.secrets...))
}
