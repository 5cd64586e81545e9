package s3_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/plugins/s3"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// tripWriter keeps what it is given, and starts trip once, on a
// goroutine of its own, at the write that takes it past at bytes; wait
// waits for it. trip does not run in Write: toxiproxy adds a toxic only
// once the link's goroutines take it, and one blocked writing to a reader
// that waits in Write for the toxic never would (toxiproxy's API answers
// 503 after 5 s).
type tripWriter struct {
	buf     bytes.Buffer
	at      int
	trip    func()
	once    sync.Once
	tripped sync.WaitGroup
}

func (w *tripWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.at {
		w.once.Do(func() { w.tripped.Go(w.trip) })
	}
	return w.buf.Write(p)
}

// wait waits for trip to have run, if it started.
func (w *tripWriter) wait() { w.tripped.Wait() }

// A connection that breaks in the middle of a get's body fails the get
// with a retryable unavailable that says where to resume; a ranged get
// from there, conditional on the etag, brings the rest. So it is whether
// the bytes come through the plugin or from a URL the caller's side
// downloads (direct_download).
func TestS3GetWhoseConnectionBreaksMidBodyIsUnavailableAndResumes(t *testing.T) {
	for name, brk := range map[string]func(t *testing.T, proxy *faults.Proxy) func(){
		// Once the first MiB has come, toxiproxy resets the connection.
		// The bandwidth toxic keeps the transfer from running ahead of
		// the caller, so most of the body is still to come then.
		"reset_peer": func(t *testing.T, proxy *faults.Proxy) func() {
			proxy.AddToxic(t, "bandwidth", faults.Downstream, map[string]any{"rate": 16 << 10}) // KB/s
			return func() { proxy.AddResetPeer(t, 0) }
		},
		// toxiproxy closes the connection after 3 MiB from the server.
		"limit_data": func(t *testing.T, proxy *faults.Proxy) func() {
			proxy.AddToxic(t, "limit_data", faults.Downstream, map[string]any{"bytes": 3 << 20})
			return func() {}
		},
	} {
		for _, direct := range []bool{true, false} {
			t.Run(name+"/direct_download="+strconv.FormatBool(direct), func(t *testing.T) {
				s, bucket := newBucket(t)
				const size = 20 << 20
				object := make([]byte, size)
				_, _ = rand.Read(object)
				put, err := s.client().PutObject(t.Context(), &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("pre/big"),
					Body: bytes.NewReader(object), ContentLength: aws.Int64(size)})
				if err != nil {
					t.Fatal(err)
				}
				etag := aws.ToString(put.ETag)

				u, err := url.Parse(s.endpoint)
				if err != nil {
					t.Fatal(err)
				}
				proxy := faults.Toxiproxy(t).Proxy(t, u.Host)
				inst := sdktest.Open(t, sdktest.Connect(t, s3.New()), sdk.ConfigureRequest{Type: "s3", Name: "reset",
					Config: json.RawMessage(config(s, bucket, map[string]any{"endpoint": "http://" + proxy.Addr(), "direct_download": direct}))})

				out := &tripWriter{at: 1 << 20, trip: brk(t, proxy)}
				_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"big"}`)}, nil, out)
				out.wait()
				got := out.buf.Len()
				t.Logf("after %d bytes: %v", got, err)
				switch {
				case err == nil:
					t.Fatalf("the get succeeded with %d of %d bytes through a broken connection", got, size)
				case got == 0 || got >= size:
					t.Fatalf("the connection broke after %d of %d bytes, not in the middle of the body: %v", got, size, err)
				case sdk.KindOf(err) != sdk.KindUnavailable || !sdk.IsRetryable(err):
					t.Fatalf("a get whose connection broke: %v (kind %s, retryable %v), want a retryable unavailable", err, sdk.KindOf(err), sdk.IsRetryable(err))
				case !strings.Contains(err.Error(), `"offset":`+strconv.Itoa(got)):
					t.Errorf("the error does not say to resume at offset %d: %v", got, err)
				}

				proxy.RemoveAll(t)
				args, _ := json.Marshal(map[string]any{"key": "big", "offset": got, "if_match": etag})
				rest := &bytes.Buffer{}
				if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: args}, nil, rest); err != nil {
					t.Fatalf("the resumed get from offset %d: %v", got, err)
				}
				whole := append(out.buf.Bytes(), rest.Bytes()...)
				if len(whole) != size || sha256.Sum256(whole) != sha256.Sum256(object) {
					t.Fatalf("the get and its resumption brought %d bytes (%d + %d) that differ from the %d-byte object", len(whole), got, rest.Len(), size)
				}
				if !strings.HasPrefix(err.Error(), `s3 get "big"`) {
					t.Errorf("the error does not name the type and the call first: %v", err)
				}
			})
		}
	}
}
