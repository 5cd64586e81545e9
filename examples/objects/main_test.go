package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program on local.hcl, with the localfs plugin built from this
// checkout, in a directory of the test's own: put stores a file, list
// shows it, get writes it back to a file and to stdout, get of a missing
// key says so, and url and fetch say that local files have no presigned
// URLs.
func TestObjectsOnLocalFiles(t *testing.T) {
	t.Setenv("OBJECTS_DIR", filepath.Join(t.TempDir(), "objects"))
	plugins := buildPlugin(t, "localfs")
	data := randomBytes(t, 100<<10)
	src := writeFile(t, data)
	sum := sha256Hex(data)

	objects := program{t: t, config: "local.hcl", pluginDir: plugins}
	objects.ok("put", "notes/a.bin", src).stderr(fmt.Sprintf("put notes/a.bin: %d bytes, sha256 %s\n", len(data), sum))
	objects.ok("list", "notes/").stdout(fmt.Sprintf("%12d  notes/a.bin\n", len(data)))
	copied := filepath.Join(t.TempDir(), "copy.bin")
	objects.ok("get", "notes/a.bin", copied).stderr(fmt.Sprintf("get notes/a.bin: %d bytes, sha256 %s\n", len(data), sum))
	sameFile(t, copied, data)
	if out := objects.ok("get", "notes/a.bin", "-"); !bytes.Equal(out.out.Bytes(), data) {
		t.Errorf("get to stdout wrote %d bytes that differ from the %d put", out.out.Len(), len(data))
	}
	objects.fails("get", "notes/missing.bin", "-").err(`no object "notes/missing.bin"`)
	noPresign := "localfs.objects cannot presign URLs: type localfs has no blob_presign capability (s3, gcs and azblob have it; try -config examples/objects/s3.hcl)"
	objects.fails("url", "notes/a.bin").err(noPresign)
	objects.fails("fetch", "notes/a.bin", copied).err(noPresign)
}

// The program on s3.hcl, against the versitygw of scripts/testenv
// (NEBULA_S3_ENDPOINT) with the s3 plugin built from this checkout, in a
// bucket of the test's own: put uploads a file; url prints a presigned
// URL that a plain HTTP client, with no credentials, downloads the same
// bytes from, until it expires; fetch does that download itself into a
// file; and fetch of a missing key reports S3's answer.
func TestObjectsUploadAndPresignedDownloadOnS3(t *testing.T) {
	s := newBucket(t)
	t.Setenv("OBJECTS_BUCKET", s.bucket)
	t.Setenv("S3_ENDPOINT", s.endpoint)
	t.Setenv("S3_PATH_STYLE", "true")
	t.Setenv("AWS_REGION", s.region)
	t.Setenv("AWS_ACCESS_KEY_ID", s.access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.secret)
	plugins := buildPlugin(t, "s3")
	data := randomBytes(t, 6<<20) // over part_size: a multipart upload
	src := writeFile(t, data)
	sum := sha256Hex(data)

	objects := program{t: t, config: "s3.hcl", pluginDir: plugins}
	objects.ok("put", "reports/q3.bin", src).stderr(fmt.Sprintf("put reports/q3.bin: %d bytes, sha256 %s\n", len(data), sum))
	objects.ok("list", "reports/").stdout(fmt.Sprintf("%12d  reports/q3.bin\n", len(data)))

	url := strings.TrimSpace(objects.ok("url", "reports/q3.bin").out.String())
	status, body := httpGet(t, url)
	if status != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET of the presigned URL: %d with %d bytes; want 200 with the %d bytes put", status, len(body), len(data))
	}

	copied := filepath.Join(t.TempDir(), "q3.bin")
	objects.ok("fetch", "reports/q3.bin", copied).stderrHas(fmt.Sprintf("fetched reports/q3.bin with an HTTP GET of its presigned URL: %d bytes\n", len(data)))
	sameFile(t, copied, data)

	objects.fails("fetch", "reports/missing.bin", "-").
		err(`GET of the presigned URL of "reports/missing.bin": 404 Not Found (NoSuchKey: The specified key does not exist.)`)

	// A URL stops working when it expires.
	short := program{t: t, config: "s3.hcl", pluginDir: plugins, expires: time.Second}
	url = strings.TrimSpace(short.ok("url", "reports/q3.bin").out.String())
	time.Sleep(2 * time.Second)
	if status, body := httpGet(t, url); status != http.StatusForbidden {
		t.Errorf("GET of a presigned URL past its expiry: %d %s; want 403", status, body)
	}
}

// program runs the program's command in process, as the test.
type program struct {
	t                 *testing.T
	config, pluginDir string
	expires           time.Duration // 0: 15m
}

// result is what one command did.
type result struct {
	t        *testing.T
	args     []string
	out, log bytes.Buffer
	error    error
}

func (p program) exec(args ...string) *result {
	p.t.Helper()
	r := &result{t: p.t, args: args}
	expires := p.expires
	if expires == 0 {
		expires = 15 * time.Minute
	}
	c := command{configPath: p.config, pluginDir: p.pluginDir, expires: expires,
		stdin: strings.NewReader(""), stdout: &r.out, stderr: &r.log}
	r.error = c.run(p.t.Context(), args)
	return r
}

// ok runs the command and fails the test unless it succeeds.
func (p program) ok(args ...string) *result {
	p.t.Helper()
	r := p.exec(args...)
	if r.error != nil {
		p.t.Fatalf("objects %s: %v\nstderr:\n%s", strings.Join(args, " "), r.error, r.log.String())
	}
	return r
}

// fails runs the command and fails the test if it succeeds.
func (p program) fails(args ...string) *result {
	p.t.Helper()
	r := p.exec(args...)
	if r.error == nil {
		p.t.Fatalf("objects %s succeeded; want an error\nstderr:\n%s", strings.Join(args, " "), r.log.String())
	}
	return r
}

func (r *result) stdout(want string) {
	r.t.Helper()
	if got := r.out.String(); got != want {
		r.t.Errorf("objects %s printed\n%q\nwant\n%q", strings.Join(r.args, " "), got, want)
	}
}

// stderr checks what the command said it did.
func (r *result) stderr(want string) {
	r.t.Helper()
	if got := r.log.String(); got != want {
		r.t.Errorf("objects %s said\n%q\nwant\n%q", strings.Join(r.args, " "), got, want)
	}
}

func (r *result) stderrHas(want string) {
	r.t.Helper()
	if got := r.log.String(); !strings.Contains(got, want) {
		r.t.Errorf("objects %s said\n%q\nwant it to hold\n%q", strings.Join(r.args, " "), got, want)
	}
}

func (r *result) err(want string) {
	r.t.Helper()
	if r.error.Error() != want {
		r.t.Errorf("objects %s failed with\n%v\nwant\n%s", strings.Join(r.args, " "), r.error, want)
	}
}

// httpGet GETs url with a client of its own, which has no credentials,
// and returns the status and the body.
func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("the presigned URL: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET of the presigned URL: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET of the presigned URL: %v", err)
	}
	return resp.StatusCode, body
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "source.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %d bytes that differ from the %d put", path, len(got), len(want))
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// s3Server is the S3 server of the test, and a bucket on it.
type s3Server struct{ endpoint, access, secret, region, bucket string }

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newBucket creates a bucket of the test's own on the versitygw of
// scripts/testenv, or fails the test, never skips it, when the server
// does not answer; the bucket and what is left in it are removed when
// the test ends.
func newBucket(t *testing.T) s3Server {
	t.Helper()
	s := s3Server{env("NEBULA_S3_ENDPOINT", "http://127.0.0.1:7070"), env("NEBULA_S3_ACCESS_KEY", "nebula-test"),
		env("NEBULA_S3_SECRET_KEY", "nebula-test-secret"), env("NEBULA_S3_REGION", "us-east-1"), ""}
	httpClient := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(httpClient.CloseIdleConnections)
	c := awss3.New(awss3.Options{Region: s.region, BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true, HTTPClient: httpClient,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, "")})
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.bucket = "nebula-objects-test-" + hex.EncodeToString(b[:])
	if _, err := c.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: &s.bucket}); err != nil {
		t.Fatalf("the S3 server is unreachable or refuses to create a bucket at %s (NEBULA_S3_ENDPOINT): %v\nRun `scripts/testenv up` (or `make test`) to start it.", s.endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &s.bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("listing bucket %s: %v", s.bucket, err)
				break
			}
			for _, o := range page.Contents {
				if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil {
					t.Errorf("deleting %s from bucket %s: %v", *o.Key, s.bucket, err)
				}
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &s.bucket}); err != nil {
			t.Errorf("removing bucket %s: %v", s.bucket, err)
		}
	})
	return s
}

// buildPlugin builds nebula-plugin-TYPE from this checkout into a
// directory of the test's own, and returns the directory.
func buildPlugin(t *testing.T, typ string) string {
	t.Helper()
	dir := t.TempDir()
	name := "nebula-plugin-" + typ
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name),
		"github.com/nebula-resource/nebula-resource/plugins/"+typ+"/cmd/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\nprinted:\n%s", name, err, out)
	}
	return dir
}
