//go:build unix

package mux

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// choppyConn hands out what it holds a few bytes at a time, and fails
// every third read with a passed deadline, as a reader interrupted by a
// caller's context sees it.
type choppyConn struct {
	net.Conn
	data  []byte
	reads int
}

func (c *choppyConn) Read(p []byte) (int, error) {
	c.reads++
	if c.reads%3 == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+c.reads%7)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestTheFrameReaderKeepsWhatAnInterruptedReadLeft: frames cut at any
// byte, by reads that fail with a passed deadline between the pieces,
// come out whole and in order, large ones (read into their own buffer)
// too; the end of the input in the middle of a frame is
// io.ErrUnexpectedEOF.
func TestTheFrameReaderKeepsWhatAnInterruptedReadLeft(t *testing.T) {
	var in []byte
	var want [][]byte
	for i, size := range []int{0, 1, 100, readBufSize - headerSize, readBufSize, 3 * readBufSize, 5} {
		body := bytes.Repeat([]byte{byte(i + 1)}, size)
		in = endFrame(append(beginFrame(in, frameMessage, uint64(i)), body...), len(in))
		want = append(want, body)
	}
	cut := append([]byte(nil), in[:len(in)-3]...)
	fr := newFrameReader(&choppyConn{data: cut}, 4*readBufSize)
	for i := range want {
		var f frame
		var err error
		for {
			if f, err = fr.next(); !errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
		}
		if i == len(want)-1 {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("the cut frame: %v", err)
			}
			break
		}
		if err != nil || f.id != uint64(i) || !bytes.Equal(f.body, want[i]) {
			t.Fatalf("frame %d: id %d, %d bytes, %v", i, f.id, len(f.body), err)
		}
		f.release()
	}
	fr.release()
}

// TestCallsGoOnWhileOthersAreCanceled: many callers, some of whose calls
// are canceled while they may be the one reading the connection, and
// some of which stream: every call that is not canceled gets its own
// answer, and the canceled ones end promptly.
func TestCallsGoOnWhileOthersAreCanceled(t *testing.T) {
	svc := &testService{}
	client, _ := connect(t, svc, 4<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				switch {
				case i%10 == w%10:
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					began := time.Now()
					_, err := client.Invoke(ctx, &pb.InvokeRequest{Operation: "block"})
					cancel()
					if status.Code(err) != codes.DeadlineExceeded || time.Since(began) > 2*time.Second {
						errs <- errors.New("a blocked call: " + status.Convert(err).Message())
						return
					}
				case i%10 == (w+5)%10:
					if err := download(client, 200<<10); err != nil {
						errs <- err
						return
					}
				default:
					arg := []byte(strconv.Itoa(w*1000 + i))
					resp, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: "echo", ArgsJson: arg})
					if err != nil || !bytes.Equal(resp.GetResultJson(), arg) {
						errs <- errors.New("echo " + string(arg) + ": " + string(resp.GetResultJson()) + " " + status.Convert(err).Message())
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// download streams n bytes from the server and checks that all came.
func download(client pb.DriverServiceClient, n int) error {
	stream, err := client.InvokeStream(context.Background())
	if err != nil {
		return err
	}
	if err := stream.Send(&pb.InvokeStreamRequest{Msg: &pb.InvokeStreamRequest_Start{Start: &pb.StreamStart{Operation: "download", ArgsJson: []byte(strconv.Itoa(n))}}}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	got := 0
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		got += len(m.GetData())
	}
	if got != n {
		return errors.New("downloaded " + strconv.Itoa(got) + " bytes of " + strconv.Itoa(n))
	}
	return nil
}

// TestTheReadingPassesToACallerStillWaiting plays the plugin by hand to
// order the answers: a caller that read its own answer leaves the
// reading to one still waiting, and a waiter chosen to read next whose
// own answer had come passes it on, so that no answer waits for a
// reader that will never come.
func TestTheReadingPassesToACallerStillWaiting(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // no caller runs before the reader has left
	hc, pc := connPair(t)
	defer pc.Close()
	cl := NewClient(hc, ClientOptions{MaxMessageSize: 1 << 20})
	defer cl.Close()
	client := pb.NewDriverServiceClient(cl)
	requests := newFrameReader(pc, 1<<20)
	answered := map[string]chan error{}
	call := func(name string) uint64 {
		done := make(chan error, 1)
		answered[name] = done
		go func() {
			_, err := client.Invoke(context.Background(), &pb.InvokeRequest{Operation: name})
			done <- err
		}()
		f, err := requests.next()
		if err != nil {
			t.Fatal(err)
		}
		f.release()
		time.Sleep(20 * time.Millisecond) // it reads, or waits
		return f.id
	}
	answer := func(ids ...uint64) {
		var b []byte
		for _, id := range ids {
			start := len(b)
			b = append(beginFrame(b, frameEnd, id), 0)
			b = endFrame(b, start)
		}
		if _, err := pc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(name string) {
		select {
		case err := <-answered[name]:
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got no answer: no one read it", name)
		}
	}

	// a reads; b waits. a's answer, then b's.
	a, b := call("a"), call("b")
	answer(a)
	wait("a")
	time.Sleep(20 * time.Millisecond)
	answer(b)
	wait("b")

	// a reads; c waits, then d. d's answer and a's come together: a
	// hands d its answer and leaves the reading to d, the last to wait,
	// which has its answer and must pass the reading to c.
	a, c, d := call("a"), call("c"), call("d")
	answer(d, a)
	wait("a")
	wait("d")
	time.Sleep(20 * time.Millisecond)
	answer(c)
	wait("c")
}

// notReady is a readiness that never comes.
type notReady struct{}

func (notReady) ready() bool { return false }

// TestAWaiterWokenForNothingWaitsOnce: a caller woken by a signal that
// was not for it (one left from a message it has already read) goes on
// waiting as one waiter, and leaves none behind when it stops; a
// waiter left behind would later be handed the reading in place of a
// caller still waiting, which would then wait for ever.
func TestAWaiterWokenForNothingWaitsOnce(t *testing.T) {
	hc, pc := connPair(t)
	defer pc.Close()
	cl := NewClient(hc, ClientOptions{MaxMessageSize: 1 << 20})
	defer cl.Close()
	cl.mu.Lock()
	cl.reading = true // another caller reads
	cl.mu.Unlock()
	notify := make(chan struct{}, 1)
	notify <- struct{}{} // the signal of a message read before
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.await(ctx, notify, notReady{}) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(notify) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the waiter did not wake")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // it waits again
	cl.mu.Lock()
	waiting := len(cl.waiters)
	cl.mu.Unlock()
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("await: %v", err)
	}
	cl.mu.Lock()
	left := len(cl.waiters)
	cl.reading = false
	cl.mu.Unlock()
	if waiting != 1 || left != 0 {
		t.Fatalf("%d waiters while it waited, %d after it stopped; want 1 and 0", waiting, left)
	}
}
