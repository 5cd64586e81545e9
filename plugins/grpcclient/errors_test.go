package grpcclient_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient/grpctest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// codeTable is what every gRPC status code becomes: its kind, and the
// name kept as the error's Code.
var codeTable = []struct {
	code codes.Code
	name string
	kind sdk.Kind
}{
	{codes.Canceled, "CANCELLED", sdk.KindCanceled},
	{codes.Unknown, "UNKNOWN", sdk.KindInternal},
	{codes.InvalidArgument, "INVALID_ARGUMENT", sdk.KindInvalidArgument},
	{codes.DeadlineExceeded, "DEADLINE_EXCEEDED", sdk.KindTimeout},
	{codes.NotFound, "NOT_FOUND", sdk.KindNotFound},
	{codes.AlreadyExists, "ALREADY_EXISTS", sdk.KindAlreadyExists},
	{codes.PermissionDenied, "PERMISSION_DENIED", sdk.KindPermissionDenied},
	{codes.ResourceExhausted, "RESOURCE_EXHAUSTED", sdk.KindResourceExhausted},
	{codes.FailedPrecondition, "FAILED_PRECONDITION", sdk.KindFailedPrecondition},
	{codes.Aborted, "ABORTED", sdk.KindConflict},
	{codes.OutOfRange, "OUT_OF_RANGE", sdk.KindFailedPrecondition},
	{codes.Unimplemented, "UNIMPLEMENTED", sdk.KindUnimplemented},
	{codes.Internal, "INTERNAL", sdk.KindInternal},
	{codes.Unavailable, "UNAVAILABLE", sdk.KindUnavailable},
	{codes.DataLoss, "DATA_LOSS", sdk.KindInternal},
	{codes.Unauthenticated, "UNAUTHENTICATED", sdk.KindUnauthenticated},
}

// Every status code the server returns reaches the caller, through the
// plugin protocol, as its kind with the code's name and the server's
// message; ABORTED is retryable, as gRPC advises.
func TestEveryStatusCodeBecomesItsKind(t *testing.T) {
	if len(codeTable) != 16 {
		t.Fatalf("the table has %d codes; gRPC has 16 besides OK", len(codeTable))
	}
	if grpcclient.KindOfCode(codes.OK) != "" || grpcclient.CodeName(codes.OK) != "OK" {
		t.Errorf("OK is kind %q, name %q", grpcclient.KindOfCode(codes.OK), grpcclient.CodeName(codes.OK))
	}
	if grpcclient.KindOfCode(codes.Code(99)) != sdk.KindUnknown || grpcclient.CodeName(codes.Code(99)) != "CODE(99)" {
		t.Errorf("code 99 is kind %q, name %q", grpcclient.KindOfCode(codes.Code(99)), grpcclient.CodeName(codes.Code(99)))
	}
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	for _, c := range codeTable {
		t.Run(c.name, func(t *testing.T) {
			if k := grpcclient.KindOfCode(c.code); k != c.kind {
				t.Errorf("KindOfCode(%v) = %q, want %q", c.code, k, c.kind)
			}
			_, err := invoke[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Fail"), "request": map[string]any{"code": c.name, "message": "the server says so"}})
			var se *sdk.Error
			if !errors.As(err, &se) || se.Kind != c.kind || se.Code != c.name {
				t.Fatalf("%s: %v (%#v), want kind %s code %s", c.name, err, se, c.kind, c.name)
			}
			if want := "nebula.demo.v1.Demo/Fail: " + c.name + ": the server says so"; se.Message != want {
				t.Errorf("message %q, want %q", se.Message, want)
			}
			if got, want := sdk.IsRetryable(err), c.kind.Retryable() || c.code == codes.Aborted; got != want {
				t.Errorf("retryable %v, want %v", got, want)
			}
		})
	}
}

// A google.rpc.RetryInfo detail becomes the error's RetryAfter.
func TestRetryInfoBecomesRetryAfter(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	_, err := invoke[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Fail"), "request": json.RawMessage(`{"code":"RESOURCE_EXHAUSTED","message":"slow down","retryAfterMs":"1500"}`)})
	if sdk.KindOf(err) != sdk.KindResourceExhausted || sdk.RetryAfterOf(err) != 1500*time.Millisecond {
		t.Fatalf("%v: kind %s, retry after %v; want resource_exhausted after 1.5s", err, sdk.KindOf(err), sdk.RetryAfterOf(err))
	}
	t.Logf("RetryInfo 1.5s → %v: RetryAfter %v", sdk.KindOf(err), sdk.RetryAfterOf(err))
}

// A call whose deadline passes is timeout; a server that is gone is
// unavailable.
func TestDeadlineAndLostServer(t *testing.T) {
	s := startServer(t, grpctest.Options{})
	inst := open(t, config(t, s.Addr, nil))
	must[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo")})
	s.Stop()
	_, err := invoke[grpcclient.InvokeResult](t, inst, "invoke", map[string]any{"method": demoMethod("Echo")})
	if sdk.KindOf(err) != sdk.KindUnavailable || !strings.Contains(err.Error(), "UNAVAILABLE") {
		t.Fatalf("a stopped server: %v (kind %s), want unavailable", err, sdk.KindOf(err))
	}
}
