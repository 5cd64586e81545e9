package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Documents is the cursor of a find or an aggregate of the document
// capability (sdk.CapabilityDocument): the documents the operation
// streams, one at a time, as canonical Extended JSON, read as the plugin
// sends them, so that a result set of any size takes little memory. Make
// one with [Lease.OpenDocuments]; Close it before the lease is released.
//
//	docs, err := lease.OpenDocuments(ctx, "find", map[string]any{
//		"collection": "orders",
//		"filter":     json.RawMessage(`{"status": "paid"}`),
//	})
//	if err != nil {
//		return err
//	}
//	defer docs.Close()
//	for docs.Next() {
//		var order bson.D // or a struct of your own
//		if err := bson.UnmarshalExtJSON(docs.Document(), true, &order); err != nil {
//			return err
//		}
//	}
//	return docs.Err()
//
// A Documents is for one goroutine at a time, like the rows of a query.
type Documents struct {
	r    *StreamReader
	br   *bufio.Reader
	doc  []byte
	long []byte // a document longer than br's buffer
	err  error  // io.EOF once the stream ended well
}

// documentBuffer is the size of a Documents' read buffer: most documents
// fit, and a longer one is assembled apart.
const documentBuffer = 64 << 10

// OpenDocuments starts a streaming operation of the document capability
// whose stream is documents, one per line (find, aggregate), and returns
// its cursor. The arguments are checked before it returns.
func (l *Lease) OpenDocuments(ctx context.Context, op string, args any) (*Documents, error) {
	r, err := l.OpenReader(ctx, op, args)
	if err != nil {
		return nil, err
	}
	return &Documents{r: r, br: bufio.NewReaderSize(r, documentBuffer)}, nil
}

// Next advances to the next document and reports whether there is one;
// after false, Err says whether the stream ended well.
func (d *Documents) Next() bool {
	if d.err != nil {
		return false
	}
	line, err := d.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		d.long = append(d.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = d.br.ReadSlice('\n')
			d.long = append(d.long, line...)
		}
		line = d.long
	}
	switch {
	case err == nil:
		d.doc = line[:len(line)-1]
		return true
	case errors.Is(err, io.EOF) && len(line) > 0:
		d.err = sdk.Errorf(sdk.KindInternal, "the stream of documents ended in the middle of one (%d bytes without their newline)", len(line))
	default:
		d.err = err
	}
	d.doc = nil
	return false
}

// Document returns the current document, canonical Extended JSON. It is
// valid until the next call of Next: copy it to keep it.
func (d *Documents) Document() json.RawMessage { return d.doc }

// Err returns the error that ended the stream, nil when it ended well:
// the operation's error, whose kind survives (sdk.KindOf).
func (d *Documents) Err() error {
	if errors.Is(d.err, io.EOF) {
		return nil
	}
	return d.err
}

// Close stops the operation if it is still running and waits for it. It
// returns the operation's error if it ended by itself.
func (d *Documents) Close() error {
	if d.err == nil {
		d.err = errDocumentsClosed
	}
	return d.r.Close()
}

// errDocumentsClosed ends the Next of a closed cursor.
var errDocumentsClosed = sdk.Errorf(sdk.KindCanceled, "the cursor of documents is closed")

// Result returns the operation's result once the stream has ended well
// ({"count": N}), or nil.
func (d *Documents) Result() json.RawMessage { return d.r.Result() }
