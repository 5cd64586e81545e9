package goplugin

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/gopluginv1"
)

// HealthService is the service name whose status go-plugin's client asks
// the gRPC health service for; a plugin reports it SERVING.
const HealthService = "plugin"

// The gRPC method paths of go-plugin's services: protobuf package
// "plugin", as go-plugin's internal/plugin/*.proto declare them.
const (
	shutdownMethod    = "/plugin.GRPCController/Shutdown"
	streamStdioMethod = "/plugin.GRPCStdio/StreamStdio"
	startStreamMethod = "/plugin.GRPCBroker/StartStream"
)

// Services are go-plugin's services on the plugin's side. Make them with
// [Register].
type Services struct {
	shutdown     chan struct{}
	shutdownOnce sync.Once
	stdio        *Stdio
}

// Register registers on s the services go-plugin's client uses besides
// the plugin's own: the health service with [HealthService] SERVING,
// GRPCController, whose Shutdown closes the channel ShutdownRequested
// returns, GRPCStdio, which sends what stdio captured (nil: nothing), and
// GRPCBroker, which takes the host's stream and offers nothing on it (the
// SDK brokers no further connections).
func Register(s *grpc.Server, stdio *Stdio) *Services {
	svc := &Services{shutdown: make(chan struct{}), stdio: stdio}
	hs := health.NewServer()
	hs.SetServingStatus(HealthService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	s.RegisterService(&controllerDesc, svc)
	s.RegisterService(&stdioDesc, svc)
	s.RegisterService(&brokerDesc, svc)
	return svc
}

// ShutdownRequested is closed when the host has called
// GRPCController.Shutdown: the plugin then stops serving and exits.
func (s *Services) ShutdownRequested() <-chan struct{} { return s.shutdown }

func (s *Services) shutdownCalled(context.Context, *pb.Empty) (*pb.Empty, error) {
	// go-plugin's server stops its gRPC server within the call; here the
	// caller stops it once the answer is on its way.
	s.shutdownOnce.Do(func() { close(s.shutdown) })
	return &pb.Empty{}, nil
}

func (s *Services) streamStdio(stream grpc.ServerStream) error {
	if s.stdio == nil {
		<-stream.Context().Done()
		return nil
	}
	return s.stdio.send(stream)
}

func (s *Services) startStream(stream grpc.ServerStream) error {
	for {
		if err := stream.RecvMsg(new(pb.ConnInfo)); err != nil {
			// The host closed the stream or the connection.
			return nil
		}
	}
}

// serviceHandler is the type the service descriptions below are checked
// against on registration.
type serviceHandler interface {
	shutdownCalled(context.Context, *pb.Empty) (*pb.Empty, error)
	streamStdio(grpc.ServerStream) error
	startStream(grpc.ServerStream) error
}

var _ serviceHandler = (*Services)(nil)

var controllerDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCController",
	HandlerType: (*serviceHandler)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Shutdown",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(pb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			s := srv.(serviceHandler)
			if interceptor == nil {
				return s.shutdownCalled(ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: shutdownMethod}
			return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				return s.shutdownCalled(ctx, req.(*pb.Empty))
			})
		},
	}},
	Metadata: "grpc_controller.proto",
}

var stdioDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCStdio",
	HandlerType: (*serviceHandler)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "StreamStdio",
		Handler: func(srv any, stream grpc.ServerStream) error {
			if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			return srv.(serviceHandler).streamStdio(stream)
		},
		ServerStreams: true,
	}},
	Metadata: "grpc_stdio.proto",
}

var brokerDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCBroker",
	HandlerType: (*serviceHandler)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "StartStream",
		Handler: func(srv any, stream grpc.ServerStream) error {
			return srv.(serviceHandler).startStream(stream)
		},
		ServerStreams: true,
		ClientStreams: true,
	}},
	Metadata: "grpc_broker.proto",
}

// stdioChunk is the most bytes one StdioData carries, as in go-plugin.
const stdioChunk = 1024

// Stdio captures what the plugin writes to os.Stdout and os.Stderr once it
// has printed its handshake line, for GRPCStdio to send to the host, as
// go-plugin's server does: the host logs it line by line.
type Stdio struct {
	// The writing ends, which os.Stdout and os.Stderr are set to, and the
	// files they replaced, put back by Close.
	outW, errW     *os.File
	oldOut, oldErr *os.File
	out, err       chan []byte
	done           chan struct{}
	readers        sync.WaitGroup
	closeOnce      sync.Once
	outR, errR     *os.File
}

// CaptureStdio points os.Stdout and os.Stderr at pipes read into the
// GRPCStdio stream. Close puts them back.
func CaptureStdio() (*Stdio, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	s := &Stdio{
		outW: outW, errW: errW, outR: outR, errR: errR,
		oldOut: os.Stdout, oldErr: os.Stderr,
		out: make(chan []byte), err: make(chan []byte),
		done: make(chan struct{}),
	}
	s.readers.Add(2)
	go s.read(outR, s.out)
	go s.read(errR, s.err)
	os.Stdout, os.Stderr = outW, errW
	return s, nil
}

// read hands what r yields to ch until r ends or Close.
func (s *Stdio) read(r io.Reader, ch chan<- []byte) {
	defer s.readers.Done()
	for {
		buf := make([]byte, stdioChunk)
		n, err := r.Read(buf)
		if n > 0 {
			select {
			case ch <- buf[:n]:
			case <-s.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// send streams the captured output until the stream ends or Close.
func (s *Stdio) send(stream grpc.ServerStream) error {
	for {
		var data pb.StdioData
		select {
		case data.Data = <-s.out:
			data.Channel = pb.StdioData_STDOUT
		case data.Data = <-s.err:
			data.Channel = pb.StdioData_STDERR
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return nil
		}
		if err := stream.SendMsg(&data); err != nil {
			return err
		}
	}
}

// Close puts os.Stdout and os.Stderr back, so that what the plugin prints
// while it exits reaches the host's side of its stderr, and stops the
// readers; what they had not sent is dropped. It is safe to call twice.
func (s *Stdio) Close() error {
	s.closeOnce.Do(func() {
		os.Stdout, os.Stderr = s.oldOut, s.oldErr
		close(s.done)
		_ = s.outW.Close()
		_ = s.errW.Close()
		// Closing the reading ends too ends a read that a child holding a
		// writing end would otherwise keep waiting.
		_ = s.outR.Close()
		_ = s.errR.Close()
		s.readers.Wait()
	})
	return nil
}

// Shutdown asks the plugin on conn to stop: GRPCController.Shutdown.
func Shutdown(ctx context.Context, conn grpc.ClientConnInterface) error {
	return conn.Invoke(ctx, shutdownMethod, &pb.Empty{}, &pb.Empty{})
}

// StreamStdio calls GRPCStdio.StreamStdio on conn and hands each piece of
// the plugin's stdout and stderr to w (stdout is true for stdout) until the
// stream ends, which it does when ctx ends or the connection closes.
func StreamStdio(ctx context.Context, conn grpc.ClientConnInterface, w func(stdout bool, p []byte)) error {
	stream, err := conn.NewStream(ctx, &stdioDesc.Streams[0], streamStdioMethod)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	for {
		var data pb.StdioData
		if err := stream.RecvMsg(&data); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch data.GetChannel() {
		case pb.StdioData_STDOUT:
			w(true, data.GetData())
		case pb.StdioData_STDERR:
			w(false, data.GetData())
		}
	}
}
