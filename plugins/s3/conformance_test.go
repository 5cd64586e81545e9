package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebula-resource/nebula-resource/plugins/s3"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The versitygw server of scripts/testenv, unless the environment names
// another (eval "$(scripts/testenv env)").
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type server struct{ endpoint, access, secret, region string }

func testServer() server {
	return server{env("NEBULA_S3_ENDPOINT", "http://127.0.0.1:7070"), env("NEBULA_S3_ACCESS_KEY", "nebula-test"),
		env("NEBULA_S3_SECRET_KEY", "nebula-test-secret"), env("NEBULA_S3_REGION", "us-east-1")}
}

func (s server) client() *awss3.Client {
	return awss3.New(awss3.Options{Region: s.region, BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, "")})
}

// newBucket creates a bucket of its own for the test and removes it, with
// what is left in it, at the end.
func newBucket(t *testing.T) (server, string) {
	t.Helper()
	s := testServer()
	c := s.client()
	var b [6]byte
	_, _ = rand.Read(b[:])
	bucket := "nebula-s3-test-" + hex.EncodeToString(b[:])
	if _, err := c.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("the S3 server is unreachable or refuses to create a bucket at %s (NEBULA_S3_ENDPOINT): %v\nRun `scripts/testenv up` (or `make test`) to start it.", s.endpoint, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		ups, _ := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bucket})
		if ups != nil {
			for _, u := range ups.Uploads {
				_, _ = c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
			}
		}
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				break
			}
			for _, o := range page.Contents {
				_, _ = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: o.Key})
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
			t.Errorf("removing bucket %s: %v", bucket, err)
		}
	})
	return s, bucket
}

func config(s server, bucket string, more map[string]any) string {
	cfg := map[string]any{"bucket": bucket, "endpoint": s.endpoint, "region": s.region, "path_style": true,
		"access_key_id": s.access, "secret_access_key": s.secret, "part_size": 5 << 20, "key_prefix": "pre/"}
	for k, v := range more {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return string(raw)
}

func blobSuite(t *testing.T, more map[string]any) sdktest.BlobSuite {
	s, bucket := newBucket(t)
	return sdktest.BlobSuite{Type: "s3", Config: config(s, bucket, more), Large: 11 << 20}
}

// The blob capability's contract, in process over real gRPC and as the
// built binary. In process, gets stream through the plugin
// (direct_download false); the binary serves them from URLs, which the
// host downloads (sdk.CapabilityBlobURLGet).
func TestS3BlobConformanceInProcess(t *testing.T) {
	sdktest.RunBlob(t, sdktest.Connect(t, s3.New()), blobSuite(t, map[string]any{"direct_download": false}))
}

func TestS3BlobConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBlob(t, sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-s3")), blobSuite(t, nil))
}

func TestS3WrongSecretIsPermissionDeniedWithoutTheSecret(t *testing.T) {
	s, bucket := newBucket(t)
	const wrong = "not-the-secret-0123456789"
	d := sdktest.Connect(t, s3.New())
	inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: "s3", Name: "wrong", Config: json.RawMessage(config(s, bucket, map[string]any{"secret_access_key": wrong}))})
	_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key":"x"}`)})
	if sdk.KindOf(err) != sdk.KindPermissionDenied {
		t.Fatalf("stat with a wrong secret: %v (kind %s), want permission_denied", err, sdk.KindOf(err))
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("the error holds the secret: %v", err)
	}
}

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

func TestS3PutWhoseStreamFailsMidMultipartLeavesNoObjectAndNoUpload(t *testing.T) {
	s, bucket := newBucket(t)
	d := sdktest.Connect(t, s3.New())
	inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: "s3", Name: "broken", Config: json.RawMessage(config(s, bucket, map[string]any{"upload_concurrency": 2}))})
	_, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"key":"broken"}`)}, &brokenReader{n: 12 << 20}, io.Discard)
	if err == nil {
		t.Fatal("a put whose stream broke succeeded")
	}
	// The caller's side ends the call when its stream breaks; the plugin
	// aborts the upload after that, so wait for it a little.
	c := s.client()
	var uploads int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ups, lerr := c.ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
		if lerr != nil {
			t.Fatal(lerr)
		}
		if uploads = len(ups.Uploads); uploads == 0 || time.Now().After(deadline) {
			break
		}
	}
	if uploads != 0 {
		t.Errorf("%d multipart uploads remain after a failed put (%v)", uploads, err)
	}
	objs, lerr := c.ListObjectsV2(t.Context(), &awss3.ListObjectsV2Input{Bucket: &bucket})
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(objs.Contents) != 0 {
		t.Errorf("%d objects remain after a failed put", len(objs.Contents))
	}
}

func TestS3ConfigMistakesAreRefused(t *testing.T) {
	d := s3.New()
	for name, cfg := range map[string]string{
		"no bucket":         `{}`,
		"part size too low": `{"bucket":"b","part_size":1048576}`,
		"one key only":      `{"bucket":"b","access_key_id":"a"}`,
		"unknown sse":       `{"bucket":"b","sse":"rot13"}`,
		"kms key without":   `{"bucket":"b","sse_kms_key_id":"k"}`,
	} {
		t.Run(name, func(t *testing.T) {
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "s3", Config: json.RawMessage(cfg)})
			if err == nil {
				t.Errorf("config %s was accepted", cfg)
			}
		})
	}
}

func TestS3ConditionalMultipartPutOntoAPresentKeyIsAlreadyExistsAndLeavesNoUpload(t *testing.T) {
	s, bucket := newBucket(t)
	d := sdktest.Connect(t, s3.New())
	inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: "s3", Name: "cond", Config: json.RawMessage(config(s, bucket, nil))})
	put := func(args string, n int64) error {
		_, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(args)},
			io.LimitReader(rand.Reader, n), io.Discard)
		return err
	}
	if err := put(`{"key":"k"}`, 10); err != nil {
		t.Fatal(err)
	}
	err := put(`{"key":"k","if_none_match":"*"}`, 11<<20)
	if sdk.KindOf(err) != sdk.KindAlreadyExists {
		t.Fatalf("multipart put with if_none_match onto a present key: %v (kind %s), want already_exists", err, sdk.KindOf(err))
	}
	err = put(`{"key":"k","if_match":"\"not-its-etag\""}`, 11<<20)
	if sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("multipart put with another etag's if_match: %v (kind %s), want failed_precondition", err, sdk.KindOf(err))
	}
	ups, lerr := s.client().ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads remain after failed conditional puts", len(ups.Uploads))
	}
}

// A presigned GET URL downloads the object with plain curl, and a
// presigned PUT URL uploads one, without credentials.
func TestS3PresignedURLsWorkWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl on PATH")
	}
	s, bucket := newBucket(t)
	d := sdktest.Connect(t, s3.New())
	inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: "s3", Name: "presign", Config: json.RawMessage(config(s, bucket, nil))})
	presign := func(args string) sdk.BlobPresignResult {
		t.Helper()
		out, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: "presign", Args: json.RawMessage(args)})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(out)
		var res sdk.BlobPresignResult
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("presign's result %s: %v", raw, err)
		}
		return res
	}
	data := make([]byte, 3<<20+7)
	_, _ = rand.Read(data)
	file := filepath.Join(t.TempDir(), "up.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	up := presign(`{"key":"curl/up.bin","method":"put","expires":"5m"}`)
	args := []string{"-sSf", "-X", "PUT", "-T", file}
	for k, v := range up.Headers {
		args = append(args, "-H", k+": "+v)
	}
	if out, err := exec.CommandContext(t.Context(), "curl", append(args, up.URL)...).CombinedOutput(); err != nil {
		t.Fatalf("curl PUT to the presigned URL: %v: %s", err, out)
	}
	down := presign(`{"key":"curl/up.bin","expires":"5m"}`)
	got, err := exec.CommandContext(t.Context(), "curl", "-sSf", down.URL).Output()
	if err != nil {
		t.Fatalf("curl GET of the presigned URL: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("curl GET of the presigned URL gave %d bytes that differ from the %d put", len(got), len(data))
	}
	// The URL is all it takes: without its signature the server refuses.
	unsigned, _, _ := strings.Cut(down.URL, "?")
	if out, err := exec.CommandContext(t.Context(), "curl", "-sf", "-o", os.DevNull, unsigned).CombinedOutput(); err == nil {
		t.Fatalf("curl GET without the signature succeeded: %s", out)
	}
}
