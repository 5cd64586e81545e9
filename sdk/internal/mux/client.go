package mux

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ClientOptions configure a [Client].
type ClientOptions struct {
	// MaxMessageSize bounds a message either way, in bytes.
	MaxMessageSize int
	// Interceptors, as a grpc.ClientConn's; they get a nil *grpc.ClientConn.
	UnaryInterceptor  grpc.UnaryClientInterceptor
	StreamInterceptor grpc.StreamClientInterceptor
}

// Client is the host's end of a connection: a grpc.ClientConnInterface
// for the generated clients.
type Client struct {
	c    *conn
	opts ClientOptions
	next atomic.Uint64

	mu     sync.Mutex
	calls  map[uint64]clientCall
	closed error // set when the connection ended

	done chan struct{} // closed when the reader returned
}

// clientCall is a call waiting for frames.
type clientCall interface {
	message(f frame) bool
	window(n int)
	// end ends the call; f is its end frame, or empty when the
	// connection ended.
	end(err error, f frame)
}

// NewClient starts reading nc. Close stops it.
func NewClient(nc net.Conn, opts ClientOptions) *Client {
	c := &Client{c: newConn(nc, opts.MaxMessageSize), opts: opts, calls: map[uint64]clientCall{}, done: make(chan struct{})}
	go c.read()
	return c
}

// Close closes the connection, fails the calls in flight, and waits for
// the reader.
func (c *Client) Close() error {
	c.c.fail(net.ErrClosed)
	<-c.done
	return nil
}

// Done is closed when the connection ended.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) read() {
	defer close(c.done)
	err := c.c.readLoop(c.dispatch)
	c.c.fail(err)
	if cerr := c.c.closeErr(); cerr != nil {
		err = cerr
	}
	st := connClosed(err)
	c.mu.Lock()
	c.closed = st
	calls := c.calls
	c.calls = nil
	c.mu.Unlock()
	for _, call := range calls {
		call.end(st, frame{})
	}
}

func (c *Client) dispatch(f frame) error {
	switch f.typ {
	case frameMessage:
		c.mu.Lock()
		call := c.calls[f.id]
		c.mu.Unlock()
		if call == nil {
			f.release() // a call given up on
			return nil
		}
		if !call.message(f) {
			return errors.New("mux: the plugin sent past a stream's window")
		}
	case frameWindow:
		r := bodyReader{b: f.body}
		n := r.uvarint()
		f.release()
		if r.err != nil || n > 1<<31 {
			return r.err
		}
		c.mu.Lock()
		call := c.calls[f.id]
		c.mu.Unlock()
		if call != nil {
			call.window(int(n))
		}
	case frameEnd:
		c.mu.Lock()
		call := c.calls[f.id]
		delete(c.calls, f.id)
		c.c.calls.Store(int32(len(c.calls)))
		c.mu.Unlock()
		if call == nil {
			f.release()
			return nil
		}
		rest, err := readStatus(f.body)
		f.body = rest
		call.end(err, f)
	default:
		f.release()
		return errors.New("mux: a frame the plugin should not send")
	}
	return nil
}

// register adds a call and returns its id, or the connection's end.
func (c *Client) register(call clientCall) (uint64, error) {
	id := c.next.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		return 0, c.closed
	}
	c.calls[id] = call
	c.c.calls.Store(int32(len(c.calls)))
	return id, nil
}

// unregister removes a call; it reports false when the reader removed it
// first, and so has ended it or is about to.
func (c *Client) unregister(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.calls[id]; !ok {
		return false
	}
	delete(c.calls, id)
	c.c.calls.Store(int32(len(c.calls)))
	return true
}

// appendRequest appends a request frame, with msg unless it is nil.
func (c *Client) appendRequest(ctx context.Context, b []byte, id uint64, method string, flags byte, msg any) ([]byte, error) {
	b = beginFrame(b, frameRequest, id)
	b = append(b, flags)
	var timeout uint64
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return b, status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
		}
		timeout = uint64(d)
	}
	b = binary.AppendUvarint(b, timeout)
	b = appendString(b, method)
	md, _ := metadata.FromOutgoingContext(ctx)
	pairs := 0
	for _, vs := range md {
		pairs += len(vs)
	}
	b = binary.AppendUvarint(b, uint64(pairs))
	for k, vs := range md {
		for _, v := range vs {
			b = appendString(appendString(b, k), v)
		}
	}
	if flags&flagMessage != 0 {
		var err error
		if b, err = c.c.appendMessage(b, msg); err != nil {
			return b, err
		}
	}
	return endFrame(b, 0), nil
}

// Invoke performs a unary call.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if c.opts.UnaryInterceptor != nil {
		return c.opts.UnaryInterceptor(ctx, method, args, reply, nil, c.invoke, opts...)
	}
	return c.invoke(ctx, method, args, reply, nil, opts...)
}

// unaryCall waits for the end frame of a unary call.
type unaryCall struct {
	done  chan struct{}
	err   error
	reply frame
}

var unaryPool = sync.Pool{New: func() any { return &unaryCall{done: make(chan struct{}, 1)} }}

func (u *unaryCall) message(f frame) bool { f.release(); return false }
func (u *unaryCall) window(int)           {}
func (u *unaryCall) end(err error, f frame) {
	u.err, u.reply = err, f
	u.done <- struct{}{}
}

func (c *Client) invoke(ctx context.Context, method string, args, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
	if ctx.Err() != nil {
		return ctxStatus(ctx)
	}
	u := unaryPool.Get().(*unaryCall)
	id, err := c.register(u)
	if err != nil {
		unaryPool.Put(u)
		return err
	}
	buf := getBuf(512)
	b, err := c.appendRequest(ctx, *buf, id, method, flagMessage|flagHalfClose, args)
	if err == nil {
		err = c.c.write(b)
		if err != nil {
			err = connClosed(err)
		}
	}
	*buf = b
	putBuf(buf)
	if err != nil {
		if !c.unregister(id) {
			<-u.done
			u.reply.release()
		}
		unaryPool.Put(u)
		return err
	}
	select {
	case <-u.done:
	case <-ctx.Done():
		if c.unregister(id) {
			// The plugin stops the call; its end, if it comes, is
			// dropped.
			_ = c.c.sendSimple(frameCancel, id, 0, false)
			unaryPool.Put(u)
			return ctxStatus(ctx)
		}
		<-u.done // the reader has its end
	}
	err = u.err
	if err == nil {
		err = unmarshal(u.reply.body, reply)
	}
	u.reply.release()
	u.err = nil
	unaryPool.Put(u)
	return err
}

// NewStream opens a streaming call.
func (c *Client) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.opts.StreamInterceptor != nil {
		return c.opts.StreamInterceptor(ctx, desc, nil, method, c.newStream, opts...)
	}
	return c.newStream(ctx, desc, nil, method, opts...)
}

func (c *Client) newStream(ctx context.Context, desc *grpc.StreamDesc, _ *grpc.ClientConn, method string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	if ctx.Err() != nil {
		return nil, ctxStatus(ctx)
	}
	s := &clientStream{c: c, ctx: ctx, desc: desc, method: method}
	s.in.init()
	s.out.init()
	id, err := c.register(s)
	if err != nil {
		return nil, err
	}
	s.id = id
	s.stop = context.AfterFunc(ctx, s.cancel)
	return s, nil
}

// clientStream is a streaming call. One goroutine may send while another
// receives, as on gRPC.
type clientStream struct {
	c      *Client
	ctx    context.Context
	desc   *grpc.StreamDesc
	method string
	id     uint64
	stop   func() bool

	// The sender's: the request goes out with the first message, or, for
	// a stream of the server's only, with the half-close that follows it.
	started bool
	held    *[]byte // the first message of a server stream, marshalled

	in  inbox
	out credit
}

func (s *clientStream) message(f frame) bool { return s.in.deliver(f) }
func (s *clientStream) window(n int)         { s.out.grant(n) }
func (s *clientStream) end(err error, f frame) {
	f.release()
	s.out.stop()
	s.in.end(err)
}

// cancel runs when the stream's context ends first.
func (s *clientStream) cancel() {
	if s.c.unregister(s.id) {
		_ = s.c.c.sendSimple(frameCancel, s.id, 0, false)
		s.out.stop()
		s.in.abort(ctxStatus(s.ctx))
	}
}

// Abandon lets the stream end on its own, for a caller that read a
// message saying that it is the last: the end that follows is dropped as
// it arrives, and canceling the stream's context no longer cancels the
// call (no frame is sent for it).
func (s *clientStream) Abandon() { s.stop() }

func (s *clientStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }
func (s *clientStream) Trailer() metadata.MD         { return nil }
func (s *clientStream) Context() context.Context     { return s.ctx }

// start sends the request, with the held message if any.
func (s *clientStream) start(flags byte, msg any) error {
	buf := getBuf(512)
	b, err := s.c.appendRequest(s.ctx, *buf, s.id, s.method, flags, msg)
	if err == nil {
		s.started = true
		if err = s.c.c.write(b); err != nil {
			err = connClosed(err)
		}
	}
	*buf = b
	putBuf(buf)
	return err
}

func (s *clientStream) SendMsg(m any) error {
	if err := s.ctx.Err(); err != nil {
		return ctxStatus(s.ctx)
	}
	if !s.started {
		if s.desc.ClientStreams {
			return s.sendErr(s.start(flagMessage, m))
		}
		if s.held != nil {
			return status.Error(codes.Internal, "mux: a second message on a stream of the server's")
		}
		buf := getBuf(512)
		b, err := s.c.c.appendMessage(*buf, m)
		*buf = b
		if err != nil {
			putBuf(buf)
			return err
		}
		s.held = buf
		return nil
	}
	buf, err := s.c.c.messageFrame(s.id, m)
	defer putBuf(buf)
	if err != nil {
		return err
	}
	ok, err := s.out.take(s.ctx, len(*buf)-headerSize)
	if err != nil {
		return err
	}
	if !ok {
		return io.EOF // the call ended: RecvMsg says how
	}
	return s.sendErr(s.c.c.write(*buf))
}

// sendErr is what SendMsg returns for err: io.EOF once the call has
// ended, as on gRPC, so that the caller learns why from RecvMsg.
func (s *clientStream) sendErr(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unavailable {
		return err
	}
	return io.EOF
}

func (s *clientStream) CloseSend() error {
	if !s.started {
		flags := flagHalfClose
		var msg any
		if s.held != nil {
			flags |= flagMessage
			msg = rawMessage(*s.held)
		}
		err := s.start(flags, msg)
		if s.held != nil {
			putBuf(s.held)
			s.held = nil
		}
		return s.sendErr(err)
	}
	return s.sendErr(s.c.c.sendSimple(frameHalfClose, s.id, 0, false))
}

func (s *clientStream) RecvMsg(m any) error {
	var (
		f     frame
		grant int
		err   error
	)
	if s.ctx.Err() != nil {
		err = ctxStatus(s.ctx) // as on gRPC: what was not read is dropped
	} else {
		f, grant, err = s.in.next(s.ctx)
	}
	if err != nil {
		s.stop()
		if s.c.unregister(s.id) {
			// The context ended: the plugin stops the call.
			_ = s.c.c.sendSimple(frameCancel, s.id, 0, false)
		}
		return err
	}
	err = unmarshal(f.body, m)
	f.release()
	if grant > 0 {
		_ = s.c.c.sendSimple(frameWindow, s.id, uint64(grant), true)
	}
	return err
}

// rawMessage is a message already marshalled.
type rawMessage []byte
