// Package s3 is the nebula-resource driver for objects in an S3 bucket
// (AWS S3 or a compatible server such as versitygw or MinIO), with the
// blob capabilities sdk.CapabilityBlob and sdk.CapabilityBlobPresign.
//
// A resource of type "s3" owns one aws-sdk-go-v2 S3 client for its
// bucket; every instance shares it. Keys are stored under key_prefix,
// which list strips from what it returns.
//
// # Writes
//
// put reads the stream a part (part_size) at a time. A stream that ends
// within the first part is stored with one PutObject; a longer one is a
// multipart upload whose parts go up in parallel, upload_concurrency at a
// time. Any failure (the caller's stream, a part, the completion, a
// canceled call) aborts the upload, so no object and no parts remain.
// if_none_match and if_match are S3's conditional writes (If-None-Match
// and If-Match on PutObject, CompleteMultipartUpload and CopyObject), so
// the backend decides them atomically.
//
// # Incomplete uploads
//
// A plugin killed in the middle of a put cannot abort its upload. With
// abort_incomplete_after set (24h by default) the resource sweeps the
// bucket under key_prefix when it is configured and then every half of
// that, and aborts the multipart uploads initiated longer ago (sweep.go).
//
// # Credentials
//
// Static keys, a profile of the shared files, or the default chain, and
// optionally a role assumed with those (credentials.go).
//
// # Retries
//
// The client makes one attempt per call: retrying is the host's policy,
// which the error's kind and retryability inform (throttling and 5xx are
// retryable unavailable).
//
// The plugin binary is cmd/nebula-plugin-s3:
//
//	func main() { sdk.Serve(s3.New(), otelexport.Option()) }
package s3

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the name of the resource type the driver offers.
const TypeName = "s3"

// Defaults and limits of the configuration.
const (
	DefaultRegion            = "us-east-1"
	DefaultPartSize          = 5 << 20
	MinPartSize              = 5 << 20
	MaxPartSize              = 5 << 30
	DefaultUploadConcurrency = 4
	MaxUploadConcurrency     = 64
	// DefaultAbortIncompleteAfter is AWS's usual lifecycle rule for
	// incomplete multipart uploads.
	DefaultAbortIncompleteAfter = 24 * time.Hour
	MinAbortIncompleteAfter     = time.Second
)

// Config is the configuration of an s3 resource. Its zero values mean the
// defaults, but for AbortIncompleteAfter, whose zero turns the sweep off
// (the SDK fills in its default, 24h, when the attribute is absent).
type Config struct {
	Bucket          string `nebula:"bucket,required" doc:"The bucket that holds the objects."`
	KeyPrefix       string `nebula:"key_prefix" default:"" doc:"Prepended to every key; list strips it from the keys it returns."`
	Region          string `nebula:"region" default:"us-east-1" doc:"The bucket's region."`
	Endpoint        string `nebula:"endpoint" default:"" doc:"The S3 endpoint URL, for a compatible server; \"\" for AWS."`
	PathStyle       bool   `nebula:"path_style" default:"false" doc:"Address the bucket in the URL's path rather than its host name (most compatible servers need it)."`
	AccessKeyID     string `nebula:"access_key_id" default:"" doc:"The access key ID; with secret_access_key, or neither to use a profile or the default credential chain (environment, shared files, container or instance role)."`
	SecretAccessKey string `nebula:"secret_access_key,sensitive" default:"" doc:"The secret access key."`
	Profile         string `nebula:"profile" default:"" doc:"A profile of the shared AWS config and credentials files whose credentials to use; not with static keys. \"\" for the default chain (AWS_PROFILE, else the default profile)."`
	RoleARN         string `nebula:"role_arn" default:"" doc:"An IAM role to assume (STS AssumeRole) with the base credentials (static keys, profile or default chain); its temporary credentials are renewed before they expire."`
	RoleSessionName string `nebula:"role_session_name" default:"" doc:"The session name of the assumed role; \"\" for nebula- and the resource's name."`
	ExternalID      string `nebula:"external_id" default:"" doc:"The external ID that the role's trust policy requires, if any."`
	PartSize        int64  `nebula:"part_size" default:"5242880" doc:"The size of a multipart upload's parts in bytes, at least 5 MiB; a put of less is one request. A put holds up to upload_concurrency parts in memory."`
	Concurrency     int    `nebula:"upload_concurrency" default:"4" doc:"How many parts of one put go up at a time (each holds part_size bytes in memory)."`
	SSE             string `nebula:"sse" default:"" doc:"Server-side encryption of written objects: \"\", \"AES256\" or \"aws:kms\"."`
	SSEKMSKeyID     string `nebula:"sse_kms_key_id" default:"" doc:"The KMS key of sse \"aws:kms\"; \"\" for the bucket's default."`
	// AbortIncompleteAfter is the age past which the sweep aborts a
	// multipart upload under key_prefix (sweep.go).
	AbortIncompleteAfter time.Duration `nebula:"abort_incomplete_after" default:"24h" doc:"Multipart uploads under key_prefix initiated longer ago than this are aborted, by a sweep at configure and then every half of it: what a plugin killed in the middle of a put left. It must be longer than the longest put; \"0s\" turns the sweep off, else at least 1s."`
	// DirectDownload lets the host download gets' bytes itself
	// (sdk.CapabilityBlobURLGet).
	DirectDownload bool `nebula:"direct_download" default:"true" doc:"The host downloads a get's bytes itself, from a URL presigned for a few minutes, rather than through the plugin: about twice the throughput. false sends them through the plugin (for a host that must hold no presigned URL, or cannot reach the endpoint)."`
}

// New returns the s3 driver.
func New() sdk.Driver { return sdk.NewDriver("s3", release.Version(), s3Type) }

// s3Type is the driver's one resource type, "s3".
var s3Type = sdk.ResourceDef[Config, *Instance]{
	Name:         TypeName,
	Description:  "Objects in an S3 bucket (AWS or a compatible server), with the blob capability and presigned URLs.",
	Capabilities: []string{sdk.CapabilityBlob, sdk.CapabilityBlobPresign, sdk.CapabilityBlobURLGet},
	Pooling:      sdk.PoolingShared,
	Configure:    configure,
	Operations:   append(sdk.BlobOps[*Instance](), sdk.BlobPresignOp[*Instance](), sdk.BlobURLGetOp[*Instance]()),
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultUploadConcurrency
	}
	return c
}

// Validate checks the configuration without a request to the backend.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Bucket == "":
		return sdk.AttributeError("bucket", "must not be empty", "Set the name of the bucket that holds the objects.")
	case strings.ContainsAny(c.Bucket, "/ "):
		return sdk.AttributeError("bucket", "must be a bucket name, without / or spaces", "")
	case strings.HasPrefix(c.KeyPrefix, "/"):
		return sdk.AttributeError("key_prefix", "must not start with /", "")
	case c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://"):
		return sdk.AttributeError("endpoint", "must be an http:// or https:// URL", "")
	case c.PartSize < MinPartSize || c.PartSize > MaxPartSize:
		return sdk.AttributeError("part_size", "must be from 5 MiB (5242880) to 5 GiB", "")
	case c.Concurrency < 1 || c.Concurrency > MaxUploadConcurrency:
		return sdk.AttributeError("upload_concurrency", "must be from 1 to 64", "")
	case c.SSE != "" && c.SSE != "AES256" && c.SSE != "aws:kms":
		return sdk.AttributeError("sse", `must be "", "AES256" or "aws:kms"`, "")
	case c.SSEKMSKeyID != "" && c.SSE != "aws:kms":
		return sdk.AttributeError("sse_kms_key_id", `needs sse = "aws:kms"`, "")
	case c.AbortIncompleteAfter < 0 || c.AbortIncompleteAfter > 0 && c.AbortIncompleteAfter < MinAbortIncompleteAfter:
		return sdk.AttributeError("abort_incomplete_after", `must be "0s" (no sweep) or at least 1s`,
			"It must be longer than the longest put: the sweep aborts a put still under way whose upload is older.")
	}
	return c.validateCredentials()
}

// configure builds the resource's client, and starts its sweep of
// incomplete multipart uploads, which sends the first requests to the
// backend in the background. Its credentials are the static keys, the
// profile's or the default chain's, or the role assumed with those
// (credentials.go); they are first used by the first request.
func configure(ctx context.Context, name string, cfg Config) (sdk.Resource, error) {
	cfg = cfg.withDefaults()
	var secrets []string
	if cfg.SecretAccessKey != "" {
		secrets = append(secrets, cfg.SecretAccessKey)
	}
	opts := append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region), awsconfig.WithRetryMaxAttempts(1),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired)}, credentialOptions(cfg)...)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, sdk.Redact(loadError(name, cfg, err), secrets...)
	}
	setCredentials(&awsCfg, name, cfg)
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	r := &Resource{name: name, cfg: cfg, client: client, presign: awss3.NewPresignClient(client), secrets: secrets}
	r.startSweep()
	return r, nil
}
