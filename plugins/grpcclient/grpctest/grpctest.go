// Package grpctest is a real gRPC server for the tests and examples of
// the grpc driver: its service, nebula.demo.v1.Demo, is built at run
// time from a descriptor (no generated code), so that a client can only
// learn it through server reflection or a descriptor set file. The server
// registers reflection (v1 and v1alpha) and the standard health service.
//
// The methods of nebula.demo.v1.Demo:
//
//   - Echo (unary): returns the request's fields; text gets the value of
//     the request metadata "x-tenant" appended after a slash when set and not empty.
//   - Fail (unary): fails with the status code named by code (such as
//     "NOT_FOUND") and message; retry_after_ms adds a RetryInfo detail;
//     echo_metadata appends every request metadata pair to the message.
//   - Headers (unary): answers as Echo, with the header "x-echo" (the
//     request's text) and the trailer "x-done" ("yes").
//   - Count (server streaming): sends count messages Seq{seq: 1..count,
//     text}.
//   - Sum (client streaming): sums the seq of the messages received.
//   - Chat (bidirectional): sends each message back.
package grpctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The names of the demo service.
const (
	// ServiceName is the full name of the demo service.
	ServiceName = "nebula.demo.v1.Demo"
	// FileName is the path of its .proto file.
	FileName = "nebula/demo/v1/demo.proto"
)

// Options configure a Server.
type Options struct {
	// ServerOptions are added to the gRPC server's (TLS credentials, an
	// interceptor that checks a token).
	ServerOptions []grpc.ServerOption
	// NoReflection leaves the reflection service out.
	NoReflection bool
	// OnlyV1Alpha registers only the older reflection service,
	// grpc.reflection.v1alpha.
	OnlyV1Alpha bool
	// NoHealth leaves the health service out.
	NoHealth bool
}

// Server is a running demo server.
type Server struct {
	// Addr is the address it listens on, host:port.
	Addr string
	// Health is its health service (nil with NoHealth): set a service's
	// status with Health.SetServingStatus; "" is the server as a whole.
	Health *health.Server

	srv  *grpc.Server
	lis  net.Listener
	done chan struct{}
	once sync.Once
}

// Start serves the demo service on lis until Stop.
func Start(lis net.Listener, opts Options) (*Server, error) {
	fd, err := File()
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(opts.ServerOptions...)
	srv.RegisterService(serviceDesc(fd.Services().ByName("Demo")), struct{}{})
	s := &Server{Addr: lis.Addr().String(), srv: srv, lis: lis, done: make(chan struct{})}
	if !opts.NoHealth {
		s.Health = health.NewServer()
		healthpb.RegisterHealthServer(srv, s.Health)
	}
	if !opts.NoReflection {
		files := new(protoregistry.Files)
		if err := files.RegisterFile(fd); err != nil {
			return nil, err
		}
		ropts := reflection.ServerOptions{Services: srv, DescriptorResolver: resolver{files}}
		if !opts.OnlyV1Alpha {
			reflectionv1.RegisterServerReflectionServer(srv, reflection.NewServerV1(ropts))
		}
		reflectionv1alpha.RegisterServerReflectionServer(srv, reflection.NewServer(ropts))
	}
	go func() {
		defer close(s.done)
		_ = srv.Serve(lis)
	}()
	return s, nil
}

// Listen starts a server on a new loopback TCP port.
func Listen(opts Options) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s, err := Start(lis, opts)
	if err != nil {
		_ = lis.Close()
	}
	return s, err
}

// Stop stops the server at once, ending the calls in flight, and waits
// for it. It may be called more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.srv.Stop()
		<-s.done
	})
}

// resolver finds the demo file in files and the standard ones (health,
// reflection) in the global registry: the demo file is in no registry a
// client could share.
type resolver struct{ files *protoregistry.Files }

func (r resolver) FindFileByPath(p string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.files.FindFileByPath(p); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(p)
}

func (r resolver) FindDescriptorByName(n protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.files.FindDescriptorByName(n); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(n)
}

// File returns the descriptor of the demo file, built for this call.
func File() (protoreflect.FileDescriptor, error) {
	return protodesc.NewFile(fileProto(), nil)
}

// DescriptorSet returns the demo file as a serialized FileDescriptorSet,
// as protoc --descriptor_set_out --include_imports writes it.
func DescriptorSet() ([]byte, error) {
	return proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fileProto()}})
}

// fileProto is nebula/demo/v1/demo.proto:
//
//	syntax = "proto3";
//	package nebula.demo.v1;
//	message Inner { string name = 1; }
//	message EchoRequest { string text = 1; int32 count = 2; repeated string tags = 3; int64 big = 4; Inner inner = 5; }
//	message EchoReply { string text = 1; int32 count = 2; repeated string tags = 3; int64 big = 4; Inner inner = 5; }
//	message FailRequest { string code = 1; string message = 2; int64 retry_after_ms = 3; bool echo_metadata = 4; }
//	message CountRequest { int32 count = 1; string text = 2; }
//	message Seq { int64 seq = 1; string text = 2; }
//	message SumReply { int64 total = 1; int32 messages = 2; }
//	service Demo {
//	  rpc Echo(EchoRequest) returns (EchoReply);
//	  rpc Fail(FailRequest) returns (EchoReply);
//	  rpc Headers(EchoRequest) returns (EchoReply);
//	  rpc Count(CountRequest) returns (stream Seq);
//	  rpc Sum(stream Seq) returns (SumReply);
//	  rpc Chat(stream Seq) returns (stream Seq);
//	}
func fileProto() *descriptorpb.FileDescriptorProto {
	type field struct {
		name     string
		typ      descriptorpb.FieldDescriptorProto_Type
		repeated bool
		msg      string
	}
	message := func(name string, fields ...field) *descriptorpb.DescriptorProto {
		m := &descriptorpb.DescriptorProto{Name: proto.String(name)}
		for i, f := range fields {
			label := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
			if f.repeated {
				label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
			}
			fp := &descriptorpb.FieldDescriptorProto{
				Name: proto.String(f.name), Number: proto.Int32(int32(i + 1)),
				Label: label.Enum(), Type: f.typ.Enum(), JsonName: proto.String(jsonName(f.name)),
			}
			if f.msg != "" {
				fp.TypeName = proto.String(".nebula.demo.v1." + f.msg)
			}
			m.Field = append(m.Field, fp)
		}
		return m
	}
	const (
		str   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i32   = descriptorpb.FieldDescriptorProto_TYPE_INT32
		i64   = descriptorpb.FieldDescriptorProto_TYPE_INT64
		boolT = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		msgT  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	echo := []field{{"text", str, false, ""}, {"count", i32, false, ""}, {"tags", str, true, ""}, {"big", i64, false, ""}, {"inner", msgT, false, "Inner"}}
	method := func(name, in, out string, client, server bool) *descriptorpb.MethodDescriptorProto {
		m := &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(".nebula.demo.v1." + in), OutputType: proto.String(".nebula.demo.v1." + out),
		}
		if client {
			m.ClientStreaming = proto.Bool(true)
		}
		if server {
			m.ServerStreaming = proto.Bool(true)
		}
		return m
	}
	return &descriptorpb.FileDescriptorProto{
		Name:    proto.String(FileName),
		Package: proto.String("nebula.demo.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			message("Inner", field{"name", str, false, ""}),
			message("EchoRequest", echo...),
			message("EchoReply", echo...),
			message("FailRequest", field{"code", str, false, ""}, field{"message", str, false, ""}, field{"retry_after_ms", i64, false, ""}, field{"echo_metadata", boolT, false, ""}),
			message("CountRequest", field{"count", i32, false, ""}, field{"text", str, false, ""}),
			message("Seq", field{"seq", i64, false, ""}, field{"text", str, false, ""}),
			message("SumReply", field{"total", i64, false, ""}, field{"messages", i32, false, ""}),
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Demo"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Echo", "EchoRequest", "EchoReply", false, false),
				method("Fail", "FailRequest", "EchoReply", false, false),
				method("Headers", "EchoRequest", "EchoReply", false, false),
				method("Count", "CountRequest", "Seq", false, true),
				method("Sum", "Seq", "SumReply", true, false),
				method("Chat", "Seq", "Seq", true, true),
			},
		}},
	}
}

// jsonName is protoc's JSON name of a field: lowerCamelCase.
func jsonName(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		switch {
		case r == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// serviceDesc is the demo service's handlers, on dynamic messages.
func serviceDesc(sd protoreflect.ServiceDescriptor) *grpc.ServiceDesc {
	methods := sd.Methods()
	in := func(name string) protoreflect.MessageDescriptor {
		return methods.ByName(protoreflect.Name(name)).Input()
	}
	out := func(name string) protoreflect.MessageDescriptor {
		return methods.ByName(protoreflect.Name(name)).Output()
	}
	unary := func(name string, fn func(ctx context.Context, req *dynamicpb.Message) (proto.Message, error)) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := dynamicpb.NewMessage(in(name))
			if err := dec(req); err != nil {
				return nil, err
			}
			return fn(ctx, req)
		}}
	}
	echo := func(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
		// The reply has the request's fields: its bytes are a reply's.
		reply := dynamicpb.NewMessage(out("Echo"))
		b, err := proto.Marshal(req)
		if err != nil {
			return nil, err
		}
		if err := proto.Unmarshal(b, reply); err != nil {
			return nil, err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		if t := md.Get("x-tenant"); len(t) > 0 && t[0] != "" {
			f := reply.Descriptor().Fields().ByName("text")
			reply.Set(f, protoreflect.ValueOfString(reply.Get(f).String()+"/"+t[0]))
		}
		return reply, nil
	}
	str := func(m *dynamicpb.Message, name string) string {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).String()
	}
	num := func(m *dynamicpb.Message, name string) int64 {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).Int()
	}
	return &grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Metadata:    FileName,
		Methods: []grpc.MethodDesc{
			unary("Echo", echo),
			unary("Headers", func(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
				if err := grpc.SetHeader(ctx, metadata.Pairs("x-echo", str(req, "text"))); err != nil {
					return nil, err
				}
				if err := grpc.SetTrailer(ctx, metadata.Pairs("x-done", "yes")); err != nil {
					return nil, err
				}
				return echo(ctx, req)
			}),
			unary("Fail", func(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
				code, ok := CodeByName(str(req, "code"))
				if !ok {
					return nil, status.Errorf(codes.InvalidArgument, "unknown code %q", str(req, "code"))
				}
				msg := str(req, "message")
				if req.Get(req.Descriptor().Fields().ByName("echo_metadata")).Bool() {
					md, _ := metadata.FromIncomingContext(ctx)
					keys := make([]string, 0, len(md))
					for k := range md {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						msg += fmt.Sprintf(" %s=%v", k, md[k])
					}
				}
				st := status.New(code, msg)
				if ms := num(req, "retry_after_ms"); ms > 0 {
					var err error
					if st, err = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(ms) * time.Millisecond)}); err != nil {
						return nil, err
					}
				}
				return nil, st.Err()
			}),
		},
		Streams: []grpc.StreamDesc{
			{StreamName: "Count", ServerStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
				req := dynamicpb.NewMessage(in("Count"))
				if err := stream.RecvMsg(req); err != nil {
					return err
				}
				n, text := num(req, "count"), str(req, "text")
				seqF, textF := out("Count").Fields().ByName("seq"), out("Count").Fields().ByName("text")
				for i := int64(1); i <= n; i++ {
					m := dynamicpb.NewMessage(out("Count"))
					m.Set(seqF, protoreflect.ValueOfInt64(i))
					m.Set(textF, protoreflect.ValueOfString(text))
					if err := stream.SendMsg(m); err != nil {
						return err
					}
				}
				return nil
			}},
			{StreamName: "Sum", ClientStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
				var total int64
				var n int32
				for {
					m := dynamicpb.NewMessage(in("Sum"))
					err := stream.RecvMsg(m)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
					total += num(m, "seq")
					n++
				}
				reply := dynamicpb.NewMessage(out("Sum"))
				reply.Set(reply.Descriptor().Fields().ByName("total"), protoreflect.ValueOfInt64(total))
				reply.Set(reply.Descriptor().Fields().ByName("messages"), protoreflect.ValueOfInt32(n))
				return stream.SendMsg(reply)
			}},
			{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
				for {
					m := dynamicpb.NewMessage(in("Chat"))
					err := stream.RecvMsg(m)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					if err := stream.SendMsg(m); err != nil {
						return err
					}
				}
			}},
		},
	}
}

// CodeByName returns the gRPC code of its canonical name, such as
// "NOT_FOUND" or "OK".
func CodeByName(name string) (codes.Code, bool) {
	var c codes.Code
	if err := c.UnmarshalJSON([]byte(`"` + name + `"`)); err != nil {
		return 0, false
	}
	return c, true
}
