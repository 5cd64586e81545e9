// Package mux carries gRPC services over one stream connection between the
// host and a plugin, without HTTP/2: every call is a few frames tagged with
// the call's id, any number of calls are in flight at once, each with its
// own deadline and cancellation, and frames that several callers write at
// the same moment leave in one write.
//
// The host's side is a [Client], a grpc.ClientConnInterface, so the
// generated clients work on it unchanged; the plugin's side is a [Server],
// a grpc.ServiceRegistrar, so the generated services register on it
// unchanged. Messages are protobuf, as on gRPC; errors are gRPC statuses
// with their details. Streams (rows of a query, chunks of a blob) have
// credit-based flow control per call, so a slow reader holds up only its
// own call and the memory a call can take is bounded. Unlike gRPC's, a
// stream's SendMsg has encoded its message when it returns: the caller may
// reuse the message and its bytes at once.
//
// Why not gRPC: a unary gRPC call between two processes costs a new HTTP/2
// stream (headers in both directions, HPACK, window updates, trailers),
// four goroutine hand-offs through the transports' reader and writer
// goroutines, and TLS records; for a one-row query that is most of the
// cost of a call through the host (docs/PERFORMANCE.md). A call here is
// one frame each way, written by the caller itself; on the host's side
// the caller waiting for its answer reads it itself when no other caller
// is reading, and on the plugin's side the goroutine that read a request
// runs it, having handed the reading to another. A call alone thus
// passes between no goroutines, where each hand-off would wake a thread.
//
// The connection is a socket pair the host makes and hands the plugin as
// an inherited descriptor: no other process can reach it, so it needs no
// TLS of its own. go-plugin keeps the process's lifecycle, its handshake
// and the mutually authenticated gRPC connection, which carries the
// plugin's description.
package mux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Frame types.
const (
	// frameRequest opens a call: flags, timeout, method, metadata, and
	// with flagMessage the call's first message.
	frameRequest byte = 1 + iota
	// frameMessage is one message of a stream, in either direction.
	frameMessage
	// frameHalfClose: the client sends no more messages.
	frameHalfClose
	// frameEnd ends a call: its status, and for a unary call that
	// succeeded, the reply.
	frameEnd
	// frameCancel: the client gave up on the call.
	frameCancel
	// frameWindow grants the peer more bytes of stream messages.
	frameWindow
)

// Request flags.
const (
	flagMessage   byte = 1 << iota // the request holds the first message
	flagHalfClose                  // and the client sends no more
)

// headerSize is the fixed part of a frame: its length (of what follows
// the length), its type and its call id.
const headerSize = 4 + 1 + 8

// Overhead is the room a frame takes beyond its message: header, method
// name, metadata.
const Overhead = 64 << 10

// errProtocol marks a frame that breaks the protocol; the connection
// closes.
var errProtocol = errors.New("mux: protocol error")

// frame is one frame read off the connection. body is owned by the frame:
// release returns it to the pool.
type frame struct {
	typ  byte
	id   uint64
	body []byte
	buf  *[]byte
}

func (f *frame) release() {
	if f.buf != nil {
		putBuf(f.buf)
		f.buf, f.body = nil, nil
	}
}

// Frame buffers are reused in two classes: small ones, for calls and
// their replies, and large ones, up to pooledMax, for a stream's chunks (a
// 64 KiB chunk and its framing). Larger ones are left to the collector,
// so that one large message does not pin its memory for the life of the
// process.
const (
	smallMax  = 16 << 10
	pooledMax = 256 << 10
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
	largePool = sync.Pool{New: func() any { return new([]byte) }}
)

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) *[]byte {
	var b *[]byte
	switch {
	case n <= smallMax:
		b = smallPool.Get().(*[]byte)
	case n <= pooledMax:
		b = largePool.Get().(*[]byte)
	default:
		b := make([]byte, 0, n)
		return &b
	}
	if cap(*b) < n {
		*b = make([]byte, 0, min(max(n, 2*cap(*b)), pooledMax))
	}
	*b = (*b)[:0]
	return b
}

// putBuf returns b to its class's pool, unless it grew past pooledMax.
func putBuf(b *[]byte) {
	switch c := cap(*b); {
	case c <= smallMax:
		smallPool.Put(b)
	case c <= pooledMax:
		largePool.Put(b)
	}
}

// beginFrame appends a frame's header with a zero length, which
// endFrame fills in.
func beginFrame(b []byte, typ byte, id uint64) []byte {
	b = append(b, 0, 0, 0, 0, typ)
	return binary.BigEndian.AppendUint64(b, id)
}

// endFrame fills in the length of the frame that begins at start.
func endFrame(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// frameReader reads frames off a connection, for whichever goroutine is
// reading it: what one read left buffered, or a frame a read deadline
// interrupted, is there for the next.
type frameReader struct {
	nc      net.Conn
	maxBody int
	buf     []byte // frames read and not yet returned: buf[r:w]
	r, w    int

	// A frame too large for buf is read straight into its own buffer:
	// part, of which partN bytes are in.
	part    frame
	partN   int
	reading bool // part is being read
}

// readBufSize is the size of a frame reader's buffer; a frame larger
// than it is read into a buffer of its own.
const readBufSize = 64 << 10

func newFrameReader(nc net.Conn, maxBody int) *frameReader {
	return &frameReader{nc: nc, maxBody: maxBody, buf: make([]byte, readBufSize)}
}

// buffered reports whether a whole frame is waiting in the buffer.
func (fr *frameReader) buffered() bool {
	if fr.reading || fr.w-fr.r < headerSize {
		return false
	}
	n := int(binary.BigEndian.Uint32(fr.buf[fr.r:]))
	return fr.w-fr.r >= 4+n
}

// next returns the next frame, reading when the buffer holds no whole
// one. A frame whose body is over maxBody fails with errProtocol; a read
// that fails leaves what was read for the next call.
func (fr *frameReader) next() (frame, error) {
	for {
		if fr.reading {
			for fr.partN < len(fr.part.body) {
				n, err := fr.nc.Read(fr.part.body[fr.partN:])
				fr.partN += n
				if n == 0 && err != nil {
					return frame{}, unexpectedEOF(err)
				}
			}
			f := fr.part
			fr.part, fr.partN, fr.reading = frame{}, 0, false
			return f, nil
		}
		if avail := fr.buf[fr.r:fr.w]; len(avail) >= headerSize {
			n := int(binary.BigEndian.Uint32(avail))
			if n < headerSize-4 || n-(headerSize-4) > fr.maxBody {
				return frame{}, fmt.Errorf("%w: a frame of %d bytes (at most %d)", errProtocol, n, fr.maxBody+headerSize-4)
			}
			f := frame{typ: avail[4], id: binary.BigEndian.Uint64(avail[5:])}
			size := n - (headerSize - 4)
			switch {
			case size == 0:
				fr.r += headerSize
				return f, nil
			case len(avail) >= headerSize+size:
				f.buf = getBuf(size)
				f.body = (*f.buf)[:size]
				copy(f.body, avail[headerSize:])
				fr.r += headerSize + size
				return f, nil
			case headerSize+size > len(fr.buf):
				f.buf = getBuf(size)
				f.body = (*f.buf)[:size]
				fr.partN = copy(f.body, avail[headerSize:])
				fr.part, fr.reading = f, true
				fr.r, fr.w = 0, 0
				continue
			}
		}
		if fr.r > 0 {
			fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
			fr.r = 0
		}
		n, err := fr.nc.Read(fr.buf[fr.w:])
		fr.w += n
		if n == 0 && err != nil {
			if fr.w > 0 {
				err = unexpectedEOF(err)
			}
			return frame{}, err
		}
	}
}

// release returns the buffer of a frame being read.
func (fr *frameReader) release() {
	fr.part.release()
	fr.reading = false
}

// unexpectedEOF is err, as io.ErrUnexpectedEOF when a frame was cut short.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// bodyReader reads the fields of a frame's body.
type bodyReader struct {
	b   []byte
	err error
}

func (r *bodyReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *bodyReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns the next length-prefixed field; it aliases the body.
func (r *bodyReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *bodyReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: a truncated frame", errProtocol)
	}
}
