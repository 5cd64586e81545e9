package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// schema is what an instance knows of the server's API: the files of a
// descriptor set, or those reflection sent so far.
type schema struct {
	conn   *grpc.ClientConn
	static bool // the files are a descriptor set's: reflection is not asked

	// mu guards the fields below; no I/O runs with it held.
	mu      sync.Mutex
	files   *protoregistry.Files
	protos  map[string]*descriptorpb.FileDescriptorProto // reflection's, by path
	methods map[string]protoreflect.MethodDescriptor     // resolved, by "pkg.Service/Method"
	v1alpha bool                                         // the server has only the older reflection service
}

func newSchema(conn *grpc.ClientConn, files *protoregistry.Files) *schema {
	s := &schema{conn: conn, static: files != nil, files: files, protos: map[string]*descriptorpb.FileDescriptorProto{}, methods: map[string]protoreflect.MethodDescriptor{}}
	if s.files == nil {
		s.files = new(protoregistry.Files)
	}
	return s
}

// errNoReflection is returned when the server has no reflection service.
var errNoReflection = errors.New("the server has no reflection service (grpc.reflection.v1 or v1alpha): register it on the server, or set descriptor_set_file")

// ParseMethod splits a method name, "package.Service/Method",
// "/package.Service/Method" or "package.Service.Method", into the
// service's full name and the method's name.
func ParseMethod(name string) (service protoreflect.FullName, method protoreflect.Name, err error) {
	s := strings.TrimPrefix(strings.TrimSpace(name), "/")
	svc, m, ok := strings.Cut(s, "/")
	if !ok {
		if i := strings.LastIndexByte(s, '.'); i > 0 {
			svc, m, ok = s[:i], s[i+1:], true
		}
	}
	service, method = protoreflect.FullName(svc), protoreflect.Name(m)
	if !ok || !service.IsValid() || !method.IsValid() {
		return "", "", sdk.Errorf(sdk.KindInvalidArgument, "method: %q is not a full method name: write \"package.Service/Method\"", name)
	}
	return service, method, nil
}

// method returns the descriptor of the method named name. A method it
// does not know makes it ask reflection once more (the server may have
// been upgraded) before it fails as invalid_argument naming the method.
func (s *schema) method(ctx context.Context, name string) (protoreflect.MethodDescriptor, error) {
	service, m, err := ParseMethod(name)
	if err != nil {
		return nil, err
	}
	key := string(service) + "/" + string(m)
	s.mu.Lock()
	md, ok := s.methods[key]
	s.mu.Unlock()
	if ok {
		return md, nil
	}
	md, err = s.lookup(service, m)
	if err != nil && !s.static {
		if ferr := s.fetch(ctx, string(service)); ferr != nil {
			if sdk.KindOf(ferr) == sdk.KindNotFound {
				return nil, sdk.Errorf(sdk.KindInvalidArgument, "method: the server does not offer the service %q (list_services lists those it does)", service)
			}
			return nil, ferr
		}
		md, err = s.lookup(service, m)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.methods[key] = md
	s.mu.Unlock()
	return md, nil
}

// lookup finds a method among the files known.
func (s *schema) lookup(service protoreflect.FullName, m protoreflect.Name) (protoreflect.MethodDescriptor, error) {
	s.mu.Lock()
	files := s.files
	s.mu.Unlock()
	d, err := files.FindDescriptorByName(service)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "method: the server does not offer the service %q (list_services lists those it does)", service)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "method: %q is not a service but a %s", service, kindName(d))
	}
	md := sd.Methods().ByName(m)
	if md == nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "method: the service %s has no method %q (it has %s)", service, m, methodNames(sd))
	}
	return md, nil
}

// descriptor returns the descriptor of a service, method or message by
// its full name, asking reflection when it is not known yet.
func (s *schema) descriptor(ctx context.Context, name string) (protoreflect.Descriptor, error) {
	full := protoreflect.FullName(strings.TrimPrefix(strings.ReplaceAll(name, "/", "."), "."))
	if !full.IsValid() {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "symbol: %q is not a full name such as \"package.Service\"", name)
	}
	find := func() (protoreflect.Descriptor, error) {
		s.mu.Lock()
		files := s.files
		s.mu.Unlock()
		return files.FindDescriptorByName(full)
	}
	d, err := find()
	if err != nil && !s.static {
		symbol := string(full)
		if err := s.fetch(ctx, symbol); err != nil {
			if sdk.KindOf(err) != sdk.KindNotFound {
				return nil, err
			}
			// A method is not a symbol every server resolves: ask for
			// its service.
			if i := strings.LastIndexByte(symbol, '.'); i > 0 {
				if err := s.fetch(ctx, symbol[:i]); err != nil && sdk.KindOf(err) != sdk.KindNotFound {
					return nil, err
				}
			}
		}
		d, err = find()
	}
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "symbol: the server knows no service, method or message %q", name)
	}
	return d, nil
}

// services returns the names of the services the server offers.
func (s *schema) services(ctx context.Context) ([]string, error) {
	var names []string
	if s.static {
		s.files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				names = append(names, string(fd.Services().Get(i).FullName()))
			}
			return true
		})
	} else {
		resp, err := s.ask(ctx, []*reflectionv1.ServerReflectionRequest{{
			MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{ListServices: "*"},
		}})
		if err != nil {
			return nil, err
		}
		for _, svc := range resp[0].GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
	}
	sort.Strings(names)
	return names, nil
}

// fetch asks reflection for the file that defines symbol, and for the
// files it imports that the server did not send along, and rebuilds the
// registry with them. A symbol the server does not know is not_found.
func (s *schema) fetch(ctx context.Context, symbol string) error {
	resp, err := s.ask(ctx, []*reflectionv1.ServerReflectionRequest{{
		MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol},
	}})
	if err != nil {
		return err
	}
	got := map[string]*descriptorpb.FileDescriptorProto{}
	if err := addFiles(got, resp[0]); err != nil {
		return err
	}
	// Imports the server left out (it sends each file once per stream,
	// and some servers send none).
	for range 16 {
		var missing []*reflectionv1.ServerReflectionRequest
		s.mu.Lock()
		for _, fd := range got {
			for _, dep := range fd.GetDependency() {
				if got[dep] == nil && s.protos[dep] == nil {
					missing = append(missing, &reflectionv1.ServerReflectionRequest{
						MessageRequest: &reflectionv1.ServerReflectionRequest_FileByFilename{FileByFilename: dep},
					})
				}
			}
		}
		s.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		resps, err := s.ask(ctx, missing)
		if err != nil {
			return err
		}
		for _, r := range resps {
			if err := addFiles(got, r); err != nil {
				return err
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	all := make(map[string]*descriptorpb.FileDescriptorProto, len(s.protos)+len(got))
	for p, fd := range s.protos {
		all[p] = fd
	}
	for p, fd := range got {
		all[p] = fd // what the server sends now wins
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range all {
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return sdk.Errorf(sdk.KindFailedPrecondition, "the server's reflection sent descriptors that do not build: %v", err)
	}
	s.protos, s.files = all, files
	s.methods = map[string]protoreflect.MethodDescriptor{}
	return nil
}

// addFiles decodes the files of a reflection answer into got.
func addFiles(got map[string]*descriptorpb.FileDescriptorProto, r *reflectionv1.ServerReflectionResponse) error {
	if e := r.GetErrorResponse(); e != nil {
		code := codes.Code(e.GetErrorCode())
		if code == codes.NotFound {
			return &sdk.Error{Kind: sdk.KindNotFound, Code: CodeName(code), Message: "reflection: " + e.GetErrorMessage()}
		}
		return &sdk.Error{Kind: KindOfCode(code), Code: CodeName(code), Message: "reflection: " + e.GetErrorMessage()}
	}
	for _, b := range r.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fd); err != nil {
			return sdk.Errorf(sdk.KindInternal, "reflection sent a file descriptor that does not decode: %v", err)
		}
		got[fd.GetName()] = fd
	}
	return nil
}

// ask sends reqs on one reflection stream and returns the answers, in
// order: on grpc.reflection.v1, or v1alpha where the server has only that.
func (s *schema) ask(ctx context.Context, reqs []*reflectionv1.ServerReflectionRequest) ([]*reflectionv1.ServerReflectionResponse, error) {
	s.mu.Lock()
	alpha := s.v1alpha
	s.mu.Unlock()
	if !alpha {
		resps, err := s.askV1(ctx, reqs)
		if status.Code(err) != codes.Unimplemented {
			return resps, err
		}
		s.mu.Lock()
		s.v1alpha = true
		s.mu.Unlock()
	}
	resps, err := s.askV1Alpha(ctx, reqs)
	if status.Code(err) == codes.Unimplemented {
		return nil, &sdk.Error{Kind: sdk.KindFailedPrecondition, Code: CodeName(codes.Unimplemented), Message: errNoReflection.Error()}
	}
	return resps, err
}

// reflectionStream is a reflection stream of either version.
type reflectionStream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
	CloseSend() error
}

// exchange sends each request and receives its answer, then ends the
// stream.
func exchange[Req, Resp any](ctx context.Context, open func(ctx context.Context) (reflectionStream[Req, Resp], error), reqs []Req) ([]Resp, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream, whatever happened
	stream, err := open(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Resp, 0, len(reqs))
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			if errors.Is(err, io.EOF) {
				_, err = stream.Recv() // the stream's status
			}
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		out = append(out, resp)
	}
	_ = stream.CloseSend()
	return out, nil
}

func (s *schema) askV1(ctx context.Context, reqs []*reflectionv1.ServerReflectionRequest) ([]*reflectionv1.ServerReflectionResponse, error) {
	client := reflectionv1.NewServerReflectionClient(s.conn)
	resps, err := exchange(ctx, func(ctx context.Context) (reflectionStream[*reflectionv1.ServerReflectionRequest, *reflectionv1.ServerReflectionResponse], error) {
		return client.ServerReflectionInfo(ctx)
	}, reqs)
	return resps, reflectionError(ctx, err)
}

// reflectionError keeps Unimplemented as it is, for ask to try the other
// version, and makes any other error an *sdk.Error.
func reflectionError(ctx context.Context, err error) error {
	if err == nil || status.Code(err) == codes.Unimplemented && ctx.Err() == nil {
		return err
	}
	return callError(ctx, err, "grpc reflection", nil)
}

// convert copies a message into one of the same wire form.
func convert(from, to proto.Message) error {
	b, err := proto.Marshal(from)
	if err != nil {
		return sdk.Errorf(sdk.KindInternal, "reflection message: %v", err)
	}
	if err := proto.Unmarshal(b, to); err != nil {
		return sdk.Errorf(sdk.KindInternal, "reflection message: %v", err)
	}
	return nil
}

// methodNames lists a service's methods, for an error message.
func methodNames(sd protoreflect.ServiceDescriptor) string {
	var names []string
	for i := range sd.Methods().Len() {
		names = append(names, string(sd.Methods().Get(i).Name()))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// kindName says what a descriptor is.
func kindName(d protoreflect.Descriptor) string {
	switch d.(type) {
	case protoreflect.ServiceDescriptor:
		return "service"
	case protoreflect.MethodDescriptor:
		return "method"
	case protoreflect.MessageDescriptor:
		return "message"
	case protoreflect.EnumDescriptor:
		return "enum"
	case protoreflect.FieldDescriptor:
		return "field"
	case protoreflect.EnumValueDescriptor:
		return "enum value"
	}
	return fmt.Sprintf("%T", d)
}
