package mux

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
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
//
// It has no reader goroutine: a caller waiting for its answer reads the
// connection itself when no other caller is reading it, and hands what
// it reads for other calls to them. So one call alone costs no hand-off
// between goroutines (each wakes another thread on these machines, for
// tens of microseconds), and under load the caller that reads hands the
// reading on, when its own answer is in, to another that waits.
type Client struct {
	c    *conn
	opts ClientOptions
	next atomic.Uint64
	fr   *frameReader // used by the reading caller only

	mu      sync.Mutex
	calls   map[uint64]clientCall
	closed  error           // set when the connection ended
	reading bool            // a caller is reading the connection
	waiters []chan struct{} // callers waiting that would read

	done chan struct{} // closed when the connection ended
}

// clientCall is a call waiting for frames.
type clientCall interface {
	message(f frame) bool
	window(n int)
	// end ends the call; f is its end frame, or empty when the
	// connection ended.
	end(err error, f frame)
}

// NewClient returns a client of the connection nc. Close closes it.
func NewClient(nc net.Conn, opts ClientOptions) *Client {
	c := &Client{c: newConn(nc, opts.MaxMessageSize), opts: opts, calls: map[uint64]clientCall{}, done: make(chan struct{})}
	c.fr = newFrameReader(nc, c.c.maxBody)
	return c
}

// Close closes the connection and fails the calls in flight.
func (c *Client) Close() error {
	c.shutdown(net.ErrClosed)
	return nil
}

// Done is closed when the connection ended, as a call that failed for it
// or Close found.
func (c *Client) Done() <-chan struct{} { return c.done }

// shutdown ends the connection with err, and every call on it.
func (c *Client) shutdown(err error) {
	c.c.fail(err)
	if cerr := c.c.closeErr(); cerr != nil {
		err = cerr
	}
	st := connClosed(err)
	c.mu.Lock()
	if c.calls == nil {
		c.mu.Unlock()
		return
	}
	c.closed = st
	calls, waiters := c.calls, c.waiters
	c.calls, c.waiters = nil, nil
	c.c.calls.Store(0)
	c.mu.Unlock()
	for _, call := range calls {
		call.end(st, frame{})
	}
	for _, w := range waiters {
		signal(w)
	}
	close(c.done)
}

// await waits until r is ready or ctx ends, reading the connection while
// no other caller does; notify is signalled whenever r may have become
// ready, and when this caller is to take the reading on.
func (c *Client) await(ctx context.Context, notify chan struct{}, r readiness) error {
	parked := false // notify may be among the waiters
	for {
		if r.ready() {
			if parked {
				c.passOn(notify)
			}
			return nil
		}
		c.mu.Lock()
		if parked {
			// Woken: by wakeOneLocked, which took notify off the waiters,
			// or by a signal for r (maybe one left from a message already
			// read), which left it on. Either way it is listed once at
			// most, or a stale entry would later be handed the reading in
			// place of a caller that waits.
			c.removeWaiterLocked(notify)
			parked = false
		}
		if !c.reading && c.calls != nil {
			c.reading = true
			c.mu.Unlock()
			err := c.readFor(ctx, r)
			c.mu.Lock()
			c.reading = false
			c.wakeOneLocked()
			c.mu.Unlock()
			if err != nil {
				return err
			}
			continue
		}
		if c.calls != nil {
			c.waiters = append(c.waiters, notify)
			parked = true
		} // else the connection ended, and r's end is being delivered
		c.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			if parked {
				c.passOn(notify)
			}
			return ctxStatus(ctx)
		}
	}
}

// passOn takes a caller that stops waiting off the waiters, and, when it
// may have been the one chosen to read next, wakes another in its place.
func (c *Client) passOn(notify chan struct{}) {
	c.mu.Lock()
	c.removeWaiterLocked(notify)
	if !c.reading {
		c.wakeOneLocked()
	}
	c.mu.Unlock()
}

// removeWaiterLocked takes notify off the waiters, if it is there.
func (c *Client) removeWaiterLocked(notify chan struct{}) {
	if i := slices.Index(c.waiters, notify); i >= 0 {
		c.waiters = slices.Delete(c.waiters, i, i+1)
	}
}

// wakeOneLocked wakes a waiting caller to read, if one waits.
func (c *Client) wakeOneLocked() {
	if n := len(c.waiters); n > 0 {
		w := c.waiters[n-1]
		c.waiters = c.waiters[:n-1]
		signal(w)
	}
}

// aLongTimeAgo is a read deadline that has passed: it interrupts a read.
var aLongTimeAgo = time.Unix(1, 0)

// readFor reads and dispatches frames until r is ready, ctx ends (its
// status) or the connection ends (then every call has ended, r's too).
// Frames left whole in the buffer are dispatched before it returns, so
// that their callers need no reader.
func (c *Client) readFor(ctx context.Context, r readiness) error {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = c.c.nc.SetReadDeadline(aLongTimeAgo) })
	}
	var err error
	for !r.ready() {
		var f frame
		if f, err = c.fr.next(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// This caller's context ended, or another's, late.
				_ = c.c.nc.SetReadDeadline(time.Time{})
				if ctx.Err() != nil {
					err = ctxStatus(ctx)
					break
				}
				err = nil
				continue
			}
			c.shutdown(err)
			err = nil
			break
		}
		if err = c.dispatch(f); err != nil {
			c.shutdown(err)
			err = nil
			break
		}
	}
	for err == nil && c.fr.buffered() {
		f, ferr := c.fr.next()
		if ferr == nil {
			ferr = c.dispatch(f)
		}
		if ferr != nil {
			c.shutdown(ferr)
		}
	}
	if stop != nil && !stop() {
		// The deadline was set, or is being: the next reader clears it.
		_ = c.c.nc.SetReadDeadline(time.Time{})
	}
	return err
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
	notify chan struct{}
	fin    atomic.Bool // err and reply are set
	err    error
	reply  frame
}

var unaryPool = sync.Pool{New: func() any { return &unaryCall{notify: make(chan struct{}, 1)} }}

func (u *unaryCall) message(f frame) bool { f.release(); return false }
func (u *unaryCall) window(int)           {}
func (u *unaryCall) end(err error, f frame) {
	u.err, u.reply = err, f
	u.fin.Store(true)
	signal(u.notify)
}
func (u *unaryCall) ready() bool { return u.fin.Load() }

// putUnary returns u to the pool once its end was taken.
func putUnary(u *unaryCall) {
	u.err, u.reply = nil, frame{}
	u.fin.Store(false)
	select {
	case <-u.notify: // a signal no one took
	default:
	}
	unaryPool.Put(u)
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
	sent := err == nil
	if sent {
		err = c.await(ctx, u.notify, u)
	}
	if err != nil && c.unregister(id) {
		if sent {
			// The plugin stops the call; its end, if it comes, is
			// dropped.
			_ = c.c.sendSimple(frameCancel, id, 0, false)
		}
		putUnary(u)
		return err
	}
	if !u.ready() {
		// Its end is being delivered.
		_ = c.await(context.Background(), u.notify, u)
	}
	if err == nil {
		if err = u.err; err == nil {
			err = unmarshal(u.reply.body, reply)
		}
	}
	u.reply.release()
	putUnary(u)
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
	if desc.ClientStreams {
		s.out.init() // a stream of the server's only sends its request
	}
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
	s.out.stop()
	if err == nil && len(f.body) > 0 && f.body[0] == 1 {
		// The stream's last message came with its end.
		f.body = f.body[1:]
		s.in.deliver(f)
	} else {
		f.release()
	}
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
	if !s.desc.ClientStreams {
		return status.Error(codes.Internal, "mux: a message after the request of a stream of the server's")
	}
	buf, err := s.c.c.messageFrame(s.id, m)
	defer putBuf(buf)
	if err != nil {
		return err
	}
	ok, err := s.out.take(s.ctx, len(*buf)-headerSize, s.c)
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
		f, grant, err = s.in.next(s.ctx, s.c)
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
