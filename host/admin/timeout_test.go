package admin_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host/admin"
)

// startTimed runs an admin server with short timeouts on a real listener.
func startTimed(t *testing.T) (addr string, untimed *httptest.Server) {
	t.Helper()
	untimed, h := newServer(t)
	s := admin.New(h, admin.Config{
		Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		ReadHeaderTimeout: 300 * time.Millisecond, BodyTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, IdleTimeout: 500 * time.Millisecond,
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return s.Addr(), untimed
}

// closedWithin sends raw on a fresh connection, then stalls, and reports
// what the server answered before it closed the connection, failing if it
// has not closed it after limit.
func closedWithin(t *testing.T, addr, raw string, limit time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %v (read so far: %q)", limit, got)
	}
	return string(got)
}

func TestStalledConnectionsAreClosed(t *testing.T) {
	addr, _ := startTimed(t)
	const body = `{"operation":"set","args":{"key":"a","value":"b"}}`
	tests := []struct {
		name, raw string
		// answer is in the response written before the close; "" for none.
		answer string
	}{
		{"half a header", "POST /v1/resources/memory.cache/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty", ""},
		{"half an invoke body", "POST /v1/resources/memory.cache/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n" + body[:20], "504"},
		{"half a chunked invoke body", "POST /v1/resources/memory.cache/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n" + body[:20] + "\r\n", "504"},
		{"half a stream body", "POST /v1/resources/localfs.files/stream/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nNebula-Args: {\"key\":\"stall.bin\"}\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 5000), ""},
		{"half a refused body", "POST /v1/resources/memory.cache/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 200\r\n\r\n" + body[:20], "415"},
		{"half a body to no route", "POST /v1/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 200\r\n\r\n" + body[:20], "404"},
		{"idle after a request", "GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "200 OK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := closedWithin(t, addr, tc.raw, 3*time.Second)
			if !strings.Contains(got, tc.answer) {
				t.Fatalf("answer %q, want it to contain %q", got, tc.answer)
			}
		})
	}
}

// A stream whose input keeps moving runs past the body timeout.
func TestSlowButSteadyStreamOutlivesTheBodyTimeout(t *testing.T) {
	addr, _ := startTimed(t)
	pr, pw := io.Pipe()
	go func() {
		for range 12 { // 1.2 s in all, four times the body timeout
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write(bytes.Repeat([]byte("y"), 1000)); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/resources/localfs.files/stream/put", pr)
	req.Header.Set("Content-Type", api.ContentTypeStream)
	req.Header.Set(api.ArgsHeader, `{"key":"slow.bin"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Trailer.Get(api.ResultTrailer), `"size":12000`) {
		t.Fatalf("put: %d trailer %q", resp.StatusCode, resp.Trailer)
	}

	// A kept-alive connection serves a second request after a slow first.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 2 {
		if i == 1 {
			time.Sleep(200 * time.Millisecond) // under the idle timeout
		}
		if _, err := io.WriteString(conn, "GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// A caller that stops reading a stream's output is cut off too.
func TestStalledReaderOfAStreamIsCutOff(t *testing.T) {
	addr, untimed := startTimed(t)
	const size = 32 << 20
	// The object goes up through the host's endpoint without the short
	// timeouts: writing 32 MiB to disk is not what this test is about.
	req, _ := http.NewRequest(http.MethodPost, untimed.URL+"/v1/resources/localfs.files/stream/put", bytes.NewReader(make([]byte, size)))
	req.Header.Set("Content-Type", api.ContentTypeStream)
	req.Header.Set(api.ArgsHeader, `{"key":"big.bin"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("put: %d", resp.StatusCode)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	if _, err := io.WriteString(conn, "POST /v1/resources/localfs.files/stream/get HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nNebula-Args: {\"key\":\"big.bin\"}\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // read nothing for well over the write timeout
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after the reader stalled (%d bytes read)", n)
	}
	if n >= size {
		t.Fatalf("the whole file (%d bytes) arrived after a stall longer than the write timeout", n)
	}
}
