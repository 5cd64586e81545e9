package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// azblobClient is a client for the account at NEBULA_AZBLOB_ENDPOINT
// (Azurite's path-style URL, http://127.0.0.1:10000/devstoreaccount1) with
// a shared key: NEBULA_AZBLOB_KEY, or KEY when it is not empty.
func azblobClient(key string) (*azblob.Client, error) {
	endpoint, err := env("NEBULA_AZBLOB_ENDPOINT")
	if err != nil {
		return nil, err
	}
	account, err := env("NEBULA_AZBLOB_ACCOUNT")
	if err != nil {
		return nil, err
	}
	if key == "" {
		if key, err = env("NEBULA_AZBLOB_KEY"); err != nil {
			return nil, err
		}
	}
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		return nil, fmt.Errorf("NEBULA_AZBLOB_KEY: %w", err)
	}
	return azblob.NewClientWithSharedKeyCredential(endpoint, cred, &azblob.ClientOptions{
		ClientOptions: policy.ClientOptions{
			// A refusal is the answer, not a reason to retry.
			Retry: policy.RetryOptions{MaxRetries: -1},
		},
	})
}

func checkAzblob(ctx context.Context, st *steps, roundtrip bool) (err error) {
	c, err := azblobClient("")
	if err != nil {
		return err
	}
	n := 0
	for pager := c.NewListContainersPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing containers with NEBULA_AZBLOB_ACCOUNT and NEBULA_AZBLOB_KEY: %w", err)
		}
		n += len(page.ContainerItems)
	}
	st.done("listed %d containers at %s", n, os.Getenv("NEBULA_AZBLOB_ENDPOINT"))
	if !roundtrip {
		return nil
	}

	container, name := uniqueName(), "dir/blob.bin"
	if _, err := c.CreateContainer(ctx, container, nil); err != nil {
		return fmt.Errorf("creating container %s: %w", container, err)
	}
	st.done("created container %s", container)
	defer func() { // clean up even when a step failed (it takes its blobs along)
		cctx, cancel := cleanupContext()
		defer cancel()
		if _, derr := c.DeleteContainer(cctx, container, nil); derr != nil && err == nil {
			err = fmt.Errorf("deleting container %s: %w", container, derr)
		}
		if err == nil {
			st.done("deleted the container")
		}
	}()

	want := payload(64 << 10)
	if _, err := c.UploadBuffer(ctx, container, name, want, nil); err != nil {
		return fmt.Errorf("uploading %s/%s: %w", container, name, err)
	}
	st.done("uploaded %s (%d bytes)", name, len(want))

	resp, err := c.DownloadStream(ctx, container, name, nil)
	if err != nil {
		return fmt.Errorf("downloading %s/%s: %w", container, name, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("downloading %s/%s: %w", container, name, err)
	}
	if err := sameBytes("downloading", got, want); err != nil {
		return err
	}
	st.done("downloaded it back")

	// Another valid base64 key of the same length: only the signature is wrong.
	key := os.Getenv("NEBULA_AZBLOB_KEY")
	wrong := "A" + key[1:]
	if strings.HasPrefix(key, "A") {
		wrong = "B" + key[1:]
	}
	bad, err := azblobClient(wrong)
	if err != nil {
		return err
	}
	_, err = bad.DownloadStream(ctx, container, name, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		return fmt.Errorf("downloading with a wrong account key: want a 403, got %v", err)
	}
	st.done("a client with a wrong account key is refused (403)")
	return nil
}
