package sdk

import (
	"bytes"
	"encoding/json"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nebula-resource/nebula-resource/sdk/internal/mux"
)

// The messages of a stream's chunks, decoded from their frames on the
// data connection (see mux.FrameDecoder): a chunk's bytes are the frame's,
// not a copy protobuf makes for each.

// eachBytesField calls fn with each length-delimited field of the
// encoded message b (a oneof of bytes and messages), its bytes aliasing
// b; it skips fields of other wire types, as protobuf keeps them unknown.
func eachBytesField(b []byte, fn func(num protowire.Number, v []byte)) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ == protowire.BytesType {
			fn(num, v)
		}
		return nil
	})
}

// inputChunk is a message of a stream's input, an InvokeStreamRequest:
// its data, in a buffer it reuses, or that it was a start.
type inputChunk struct {
	data  []byte
	start bool
}

func (c *inputChunk) DecodeFrame(b []byte) error {
	c.data, c.start = c.data[:0], false
	return eachBytesField(b, func(num protowire.Number, v []byte) {
		switch num {
		case 1: // start
			c.start = true
		case 2: // data
			c.data = append(c.data[:0], v...)
		}
	})
}

// streamSink takes the messages of a stream's answer: it writes the data
// chunks to out and keeps the result.
type streamSink struct {
	out    io.Writer // nil: the data is dropped
	result json.RawMessage
	err    error // out's
}

func (s *streamSink) data(p []byte) {
	if s.out != nil && s.err == nil {
		_, s.err = s.out.Write(p)
	}
}

// DecodeFrame decodes an InvokeStreamResponse: its data or its result.
func (s *streamSink) DecodeFrame(b []byte) error {
	return eachBytesField(b, func(num protowire.Number, v []byte) {
		switch num {
		case 1: // data
			s.data(v)
		case 2: // result_json
			s.result = bytes.Clone(v)
		}
	})
}

var (
	_ mux.FrameDecoder = (*inputChunk)(nil)
	_ mux.FrameDecoder = (*streamSink)(nil)
)
