package s3_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/plugins/s3"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// stalledReader yields n random bytes, then blocks until release is
// closed: a put whose caller has more to send, but not yet.
type stalledReader struct {
	n       int64
	release chan struct{}
}

func (s *stalledReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		<-s.release
		return 0, errors.New("the test released the stalled stream")
	}
	p = p[:min(int64(len(p)), s.n)]
	_, _ = rand.Read(p)
	s.n -= int64(len(p))
	return len(p), nil
}

// uploads lists the bucket's multipart uploads under prefix, by key.
func uploads(t *testing.T, c *awss3.Client, bucket, prefix string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	p := awss3.NewListMultipartUploadsPaginator(c, &awss3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("listing the multipart uploads: %v", err)
		}
		for _, u := range page.Uploads {
			out[aws.ToString(u.Key)] = append(out[aws.ToString(u.Key)], aws.ToString(u.UploadId))
		}
	}
	return out
}

// objectKeys lists the bucket's objects.
func objectKeys(t *testing.T, c *awss3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(t.Context(), &awss3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatalf("listing the objects: %v", err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// waitFor polls cond every 50ms until it holds or d has passed, and
// reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// A plugin killed with SIGKILL in the middle of a multipart put leaves
// its upload open; the plugin started in its place, configured the same,
// aborts it once it is older than abort_incomplete_after.
func TestS3RestartedPluginAbortsTheUploadOfAKilledOne(t *testing.T) {
	s, bucket := newBucket(t)
	c := s.client()
	bin := sdktest.Build(t, "./cmd/nebula-plugin-s3")
	// Both plugins have the same configuration, as the host's restart
	// gives them. The killed one's own sweep must not abort the upload
	// before the kill: 3s leaves room for a loaded machine (the kill came
	// 1.7s after the put began with -race and four busy loops on two
	// CPUs).
	req := sdk.ConfigureRequest{Type: "s3", Name: "sweep", Config: json.RawMessage(config(s, bucket, map[string]any{"abort_incomplete_after": "3s"}))}
	const key = "pre/killed"

	d, proc := sdktest.StartProcess(t, bin)
	inst := sdktest.Open(t, d, req)
	release := make(chan struct{})
	put := make(chan error, 1)
	go func() {
		// 12 MiB: two 5 MiB parts go up, the third waits for bytes that
		// do not come.
		_, err := inst.InvokeStream(context.Background(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(`{"key":"killed"}`)},
			&stalledReader{n: 12 << 20, release: release}, io.Discard)
		put <- err
	}()
	released := false
	unblock := func() {
		if released {
			return
		}
		released = true
		close(release)
		select {
		case err := <-put:
			t.Logf("the put of the killed plugin ended: %v", err)
		case <-time.After(30 * time.Second):
			t.Error("the put of the killed plugin has not ended 30s after its stream was released")
		}
	}
	t.Cleanup(unblock)

	// Wait for the upload and its first parts.
	var uploadID string
	started := time.Now()
	ok := waitFor(20*time.Second, func() bool {
		ids := uploads(t, c, bucket, "pre/")[key]
		if len(ids) != 1 {
			return false
		}
		parts, err := c.ListParts(t.Context(), &awss3.ListPartsInput{Bucket: &bucket, Key: aws.String(key), UploadId: &ids[0]})
		if err != nil || len(parts.Parts) < 2 {
			return false
		}
		uploadID = ids[0]
		return true
	})
	if !ok {
		t.Fatalf("no multipart upload of %s with two parts after 20s: %v", key, uploads(t, c, bucket, ""))
	}
	faults.Kill(t, proc.Pid)
	t.Logf("killed the plugin %v after the put started", time.Since(started))
	if ids := uploads(t, c, bucket, "pre/")[key]; len(ids) != 1 || ids[0] != uploadID {
		t.Fatalf("the upload %s of %s is gone right after the kill (uploads now %v): something other than the restarted plugin aborted it, "+
			"the killed plugin's own sweep if killing it took longer than abort_incomplete_after", uploadID, key, ids)
	}
	if keys := objectKeys(t, c, bucket); len(keys) != 0 {
		t.Fatalf("objects after a put was killed: %v", keys)
	}
	unblock()

	// The host's supervisor would start the plugin again and configure
	// the same resource.
	inst2 := sdktest.Open(t, sdktest.Start(t, bin), req)
	if !waitFor(15*time.Second, func() bool { return len(uploads(t, c, bucket, "")) == 0 }) {
		t.Fatalf("the restarted plugin left the upload of the killed one: %v", uploads(t, c, bucket, ""))
	}
	if keys := objectKeys(t, c, bucket); len(keys) != 0 {
		t.Fatalf("objects after the upload was aborted: %v", keys)
	}
	_, err := inst2.Invoke(t.Context(), sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key":"killed"}`)})
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Fatalf("stat of the key whose put was killed: %v (kind %s), want not_found", err, sdk.KindOf(err))
	}
}

// The sweep aborts the uploads under key_prefix older than
// abort_incomplete_after, and leaves a young one and one outside
// key_prefix alone.
func TestS3SweepAbortsOnlyOldUploadsUnderTheKeyPrefix(t *testing.T) {
	s, bucket := newBucket(t)
	c := s.client()
	create := func(key string) string {
		out, err := c.CreateMultipartUpload(t.Context(), &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatalf("create the upload of %s: %v", key, err)
		}
		return aws.ToString(out.UploadId)
	}
	old, outside := create("pre/old"), create("other/old")
	// The server's clock counts whole seconds: wait for the uploads to
	// be older than 2s by any reckoning.
	time.Sleep(3200 * time.Millisecond)
	young := create("pre/young")

	sdktest.Open(t, sdktest.Connect(t, s3.New()), sdk.ConfigureRequest{Type: "s3", Name: "sweep",
		Config: json.RawMessage(config(s, bucket, map[string]any{"abort_incomplete_after": "2s"}))})
	var left map[string][]string
	if !waitFor(10*time.Second, func() bool { left = uploads(t, c, bucket, ""); return len(left["pre/old"]) == 0 }) {
		t.Fatalf("the upload of pre/old (%s), older than abort_incomplete_after, is still there after 10s: %v", old, left)
	}
	if ids := left["pre/young"]; len(ids) != 1 || ids[0] != young {
		t.Errorf("the young upload of pre/young (%s) was aborted with the old one: %v", young, left)
	}
	if ids := left["other/old"]; len(ids) != 1 || ids[0] != outside {
		t.Errorf("the upload of other/old (%s), outside key_prefix, was aborted: %v", outside, left)
	}
}

func TestS3AbortIncompleteAfterMistakesAreRefused(t *testing.T) {
	d := s3.New()
	for _, after := range []string{"500ms", "-1s", "999ms"} {
		cfg := `{"bucket":"b","abort_incomplete_after":"` + after + `"}`
		err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "s3", Config: json.RawMessage(cfg)})
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Attribute != "abort_incomplete_after" {
			t.Errorf("config %s: %v, want an error about abort_incomplete_after", cfg, err)
		}
	}
	for _, after := range []string{"0s", "1s", "24h"} {
		cfg := `{"bucket":"b","abort_incomplete_after":"` + after + `"}`
		if err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "s3", Config: json.RawMessage(cfg)}); err != nil {
			t.Errorf("config %s was refused: %v", cfg, err)
		}
	}
}
