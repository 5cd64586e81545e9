package grpcclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// InvokeArgs are the arguments of invoke.
type InvokeArgs struct {
	Method          string            `nebula:"method,required" doc:"The unary method: \"package.Service/Method\" (or \"/package.Service/Method\")."`
	Request         json.RawMessage   `nebula:"request" doc:"The request message as a JSON object, in protobuf's JSON mapping (field names in lowerCamelCase or as in the .proto, int64 as numbers or strings); unset sends an empty message."`
	Metadata        map[string]string `nebula:"metadata" doc:"Metadata of this call, added to the resource's (a key set here wins); values of keys ending in -bin are base64."`
	EmitUnpopulated bool              `nebula:"emit_unpopulated" default:"false" doc:"Write every field of the response, those at their zero value too; by default they are left out, as protobuf's JSON mapping does."`
	Idempotent      bool              `nebula:"idempotent" default:"false" doc:"The call is safe to repeat (the method only reads, or sets values): the host's retry policy may retry it after a retryable error."`
}

// InvokeResult is the result of invoke.
type InvokeResult struct {
	// Response is the response message in protobuf's JSON mapping.
	Response json.RawMessage `json:"response"`
	// Header and Trailer are the metadata the server sent before and
	// after the response; values of -bin keys are base64.
	Header  map[string][]string `json:"header,omitempty"`
	Trailer map[string][]string `json:"trailer,omitempty"`
}

// ServerStreamArgs are the arguments of server_stream.
type ServerStreamArgs struct {
	Method          string            `nebula:"method,required" doc:"The server-streaming method: \"package.Service/Method\"."`
	Request         json.RawMessage   `nebula:"request" doc:"The request message as a JSON object; unset sends an empty message."`
	Metadata        map[string]string `nebula:"metadata" doc:"Metadata of this call, added to the resource's."`
	EmitUnpopulated bool              `nebula:"emit_unpopulated" default:"false" doc:"Write every field of each response, those at their zero value too."`
}

// StreamResult is the result of server_stream and bidi_stream.
type StreamResult struct {
	// Messages is how many responses were written, one per line.
	Messages int                 `json:"messages"`
	Sent     int                 `json:"sent,omitempty"`
	Header   map[string][]string `json:"header,omitempty"`
	Trailer  map[string][]string `json:"trailer,omitempty"`
}

// ClientStreamArgs are the arguments of client_stream and bidi_stream.
type ClientStreamArgs struct {
	Method          string            `nebula:"method,required" doc:"The client- or bidirectional-streaming method: \"package.Service/Method\"."`
	Metadata        map[string]string `nebula:"metadata" doc:"Metadata of this call, added to the resource's."`
	EmitUnpopulated bool              `nebula:"emit_unpopulated" default:"false" doc:"Write every field of the responses, those at their zero value too."`
}

// ClientStreamResult is the result of client_stream.
type ClientStreamResult struct {
	Response json.RawMessage     `json:"response"`
	Sent     int                 `json:"sent"`
	Header   map[string][]string `json:"header,omitempty"`
	Trailer  map[string][]string `json:"trailer,omitempty"`
}

// Invoke calls a unary method.
func (i *Instance) Invoke(ctx context.Context, a InvokeArgs) (InvokeResult, error) {
	md, err := i.streamMethod(ctx, a.Method, false, false)
	if err != nil {
		return InvokeResult{}, err
	}
	req, err := decodeMessage(md.Input(), a.Request, "request")
	if err != nil {
		return InvokeResult{}, err
	}
	ctx, err = i.outgoing(ctx, a.Metadata)
	if err != nil {
		return InvokeResult{}, err
	}
	resp := dynamicpb.NewMessage(md.Output())
	var header, trailer metadata.MD
	if err := i.conn.Invoke(ctx, fullMethod(md), req, resp, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		return InvokeResult{}, i.callError(ctx, err, a.Method)
	}
	out, err := encodeMessage(resp, a.EmitUnpopulated)
	if err != nil {
		return InvokeResult{}, err
	}
	return InvokeResult{Response: out, Header: i.shown(header), Trailer: i.shown(trailer)}, nil
}

// ServerStream calls a server-streaming method and writes each response
// to out as one line of JSON, as it arrives.
func (i *Instance) ServerStream(ctx context.Context, a ServerStreamArgs, _ io.Reader, out io.Writer) (StreamResult, error) {
	md, err := i.streamMethod(ctx, a.Method, false, true)
	if err != nil {
		return StreamResult{}, err
	}
	req, err := decodeMessage(md.Input(), a.Request, "request")
	if err != nil {
		return StreamResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream on every return
	sctx, err := i.outgoing(ctx, a.Metadata)
	if err != nil {
		return StreamResult{}, err
	}
	stream, err := i.conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod(md))
	if err != nil {
		return StreamResult{}, i.callError(ctx, err, a.Method)
	}
	if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return StreamResult{}, i.callError(ctx, err, a.Method)
	}
	if err := stream.CloseSend(); err != nil {
		return StreamResult{}, i.callError(ctx, err, a.Method)
	}
	n, err := i.receive(ctx, stream, md, a.EmitUnpopulated, out)
	res := StreamResult{Messages: n, Trailer: i.shown(stream.Trailer())}
	if h, herr := stream.Header(); herr == nil {
		res.Header = i.shown(h)
	}
	if err != nil {
		return res, i.callError(ctx, err, a.Method)
	}
	return res, nil
}

// receive writes every message of stream to out, one line each, until
// the stream ends; it returns how many it wrote and the stream's error
// (nil when it ended with OK).
func (i *Instance) receive(ctx context.Context, stream grpc.ClientStream, md protoreflect.MethodDescriptor, emit bool, out io.Writer) (int, error) {
	n := 0
	var line bytes.Buffer
	for {
		resp := dynamicpb.NewMessage(md.Output())
		if err := stream.RecvMsg(resp); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		b, err := encodeMessage(resp, emit)
		if err != nil {
			return n, err
		}
		line.Reset()
		line.Write(b)
		line.WriteByte('\n')
		if _, err := out.Write(line.Bytes()); err != nil {
			return n, sdk.WrapError(cmpKind(ctx, sdk.KindCanceled), err, "write a response to the caller")
		}
		n++
	}
}

// ClientStream calls a client-streaming method with the messages read
// from in, JSON objects one after the other (one per line), and returns
// its response.
func (i *Instance) ClientStream(ctx context.Context, a ClientStreamArgs, in io.Reader, _ io.Writer) (ClientStreamResult, error) {
	md, err := i.streamMethod(ctx, a.Method, true, false)
	if err != nil {
		return ClientStreamResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sctx, err := i.outgoing(ctx, a.Metadata)
	if err != nil {
		return ClientStreamResult{}, err
	}
	stream, err := i.conn.NewStream(sctx, &grpc.StreamDesc{ClientStreams: true}, fullMethod(md))
	if err != nil {
		return ClientStreamResult{}, i.callError(ctx, err, a.Method)
	}
	sent, err := i.send(stream, md, in)
	if err != nil {
		return ClientStreamResult{Sent: sent}, i.callError(ctx, err, a.Method)
	}
	resp := dynamicpb.NewMessage(md.Output())
	if err := stream.RecvMsg(resp); err != nil {
		return ClientStreamResult{Sent: sent}, i.callError(ctx, err, a.Method)
	}
	b, err := encodeMessage(resp, a.EmitUnpopulated)
	if err != nil {
		return ClientStreamResult{Sent: sent}, err
	}
	res := ClientStreamResult{Response: b, Sent: sent, Trailer: i.shown(stream.Trailer())}
	if h, herr := stream.Header(); herr == nil {
		res.Header = i.shown(h)
	}
	return res, nil
}

// send sends the messages read from in, then closes the sending side. An
// input that is not a message of the method's input type is
// invalid_argument; a stream the server ended returns its status.
func (i *Instance) send(stream grpc.ClientStream, md protoreflect.MethodDescriptor, in io.Reader) (int, error) {
	dec := json.NewDecoder(in)
	sent := 0
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var se *sdk.Error
			if errors.As(err, &se) {
				return sent, err // the caller's stream failed
			}
			return sent, sdk.Errorf(sdk.KindInvalidArgument, "input message %d is not JSON: %v", sent+1, err)
		}
		req, err := decodeMessage(md.Input(), raw, fmt.Sprintf("input message %d", sent+1))
		if err != nil {
			return sent, err
		}
		if err := stream.SendMsg(req); err != nil {
			if errors.Is(err, io.EOF) {
				// The server ended the call: RecvMsg has its status.
				return sent, stream.RecvMsg(dynamicpb.NewMessage(md.Output()))
			}
			return sent, err
		}
		sent++
	}
	return sent, stream.CloseSend()
}

// BidiStream calls a bidirectional-streaming method: it sends the
// messages read from in while it writes the responses to out, one line
// each, as they arrive. The call ends once the input has ended and the
// server has ended its stream.
func (i *Instance) BidiStream(ctx context.Context, a ClientStreamArgs, in io.Reader, out io.Writer) (StreamResult, error) {
	md, err := i.streamMethod(ctx, a.Method, true, true)
	if err != nil {
		return StreamResult{}, err
	}
	parent := ctx // whose end classifies the errors: cancel below is ours
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sctx, err := i.outgoing(ctx, a.Metadata)
	if err != nil {
		return StreamResult{}, err
	}
	stream, err := i.conn.NewStream(sctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, fullMethod(md))
	if err != nil {
		return StreamResult{}, i.callError(parent, err, a.Method)
	}
	// The receiver is the only writer of out; it ends when the stream
	// does, which cancel forces on every return below.
	var (
		wg       sync.WaitGroup
		received int
		recvErr  error
	)
	wg.Go(func() {
		received, recvErr = i.receive(ctx, stream, md, a.EmitUnpopulated, out)
		if recvErr != nil {
			cancel()
		}
	})
	sent, sendErr := i.send(stream, md, in)
	if sendErr != nil && sdk.KindOf(sendErr) == sdk.KindInvalidArgument {
		cancel() // a bad input message ends the call
	}
	wg.Wait()
	res := StreamResult{Messages: received, Sent: sent, Trailer: i.shown(stream.Trailer())}
	if h, herr := stream.Header(); herr == nil {
		res.Header = i.shown(h)
	}
	switch {
	case sendErr != nil && sdk.KindOf(sendErr) == sdk.KindInvalidArgument:
		return res, sendErr
	case recvErr != nil:
		return res, i.callError(parent, recvErr, a.Method)
	case sendErr != nil:
		return res, i.callError(parent, sendErr, a.Method)
	}
	return res, nil
}

// cmpKind is the kind of ctx's end, or def while ctx runs.
func cmpKind(ctx context.Context, def sdk.Kind) sdk.Kind {
	if err := ctx.Err(); err != nil {
		return sdk.KindOf(err)
	}
	return def
}

// streamMethod resolves a method and checks that it streams as the
// operation does.
func (i *Instance) streamMethod(ctx context.Context, name string, client, server bool) (protoreflect.MethodDescriptor, error) {
	md, err := i.schema.method(ctx, name)
	if err != nil {
		return nil, err
	}
	if md.IsStreamingClient() != client || md.IsStreamingServer() != server {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "method: %s is %s: call it with the operation %s", fullName(md), streamingOf(md), opFor(md))
	}
	return md, nil
}

// streamingOf says how a method streams.
func streamingOf(md protoreflect.MethodDescriptor) string {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return "a bidirectional-streaming method"
	case md.IsStreamingClient():
		return "a client-streaming method"
	case md.IsStreamingServer():
		return "a server-streaming method"
	}
	return "a unary method"
}

// opFor is the operation that calls md.
func opFor(md protoreflect.MethodDescriptor) string {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return opBidiStream
	case md.IsStreamingClient():
		return opClientStream
	case md.IsStreamingServer():
		return opServerStream
	}
	return opInvoke
}

// fullName is "package.Service/Method".
func fullName(md protoreflect.MethodDescriptor) string {
	return string(md.Parent().FullName()) + "/" + string(md.Name())
}

// fullMethod is the method's path on the wire, "/package.Service/Method".
func fullMethod(md protoreflect.MethodDescriptor) string { return "/" + fullName(md) }

// decodeMessage decodes raw, a JSON object in protobuf's JSON mapping,
// into a message of type d; arg names what raw is for the error.
func decodeMessage(d protoreflect.MessageDescriptor, raw json.RawMessage, arg string) (*dynamicpb.Message, error) {
	m := dynamicpb.NewMessage(d)
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return m, nil
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(raw, m); err != nil {
		msg := strings.TrimPrefix(err.Error(), "proto: ")
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "%s: not a %s: %s", arg, d.FullName(), msg)
	}
	return m, nil
}

// encodeMessage writes m in protobuf's JSON mapping, without spaces.
func encodeMessage(m proto.Message, emitUnpopulated bool) (json.RawMessage, error) {
	b, err := protojson.MarshalOptions{EmitUnpopulated: emitUnpopulated}.Marshal(m)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInternal, "encode the response as JSON: %v", err)
	}
	// protojson varies its spacing on purpose; callers compare texts.
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, sdk.Errorf(sdk.KindInternal, "encode the response as JSON: %v", err)
	}
	return out.Bytes(), nil
}

// outgoing returns ctx with the resource's metadata and the call's
// (which wins, key by key).
func (i *Instance) outgoing(ctx context.Context, call map[string]string) (context.Context, error) {
	md := i.res.p.md.Copy()
	for k, v := range call {
		key, val, err := metadataPair(k, v)
		if err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "metadata: key %q: %v", k, err)
		}
		md.Set(key, val)
	}
	if key := "authorization"; md[key] != nil && i.res.cfg.BearerToken != "" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "metadata: the resource sends the authorization of its bearer_token; a call cannot set its own")
	}
	if len(md) == 0 {
		return ctx, nil
	}
	return metadata.NewOutgoingContext(ctx, md), nil
}

// shown is metadata as a result shows it: -bin values in base64, secret
// values replaced.
func (i *Instance) shown(md metadata.MD) map[string][]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string][]string, len(md))
	for k, vs := range md {
		show := make([]string, len(vs))
		for j, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = base64.StdEncoding.EncodeToString([]byte(v))
			}
			show[j] = scrub(v, i.res.p.secrets)
		}
		out[k] = show
	}
	return out
}
