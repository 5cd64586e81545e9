package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the errors of coder/websocket and of the dial: a
// closed or broken connection is unavailable, whatever else the standard
// library's classifier finds, and an unplaced error is unavailable too (a
// connection that failed in a way we cannot name).
var errorMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var ce ws.CloseError
		if errors.As(err, &ce) {
			return closeCodeError(ce.Code), true
		}
		return sdk.BackendError{}, false
	},
	Lost: func(err error) bool {
		return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	},
	Fallback: sdk.KindUnavailable,
}

// closeCodeError classifies a close frame's status code. The codes that
// say the server is going or overloaded are unavailable (and retryable);
// those that say the client did wrong are the client's kinds.
func closeCodeError(code ws.StatusCode) sdk.BackendError {
	c := fmt.Sprintf("close_%d", int(code))
	detail := fmt.Sprintf(" (close status %d %s)", int(code), code)
	switch code {
	case ws.StatusPolicyViolation: // 1008
		return sdk.BackendError{Kind: sdk.KindPermissionDenied, Code: c, Detail: detail}
	case ws.StatusUnsupportedData, ws.StatusInvalidFramePayloadData, ws.StatusMessageTooBig: // 1003, 1007, 1009
		return sdk.BackendError{Kind: sdk.KindInvalidArgument, Code: c, Detail: detail}
	case ws.StatusMandatoryExtension: // 1010
		return sdk.BackendError{Kind: sdk.KindFailedPrecondition, Code: c, Detail: detail}
	case ws.StatusTryAgainLater: // 1013
		return sdk.BackendError{Kind: sdk.KindResourceExhausted, Code: c, Detail: detail, Retryable: true}
	}
	// 1000 normal, 1001 going away, 1006 abnormal, 1011 internal error,
	// 1012 service restart, 1014 bad gateway, and codes of the
	// application's own (4000-4999): the connection is gone.
	return sdk.BackendError{Kind: sdk.KindUnavailable, Code: c, Detail: detail, Retryable: true}
}

// wrap classifies an error of a call on the session's connection.
func (s *Session) wrap(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, "websocket "+s.r.name+" "+what, s.r.secrets...)
}

// permanent reports whether a failed reconnection attempt is one that no
// further attempt mends: the server refused the handshake (401, 403,
// 404, a response that is no upgrade).
func permanent(err error) bool {
	switch sdk.KindOf(err) {
	case sdk.KindPermissionDenied, sdk.KindNotFound, sdk.KindFailedPrecondition, sdk.KindInvalidArgument:
		return true
	}
	return false
}
