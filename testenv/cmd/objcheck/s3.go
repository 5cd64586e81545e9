package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Client is a client for the S3 server at NEBULA_S3_ENDPOINT, with
// path-style addressing (bucket names do not resolve as host names here).
func s3Client(secretKey string) (*s3.Client, error) {
	endpoint, err := env("NEBULA_S3_ENDPOINT")
	if err != nil {
		return nil, err
	}
	region, err := env("NEBULA_S3_REGION")
	if err != nil {
		return nil, err
	}
	access, err := env("NEBULA_S3_ACCESS_KEY")
	if err != nil {
		return nil, err
	}
	if secretKey == "" {
		if secretKey, err = env("NEBULA_S3_SECRET_KEY"); err != nil {
			return nil, err
		}
	}
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String(endpoint),
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(access, secretKey, ""),
		UsePathStyle:     true,
		RetryMaxAttempts: 1, // a refusal is the answer, not a reason to retry
	}), nil
}

func checkS3(ctx context.Context, st *steps, roundtrip bool) (err error) {
	c, err := s3Client("")
	if err != nil {
		return err
	}
	list, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return fmt.Errorf("ListBuckets with NEBULA_S3_ACCESS_KEY and NEBULA_S3_SECRET_KEY: %w", err)
	}
	st.done("listed %d buckets at %s", len(list.Buckets), os.Getenv("NEBULA_S3_ENDPOINT"))
	if !roundtrip {
		return nil
	}

	bucket, key := uniqueName(), "dir/object.bin"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("CreateBucket %s: %w", bucket, err)
	}
	st.done("created bucket %s", bucket)
	defer func() { // clean up even when a step failed
		cctx, cancel := cleanupContext()
		defer cancel()
		_, derr := c.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if derr == nil {
			_, derr = c.DeleteBucket(cctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
		}
		if derr != nil && err == nil {
			err = fmt.Errorf("deleting bucket %s: %w", bucket, derr)
		}
		if err == nil {
			st.done("deleted the object and the bucket")
		}
	}()

	want := payload(64 << 10)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(want),
	}); err != nil {
		return fmt.Errorf("PutObject %s/%s: %w", bucket, key, err)
	}
	st.done("put %s (%d bytes)", key, len(want))

	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("GetObject %s/%s: %w", bucket, key, err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil {
		return fmt.Errorf("GetObject %s/%s: reading the body: %w", bucket, key, err)
	}
	if err := sameBytes("GetObject", body, want); err != nil {
		return err
	}
	st.done("got it back")

	pre, err := s3.NewPresignClient(c).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		return fmt.Errorf("PresignGetObject: %w", err)
	}
	status, body, err := httpGet(ctx, pre.URL)
	if err != nil {
		return fmt.Errorf("presigned GET: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("presigned GET: %d %s", status, snippet(body))
	}
	if err := sameBytes("presigned GET", body, want); err != nil {
		return err
	}
	st.done("fetched it with net/http through a presigned GET URL")

	tampered, err := tamperSignature(pre.URL)
	if err != nil {
		return err
	}
	if status, body, err = httpGet(ctx, tampered); err != nil {
		return fmt.Errorf("presigned GET with a wrong signature: %w", err)
	}
	if status != http.StatusForbidden {
		return fmt.Errorf("presigned GET with a wrong signature: got %d, want 403: %s", status, snippet(body))
	}
	st.done("a presigned URL with a wrong signature is refused (403)")

	bad, err := s3Client("wrong-" + strings.Repeat("x", 34))
	if err != nil {
		return err
	}
	_, err = bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if code := httpStatus(err); code != http.StatusForbidden {
		return fmt.Errorf("GetObject with a wrong secret key: want a 403, got status %d (%v)", code, err)
	}
	st.done("a client with a wrong secret key is refused (403)")
	return nil
}

// tamperSignature changes the last digit of X-Amz-Signature in a presigned
// URL.
func tamperSignature(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("presigned URL %q: %w", raw, err)
	}
	q := u.Query()
	sig := q.Get("X-Amz-Signature")
	if sig == "" {
		return "", fmt.Errorf("presigned URL has no X-Amz-Signature: %s", raw)
	}
	last := byte('0')
	if sig[len(sig)-1] == '0' {
		last = '1'
	}
	q.Set("X-Amz-Signature", sig[:len(sig)-1]+string(last))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// httpStatus is the HTTP status of a failed aws-sdk-go-v2 call, or 0.
func httpStatus(err error) int {
	var se interface{ HTTPStatusCode() int }
	if errors.As(err, &se) {
		return se.HTTPStatusCode()
	}
	return 0
}

func httpGet(ctx context.Context, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// snippet is the start of an error body, for a message.
func snippet(b []byte) string {
	const max = 300
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
