package mux

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Window is the credit, in bytes of messages, that each direction of a
// stream starts with. A sender sends while it has credit left, so a
// stream holds at most Window plus one message unread at its receiver.
const Window = 512 << 10

// maxPending bounds the frames that wait for the writer; a caller that
// would go over it waits.
const maxPending = 1 << 20

// coalesceMax is the largest frame that is copied to leave with others;
// a larger one (a stream's chunk) leaves from its caller's buffer.
const coalesceMax = 16 << 10

// conn is what both ends share: the connection, the writer that
// coalesces frames, and the limit on a message's size.
type conn struct {
	nc      net.Conn
	maxBody int // the largest frame body: the message limit plus Overhead
	maxMsg  int

	mu       sync.Mutex
	cond     sync.Cond // signalled when pending shrinks, a write ends, or the writer fails
	pending  []byte    // frames waiting for the writer
	spare    []byte
	flushing bool  // a caller is writing
	large    int   // callers with a large frame waiting for their turn
	err      error // why the connection ended; set once

	// calls is how many calls are open on this end: with one, no other
	// frame is coming to leave with the caller's.
	calls atomic.Int32
}

func newConn(nc net.Conn, maxMsg int) *conn {
	c := &conn{nc: nc, maxMsg: maxMsg, maxBody: maxMsg + Overhead}
	c.cond.L = &c.mu
	return c
}

// write sends the frames in b. A caller that finds another one writing
// appends its frames for that one to write with its own and returns at
// once; the one that writes first, when other calls are open, lets the
// goroutines that are ready to run add theirs (runtime.Gosched), so that
// under load frames leave many to a write, with no writer goroutine to
// hand them to, and alone a frame leaves at once.
//
// A frame over coalesceMax is not copied: its caller waits for the one
// writing to finish its write, and then writes the frames waiting and its
// own in one writev. It returns the connection's error once it failed; a
// frame accepted before that may still be lost with the connection,
// which every call waiting on it then learns.
func (c *conn) write(b []byte) error {
	large := len(b) > coalesceMax
	c.mu.Lock()
	if large {
		c.large++
		for c.flushing && c.err == nil {
			c.cond.Wait()
		}
		c.large--
	}
	for c.flushing && len(c.pending) > maxPending && c.err == nil {
		c.cond.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	if c.flushing {
		c.pending = append(c.pending, b...)
		c.mu.Unlock()
		return nil
	}
	c.flushing = true
	var own []byte
	if large {
		own = b
	} else {
		c.pending = append(c.pending, b...)
		if c.calls.Load() > 1 {
			c.mu.Unlock()
			runtime.Gosched()
			c.mu.Lock()
		}
	}
	var err error
	for err == nil && (len(c.pending) > 0 || own != nil) {
		out := c.pending
		c.pending = c.spare[:0]
		c.cond.Broadcast()
		c.mu.Unlock()
		switch {
		case own == nil:
			_, err = c.nc.Write(out)
		case len(out) == 0:
			_, err = c.nc.Write(own)
		default:
			bufs := net.Buffers{out, own}
			_, err = bufs.WriteTo(c.nc)
		}
		own = nil
		c.mu.Lock()
		c.spare = out[:0]
		if cap(out) > maxPending {
			c.spare = nil // not kept once a burst has passed
		}
		if c.large > 0 {
			// A large frame waits: it takes the frames pending with it.
			break
		}
	}
	c.flushing = false
	if err != nil {
		c.failLocked(err)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return err
}

// fail ends the connection with err, unless it already ended.
func (c *conn) fail(err error) {
	c.mu.Lock()
	c.failLocked(err)
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *conn) failLocked(err error) {
	if c.err == nil {
		c.err = err
		c.pending = nil
		_ = c.nc.Close()
	}
}

func (c *conn) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// sendSimple writes a frame with no body beyond an optional uvarint.
func (c *conn) sendSimple(typ byte, id uint64, v uint64, withV bool) error {
	var a [headerSize + binary.MaxVarintLen64]byte
	b := beginFrame(a[:0], typ, id)
	if withV {
		b = binary.AppendUvarint(b, v)
	}
	return c.write(endFrame(b, 0))
}

// readiness is what a wait waits for.
type readiness interface{ ready() bool }

// An awaiter waits until r is ready, ctx ends (its status) or the
// connection ended. notify is signalled whenever r may have become ready.
type awaiter interface {
	await(ctx context.Context, notify chan struct{}, r readiness) error
}

// selectAwaiter waits on notify: for an end where another goroutine
// reads the connection.
type selectAwaiter struct{}

func (selectAwaiter) await(ctx context.Context, notify chan struct{}, r readiness) error {
	if r.ready() {
		return nil
	}
	select {
	case <-notify:
		return nil
	case <-ctx.Done():
		return ctxStatus(ctx)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// appendMessage appends m to b, failing with gRPC's own status for a
// message over the limit.
func (c *conn) appendMessage(b []byte, m any) ([]byte, error) {
	if raw, ok := m.(rawMessage); ok {
		return append(b, raw...), nil
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return b, status.Errorf(codes.Internal, "mux: %T is not a protobuf message", m)
	}
	n := proto.Size(pm)
	if n > c.maxMsg {
		return b, status.Errorf(codes.ResourceExhausted, "trying to send message larger than max (%d vs. %d)", n, c.maxMsg)
	}
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(slices.Grow(b, n), pm)
	if err != nil {
		return b, status.Errorf(codes.Internal, "mux: encode %T: %v", m, err)
	}
	return b, nil
}

// messageFrame returns the frame of m, a message of stream id, in a
// buffer of its size that the caller puts back (putBuf).
func (c *conn) messageFrame(id uint64, m any) (*[]byte, error) {
	n := 0
	switch m := m.(type) {
	case rawMessage:
		n = len(m)
	case proto.Message:
		n = proto.Size(m)
	}
	buf := getBuf(headerSize + n)
	b, err := c.appendMessage(beginFrame(*buf, frameMessage, id), m)
	*buf = endFrame(b, 0)
	return buf, err
}

// A FrameDecoder is a message that decodes itself: RecvMsg hands it the
// encoded message, which is the frame's and valid only until DecodeFrame
// returns, rather than unmarshal a message whose bytes are copies.
type FrameDecoder interface {
	DecodeFrame(b []byte) error
}

// unmarshal decodes a message; protobuf copies what it keeps, so the
// frame's buffer may be reused after it.
func unmarshal(b []byte, m any) error {
	if d, ok := m.(FrameDecoder); ok {
		if err := d.DecodeFrame(b); err != nil {
			return status.Errorf(codes.Internal, "mux: decode %T: %v", m, err)
		}
		return nil
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "mux: %T is not a protobuf message", m)
	}
	if err := proto.Unmarshal(b, pm); err != nil {
		return status.Errorf(codes.Internal, "mux: decode %T: %v", m, err)
	}
	return nil
}

// appendStatus appends an end frame's status: its code, and for an
// error the status with its details.
func appendStatus(b []byte, err error) []byte {
	if err == nil {
		return append(b, 0)
	}
	st := status.Convert(err)
	if st.Code() == codes.OK {
		st = status.New(codes.Unknown, err.Error())
	}
	start := len(b)
	b = binary.AppendUvarint(b, uint64(st.Code()))
	out, merr := proto.MarshalOptions{}.MarshalAppend(b, st.Proto())
	if merr == nil {
		return out
	}
	// A message that is not UTF-8 does not marshal: send it mended,
	// without the details.
	mended := status.New(st.Code(), strings.ToValidUTF8(st.Message(), "\uFFFD"))
	if out, merr = (proto.MarshalOptions{}).MarshalAppend(b, mended.Proto()); merr == nil {
		return out
	}
	return binary.AppendUvarint(b[:start], uint64(st.Code()))
}

// readStatus reads an end frame's status, the call's error; rest is what
// follows it (the reply of a unary call).
func readStatus(body []byte) (rest []byte, callErr error) {
	r := bodyReader{b: body}
	code := r.uvarint()
	if r.err != nil {
		return nil, status.Error(codes.Internal, "mux: an end frame without a status")
	}
	if code == 0 {
		return r.b, nil
	}
	var p spb.Status
	if err := proto.Unmarshal(r.b, &p); err != nil {
		return nil, status.Errorf(codes.Internal, "mux: an unreadable status: %v", err)
	}
	if p.Code == 0 {
		p.Code = int32(code)
	}
	return nil, status.FromProto(&p).Err()
}

// connClosed is the status of a call whose connection ended under it.
func connClosed(err error) error {
	if closedConn(err) {
		return status.Error(codes.Unavailable, "plugin connection closed")
	}
	return status.Errorf(codes.Unavailable, "plugin connection closed: %v", err)
}

// ctxStatus is the status of a call its context ended.
func ctxStatus(ctx context.Context) error {
	return status.FromContextError(ctx.Err()).Err()
}

// inbox is the receiving half of a stream: messages the reader delivered
// and the consumer has not read, and how the stream ended. The reader
// never waits on it.
type inbox struct {
	mu       sync.Mutex
	msgs     []frame
	buffered int   // bytes in msgs
	ended    bool  // no more messages will come
	endErr   error // why, when not io.EOF
	consumed int   // bytes read since the last window frame
	notify   chan struct{}
}

func (in *inbox) init() { in.notify = make(chan struct{}, 1) }

func (in *inbox) signal() { signal(in.notify) }

// ready reports whether next has something to return.
func (in *inbox) ready() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs) > 0 || in.ended
}

// deliver queues a message. It reports false for a peer that sent more
// than the window allows: a protocol error.
func (in *inbox) deliver(f frame) bool {
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		f.release()
		return true
	}
	in.msgs = append(in.msgs, f)
	in.buffered += len(f.body)
	over := in.buffered > 2*Window+Overhead
	in.mu.Unlock()
	in.signal()
	return !over
}

// end marks the end of the messages, with err (nil for a clean end).
func (in *inbox) end(err error) {
	in.mu.Lock()
	if !in.ended {
		in.ended, in.endErr = true, err
	}
	in.mu.Unlock()
	in.signal()
}

// next waits for the next message, and returns it and the credit to
// grant the sender (0 while under a quarter of the window), or the
// stream's end: io.EOF or its error, or ctx's.
func (in *inbox) next(ctx context.Context, w awaiter) (frame, int, error) {
	for {
		in.mu.Lock()
		if len(in.msgs) > 0 {
			f := in.msgs[0]
			in.msgs[0] = frame{}
			in.msgs = in.msgs[1:]
			in.buffered -= len(f.body)
			in.consumed += len(f.body)
			grant := 0
			if in.consumed >= Window/4 {
				grant, in.consumed = in.consumed, 0
			}
			in.mu.Unlock()
			return f, grant, nil
		}
		if in.ended {
			err := in.endErr
			in.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return frame{}, 0, err
		}
		in.mu.Unlock()
		if err := w.await(ctx, in.notify, in); err != nil {
			return frame{}, 0, err
		}
	}
}

// abort ends the stream with err at once, dropping what was not read.
func (in *inbox) abort(err error) {
	in.drop()
	in.mu.Lock()
	in.endErr = err
	in.mu.Unlock()
	in.signal()
}

// drop releases what was never read.
func (in *inbox) drop() {
	in.mu.Lock()
	msgs := in.msgs
	in.msgs, in.buffered, in.ended = nil, 0, true
	in.mu.Unlock()
	for i := range msgs {
		msgs[i].release()
	}
}

// credit is the sending half's flow control: bytes the peer allows.
type credit struct {
	mu     sync.Mutex
	n      int
	ended  bool
	notify chan struct{}
}

func (c *credit) init() { c.n, c.notify = Window, make(chan struct{}, 1) }

func (c *credit) grant(n int) {
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
	signal(c.notify)
}

func (c *credit) stop() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	signal(c.notify)
}

// ready reports whether take has credit to spend, or the stream ended.
func (c *credit) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n > 0 || c.ended
}

// take waits for credit, then spends n bytes of it (going below zero by
// at most one message). It reports false once the stream ended.
func (c *credit) take(ctx context.Context, n int, w awaiter) (bool, error) {
	for {
		c.mu.Lock()
		if c.ended {
			c.mu.Unlock()
			return false, nil
		}
		if c.n > 0 {
			c.n -= n
			c.mu.Unlock()
			return true, nil
		}
		c.mu.Unlock()
		if err := w.await(ctx, c.notify, c); err != nil {
			return false, err
		}
	}
}
