package azblob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/nebula-resource/nebula-resource/plugins/azblob"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The Azurite server of scripts/testenv, unless the environment names
// another (eval "$(scripts/testenv env)"). Azurite's account and key are
// its well-known development ones.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type server struct{ endpoint, account, key string }

func testServer() server {
	return server{env("NEBULA_AZBLOB_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1"), env("NEBULA_AZBLOB_ACCOUNT", "devstoreaccount1"),
		env("NEBULA_AZBLOB_KEY", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")}
}

// client is a service client of the test's own, whose connections close
// when the test ends.
func (s server) client(t *testing.T) *service.Client {
	t.Helper()
	cred, err := service.NewSharedKeyCredential(s.account, s.key)
	if err != nil {
		t.Fatal(err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	c, err := service.NewClientWithSharedKeyCredential(s.endpoint, cred, &service.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: -1}, Transport: &http.Client{Transport: transport}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newContainer creates a container of its own for the test and removes
// it, with what is left in it, at the end.
func newContainer(t *testing.T) (server, *container.Client) {
	t.Helper()
	s := testServer()
	c := s.client(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "nebula-azblob-test-" + hex.EncodeToString(b[:])
	if _, err := c.CreateContainer(t.Context(), name, nil); err != nil {
		t.Fatalf("Azurite is unreachable or refuses to create a container at %s (NEBULA_AZBLOB_ENDPOINT): %v\nRun `scripts/testenv up` (or `make test`) to start it.", s.endpoint, err)
	}
	t.Cleanup(func() {
		if _, err := c.DeleteContainer(context.Background(), name, nil); err != nil {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	return s, c.NewContainerClient(name)
}

func containerName(c *container.Client) string {
	u := strings.TrimRight(c.URL(), "/")
	return u[strings.LastIndex(u, "/")+1:]
}

func config(s server, c *container.Client, more map[string]any) string {
	cfg := map[string]any{"container": containerName(c), "account_url": s.endpoint, "account_name": s.account,
		"account_key": s.key, "block_size": 1 << 20, "key_prefix": "pre/"}
	for k, v := range more {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	raw, _ := json.Marshal(cfg)
	return string(raw)
}

func open(t *testing.T, d sdk.Driver, cfg string) *sdktest.Instance {
	t.Helper()
	return sdktest.Open(t, d, sdk.ConfigureRequest{Type: "azblob", Name: "test", Config: json.RawMessage(cfg)})
}

func blobSuite(t *testing.T, more map[string]any) sdktest.BlobSuite {
	// The suite sends the presigned URLs' requests with http.DefaultClient,
	// whose connections to Azurite stay open (goleak, TestMain).
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	s, c := newContainer(t)
	// 3.5 blocks of 1 MiB: staged blocks, the last one short.
	return sdktest.BlobSuite{Type: "azblob", Config: config(s, c, more), Large: 7 << 19}
}

// The blob capability's contract, in process over real gRPC and as the
// built binary. In process, gets stream through the plugin
// (direct_download false); the binary's download from its SAS URLs
// (sdk.CapabilityBlobURLGet).
func TestAzblobBlobConformanceInProcess(t *testing.T) {
	sdktest.RunBlob(t, sdktest.Connect(t, azblob.New()), blobSuite(t, map[string]any{"direct_download": false}))
}

func TestAzblobBlobConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBlob(t, sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-azblob")), blobSuite(t, nil))
}

func put(t *testing.T, inst *sdktest.Instance, args string, body io.Reader) (sdk.BlobPutResult, error) {
	t.Helper()
	out, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "put", Args: json.RawMessage(args)}, body, io.Discard)
	if err != nil {
		return sdk.BlobPutResult{}, err
	}
	return result[sdk.BlobPutResult](t, out), nil
}

func call[R any](t *testing.T, inst *sdktest.Instance, op, args string) (R, error) {
	t.Helper()
	out, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
	if err != nil {
		var zero R
		return zero, err
	}
	return result[R](t, out), nil
}

func result[R any](t *testing.T, out any) R {
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

func TestAzblobWrongKeyIsPermissionDeniedWithoutTheKey(t *testing.T) {
	s, c := newContainer(t)
	// Another valid base64 key of the same length: only the signature is
	// wrong.
	wrong := "A" + s.key[1:]
	if strings.HasPrefix(s.key, "A") {
		wrong = "B" + s.key[1:]
	}
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, map[string]any{"account_key": wrong}))
	for _, op := range []struct{ name, args string }{{"stat", `{"key":"x"}`}, {"list", `{}`}} {
		_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op.name, Args: json.RawMessage(op.args)})
		if sdk.KindOf(err) != sdk.KindPermissionDenied {
			t.Fatalf("%s with a wrong account key: %v (kind %s), want permission_denied", op.name, err, sdk.KindOf(err))
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), s.key) {
			t.Fatalf("the error holds the key: %v", err)
		}
		if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "403") {
			t.Errorf("the error is not one line with the status: %q", err)
		}
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

func TestAzblobPutWhoseStreamBreaksMidBlocksLeavesNoBlob(t *testing.T) {
	s, c := newContainer(t)
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, map[string]any{"upload_concurrency": 2}))
	// Five full blocks staged, then the stream breaks within the sixth.
	_, err := put(t, inst, `{"key":"broken"}`, &brokenReader{n: 5<<20 + 1000})
	if err == nil {
		t.Fatal("a put whose stream broke succeeded")
	}
	// The caller's side ends the call when its stream breaks; the plugin
	// stops staging after that, so wait for its last block a little.
	time.Sleep(500 * time.Millisecond)
	page, lerr := c.NewListBlobsFlatPager(nil).NextPage(t.Context())
	if lerr != nil {
		t.Fatal(lerr)
	}
	if n := len(page.Segment.BlobItems); n != 0 {
		t.Errorf("%d blobs are visible after a failed put (%v)", n, err)
	}
	_, perr := c.NewBlobClient("pre/broken").GetProperties(t.Context(), nil)
	if !bloberror.HasCode(perr, bloberror.BlobNotFound) && !isStatus(perr, http.StatusNotFound) {
		t.Errorf("properties of the blob of a failed put: %v, want BlobNotFound", perr)
	}
	// What was staged stays uncommitted, invisible, until Azure discards it.
	blocks, berr := c.NewBlockBlobClient("pre/broken").GetBlockList(t.Context(), blockblob.BlockListTypeAll, nil)
	if berr == nil && len(blocks.CommittedBlocks) != 0 {
		t.Errorf("%d committed blocks after a failed put", len(blocks.CommittedBlocks))
	}
}

func isStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

func TestAzblobConditionalPutsInBlocks(t *testing.T) {
	s, c := newContainer(t)
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, nil))
	first, err := put(t, inst, `{"key":"k"}`, strings.NewReader("first"))
	if err != nil {
		t.Fatal(err)
	}
	big := func() io.Reader { return io.LimitReader(rand.Reader, 5<<19) } // 2.5 blocks
	_, err = put(t, inst, `{"key":"k","if_none_match":"*"}`, big())
	if sdk.KindOf(err) != sdk.KindAlreadyExists {
		t.Fatalf("put in blocks with if_none_match onto a present key: %v (kind %s), want already_exists", err, sdk.KindOf(err))
	}
	_, err = put(t, inst, `{"key":"k","if_match":"\"0x8D000000000000\""}`, big())
	if sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("put in blocks with another etag's if_match: %v (kind %s), want failed_precondition", err, sdk.KindOf(err))
	}
	info, err := call[sdk.BlobInfo](t, inst, "stat", `{"key":"k"}`)
	if err != nil || info.ETag != first.ETag || info.Size != 5 {
		t.Fatalf("after two refused puts, stat = %+v, %v; want the first put's %+v", info, err, first)
	}
	args, _ := json.Marshal(map[string]string{"key": "k", "if_match": first.ETag})
	second, err := put(t, inst, string(args), big())
	if err != nil || second.Size != 5<<19 || second.ETag == first.ETag {
		t.Fatalf("put in blocks with the current etag's if_match = %+v, %v", second, err)
	}
	created, err := put(t, inst, `{"key":"new","if_none_match":"*"}`, big())
	if err != nil || created.Size != 5<<19 {
		t.Fatalf("put in blocks with if_none_match onto an absent key = %+v, %v", created, err)
	}
}

func TestAzblobPresignedGetDownloadsWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("this test needs the curl binary")
	}
	s, c := newContainer(t)
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, nil))
	data := make([]byte, 100<<10)
	_, _ = rand.Read(data)
	if _, err := put(t, inst, `{"key":"dir/a file.bin"}`, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	url, err := call[sdk.BlobPresignResult](t, inst, "presign", `{"key":"dir/a file.bin","expires":"2m"}`)
	if err != nil {
		t.Fatal(err)
	}
	if url.Method != "GET" || !strings.Contains(url.URL, "sig=") || strings.Contains(url.URL, s.key) {
		t.Fatalf("presign = %+v", url)
	}
	got, err := exec.CommandContext(t.Context(), curl, "-sf", url.URL).Output()
	if err != nil {
		t.Fatalf("curl -sf %s: %v", url.URL, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("curl downloaded %d bytes, not the %d put", len(got), len(data))
	}
	// The URL reads; it does not write.
	if err := exec.CommandContext(t.Context(), curl, "-sf", "-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "--data-binary", "x", url.URL).Run(); err == nil {
		t.Error("a PUT with a presigned GET URL succeeded")
	}
}

// sasToken is a container SAS of the test's container.
func sasToken(t *testing.T, c *container.Client) string {
	t.Helper()
	u, err := c.GetSASURL(sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true},
		time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, token, _ := strings.Cut(u, "?")
	return token
}

func TestAzblobSASTokenWorksAndCannotPresign(t *testing.T) {
	s, c := newContainer(t)
	token := sasToken(t, c)
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, map[string]any{"account_key": nil, "account_name": nil, "sas_token": token}))
	if err := inst.Check(t.Context()); err != nil {
		t.Fatalf("check with a SAS token: %v", err)
	}
	if _, err := put(t, inst, `{"key":"a","metadata":{"run-id":"7"}}`, io.LimitReader(rand.Reader, 5<<19)); err != nil {
		t.Fatalf("put in blocks with a SAS token: %v", err)
	}
	if _, err := call[sdk.BlobInfo](t, inst, "copy", `{"from":"a","to":"b"}`); err != nil {
		t.Fatalf("copy with a SAS token: %v", err)
	}
	page, err := call[sdk.BlobListResult](t, inst, "list", `{}`)
	if err != nil || len(page.Objects) != 2 || page.Objects[1].Key != "b" || page.Objects[1].Metadata["run-id"] != "7" {
		t.Fatalf("list with a SAS token = %+v, %v", page, err)
	}
	if _, err := call[sdk.BlobDeleteResult](t, inst, "delete", `{"keys":["a","b"]}`); err != nil {
		t.Fatalf("delete with a SAS token: %v", err)
	}
	_, err = call[sdk.BlobPresignResult](t, inst, "presign", `{"key":"a"}`)
	if sdk.KindOf(err) != sdk.KindFailedPrecondition || !strings.Contains(err.Error(), "account_key") {
		t.Fatalf("presign with a SAS token: %v (kind %s), want failed_precondition naming account_key", err, sdk.KindOf(err))
	}
	// A token that does not grant access is permission_denied, and is not
	// in the error.
	bad := strings.Replace(token, "sig=", "sig=AAAA", 1)
	inst = open(t, sdktest.Connect(t, azblob.New()), config(s, c, map[string]any{"account_key": nil, "account_name": nil, "sas_token": bad}))
	_, err = call[sdk.BlobInfo](t, inst, "stat", `{"key":"a"}`)
	if sdk.KindOf(err) != sdk.KindPermissionDenied || strings.Contains(err.Error(), bad) {
		t.Fatalf("stat with a wrong SAS token: %v (kind %s), want permission_denied without the token", err, sdk.KindOf(err))
	}
}

func TestAzblobConnectionStringAndAccessTier(t *testing.T) {
	s, c := newContainer(t)
	cs := "DefaultEndpointsProtocol=http;AccountName=" + s.account + ";AccountKey=" + s.key + ";BlobEndpoint=" + s.endpoint + ";"
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, map[string]any{"account_key": nil, "account_name": nil, "account_url": nil,
		"connection_string": cs, "access_tier": "Cool"}))
	if _, err := put(t, inst, `{"key":"cs"}`, strings.NewReader("via a connection string")); err != nil {
		t.Fatalf("put with a connection string: %v", err)
	}
	props, err := c.NewBlobClient("pre/cs").GetProperties(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tier := props.AccessTier; tier == nil || *tier != "Cool" {
		t.Errorf("the blob's access tier is %v, want Cool", tier)
	}
	if _, err := call[sdk.BlobPresignResult](t, inst, "presign", `{"key":"cs"}`); err != nil {
		t.Fatalf("presign with a connection string that holds the key: %v", err)
	}
}

func TestAzblobConfigMistakesAreRefused(t *testing.T) {
	d := azblob.New()
	const key = `"account_name":"a","account_key":"a2V5"`
	for name, cfg := range map[string]string{
		"no container":              `{` + key + `}`,
		"container with capitals":   `{"container":"Data",` + key + `}`,
		"container too short":       `{"container":"ab",` + key + `}`,
		"container with --":         `{"container":"a--b",` + key + `}`,
		"no credentials":            `{"container":"data","account_url":"https://a.blob.core.windows.net"}`,
		"key without account name":  `{"container":"data","account_key":"a2V5","account_url":"http://127.0.0.1:10000/a"}`,
		"key not base64":            `{"container":"data","account_name":"a","account_key":"not base64!"}`,
		"key and sas token":         `{"container":"data",` + key + `,"sas_token":"sv=1&sig=x"}`,
		"sas token without url":     `{"container":"data","sas_token":"sv=1&sig=x"}`,
		"sas token without sig":     `{"container":"data","account_url":"https://a.blob.core.windows.net","sas_token":"sv=1"}`,
		"connection string and url": `{"container":"data","connection_string":"AccountName=a;AccountKey=a2V5","account_url":"https://a.blob.core.windows.net"}`,
		"url not http":              `{"container":"data",` + key + `,"account_url":"ftp://a"}`,
		"url with a query":          `{"container":"data",` + key + `,"account_url":"https://a.blob.core.windows.net/?sv=1"}`,
		"key prefix starts with /":  `{"container":"data",` + key + `,"key_prefix":"/x"}`,
		"block size too small":      `{"container":"data",` + key + `,"block_size":65536}`,
		"block size too large":      `{"container":"data",` + key + `,"block_size":5000000000}`,
		"concurrency too high":      `{"container":"data",` + key + `,"upload_concurrency":65}`,
		"unknown access tier":       `{"container":"data",` + key + `,"access_tier":"Lukewarm"}`,
	} {
		t.Run(name, func(t *testing.T) {
			err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "azblob", Config: json.RawMessage(cfg)})
			if err == nil {
				t.Errorf("config %s was accepted", cfg)
			}
		})
	}
	for _, cfg := range []string{
		`{"container":"data",` + key + `}`,
		`{"container":"data","account_url":"https://a.blob.core.windows.net","sas_token":"?sv=1&sig=x"}`,
		`{"container":"data","connection_string":"AccountName=a;AccountKey=a2V5"}`,
		`{"container":"$root",` + key + `,"access_tier":"cool","block_size":1048576}`,
	} {
		if err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "azblob", Config: json.RawMessage(cfg)}); err != nil {
			t.Errorf("config %s was refused: %v", cfg, err)
		}
	}
}

func TestAzblobCopyConditions(t *testing.T) {
	s, c := newContainer(t)
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, nil))
	from, err := put(t, inst, `{"key":"from","content_type":"text/plain","metadata":{"run-id":"7"}}`, strings.NewReader("the source"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = call[sdk.BlobInfo](t, inst, "copy", `{"from":"from","to":"to","if_match":"\"0x8D000000000000\""}`)
	if sdk.KindOf(err) != sdk.KindFailedPrecondition {
		t.Fatalf("copy with another etag's if_match: %v (kind %s), want failed_precondition", err, sdk.KindOf(err))
	}
	args, _ := json.Marshal(map[string]string{"from": "from", "to": "to", "if_match": from.ETag})
	info, err := call[sdk.BlobInfo](t, inst, "copy", string(args))
	if err != nil || info.Key != "to" || info.Size != 10 || info.ContentType != "text/plain" || info.Metadata["run-id"] != "7" {
		t.Fatalf("copy with the source's etag = %+v, %v", info, err)
	}
	_, err = call[sdk.BlobInfo](t, inst, "copy", `{"from":"from","to":"to","if_none_match":"*"}`)
	if sdk.KindOf(err) != sdk.KindAlreadyExists {
		t.Fatalf("copy onto a present key with if_none_match: %v (kind %s), want already_exists", err, sdk.KindOf(err))
	}
	// list's etags are stat's and put's, which if_match takes.
	page, err := call[sdk.BlobListResult](t, inst, "list", `{}`)
	if err != nil || len(page.Objects) != 2 || page.Objects[0].ETag != from.ETag || page.Objects[1].ETag != info.ETag {
		t.Fatalf("list = %+v, %v; want the etags %s and %s", page, err, from.ETag, info.ETag)
	}
}

// A get of a whole blob checks its bytes against the blob's Content-MD5,
// which put stores, for one request and for staged blocks alike.
func TestAzblobGetChecksTheContentMD5(t *testing.T) {
	s, c := newContainer(t)
	inst := open(t, sdktest.Connect(t, azblob.New()), config(s, c, nil))
	for key, n := range map[string]int64{"small": 1000, "blocks": 5 << 19} {
		if _, err := put(t, inst, `{"key":"`+key+`"}`, io.LimitReader(rand.Reader, n)); err != nil {
			t.Fatal(err)
		}
		props, err := c.NewBlobClient("pre/"+key).GetProperties(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(props.ContentMD5) != 16 {
			t.Fatalf("%s: the blob has no Content-MD5 (%x)", key, props.ContentMD5)
		}
		if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"` + key + `"}`)}, nil, io.Discard); err != nil {
			t.Fatalf("%s: get: %v", key, err)
		}
		wrong := bytes.Repeat([]byte{7}, 16)
		if _, err := c.NewBlobClient("pre/"+key).SetHTTPHeaders(t.Context(), blob.HTTPHeaders{BlobContentMD5: wrong}, nil); err != nil {
			t.Fatal(err)
		}
		_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"` + key + `"}`)}, nil, io.Discard)
		if sdk.KindOf(err) != sdk.KindUnavailable || !strings.Contains(err.Error(), "MD5") {
			t.Fatalf("%s: get of a blob whose Content-MD5 is not its bytes': %v (kind %s), want unavailable", key, err, sdk.KindOf(err))
		}
		// A range is not the whole blob: nothing to compare.
		if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"` + key + `","offset":1,"length":10}`)}, nil, io.Discard); err != nil {
			t.Fatalf("%s: get of a range: %v", key, err)
		}
	}
}
