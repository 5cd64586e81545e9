package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The blob capabilities: objects in buckets (S3, Google Cloud Storage,
// Azure Blob) or files under a root (localfs). A resource type that lists
// CapabilityBlob offers the operations of BlobOperations, with exactly
// these names, arguments and results, so that a workflow moves from local
// files in development to a bucket in production by changing the
// resource's type; one that lists CapabilityBlobPresign also offers
// presign. A driver builds them with [BlobOps] from its [BlobStore], and
// may offer more operations besides.
//
// The model:
//
//   - A key names an object: any UTF-8 string without NUL, at most 1024
//     bytes, not starting with "/". "/" has no meaning but to list's
//     delimiter.
//   - put streams the object's bytes from the caller, of any size; the
//     object appears whole, or not at all: a put that fails (the caller's
//     stream broke, the call was canceled, the checksum did not match)
//     leaves no object and no parts behind.
//   - The SDK computes the CRC32C (Castagnoli) of the bytes on their way
//     through put and get, and their SHA-256 too when the call's checksum
//     argument is "sha256"; it returns them, and compares them with what
//     the backend reports where it reports one. A caller that sends the
//     SHA-256 it expects with put gets no object unless the bytes match
//     it. (CRC32C costs next to nothing; SHA-256 costs about 30 ms of CPU
//     per 64 MiB even with the processor's SHA instructions, which halved
//     a get's throughput when it was always computed.)
//   - An object's etag changes whenever its bytes or metadata do:
//     if_match on an etag makes a write or a read conditional on the object
//     being the one the caller saw; if_none_match "*" makes a put or a copy
//     create the object only if it is absent.
//
// put and get are streams (StreamUpload, StreamDownload); stat, list,
// delete and copy are plain operations. All but put and copy are
// idempotent; put and copy are too unless they are conditional, and are
// marked so (a retry of an unconditional put writes the same object
// again).
const (
	CapabilityBlob        = "blob"
	CapabilityBlobPresign = "blob_presign"
)

// Limits of the blob operations.
const (
	// BlobMaxKeyLen is the longest key, in bytes.
	BlobMaxKeyLen = 1024
	// BlobMaxPage is the most objects and prefixes one list page holds,
	// and the most keys one delete takes.
	BlobMaxPage = 1000
	// BlobMaxPresign is the longest a presigned URL may live.
	BlobMaxPresign = 7 * 24 * time.Hour
)

// Arguments of the blob operations.
type (
	// BlobPutArgs are the arguments of put; the object's bytes are the
	// call's stream.
	BlobPutArgs struct {
		Key         string            `nebula:"key,required" doc:"The object's key."`
		ContentType string            `nebula:"content_type" default:"" doc:"The object's media type; \"\" lets the backend choose (application/octet-stream)."`
		Metadata    map[string]string `nebula:"metadata" doc:"User metadata, name to value; names are lowercase letters, digits and - or _."`
		Size        int64             `nebula:"size" default:"-1" doc:"The object's size in bytes when the caller knows it, which lets a backend upload it in one request; -1 when unknown."`
		SHA256      string            `nebula:"sha256" default:"" doc:"The SHA-256 the bytes must have, in hex; when they do not, the put fails and leaves no object."`
		Checksum    string            `nebula:"checksum" default:"crc32c" doc:"The checksums computed of the bytes on their way: \"crc32c\", or \"sha256\" for the SHA-256 as well (which sha256 implies)."`
		IfNoneMatch string            `nebula:"if_none_match" default:"" doc:"\"*\" creates the object only if the key is absent (already_exists otherwise)."`
		IfMatch     string            `nebula:"if_match" default:"" doc:"An etag: replaces the object only if it still has it (failed_precondition otherwise)."`
	}
	// BlobGetArgs are the arguments of get: the object, or the range of it
	// that starts at offset and holds length bytes.
	BlobGetArgs struct {
		Key      string `nebula:"key,required" doc:"The object's key."`
		Offset   int64  `nebula:"offset" default:"0" doc:"The first byte to send; 0 for the start. An offset at or past the end of a non-empty object is invalid_argument."`
		Length   int64  `nebula:"length" default:"-1" doc:"How many bytes to send; -1 for all up to the end."`
		IfMatch  string `nebula:"if_match" default:"" doc:"An etag: sends the bytes only if the object still has it (failed_precondition otherwise), so that a resumed get does not mix two versions."`
		Checksum string `nebula:"checksum" default:"crc32c" doc:"The checksums computed of the bytes on their way: \"crc32c\", or \"sha256\" for the SHA-256 as well."`
	}
	// BlobKeyArgs are the arguments of stat.
	BlobKeyArgs struct {
		Key string `nebula:"key,required" doc:"The object's key."`
	}
	// BlobListArgs are the arguments of list.
	BlobListArgs struct {
		Prefix    string `nebula:"prefix" default:"" doc:"Only keys that start with it."`
		Delimiter string `nebula:"delimiter" default:"" doc:"\"/\" groups the keys that have it after the prefix into prefixes, as directories; \"\" lists every key."`
		Token     string `nebula:"token" default:"" doc:"\"\" for the first page; then the token the previous page returned."`
		Limit     int    `nebula:"limit" default:"1000" doc:"The most objects and prefixes on the page, 1 to 1000."`
	}
	// BlobDeleteArgs are the arguments of delete.
	BlobDeleteArgs struct {
		Keys []string `nebula:"keys,required" doc:"The keys of the objects to remove, 1 to 1000; a key that is absent is not an error."`
	}
	// BlobCopyArgs are the arguments of copy, which the backend performs
	// without the bytes passing through the plugin where it can.
	BlobCopyArgs struct {
		From        string `nebula:"from,required" doc:"The key of the object to copy."`
		To          string `nebula:"to,required" doc:"The key of the copy; an object there is replaced."`
		IfNoneMatch string `nebula:"if_none_match" default:"" doc:"\"*\" copies only if to is absent (already_exists otherwise)."`
		IfMatch     string `nebula:"if_match" default:"" doc:"An etag: copies only if from still has it (failed_precondition otherwise)."`
	}
	// BlobPresignArgs are the arguments of presign.
	BlobPresignArgs struct {
		Key         string        `nebula:"key,required" doc:"The object's key."`
		Method      string        `nebula:"method" default:"get" doc:"\"get\" for a URL that downloads the object, \"put\" for one that uploads it."`
		Expires     time.Duration `nebula:"expires" default:"15m" doc:"How long the URL works, up to 168h."`
		ContentType string        `nebula:"content_type" default:"" doc:"For put: the media type the upload must send, as the Content-Type header."`
	}
)

// Results of the blob operations, as JSON.
type (
	// BlobInfo describes an object: stat's result, and each object of a
	// list page (whose entries may lack ContentType and Metadata where the
	// backend lists without them).
	BlobInfo struct {
		Key          string            `json:"key"`
		Size         int64             `json:"size"`
		ETag         string            `json:"etag,omitempty"`
		ContentType  string            `json:"content_type,omitempty"`
		Metadata     map[string]string `json:"metadata,omitempty"`
		LastModified time.Time         `json:"last_modified,omitzero"`
		// SHA256 and CRC32C are the object's checksums, in hex, where the
		// backend stores or reports them; "" otherwise.
		SHA256 string `json:"sha256,omitempty"`
		CRC32C string `json:"crc32c,omitempty"`
	}
	// BlobPutResult is put's result: the object written, and the
	// checksums the SDK computed of the bytes that went through (SHA256
	// only when the checksum argument asked for it).
	BlobPutResult struct {
		Key    string `json:"key"`
		Size   int64  `json:"size"`
		ETag   string `json:"etag,omitempty"`
		SHA256 string `json:"sha256,omitempty"`
		CRC32C string `json:"crc32c"`
	}
	// BlobGetResult is get's result, after the bytes: what was sent (the
	// range and its checksums), and the object it came from.
	BlobGetResult struct {
		Key          string    `json:"key"`
		Offset       int64     `json:"offset"`
		Length       int64     `json:"length"`
		Size         int64     `json:"size"`
		ETag         string    `json:"etag,omitempty"`
		ContentType  string    `json:"content_type,omitempty"`
		LastModified time.Time `json:"last_modified,omitzero"`
		SHA256       string    `json:"sha256,omitempty"`
		CRC32C       string    `json:"crc32c"`
	}
	// BlobListResult is a page of list.
	BlobListResult struct {
		Objects  []BlobInfo `json:"objects"`
		Prefixes []string   `json:"prefixes"`
		// Token is the next page's, "" after the last page.
		Token string `json:"token"`
	}
	// BlobDeleteResult is delete's result: how many keys it was given,
	// all of which are now absent (backends do not all say which were
	// there).
	BlobDeleteResult struct {
		Count int `json:"count"`
	}
	// BlobPresignResult is presign's result: a URL that any HTTP client
	// uses without credentials until it expires, with the method ("GET"
	// or "PUT", as an HTTP client sends it) and the headers the request
	// must send.
	BlobPresignResult struct {
		URL     string            `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers,omitempty"`
		Expires time.Time         `json:"expires"`
	}
)

// BlobStore is what a blob driver implements, on its instances, for
// [BlobOps]: the calls to its backend. The SDK has validated the arguments
// before a method runs; it computes and checks the checksums, and counts
// the bytes.
type BlobStore interface {
	// PutBlob stores the object whose bytes body yields up to io.EOF. A
	// read error from body (the caller's stream broke, a checksum did not
	// match) must fail the put and leave no object and no uploaded parts.
	// It returns the object as stored.
	PutBlob(ctx context.Context, args BlobPutArgs, body io.Reader) (BlobInfo, error)
	// GetBlob writes the bytes of args' range to w and returns the
	// object's info (its whole size, not the range's). A missing object is
	// not_found; an etag that does not match is failed_precondition; a
	// range that starts at or past the end of a non-empty object is
	// invalid_argument.
	GetBlob(ctx context.Context, args BlobGetArgs, w io.Writer) (BlobInfo, error)
	// StatBlob returns an object's info; a missing object is not_found.
	StatBlob(ctx context.Context, key string) (BlobInfo, error)
	// ListBlobs returns a page of at most args.Limit objects and prefixes
	// in key order.
	ListBlobs(ctx context.Context, args BlobListArgs) (BlobListResult, error)
	// DeleteBlobs removes the objects; absent keys are not an error.
	DeleteBlobs(ctx context.Context, keys []string) error
	// CopyBlob copies an object and returns the copy's info.
	CopyBlob(ctx context.Context, args BlobCopyArgs) (BlobInfo, error)
}

// BlobPresigner is what a driver with presigned URLs implements besides
// [BlobStore], for [BlobPresignOp].
type BlobPresigner interface {
	PresignBlob(ctx context.Context, args BlobPresignArgs) (BlobPresignResult, error)
}

// BlobOperations are the operations of CapabilityBlob.
func BlobOperations() []Operation {
	key := MustSchemaFor(BlobKeyArgs{})
	return []Operation{
		{Name: "put", Description: "Uploads an object from the byte stream, of any size; the object appears whole or not at all. Returns its etag and the SHA-256 and CRC32C of the bytes.", Args: MustSchemaFor(BlobPutArgs{}), Stream: StreamUpload},
		{Name: "get", Description: "Downloads an object, or a range of it, as a byte stream; then returns what was sent and the SHA-256 and CRC32C of those bytes.", Args: MustSchemaFor(BlobGetArgs{}), Stream: StreamDownload, Idempotent: true},
		{Name: "stat", Description: "Returns an object's size, etag, content type, user metadata and last modification.", Args: key, Idempotent: true},
		{Name: "list", Description: "Returns a page of the objects under a prefix, in key order, with the prefixes a delimiter groups, and the token of the next page.", Args: MustSchemaFor(BlobListArgs{}), Idempotent: true},
		{Name: "delete", Description: "Removes objects; a key that is absent is not an error.", Args: MustSchemaFor(BlobDeleteArgs{}), Idempotent: true},
		{Name: "copy", Description: "Copies an object within the resource, on the backend where it can.", Args: MustSchemaFor(BlobCopyArgs{})},
	}
}

// BlobPresignOperations are the operations of CapabilityBlobPresign.
func BlobPresignOperations() []Operation {
	return []Operation{
		{Name: "presign", Description: "Returns a URL that downloads (get) or uploads (put) an object without credentials until it expires.", Args: MustSchemaFor(BlobPresignArgs{}), Idempotent: true},
	}
}

// BlobOps returns the operations of CapabilityBlob for instances of type I,
// performed by I's BlobStore methods.
func BlobOps[I BlobStore]() []Op[I] {
	return []Op[I]{
		NewStreamOp("put", "", StreamUpload, blobPut[I]),
		NewStreamOp("get", "", StreamDownload, blobGet[I]),
		NewOp("stat", "", func(i I, ctx context.Context, a BlobKeyArgs) (BlobInfo, error) { return i.StatBlob(ctx, a.Key) }),
		NewOp("list", "", func(i I, ctx context.Context, a BlobListArgs) (BlobListResult, error) {
			page, err := i.ListBlobs(ctx, a)
			if err != nil {
				return BlobListResult{}, err
			}
			if page.Objects == nil {
				page.Objects = []BlobInfo{}
			}
			if page.Prefixes == nil {
				page.Prefixes = []string{}
			}
			return page, nil
		}),
		NewOp("delete", "", func(i I, ctx context.Context, a BlobDeleteArgs) (BlobDeleteResult, error) {
			if err := i.DeleteBlobs(ctx, a.Keys); err != nil {
				return BlobDeleteResult{}, err
			}
			return BlobDeleteResult{Count: len(a.Keys)}, nil
		}),
		NewOp("copy", "", func(i I, ctx context.Context, a BlobCopyArgs) (BlobInfo, error) { return i.CopyBlob(ctx, a) }),
	}
}

// BlobPresignOp returns the operation of CapabilityBlobPresign for
// instances of type I.
func BlobPresignOp[I BlobPresigner]() Op[I] {
	return NewOp("presign", "", func(i I, ctx context.Context, a BlobPresignArgs) (BlobPresignResult, error) {
		return i.PresignBlob(ctx, a)
	}).Idempotent()
}

// blobSums computes a stream's CRC32C, and its SHA-256 when asked.
type blobSums struct {
	sha hash.Hash // nil when not asked
	crc hash.Hash32
	n   int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newBlobSums returns the sums of a checksum argument's choice: SHA-256
// too when withSHA256.
func newBlobSums(withSHA256 bool) *blobSums {
	s := &blobSums{crc: crc32.New(castagnoli)}
	if withSHA256 {
		s.sha = sha256.New()
	}
	return s
}

func (s *blobSums) add(p []byte) {
	if s.sha != nil {
		s.sha.Write(p)
	}
	s.crc.Write(p)
	s.n += int64(len(p))
}

// sha256 returns the SHA-256 in hex, or "" when it was not asked for.
func (s *blobSums) sha256() string {
	if s.sha == nil {
		return ""
	}
	return hex.EncodeToString(s.sha.Sum(nil))
}
func (s *blobSums) crc32c() string { return fmt.Sprintf("%08x", s.crc.Sum32()) }

// ErrBlobChecksum is in the chain of a put whose bytes do not have the
// SHA-256 the caller sent, and of a put or get whose bytes do not have the
// checksum the backend reports.
var ErrBlobChecksum = errors.New("checksum mismatch")

// blobBody is put's body as the driver reads it: it sums the bytes, and at
// their end fails the read when they do not have the expected SHA-256 or
// size, so that the driver aborts the upload rather than store them.
type blobBody struct {
	r      io.Reader
	sums   *blobSums
	want   string // expected SHA-256, hex, lowercase; "" for none
	size   int64  // expected size; -1 for unknown
	failed error
}

func (b *blobBody) Read(p []byte) (int, error) {
	if b.failed != nil {
		return 0, b.failed
	}
	n, err := b.r.Read(p)
	b.sums.add(p[:n])
	if b.size >= 0 && b.sums.n > b.size {
		b.failed = Errorf(KindInvalidArgument, "the stream holds more than the %d bytes size says", b.size)
		return 0, b.failed
	}
	if errors.Is(err, io.EOF) {
		switch {
		case b.size >= 0 && b.sums.n != b.size:
			b.failed = Errorf(KindInvalidArgument, "the stream holds %d bytes where size says %d", b.sums.n, b.size)
		case b.want != "" && b.sums.sha256() != b.want:
			b.failed = WrapError(KindInvalidArgument, ErrBlobChecksum, "the bytes have SHA-256 "+b.sums.sha256()+", not the "+b.want+" the call sent: no object was stored")
		}
		if b.failed != nil {
			return n, b.failed
		}
	} else if err != nil {
		// The caller's stream broke: the driver must not store what came.
		b.failed = err
	}
	return n, err
}

func blobPut[I BlobStore](i I, ctx context.Context, a BlobPutArgs, in io.Reader, _ io.Writer) (BlobPutResult, error) {
	body := &blobBody{r: in, sums: newBlobSums(a.Checksum == "sha256" || a.SHA256 != ""), want: strings.ToLower(a.SHA256), size: a.Size}
	info, err := i.PutBlob(ctx, a, body)
	if err != nil {
		if body.failed != nil && !errors.Is(err, body.failed) {
			// The driver reports the upload it aborted; the reason is
			// the body's.
			err = errors.Join(body.failed, err)
		}
		return BlobPutResult{}, err
	}
	// A driver told the size may store that many bytes without reading
	// the end of the stream: read it, for the checks that run there.
	stored := body.sums.n
	_, derr := io.Copy(io.Discard, body)
	switch {
	case body.failed != nil:
		// Stored, but not the bytes the caller meant: remove them.
		return BlobPutResult{}, removeStored(ctx, i, a.Key, body.failed)
	case derr != nil || body.sums.n != stored:
		return BlobPutResult{}, removeStored(ctx, i, a.Key, Errorf(KindInternal, "put %q: the driver stored %d bytes of %d", a.Key, stored, body.sums.n))
	}
	res := BlobPutResult{Key: a.Key, Size: body.sums.n, ETag: info.ETag, SHA256: body.sums.sha256(), CRC32C: body.sums.crc32c()}
	if err := checkBlobSums(info, res.SHA256, res.CRC32C, body.sums.n); err != nil {
		// The backend holds other bytes than those sent: remove them.
		return BlobPutResult{}, removeStored(ctx, i, a.Key, Errorf(KindUnavailable, "put %q: %v", a.Key, err))
	}
	return res, nil
}

// removeStored deletes the object a put stored with bytes other than the
// caller's, even when the call has ended, and returns why it was put
// wrong, saying whether the removal failed.
func removeStored(ctx context.Context, i BlobStore, key string, why error) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := i.DeleteBlobs(dctx, []string{key}); err != nil {
		return errors.Join(why, fmt.Errorf("removing %q, which holds what it should not: %w", key, err))
	}
	return why
}

// checkBlobSums compares what the backend reports of an object with the
// checksums of its n bytes that went through (sha is "" when not
// computed).
func checkBlobSums(info BlobInfo, sha, crc string, n int64) error {
	switch {
	case info.SHA256 != "" && sha != "" && !strings.EqualFold(info.SHA256, sha):
		return fmt.Errorf("%w: the backend reports SHA-256 %s for bytes whose SHA-256 is %s", ErrBlobChecksum, info.SHA256, sha)
	case info.CRC32C != "" && !strings.EqualFold(info.CRC32C, crc):
		return fmt.Errorf("%w: the backend reports CRC32C %s for bytes whose CRC32C is %s", ErrBlobChecksum, info.CRC32C, crc)
	case info.Size > 0 && info.Size != n:
		return fmt.Errorf("%w: the backend reports %d bytes where %d went through", ErrBlobChecksum, info.Size, n)
	}
	return nil
}

// blobWriter is get's output as the driver writes it: it sums the bytes.
type blobWriter struct {
	w    io.Writer
	sums *blobSums
}

func (b *blobWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.sums.add(p[:n])
	return n, err
}

// blobReadSize is the most ReadFrom reads before it writes, and
// blobFlushSize what it has read when it writes without waiting for more.
const (
	blobReadSize  = 240 << 10
	blobFlushSize = 64 << 10
)

var blobReadBuffers = sync.Pool{New: func() any { b := make([]byte, blobReadSize); return &b }}

// ReadFrom copies r to the output in writes of 64 to 240 KiB, so that a
// driver's io.Copy from its backend's response sends a stream message per
// such write, not per 32 KiB (or per socket read): the messages, and the
// system calls of both processes, were most of the cost of a get through
// the plugin.
func (b *blobWriter) ReadFrom(r io.Reader) (int64, error) {
	bufp := blobReadBuffers.Get().(*[]byte)
	defer blobReadBuffers.Put(bufp)
	buf := *bufp
	var written int64
	for {
		n := 0
		var rerr error
		for n < blobFlushSize && rerr == nil {
			var m int
			m, rerr = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			m, err := b.Write(buf[:n])
			written += int64(m)
			if err != nil {
				return written, err
			}
		}
		switch {
		case errors.Is(rerr, io.EOF):
			return written, nil
		case rerr != nil:
			return written, rerr
		}
	}
}

func blobGet[I BlobStore](i I, ctx context.Context, a BlobGetArgs, _ io.Reader, out io.Writer) (BlobGetResult, error) {
	w := &blobWriter{w: out, sums: newBlobSums(a.Checksum == "sha256")}
	info, err := i.GetBlob(ctx, a, w)
	if err != nil {
		return BlobGetResult{}, err
	}
	return blobGetResult(a, info, w.sums)
}

// blobGetResult is the result of a get of the object info whose bytes
// went through sums, with an error if fewer came than the range holds or
// the checksums differ from what the backend reports.
func blobGetResult(a BlobGetArgs, info BlobInfo, sums *blobSums) (BlobGetResult, error) {
	res := BlobGetResult{Key: a.Key, Offset: a.Offset, Length: sums.n, Size: info.Size, ETag: info.ETag,
		ContentType: info.ContentType, LastModified: info.LastModified, SHA256: sums.sha256(), CRC32C: sums.crc32c()}
	want := info.Size - a.Offset
	if a.Length >= 0 {
		want = min(want, a.Length)
	}
	if want < 0 {
		want = 0
	}
	if sums.n != want {
		// A backend that ended the body early without an error.
		return res, Errorf(KindUnavailable, "get %q: %d of the range's %d bytes came; get the rest with offset %d", a.Key, sums.n, want, a.Offset+sums.n)
	}
	if a.Offset == 0 && sums.n == info.Size {
		if err := checkBlobSums(BlobInfo{SHA256: info.SHA256, CRC32C: info.CRC32C}, res.SHA256, res.CRC32C, sums.n); err != nil {
			return res, Errorf(KindUnavailable, "get %q: %v", a.Key, err)
		}
	}
	return res, nil
}

// The arguments' rules, which the typed API applies before an operation
// runs.

func blobKey(name, key string) error {
	switch {
	case key == "":
		return Errorf(KindInvalidArgument, "%s must not be empty", name)
	case len(key) > BlobMaxKeyLen:
		return Errorf(KindInvalidArgument, "%s is %d bytes long; the most is %d", name, len(key), BlobMaxKeyLen)
	case strings.HasPrefix(key, "/"):
		return Errorf(KindInvalidArgument, "%s %q must not start with /", name, key)
	case strings.ContainsRune(key, 0):
		return Errorf(KindInvalidArgument, "%s must not contain a NUL byte", name)
	case !utf8.ValidString(key):
		return Errorf(KindInvalidArgument, "%s must be UTF-8", name)
	}
	return nil
}

func blobConditions(ifNoneMatch, ifMatch string) error {
	if ifNoneMatch != "" && ifNoneMatch != "*" {
		return Errorf(KindInvalidArgument, `if_none_match %q: the only value is "*" (create only if absent)`, ifNoneMatch)
	}
	if ifNoneMatch != "" && ifMatch != "" {
		return Errorf(KindInvalidArgument, "if_none_match and if_match cannot both be set")
	}
	return nil
}

func (a BlobPutArgs) Validate() error {
	if err := blobKey("key", a.Key); err != nil {
		return err
	}
	if a.Size < -1 {
		return Errorf(KindInvalidArgument, "size %d: give the size in bytes, or -1 when unknown", a.Size)
	}
	if err := blobChecksum(a.Checksum); err != nil {
		return err
	}
	if a.SHA256 != "" {
		if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != sha256.Size {
			return Errorf(KindInvalidArgument, "sha256 %q is not a SHA-256 in hex (64 hex digits)", a.SHA256)
		}
	}
	for k := range a.Metadata {
		if k == "" || strings.TrimLeft(k, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return Errorf(KindInvalidArgument, "metadata name %q: use lowercase letters, digits, - and _", k)
		}
	}
	return blobConditions(a.IfNoneMatch, a.IfMatch)
}

func (a BlobGetArgs) Validate() error {
	if err := blobKey("key", a.Key); err != nil {
		return err
	}
	if a.Offset < 0 {
		return Errorf(KindInvalidArgument, "offset %d must not be negative", a.Offset)
	}
	if a.Length < -1 {
		return Errorf(KindInvalidArgument, "length %d: give a number of bytes, or -1 for all up to the end", a.Length)
	}
	return blobChecksum(a.Checksum)
}

// blobChecksum checks a checksum argument ("" is the default, crc32c).
func blobChecksum(c string) error {
	switch c {
	case "", "crc32c", "sha256":
		return nil
	}
	return Errorf(KindInvalidArgument, "checksum %q: \"crc32c\" or \"sha256\"", c)
}

func (a BlobKeyArgs) Validate() error { return blobKey("key", a.Key) }

func (a BlobListArgs) Validate() error {
	if a.Limit < 1 || a.Limit > BlobMaxPage {
		return Errorf(KindInvalidArgument, "limit %d: give 1 to %d", a.Limit, BlobMaxPage)
	}
	if a.Delimiter != "" && a.Delimiter != "/" {
		return Errorf(KindInvalidArgument, `delimiter %q: the only delimiter is "/"`, a.Delimiter)
	}
	return nil
}

func (a BlobDeleteArgs) Validate() error {
	if len(a.Keys) == 0 || len(a.Keys) > BlobMaxPage {
		return Errorf(KindInvalidArgument, "keys holds %d keys; give 1 to %d", len(a.Keys), BlobMaxPage)
	}
	for i, k := range a.Keys {
		if err := blobKey(fmt.Sprintf("keys[%d]", i), k); err != nil {
			return err
		}
	}
	return nil
}

func (a BlobCopyArgs) Validate() error {
	if err := blobKey("from", a.From); err != nil {
		return err
	}
	if err := blobKey("to", a.To); err != nil {
		return err
	}
	if a.From == a.To {
		return Errorf(KindInvalidArgument, "from and to are the same key, %q", a.From)
	}
	return blobConditions(a.IfNoneMatch, a.IfMatch)
}

func (a BlobPresignArgs) Validate() error {
	if err := blobKey("key", a.Key); err != nil {
		return err
	}
	if m := strings.ToLower(a.Method); m != "get" && m != "put" {
		return Errorf(KindInvalidArgument, `method %q: use "get" or "put"`, a.Method)
	}
	if a.Expires <= 0 || a.Expires > BlobMaxPresign {
		return Errorf(KindInvalidArgument, "expires %s: give a duration from 1s to %s", a.Expires, BlobMaxPresign)
	}
	return nil
}

// LastKey is the key of the page's last entry, object or prefix: where the
// next page starts, for a backend that pages by key.
func (p BlobListResult) LastKey() string {
	last := ""
	if n := len(p.Objects); n > 0 {
		last = p.Objects[n-1].Key
	}
	if n := len(p.Prefixes); n > 0 && p.Prefixes[n-1] > last {
		last = p.Prefixes[n-1]
	}
	return last
}
