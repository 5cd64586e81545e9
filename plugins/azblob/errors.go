package azblob

import (
	"context"
	"errors"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the Azure client's errors: the service's error code
// (BlobNotFound, ConditionNotMet, AuthenticationFailed, ServerBusy...)
// and, for a response without one (HEAD), its HTTP status. A request that
// could not be sent is a lost connection, which the SDK's rules know
// (*url.Error is a net.Error).
var errorMap = sdk.ErrorMap{Backend: backendError}

// wrap turns an error of the client into an *sdk.Error (errorMap),
// without the resource's secrets; what names the operation.
func (r *Resource) wrap(ctx context.Context, err error, what string) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		err = &serviceError{re: re}
	}
	return errorMap.Wrap(ctx, err, "azblob "+what, r.secrets...)
}

// serviceError is an error response of the service, told in one line:
// its status and error code. azcore's own text is the request and the
// whole response over many lines.
type serviceError struct{ re *azcore.ResponseError }

func (e *serviceError) Error() string {
	status := strconv.Itoa(e.re.StatusCode)
	if e.re.RawResponse != nil && e.re.RawResponse.Status != "" {
		status = e.re.RawResponse.Status
	}
	if e.re.ErrorCode == "" {
		return status
	}
	return status + " (" + e.re.ErrorCode + ")"
}

func (e *serviceError) Unwrap() error { return e.re }

// backendError classifies an error the service sent.
func backendError(err error) (sdk.BackendError, bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return sdk.BackendError{}, false
	}
	return codeError(bloberror.Code(re.ErrorCode), re.StatusCode), true
}

// codeError classifies a Blob service error code, and the HTTP status for
// a code it does not know.
func codeError(code bloberror.Code, status int) sdk.BackendError {
	c := string(code)
	switch code {
	case bloberror.BlobNotFound, bloberror.ContainerNotFound, bloberror.ResourceNotFound:
		return sdk.BackendError{Kind: sdk.KindNotFound, Code: c}
	case bloberror.ConditionNotMet, bloberror.SourceConditionNotMet, bloberror.TargetConditionNotMet:
		return sdk.BackendError{Kind: sdk.KindFailedPrecondition, Code: c}
	case bloberror.BlobAlreadyExists:
		return sdk.BackendError{Kind: sdk.KindAlreadyExists, Code: c}
	case bloberror.PendingCopyOperation, bloberror.LeaseIDMissing, bloberror.LeaseAlreadyPresent,
		bloberror.ContainerBeingDeleted, bloberror.BlobBeingRehydrated:
		return sdk.BackendError{Kind: sdk.KindConflict, Code: c, Retryable: true}
	case bloberror.BlobArchived:
		return sdk.BackendError{Kind: sdk.KindFailedPrecondition, Code: c}
	case bloberror.InvalidRange:
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: c}
	case bloberror.AuthenticationFailed, bloberror.AuthorizationFailure, bloberror.AuthorizationPermissionMismatch,
		bloberror.AuthorizationProtocolMismatch, bloberror.AuthorizationResourceTypeMismatch,
		bloberror.AuthorizationServiceMismatch, bloberror.AuthorizationSourceIPMismatch,
		bloberror.InsufficientAccountPermissions, bloberror.NoAuthenticationInformation,
		bloberror.InvalidAuthenticationInfo, bloberror.AccountIsDisabled, bloberror.ContainerDisabled:
		return sdk.BackendError{Kind: sdk.KindPermissionDenied, Code: c}
	case bloberror.ServerBusy, bloberror.InternalError, bloberror.OperationTimedOut, bloberror.SystemInUse,
		"Md5Mismatch", "Crc64Mismatch":
		// A checksum mismatch is bytes damaged on their way: sending
		// them again may work.
		return sdk.BackendError{Kind: sdk.KindUnavailable, Code: c, Retryable: true}
	case bloberror.InvalidBlobOrBlock, bloberror.InvalidBlockID, bloberror.InvalidBlockList, bloberror.BlockCountExceedsLimit,
		bloberror.BlockListTooLong, bloberror.InvalidMetadata, bloberror.EmptyMetadataKey, bloberror.MetadataTooLarge,
		bloberror.InvalidHeaderValue, bloberror.InvalidInput, bloberror.InvalidResourceName, bloberror.InvalidURI,
		bloberror.RequestBodyTooLarge, bloberror.OutOfRangeInput, bloberror.InvalidBlobTier, bloberror.InvalidBlobType,
		bloberror.InvalidQueryParameterValue, bloberror.OutOfRangeQueryParameterValue:
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: c}
	}
	return sdk.HTTPStatusError(status, c)
}
