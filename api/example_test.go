package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

// A remote worker sets and reads a key of a running host's memory.cache,
// and learns what went wrong from an error's kind. (The tests run a host
// with memory.cache and localfs.files, and set NEBULA_ADDR to its admin
// address, as nebula-host call reads it.)
func Example() {
	c, err := api.NewClient(os.Getenv("NEBULA_ADDR"), api.WithTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	_, err = c.Invoke(ctx, "memory.cache", api.InvokeRequest{
		Operation: "set",
		Args:      json.RawMessage(`{"key":"greeting","value":"hello, nebula"}`),
		Owner:     &api.Owner{Workflow: "onboarding", Step: "greet"},
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"greeting"}`)})
	if err != nil {
		log.Fatal(err)
	}
	var got struct {
		Value string `json:"value"`
		Found bool   `json:"found"`
	}
	if err := json.Unmarshal(res.Result, &got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Value, got.Found)

	_, err = c.Invoke(ctx, "memory.cache", api.InvokeRequest{Operation: "incr", Args: json.RawMessage(`{"key":"greeting"}`)})
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Kind)
	}
	_, err = c.Resource(ctx, "memory.cahce")
	fmt.Println(api.KindOf(err))
	// Output:
	// hello, nebula true
	// 400 invalid_argument
	// not_found
}

// A streaming operation's input is the request's Body, its output what
// reading the stream returns; its result comes once the output has been
// read to its end.
func ExampleClient_Stream() {
	c, err := api.NewClient(os.Getenv("NEBULA_ADDR"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	up, err := c.Stream(ctx, "localfs.files", api.StreamRequest{
		Operation: "put",
		Args:      json.RawMessage(`{"key":"examples/hello.txt"}`),
		Body:      bytes.NewReader([]byte("hello, file\n")),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer up.Close()
	if _, err := io.Copy(io.Discard, up); err != nil {
		log.Fatal(err)
	}
	result, err := up.Result()
	if err != nil {
		log.Fatal(err)
	}
	var put struct {
		Size int `json:"size"`
	}
	_ = json.Unmarshal(result, &put)
	fmt.Println("put", put.Size, "bytes")

	down, err := c.Stream(ctx, "localfs.files", api.StreamRequest{Operation: "get", Args: json.RawMessage(`{"key":"examples/hello.txt"}`)})
	if err != nil {
		log.Fatal(err)
	}
	defer down.Close()
	if _, err := io.Copy(os.Stdout, down); err != nil {
		log.Fatal(err)
	}
	// Output:
	// put 12 bytes
	// hello, file
}
