package sdk

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// streamChunk is the largest data message a side sends on a stream over
// gRPC, and the least it sends on the data connection when a write is
// larger.
const streamChunk = 64 << 10

// maxStreamChunk is the largest data message a side sends on the data
// connection when max_message_size allows it: a large upload's or
// download's bytes cross in a quarter of the messages (and system calls)
// 64 KiB ones take, and its frame still fits the connection's pooled
// buffers.
const maxStreamChunk = 240 << 10

// streamChunkFor returns the largest data message a side sends on the
// data connection under max_message_size maxMessageSize (zero for the
// default): from streamChunk (which the message overhead always admits)
// up to maxStreamChunk.
func streamChunkFor(maxMessageSize int) int {
	return min(max(cmp.Or(maxMessageSize, DefaultMaxMessageSize), streamChunk), maxStreamChunk)
}

// sendBuffers are the buffers the host's side reads a stream's input into,
// maxStreamChunk bytes each.
var sendBuffers = sync.Pool{New: func() any { b := make([]byte, maxStreamChunk); return &b }}

// server adapts a Driver to the generated gRPC service. It names every
// configured resource and open instance by an ID the host uses in later
// calls.
type server struct {
	pb.UnimplementedDriverServiceServer
	driver Driver

	// prefix makes IDs unique to this process, so that an ID kept by the
	// host from before a plugin restart never names a new session.
	prefix string

	// types are the driver's resource types by name, which perform the
	// operations of the types declared with the typed API.
	types map[string]*ResourceType

	mu        sync.Mutex // guards the fields below; never held across a driver call
	next      uint64
	resources map[string]Resource
	instances map[string]Instance
	// resTypes and instTypes are the types of resources and instances,
	// by ID.
	resTypes  map[string]*ResourceType
	instTypes map[string]*ResourceType
	closed    bool

	// maxMessageSize bounds a result; zero means DefaultMaxMessageSize.
	// Set before the server serves.
	maxMessageSize int
}

func newServer(d Driver) *server {
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &server{driver: d, prefix: hex.EncodeToString(b[:]), types: map[string]*ResourceType{},
		resources: map[string]Resource{}, instances: map[string]Instance{},
		resTypes: map[string]*ResourceType{}, instTypes: map[string]*ResourceType{}}
	for _, t := range d.Info().Types {
		s.types[t.Name] = &t
	}
	return s
}

// typeNamed returns the driver's type of that name, or a type that
// describes nothing when the driver has none of that name.
func (s *server) typeNamed(name string) *ResourceType {
	if t, ok := s.types[name]; ok {
		return t
	}
	return &ResourceType{Name: name}
}

// typedInstance returns an instance and its resource type.
func (s *server) typedInstance(id string) (Instance, *ResourceType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.instances[id]
	if !ok {
		return nil, nil, unknownInstance(id)
	}
	return i, s.instTypes[id], nil
}

func unknownInstance(id string) error {
	return Errorf(KindUnavailable, "unknown instance %q (the plugin may have restarted or the instance was closed)", id)
}

func (s *server) nextIDLocked(prefix string) string {
	s.next++
	return prefix + s.prefix + "-" + strconv.FormatUint(s.next, 10)
}

func (s *server) resource(id string) (Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[id]
	if !ok {
		return nil, Errorf(KindUnavailable, "unknown resource %q (the plugin may have restarted)", id)
	}
	return r, nil
}

func (s *server) instance(id string) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.instances[id]
	if !ok {
		return nil, unknownInstance(id)
	}
	return i, nil
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return infoToProto(s.driver.Info()), nil
}

func (s *server) ValidateConfig(ctx context.Context, req *pb.ValidateConfigRequest) (*pb.ValidateConfigResponse, error) {
	v, ok := s.driver.(ConfigValidator)
	if !ok {
		return &pb.ValidateConfigResponse{}, nil
	}
	err := v.ValidateConfig(ctx, ValidateRequest{Type: req.GetType(), Name: req.GetName(), Config: req.GetConfigJson()})
	if err == nil {
		return &pb.ValidateConfigResponse{}, nil
	}
	var out pb.ValidateConfigResponse
	for _, e := range flattenErrors(err) {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			return nil, errorToStatus(e)
		}
		out.Errors = append(out.Errors, &pb.ConfigError{Attribute: ce.Attribute, Summary: ce.Summary, Detail: ce.Detail})
	}
	return &out, nil
}

// flattenErrors undoes errors.Join.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	r, err := s.driver.Configure(ctx, ConfigureRequest{Type: req.GetType(), Name: req.GetName(), Config: req.GetConfigJson()})
	if err != nil {
		return nil, errorToStatus(err)
	}
	if r == nil {
		return nil, errorToStatus(Errorf(KindInternal, "driver returned no resource for %s.%s", req.GetType(), req.GetName()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errorToStatus(Errorf(KindUnavailable, "plugin is shutting down"))
	}
	id := s.nextIDLocked("r")
	s.resources[id] = r
	s.resTypes[id] = s.typeNamed(req.GetType())
	return &pb.ConfigureResponse{ResourceId: id}, nil
}

func (s *server) Unconfigure(ctx context.Context, req *pb.UnconfigureRequest) (*pb.UnconfigureResponse, error) {
	s.mu.Lock()
	r, ok := s.resources[req.GetResourceId()]
	delete(s.resources, req.GetResourceId())
	delete(s.resTypes, req.GetResourceId())
	s.mu.Unlock()
	if !ok {
		return &pb.UnconfigureResponse{}, nil
	}
	return &pb.UnconfigureResponse{}, errorToStatus(r.Close(ctx))
}

func (s *server) Open(ctx context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	r, err := s.resource(req.GetResourceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	inst, err := r.Open(ctx)
	if err != nil {
		return nil, errorToStatus(err)
	}
	s.mu.Lock()
	id := s.nextIDLocked("i")
	s.instances[id] = inst
	s.instTypes[id] = s.resTypes[req.GetResourceId()]
	if s.instTypes[id] == nil {
		s.instTypes[id] = &ResourceType{} // the resource was unconfigured meanwhile
	}
	s.mu.Unlock()
	return &pb.OpenResponse{InstanceId: id}, nil
}

func (s *server) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
	inst, err := s.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	return &pb.CheckResponse{}, errorToStatus(inst.Check(ctx))
}

// checkManyParallel bounds the checks of one CheckMany call that run at
// once.
const checkManyParallel = 16

// CheckMany checks each instance within its own timeout, at most
// checkManyParallel at once, and sends each result as soon as it is
// known, so that one slow backend holds up no other check.
func (s *server) CheckMany(req *pb.CheckManyRequest, stream grpc.ServerStreamingServer[pb.CheckManyResponse]) error {
	ctx := stream.Context()
	var (
		wg      sync.WaitGroup
		sendMu  sync.Mutex // one Send at a time
		sendErr error
		slots   = make(chan struct{}, checkManyParallel)
	)
	for i, c := range req.GetChecks() {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return errorToStatus(ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-slots }()
			resp := &pb.CheckManyResponse{Index: uint32(i)}
			if err := s.checkItem(ctx, c); err != nil {
				resp.Error = errorDetail(err)
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			if sendErr == nil {
				sendErr = stream.Send(resp)
			}
		})
	}
	wg.Wait()
	return sendErr
}

func (s *server) checkItem(ctx context.Context, c *pb.CheckItem) error {
	inst, err := s.instance(c.GetInstanceId())
	if err != nil {
		return err
	}
	if t := c.GetTimeoutNs(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t))
		defer cancel()
	}
	return inst.Check(ctx)
}

func (s *server) Reset(ctx context.Context, req *pb.ResetRequest) (*pb.ResetResponse, error) {
	inst, err := s.instance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	if r, ok := inst.(Resetter); ok {
		err = r.Reset(ctx)
	}
	return &pb.ResetResponse{}, errorToStatus(err)
}

func (s *server) Close(ctx context.Context, req *pb.CloseRequest) (*pb.CloseResponse, error) {
	s.mu.Lock()
	inst, ok := s.instances[req.GetInstanceId()]
	delete(s.instances, req.GetInstanceId())
	delete(s.instTypes, req.GetInstanceId())
	s.mu.Unlock()
	if !ok {
		return &pb.CloseResponse{}, nil
	}
	return &pb.CloseResponse{}, errorToStatus(inst.Close(ctx))
}

func (s *server) Invoke(ctx context.Context, req *pb.InvokeRequest) (*pb.InvokeResponse, error) {
	inst, typ, err := s.typedInstance(req.GetInstanceId())
	if err != nil {
		return nil, errorToStatus(err)
	}
	ctx = withCallerJSON(ctx, req.GetArgsJson())
	res, err := typ.Invoke(ctx, inst, InvokeRequest{Operation: req.GetOperation(), Args: req.GetArgsJson()})
	if err != nil {
		return nil, errorToStatus(err)
	}
	raw, err := marshalResult(res)
	if err != nil {
		return nil, errorToStatus(err)
	}
	if limit := cmp.Or(s.maxMessageSize, DefaultMaxMessageSize); len(raw) > limit {
		return nil, errorToStatus(&Error{Kind: KindInvalidArgument, Code: CodeMessageTooLarge, Message: fmt.Sprintf(
			"the result of %q is %d bytes, more than max_message_size (%d bytes); raise max_message_size in the host block, or ask for less", req.GetOperation(), len(raw), limit)})
	}
	return &pb.InvokeResponse{ResultJson: raw, Session: sessionOf(inst)}, nil
}

func marshalResult(res any) (json.RawMessage, error) {
	if res == nil {
		return json.RawMessage("{}"), nil
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, Errorf(KindInternal, "encode result: %v", err)
	}
	return raw, nil
}

func (s *server) InvokeStream(stream pb.DriverService_InvokeStreamServer) error {
	return s.invokeStream(stream, false)
}

// dataService is the driver service on the data connection, whose Send
// has encoded a message when it returns: a stream's chunks go out of the
// driver's buffer without a copy of their own.
type dataService struct{ *server }

func (d dataService) InvokeStream(stream pb.DriverService_InvokeStreamServer) error {
	return d.invokeStream(stream, true)
}

// invokeStream runs a streaming operation. On the data connection
// (dataConn), Send has encoded a message when it returns (gRPC's may
// still use it) and RecvMsg takes a mux.FrameDecoder, so that chunks go
// without copies of their own.
func (s *server) invokeStream(stream pb.DriverService_InvokeStreamServer, dataConn bool) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return errorToStatus(Errorf(KindInvalidArgument, "stream must begin with a start message"))
	}
	inst, typ, err := s.typedInstance(start.GetInstanceId())
	if err != nil {
		return errorToStatus(err)
	}
	if !typ.Streams(inst) {
		return errorToStatus(Errorf(KindUnimplemented, "operation %q: this resource has no streaming operations", start.GetOperation()))
	}
	var chunk inputChunk
	in := &streamReader{recv: func() ([]byte, error) {
		if dataConn {
			// chunk's buffer is reused: the reader asks for the next
			// chunk once it has handed out this one.
			if err := stream.RecvMsg(&chunk); err != nil {
				return nil, err
			}
		} else {
			m, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			chunk = inputChunk{data: m.GetData(), start: m.GetStart() != nil}
		}
		if chunk.start {
			return nil, Errorf(KindInvalidArgument, "stream started twice")
		}
		return chunk.data, nil
	}}
	out := writerFunc(func(p []byte) error {
		if !dataConn {
			p = bytes.Clone(p)
		}
		return stream.Send(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_Data{Data: p}})
	})
	ctx := withCallerJSON(stream.Context(), start.GetArgsJson())
	res, err := typ.InvokeStream(ctx, inst, InvokeRequest{Operation: start.GetOperation(), Args: start.GetArgsJson()}, in, &chunkWriter{send: out, size: streamChunkFor(s.maxMessageSize)})
	if err != nil {
		return errorToStatus(err)
	}
	raw, err := marshalResult(res)
	if err != nil {
		return errorToStatus(err)
	}
	return stream.Send(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_ResultJson{ResultJson: raw}})
}

// closeAll closes every instance and resource, for plugin shutdown.
func (s *server) closeAll(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	instances, resources := s.instances, s.resources
	s.instances, s.resources = map[string]Instance{}, map[string]Resource{}
	s.instTypes, s.resTypes = map[string]*ResourceType{}, map[string]*ResourceType{}
	s.mu.Unlock()
	for _, i := range instances {
		_ = i.Close(ctx)
	}
	for _, r := range resources {
		_ = r.Close(ctx)
	}
}

// streamReader reads the data messages of a stream as one byte stream.
type streamReader struct {
	recv func() ([]byte, error)
	buf  []byte
	err  error
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.buf, r.err = r.recv()
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			r.err = errorFromStatus(r.err)
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

type writerFunc func([]byte) error

// chunkWriter sends each Write as data messages of at most size bytes
// (streamChunk when zero); send must be done with its bytes when it
// returns.
type chunkWriter struct {
	send writerFunc
	size int
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	size := cmp.Or(w.size, streamChunk)
	written := 0
	for len(p) > 0 {
		n := min(len(p), size)
		if err := w.send(p[:n]); err != nil {
			return written, fmt.Errorf("stream send: %w", err)
		}
		written += n
		p = p[n:]
	}
	return written, nil
}
