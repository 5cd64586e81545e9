package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// StreamRequest is a call of a streaming operation (an Operation whose
// Stream is set): POST /v1/resources/{name}/stream/{op}.
type StreamRequest struct {
	Operation string
	// Args are the operation's JSON arguments; empty means {}. They travel
	// in the ArgsHeader, so keep them small.
	Args json.RawMessage
	// Owner labels the lease, for leak reports.
	Owner Owner
	// Body is the operation's input, sent as it is read; nil sends none.
	// A Body that is an io.Closer is closed once the call no longer needs
	// it, as net/http closes request bodies, and as soon as its context
	// ends, which ends a Read that waits (on a pipe, on standard input). A
	// Read that waits on a Body that cannot be closed holds a canceled
	// call until it returns. The client's timeout starts when Body is read
	// to its end.
	Body io.Reader
}

// Stream is a streaming operation under way: reading it reads the
// operation's output. Read to its end, it returns io.EOF when the
// operation succeeded, whose result Result then returns, or the *Error it
// failed with. Close it in any case.
type Stream struct {
	resp   *http.Response
	cancel context.CancelFunc

	// err is what Read returns once the body has ended: io.EOF, the
	// operation's *Error, or why the output could not be read; nil
	// before.
	err    error
	result json.RawMessage
}

// Stream starts a streaming operation on a resource and returns once its
// answer begins: its output (a download) or, for an upload, once its input
// has been sent. Sending the input and reading the output go on together
// (duplex). An operation refused or failed before any output is an *Error
// here; one that fails later is the *Error that reading the stream ends
// with. The client's timeout bounds only the wait for the answer once the
// input has been sent (all of it, or as much as the operation read before
// answering); ctx bounds the whole stream, and canceling it ends it.
func (c *Client) Stream(ctx context.Context, resource string, req StreamRequest) (*Stream, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	wait := &answerWait{d: c.timeout, cancel: cancel}
	args := string(req.Args)
	if args == "" {
		args = "{}"
	}
	h := http.Header{}
	h.Set(ArgsHeader, args)
	for k, v := range map[string]string{TenantHeader: req.Owner.Tenant, WorkflowHeader: req.Owner.Workflow, StepHeader: req.Owner.Step} {
		if v != "" {
			h.Set(k, v)
		}
	}
	var body io.Reader
	if req.Body == nil {
		wait.start()
	} else {
		in := &input{r: req.Body, sent: wait.start}
		// net/http waits for a Read of the body to return before it gives
		// up on a canceled call: closing the body ends a Read that waits.
		context.AfterFunc(ctx, func() { _ = in.Close() })
		body = in
	}
	r := call{method: http.MethodPost, path: resourcePath(resource, "stream", req.Operation), body: body, contentType: ContentTypeStream, header: h}
	resp, err := c.send(ctx, r, http.StatusOK)
	wait.stop()
	if err == nil && ctx.Err() != nil {
		// The answer came as the context ended: the stream ends with it.
		resp.Body.Close()
		err = context.Cause(ctx)
	}
	if err != nil {
		var apiErr *Error
		if ctx.Err() != nil && !errors.As(err, &apiErr) {
			// Canceled or out of time: say so, whatever the transport
			// noticed first (a closed body, a closed connection).
			err = &url.Error{Op: "Post", URL: c.base + r.path, Err: context.Cause(ctx)}
		}
		cancel(nil)
		return nil, err
	}
	return &Stream{resp: resp, cancel: func() { cancel(nil) }}, nil
}

// answerWait ends a stream's context when its answer has not begun within
// d of the end of its input, as http.Transport's ResponseHeaderTimeout
// does; zero d never ends it.
type answerWait struct {
	d      time.Duration
	cancel context.CancelCauseFunc

	mu sync.Mutex // guards t and done
	t  *time.Timer
	// done is set once the answer began or the call failed: the input
	// may still end after that (duplex), and must start no timer.
	done bool
}

// start starts the wait, once.
func (w *answerWait) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.d <= 0 || w.done || w.t != nil {
		return
	}
	d := w.d
	w.t = time.AfterFunc(d, func() { w.cancel(fmt.Errorf("no answer within %v: %w", d, context.DeadlineExceeded)) })
}

// stop ends the wait.
func (w *answerWait) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.t != nil {
		w.t.Stop()
	}
}

// input is a stream's request body: it reports the end of the caller's
// Body, and closes it if it can be closed.
type input struct {
	r    io.Reader
	sent func()
}

func (in *input) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if err == io.EOF {
		in.sent()
	}
	return n, err
}

func (in *input) Close() error {
	if c, ok := in.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Read reads the operation's output. At its end it returns io.EOF when the
// operation succeeded, or the *Error it failed with (whose StatusCode is
// 200, the status of the answer that had begun).
func (s *Stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.resp.Body.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		s.err = s.finish()
		err = s.err
	case err != nil:
		s.err = err
	}
	return n, err
}

// finish reads the trailers of an answer read to its end.
func (s *Stream) finish() error {
	if v := s.resp.Trailer.Get(ErrorTrailer); v != "" {
		var eb ErrorBody
		if json.Unmarshal([]byte(v), &eb) != nil || eb.Error.Kind == "" {
			return &Error{Kind: KindUnknown, Message: "the stream failed, with an error trailer that is not an error body", StatusCode: http.StatusOK}
		}
		e := eb.Error
		e.StatusCode = http.StatusOK
		return &e
	}
	if v := s.resp.Trailer.Get(ResultTrailer); v != "" {
		s.result = json.RawMessage(v)
	}
	return io.EOF
}

// Result returns the operation's JSON result, once Read has returned
// io.EOF; before that ErrStreamNotDone, and after a failure what Read
// failed with.
func (s *Stream) Result() (json.RawMessage, error) {
	switch {
	case s.err == nil:
		return nil, ErrStreamNotDone
	case s.err != io.EOF:
		return nil, s.err
	}
	return s.result, nil
}

// Close ends the stream, whether or not its output was read to the end:
// an operation still running is canceled. It is safe to call more than
// once.
func (s *Stream) Close() error {
	err := s.resp.Body.Close()
	s.cancel()
	return err
}

var _ io.ReadCloser = (*Stream)(nil)
