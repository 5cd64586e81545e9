package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// PutBlob stores the object: one PutObject when the stream ends within
// the first part, else a multipart upload (putMultipart).
func (i *Instance) PutBlob(ctx context.Context, a sdk.BlobPutArgs, body io.Reader) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	parts := sdk.NewBlobParts(body, r.cfg.PartSize, r.cfg.Concurrency, &r.idleParts)
	defer parts.Close()
	first, more, err := parts.First()
	if err != nil {
		return sdk.BlobInfo{}, sdk.BlobStreamError(ctx, err, "s3 put "+strconv.Quote(a.Key)+": reading the upload")
	}
	if !more {
		in := &awss3.PutObjectInput{Bucket: &r.cfg.Bucket, Key: aws.String(r.key(a.Key)), Body: bytes.NewReader(first),
			ContentLength: aws.Int64(int64(len(first))), Metadata: a.Metadata}
		r.writeOptions(&in.ContentType, &in.ServerSideEncryption, &in.SSEKMSKeyId, a.ContentType)
		in.IfNoneMatch, in.IfMatch = optional(a.IfNoneMatch), optional(a.IfMatch)
		out, err := r.client.PutObject(ctx, in)
		if err != nil {
			return sdk.BlobInfo{}, r.writeError(ctx, err, "put", a.Key, a.IfNoneMatch)
		}
		return sdk.BlobInfo{Key: a.Key, Size: int64(len(first)), ETag: aws.ToString(out.ETag), ContentType: a.ContentType, Metadata: a.Metadata}, nil
	}
	return i.putMultipart(ctx, a, parts, first)
}

// putMultipart uploads first and the rest of body as the parts of one
// multipart upload, upload_concurrency at a time, and completes it with
// the write's conditions. Any failure aborts the upload.
func (i *Instance) putMultipart(ctx context.Context, a sdk.BlobPutArgs, parts *sdk.BlobParts, first []byte) (sdk.BlobInfo, error) {
	r := i.res
	key := r.key(a.Key)
	in := &awss3.CreateMultipartUploadInput{Bucket: &r.cfg.Bucket, Key: &key, Metadata: a.Metadata}
	r.writeOptions(&in.ContentType, &in.ServerSideEncryption, &in.SSEKMSKeyId, a.ContentType)
	// A create canceled in flight may still have made the upload, whose id
	// the answer would have named: wait for the answer, then abort it if
	// the call has ended meanwhile.
	cctx, cancel := settled(ctx, time.Minute)
	created, err := r.client.CreateMultipartUpload(cctx, in)
	cancel()
	if err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, "put "+strconv.Quote(a.Key))
	}
	uploadID := created.UploadId
	info, err := i.uploadParts(ctx, a, uploadID, parts, first)
	if err != nil {
		// The call may be canceled: the abort must still go out.
		actx, cancel := settled(ctx, time.Minute)
		defer cancel()
		_, aerr := r.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{Bucket: &r.cfg.Bucket, Key: &key, UploadId: uploadID})
		if aerr != nil {
			err = errors.Join(err, r.wrap(actx, aerr, "aborting the upload of "+strconv.Quote(a.Key)))
		}
		return sdk.BlobInfo{}, err
	}
	return info, nil
}

// uploadParts sends the parts and completes the upload.
func (i *Instance) uploadParts(ctx context.Context, a sdk.BlobPutArgs, uploadID *string, body *sdk.BlobParts, first []byte) (sdk.BlobInfo, error) {
	r := i.res
	key := r.key(a.Key)
	var (
		mu    sync.Mutex
		parts []types.CompletedPart // each part's, by number, as they are sent
	)
	_, size, err := body.Upload(ctx, first, "s3 put "+strconv.Quote(a.Key), func(ctx context.Context, n int, data []byte) error {
		number := aws.Int32(int32(n + 1))
		out, err := r.client.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &r.cfg.Bucket, Key: &key, UploadId: uploadID,
			PartNumber: number, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
		if err != nil {
			return r.wrap(ctx, err, fmt.Sprintf("put %q: part %d", a.Key, *number))
		}
		mu.Lock()
		defer mu.Unlock()
		for len(parts) <= n {
			parts = append(parts, types.CompletedPart{})
		}
		parts[n] = types.CompletedPart{PartNumber: number, ETag: out.ETag}
		return nil
	})
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	// Once sent, the completion is waited for whatever the call does: its
	// answer says whether the object exists, which a cancellation in
	// flight would leave unknown. S3 may take minutes for many parts.
	cctx, cancel := settled(ctx, 5*time.Minute)
	defer cancel()
	out, err := r.client.CompleteMultipartUpload(cctx, &awss3.CompleteMultipartUploadInput{Bucket: &r.cfg.Bucket, Key: &key, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     optional(a.IfNoneMatch), IfMatch: optional(a.IfMatch)})
	if err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "put", a.Key, a.IfNoneMatch)
	}
	return sdk.BlobInfo{Key: a.Key, Size: size, ETag: aws.ToString(out.ETag), ContentType: a.ContentType, Metadata: a.Metadata}, nil
}

// settled is ctx without its cancellation, for a call whose outcome must
// be known once it is sent (it creates or ends state on the server), with
// a limit of its own.
func settled(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), limit)
}

// writeOptions sets a write's content type and server-side encryption.
func (r *Resource) writeOptions(contentType **string, sse *types.ServerSideEncryption, kmsKey **string, ct string) {
	*contentType = optional(ct)
	if r.cfg.SSE != "" {
		*sse = types.ServerSideEncryption(r.cfg.SSE)
		*kmsKey = optional(r.cfg.SSEKMSKeyID)
	}
}

// writeError wraps the error of a conditional write: a precondition that
// failed on if_none_match "*" means the key exists.
func (r *Resource) writeError(ctx context.Context, err error, op, key, ifNoneMatch string) error {
	werr := r.wrap(ctx, err, op+" "+strconv.Quote(key))
	if ifNoneMatch == "*" && sdk.KindOf(werr) == sdk.KindFailedPrecondition {
		return sdk.WrapError(sdk.KindAlreadyExists, err, "s3 "+op+" "+strconv.Quote(key)+": the key exists (if_none_match is \"*\")")
	}
	return werr
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// GetBlob writes the object's bytes, or the range of them, to w.
func (i *Instance) GetBlob(ctx context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	what := "get " + strconv.Quote(a.Key)
	if a.Length == 0 {
		info, err := i.head(ctx, a.Key, a.IfMatch)
		if err == nil && a.Offset > 0 && a.Offset >= info.Size {
			err = sdk.Errorf(sdk.KindInvalidArgument, "s3 %s: offset %d is at or past the end of the %d-byte object", what, a.Offset, info.Size)
		}
		return info, err
	}
	in := &awss3.GetObjectInput{Bucket: &r.cfg.Bucket, Key: aws.String(r.key(a.Key)), IfMatch: optional(a.IfMatch), Range: optional(sdk.BlobRangeHeader(a))}
	out, err := r.client.GetObject(ctx, in)
	if err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, what)
	}
	defer out.Body.Close()
	info := sdk.BlobInfo{Key: a.Key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata, LastModified: aws.ToTime(out.LastModified).UTC()}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		// "bytes 0-9/1000": the object's size is after the slash.
		if _, total, ok := strings.Cut(cr, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				info.Size = n
			}
		}
	}
	body := &bodyReader{r: out.Body}
	if _, err := io.Copy(w, body); err != nil {
		return sdk.BlobInfo{}, r.getError(ctx, err, body, a, info.ETag)
	}
	return info, nil
}

// GetBlobURL presigns a GetObject of the key for the host's download
// (sdk.CapabilityBlobURLGet), the range and if_match as headers, which
// S3 takes unsigned beside a presigned URL.
func (i *Instance) GetBlobURL(ctx context.Context, a sdk.BlobGetArgs) (sdk.BlobURL, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobURL{}, err
	}
	r := i.res
	if !r.cfg.DirectDownload {
		return sdk.BlobURL{}, sdk.ErrBlobNoURL
	}
	req, err := r.presign.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &r.cfg.Bucket, Key: aws.String(r.key(a.Key))},
		awss3.WithPresignExpires(sdk.BlobURLExpiry))
	if err != nil {
		return sdk.BlobURL{}, r.wrap(ctx, err, "get_url "+strconv.Quote(a.Key))
	}
	header := headerMap(req.SignedHeader)
	maps.Copy(header, sdk.BlobGetHeader(a))
	return sdk.BlobURL{URL: req.URL, Header: header, ETagHeader: "ETag", Expires: time.Now().Add(sdk.BlobURLExpiry)}, nil
}

// headerMap is the headers a presigned request must send, but Host, which
// the URL gives.
func headerMap(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		if !strings.EqualFold(k, "Host") && len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}

// StatBlob returns an object's info (HeadObject).
func (i *Instance) StatBlob(ctx context.Context, key string) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	return i.head(ctx, key, "")
}

func (i *Instance) head(ctx context.Context, key, ifMatch string) (sdk.BlobInfo, error) {
	r := i.res
	out, err := r.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &r.cfg.Bucket, Key: aws.String(r.key(key)), IfMatch: optional(ifMatch)})
	if err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, "stat "+strconv.Quote(key))
	}
	return sdk.BlobInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), ContentType: aws.ToString(out.ContentType),
		Metadata: out.Metadata, LastModified: aws.ToTime(out.LastModified).UTC()}, nil
}

// ListBlobs returns a page of ListObjectsV2, key_prefix stripped; the
// token is S3's continuation token.
func (i *Instance) ListBlobs(ctx context.Context, a sdk.BlobListArgs) (sdk.BlobListResult, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobListResult{}, err
	}
	r := i.res
	out, err := r.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &r.cfg.Bucket, Prefix: aws.String(r.key(a.Prefix)),
		Delimiter: optional(a.Delimiter), ContinuationToken: optional(a.Token), MaxKeys: aws.Int32(int32(a.Limit))})
	if err != nil {
		return sdk.BlobListResult{}, r.wrap(ctx, err, "list "+strconv.Quote(a.Prefix))
	}
	var page sdk.BlobListResult
	for _, o := range out.Contents {
		page.Objects = append(page.Objects, sdk.BlobInfo{Key: strings.TrimPrefix(aws.ToString(o.Key), r.cfg.KeyPrefix), Size: aws.ToInt64(o.Size),
			ETag: aws.ToString(o.ETag), LastModified: aws.ToTime(o.LastModified).UTC()})
	}
	for _, p := range out.CommonPrefixes {
		page.Prefixes = append(page.Prefixes, strings.TrimPrefix(aws.ToString(p.Prefix), r.cfg.KeyPrefix))
	}
	if aws.ToBool(out.IsTruncated) {
		page.Token = aws.ToString(out.NextContinuationToken)
	}
	return page, nil
}

// DeleteBlobs removes the objects with one DeleteObjects.
func (i *Instance) DeleteBlobs(ctx context.Context, keys []string) error {
	if err := i.usable(ctx); err != nil {
		return err
	}
	r := i.res
	ids := make([]types.ObjectIdentifier, len(keys))
	for n, k := range keys {
		ids[n] = types.ObjectIdentifier{Key: aws.String(r.key(k))}
	}
	out, err := r.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: &r.cfg.Bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err != nil {
		return r.wrap(ctx, err, fmt.Sprintf("delete %d keys", len(keys)))
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		kind := codeError(aws.ToString(e.Code), 0).Kind
		if kind == sdk.KindUnknown {
			kind = sdk.KindUnavailable
		}
		return sdk.Errorf(kind, "s3 delete: %d of %d keys failed, the first %q: %s: %s", len(out.Errors), len(keys),
			strings.TrimPrefix(aws.ToString(e.Key), r.cfg.KeyPrefix), aws.ToString(e.Code), aws.ToString(e.Message))
	}
	return nil
}

// CopyBlob copies on the backend (CopyObject), with if_match as
// CopySourceIfMatch and if_none_match as the write's If-None-Match.
func (i *Instance) CopyBlob(ctx context.Context, a sdk.BlobCopyArgs) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	src := (&url.URL{Path: r.cfg.Bucket + "/" + r.key(a.From)}).EscapedPath()
	in := &awss3.CopyObjectInput{Bucket: &r.cfg.Bucket, Key: aws.String(r.key(a.To)), CopySource: &src,
		CopySourceIfMatch: optional(a.IfMatch), IfNoneMatch: optional(a.IfNoneMatch)}
	if r.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(r.cfg.SSE)
		in.SSEKMSKeyId = optional(r.cfg.SSEKMSKeyID)
	}
	if a.IfNoneMatch == "*" {
		// Not every server honours If-None-Match on CopyObject (versitygw
		// does not): check first too, which is not atomic with the copy.
		_, err := i.head(ctx, a.To, "")
		switch {
		case err == nil:
			return sdk.BlobInfo{}, sdk.Errorf(sdk.KindAlreadyExists, "s3 copy %q: %q exists (if_none_match is \"*\")", a.From, a.To)
		case sdk.KindOf(err) != sdk.KindNotFound:
			return sdk.BlobInfo{}, err
		}
	}
	if _, err := r.client.CopyObject(ctx, in); err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "copy", a.From, a.IfNoneMatch)
	}
	return i.head(ctx, a.To, "")
}

// PresignBlob returns a presigned GET or PUT URL; a PUT's content type is
// a header the request must send.
func (i *Instance) PresignBlob(ctx context.Context, a sdk.BlobPresignArgs) (sdk.BlobPresignResult, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobPresignResult{}, err
	}
	r := i.res
	key := aws.String(r.key(a.Key))
	expires := time.Now().Add(a.Expires)
	var (
		req *v4.PresignedHTTPRequest
		err error
	)
	if strings.EqualFold(a.Method, "put") {
		in := &awss3.PutObjectInput{Bucket: &r.cfg.Bucket, Key: key, ContentType: optional(a.ContentType)}
		if r.cfg.SSE != "" {
			in.ServerSideEncryption = types.ServerSideEncryption(r.cfg.SSE)
			in.SSEKMSKeyId = optional(r.cfg.SSEKMSKeyID)
		}
		req, err = r.presign.PresignPutObject(ctx, in, awss3.WithPresignExpires(a.Expires))
	} else {
		req, err = r.presign.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &r.cfg.Bucket, Key: key}, awss3.WithPresignExpires(a.Expires))
	}
	if err != nil {
		return sdk.BlobPresignResult{}, r.wrap(ctx, err, "presign "+strconv.Quote(a.Key))
	}
	res := sdk.BlobPresignResult{URL: req.URL, Method: strings.ToUpper(req.Method), Expires: expires}
	if h := headerMap(req.SignedHeader); len(h) > 0 {
		res.Headers = h
	}
	return res, nil
}
