package sdk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// memBlobs is a blob store in memory: a small, complete implementation of
// sdk.BlobStore, for testing the SDK's blob operations and the
// conformance suite.
type memBlobs struct {
	mu      sync.Mutex
	objects map[string]memObject
	version int
	// corrupt, when set, makes the store report a wrong SHA-256 and
	// CRC32C.
	corrupt bool
}

type memObject struct {
	data []byte
	info sdk.BlobInfo
}

func (m *memBlobs) Check(context.Context) error { return nil }
func (m *memBlobs) Close(context.Context) error { return nil }

func (m *memBlobs) condition(key, ifNoneMatch, ifMatch string) error {
	o, ok := m.objects[key]
	switch {
	case ifNoneMatch == "*" && ok:
		return sdk.Errorf(sdk.KindAlreadyExists, "%s exists", key)
	case ifMatch != "" && (!ok || o.info.ETag != ifMatch):
		return sdk.Errorf(sdk.KindFailedPrecondition, "%s does not have etag %s", key, ifMatch)
	}
	return nil
}

func (m *memBlobs) PutBlob(_ context.Context, a sdk.BlobPutArgs, body io.Reader) (sdk.BlobInfo, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.condition(a.Key, a.IfNoneMatch, a.IfMatch); err != nil {
		return sdk.BlobInfo{}, err
	}
	return m.store(a.Key, data, a.ContentType, a.Metadata), nil
}

func (m *memBlobs) store(key string, data []byte, ct string, md map[string]string) sdk.BlobInfo {
	m.version++
	sum := sha256.Sum256(data)
	info := sdk.BlobInfo{Key: key, Size: int64(len(data)), ETag: `"` + strconv.Itoa(m.version) + `"`, ContentType: ct,
		Metadata: maps.Clone(md), LastModified: time.Now().UTC(), SHA256: hex.EncodeToString(sum[:]),
		CRC32C: fmt.Sprintf("%08x", crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))}
	if m.corrupt {
		info.SHA256, info.CRC32C = strings.Repeat("1", 64), "11111111"
	}
	if m.objects == nil {
		m.objects = map[string]memObject{}
	}
	m.objects[key] = memObject{data: data, info: info}
	return info
}

func (m *memBlobs) GetBlob(_ context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	m.mu.Lock()
	o, ok := m.objects[a.Key]
	m.mu.Unlock()
	switch {
	case !ok:
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindNotFound, "no object %s", a.Key)
	case a.IfMatch != "" && a.IfMatch != o.info.ETag:
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s changed", a.Key)
	case a.Offset > 0 && a.Offset >= int64(len(o.data)):
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindInvalidArgument, "offset %d is past the end", a.Offset)
	}
	end := int64(len(o.data))
	if a.Length >= 0 {
		end = min(end, a.Offset+a.Length)
	}
	_, err := w.Write(o.data[a.Offset:end])
	return o.info, err
}

func (m *memBlobs) StatBlob(_ context.Context, key string) (sdk.BlobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindNotFound, "no object %s", key)
	}
	return o.info, nil
}

func (m *memBlobs) ListBlobs(_ context.Context, a sdk.BlobListArgs) (sdk.BlobListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := slices.Sorted(maps.Keys(m.objects))
	var page sdk.BlobListResult
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, a.Prefix) || k <= a.Token ||
			// a page that ended with a prefix: its keys are behind it
			a.Delimiter != "" && strings.HasSuffix(a.Token, a.Delimiter) && strings.HasPrefix(k, a.Token) {
			continue
		}
		if len(page.Objects)+len(page.Prefixes) == a.Limit {
			page.Token = page.LastKey()
			break
		}
		if a.Delimiter != "" {
			if i := strings.Index(k[len(a.Prefix):], a.Delimiter); i >= 0 {
				p := k[:len(a.Prefix)+i+1]
				if !seen[p] {
					seen[p] = true
					page.Prefixes = append(page.Prefixes, p)
				}
				continue
			}
		}
		info := m.objects[k].info
		page.Objects = append(page.Objects, info)
	}
	return page, nil
}

func (m *memBlobs) DeleteBlobs(_ context.Context, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.objects, k)
	}
	return nil
}

func (m *memBlobs) CopyBlob(_ context.Context, a sdk.BlobCopyArgs) (sdk.BlobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[a.From]
	if !ok {
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindNotFound, "no object %s", a.From)
	}
	if a.IfMatch != "" && a.IfMatch != o.info.ETag {
		return sdk.BlobInfo{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s changed", a.From)
	}
	if err := m.condition(a.To, a.IfNoneMatch, ""); err != nil {
		return sdk.BlobInfo{}, err
	}
	return m.store(a.To, o.data, o.info.ContentType, o.info.Metadata), nil
}

// memBlobResource hands out the one store.
type memBlobResource struct{ store *memBlobs }

func (r memBlobResource) Open(context.Context) (sdk.Instance, error) { return r.store, nil }
func (r memBlobResource) Close(context.Context) error                { return nil }

type memBlobConfig struct {
	Corrupt bool `nebula:"corrupt" default:"false" doc:"Report wrong checksums."`
}

func memBlobDriver() sdk.Driver {
	return sdk.NewDriver("memblobs", "1.0.0", sdk.ResourceDef[memBlobConfig, *memBlobs]{
		Name:         "memblobs",
		Description:  "Objects in memory.",
		Capabilities: []string{sdk.CapabilityBlob},
		Pooling:      sdk.PoolingShared,
		Configure: func(_ context.Context, _ string, c memBlobConfig) (sdk.Resource, error) {
			return memBlobResource{store: &memBlobs{corrupt: c.Corrupt}}, nil
		},
		Operations: sdk.BlobOps[*memBlobs](),
	})
}

// The conformance suite passes against a store that keeps the contract,
// in process and over the plugin protocol.
func TestBlobConformanceOfAStoreInMemory(t *testing.T) {
	sdktest.RunBlob(t, memBlobDriver(), sdktest.BlobSuite{Type: "memblobs", Config: `{}`, Large: 3 << 20})
	sdktest.RunBlob(t, sdktest.Connect(t, memBlobDriver()), sdktest.BlobSuite{Type: "memblobs", Config: `{}`, Large: 3 << 20})
}

// The capability's operations are what BlobOperations publishes.
func TestBlobOpsDescribeTheCapability(t *testing.T) {
	typ, _ := memBlobDriver().Info().Type("memblobs")
	for _, want := range sdk.BlobOperations() {
		got, ok := typ.Operation(want.Name)
		if !ok || got.Stream != want.Stream || got.Idempotent != want.Idempotent || got.Description != want.Description {
			t.Errorf("operation %s = %+v, want %+v", want.Name, got, want)
		}
	}
}

// A backend that reports another checksum than that of the bytes sent
// fails the put, which removes the object, and fails a whole get.
func TestABackendsChecksumIsCompared(t *testing.T) {
	inst := sdktest.Open(t, memBlobDriver(), sdk.ConfigureRequest{Type: "memblobs", Name: "c", Config: json.RawMessage(`{"corrupt": true}`)})
	for _, args := range []string{`{"key": "k"}`, `{"key": "k", "checksum": "sha256"}`} {
		_, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(args)}, strings.NewReader("bytes"), io.Discard)
		if sdk.KindOf(err) != sdk.KindUnavailable || !errors.Is(err, sdk.ErrBlobChecksum) && !strings.Contains(fmt.Sprint(err), "checksum") {
			t.Fatalf("put %s to a store that reports other checksums: %v (kind %q)", args, err, sdk.KindOf(err))
		}
		if _, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key": "k"}`)}); sdk.KindOf(err) != sdk.KindNotFound {
			t.Fatalf("stat after the failed put: %v, want not_found", err)
		}
	}
}

// A get whose backend sends fewer bytes than the range holds, without an
// error, is unavailable and says where to resume.
func TestAShortGetSaysWhereToResume(t *testing.T) {
	store := &memBlobs{}
	store.store("k", bytes.Repeat([]byte("x"), 100), "", nil)
	short := shortGets{store}
	ops := sdk.BlobOps[shortGets]()
	typ := sdk.NewDriver("short", "1", sdk.ResourceDef[memBlobConfig, shortGets]{Name: "short", Capabilities: []string{sdk.CapabilityBlob}, Pooling: sdk.PoolingShared,
		Configure: func(context.Context, string, memBlobConfig) (sdk.Resource, error) { return nil, nil }, Operations: ops})
	rt, _ := typ.Info().Type("short")
	_, err := rt.InvokeStream(t.Context(), short, sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key": "k"}`)}, nil, io.Discard)
	if sdk.KindOf(err) != sdk.KindUnavailable || !strings.Contains(fmt.Sprint(err), "offset 50") {
		t.Fatalf("short get: %v (kind %q), want unavailable naming offset 50", err, sdk.KindOf(err))
	}
}

// shortGets sends half of what a get asks for.
type shortGets struct{ *memBlobs }

func (s shortGets) GetBlob(ctx context.Context, a sdk.BlobGetArgs, w io.Writer) (sdk.BlobInfo, error) {
	var buf bytes.Buffer
	info, err := s.memBlobs.GetBlob(ctx, a, &buf)
	_, _ = w.Write(buf.Bytes()[:buf.Len()/2])
	return info, err
}

func TestBlobArgumentsRefuseMistakes(t *testing.T) {
	for _, tt := range []struct {
		args interface{ Validate() error }
		want string
	}{
		{sdk.BlobPutArgs{Key: "a/b.txt", Size: -1, SHA256: strings.Repeat("ab", 32), Metadata: map[string]string{"run-id": "1"}}, ""},
		{sdk.BlobPutArgs{Key: "", Size: -1}, "key must not be empty"},
		{sdk.BlobPutArgs{Key: "/a", Size: -1}, "must not start with /"},
		{sdk.BlobPutArgs{Key: strings.Repeat("k", 1025), Size: -1}, "the most is 1024"},
		{sdk.BlobPutArgs{Key: "a\x00b", Size: -1}, "NUL"},
		{sdk.BlobPutArgs{Key: "a\xff", Size: -1}, "UTF-8"},
		{sdk.BlobPutArgs{Key: "a", Size: -2}, "size -2"},
		{sdk.BlobPutArgs{Key: "a", Size: -1, SHA256: "abc"}, "not a SHA-256"},
		{sdk.BlobPutArgs{Key: "a", Size: -1, Metadata: map[string]string{"Owner": "x"}}, `metadata name "Owner"`},
		{sdk.BlobPutArgs{Key: "a", Size: -1, IfNoneMatch: "etag"}, `the only value is "*"`},
		{sdk.BlobPutArgs{Key: "a", Size: -1, IfNoneMatch: "*", IfMatch: `"1"`}, "cannot both be set"},
		{sdk.BlobGetArgs{Key: "a", Offset: -1, Length: -1}, "offset -1"},
		{sdk.BlobGetArgs{Key: "a", Length: -5}, "length -5"},
		{sdk.BlobListArgs{Limit: 1001}, "limit 1001"},
		{sdk.BlobListArgs{Limit: 10, Delimiter: "|"}, `delimiter "|"`},
		{sdk.BlobDeleteArgs{Keys: make([]string, 1001)}, "give 1 to 1000"},
		{sdk.BlobDeleteArgs{Keys: []string{"a", ""}}, "keys[1] must not be empty"},
		{sdk.BlobCopyArgs{From: "a", To: "a"}, "the same key"},
		{sdk.BlobPresignArgs{Key: "a", Method: "delete", Expires: time.Minute}, `method "delete"`},
		{sdk.BlobPresignArgs{Key: "a", Method: "GET", Expires: 8 * 24 * time.Hour}, "expires 192h0m0s"},
		{sdk.BlobPresignArgs{Key: "a", Method: "put", Expires: time.Minute}, ""},
	} {
		err := tt.args.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tt.args, err)
		case tt.want != "" && (sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(fmt.Sprint(err), tt.want)):
			t.Errorf("%+v: %v, want invalid_argument saying %q", tt.args, err, tt.want)
		}
	}
}
