package azblob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// PutBlob stores the object: one Put Blob when the stream ends within the
// first block, else staged blocks and a Put Block List (putBlocks).
func (i *Instance) PutBlob(ctx context.Context, a sdk.BlobPutArgs, body io.Reader) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	// The blob's Content-MD5 is of all its bytes, summed as they are read.
	whole := md5.New()
	blocks := sdk.NewBlobParts(io.TeeReader(body, whole), r.cfg.BlockSize, r.cfg.Concurrency, &r.idleBlocks)
	defer blocks.Close()
	first, more, err := blocks.First()
	if err != nil {
		return sdk.BlobInfo{}, sdk.BlobStreamError(ctx, err, "azblob put "+strconv.Quote(a.Key)+": reading the upload")
	}
	if more {
		return i.putBlocks(ctx, a, blocks, first, whole)
	}
	sum := whole.Sum(nil) // of first, the whole stream
	opts := &blockblob.UploadOptions{
		HTTPHeaders:             &blob.HTTPHeaders{BlobContentType: optional(a.ContentType), BlobContentMD5: sum},
		Metadata:                encodeMetadata(a.Metadata),
		Tier:                    r.tier(),
		TransactionalValidation: blob.TransferValidationTypeMD5(sum),
		AccessConditions:        conditions(a.IfNoneMatch, a.IfMatch),
	}
	resp, err := r.client.NewBlockBlobClient(r.key(a.Key)).Upload(ctx, streaming.NopCloser(bytes.NewReader(first)), opts)
	if err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "put", a.Key, a.IfNoneMatch)
	}
	return sdk.BlobInfo{Key: a.Key, Size: int64(len(first)), ETag: etag(resp.ETag), ContentType: a.ContentType, Metadata: a.Metadata}, nil
}

// putBlocks stages first and the rest of body as the blob's blocks,
// upload_concurrency at a time, and commits the block list with the
// write's conditions. A failure returns before the commit: the staged
// blocks stay uncommitted, invisible, until Azure discards them.
func (i *Instance) putBlocks(ctx context.Context, a sdk.BlobPutArgs, blocks *sdk.BlobParts, first []byte, whole hash.Hash) (sdk.BlobInfo, error) {
	r := i.res
	bb := r.client.NewBlockBlobClient(r.key(a.Key))
	prefix, err := blockIDPrefix()
	if err != nil {
		return sdk.BlobInfo{}, sdk.WrapError(sdk.KindInternal, err, "azblob put "+strconv.Quote(a.Key))
	}
	n, size, err := blocks.Upload(ctx, first, "azblob put "+strconv.Quote(a.Key), func(ctx context.Context, n int, block []byte) error {
		if n >= MaxBlocks {
			return sdk.Errorf(sdk.KindInvalidArgument, "the object is larger than %d blocks of block_size %d bytes; raise block_size", MaxBlocks, r.cfg.BlockSize)
		}
		sum := md5.Sum(block)
		_, err := bb.StageBlock(ctx, blockID(prefix, n), streaming.NopCloser(bytes.NewReader(block)),
			&blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])})
		if err != nil {
			return r.wrap(ctx, err, fmt.Sprintf("put %q: block %d", a.Key, n))
		}
		return nil
	})
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	ids := make([]string, n)
	for k := range ids {
		ids[k] = blockID(prefix, k)
	}
	resp, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: optional(a.ContentType), BlobContentMD5: whole.Sum(nil)},
		Metadata:         encodeMetadata(a.Metadata),
		Tier:             r.tier(),
		AccessConditions: conditions(a.IfNoneMatch, a.IfMatch),
	})
	if err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "put", a.Key, a.IfNoneMatch)
	}
	return sdk.BlobInfo{Key: a.Key, Size: size, ETag: etag(resp.ETag), ContentType: a.ContentType, Metadata: a.Metadata}, nil
}

// blockIDPrefix is a put's random start of its block IDs, so that two
// puts of one key never stage into each other's blocks.
func blockIDPrefix() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// blockID is the ID of a put's block n: every ID of a blob must have the
// same length, which the fixed width of n gives (n < MaxBlocks).
func blockID(prefix string, n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%05d", prefix, n))
}

// writeError wraps the error of a conditional write: a precondition that
// failed on if_none_match "*" means the key exists.
func (r *Resource) writeError(ctx context.Context, err error, op, key, ifNoneMatch string) error {
	werr := r.wrap(ctx, err, op+" "+strconv.Quote(key))
	if k := sdk.KindOf(werr); ifNoneMatch == "*" && (k == sdk.KindFailedPrecondition || k == sdk.KindConflict) {
		return sdk.WrapError(sdk.KindAlreadyExists, sdk.Redact(err, r.secrets...), "azblob "+op+" "+strconv.Quote(key)+": the key exists (if_none_match is \"*\")")
	}
	return werr
}

// conditions are a request's If-None-Match and If-Match; nil for none.
func conditions(ifNoneMatch, ifMatch string) *blob.AccessConditions {
	if ifNoneMatch == "" && ifMatch == "" {
		return nil
	}
	m := &blob.ModifiedAccessConditions{}
	if ifNoneMatch == "*" {
		star := azcore.ETagAny
		m.IfNoneMatch = &star
	}
	if ifMatch != "" {
		e := azcore.ETag(ifMatch)
		m.IfMatch = &e
	}
	return &blob.AccessConditions{ModifiedAccessConditions: m}
}

// tier is the access tier of written blobs; nil for the account's
// default.
func (r *Resource) tier() *blob.AccessTier {
	t, ok := accessTiers[strings.ToLower(r.cfg.AccessTier)]
	if !ok {
		return nil
	}
	return &t
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// etag is an ETag as the service sends it in a header, in quotes; List
// Blobs sends them without.
func etag(e *azcore.ETag) string {
	if e == nil || *e == "" {
		return ""
	}
	if s := string(*e); strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `W/"`) {
		return s
	}
	return `"` + string(*e) + `"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// GetBlob writes the object's bytes, or the range of them, to w. A get of
// the whole blob checks its bytes against its Content-MD5 where it has
// one.
func (i *Instance) GetBlob(ctx context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	what := "get " + strconv.Quote(a.Key)
	if a.Length == 0 {
		info, err := i.props(ctx, a.Key, a.IfMatch)
		if err == nil && a.Offset > 0 && a.Offset >= info.Size {
			err = sdk.Errorf(sdk.KindInvalidArgument, "azblob %s: offset %d is at or past the end of the %d-byte object", what, a.Offset, info.Size)
		}
		return info, err
	}
	opts := &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: a.Offset, Count: max(a.Length, 0)},
		AccessConditions: conditions("", a.IfMatch)}
	resp, err := r.client.NewBlobClient(r.key(a.Key)).DownloadStream(ctx, opts)
	if err != nil {
		if a.Offset == 0 && bloberror.HasCode(err, bloberror.InvalidRange) {
			// An empty blob has no range at all: it is all of it.
			if info, serr := i.props(ctx, a.Key, a.IfMatch); serr == nil && info.Size == 0 {
				return info, nil
			}
		}
		return sdk.BlobInfo{}, r.wrap(ctx, err, what)
	}
	defer resp.Body.Close()
	info := sdk.BlobInfo{Key: a.Key, Size: deref(resp.ContentLength), ETag: etag(resp.ETag), ContentType: deref(resp.ContentType),
		Metadata: decodeMetadata(resp.Metadata), LastModified: deref(resp.LastModified).UTC()}
	cr := deref(resp.ContentRange)
	if cr != "" {
		// "bytes 0-9/1000": the object's size is after the slash.
		if _, total, ok := strings.Cut(cr, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				info.Size = n
			}
		}
	}
	if a.Offset > 0 && a.Offset >= info.Size {
		// Azure answers 416; Azurite sends no bytes.
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindInvalidArgument, "azblob %s: offset %d is at or past the end of the %d-byte object", what, a.Offset, info.Size)
	}
	var sum hash.Hash
	dst := w
	if cr == "" && len(resp.ContentMD5) == md5.Size {
		sum = md5.New()
		dst = io.MultiWriter(w, sum)
	}
	n, err := io.Copy(dst, resp.Body)
	if err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, what)
	}
	if sum != nil && n == info.Size && !bytes.Equal(sum.Sum(nil), resp.ContentMD5) {
		return sdk.BlobInfo{}, sdk.WrapError(sdk.KindUnavailable, sdk.ErrBlobChecksum, fmt.Sprintf("azblob %s: the bytes have MD5 %x where the blob's Content-MD5 is %x", what, sum.Sum(nil), resp.ContentMD5))
	}
	return info, nil
}

// StatBlob returns an object's info (Get Blob Properties).
func (i *Instance) StatBlob(ctx context.Context, key string) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	return i.props(ctx, key, "")
}

func (i *Instance) props(ctx context.Context, key, ifMatch string) (sdk.BlobInfo, error) {
	r := i.res
	resp, err := r.client.NewBlobClient(r.key(key)).GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: conditions("", ifMatch)})
	if err != nil {
		return sdk.BlobInfo{}, r.wrap(ctx, err, "stat "+strconv.Quote(key))
	}
	return sdk.BlobInfo{Key: key, Size: deref(resp.ContentLength), ETag: etag(resp.ETag), ContentType: deref(resp.ContentType),
		Metadata: decodeMetadata(resp.Metadata), LastModified: deref(resp.LastModified).UTC()}, nil
}

// ListBlobs returns a page of List Blobs, key_prefix stripped, with the
// blobs' metadata; the token is the service's marker.
func (i *Instance) ListBlobs(ctx context.Context, a sdk.BlobListArgs) (sdk.BlobListResult, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobListResult{}, err
	}
	r := i.res
	var (
		items    []*container.BlobItem
		prefixes []*container.BlobPrefix
		next     *string
		err      error
	)
	limit := int32(a.Limit)
	include := container.ListBlobsInclude{Metadata: true}
	if a.Delimiter == "" {
		var resp container.ListBlobsFlatResponse
		resp, err = r.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: include,
			Prefix: optional(r.key(a.Prefix)), Marker: optional(a.Token), MaxResults: &limit}).NextPage(ctx)
		if err == nil && resp.Segment != nil {
			items, next = resp.Segment.BlobItems, resp.NextMarker
		}
	} else {
		var resp container.ListBlobsHierarchyResponse
		resp, err = r.client.NewListBlobsHierarchyPager(a.Delimiter, &container.ListBlobsHierarchyOptions{Include: include,
			Prefix: optional(r.key(a.Prefix)), Marker: optional(a.Token), MaxResults: &limit}).NextPage(ctx)
		if err == nil && resp.Segment != nil {
			items, prefixes, next = resp.Segment.BlobItems, resp.Segment.BlobPrefixes, resp.NextMarker
		}
	}
	if err != nil {
		return sdk.BlobListResult{}, r.wrap(ctx, err, "list "+strconv.Quote(a.Prefix))
	}
	var page sdk.BlobListResult
	for _, b := range items {
		info := sdk.BlobInfo{Key: strings.TrimPrefix(deref(b.Name), r.cfg.KeyPrefix), Metadata: decodeMetadata(b.Metadata)}
		if p := b.Properties; p != nil {
			info.Size, info.ETag, info.ContentType, info.LastModified = deref(p.ContentLength), etag(p.ETag), deref(p.ContentType), deref(p.LastModified).UTC()
		}
		page.Objects = append(page.Objects, info)
	}
	for _, p := range prefixes {
		page.Prefixes = append(page.Prefixes, strings.TrimPrefix(deref(p.Name), r.cfg.KeyPrefix))
	}
	page.Token = deref(next)
	return page, nil
}

// DeleteBlobs removes the blobs, with their snapshots,
// sdk.BlobDeleteConcurrency at a time (Delete Blob each: the Blob Batch
// API is not in every emulator, and a SAS may not allow it).
func (i *Instance) DeleteBlobs(ctx context.Context, keys []string) error {
	if err := i.usable(ctx); err != nil {
		return err
	}
	r := i.res
	include := blob.DeleteSnapshotsOptionTypeInclude
	return sdk.DeleteBlobsEach(ctx, keys, func(ctx context.Context, k string) error {
		_, err := r.client.NewBlobClient(r.key(k)).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &include})
		if err == nil || bloberror.HasCode(err, bloberror.BlobNotFound) {
			return nil
		}
		return r.wrap(ctx, err, fmt.Sprintf("delete %q (of %d keys)", k, len(keys)))
	})
}

// CopyBlob copies on the service (Copy Blob from the source's URL in the
// same account), with if_match as the source's x-ms-source-if-match and
// if_none_match as the copy's If-None-Match, and waits for a copy the
// service did not finish at once.
func (i *Instance) CopyBlob(ctx context.Context, a sdk.BlobCopyArgs) (sdk.BlobInfo, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobInfo{}, err
	}
	r := i.res
	src := r.client.NewBlobClient(r.key(a.From)).URL()
	dst := r.client.NewBlobClient(r.key(a.To))
	opts := &blob.StartCopyFromURLOptions{Tier: r.tier(), AccessConditions: conditions(a.IfNoneMatch, "")}
	if a.IfMatch != "" {
		e := azcore.ETag(a.IfMatch)
		opts.SourceModifiedAccessConditions = &blob.SourceModifiedAccessConditions{SourceIfMatch: &e}
	}
	what := fmt.Sprintf("copy %q to %q", a.From, a.To)
	resp, err := dst.StartCopyFromURL(ctx, src, opts)
	if err != nil {
		return sdk.BlobInfo{}, r.writeError(ctx, err, "copy", a.From, a.IfNoneMatch)
	}
	status, desc := deref(resp.CopyStatus), ""
	for status == blob.CopyStatusTypePending {
		select {
		case <-ctx.Done():
			return sdk.BlobInfo{}, sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(),
				"azblob "+what+": the copy "+deref(resp.CopyID)+" goes on on the service")
		case <-time.After(copyPoll):
		}
		p, err := dst.GetProperties(ctx, nil)
		if err != nil {
			return sdk.BlobInfo{}, r.wrap(ctx, err, what+": waiting for the copy")
		}
		if deref(p.CopyID) != deref(resp.CopyID) {
			return sdk.BlobInfo{}, sdk.Errorf(sdk.KindConflict, "azblob %s: another write replaced the copy", what)
		}
		status, desc = deref(p.CopyStatus), deref(p.CopyStatusDescription)
	}
	if status != blob.CopyStatusTypeSuccess {
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindUnavailable, "azblob %s: the copy is %s: %s", what, status, desc)
	}
	return i.props(ctx, a.To, "")
}

// GetBlobURL gives the host a URL of the blob to download a get from
// (sdk.CapabilityBlobURLGet): a read SAS signed with the account key, or
// the blob's URL with the resource's own SAS token; the range and
// if_match are headers. A resource with neither gives none.
func (i *Instance) GetBlobURL(ctx context.Context, a sdk.BlobGetArgs) (sdk.BlobURL, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobURL{}, err
	}
	r := i.res
	if !r.cfg.DirectDownload {
		return sdk.BlobURL{}, sdk.ErrBlobNoURL
	}
	bc := r.client.NewBlobClient(r.key(a.Key))
	expires := time.Now().Add(sdk.BlobURLExpiry).Truncate(time.Second)
	u, err := bc.GetSASURL(sas.BlobPermissions{Read: true}, expires, nil)
	switch {
	case errors.Is(err, bloberror.MissingSharedKeyCredential) && strings.Contains(bc.URL(), "sig="):
		u = bc.URL() // the resource's SAS token
	case errors.Is(err, bloberror.MissingSharedKeyCredential):
		return sdk.BlobURL{}, sdk.ErrBlobNoURL
	case err != nil:
		return sdk.BlobURL{}, r.wrap(ctx, err, "get_url "+strconv.Quote(a.Key))
	}
	return sdk.BlobURL{URL: u, Header: sdk.BlobGetHeader(a), ETagHeader: "ETag", MD5Header: "Content-MD5", Expires: expires}, nil
}

// PresignBlob returns a service SAS URL, signed with the account key, that
// reads (get) or creates and writes (put) the blob until it expires. A
// put must send x-ms-blob-type: BlockBlob, which the result's headers
// hold with the content type.
func (i *Instance) PresignBlob(ctx context.Context, a sdk.BlobPresignArgs) (sdk.BlobPresignResult, error) {
	if err := i.usable(ctx); err != nil {
		return sdk.BlobPresignResult{}, err
	}
	r := i.res
	// The SAS's expiry has whole seconds.
	expires := time.Now().Add(a.Expires).Truncate(time.Second)
	perms := sas.BlobPermissions{Read: true}
	res := sdk.BlobPresignResult{Method: "GET", Expires: expires}
	if strings.EqualFold(a.Method, "put") {
		perms = sas.BlobPermissions{Create: true, Write: true}
		res.Method = "PUT"
		res.Headers = map[string]string{"x-ms-blob-type": string(blob.BlobTypeBlockBlob)}
		if a.ContentType != "" {
			res.Headers["Content-Type"] = a.ContentType
		}
	}
	u, err := r.client.NewBlobClient(r.key(a.Key)).GetSASURL(perms, expires, nil)
	switch {
	case errors.Is(err, bloberror.MissingSharedKeyCredential):
		return sdk.BlobPresignResult{}, sdk.Errorf(sdk.KindFailedPrecondition,
			"azblob presign %q: signing a SAS URL needs the account key: configure account_name and account_key, or a connection_string with AccountKey", a.Key)
	case err != nil:
		return sdk.BlobPresignResult{}, r.wrap(ctx, err, "presign "+strconv.Quote(a.Key))
	}
	res.URL = u
	return res, nil
}

// Metadata names: the blob capability's are lowercase letters, digits, -
// and _; Azure's are C# identifiers (letters, digits and _, not starting
// with a digit), case-insensitive, and come back in any case. A name is
// stored with - as _x2d_, a leading digit D as _x3D_, and a _ that starts
// _x as _x5f_ (XmlConvert's escapes), so that every name comes back as it
// was: decodeMetadata undoes them.

// encodeMetadata returns the metadata as Azure stores it.
func encodeMetadata(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[encodeName(k)] = &v
	}
	return out
}

func encodeName(name string) string {
	var b strings.Builder
	for n := 0; n < len(name); n++ {
		c := name[n]
		switch {
		case c == '-', n == 0 && c >= '0' && c <= '9', c == '_' && n+1 < len(name) && name[n+1] == 'x':
			fmt.Fprintf(&b, "_x%02x_", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decodeMetadata returns Azure's metadata with the names the caller gave.
func decodeMetadata(m map[string]*string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[decodeName(k)] = deref(v)
	}
	return out
}

func decodeName(name string) string {
	name = strings.ToLower(name)
	var b strings.Builder
	for n := 0; n < len(name); n++ {
		if name[n] == '_' && n+5 <= len(name) && name[n+1] == 'x' && name[n+4] == '_' {
			if c, err := hex.DecodeString(name[n+2 : n+4]); err == nil {
				b.WriteByte(c[0])
				n += 4
				continue
			}
		}
		b.WriteByte(name[n])
	}
	return b.String()
}
