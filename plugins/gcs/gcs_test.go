package gcs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/gcs"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// brokenReader yields n random bytes, then fails.
type brokenReader struct{ n int64 }

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errors.New("the caller's stream broke")
	}
	p = p[:min(int64(len(p)), b.n)]
	_, _ = rand.Read(p)
	b.n -= int64(len(p))
	return len(p), nil
}

// cancelingReader yields n random bytes, then cancels the call and
// yields more for as long as it is read.
type cancelingReader struct {
	n      int64
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	p = p[:min(int64(len(p)), max(c.n, 1<<10))]
	_, _ = rand.Read(p)
	c.n -= int64(len(p))
	return len(p), nil
}

func put(t *testing.T, inst *sdktest.Instance, args string, body io.Reader) (sdk.BlobPutResult, error) {
	t.Helper()
	return putCtx(t.Context(), t, inst, args, body)
}

func putCtx(ctx context.Context, t *testing.T, inst *sdktest.Instance, args string, body io.Reader) (sdk.BlobPutResult, error) {
	t.Helper()
	out, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(args)}, body, io.Discard)
	if err != nil {
		return sdk.BlobPutResult{}, err
	}
	return decode[sdk.BlobPutResult](t, out), nil
}

func invoke[R any](t *testing.T, inst *sdktest.Instance, op string, args any) (R, error) {
	t.Helper()
	raw, _ := json.Marshal(args)
	out, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		var zero R
		return zero, err
	}
	return decode[R](t, out), nil
}

func decode[R any](t *testing.T, out any) R {
	t.Helper()
	raw, ok := out.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(out); err != nil {
			t.Fatal(err)
		}
	}
	var r R
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return r
}

func wantKind(t *testing.T, what string, err error, kind sdk.Kind) {
	t.Helper()
	if sdk.KindOf(err) != kind {
		t.Errorf("%s: %v (kind %q), want kind %q", what, err, sdk.KindOf(err), kind)
	}
}

// A put whose stream breaks, or whose call is canceled, after several
// 256 KiB chunks went up in a resumable upload creates no object and
// leaves the one that was there.
func TestGCSPutThatFailsMidResumableUploadLeavesNoObject(t *testing.T) {
	bucket := newBucket(t)
	inst := open(t, sdktest.Connect(t, gcs.New()), config(bucket, nil))
	_, err := put(t, inst, `{"key":"broken"}`, &brokenReader{n: 5 << 20})
	if err == nil {
		t.Fatal("a put whose stream broke succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err = putCtx(ctx, t, inst, `{"key":"canceled"}`, &cancelingReader{n: 3 << 20, cancel: cancel})
	wantKind(t, "a put whose call was canceled", err, sdk.KindCanceled)
	if _, err := put(t, inst, `{"key":"kept"}`, strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	_, err = put(t, inst, `{"key":"kept"}`, &brokenReader{n: 2 << 20})
	if err == nil {
		t.Fatal("a put whose stream broke succeeded")
	}
	if names := objectNames(t, bucket); len(names) != 1 || names[0] != "pre/kept" {
		t.Errorf("after failed puts the bucket holds %q, want only pre/kept", names)
	}
	r, err := bucket.Object("pre/kept").NewReader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	_ = r.Close()
	if string(got) != "kept" {
		t.Errorf("pre/kept holds %d bytes, not the 4 it had", len(got))
	}
}

// Conditional puts in one request and in a resumable upload, and
// conditional copies and gets, with etags that are generations.
func TestGCSConditionalWrites(t *testing.T) {
	bucket := newBucket(t)
	inst := open(t, sdktest.Connect(t, gcs.New()), config(bucket, nil))
	big := func() io.Reader { return io.LimitReader(rand.Reader, 1<<20+7) } // 5 chunks
	first, err := put(t, inst, `{"key":"k","if_none_match":"*"}`, big())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.ETag, `"`) || len(first.ETag) < 3 {
		t.Errorf("etag %s is not a quoted generation", first.ETag)
	}
	_, err = put(t, inst, `{"key":"k","if_none_match":"*"}`, big())
	wantKind(t, "resumable put with if_none_match onto a present key", err, sdk.KindAlreadyExists)
	_, err = put(t, inst, `{"key":"k","if_none_match":"*"}`, strings.NewReader("small"))
	wantKind(t, "one-request put with if_none_match onto a present key", err, sdk.KindAlreadyExists)
	_, err = put(t, inst, `{"key":"k","if_match":"\"1\""}`, big())
	wantKind(t, "resumable put with another generation's if_match", err, sdk.KindFailedPrecondition)
	_, err = put(t, inst, `{"key":"k","if_match":"\"not-a-generation\""}`, strings.NewReader("x"))
	wantKind(t, "put with an etag that is no generation", err, sdk.KindFailedPrecondition)
	_, err = put(t, inst, `{"key":"absent","if_match":`+jsonString(first.ETag)+`}`, strings.NewReader("x"))
	wantKind(t, "put with if_match onto an absent key", err, sdk.KindFailedPrecondition)
	second, err := put(t, inst, `{"key":"k","if_match":`+jsonString(first.ETag)+`}`, big())
	if err != nil {
		t.Fatalf("resumable put with the current etag: %v", err)
	}
	if second.ETag == first.ETag {
		t.Errorf("the etag did not change with the bytes: %s", first.ETag)
	}

	_, err = invoke[sdk.BlobInfo](t, inst, "copy", map[string]any{"from": "k", "to": "c", "if_match": first.ETag})
	wantKind(t, "copy with an old etag's if_match", err, sdk.KindFailedPrecondition)
	c, err := invoke[sdk.BlobInfo](t, inst, "copy", map[string]any{"from": "k", "to": "c", "if_match": second.ETag})
	if err != nil || c.Size != 1<<20+7 || c.ETag == "" {
		t.Fatalf("copy with the current etag = %+v, %v", c, err)
	}
	_, err = invoke[sdk.BlobInfo](t, inst, "copy", map[string]any{"from": "absent", "to": "c2", "if_match": second.ETag})
	wantKind(t, "copy of an absent key with if_match", err, sdk.KindNotFound)

	_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"k","if_match":` + jsonString(first.ETag) + `,"length":0}`)}, nil, io.Discard)
	wantKind(t, "empty get with an old etag's if_match", err, sdk.KindFailedPrecondition)
	_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"absent","if_match":"\"x\""}`)}, nil, io.Discard)
	wantKind(t, "get of an absent key with an etag that is no generation", err, sdk.KindNotFound)
	var buf bytes.Buffer
	_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"k","if_match":` + jsonString(second.ETag) + `,"offset":1048576}`)}, nil, &buf)
	if err != nil || buf.Len() != 7 {
		t.Errorf("ranged get with the current etag: %d bytes, %v", buf.Len(), err)
	}
}

func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

// A presigned URL works with a plain HTTP client: curl uploads with the
// PUT URL and its headers, and downloads with the GET URL.
func TestGCSPresignedURLsWorkWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl on PATH")
	}
	bucket := newBucket(t)
	inst := open(t, sdktest.Connect(t, gcs.New()), config(bucket, map[string]any{"anonymous": true,
		"credentials_json": serviceAccount(t, "https://oauth2.googleapis.com/token")}))
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	file := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}

	up, err := invoke[sdk.BlobPresignResult](t, inst, "presign", map[string]any{"key": "dir/up.bin", "method": "put", "content_type": "application/x-test"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.URL, endpoint()+"/"+bucket.BucketName()+"/pre/dir/up.bin?") || !strings.Contains(up.URL, "X-Goog-Algorithm=GOOG4-RSA-SHA256") ||
		up.Method != "PUT" || up.Headers["Content-Type"] != "application/x-test" {
		t.Fatalf("presigned PUT = %+v", up)
	}
	args := []string{"-sSf", "-X", "PUT", "-T", file}
	for k, v := range up.Headers {
		args = append(args, "-H", k+": "+v)
	}
	if out, err := exec.CommandContext(t.Context(), "curl", append(args, up.URL)...).CombinedOutput(); err != nil {
		t.Fatalf("curl PUT: %v: %s", err, out)
	}
	info, err := invoke[sdk.BlobInfo](t, inst, "stat", map[string]any{"key": "dir/up.bin"})
	if err != nil || info.Size != int64(len(data)) || info.ContentType != "application/x-test" {
		t.Fatalf("stat after the presigned PUT = %+v, %v", info, err)
	}

	down, err := invoke[sdk.BlobPresignResult](t, inst, "presign", map[string]any{"key": "dir/up.bin", "expires": "2m"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.CommandContext(t.Context(), "curl", "-sf", down.URL).Output()
	if err != nil {
		t.Fatalf("curl GET %s: %v", down.URL, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("curl GET of the presigned URL gave %d bytes, not the %d put", len(got), len(data))
	}
}

func TestGCSPresignWithoutAServiceAccountKeyIsFailedPrecondition(t *testing.T) {
	bucket := newBucket(t)
	inst := open(t, sdktest.Connect(t, gcs.New()), config(bucket, nil))
	_, err := invoke[sdk.BlobPresignResult](t, inst, "presign", map[string]any{"key": "a"})
	wantKind(t, "presign without a key", err, sdk.KindFailedPrecondition)
	if err == nil || !strings.Contains(err.Error(), "credentials_json") || !strings.Contains(err.Error(), "credentials_file") {
		t.Errorf("the error does not say what to configure: %v", err)
	}
}

// A token endpoint that refuses the key makes calls permission_denied,
// and no error holds the key.
func TestGCSRefusedCredentialsArePermissionDeniedWithoutTheSecret(t *testing.T) {
	bucket := newBucket(t)
	tokenURL, tokens := tokenServer(t, http.StatusBadRequest)
	sa := serviceAccount(t, tokenURL)
	inst := open(t, sdktest.Connect(t, gcs.New()), config(bucket, map[string]any{"credentials_json": sa}))
	_, err := invoke[sdk.BlobInfo](t, inst, "stat", map[string]any{"key": "x"})
	wantKind(t, "stat with refused credentials", err, sdk.KindPermissionDenied)
	if tokens.Load() == 0 {
		t.Error("the token endpoint was not asked")
	}
	var f struct {
		PrivateKey string `json:"private_key"`
	}
	_ = json.Unmarshal([]byte(sa), &f)
	if err != nil && (strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), f.PrivateKey[40:80])) {
		t.Errorf("the error holds the key: %v", err)
	}
	if err := inst.Check(t.Context()); sdk.KindOf(err) != sdk.KindPermissionDenied {
		t.Errorf("check with refused credentials: %v, want permission_denied", err)
	}
}

func TestGCSCheck(t *testing.T) {
	bucket := newBucket(t)
	d := sdktest.Connect(t, gcs.New())
	if err := open(t, d, config(bucket, nil)).Check(t.Context()); err != nil {
		t.Errorf("check of a bucket: %v", err)
	}
	missing := open(t, d, `{"bucket":"nebula-gcs-test-absent","endpoint":"`+endpoint()+`"}`)
	if err := missing.Check(t.Context()); sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("check of an absent bucket: %v, want not_found", err)
	}
	unreachable := open(t, d, `{"bucket":"b-1","endpoint":"http://127.0.0.1:1"}`)
	if err := unreachable.Check(t.Context()); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("check of an endpoint that refuses connections: %v, want unavailable", err)
	}
}

func TestGCSConfigMistakesAreRefused(t *testing.T) {
	d := gcs.New()
	sa := serviceAccount(t, "https://oauth2.googleapis.com/token")
	for name, cfg := range map[string]string{
		"no bucket":                `{}`,
		"bucket with a slash":      `{"bucket":"a/b"}`,
		"bucket too short":         `{"bucket":"ab"}`,
		"bucket in capitals":       `{"bucket":"Reports"}`,
		"absolute key prefix":      `{"bucket":"b-1","key_prefix":"/x/"}`,
		"endpoint without scheme":  `{"bucket":"b-1","endpoint":"127.0.0.1:4443"}`,
		"endpoint with a query":    `{"bucket":"b-1","endpoint":"http://127.0.0.1:4443/?x=1"}`,
		"chunk size too low":       `{"bucket":"b-1","chunk_size":65536}`,
		"chunk size not aligned":   `{"bucket":"b-1","chunk_size":1000000}`,
		"chunk size too high":      `{"bucket":"b-1","chunk_size":2147483648}`,
		"both credentials":         `{"bucket":"b-1","credentials_file":"/k.json","credentials_json":` + jsonString(sa) + `}`,
		"credentials not JSON":     `{"bucket":"b-1","credentials_json":"not json"}`,
		"credentials of no type":   `{"bucket":"b-1","credentials_json":"{\"client_email\":\"a@b\"}"}`,
		"key without private_key":  `{"bucket":"b-1","credentials_json":"{\"type\":\"service_account\",\"client_email\":\"a@b\"}"}`,
		"key whose key is not PEM": `{"bucket":"b-1","credentials_json":"{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":\"secret-bytes\"}"}`,
	} {
		t.Run(name, func(t *testing.T) {
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "gcs", Config: json.RawMessage(cfg)})
			if err == nil {
				t.Fatalf("config %s was accepted", cfg)
			}
			if strings.Contains(err.Error(), "secret-bytes") || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error holds the credentials: %v", err)
			}
		})
	}
	for name, cfg := range map[string]string{
		"least":             `{"bucket":"b-1"}`,
		"emulator":          `{"bucket":"b.example.com","endpoint":"http://127.0.0.1:4443","chunk_size":262144}`,
		"service account":   `{"bucket":"b-1","credentials_json":` + jsonString(sa) + `}`,
		"anonymous, 16 MiB": `{"bucket":"b_1","anonymous":true,"chunk_size":16777216}`,
	} {
		t.Run(name, func(t *testing.T) {
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "gcs", Config: json.RawMessage(cfg)})
			if err != nil {
				t.Errorf("config %s was refused: %v", cfg, err)
			}
		})
	}
}

func TestGCSCredentialsFile(t *testing.T) {
	bucket := newBucket(t)
	d := sdktest.Connect(t, gcs.New())
	file := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(file, []byte(serviceAccount(t, "https://oauth2.googleapis.com/token")), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := open(t, d, config(bucket, map[string]any{"credentials_file": file, "anonymous": true}))
	if _, err := invoke[sdk.BlobPresignResult](t, inst, "presign", map[string]any{"key": "a"}); err != nil {
		t.Errorf("presign with the key of credentials_file: %v", err)
	}
	_, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "gcs", Name: "nofile",
		Config: json.RawMessage(config(bucket, map[string]any{"credentials_file": filepath.Join(t.TempDir(), "absent.json")}))})
	wantKind(t, "configure with an absent credentials_file", err, sdk.KindFailedPrecondition)
}
