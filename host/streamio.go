package host

import (
	"context"
	"encoding/json"
	"errors"
	"io"
)

// StreamWriter is the caller's end of an upload, such as a blob put: what
// is written to it goes to the operation as its stream. Close ends the
// stream and waits for the operation's result; CloseWithError ends it
// with a failure, which fails the operation (a put then leaves no
// object). Make one with [Lease.OpenWriter].
//
// A StreamWriter is for one goroutine at a time, like an *os.File.
type StreamWriter struct {
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
	res    json.RawMessage // set before done is closed
	err    error
}

// OpenWriter starts the streaming operation op with args and returns the
// writer of its input; what the operation streams back is discarded. The
// arguments are checked before it returns. The operation runs until the
// writer is closed, ctx ends, or it fails; close the writer before the
// lease is released.
//
//	w, err := lease.OpenWriter(ctx, "put", map[string]any{"key": "reports/q3.csv"})
//	if err != nil {
//		return err
//	}
//	if _, err := io.Copy(w, file); err != nil {
//		w.CloseWithError(err) // no object
//		return err
//	}
//	if err := w.Close(); err != nil {
//		return err
//	}
//	fmt.Printf("%s\n", w.Result()) // {"key":"reports/q3.csv","size":...,"crc32c":...}
func (l *Lease) OpenWriter(ctx context.Context, op string, args any) (*StreamWriter, error) {
	run, err := l.stream(op, args)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	w := &StreamWriter{pw: pw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.res, w.err = run(ctx, pr, io.Discard)
		// A Write after the operation ended returns its error (or says
		// that it ended).
		pr.CloseWithError(cmpOr(w.err, errStreamEnded))
	}()
	return w, nil
}

// errStreamEnded is what a Write gets after the operation ended without
// an error, having stopped reading.
var errStreamEnded = errors.New("the operation ended before its stream did")

// Write sends p to the operation. After the operation failed it returns
// the operation's error.
func (w *StreamWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if err != nil {
		<-w.done
		if w.err != nil {
			return n, w.err
		}
	}
	return n, err
}

// Close ends the stream, waits for the operation, and returns its error.
// It may be called more than once.
func (w *StreamWriter) Close() error { return w.CloseWithError(nil) }

// CloseWithError ends the stream with err (a nil err ends it as Close
// does), so that the operation fails, waits for it, and returns its error.
func (w *StreamWriter) CloseWithError(err error) error {
	_ = w.pw.CloseWithError(err)
	<-w.done
	w.cancel()
	return w.err
}

// Result returns the operation's JSON result, once Close has returned
// nil.
func (w *StreamWriter) Result() json.RawMessage {
	select {
	case <-w.done:
		return w.res
	default:
		return nil
	}
}

// StreamReader is the caller's end of a download, such as a blob get:
// reads return what the operation streams back, then io.EOF once it has
// succeeded, or its error if it failed. Close stops the operation if it
// is still running. Make one with [Lease.OpenReader].
//
// A StreamReader is for one goroutine at a time, like an *os.File.
type StreamReader struct {
	pr      *io.PipeReader
	cancel  context.CancelFunc
	done    chan struct{}
	res     json.RawMessage // set before done is closed
	err     error
	stopped bool // by Close
	ended   bool // a read returned the operation's end: io.EOF or its error
}

// OpenReader starts the streaming operation op with args, with no input,
// and returns the reader of what it streams back. The arguments are
// checked before it returns. Close the reader before the lease is
// released.
//
//	r, err := lease.OpenReader(ctx, "get", map[string]any{"key": "reports/q3.csv"})
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	if _, err := io.Copy(file, r); err != nil {
//		return err // the operation's error: its kind survives (sdk.KindOf)
//	}
//	fmt.Printf("%s\n", r.Result()) // {"key":"reports/q3.csv","offset":0,"length":...,"crc32c":...}
func (l *Lease) OpenReader(ctx context.Context, op string, args any) (*StreamReader, error) {
	run, err := l.stream(op, args)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	r := &StreamReader{pr: pr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = run(ctx, nil, pw)
		pw.CloseWithError(r.err) // nil: the reader gets io.EOF
	}()
	return r, nil
}

// Read reads what the operation streams back.
func (r *StreamReader) Read(p []byte) (int, error) {
	n, err := r.pr.Read(p)
	if err != nil && !r.stopped {
		r.ended = true
	}
	return n, err
}

// Close stops the operation if it is still running, and waits for it to
// end. It returns the operation's error if the operation ended by itself
// (nil once it succeeded), and nil if Close stopped it. It may be called
// more than once.
func (r *StreamReader) Close() error {
	switch {
	case r.stopped:
		return nil
	case r.ended:
		<-r.done
		return r.err
	}
	select {
	case <-r.done:
		return r.err
	default:
	}
	r.stopped = true
	r.cancel()
	_ = r.pr.CloseWithError(errReaderClosed)
	<-r.done
	return nil
}

// errReaderClosed is what the operation's writes get once the reader was
// closed.
var errReaderClosed = errors.New("the stream reader was closed")

// Result returns the operation's JSON result, once a read has returned
// io.EOF.
func (r *StreamReader) Result() json.RawMessage {
	if r.ended {
		// The operation's goroutine ends the pipe just before it is done.
		<-r.done
		return r.res
	}
	select {
	case <-r.done:
		return r.res
	default:
		return nil
	}
}

// cmpOr returns err, or def when err is nil.
func cmpOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
