//go:build unix

package mux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// testService answers DriverService calls the way the tests ask through
// the operation name.
type testService struct {
	pb.UnimplementedDriverServiceServer
	blocked  atomic.Int32 // calls of "block" that began
	canceled atomic.Int32 // calls that saw their context end
	sent     atomic.Int64 // bytes a download sent
}

func (s *testService) Invoke(ctx context.Context, req *pb.InvokeRequest) (*pb.InvokeResponse, error) {
	switch req.GetOperation() {
	case "echo":
		return &pb.InvokeResponse{ResultJson: req.GetArgsJson(), Session: pb.SessionState_SESSION_STATE_CLEAN}, nil
	case "block":
		s.blocked.Add(1)
		<-ctx.Done()
		s.canceled.Add(1)
		return nil, status.FromContextError(ctx.Err()).Err()
	case "deadline":
		dl, ok := ctx.Deadline()
		if !ok {
			return &pb.InvokeResponse{ResultJson: []byte("none")}, nil
		}
		return &pb.InvokeResponse{ResultJson: []byte(strconv.FormatInt(int64(time.Until(dl)/time.Millisecond), 10))}, nil
	case "metadata":
		md, _ := metadata.FromIncomingContext(ctx)
		return &pb.InvokeResponse{ResultJson: []byte(fmt.Sprint(md.Get("traceparent")))}, nil
	case "fail":
		st, _ := status.New(codes.NotFound, "no such key").WithDetails(&pb.ErrorDetail{Kind: "not_found", Message: "no such key", Code: "k1"})
		return nil, st.Err()
	case "big":
		return &pb.InvokeResponse{ResultJson: make([]byte, 2<<20)}, nil
	case "not-utf8":
		return nil, status.Error(codes.NotFound, "no key \xff\xfe")
	}
	return nil, status.Errorf(codes.InvalidArgument, "operation %q", req.GetOperation())
}

// CheckMany answers with one result per check: a stream of the server's.
// A check whose instance is "last" is answered with SendLast, and one
// whose instance is "last-then-fail" too, after which the call fails.
func (s *testService) CheckMany(req *pb.CheckManyRequest, stream grpc.ServerStreamingServer[pb.CheckManyResponse]) error {
	for i, c := range req.GetChecks() {
		m := &pb.CheckManyResponse{Index: uint32(i)}
		switch c.GetInstanceId() {
		case "last", "last-then-fail":
			ss := stream.(*grpc.GenericServerStream[pb.CheckManyRequest, pb.CheckManyResponse]).ServerStream
			if err := SendLast(ss, m); err != nil {
				return err
			}
			if err := SendLast(ss, m); status.Code(err) != codes.Internal {
				return status.Errorf(codes.Unknown, "a second SendLast: %v", err)
			}
			if c.GetInstanceId() == "last-then-fail" {
				return status.Error(codes.NotFound, "failed after the last")
			}
			return nil
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// InvokeStream echoes the data it receives ("echo"), or sends the number
// of bytes its start asks for ("download").
func (s *testService) InvokeStream(stream grpc.BidiStreamingServer[pb.InvokeStreamRequest, pb.InvokeStreamResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	switch start.GetOperation() {
	case "download":
		n, _ := strconv.Atoi(string(start.GetArgsJson()))
		chunk := make([]byte, 64<<10)
		for n > 0 {
			c := chunk[:min(n, len(chunk))]
			if err := stream.Send(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_Data{Data: c}}); err != nil {
				return err
			}
			s.sent.Add(int64(len(c)))
			n -= len(c)
		}
	case "echo":
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := stream.Send(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_Data{Data: m.GetData()}}); err != nil {
				return err
			}
		}
	}
	return stream.Send(&pb.InvokeStreamResponse{Msg: &pb.InvokeStreamResponse_ResultJson{ResultJson: []byte("{}")}})
}

// connPair returns the host's and the plugin's ends of a socket pair.
func connPair(t testing.TB) (host, plugin net.Conn) {
	t.Helper()
	hf, pf, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := FileConn(hf)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := FileConn(pf)
	if err != nil {
		t.Fatal(err)
	}
	return hc, pc
}

// connect serves svc on one end of a socket pair and returns a client on
// the other; both end with the test.
func connect(t testing.TB, svc pb.DriverServiceServer, maxMsg int) (pb.DriverServiceClient, *Client) {
	t.Helper()
	hc, pc := connPair(t)
	srv := NewServer(ServerOptions{MaxMessageSize: maxMsg})
	pb.RegisterDriverServiceServer(srv, svc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), pc) }()
	cl := NewClient(hc, ClientOptions{MaxMessageSize: maxMsg})
	t.Cleanup(func() {
		_ = cl.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return pb.NewDriverServiceClient(cl), cl
}

func TestUnaryCallsPairTheirAnswers(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 50 {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				resp, err := client.Invoke(ctx, &pb.InvokeRequest{Operation: "echo", ArgsJson: []byte(want)})
				if err != nil {
					t.Error(err)
					return
				}
				if string(resp.GetResultJson()) != want || resp.GetSession() != pb.SessionState_SESSION_STATE_CLEAN {
					t.Errorf("got %s %v, want %s", resp.GetResultJson(), resp.GetSession(), want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestErrorsKeepTheirCodeAndDetails(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	_, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "fail"})
	st := status.Convert(err)
	if st.Code() != codes.NotFound || st.Message() != "no such key" {
		t.Fatalf("got %v", err)
	}
	if d := st.Details(); len(d) != 1 || d[0].(*pb.ErrorDetail).GetCode() != "k1" {
		t.Fatalf("details %v", d)
	}
	_, err = client.Check(context.Background(), &pb.CheckRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("an unimplemented method: %v", err)
	}
	// A message that is not UTF-8 (which protobuf will not marshal)
	// arrives mended, with its code.
	_, err = client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "not-utf8"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no key \uFFFD" {
		t.Fatalf("not UTF-8: %v", err)
	}
}

func TestDeadlineAndMetadataReachTheServer(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.Invoke(ctx, &pb.InvokeRequest{Operation: "deadline"})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := strconv.Atoi(string(resp.GetResultJson()))
	if ms < 4000 || ms > 5000 {
		t.Fatalf("the server's deadline is %d ms away, want about 5000", ms)
	}
	resp, err = client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "deadline"})
	if err != nil || string(resp.GetResultJson()) != "none" {
		t.Fatalf("no deadline: %s %v", resp.GetResultJson(), err)
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-abc-def-01")
	resp, err = client.Invoke(ctx, &pb.InvokeRequest{Operation: "metadata"})
	if err != nil || string(resp.GetResultJson()) != "[00-abc-def-01]" {
		t.Fatalf("metadata: %s %v", resp.GetResultJson(), err)
	}
}

func TestCancelStopsTheServersCall(t *testing.T) {
	svc := &testService{}
	client, _ := connect(t, svc, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := client.Invoke(ctx, &pb.InvokeRequest{Operation: "block"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
	ctx, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel2)
	if _, err := client.Invoke(ctx, &pb.InvokeRequest{Operation: "block"}); status.Code(err) != codes.Canceled {
		t.Fatalf("got %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for svc.canceled.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := svc.canceled.Load(); n != 2 {
		t.Fatalf("%d server calls saw their end, want 2", n)
	}
	// The connection still serves.
	if _, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "echo"}); err != nil {
		t.Fatal(err)
	}
}

func TestMessagesOverTheLimitFailAsResourceExhausted(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	_, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "echo", ArgsJson: make([]byte, 2<<20)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a request over the limit: %v", err)
	}
	_, err = client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "big"})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a reply over the limit: %v", err)
	}
	if _, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "echo"}); err != nil {
		t.Fatalf("after: %v", err)
	}
}

func TestServerStream(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	stream, err := client.CheckMany(context.Background(), &pb.CheckManyRequest{Checks: make([]*pb.CheckItem, 1000)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		m, err := stream.Recv()
		if err != nil || m.GetIndex() != uint32(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last: %v", err)
	}
}

// TestAStreamsLastMessageLeavesWithItsEnd: a message sent with SendLast
// arrives after those before it and before the stream's end, which is
// io.EOF, or the handler's error when it failed after it; an empty last
// message arrives too.
func TestAStreamsLastMessageLeavesWithItsEnd(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	for _, tc := range []struct {
		last string
		n    int
		end  codes.Code
	}{
		{"last", 3, codes.OK},
		{"last", 1, codes.OK}, // index 0: an empty message
		{"last-then-fail", 3, codes.NotFound},
	} {
		checks := make([]*pb.CheckItem, tc.n)
		for i := range checks {
			checks[i] = &pb.CheckItem{}
		}
		checks[tc.n-1].InstanceId = tc.last
		stream, err := client.CheckMany(context.Background(), &pb.CheckManyRequest{Checks: checks})
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.n {
			m, err := stream.Recv()
			if err != nil || m.GetIndex() != uint32(i) {
				t.Fatalf("%s of %d: message %d: %v %v", tc.last, tc.n, i, m, err)
			}
		}
		_, err = stream.Recv()
		if tc.end == codes.OK && !errors.Is(err, io.EOF) || tc.end != codes.OK && status.Code(err) != tc.end {
			t.Fatalf("%s of %d: the end: %v, want %v", tc.last, tc.n, err, tc.end)
		}
	}
}

// TestLargeAndSmallFramesInterleave runs streams of 64 KiB chunks, which
// leave from their callers' buffers, alongside unary calls, whose frames
// are coalesced: every byte arrives, in order, on its own call.
func TestLargeAndSmallFramesInterleave(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			stream, err := client.InvokeStream(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if err := stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "echo"}}}); err != nil {
				t.Error(err)
				return
			}
			const chunks = 24
			sent := make(chan error, 1)
			go func() {
				for i := range chunks {
					chunk := bytes.Repeat([]byte{byte(g), byte(i)}, 32<<10)
					if err := stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Data{Data: chunk}}); err != nil {
						sent <- err
						return
					}
				}
				sent <- stream.CloseSend()
			}()
			for i := range chunks {
				m, err := stream.Recv()
				if err != nil {
					t.Errorf("stream %d, chunk %d: %v", g, i, err)
					return
				}
				if want := bytes.Repeat([]byte{byte(g), byte(i)}, 32<<10); !bytes.Equal(m.GetData(), want) {
					t.Errorf("stream %d, chunk %d: %d bytes not the ones sent", g, i, len(m.GetData()))
					return
				}
			}
			if m, err := stream.Recv(); err != nil || string(m.GetResultJson()) != "{}" {
				t.Errorf("stream %d: the result: %v %v", g, m, err)
			}
			if err := <-sent; err != nil {
				t.Errorf("stream %d: sending: %v", g, err)
			}
		})
		wg.Go(func() {
			for i := range 200 {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				resp, err := client.Invoke(ctx, &pb.InvokeRequest{Operation: "echo", ArgsJson: []byte(want)})
				if err != nil || string(resp.GetResultJson()) != want {
					t.Errorf("unary %d/%d: %s %v", g, i, resp.GetResultJson(), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBidiStreamEchoes(t *testing.T) {
	client, _ := connect(t, &testService{}, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.InvokeStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "echo"}}}); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, past the window
	sendErr := make(chan error, 1)
	go func() {
		for p := want; len(p) > 0; {
			n := min(len(p), 10000)
			if err := stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Data{Data: p[:n]}}); err != nil {
				sendErr <- err
				return
			}
			p = p[n:]
		}
		sendErr <- stream.CloseSend()
	}()
	var got []byte
	for {
		m, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, m.GetData()...)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echoed %d bytes, sent %d", len(got), len(want))
	}
}

func TestAStreamsSenderWaitsForItsReader(t *testing.T) {
	svc := &testService{}
	client, _ := connect(t, svc, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.InvokeStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const total = 8 << 20
	if err := stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "download", ArgsJson: []byte(strconv.Itoa(total))}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	// The sender runs ahead as far as it may: the window, or less when
	// the socket's buffer fills first (no caller is reading).
	for deadline := time.Now().Add(10 * time.Second); svc.sent.Load() < 2*(64<<10) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // time to run past the window, were it not kept
	if ahead := svc.sent.Load(); ahead > Window+2*(64<<10) || ahead < 2*(64<<10) {
		t.Fatalf("the sender is %d bytes ahead of a reader that read one chunk; the window is %d", ahead, Window)
	}
	// Meanwhile other calls go on.
	if _, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "echo"}); err != nil {
		t.Fatal(err)
	}
	got := 64 << 10
	for {
		m, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got += len(m.GetData())
	}
	if got != total {
		t.Fatalf("got %d bytes, want %d", got, total)
	}
}

func TestAnAbandonedStreamEndsOnTheServer(t *testing.T) {
	svc := &testService{}
	client, _ := connect(t, svc, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.InvokeStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "download", ArgsJson: []byte("1000000000")}}})
	_ = stream.CloseSend()
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after cancel: %v", err)
	}
	// The cleanup's Close waits for the server's handler: it must have
	// ended on the cancel, not sent a gigabyte.
}

func TestCallsFailAsUnavailableWhenTheConnectionEnds(t *testing.T) {
	hf, pf, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	hc, _ := FileConn(hf)
	pc, _ := FileConn(pf)
	svc := &testService{}
	srv := NewServer(ServerOptions{MaxMessageSize: 1 << 20})
	pb.RegisterDriverServiceServer(srv, svc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), pc) }()
	cl := NewClient(hc, ClientOptions{MaxMessageSize: 1 << 20})
	defer cl.Close()
	client := pb.NewDriverServiceClient(cl)

	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "block"})
			errs <- err
		}()
	}
	// Every call reaches the plugin before its end goes away.
	for deadline := time.Now().Add(10 * time.Second); svc.blocked.Load() < 8; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 calls reached the server", svc.blocked.Load())
		}
	}
	_ = pc.Close() // the plugin's end goes away
	for range 8 {
		if err := <-errs; status.Code(err) != codes.Unavailable {
			t.Fatalf("a call in flight: %v", err)
		}
	}
	<-served
	if n := svc.canceled.Load(); n != 8 {
		t.Fatalf("%d of 8 server calls were canceled", n)
	}
	if _, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "echo"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a call after: %v", err)
	}
	select {
	case <-cl.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not see the end")
	}
}

// A server fed bytes that are not frames ends its Serve with an error,
// without panicking, and leaves no goroutine behind.
func FuzzServerFrames(f *testing.F) {
	var seed []byte
	seed = beginFrame(seed, frameRequest, 1)
	seed = append(seed, flagMessage|flagHalfClose, 0)
	seed = appendString(seed, "/nebula.plugin.v1.DriverService/Invoke")
	seed = append(seed, 0, 0x12, 4, 'e', 'c', 'h', 'o')
	seed = endFrame(seed, 0)
	f.Add(seed)
	f.Add(endFrame(beginFrame(nil, frameWindow, 9), 0))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		srv := NewServer(ServerOptions{MaxMessageSize: 1 << 16})
		pb.RegisterDriverServiceServer(srv, &testService{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(context.Background(), b)
		}()
		go func() { _, _ = io.Copy(io.Discard, a) }()
		_, _ = a.Write(in)
		_ = a.Close()
		<-done
	})
}

func BenchmarkUnary(b *testing.B) {
	client, _ := connect(b, &testService{}, 1<<20)
	benchParallelCalls(b, client)
}

// benchParallelCalls makes echo calls, 16 a processor in flight.
func benchParallelCalls(b *testing.B, client pb.DriverServiceClient) {
	req := &pb.InvokeRequest{InstanceId: "i0123456789ab-1", Operation: "echo", ArgsJson: []byte(`{"key":"nebula-bench"}`)}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Invoke(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUnarySerial is one call at a time: the latency of a call.
func BenchmarkUnarySerial(b *testing.B) {
	client, _ := connect(b, &testService{}, 1<<20)
	req := &pb.InvokeRequest{InstanceId: "i0123456789ab-1", Operation: "echo", ArgsJson: []byte(`{"key":"nebula-bench"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Invoke(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDownload streams 1 MiB from the server to the client in
// 64 KiB messages, one call at a time: a blob's get through the mux.
func BenchmarkStreamDownload(b *testing.B) {
	const size = 1 << 20
	client, _ := connect(b, &testService{}, 4<<20)
	start := &pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "download", ArgsJson: []byte(strconv.Itoa(size))}}}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		stream, err := client.InvokeStream(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Send(start); err != nil {
			b.Fatal(err)
		}
		if err := stream.CloseSend(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(m.GetData())
		}
		if n != size {
			b.Fatalf("got %d bytes, want %d", n, size)
		}
	}
}
