package sdk

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// remoteDriver is the host's view of a plugin: an sdk.Driver whose calls
// travel over gRPC. The host and the conformance kit use it exactly as they
// would use an in-process Driver, so both paths run the same code.
type remoteDriver struct {
	*remoteClients
	info DriverInfo
}

// remoteClients are a plugin's gRPC clients, shared by the driver and
// every resource and instance it returns: a host with a thousand
// resources keeps one pair, not two thousand.
type remoteClients struct {
	client pb.DriverServiceClient
	sql    pb.SQLServiceClient
	// dataConn is set for the clients on the data connection, whose Send
	// has encoded a message when it returns (gRPC's may still use it) and
	// whose RecvMsg takes a mux.FrameDecoder: a stream's chunks then go
	// without copies of their own.
	dataConn bool
	// chunk is the largest data message a stream sends: streamChunk, or
	// on the data connection what max_message_size allows.
	chunk int
	// urls downloads the gets of types with CapabilityBlobURLGet; nil
	// without the data connection, whose lifetime it shares.
	urls *urlGetter
	// checkAlone is set when the plugin has no CheckMany (an SDK older
	// than it): CheckAll then checks its instances one by one.
	checkAlone atomic.Bool
}

func newRemoteClients(client pb.DriverServiceClient, sql pb.SQLServiceClient) *remoteClients {
	return &remoteClients{client: client, sql: sql}
}

func (d *remoteDriver) Info() DriverInfo { return d.info }

func (d *remoteDriver) ValidateConfig(ctx context.Context, req ValidateRequest) error {
	resp, err := d.client.ValidateConfig(ctx, &pb.ValidateConfigRequest{Type: req.Type, Name: req.Name, ConfigJson: req.Config})
	if err != nil {
		return remoteError(ctx, err)
	}
	var errs []error
	for _, e := range resp.GetErrors() {
		errs = append(errs, &ConfigError{Attribute: e.GetAttribute(), Summary: e.GetSummary(), Detail: e.GetDetail()})
	}
	return errors.Join(errs...)
}

func (d *remoteDriver) Configure(ctx context.Context, req ConfigureRequest) (Resource, error) {
	resp, err := d.client.Configure(ctx, &pb.ConfigureRequest{Type: req.Type, Name: req.Name, ConfigJson: req.Config})
	if err != nil {
		return nil, remoteError(ctx, err)
	}
	r := &remoteResource{remoteClients: d.remoteClients, id: resp.GetResourceId(), typ: req.Type}
	if t, ok := d.info.Type(req.Type); ok && d.urls != nil && slices.Contains(t.Capabilities, CapabilityBlobURLGet) {
		r.urlGet.Store(true)
	}
	return r, nil
}

type remoteResource struct {
	*remoteClients
	id  string
	typ string
	// urlGet is set while get downloads from get_url's URLs: for a type
	// with CapabilityBlobURLGet, until the resource declines to give one.
	urlGet atomic.Bool
}

func (r *remoteResource) Open(ctx context.Context) (Instance, error) {
	resp, err := r.client.Open(ctx, &pb.OpenRequest{ResourceId: r.id})
	if err != nil {
		return nil, remoteError(ctx, err)
	}
	inst := &remoteInstance{remoteClients: r.remoteClients, id: resp.GetInstanceId(), res: r}
	inst.noteSession(pb.SessionState_SESSION_STATE_CLEAN) // a new session is clean
	return inst, nil
}

func (r *remoteResource) Close(ctx context.Context) error {
	_, err := r.client.Unconfigure(ctx, &pb.UnconfigureRequest{ResourceId: r.id})
	return remoteError(ctx, err)
}

type remoteInstance struct {
	*remoteClients
	id  string
	res *remoteResource
	// session is the pb.SessionState the plugin sent with its last
	// answer, SESSION_STATE_UNSPECIFIED after a call that failed or sent
	// none (SessionClean).
	session atomic.Int32
}

// Check checks this one instance; CheckAll checks many in one call.
func (i *remoteInstance) Check(ctx context.Context) error {
	_, err := i.client.Check(ctx, &pb.CheckRequest{InstanceId: i.id})
	return remoteError(ctx, err)
}

func (i *remoteInstance) Reset(ctx context.Context) error {
	_, err := i.client.Reset(ctx, &pb.ResetRequest{InstanceId: i.id})
	if err != nil {
		i.noteSession(pb.SessionState_SESSION_STATE_UNSPECIFIED)
		return remoteError(ctx, err)
	}
	i.noteSession(pb.SessionState_SESSION_STATE_CLEAN)
	return nil
}

func (i *remoteInstance) Close(ctx context.Context) error {
	_, err := i.client.Close(ctx, &pb.CloseRequest{InstanceId: i.id})
	return remoteError(ctx, err)
}

// Invoke returns the result as a json.RawMessage.
func (i *remoteInstance) Invoke(ctx context.Context, req InvokeRequest) (any, error) {
	resp, err := i.client.Invoke(ctx, &pb.InvokeRequest{InstanceId: i.id, Operation: req.Operation, ArgsJson: req.Args})
	i.noteSession(resp.GetSession())
	if err != nil {
		return nil, remoteError(ctx, err)
	}
	return json.RawMessage(resp.GetResultJson()), nil
}

// InvokeStream sends in while it receives into out, and returns the result
// as a json.RawMessage.
func (i *remoteInstance) InvokeStream(ctx context.Context, req InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	if req.Operation == "get" && in == nil && i.res.urlGet.Load() {
		res, off, err := i.urls.get(ctx, i.res.typ, req.Args, func(ctx context.Context) (json.RawMessage, error) {
			raw, err := i.Invoke(ctx, InvokeRequest{Operation: "get_url", Args: req.Args})
			enc, _ := raw.(json.RawMessage)
			return enc, err
		}, out)
		if off {
			i.res.urlGet.Store(false)
		}
		if !errors.Is(err, errFallBack) {
			if err != nil {
				return nil, err
			}
			return res, nil
		}
	}
	i.noteSession(pb.SessionState_SESSION_STATE_UNSPECIFIED) // a stream says nothing of it
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := i.client.InvokeStream(ctx)
	if err != nil {
		return nil, remoteError(ctx, err)
	}
	start := &pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{
		InstanceId: i.id, Operation: req.Operation, ArgsJson: req.Args,
	}}}
	if err := stream.Send(start); err != nil {
		_, err = stream.Recv() // the real error is in the status
		return nil, remoteError(ctx, err)
	}

	// send copies in to the stream, in a goroutine of its own, awaited
	// below before InvokeStream returns.
	send := func() error {
		if in == nil {
			return stream.CloseSend()
		}
		bufp := sendBuffers.Get().(*[]byte)
		defer sendBuffers.Put(bufp)
		buf := (*bufp)[:cmp.Or(i.chunk, streamChunk)]
		for {
			n, rerr := in.Read(buf)
			if n > 0 {
				chunk := buf[:n]
				if !i.dataConn {
					chunk = bytes.Clone(chunk)
				}
				msg := &pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Data{Data: chunk}}
				if err := stream.Send(msg); err != nil {
					// The server ended the stream; Recv reports why.
					return nil
				}
			}
			if errors.Is(rerr, io.EOF) {
				return stream.CloseSend()
			}
			if rerr != nil {
				cancel()
				return Errorf(KindCanceled, "reading the stream input: %w", rerr)
			}
		}
	}
	var sendErr error // send's error, read after sending.Wait
	var sending sync.WaitGroup
	sending.Go(func() { sendErr = send() })

	sink := streamSink{out: out}
	var recvErr error
	for {
		var err error
		if i.dataConn {
			err = stream.RecvMsg(&sink)
		} else {
			var m *pb.InvokeStreamResponse
			if m, err = stream.Recv(); err == nil {
				switch msg := m.GetMsg().(type) {
				case *pb.InvokeStreamResponse_Data:
					sink.data(msg.Data)
				case *pb.InvokeStreamResponse_ResultJson:
					sink.result = msg.ResultJson
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = remoteError(ctx, err)
			}
			break
		}
		if sink.err != nil {
			cancel()
			recvErr = Errorf(KindCanceled, "writing the stream output: %w", sink.err)
			break
		}
	}
	sending.Wait()
	if recvErr != nil {
		return nil, recvErr
	}
	if sendErr != nil {
		return nil, sendErr
	}
	if sink.result == nil {
		return nil, Errorf(KindInternal, "plugin ended stream %q without a result", req.Operation)
	}
	return sink.result, nil
}

// remoteError translates a gRPC error into an SDK error. When the caller's
// own context ended, the context error is kept in the chain so that
// errors.Is(err, context.DeadlineExceeded) holds.
func remoteError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return contextError(ctx)
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Canceled && len(st.Details()) == 0 {
		// The caller did not cancel, so the connection to the plugin
		// closed under the call: the plugin exited or is being stopped.
		return &Error{Kind: KindUnavailable, Message: "plugin connection closed", Err: err}
	}
	return errorFromStatus(err)
}

var (
	_ Driver          = (*remoteDriver)(nil)
	_ ConfigValidator = (*remoteDriver)(nil)
	_ Resource        = (*remoteResource)(nil)
	_ Instance        = (*remoteInstance)(nil)
	_ Resetter        = (*remoteInstance)(nil)
	_ StreamInvoker   = (*remoteInstance)(nil)
)
