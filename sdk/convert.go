package sdk

import (
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// This file holds one converter per message between the SDK's Go types and
// the generated protocol types, in the style of terraform-plugin-go's
// fromproto/toproto: nothing else in the SDK touches protobuf field names.

// infoToProto describes a driver as served on gRPC alone (protocol
// version 1); a plugin served with the data connection says version 2
// (describedAs).
func infoToProto(info DriverInfo) *pb.DescribeResponse {
	out := &pb.DescribeResponse{Name: info.Name, Version: info.Version, ProtocolVersion: MinProtocolVersion}
	for _, t := range info.Types {
		pt := &pb.ResourceType{
			Name:         t.Name,
			Description:  t.Description,
			Config:       schemaToProto(t.Config),
			Capabilities: t.Capabilities,
			Pooling:      string(t.Pooling),
		}
		for _, op := range t.Operations {
			pt.Operations = append(pt.Operations, &pb.Operation{
				Name:         op.Name,
				Description:  op.Description,
				Args:         schemaToProto(op.Args),
				Idempotent:   op.Idempotent,
				Stream:       string(op.Stream),
				IdempotentIf: argInToProto(op.IdempotentIf),
			})
		}
		out.Types = append(out.Types, pt)
	}
	return out
}

func infoFromProto(p *pb.DescribeResponse) DriverInfo {
	info := DriverInfo{Name: p.GetName(), Version: p.GetVersion()}
	for _, pt := range p.GetTypes() {
		t := ResourceType{
			Name:         pt.GetName(),
			Description:  pt.GetDescription(),
			Config:       schemaFromProto(pt.GetConfig()),
			Capabilities: pt.GetCapabilities(),
			Pooling:      Pooling(pt.GetPooling()),
		}
		for _, op := range pt.GetOperations() {
			t.Operations = append(t.Operations, Operation{
				Name:         op.GetName(),
				Description:  op.GetDescription(),
				Args:         schemaFromProto(op.GetArgs()),
				Idempotent:   op.GetIdempotent(),
				Stream:       StreamMode(op.GetStream()),
				IdempotentIf: argInFromProto(op.GetIdempotentIf()),
			})
		}
		info.Types = append(info.Types, t)
	}
	return info
}

func argInToProto(c *ArgIn) *pb.ArgIn {
	if c == nil {
		return nil
	}
	return &pb.ArgIn{Arg: c.Arg, Values: c.Values}
}

func argInFromProto(c *pb.ArgIn) *ArgIn {
	if c == nil {
		return nil
	}
	return &ArgIn{Arg: c.GetArg(), Values: c.GetValues()}
}

func schemaToProto(s Schema) *pb.Schema {
	out := &pb.Schema{}
	for _, a := range s.Attributes {
		out.Attributes = append(out.Attributes, &pb.Attribute{
			Name:        a.Name,
			Type:        typeToProto(a.Type),
			Required:    a.Required,
			DefaultJson: a.Default,
			Sensitive:   a.Sensitive,
			Description: a.Description,
		})
	}
	return out
}

func schemaFromProto(p *pb.Schema) Schema {
	var s Schema
	for _, a := range p.GetAttributes() {
		s.Attributes = append(s.Attributes, Attribute{
			Name:        a.GetName(),
			Type:        typeFromProto(a.GetType()),
			Required:    a.GetRequired(),
			Default:     a.GetDefaultJson(),
			Sensitive:   a.GetSensitive(),
			Description: a.GetDescription(),
		})
	}
	return s
}

func typeToProto(t Type) *pb.Type {
	out := &pb.Type{Kind: string(t.Kind)}
	if t.Elem != nil {
		out.Elem = typeToProto(*t.Elem)
	}
	return out
}

func typeFromProto(p *pb.Type) Type {
	t := Type{Kind: TypeKind(p.GetKind())}
	if p.GetElem() != nil {
		elem := typeFromProto(p.GetElem())
		t.Elem = &elem
	}
	return t
}

var kindCodes = map[Kind]codes.Code{
	KindUnknown:            codes.Unknown,
	KindInvalidArgument:    codes.InvalidArgument,
	KindNotFound:           codes.NotFound,
	KindAlreadyExists:      codes.AlreadyExists,
	KindConflict:           codes.Aborted,
	KindPermissionDenied:   codes.PermissionDenied,
	KindUnauthenticated:    codes.Unauthenticated,
	KindResourceExhausted:  codes.ResourceExhausted,
	KindFailedPrecondition: codes.FailedPrecondition,
	KindUnavailable:        codes.Unavailable,
	KindTimeout:            codes.DeadlineExceeded,
	KindCanceled:           codes.Canceled,
	KindUnimplemented:      codes.Unimplemented,
	KindInternal:           codes.Internal,
}

// codeKinds is the inverse of kindCodes, for statuses that carry no
// ErrorDetail (those made by gRPC itself, such as a broken connection).
var codeKinds = func() map[codes.Code]Kind {
	m := make(map[codes.Code]Kind, len(kindCodes))
	for k, c := range kindCodes {
		m[c] = k
	}
	m[codes.DataLoss] = KindInternal
	m[codes.OutOfRange] = KindInvalidArgument
	return m
}()

// errorToStatus turns a driver's error into a gRPC status error carrying
// its kind, message and code.
func errorToStatus(err error) error {
	if err == nil {
		return nil
	}
	detail := errorDetail(err)
	st := status.New(kindCodes[Kind(detail.GetKind())], detail.GetMessage())
	if withDetail, derr := st.WithDetails(detail); derr == nil {
		st = withDetail
	}
	return st.Err()
}

// errorDetail is err as it crosses the wire: its kind (classified when
// the driver left it unknown), message, code and retryability.
func errorDetail(err error) *pb.ErrorDetail {
	kind := KindOf(err)
	if kind == KindUnknown {
		// What the driver left unclassified may still be an operating
		// system, network or context error the shared classifier knows.
		kind = ClassifyOr(err, KindInternal)
		if kind == KindUnknown {
			kind = KindInternal
		}
	}
	// Protobuf strings are UTF-8: a backend's message that is not (bytes
	// of a value, a server's own encoding) crosses mended, not dropped.
	detail := &pb.ErrorDetail{Kind: string(kind), Message: strings.ToValidUTF8(err.Error(), "\uFFFD")}
	var e *Error
	if errors.As(err, &e) {
		detail.Code = strings.ToValidUTF8(e.Code, "\uFFFD")
		detail.Retryable = e.Retryable
		detail.RetryAfterNanos = int64(max(e.RetryAfter, 0))
	}
	return detail
}

// errorFromDetail is the *Error that detail describes.
func errorFromDetail(detail *pb.ErrorDetail) *Error {
	return &Error{Kind: Kind(detail.GetKind()), Message: detail.GetMessage(), Code: detail.GetCode(), Retryable: detail.Retryable,
		RetryAfter: time.Duration(max(detail.GetRetryAfterNanos(), 0))}
}

// errorFromStatus turns a gRPC error into an *Error with the kind the
// plugin gave it or, for errors gRPC made itself, the kind of its code.
// Context errors of the caller's own context keep their identity.
func errorFromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Kind: KindUnavailable, Message: "plugin call failed", Err: err}
	}
	for _, d := range st.Details() {
		if detail, ok := d.(*pb.ErrorDetail); ok {
			return errorFromDetail(detail)
		}
	}
	if st.Code() == codes.ResourceExhausted {
		// gRPC's own: a message over the link's limit. The caller sent
		// or asked for too much; retrying would fail the same way.
		return &Error{Kind: KindInvalidArgument, Code: CodeMessageTooLarge,
			Message: "a message between the host and the plugin is larger than max_message_size (host block); raise it, or send or ask for less (" + st.Message() + ")"}
	}
	kind, ok := codeKinds[st.Code()]
	if !ok {
		kind = KindUnknown
	}
	return &Error{Kind: kind, Message: "plugin: " + st.Message()}
}
