// Package gcs is the nebula-resource driver for objects in a Google Cloud
// Storage bucket (or an emulator such as fake-gcs-server), with the blob
// capabilities sdk.CapabilityBlob and sdk.CapabilityBlobPresign.
//
// A resource of type "gcs" owns one cloud.google.com/go/storage client
// (JSON API, XML API for reads) for its bucket; every instance shares it.
// Keys are stored under key_prefix, which list strips from what it
// returns.
//
// # Etags
//
// An object's etag is its generation, the number GCS gives each version of
// an object's bytes, as a quoted decimal ("1712345678901234"). Every
// write, put or copy, makes a new generation, so the etag changes with the
// bytes and with the metadata the driver writes. if_match is then GCS's
// generation precondition (ifGenerationMatch, ifSourceGenerationMatch),
// which the server decides atomically; GCS's own ETag header, which no
// request can be made conditional on, is not used.
//
// # Writes
//
// put streams through a storage.Writer: a stream that ends within
// chunk_size is one request, a longer one a resumable upload of
// chunk_size chunks, which GCS turns into the object only when the last
// chunk arrives. Any failure (the caller's stream, a checksum, a canceled
// call) cancels the writer's context before it finalizes, so no object is
// created. if_none_match "*" is the precondition ifGenerationMatch=0.
//
// # Retries
//
// The client makes one attempt per call (storage.RetryNever): retrying is
// the host's policy, which the error's kind and retryability inform (429
// and 5xx are retryable unavailable).
//
// The plugin binary is cmd/nebula-plugin-gcs:
//
//	func main() { sdk.Serve(gcs.New(), otelexport.Option()) }
package gcs

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "gcs"

// Defaults and limits of the configuration.
const (
	// ChunkAlign is the unit of a resumable upload's chunks: GCS takes
	// every chunk but the last in multiples of it.
	ChunkAlign       = 256 << 10
	DefaultChunkSize = 8 << 20
	MinChunkSize     = ChunkAlign
	MaxChunkSize     = 1 << 30
)

// Config is the configuration of a gcs resource. Its zero values mean the
// defaults.
type Config struct {
	Bucket          string `nebula:"bucket,required" doc:"The bucket that holds the objects."`
	KeyPrefix       string `nebula:"key_prefix" default:"" doc:"Prepended to every key; list strips it from the keys it returns."`
	Endpoint        string `nebula:"endpoint" default:"" doc:"The base URL of the server, for an emulator (fake-gcs-server) or a private endpoint; \"\" for Google's (https://storage.googleapis.com). /storage/v1/ is appended unless the URL ends with it."`
	CredentialsJSON string `nebula:"credentials_json,sensitive" default:"" doc:"A credentials JSON (a service account key, whose key also signs presigned URLs; or authorized_user, impersonated_service_account, external_account); neither it nor credentials_file uses Application Default Credentials."`
	CredentialsFile string `nebula:"credentials_file" default:"" doc:"The path of a credentials JSON file, read when the resource is configured; instead of credentials_json."`
	Anonymous       bool   `nebula:"anonymous" default:"false" doc:"Send requests without credentials (a public bucket, an emulator); credentials still sign presigned URLs. An endpoint without credentials implies it."`
	ChunkSize       int64  `nebula:"chunk_size" default:"8388608" doc:"The size of a resumable upload's chunks in bytes, a multiple of 256 KiB up to 1 GiB; a put of less is one request. Each put in flight holds one chunk in memory."`
	// DirectDownload lets the host download gets' bytes itself
	// (sdk.CapabilityBlobURLGet).
	DirectDownload bool `nebula:"direct_download" default:"true" doc:"The host downloads a get's bytes itself, from a URL signed for a few minutes, rather than through the plugin: about twice the throughput. false sends them through the plugin (for a host that must hold no signed URL, or cannot reach the endpoint)."`
}

// New returns the gcs driver.
func New() sdk.Driver { return sdk.NewDriver("gcs", release.Version(), gcsType) }

// gcsType is the driver's one resource type, "gcs".
var gcsType = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  "Objects in a Google Cloud Storage bucket (or an emulator), with the blob capability and presigned URLs.",
	Capabilities: []string{sdk.CapabilityBlob, sdk.CapabilityBlobPresign, sdk.CapabilityBlobURLGet},
	Pooling:      sdk.PoolingShared,
	Configure:    configure,
	Operations:   append(sdk.BlobOps[*Instance](), sdk.BlobPresignOp[*Instance](), sdk.BlobURLGetOp[*Instance]()),
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	return c
}

// Validate checks the configuration without a request to the backend or a
// look at the file system.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Bucket == "":
		return sdk.AttributeError("bucket", "must not be empty", "Set the name of the bucket that holds the objects.")
	case !validBucket(c.Bucket):
		return sdk.AttributeError("bucket", "must be a bucket name: 3 to 222 lowercase letters, digits, -, _ and ., starting and ending with a letter or digit", "")
	case strings.HasPrefix(c.KeyPrefix, "/"):
		return sdk.AttributeError("key_prefix", "must not start with /", "")
	case c.CredentialsJSON != "" && c.CredentialsFile != "":
		return sdk.AttributeError("credentials_json", "credentials_json and credentials_file cannot both be set", "Set one, or neither to use Application Default Credentials.")
	case c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize || c.ChunkSize%ChunkAlign != 0:
		return sdk.AttributeError("chunk_size", "must be a multiple of 256 KiB (262144) from 256 KiB to 1 GiB", "")
	}
	if c.Endpoint != "" {
		if _, err := endpointURL(c.Endpoint); err != nil {
			return err
		}
	}
	if c.CredentialsJSON != "" {
		if _, err := parseCredentials("credentials_json", []byte(c.CredentialsJSON)); err != nil {
			return err
		}
	}
	return nil
}

// validBucket reports whether name has the form of a GCS bucket name.
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 222 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		return false
	}
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	return alnum(name[0]) && alnum(name[len(name)-1])
}

// endpointURL is the JSON API's URL of an endpoint attribute.
func endpointURL(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, sdk.AttributeError("endpoint", "must be an http:// or https:// URL with a host, and no query", "For fake-gcs-server: http://127.0.0.1:4443.")
	}
	if !strings.HasSuffix(u.Path, "/storage/v1/") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/storage/v1/"
	}
	return u, nil
}

// credentials is what the driver reads of a credentials JSON.
type credentials struct {
	json []byte
	typ  option.CredentialsType
	// email and key sign presigned URLs: a service account's.
	email string
	key   []byte
	// secrets are the JSON's secret values, never in an error's text.
	secrets []string
}

// credentialTypes are the types of credentials JSON the driver takes.
var credentialTypes = map[string]option.CredentialsType{
	"service_account":              option.ServiceAccount,
	"authorized_user":              option.AuthorizedUser,
	"impersonated_service_account": option.ImpersonatedServiceAccount,
	"external_account":             option.ExternalAccount,
}

// parseCredentials reads a credentials JSON of attribute attr. Its errors
// never quote the JSON.
func parseCredentials(attr string, raw []byte) (*credentials, error) {
	var f struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		ClientSecret string `json:"client_secret"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, sdk.AttributeError(attr, "must be a credentials JSON object", "Use a service account key as the console downloads it, or the output of gcloud auth application-default login.")
	}
	typ, ok := credentialTypes[f.Type]
	if !ok {
		return nil, sdk.AttributeError(attr, `has no known "type": use service_account, authorized_user, impersonated_service_account or external_account`, "")
	}
	c := &credentials{json: raw, typ: typ}
	for _, s := range []string{string(raw), f.PrivateKey, f.ClientSecret, f.RefreshToken} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	if typ != option.ServiceAccount {
		return c, nil
	}
	if f.ClientEmail == "" || f.PrivateKey == "" {
		return nil, sdk.AttributeError(attr, "a service account key needs client_email and private_key", "")
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return nil, sdk.AttributeError(attr, "private_key is not a PEM key", "")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, sdk.AttributeError(attr, "private_key is not an RSA key in PKCS #8 or PKCS #1", "")
		}
	}
	c.email, c.key = f.ClientEmail, []byte(f.PrivateKey)
	return c, nil
}

// configure builds the resource's client; nothing is sent to the backend
// (Application Default Credentials may be looked for, which on Google
// Cloud asks the metadata server).
func configure(ctx context.Context, name string, cfg Config) (sdk.Resource, error) {
	cfg = cfg.withDefaults()
	var creds *credentials
	switch {
	case cfg.CredentialsJSON != "":
		c, err := parseCredentials("credentials_json", []byte(cfg.CredentialsJSON))
		if err != nil {
			return nil, err
		}
		creds = c
	case cfg.CredentialsFile != "":
		raw, err := os.ReadFile(cfg.CredentialsFile)
		if err != nil {
			return nil, sdk.WrapError(sdk.KindFailedPrecondition, err, "gcs resource "+name+": reading credentials_file")
		}
		c, err := parseCredentials("credentials_file", raw)
		if err != nil {
			return nil, err
		}
		creds = c
	}
	r := &Resource{name: name, cfg: cfg}
	// The client's own transport never closes its idle connections (none
	// of the round trippers it stacks passes CloseIdleConnections on): the
	// resource keeps the base transport, to close them with the client.
	r.transport = http.DefaultTransport.(*http.Transport).Clone()
	r.transport.MaxIdleConnsPerHost = 100
	authOpts := []option.ClientOption{option.WithScopes(storage.ScopeReadWrite)}
	switch {
	case cfg.Anonymous || creds == nil && cfg.Endpoint != "":
		authOpts = append(authOpts, option.WithoutAuthentication())
	case creds != nil:
		authOpts = append(authOpts, option.WithAuthCredentialsJSON(creds.typ, creds.json))
	}
	if creds != nil {
		r.secrets = creds.secrets
		if creds.key != nil {
			r.signer = &signer{email: creds.email, key: creds.key}
		}
	}
	// The credentials fetch tokens long after the configure call: not
	// with its context, which ends with it.
	rt, err := htransport.NewTransport(context.WithoutCancel(ctx), r.transport, authOpts...)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindFailedPrecondition, sdk.Redact(err, r.secrets...),
			"gcs resource "+name+": loading the credentials (without credentials_json or credentials_file: Application Default Credentials)")
	}
	// The client authenticates nothing itself: rt does.
	opts := []option.ClientOption{option.WithHTTPClient(&http.Client{Transport: rt}), option.WithoutAuthentication(),
		storage.WithDisabledClientMetrics()}
	if cfg.Endpoint != "" {
		u, err := endpointURL(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, option.WithEndpoint(u.String()))
		r.signHost, r.signInsecure = u.Host, u.Scheme == "http"
	}
	client, err := storage.NewClient(context.WithoutCancel(ctx), opts...)
	if err != nil {
		r.transport.CloseIdleConnections()
		return nil, sdk.WrapError(sdk.KindFailedPrecondition, sdk.Redact(err, r.secrets...), "gcs resource "+name+": making the client")
	}
	client.SetRetry(storage.WithPolicy(storage.RetryNever))
	r.client, r.bucket = client, client.Bucket(cfg.Bucket)
	return r, nil
}
