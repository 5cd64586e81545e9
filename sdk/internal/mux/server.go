package mux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type servedKey struct{}

// Served reports whether ctx is the context of a call a [Server] answers:
// one from a host that speaks protocol version 2.
func Served(ctx context.Context) bool {
	v, _ := ctx.Value(servedKey{}).(bool)
	return v
}

// ServerOptions configure a [Server].
type ServerOptions struct {
	// MaxMessageSize bounds a message either way, in bytes.
	MaxMessageSize    int
	UnaryInterceptor  grpc.UnaryServerInterceptor
	StreamInterceptor grpc.StreamServerInterceptor
}

// Server is the plugin's end: a grpc.ServiceRegistrar whose services
// Serve answers on a connection.
type Server struct {
	opts    ServerOptions
	methods map[string]*method
}

type method struct {
	name   string
	srv    any
	unary  grpc.MethodHandler
	stream *grpc.StreamDesc
}

// NewServer returns a server with no services.
func NewServer(opts ServerOptions) *Server {
	return &Server{opts: opts, methods: map[string]*method{}}
}

// RegisterService registers a service's methods; call it before Serve.
func (s *Server) RegisterService(sd *grpc.ServiceDesc, impl any) {
	for i := range sd.Methods {
		name := "/" + sd.ServiceName + "/" + sd.Methods[i].MethodName
		s.methods[name] = &method{name: name, srv: impl, unary: sd.Methods[i].Handler}
	}
	for i := range sd.Streams {
		name := "/" + sd.ServiceName + "/" + sd.Streams[i].StreamName
		s.methods[name] = &method{name: name, srv: impl, stream: &sd.Streams[i]}
	}
}

// Serve answers calls on nc until it closes or ctx ends, then cancels
// the calls still running, waits for them, and returns.
func (s *Server) Serve(ctx context.Context, nc net.Conn) error {
	c := newConn(nc, s.opts.MaxMessageSize)
	ctx, cancel := context.WithCancel(context.WithValue(ctx, servedKey{}, true))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.fail(net.ErrClosed) })
	defer stop()
	sc := &serverConn{s: s, c: c, base: ctx, calls: map[uint64]*serverCall{}, work: make(chan *serverCall),
		fr: newFrameReader(nc, c.maxBody), readDone: make(chan error, 1)}
	sc.wg.Add(1)
	go sc.worker(nil)
	err := <-sc.readDone
	c.fail(err)
	cancel()
	sc.mu.Lock()
	for _, call := range sc.calls {
		call.in.end(status.Error(codes.Canceled, "connection closed"))
	}
	sc.mu.Unlock()
	sc.wg.Wait()
	sc.fr.release()
	if closedConn(err) {
		return nil
	}
	return err
}

// serverConn answers the calls of one connection. Its goroutines are
// workers: one at a time leads, reading the connection; a request that
// is the last frame it has read it runs itself, having made another
// worker the leader, so that a call alone is read and answered by one
// goroutine; one with more frames behind it goes to an idle worker.
type serverConn struct {
	s    *Server
	c    *conn
	base context.Context
	wg   sync.WaitGroup   // the workers
	work chan *serverCall // to an idle worker: a call to run, or nil to lead

	fr       *frameReader // the leader's
	readDone chan error   // why the connection ended, from the leader

	mu    sync.Mutex
	calls map[uint64]*serverCall
}

// serverCall is a call being answered; for a stream it is also the
// grpc.ServerStream its handler gets.
type serverCall struct {
	sc     *serverConn
	id     uint64
	ctx    context.Context
	cancel context.CancelFunc
	in     inbox
	out    credit

	// What the worker runs: the method (nil when unknown), its name, the
	// request's flags and the request frame.
	m     *method
	name  string
	flags byte
	req   frame

	// last is a stream's last message, marshalled, which leaves in the
	// end frame (SendLast).
	last *[]byte
}

func (sc *serverConn) dispatch(f frame) error {
	sc.mu.Lock()
	call := sc.calls[f.id]
	sc.mu.Unlock()
	switch f.typ {
	case frameMessage:
		if call == nil {
			f.release()
			return nil
		}
		if !call.in.deliver(f) {
			return fmt.Errorf("%w: the host sent past a stream's window", errProtocol)
		}
		return nil
	case frameHalfClose:
		if call != nil {
			call.in.end(nil)
		}
	case frameCancel:
		if call != nil {
			call.cancel()
			call.in.end(status.Error(codes.Canceled, context.Canceled.Error()))
		}
	case frameWindow:
		r := bodyReader{b: f.body}
		n := r.uvarint()
		if r.err != nil || n > 1<<31 {
			f.release()
			return fmt.Errorf("%w: a bad window frame", errProtocol)
		}
		if call != nil {
			call.out.grant(int(n))
		}
	default:
		f.release()
		return fmt.Errorf("%w: a frame of type %d", errProtocol, f.typ)
	}
	f.release()
	return nil
}

// lead reads the connection until a request is the last frame read,
// and returns that call for this worker to run, having handed the
// reading to another; or reads until the connection ends (nil).
func (sc *serverConn) lead() *serverCall {
	for {
		f, err := sc.fr.next()
		if err == nil {
			if f.typ != frameRequest {
				err = sc.dispatch(f)
			} else {
				var call *serverCall
				if call, err = sc.open(f); err == nil {
					if sc.fr.buffered() {
						sc.handOff(call)
						continue
					}
					sc.handOff(nil)
					return call
				}
			}
		}
		if err != nil {
			sc.readDone <- err
			return nil
		}
	}
}

// handOff gives an idle worker, or a new one, a call to run, or the
// reading (nil).
func (sc *serverConn) handOff(call *serverCall) {
	select {
	case sc.work <- call:
	default:
		sc.wg.Add(1)
		go sc.worker(call)
	}
}

// open reads a request and opens its call.
func (sc *serverConn) open(f frame) (*serverCall, error) {
	r := bodyReader{b: f.body}
	flags := r.byte()
	timeout := r.uvarint()
	name := r.bytes()
	pairs := r.uvarint()
	var md metadata.MD
	if pairs > 0 && r.err == nil {
		if pairs > uint64(len(r.b)) {
			r.fail()
		} else {
			md = make(metadata.MD, pairs)
			for range pairs {
				k, v := r.bytes(), r.bytes()
				md.Append(string(k), string(v))
			}
		}
	}
	if r.err != nil {
		f.release()
		return nil, r.err
	}
	m := sc.s.methods[string(name)]
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(sc.base, time.Duration(timeout))
	} else {
		ctx, cancel = context.WithCancel(sc.base)
	}
	if md != nil {
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	call := &serverCall{sc: sc, id: f.id, ctx: ctx, cancel: cancel}
	if m == nil || m.stream != nil {
		// A unary call waits on neither (signalling a nil channel is a
		// no-op).
		call.in.init()
		call.out.init()
	}
	sc.mu.Lock()
	if _, dup := sc.calls[f.id]; dup {
		sc.mu.Unlock()
		cancel()
		f.release()
		return nil, fmt.Errorf("%w: call %d opened twice", errProtocol, f.id)
	}
	sc.calls[f.id] = call
	sc.c.calls.Store(int32(len(sc.calls)))
	sc.mu.Unlock()
	f.body = r.b // the first message, if any
	if m != nil && m.stream != nil {
		// A stream's first message and half-close are queued before the
		// frames that follow the request are read.
		if flags&flagMessage != 0 {
			call.in.deliver(frame{typ: frameMessage, body: append([]byte(nil), f.body...)})
		}
		if flags&flagHalfClose != 0 {
			call.in.end(nil)
		}
	}
	call.m, call.name, call.flags, call.req = m, string(name), flags, f
	return call, nil
}

// workerIdle is how long a worker with no call waits for one before it
// exits.
const workerIdle = 10 * time.Second

// worker runs calls, and leads when it is handed the reading (a nil
// call): the call it was started with, then any an idle worker is
// handed, until it has been idle for workerIdle or the connection ends.
// Workers are reused rather than started per call, so that a call runs
// on a stack that has already grown.
func (sc *serverConn) worker(call *serverCall) {
	defer sc.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		if call == nil {
			if call = sc.lead(); call == nil {
				return
			}
		}
		sc.run(call)
		idle.Reset(workerIdle)
		select {
		case call = <-sc.work:
		case <-idle.C:
			return
		case <-sc.base.Done():
			return
		}
	}
}

func (sc *serverConn) run(call *serverCall) {
	m, name, flags, f := call.m, call.name, call.flags, call.req
	call.req = frame{}
	var (
		reply any
		err   error
	)
	switch {
	case m == nil:
		f.release()
		err = status.Errorf(codes.Unimplemented, "unknown method %q", name)
	case m.unary != nil:
		if flags&flagMessage == 0 {
			f.release()
			err = status.Errorf(codes.Internal, "mux: a unary call of %s without its message", name)
			break
		}
		dec := func(v any) error { return unmarshal(f.body, v) }
		reply, err = m.unary(m.srv, call.ctx, dec, sc.s.opts.UnaryInterceptor)
		f.release()
	default:
		f.release() // start queued the first message
		handler := m.stream.Handler
		if ic := sc.s.opts.StreamInterceptor; ic != nil {
			err = ic(m.srv, call, &grpc.StreamServerInfo{FullMethod: name, IsClientStream: m.stream.ClientStreams, IsServerStream: m.stream.ServerStreams}, handler)
		} else {
			err = handler(m.srv, call)
		}
	}
	sc.mu.Lock()
	delete(sc.calls, call.id)
	sc.c.calls.Store(int32(len(sc.calls)))
	sc.mu.Unlock()
	canceled := call.ctx.Err() != nil
	call.cancel()
	call.out.stop()
	call.in.drop()
	if canceled && err == nil {
		err = ctxStatus(call.ctx)
	}
	if last := call.last; last != nil {
		call.last = nil
		if err == nil {
			reply = lastMessage(*last)
		} else {
			// The message the handler sent reaches the host before its
			// error, as any other would.
			buf := getBuf(headerSize + len(*last))
			*buf = endFrame(append(beginFrame(*buf, frameMessage, call.id), *last...), 0)
			_ = sc.c.write(*buf)
			putBuf(buf)
		}
		defer putBuf(last)
	}
	sc.end(call.id, reply, err)
}

// end sends a call's end frame: its status, and a unary call's reply or
// a stream's last message (after a byte 1 that tells it from no message).
func (sc *serverConn) end(id uint64, reply any, err error) {
	buf := getBuf(512)
	defer putBuf(buf)
	b := beginFrame(*buf, frameEnd, id)
	if err == nil && reply != nil {
		start := len(b)
		b = append(b, 0)
		if last, ok := reply.(lastMessage); ok {
			b = append(append(b, 1), last...)
		} else if b, err = sc.c.appendMessage(b, reply); err != nil {
			b = b[:start]
		}
	}
	if err != nil || reply == nil {
		b = appendStatus(b, err)
	}
	*buf = b
	_ = sc.c.write(endFrame(b, 0))
}

// lastMessage is a stream's last message, marshalled.
type lastMessage []byte

// The grpc.ServerStream of a streaming call.

func (call *serverCall) Context() context.Context     { return call.ctx }
func (call *serverCall) SetHeader(metadata.MD) error  { return nil }
func (call *serverCall) SendHeader(metadata.MD) error { return nil }
func (call *serverCall) SetTrailer(metadata.MD)       {}

func (call *serverCall) SendMsg(m any) error {
	if call.ctx.Err() != nil {
		return ctxStatus(call.ctx)
	}
	buf, err := call.sc.c.messageFrame(call.id, m)
	defer putBuf(buf)
	if err != nil {
		return err
	}
	ok, err := call.out.take(call.ctx, len(*buf)-headerSize, selectAwaiter{})
	if err != nil {
		return err
	}
	if !ok {
		return status.Error(codes.Canceled, "the call ended")
	}
	if err := call.sc.c.write(*buf); err != nil {
		return connClosed(err)
	}
	return nil
}

// SendLast sends m as the stream's last message: it leaves with the
// call's end, in one frame, when the handler returns nil (before its
// error otherwise). The handler sends nothing after it.
func (call *serverCall) SendLast(m any) error {
	if call.ctx.Err() != nil {
		return ctxStatus(call.ctx)
	}
	if call.last != nil {
		return status.Error(codes.Internal, "mux: a stream's last message sent twice")
	}
	buf := getBuf(512)
	b, err := call.sc.c.appendMessage(*buf, m)
	*buf = b
	if err != nil {
		putBuf(buf)
		return err
	}
	ok, err := call.out.take(call.ctx, len(b), selectAwaiter{})
	if err == nil && !ok {
		err = status.Error(codes.Canceled, "the call ended")
	}
	if err != nil {
		putBuf(buf)
		return err
	}
	call.last = buf
	return nil
}

// SendLast sends m on ss as the stream's last message, in the frame that
// ends the call when ss is a stream a [Server] answers (seen through
// wrappers that have a SendLast of their own), or as any other message
// otherwise. The handler must send nothing after it.
func SendLast(ss grpc.ServerStream, m any) error {
	if l, ok := ss.(interface{ SendLast(any) error }); ok {
		return l.SendLast(m)
	}
	return ss.SendMsg(m)
}

func (call *serverCall) RecvMsg(m any) error {
	f, grant, err := call.in.next(call.ctx, selectAwaiter{})
	if err != nil {
		return err
	}
	err = unmarshal(f.body, m)
	f.release()
	if grant > 0 {
		_ = call.sc.c.sendSimple(frameWindow, call.id, uint64(grant), true)
	}
	return err
}

// closedConn reports whether err is the peer's or this end's closing of
// the connection rather than a fault.
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
