package gcs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/nebula-resource/nebula-resource/plugins/gcs"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The fake-gcs-server of scripts/testenv, unless the environment names
// another (eval "$(scripts/testenv env)").
func endpoint() string {
	if v := os.Getenv("NEBULA_GCS_ENDPOINT"); v != "" {
		return v
	}
	return "http://127.0.0.1:4443"
}

// adminClient is a client of the test server of its own, closed when the
// test ends.
func adminClient(t *testing.T) *storage.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	c, err := storage.NewClient(context.Background(), option.WithEndpoint(endpoint()+"/storage/v1/"), option.WithoutAuthentication(),
		option.WithHTTPClient(&http.Client{Transport: tr}), storage.WithDisabledClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		tr.CloseIdleConnections()
	})
	return c
}

// newBucket creates a bucket of its own for the test and removes it, with
// what is left in it, at the end.
func newBucket(t *testing.T) *storage.BucketHandle {
	t.Helper()
	c := adminClient(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula-gcs-test-" + hex.EncodeToString(b[:])
	bucket := c.Bucket(name)
	if err := bucket.Create(t.Context(), "nebula-test", nil); err != nil {
		t.Fatalf("the GCS server is unreachable or refuses to create a bucket at %s (NEBULA_GCS_ENDPOINT): %v\nRun `scripts/testenv up` (or `make test`) to start it.", endpoint(), err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, name := range objectNames(t, bucket) {
			_ = bucket.Object(name).Delete(ctx)
		}
		if err := bucket.Delete(ctx); err != nil {
			t.Errorf("removing bucket %s: %v", name, err)
		}
	})
	return bucket
}

// objectNames lists every object of the bucket.
func objectNames(t *testing.T, bucket *storage.BucketHandle) []string {
	t.Helper()
	var names []string
	it := bucket.Objects(context.Background(), nil)
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatalf("listing the bucket: %v", err)
		}
		names = append(names, o.Name)
	}
}

var (
	keyOnce sync.Once
	keyPEM  string
)

// serviceAccount is a service account key JSON whose private key is made
// for the test run, and whose token endpoint is tokenURL.
func serviceAccount(t *testing.T, tokenURL string) string {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	})
	raw, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "nebula-test", "private_key_id": "0123456789abcdef",
		"private_key": keyPEM, "client_email": "nebula-test@nebula-test.iam.gserviceaccount.com", "client_id": "1",
		"token_uri": tokenURL})
	return string(raw)
}

// tokenServer is an OAuth 2.0 token endpoint that answers every request
// with status (a token for 200), counting them. fake-gcs-server checks no
// token, but the client asks for one before it sends a request with the
// credentials.
func tokenServer(t *testing.T, status int) (url string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusOK {
			fmt.Fprint(w, `{"access_token":"nebula-test-token","token_type":"Bearer","expires_in":3600}`)
		} else {
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/token", requests
}

// config is a resource's configuration for the bucket: the test server,
// 256 KiB chunks, a key prefix, and more.
func config(bucket *storage.BucketHandle, more map[string]any) string {
	cfg := map[string]any{"bucket": bucket.BucketName(), "endpoint": endpoint(), "chunk_size": 256 << 10, "key_prefix": "pre/"}
	for k, v := range more {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return string(raw)
}

// closeIdleConnections closes, when the test ends, the connections
// http.DefaultClient keeps (the suite uses its presigned URLs with it), so
// that goleak finds no goroutine of theirs.
func closeIdleConnections(t *testing.T) {
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
}

func open(t *testing.T, d sdk.Driver, cfg string) *sdktest.Instance {
	t.Helper()
	return sdktest.Open(t, d, sdk.ConfigureRequest{Type: "gcs", Name: "test", Config: json.RawMessage(cfg)})
}

// The blob capability's contract, in process over real gRPC and as the
// built binary. In process, requests carry a token the service account
// key got from the test's token endpoint, and gets stream through the
// plugin (direct_download false); the binary's are anonymous, with the key
// signing presigned URLs only, and gets download from the URLs it signs
// (sdk.CapabilityBlobURLGet).
func TestGCSBlobConformanceInProcess(t *testing.T) {
	closeIdleConnections(t)
	bucket := newBucket(t)
	tokenURL, tokens := tokenServer(t, http.StatusOK)
	cfg := config(bucket, map[string]any{"credentials_json": serviceAccount(t, tokenURL), "direct_download": false})
	sdktest.RunBlob(t, sdktest.Connect(t, gcs.New()), sdktest.BlobSuite{Type: "gcs", Config: cfg, Large: 3<<20 + 12345})
	if tokens.Load() == 0 {
		t.Error("the requests went without the credentials' token")
	}
}

func TestGCSBlobConformanceAsBuiltBinary(t *testing.T) {
	closeIdleConnections(t)
	bucket := newBucket(t)
	cfg := config(bucket, map[string]any{"anonymous": true, "credentials_json": serviceAccount(t, "https://oauth2.googleapis.com/token")})
	sdktest.RunBlob(t, sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-gcs")), sdktest.BlobSuite{Type: "gcs", Config: cfg, Large: 3<<20 + 12345})
}
