package grpcclient

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// codeKinds maps every gRPC status code but OK to the kind of error it
// becomes. Where gRPC has more codes than sdk has kinds, the nearest kind
// is taken; the code itself is kept on the error (sdk.Error.Code).
var codeKinds = map[codes.Code]sdk.Kind{
	codes.Canceled: sdk.KindCanceled,
	// UNKNOWN: the server failed and did not say how (a Go handler that
	// returns a plain error gets it): internal, as the plugin protocol
	// carries an unclassified error anyway. The Code stays "UNKNOWN".
	codes.Unknown:            sdk.KindInternal,
	codes.InvalidArgument:    sdk.KindInvalidArgument,
	codes.DeadlineExceeded:   sdk.KindTimeout,
	codes.NotFound:           sdk.KindNotFound,
	codes.AlreadyExists:      sdk.KindAlreadyExists,
	codes.PermissionDenied:   sdk.KindPermissionDenied,
	codes.ResourceExhausted:  sdk.KindResourceExhausted,
	codes.FailedPrecondition: sdk.KindFailedPrecondition,
	// ABORTED: a concurrency conflict (a sequencer check, a transaction
	// abort) that gRPC says to retry at a higher level.
	codes.Aborted: sdk.KindConflict,
	// OUT_OF_RANGE: past the valid range, which a change of the system's
	// state may fix (reading past the end of a file); gRPC sets it apart
	// from INVALID_ARGUMENT for that reason.
	codes.OutOfRange:      sdk.KindFailedPrecondition,
	codes.Unimplemented:   sdk.KindUnimplemented,
	codes.Internal:        sdk.KindInternal,
	codes.Unavailable:     sdk.KindUnavailable,
	codes.DataLoss:        sdk.KindInternal,
	codes.Unauthenticated: sdk.KindUnauthenticated,
}

// KindOfCode returns the kind of error a gRPC status code becomes, and
// "" for OK.
func KindOfCode(c codes.Code) sdk.Kind {
	if c == codes.OK {
		return ""
	}
	if k, ok := codeKinds[c]; ok {
		return k
	}
	return sdk.KindUnknown
}

// codeNames are the canonical names of the gRPC status codes, as
// google.rpc.Code spells them.
var codeNames = [...]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// CodeName returns the canonical name of a gRPC status code, such as
// "NOT_FOUND": the Code of the errors the driver returns. A code beyond
// gRPC's is "CODE(n)".
func CodeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "CODE(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// callError turns the error of a call of method into an *sdk.Error: its
// kind from the status code (or from ctx, once ctx has ended), Code the
// code's name, the status message kept and scrubbed of secrets, and
// RetryAfter from a google.rpc.RetryInfo detail.
func callError(ctx context.Context, err error, method string, secrets []string) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	mask := sdk.SecretsToMask(sdk.CallerInput(ctx), secrets)
	if cerr := ctx.Err(); cerr != nil {
		return &sdk.Error{Kind: sdk.KindOf(cerr), Message: method + ": " + cerr.Error(), Err: sdk.Redact(err, mask...)}
	}
	st, ok := status.FromError(err)
	if !ok {
		kind := sdk.KindUnknown
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			kind = sdk.KindTimeout
		case errors.Is(err, context.Canceled):
			kind = sdk.KindCanceled
		}
		return &sdk.Error{Kind: kind, Message: method, Err: sdk.Redact(err, mask...)}
	}
	name := CodeName(st.Code())
	msg := method + ": " + name
	if m := scrub(st.Message(), mask); m != "" {
		msg += ": " + m
	}
	e := &sdk.Error{Kind: KindOfCode(st.Code()), Code: name, Message: msg}
	if st.Code() == codes.Aborted {
		retry := true
		e.Retryable = &retry
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			e.RetryAfter = ri.GetRetryDelay().AsDuration()
		}
	}
	return e
}

// scrub replaces every secret in s.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}
