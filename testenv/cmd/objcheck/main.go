// Command objcheck checks the object-storage servers that scripts/testenv
// starts (versitygw for S3, fake-gcs-server for GCS, Azurite for Azure Blob)
// with the official Go clients that the blob drivers use: aws-sdk-go-v2,
// cloud.google.com/go/storage and the Azure SDK's azblob. It reads where they
// are from the variables that `scripts/testenv env` exports:
//
//	eval "$(scripts/testenv env)" && .testenv/bin/objcheck -roundtrip s3 gcs azblob
//
// Without -roundtrip it only lists the buckets (containers) with the
// exported credentials, which scripts/testenv does for a server it reuses.
// With -roundtrip, as after scripts/testenv starts one, each check works in a
// bucket of its own with a new name and removes it afterwards:
//
//   - s3: create a bucket, put an object and get it back, fetch it with
//     net/http through a presigned GET URL, and see the server refuse both a
//     tampered presigned URL and a client with a wrong secret key (403): the
//     server checks SigV4 signatures.
//   - gcs: create a bucket, write an object in several chunks (a resumable
//     upload) and read it back.
//   - azblob: create a container, upload a blob and download it, and see a
//     wrong account key refused (403).
//
// It prints one line per step and exits 1 on the first failure of a store
// (the other stores are still checked).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var (
		roundtrip = flag.Bool("roundtrip", false, "create a bucket, write, read and delete (default: list buckets only)")
		timeout   = flag.Duration("timeout", 30*time.Second, "give up on a store after this long")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: objcheck [-roundtrip] [-timeout D] s3|gcs|azblob...\n"+
			"  reads NEBULA_S3_*, NEBULA_GCS_ENDPOINT, STORAGE_EMULATOR_HOST and NEBULA_AZBLOB_*\n"+
			"  as exported by scripts/testenv env\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	checks := map[string]func(context.Context, *steps, bool) error{
		"s3":     checkS3,
		"gcs":    checkGCS,
		"azblob": checkAzblob,
	}
	for _, name := range flag.Args() {
		if checks[name] == nil {
			fmt.Fprintf(os.Stderr, "objcheck: unknown store %q (s3, gcs or azblob)\n", name)
			os.Exit(2)
		}
	}
	failed := false
	for _, name := range flag.Args() {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		st := &steps{store: name, start: time.Now(), last: time.Now()}
		err := checks[name](ctx, st, *roundtrip)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "objcheck %s: %v\n", name, err)
			failed = true
			continue
		}
		fmt.Printf("%s: ok in %v\n", name, time.Since(st.start).Round(time.Millisecond))
	}
	if failed {
		os.Exit(1)
	}
}

// steps prints what a check did, with the time each step took.
type steps struct {
	store       string
	start, last time.Time
}

func (s *steps) done(format string, args ...any) {
	fmt.Printf("  %-6s %-60s %v\n", s.store, fmt.Sprintf(format, args...),
		time.Since(s.last).Round(time.Millisecond))
	s.last = time.Now()
}

// env returns the variable's value, or an error that says which one to set.
func env(name string) (string, error) {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is not set (eval \"$(scripts/testenv env)\")", name)
}

// uniqueName is a bucket or container name that no other run uses: lower
// case letters, digits and dashes, as all three stores accept.
func uniqueName() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "nebula-testenv-" + hex.EncodeToString(b[:])
}

// payload is SIZE bytes that differ from run to run, so that reading back
// an old object cannot pass for reading this one.
func payload(size int) []byte {
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func sameBytes(what string, got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: read back %d bytes that differ from the %d written", what, len(got), len(want))
	}
	return nil
}

// cleanupContext is for deleting what a check made after its own context
// has run out.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
