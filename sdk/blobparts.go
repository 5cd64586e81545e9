package sdk

import (
	"context"
	"errors"
	"io"
	"sync"
)

// BlobParts reads one put's body in parts and sends them in parallel, for
// a driver whose backend takes a large object in parts (S3's multipart
// upload, Azure's staged blocks). Make one per put with NewBlobParts,
// read the first part with First (a stream that ends within it is better
// stored with one request), send it and the rest with Upload, and Close
// it when the put ends.
//
// A put holds at most concurrency part buffers of size bytes: a part takes
// its slot before it is read and gives its buffer back once it is sent,
// and a buffer is reused from part to part, so that a put of any size
// leaves no garbage behind its parts (a fresh buffer per part let a 1 GiB
// put grow a plugin by 75 MiB between collections). A driver may keep the
// buffers of ended puts in a sync.Pool of its resource, for the next put.
type BlobParts struct {
	body        io.Reader
	size        int64
	concurrency int
	idle        *sync.Pool // of *[]byte of size bytes; nil for none
	free        chan []byte
}

// blobSmallPut is what First reads before it takes a part buffer: a
// stream that ends within it goes up from a buffer of its own size.
const blobSmallPut = 256 << 10

// NewBlobParts returns the parts of body: size bytes each, concurrency
// sent at a time, their buffers taken from and given back to idle when it
// is not nil.
func NewBlobParts(body io.Reader, size int64, concurrency int, idle *sync.Pool) *BlobParts {
	return &BlobParts{body: body, size: size, concurrency: max(concurrency, 1), idle: idle, free: make(chan []byte, max(concurrency, 1))}
}

// First reads the first part; more reports that the body goes on (the
// part is full). A read error of the body is returned as it is.
func (p *BlobParts) First() (part []byte, more bool, err error) {
	small := make([]byte, min(blobSmallPut, p.size))
	n, more, err := fillPart(p.body, small)
	if !more || err != nil {
		return small[:n], false, err
	}
	buf := p.get()
	copy(buf, small)
	m, more, err := fillPart(p.body, buf[n:])
	if err != nil {
		p.release(buf)
		return nil, false, err
	}
	return buf[:n+m], more, nil
}

// Upload sends first (from First) and the rest of the body's parts with
// send, at most concurrency at a time; n counts the parts from 0. send
// must be done with its part's bytes when it returns, unless it fails
// (the transport may still read a failed request's body, so that buffer
// is not reused). Upload returns the number of parts and their total
// size, or the first error: send's, the body's (a broken caller's stream,
// classified by BlobStreamError with what), or ctx's end. Every send has
// returned when Upload does.
func (p *BlobParts) Upload(ctx context.Context, first []byte, what string, send func(ctx context.Context, n int, part []byte) error) (parts int, size int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		sendErr  error
		readErr  error
		slots    = make(chan struct{}, p.concurrency)
		data     = first
		more     = true
		failSend = func(err error) { once.Do(func() { sendErr = err; cancel() }) }
	)
	slots <- struct{}{} // first's
	for n := 0; ; n++ {
		parts, size = n+1, size+int64(len(data))
		part := data // the loop reads the next part into data meanwhile
		wg.Go(func() {
			defer func() { <-slots }()
			if err := send(ctx, n, part); err != nil {
				failSend(err)
				return
			}
			p.release(part)
		})
		if !more {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if data, more, readErr = p.next(); readErr != nil || len(data) == 0 {
			break
		}
	}
	wg.Wait()
	switch {
	case sendErr != nil:
		return parts, size, sendErr
	case readErr != nil:
		return parts, size, BlobStreamError(ctx, readErr, what)
	}
	if err := ctx.Err(); err != nil {
		return parts, size, WrapError(KindOf(err), err, what)
	}
	return parts, size, nil
}

// Close hands the put's buffers to idle, for the next put.
func (p *BlobParts) Close() {
	for {
		select {
		case b := <-p.free:
			if p.idle != nil {
				p.idle.Put(&b)
			}
		default:
			return
		}
	}
}

// next reads the next part, as First does; an empty part means the body
// ended with the previous one.
func (p *BlobParts) next() (part []byte, more bool, err error) {
	buf := p.get()
	n, more, err := fillPart(p.body, buf)
	if err != nil || n == 0 {
		p.release(buf)
		return nil, false, err
	}
	return buf[:n], more, nil
}

func (p *BlobParts) get() []byte {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.idle != nil {
		if b, ok := p.idle.Get().(*[]byte); ok && int64(len(*b)) == p.size {
			return *b
		}
	}
	return make([]byte, p.size)
}

// release gives a sent part's buffer back; a small first part's is not
// one.
func (p *BlobParts) release(b []byte) {
	if int64(cap(b)) != p.size {
		return
	}
	select {
	case p.free <- b[:cap(b)]:
	default:
	}
}

// fillPart reads body into buf until buf is full (more) or body ends.
func fillPart(body io.Reader, buf []byte) (n int, more bool, err error) {
	n, err = io.ReadFull(body, buf)
	switch {
	case err == nil:
		return n, true, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return n, false, nil
	}
	return n, false, err
}
