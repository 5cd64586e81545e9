package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

func TestStreamCarriesBytesBothWays(t *testing.T) {
	c := newClient(t, addr, api.WithTimeout(10*time.Second))
	data := bytes.Repeat([]byte("nebula "), 300_000) // 2 MiB, many chunks
	var res struct {
		Size int `json:"size"`
	}
	if err := json.Unmarshal(put(t, c, "stream/big.bin", data), &res); err != nil || res.Size != len(data) {
		t.Fatalf("put: %+v %v", res, err)
	}
	s, err := c.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "get", Args: json.RawMessage(`{"key":"stream/big.bin"}`),
		Owner: api.Owner{Tenant: "acme", Workflow: "w", Step: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Result(); !errors.Is(err, api.ErrStreamNotDone) {
		t.Fatalf("Result before the end: %v", err)
	}
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if r, err := s.Result(); err != nil || !json.Valid(r) {
		t.Fatalf("result %q %v", r, err)
	}
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("a read after the end: %d %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	_ = s.Close()
}

// Canceling a stream's context ends it, whether it waits for its answer
// or is being read; the client's timeout bounds only the wait.
func TestStreamEndsWithItsContext(t *testing.T) {
	c := newClient(t, addr)

	t.Run("while its input stalls", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Stream(ctx, "localfs.files", api.StreamRequest{Operation: "put", Args: json.RawMessage(`{"key":"stall.bin"}`), Body: pr})
		if !errors.Is(err, context.Canceled) || api.KindOf(err) != "" || time.Since(start) > 5*time.Second {
			t.Fatalf("%v after %v", err, time.Since(start))
		}
	})
	t.Run("the client's timeout once its input is sent", func(t *testing.T) {
		// A peer that accepts and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			conn, err := ln.Accept()
			if err == nil {
				_, _ = io.Copy(io.Discard, conn) // until the client hangs up
				conn.Close()
			}
		}()
		slow := newClient(t, ln.Addr().String(), api.WithTimeout(200*time.Millisecond))
		start := time.Now()
		_, err = slow.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "put", Body: strings.NewReader("some input")})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 200ms") || time.Since(start) > 5*time.Second {
			t.Fatalf("%v after %v", err, time.Since(start))
		}
	})
	t.Run("the client's timeout waits for the input's end", func(t *testing.T) {
		pr, pw := io.Pipe()
		slow := newClient(t, addr, api.WithTimeout(300*time.Millisecond))
		go func() {
			for range 4 {
				time.Sleep(150 * time.Millisecond)
				_, _ = pw.Write([]byte("slow input "))
			}
			pw.Close()
		}()
		s, err := slow.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "put", Args: json.RawMessage(`{"key":"slow-input.txt"}`), Body: pr})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := io.Copy(io.Discard, s); err != nil {
			t.Fatal(err)
		}
		if res, err := s.Result(); err != nil || !strings.Contains(string(res), `"size":44`) {
			t.Fatalf("%s %v", res, err)
		}
	})
	t.Run("a stream that began outlives the client's timeout", func(t *testing.T) {
		put(t, c, "slow.bin", bytes.Repeat([]byte("x"), 1<<20))
		slow := newClient(t, addr, api.WithTimeout(300*time.Millisecond))
		s, err := slow.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "get", Args: json.RawMessage(`{"key":"slow.bin"}`)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		buf := make([]byte, 64<<10)
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if rest, err := io.ReadAll(s); err != nil || len(rest) != 1<<20-len(buf) {
			t.Fatalf("after the timeout: %d bytes, %v", len(rest), err)
		}
	})
	t.Run("while it is read", func(t *testing.T) {
		put(t, c, "long.bin", bytes.Repeat([]byte("y"), 8<<20))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s, err := c.Stream(ctx, "localfs.files", api.StreamRequest{Operation: "get", Args: json.RawMessage(`{"key":"long.bin"}`)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := io.ReadFull(s, make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
		cancel()
		n, err := io.Copy(io.Discard, s)
		if !errors.Is(err, context.Canceled) || n >= 8<<20 {
			t.Fatalf("read %d bytes after the cancel, then %v", n, err)
		}
		if _, rerr := s.Result(); !errors.Is(rerr, context.Canceled) {
			t.Fatalf("the result of a canceled stream: %v", rerr)
		}
	})
}

// put stores data at path of localfs.files and returns the result.
func put(t *testing.T, c *api.Client, path string, data []byte) json.RawMessage {
	t.Helper()
	s, err := c.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "put", Args: json.RawMessage(`{"key":"` + path + `"}`), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatal(err)
	}
	res, err := s.Result()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// get returns the file at path of localfs.files.
func get(t *testing.T, c *api.Client, path string) []byte {
	t.Helper()
	s, err := c.Stream(t.Context(), "localfs.files", api.StreamRequest{Operation: "get", Args: json.RawMessage(`{"key":"` + path + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
