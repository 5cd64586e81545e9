package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// wsFeed is a push server: a server-wide counter numbers the messages
// ({"seq":N}), which each connection is sent as fast as it takes them;
// the server closes every connection (status 1001) after perConn
// messages, and publishes skip messages while its subscriber is away,
// which are lost to it. After total messages the connection stays open,
// quiet.
type wsFeed struct {
	total, perConn, skip int

	mu    sync.Mutex // guards next and conns
	next  int
	conns int
}

func (f *wsFeed) serve(ctx context.Context, c *ws.Conn) {
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	ctx = c.CloseRead(ctx) // answers pings
	for sent := 0; sent < f.perConn; sent++ {
		f.mu.Lock()
		seq := f.next
		if seq >= f.total {
			f.mu.Unlock()
			<-ctx.Done()
			return
		}
		f.next++
		f.mu.Unlock()
		if err := c.Write(ctx, ws.MessageText, fmt.Appendf(nil, `{"seq":%d}`, seq)); err != nil {
			return
		}
	}
	f.mu.Lock()
	f.next = min(f.next+f.skip, f.total)
	f.mu.Unlock()
	_ = c.Close(ws.StatusGoingAway, "rotating")
}

// wsFeedServer serves f on 127.0.0.1 until the test ends.
func wsFeedServer(t *testing.T, f *wsFeed) string {
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
		f.serve(ctx, c)
	}))
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// wsHost starts a host in the test's process with one websocket
// resource, feed, whose block holds body, and the built websocket
// plugin; it closes the host at the end.
func wsHost(t *testing.T, body string) *host.Host {
	t.Helper()
	path := writeFile(t, t.TempDir(), "main.hcl", "resource \"websocket\" \"feed\" {\n"+body+"}\n")
	return goHost(t, path)
}

// Through the host and the built plugin: a lease of the websocket
// resource reads 5,000 pushed messages with OpenReader on receive, while
// the server closes the connection every 500 and publishes 3 while the
// session is away. Every message arrives or sits in a gap that a
// reconnected event covers: received + lost in gaps == 5000, no
// duplicates, order kept.
func TestWebSocketReceiveThroughTheHostAccountsForEveryMessage(t *testing.T) {
	f := &wsFeed{total: 5000, perConn: 500, skip: 3}
	url := wsFeedServer(t, f)
	h := wsHost(t, fmt.Sprintf("  url = %q\n  buffer = 8192\n  reconnect_min = \"10ms\"\n  reconnect_max = \"100ms\"\n", url))

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := time.Now()
	var received, lost, reconnects, events int
	err := host.Use(ctx, h, "websocket.feed", func(l *host.Lease) error {
		r, err := l.OpenReader(ctx, "receive", map[string]any{"idle_timeout": "1s"})
		if err != nil {
			return err
		}
		defer r.Close()
		last, atEvent := -1, false
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var line struct {
				Type string  `json:"type"`
				Text *string `json:"text"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				return fmt.Errorf("line %q: %w", sc.Text(), err)
			}
			switch line.Type {
			case "message":
				var m struct {
					Seq int `json:"seq"`
				}
				if line.Text == nil || json.Unmarshal([]byte(*line.Text), &m) != nil {
					return fmt.Errorf("message %q carries no seq", sc.Text())
				}
				if m.Seq <= last {
					return fmt.Errorf("seq %d after %d: a duplicate or out of order", m.Seq, last)
				}
				if gap := m.Seq - last - 1; gap > 0 {
					if !atEvent {
						return fmt.Errorf("seq %d after %d: a gap of %d with no event before it", m.Seq, last, gap)
					}
					lost += gap
				}
				received++
				last, atEvent = m.Seq, false
			case "reconnected", "dropped":
				events++
				if line.Type == "reconnected" {
					reconnects++
				}
				atEvent = true
			default:
				return fmt.Errorf("unexpected line %s", sc.Text())
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		var res struct {
			Messages int `json:"messages"`
			Events   int `json:"events"`
		}
		if err := json.Unmarshal(r.Result(), &res); err != nil || res.Messages != received || res.Events != events {
			return fmt.Errorf("result %s (%v), but %d messages and %d events read", r.Result(), err, received, events)
		}
		if last != f.total-1 {
			return fmt.Errorf("the last message is seq %d, want %d", last, f.total-1)
		}
		return nil
	}, host.ForWorkflow("websocket-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	if received+lost != f.total {
		t.Fatalf("received %d + lost in gaps %d = %d, want %d", received, lost, received+lost, f.total)
	}
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	if reconnects != conns-1 || lost != f.skip*reconnects {
		t.Fatalf("%d reconnected events and %d lost over %d connections", reconnects, lost, conns)
	}
	t.Logf("through the host: received %d, lost in gaps %d, reconnects %d in %v", received, lost, reconnects, time.Since(start).Round(time.Millisecond))
}

// Through the host: send and receive on one lease, and the call's
// mistake keeps its kind across the plugin boundary.
func TestWebSocketSendAndReceiveThroughTheHost(t *testing.T) {
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
		for {
			typ, data, err := c.Read(ctx)
			if err != nil || c.Write(ctx, typ, data) != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	h := wsHost(t, fmt.Sprintf("  url = %q\n  send_limit = 64\n", "ws"+strings.TrimPrefix(srv.URL, "http")))
	err := host.Use(t.Context(), h, "websocket.feed", func(l *host.Lease) error {
		if _, err := l.Invoke(t.Context(), "send", map[string]any{"text": "hello"}); err != nil {
			return err
		}
		if _, err := l.Invoke(t.Context(), "send", map[string]any{"binary_base64": "AAEC"}); err != nil {
			return err
		}
		_, err := l.Invoke(t.Context(), "send", map[string]any{"text": strings.Repeat("x", 65)})
		if k := sdk.KindOf(err); k != sdk.KindInvalidArgument || !strings.Contains(err.Error(), "send_limit") {
			return fmt.Errorf("send over send_limit: %v (kind %q), want invalid_argument", err, k)
		}
		var out strings.Builder
		res, err := l.InvokeStream(t.Context(), "receive", map[string]any{"max_messages": 2}, nil, &out)
		if err != nil {
			return err
		}
		want := `{"type":"message","text":"hello"}` + "\n" + `{"type":"message","binary_base64":"AAEC"}` + "\n"
		if out.String() != want || string(res) != `{"messages":2,"events":0}` {
			return fmt.Errorf("receive streamed\n%s(result %s), want\n%s", out.String(), res, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
