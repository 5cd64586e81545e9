package sdk

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

func TestStreamSinkDecodesAsProtobufDoes(t *testing.T) {
	data, err := proto.Marshal(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_Data{Data: []byte("chunk")}})
	if err != nil {
		t.Fatal(err)
	}
	result, err := proto.Marshal(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_ResultJson{ResultJson: []byte(`{"n":1}`)}})
	if err != nil {
		t.Fatal(err)
	}
	// A field of a newer peer's, which protobuf would keep as unknown.
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 7)
	var out bytes.Buffer
	s := streamSink{out: &out}
	for _, b := range [][]byte{data, append(unknown, data...), result} {
		if err := s.DecodeFrame(b); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "chunkchunk" || string(s.result) != `{"n":1}` {
		t.Fatalf("got data %q result %q", out.String(), s.result)
	}
	result[len(result)-1] = 0 // aliasing would change the result kept
	if string(s.result) != `{"n":1}` {
		t.Fatalf("the result aliases the frame: %q", s.result)
	}
	if err := s.DecodeFrame(data[:len(data)-1]); err == nil {
		t.Fatal("a truncated message decoded")
	}
}

func TestInputChunkDecodesAsProtobufDoes(t *testing.T) {
	data, err := proto.Marshal(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Data{Data: []byte("abc")}})
	if err != nil {
		t.Fatal(err)
	}
	start, err := proto.Marshal(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "put"}}})
	if err != nil {
		t.Fatal(err)
	}
	var c inputChunk
	if err := c.DecodeFrame(data); err != nil || string(c.data) != "abc" || c.start {
		t.Fatalf("data: %q start %v err %v", c.data, c.start, err)
	}
	data[len(data)-1] = 'x' // the chunk is a copy: the frame's buffer is reused
	if string(c.data) != "abc" {
		t.Fatalf("the chunk aliases the frame: %q", c.data)
	}
	if err := c.DecodeFrame(start); err != nil || len(c.data) != 0 || !c.start {
		t.Fatalf("start: %q start %v err %v", c.data, c.start, err)
	}
	if err := c.DecodeFrame([]byte{0x12, 5, 'a'}); err == nil {
		t.Fatal("a truncated message decoded")
	}
}
