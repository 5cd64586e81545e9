package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// Every session's reader and pinger must be stopped by Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wsURL is the ws:// URL of a test server.
func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

// newServer starts a real HTTP server on 127.0.0.1 whose handler accepts
// WebSocket connections and passes each to serve; it stops when the test
// ends, after every serve has returned (serve must return when ctx ends).
func newServer(t testing.TB, serve func(ctx context.Context, c *ws.Conn, r *http.Request)) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer c.CloseNow()
		serve(ctx, c, r)
	}))
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return srv
}

// echoServer sends every message back as it came.
func echoServer(t testing.TB) *httptest.Server {
	return newServer(t, func(ctx context.Context, c *ws.Conn, _ *http.Request) {
		c.SetReadLimit(-1)
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	})
}

// config is a websocket resource's configuration for url, with more.
func config(url string, more map[string]any) json.RawMessage {
	cfg := map[string]any{"url": url}
	for k, v := range more {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return raw
}

// open opens a session on url, in process over gRPC.
func open(t testing.TB, url string, more map[string]any) *sdktest.Instance {
	t.Helper()
	d := sdktest.Connect(t, websocket.New())
	return sdktest.Open(t, d, sdk.ConfigureRequest{Type: websocket.TypeName, Name: "feed", Config: config(url, more)})
}

// invoke calls op and returns its JSON result.
func invoke(t testing.TB, inst *sdktest.Instance, op string, args any) (json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		return nil, err
	}
	if r, ok := out.(json.RawMessage); ok {
		return r, nil
	}
	return json.Marshal(out)
}

// receive runs a receive with args to its end and returns its lines, its
// result and its error.
func receive(t testing.TB, ctx context.Context, inst *sdktest.Instance, args any) ([]websocket.Line, websocket.ReceiveResult, error) {
	t.Helper()
	raw, _ := json.Marshal(args)
	var out bytes.Buffer
	res, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "receive", Args: raw}, nil, &out)
	lines := parseLines(t, &out)
	var r websocket.ReceiveResult
	if res != nil {
		b, _ := json.Marshal(res)
		if rm, ok := res.(json.RawMessage); ok {
			b = rm
		}
		if jerr := json.Unmarshal(b, &r); jerr != nil {
			t.Fatalf("receive result %s: %v", b, jerr)
		}
	}
	return lines, r, err
}

// parseLines parses receive's NDJSON.
func parseLines(t testing.TB, r io.Reader) []websocket.Line {
	t.Helper()
	var lines []websocket.Line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 8<<20)
	for sc.Scan() {
		var l websocket.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// seqOf is the sequence number a pushed text message carries.
func seqOf(t testing.TB, l websocket.Line) int {
	t.Helper()
	if l.Text == nil {
		t.Fatalf("message without text: %+v", l)
	}
	var m struct {
		Seq int `json:"seq"`
	}
	if err := json.Unmarshal([]byte(*l.Text), &m); err != nil {
		t.Fatalf("message %q: %v", *l.Text, err)
	}
	return m.Seq
}

func pushMessage(seq int) []byte { return fmt.Appendf(nil, `{"seq":%d}`, seq) }
