package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebula-resource/nebula-resource/plugins/s3"
)

// objectSize is the size of the objects of the s3 workloads.
const objectSize = 64 << 20

// benchBucket is the bucket of the s3 workloads, made by probe when
// missing and left in place.
const benchBucket = "nebula-benchcompare"

// s3Server is where the S3 server is, and its keys.
type s3Server struct {
	Endpoint string `json:"endpoint"`
	Access   string `json:"access_key"`
	Secret   string `json:"secret_key"`
	Region   string `json:"region"`
}

// client returns an S3 client with the settings the s3 driver gives its
// own: path-style addressing, one attempt per call, response checksums
// checked only where required.
func (s s3Server) client() *awss3.Client {
	return awss3.New(awss3.Options{
		Region: s.Region, BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
		RetryMaxAttempts:           1,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// probeS3 makes the bucket of the s3 workloads if it is missing.
func probeS3(ctx context.Context, s s3Server) error {
	_, err := s.client().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(benchBucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return err
	}
	return nil
}

// onlyReader hides a reader's other methods (Seek, ReadAt, WriteTo), so
// that both sides read the object as a stream, as a put from a pipe or a
// socket would.
type onlyReader struct{ io.Reader }

// s3Setup is a put or a get of a 64 MiB object, one at a time:
//
//   - put: direct is aws-sdk-go-v2's transfer manager (UploadObject) with
//     the driver's part size and concurrency (5 MiB, 4 parts at a time);
//     the host variants are Lease.InvokeStream of put, a lease per call.
//   - get: direct is GetObject and a copy into a buffer each worker reuses;
//     the host variants are Lease.InvokeStream of get into such a buffer.
//
// attrs are more attributes of the resource block, a line each.
func s3Setup(op, attrs string) func(ctx context.Context, e *runEnv, variant string) (*target, error) {
	return func(ctx context.Context, e *runEnv, variant string) (*target, error) {
		srv := e.spec.Backends.S3
		data := make([]byte, objectSize)
		rng := rand.NewChaCha8([32]byte{7})
		_, _ = rng.Read(data)
		client := srv.client()
		const getKey = "get-64MiB"
		if op == "get" {
			_, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(benchBucket), Key: aws.String(getKey),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(objectSize)})
			if err != nil {
				return nil, fmt.Errorf("put the object to get: %w", err)
			}
		}
		putKey := "put-64MiB-" + variant
		// worker makes a worker whose call is do, with a buffer of its own
		// for a get.
		worker := func(do func(ctx context.Context, buf *bytes.Buffer) error) *target {
			return &target{worker: func(context.Context) (func(context.Context) error, func(), error) {
				buf := bytes.NewBuffer(make([]byte, 0, objectSize))
				return func(ctx context.Context) error {
					buf.Reset()
					if err := do(ctx, buf); err != nil {
						return err
					}
					if op == "get" && buf.Len() != objectSize {
						return fmt.Errorf("get returned %d bytes, want %d", buf.Len(), objectSize)
					}
					return nil
				}, func() {}, nil
			}}
		}
		if variant == direct {
			if op == "put" {
				tm := transfermanager.New(client, func(o *transfermanager.Options) {
					o.PartSizeBytes, o.Concurrency = s3.DefaultPartSize, s3.DefaultUploadConcurrency
				})
				return worker(func(ctx context.Context, _ *bytes.Buffer) error {
					_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(benchBucket), Key: aws.String(putKey),
						Body: onlyReader{bytes.NewReader(data)}})
					return err
				}), nil
			}
			return worker(func(ctx context.Context, buf *bytes.Buffer) error {
				out, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(benchBucket), Key: aws.String(getKey)})
				if err != nil {
					return err
				}
				defer out.Body.Close()
				_, err = buf.ReadFrom(out.Body)
				return err
			}), nil
		}
		src := fmt.Sprintf("resource \"s3\" \"bench\" {\n  bucket = %q\n  endpoint = %q\n  region = %q\n  path_style = true\n  access_key_id = %q\n  secret_access_key = %q\n%s}\n",
			benchBucket, srv.Endpoint, srv.Region, srv.Access, srv.Secret, attrs)
		h, err := e.startHost(ctx, variant, src, "s3", s3.New())
		if err != nil {
			return nil, err
		}
		return worker(func(ctx context.Context, buf *bytes.Buffer) error {
			l, err := h.Acquire(ctx, "s3.bench")
			if err != nil {
				return err
			}
			defer l.Release()
			if op == "put" {
				_, err = l.InvokeStream(ctx, "put", map[string]any{"key": putKey}, onlyReader{bytes.NewReader(data)}, nil)
				return err
			}
			_, err = l.InvokeStream(ctx, "get", map[string]any{"key": getKey}, nil, buf)
			return err
		}), nil
	}
}
