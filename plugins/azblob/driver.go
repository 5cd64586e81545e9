// Package azblob is the nebula-resource driver for the blobs of one Azure
// Blob Storage container (Azure, or the Azurite emulator), with the blob
// capabilities sdk.CapabilityBlob and sdk.CapabilityBlobPresign.
//
// A resource of type "azblob" owns one azure-sdk-for-go container client,
// and the HTTP transport under it; every instance shares them. Keys are
// blob names under key_prefix, which list strips from what it returns.
//
// # Writes
//
// put reads the stream a block (block_size) at a time. A stream that ends
// within the first block is stored with one Put Blob; a longer one is
// staged as blocks (Put Block), upload_concurrency at a time, and becomes
// the blob with one Put Block List at the end, which carries the write's
// conditions, so the service decides them atomically. Any failure (the
// caller's stream, a block, a checksum, a canceled call) stops before the
// block list is committed: the blob is untouched, and the staged blocks
// stay uncommitted, which no read or list sees and Azure discards after
// seven days (or at the blob's next commit). Every request that carries
// bytes carries their MD5 (Content-MD5), which the service checks; the
// blob's Content-MD5 is that of its whole bytes, which a get of the whole
// blob checks.
//
// # Authentication
//
// A shared key (account_name and account_key), a SAS token, or a
// connection string. Microsoft Entra ID (azidentity's
// DefaultAzureCredential) is not offered: it would link the Microsoft
// Authentication Library and its dependencies into the plugin. presign
// signs service SAS URLs with the shared key, so it needs one.
//
// # Retries
//
// The client makes one attempt per call: retrying is the host's policy,
// which the error's kind and retryability inform (throttling and 5xx are
// retryable unavailable).
//
// The plugin binary is cmd/nebula-plugin-azblob:
//
//	func main() { sdk.Serve(azblob.New(), otelexport.Option()) }
package azblob

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "azblob"

// Defaults and limits of the configuration.
const (
	DefaultBlockSize         = 8 << 20
	MinBlockSize             = 1 << 20
	MaxBlockSize             = 4000 << 20 // Azure's largest block
	DefaultUploadConcurrency = 4
	MaxUploadConcurrency     = 64
	// MaxBlocks is the most blocks a blob holds: a put of more than
	// MaxBlocks × block_size bytes fails.
	MaxBlocks = 50000
)

// Config is the configuration of an azblob resource. Its zero values mean
// the defaults.
type Config struct {
	Container        string `nebula:"container,required" doc:"The container that holds the blobs."`
	KeyPrefix        string `nebula:"key_prefix" default:"" doc:"Prepended to every key; list strips it from the keys it returns."`
	AccountURL       string `nebula:"account_url" default:"" doc:"The account's blob service URL (https://ACCOUNT.blob.core.windows.net, or Azurite's http://127.0.0.1:10000/devstoreaccount1); \"\" for https://ACCOUNT_NAME.blob.core.windows.net."`
	AccountName      string `nebula:"account_name" default:"" doc:"The storage account's name; with account_key for shared-key authentication."`
	AccountKey       string `nebula:"account_key,sensitive" default:"" doc:"The account's access key (base64), for shared-key authentication; presign needs it."`
	SASToken         string `nebula:"sas_token,sensitive" default:"" doc:"A SAS token (sv=...&sig=...) that grants access to the container, instead of a key."`
	ConnectionString string `nebula:"connection_string,sensitive" default:"" doc:"A storage connection string, instead of account_url and a key or SAS token."`
	BlockSize        int64  `nebula:"block_size" default:"8388608" doc:"The size of a staged block in bytes, 1 MiB to 4000 MiB; a put of less is one request. A blob holds at most 50,000 blocks."`
	Concurrency      int    `nebula:"upload_concurrency" default:"4" doc:"How many blocks of one put go up at a time (each holds block_size bytes in memory)."`
	AccessTier       string `nebula:"access_tier" default:"" doc:"The access tier of written blobs: \"\" for the account's default, \"Hot\", \"Cool\", \"Cold\" or \"Archive\"."`
	// DirectDownload lets the host download gets' bytes itself
	// (sdk.CapabilityBlobURLGet).
	DirectDownload bool `nebula:"direct_download" default:"true" doc:"The host downloads a get's bytes itself, from a URL signed for a few minutes, rather than through the plugin: about twice the throughput. false sends them through the plugin (for a host that must hold no signed URL, or cannot reach the endpoint)."`
}

// New returns the azblob driver.
func New() sdk.Driver { return sdk.NewDriver("azblob", release.Version(), azblobType) }

// azblobType is the driver's one resource type, "azblob".
var azblobType = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  "Blobs in an Azure Blob Storage container (Azure or Azurite), with the blob capability and SAS URLs.",
	Capabilities: []string{sdk.CapabilityBlob, sdk.CapabilityBlobPresign, sdk.CapabilityBlobURLGet},
	Pooling:      sdk.PoolingShared,
	Configure:    configure,
	Operations:   append(sdk.BlobOps[*Instance](), sdk.BlobPresignOp[*Instance](), sdk.BlobURLGetOp[*Instance]()),
}

// accessTiers are the tiers access_tier takes, by their lowercase names.
var accessTiers = map[string]blob.AccessTier{
	"hot": blob.AccessTierHot, "cool": blob.AccessTierCool, "cold": blob.AccessTierCold, "archive": blob.AccessTierArchive,
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultUploadConcurrency
	}
	if c.AccountURL == "" && c.AccountName != "" && c.ConnectionString == "" {
		c.AccountURL = "https://" + c.AccountName + ".blob.core.windows.net"
	}
	c.AccountURL = strings.TrimRight(c.AccountURL, "/")
	c.SASToken = strings.TrimPrefix(c.SASToken, "?")
	return c
}

// Validate checks the configuration without a request to the backend.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validContainer(c.Container); err != nil {
		return err
	}
	keys := 0
	for _, s := range []string{c.AccountKey, c.SASToken, c.ConnectionString} {
		if s != "" {
			keys++
		}
	}
	switch {
	case strings.HasPrefix(c.KeyPrefix, "/"):
		return sdk.AttributeError("key_prefix", "must not start with /", "")
	case keys == 0:
		return sdk.AttributeError("account_key", "no credentials",
			"Set account_name and account_key (shared key), sas_token, or connection_string. Microsoft Entra ID (DefaultAzureCredential) is not supported.")
	case keys > 1:
		return sdk.AttributeError("account_key", "account_key, sas_token and connection_string exclude each other", "Set exactly one of them.")
	case c.ConnectionString != "" && (c.AccountURL != "" || c.AccountName != ""):
		return sdk.AttributeError("connection_string", "the connection string names the account and its URL", "Remove account_url and account_name.")
	case c.ConnectionString != "" && !strings.Contains(c.ConnectionString, "="):
		return sdk.AttributeError("connection_string", "must be KEY=VALUE pairs separated by ; (AccountName=...;AccountKey=...;BlobEndpoint=...)", "")
	case c.AccountKey != "" && c.AccountName == "":
		return sdk.AttributeError("account_name", "must be set with account_key", "Set the storage account's name.")
	case c.ConnectionString == "" && c.AccountURL == "":
		return sdk.AttributeError("account_url", "must be set with sas_token unless account_name is", "Set account_url, or account_name for https://ACCOUNT_NAME.blob.core.windows.net.")
	case c.SASToken != "" && !strings.Contains(c.SASToken, "sig="):
		return sdk.AttributeError("sas_token", "is not a SAS token: it has no sig= parameter", "Give the token's query string, sv=...&sig=...")
	}
	if c.AccountKey != "" {
		if _, err := base64.StdEncoding.DecodeString(c.AccountKey); err != nil {
			return sdk.AttributeError("account_key", "is not base64", "Copy the account's access key as the portal or `az storage account keys list` shows it.")
		}
	}
	if c.AccountURL != "" {
		u, err := url.Parse(c.AccountURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return sdk.AttributeError("account_url", "must be an http:// or https:// URL without a query", "")
		}
	}
	switch {
	case c.BlockSize < MinBlockSize || c.BlockSize > MaxBlockSize:
		return sdk.AttributeError("block_size", "must be from 1 MiB (1048576) to 4000 MiB (4194304000)", "")
	case c.Concurrency < 1 || c.Concurrency > MaxUploadConcurrency:
		return sdk.AttributeError("upload_concurrency", "must be from 1 to 64", "")
	}
	if _, ok := accessTiers[strings.ToLower(c.AccessTier)]; c.AccessTier != "" && !ok {
		return sdk.AttributeError("access_tier", `must be "", "Hot", "Cool", "Cold" or "Archive"`, "")
	}
	return nil
}

// validContainer checks a container name: 3 to 63 lowercase letters,
// digits and single hyphens, starting and ending with a letter or digit;
// or $root or $web.
func validContainer(name string) error {
	if name == "$root" || name == "$web" {
		return nil
	}
	switch {
	case name == "":
		return sdk.AttributeError("container", "must not be empty", "Set the name of the container that holds the blobs.")
	case len(name) < 3 || len(name) > 63 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" ||
		strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--"):
		return sdk.AttributeError("container", "must be 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit", "")
	}
	return nil
}

// configure builds the resource's client; nothing is sent to the backend.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	cfg = cfg.withDefaults()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		// One attempt per call: retrying is the host's policy.
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Transport: &http.Client{Transport: transport},
		Telemetry: policy.TelemetryOptions{ApplicationID: "nebula-azblob"},
	}}
	var (
		client  *container.Client
		err     error
		secrets []string
	)
	switch {
	case cfg.ConnectionString != "":
		secrets = connectionStringSecrets(cfg.ConnectionString)
		client, err = container.NewClientFromConnectionString(cfg.ConnectionString, cfg.Container, opts)
	case cfg.SASToken != "":
		secrets = sasSecrets(cfg.SASToken)
		client, err = container.NewClientWithNoCredential(cfg.AccountURL+"/"+url.PathEscape(cfg.Container)+"?"+cfg.SASToken, opts)
	default:
		secrets = []string{cfg.AccountKey}
		var cred *container.SharedKeyCredential
		if cred, err = container.NewSharedKeyCredential(cfg.AccountName, cfg.AccountKey); err == nil {
			client, err = container.NewClientWithSharedKeyCredential(cfg.AccountURL+"/"+url.PathEscape(cfg.Container), cred, opts)
		}
	}
	if err != nil {
		transport.CloseIdleConnections()
		return nil, sdk.WrapError(sdk.KindFailedPrecondition, sdk.Redact(err, secrets...), "azblob resource "+name+": creating the client")
	}
	return &Resource{name: name, cfg: cfg, client: client, transport: transport, secrets: secrets}, nil
}

// connectionStringSecrets are what of a connection string must not
// appear in an error: the whole string, its account key and its SAS.
func connectionStringSecrets(cs string) []string {
	secrets := []string{cs}
	for _, kv := range strings.Split(cs, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "accountkey":
			secrets = append(secrets, v)
		case "sharedaccesssignature":
			secrets = append(secrets, sasSecrets(v)...)
		}
	}
	return secrets
}

// sasSecrets are what of a SAS token must not appear in an error: the
// token, and its signature as sent and decoded.
func sasSecrets(token string) []string {
	secrets := []string{token}
	if q, err := url.ParseQuery(strings.TrimPrefix(token, "?")); err == nil {
		if sig := q.Get("sig"); sig != "" {
			secrets = append(secrets, sig, url.QueryEscape(sig))
		}
	}
	return secrets
}

// copyPoll is how often a pending server-side copy is polled.
const copyPoll = 200 * time.Millisecond
