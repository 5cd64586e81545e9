package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// defaultContentType is what an object written without a content type
// gets, as the blob capability says (the client would sniff the bytes).
const defaultContentType = "application/octet-stream"

// etag is the etag of an object's generation: the decimal, quoted.
func etag(generation int64) string { return `"` + strconv.FormatInt(generation, 10) + `"` }

// parseETag is the generation of an etag the driver gave, quoted or not;
// ok is false for any other string.
func parseETag(s string) (generation int64, ok bool) {
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	g, err := strconv.ParseInt(s, 10, 64)
	if err != nil || g <= 0 {
		return 0, false
	}
	return g, true
}

// info is the BlobInfo of an object's attributes.
func (r *Resource) info(key string, a *storage.ObjectAttrs) sdk.BlobInfo {
	return sdk.BlobInfo{Key: key, Size: a.Size, ETag: etag(a.Generation), ContentType: a.ContentType, Metadata: a.Metadata,
		LastModified: a.Updated.UTC(), CRC32C: fmt.Sprintf("%08x", a.CRC32C)}
}

// generationCondition is the precondition of if_match on an object: its
// generation. An etag the driver did not give matches no object: that is
// failed_precondition if key exists, not_found if it does not.
func (i *Instance) generationCondition(ctx context.Context, op, key, ifMatch string) (int64, error) {
	gen, ok := parseETag(ifMatch)
	if ok {
		return gen, nil
	}
	if _, err := i.attrs(ctx, key); err != nil {
		return 0, err
	}
	return 0, sdk.Errorf(sdk.KindFailedPrecondition, "gcs %s %q: the object's etag is not %s (this driver's etags are generations, such as \"1712345678901234\")", op, key, ifMatch)
}

// notMatched is the error of an object whose generation is not if_match's.
func notMatched(op, key, ifMatch string, generation int64) error {
	return sdk.Errorf(sdk.KindFailedPrecondition, "gcs %s %q: the object's etag is %s, not %s", op, key, etag(generation), ifMatch)
}

// PutBlob streams the object through a storage.Writer: one request when
// the stream ends within a chunk, else a resumable upload, which GCS
// finalizes only with the last chunk. On any failure the writer's context
// is canceled before Close, so nothing is finalized.
func (i *Instance) PutBlob(ctx context.Context, a sdk.BlobPutArgs, body io.Reader) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	obj := r.object(a.Key)
	switch {
	case a.IfNoneMatch == "*":
		obj = obj.If(storage.Conditions{DoesNotExist: true})
	case a.IfMatch != "":
		gen, err := i.generationCondition(ctx, "put", a.Key, a.IfMatch)
		if err != nil {
			if sdk.KindOf(err) == sdk.KindNotFound {
				// As GCS answers ifGenerationMatch on an absent object.
				err = sdk.Errorf(sdk.KindFailedPrecondition, "gcs put %q: the object does not exist, so it has no etag %s", a.Key, a.IfMatch)
			}
			return sdk.BlobInfo{}, err
		}
		obj = obj.If(storage.Conditions{GenerationMatch: gen})
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(wctx)
	w.ChunkSize = chunkSize(r.cfg.ChunkSize, a.Size)
	w.ContentType = a.ContentType
	if w.ContentType == "" {
		w.ContentType = defaultContentType
	}
	w.Metadata = a.Metadata
	src := &readErr{r: body}
	if _, err := io.Copy(w, src); err != nil {
		// Not one byte more: the upload must not be finalized.
		cancel()
		_ = w.Close()
		if src.err != nil {
			return sdk.BlobInfo{}, sdk.BlobStreamError(ctx, src.err, "gcs put "+strconv.Quote(a.Key)+": reading the upload")
		}
		return sdk.BlobInfo{}, r.writeError(ctx, err, "put", a.Key, a.IfNoneMatch)
	}
	if err := w.Close(); err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "put", a.Key, a.IfNoneMatch)
	}
	return r.info(a.Key, w.Attrs()), nil
}

// chunkSize is the writer's chunk size for a put of size bytes (-1 when
// unknown): the configured one, or for a smaller known size just enough
// that the stream ends within the first chunk (one request, a smaller
// buffer).
func chunkSize(configured, size int64) int {
	if size >= 0 {
		fits := (size/ChunkAlign + 1) * ChunkAlign // > size: the end is seen in it
		return int(min(configured, fits))
	}
	return int(configured)
}

// readErr keeps the error of the caller's stream, to tell it from the
// upload's.
type readErr struct {
	r   io.Reader
	err error
}

func (s *readErr) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// writeError wraps the error of a conditional write: a precondition that
// failed on if_none_match "*" means the key exists.
func (r *Resource) writeError(ctx context.Context, err error, op, key, ifNoneMatch string) error {
	werr := r.wrap(ctx, err, op+" "+strconv.Quote(key))
	if ifNoneMatch == "*" && sdk.KindOf(werr) == sdk.KindFailedPrecondition {
		return sdk.WrapError(sdk.KindAlreadyExists, sdk.Redact(err, r.secrets...), "gcs "+op+" "+strconv.Quote(key)+": the key exists (if_none_match is \"*\")")
	}
	return werr
}

// GetBlob writes the object's bytes, or the range of them, to w. if_match
// is the read's generation precondition; the generation the answer
// reports is checked too.
func (i *Instance) GetBlob(ctx context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	what := "get " + strconv.Quote(a.Key)
	var gen int64
	if a.IfMatch != "" {
		var err error
		if gen, err = i.generationCondition(ctx, "get", a.Key, a.IfMatch); err != nil {
			return sdk.BlobInfo{}, err
		}
	}
	if a.Length == 0 {
		attrs, err := i.attrs(ctx, a.Key)
		switch {
		case err != nil:
			return sdk.BlobInfo{}, err
		case gen != 0 && attrs.Generation != gen:
			return sdk.BlobInfo{}, notMatched("get", a.Key, a.IfMatch, attrs.Generation)
		case a.Offset > 0 && a.Offset >= attrs.Size:
			return sdk.BlobInfo{}, sdk.Errorf(sdk.KindInvalidArgument, "gcs %s: offset %d is at or past the end of the %d-byte object", what, a.Offset, attrs.Size)
		}
		return r.info(a.Key, attrs), nil
	}
	obj := r.object(a.Key)
	if gen != 0 {
		obj = obj.If(storage.Conditions{GenerationMatch: gen})
	}
	rd, err := obj.NewRangeReader(ctx, a.Offset, a.Length)
	if err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, what)
	}
	defer rd.Close()
	if gen != 0 && rd.Attrs.Generation != gen {
		// A server that ignores the precondition (fake-gcs-server v1.56.1
		// does on reads): the answer still names its generation.
		return sdk.BlobInfo{}, notMatched("get", a.Key, a.IfMatch, rd.Attrs.Generation)
	}
	info := sdk.BlobInfo{Key: a.Key, Size: rd.Attrs.Size, ETag: etag(rd.Attrs.Generation), ContentType: rd.Attrs.ContentType,
		LastModified: rd.Attrs.LastModified.UTC()}
	if _, err := io.Copy(w, rd); err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, what)
	}
	return info, nil
}

// StatBlob returns an object's info.
func (i *Instance) StatBlob(ctx context.Context, key string) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	attrs, err := i.attrs(ctx, key)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	return i.res.info(key, attrs), nil
}

func (i *Instance) attrs(ctx context.Context, key string) (*storage.ObjectAttrs, error) {
	attrs, err := i.res.object(key).Attrs(ctx)
	if err != nil {
		return nil, i.res.wrap(ctx, err, "stat "+strconv.Quote(key))
	}
	return attrs, nil
}

// listAttrs are the attributes list asks for.
var listAttrs = []string{"Name", "Size", "Generation", "Updated", "CRC32C", "ContentType", "Metadata"}

// ListBlobs returns a page of objects and prefixes, key_prefix stripped;
// the token is GCS's page token.
func (i *Instance) ListBlobs(ctx context.Context, a sdk.BlobListArgs) (sdk.BlobListResult, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobListResult{}, err
	}
	r := i.res
	q := &storage.Query{Prefix: r.key(a.Prefix), Delimiter: a.Delimiter}
	if err := q.SetAttrSelection(listAttrs); err != nil {
		return sdk.BlobListResult{}, sdk.WrapError(sdk.KindInternal, err, "gcs list")
	}
	var entries []*storage.ObjectAttrs
	token, err := iterator.NewPager(r.bucket.Objects(ctx, q), a.Limit, a.Token).NextPage(&entries)
	if err != nil {
		return sdk.BlobListResult{}, r.wrap(ctx, err, "list "+strconv.Quote(a.Prefix))
	}
	var page sdk.BlobListResult
	for _, e := range entries {
		if e.Prefix != "" {
			page.Prefixes = append(page.Prefixes, strings.TrimPrefix(e.Prefix, r.cfg.KeyPrefix))
			continue
		}
		page.Objects = append(page.Objects, r.info(strings.TrimPrefix(e.Name, r.cfg.KeyPrefix), e))
	}
	page.Token = token
	return page, nil
}

// DeleteBlobs removes the objects, sdk.BlobDeleteConcurrency at a time
// (the JSON API deletes one per request); absent keys are not an error.
func (i *Instance) DeleteBlobs(ctx context.Context, keys []string) error {
	if err := i.usable(ctx); err != nil {
		return err
	}
	r := i.res
	return sdk.DeleteBlobsEach(ctx, keys, func(ctx context.Context, k string) error {
		err := r.object(k).Delete(ctx)
		if err == nil || errors.Is(err, storage.ErrObjectNotExist) {
			return nil
		}
		return r.wrap(ctx, err, fmt.Sprintf("delete %q (of %d keys)", k, len(keys)))
	})
}

// CopyBlob copies on the server (rewrite), with if_match as the source's
// generation precondition and if_none_match as the destination's
// (ifGenerationMatch=0). Both are checked with a look at the object first
// too, since fake-gcs-server v1.56.1 ignores a rewrite's preconditions;
// that check is not atomic with the copy, the preconditions are.
func (i *Instance) CopyBlob(ctx context.Context, a sdk.BlobCopyArgs) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	src, dst := r.object(a.From), r.object(a.To)
	if a.IfMatch != "" {
		gen, err := i.generationCondition(ctx, "copy", a.From, a.IfMatch)
		if err != nil {
			return sdk.BlobInfo{}, err
		}
		attrs, err := i.attrs(ctx, a.From)
		switch {
		case err != nil:
			return sdk.BlobInfo{}, err
		case attrs.Generation != gen:
			return sdk.BlobInfo{}, notMatched("copy", a.From, a.IfMatch, attrs.Generation)
		}
		src = src.If(storage.Conditions{GenerationMatch: gen})
	}
	if a.IfNoneMatch == "*" {
		_, err := i.attrs(ctx, a.To)
		switch {
		case err == nil:
			return sdk.BlobInfo{}, sdk.Errorf(sdk.KindAlreadyExists, "gcs copy %q: %q exists (if_none_match is \"*\")", a.From, a.To)
		case sdk.KindOf(err) != sdk.KindNotFound:
			return sdk.BlobInfo{}, err
		}
		dst = dst.If(storage.Conditions{DoesNotExist: true})
	}
	attrs, err := dst.CopierFrom(src).Run(ctx)
	if err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "copy", a.From, a.IfNoneMatch)
	}
	return r.info(a.To, attrs), nil
}

// GetBlobURL signs a V4 GET URL of the key for the host's download
// (sdk.CapabilityBlobURLGet), if_match as the signed generation
// precondition; the answer's X-Goog-Generation is the etag and its
// X-Goog-Hash the object's CRC32C. A resource that cannot sign (no
// service account key) gives none.
func (i *Instance) GetBlobURL(ctx context.Context, a sdk.BlobGetArgs) (sdk.BlobURL, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobURL{}, err
	}
	r := i.res
	if !r.cfg.DirectDownload || r.signer == nil {
		return sdk.BlobURL{}, sdk.ErrBlobNoURL
	}
	expires := time.Now().Add(sdk.BlobURLExpiry)
	opts := &storage.SignedURLOptions{GoogleAccessID: r.signer.email, PrivateKey: r.signer.key, Method: "GET", Expires: expires,
		Scheme: storage.SigningSchemeV4, Style: storage.PathStyle(), Hostname: r.signHost, Insecure: r.signInsecure}
	header := map[string]string{}
	if a.IfMatch != "" {
		gen, ok := parseETag(a.IfMatch)
		if !ok {
			return sdk.BlobURL{}, sdk.Errorf(sdk.KindInvalidArgument, "gcs get %q: if_match %q is not an etag of this driver (a generation)", a.Key, a.IfMatch)
		}
		g := strconv.FormatInt(gen, 10)
		opts.Headers = []string{"x-goog-if-generation-match:" + g}
		header["x-goog-if-generation-match"] = g
	}
	if rng := sdk.BlobRangeHeader(a); rng != "" {
		header["Range"] = rng
	}
	u, err := storage.SignedURL(r.cfg.Bucket, r.key(a.Key), opts)
	if err != nil {
		return sdk.BlobURL{}, sdk.WrapError(sdk.KindFailedPrecondition, sdk.Redact(err, r.secrets...), "gcs get_url "+strconv.Quote(a.Key))
	}
	return sdk.BlobURL{URL: u, Header: header, ETagHeader: "X-Goog-Generation", CRC32CHeader: "X-Goog-Hash", Expires: expires}, nil
}

// PresignBlob returns a V4 signed GET or PUT URL, signed with the
// configured service account key; a PUT's content type is a header the
// request must send.
func (i *Instance) PresignBlob(ctx context.Context, a sdk.BlobPresignArgs) (sdk.BlobPresignResult, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobPresignResult{}, err
	}
	r := i.res
	if r.signer == nil {
		return sdk.BlobPresignResult{}, sdk.Errorf(sdk.KindFailedPrecondition,
			"gcs presign %q: signing a URL needs a service account key: set credentials_json or credentials_file of resource %q to a key of type service_account (Application Default Credentials and other credential types cannot sign here)",
			a.Key, r.name)
	}
	method := strings.ToUpper(a.Method)
	expires := time.Now().Add(a.Expires)
	opts := &storage.SignedURLOptions{GoogleAccessID: r.signer.email, PrivateKey: r.signer.key, Method: method, Expires: expires,
		Scheme: storage.SigningSchemeV4, Style: storage.PathStyle(), Hostname: r.signHost, Insecure: r.signInsecure}
	res := sdk.BlobPresignResult{Method: strings.ToUpper(method), Expires: expires}
	if method == "PUT" && a.ContentType != "" {
		opts.ContentType = a.ContentType
		res.Headers = map[string]string{"Content-Type": a.ContentType}
	}
	u, err := storage.SignedURL(r.cfg.Bucket, r.key(a.Key), opts)
	if err != nil {
		return sdk.BlobPresignResult{}, sdk.WrapError(sdk.KindFailedPrecondition, sdk.Redact(err, r.secrets...), "gcs presign "+strconv.Quote(a.Key))
	}
	res.URL = u
	return res, nil
}
