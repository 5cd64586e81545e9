package websocket_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
)

// feed is a push server: a server-wide counter numbers the messages,
// which each connection is sent as fast as it takes them, and the server
// closes every connection (status 1001) after perConn messages. The feed
// does not wait for its subscriber: skip messages are published while it
// is away, and are lost to it. After total messages the connection is
// kept open, quiet.
type feed struct {
	total, perConn, skip int

	mu    sync.Mutex // guards next and conns
	next  int
	conns int
}

func (f *feed) serve(ctx context.Context, c *ws.Conn, _ *http.Request) {
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
		if err := c.Write(ctx, ws.MessageText, pushMessage(seq)); err != nil {
			return
		}
	}
	f.mu.Lock()
	f.next = min(f.next+f.skip, f.total)
	f.mu.Unlock()
	_ = c.Close(ws.StatusGoingAway, "rotating")
}

// feedCounts checks the lines of a receive of a feed of total messages:
// sequence numbers only increase (no duplicate, order kept), every gap
// sits at a reconnected or dropped event, and the last message is the
// feed's last; received + lost == total.
func feedCounts(t testing.TB, lines []websocket.Line, total int) (received, lost, reconnects int) {
	t.Helper()
	last, atEvent := -1, false
	for i, l := range lines {
		switch l.Type {
		case websocket.LineMessage:
			seq := seqOf(t, l)
			if seq <= last {
				t.Fatalf("line %d: seq %d after %d: a duplicate or out of order", i, seq, last)
			}
			if gap := seq - last - 1; gap > 0 {
				if !atEvent {
					t.Fatalf("line %d: seq %d after %d: a gap of %d with no event before it", i, seq, last, gap)
				}
				lost += gap
			}
			received++
			last, atEvent = seq, false
		case websocket.LineReconnected:
			reconnects++
			atEvent = true
			if l.Lost != "unknown" || l.DownMS == nil || l.ReceivedBefore == nil || l.Attempts < 1 {
				t.Fatalf("line %d: reconnected event %+v lacks its fields", i, l)
			}
		case websocket.LineDropped:
			atEvent = true
		default:
			t.Fatalf("line %d: unexpected %+v", i, l)
		}
	}
	if last != total-1 {
		t.Fatalf("the last message is seq %d, want %d", last, total-1)
	}
	if received+lost != total {
		t.Fatalf("received %d + lost in gaps %d = %d, want %d", received, lost, received+lost, total)
	}
	return received, lost, reconnects
}

// A receiver of 5,000 pushed messages, whose server closes the connection
// every 500 and publishes 3 while it is away, sees every message or a
// reconnected event covering the gap: received + lost in gaps == 5000,
// no duplicates, order kept.
func TestReceiveAcrossReconnectsAccountsForEveryMessage(t *testing.T) {
	f := &feed{total: 5000, perConn: 500, skip: 3}
	srv := newServer(t, f.serve)
	inst := open(t, wsURL(srv), map[string]any{"buffer": 8192, "reconnect_min": "10ms", "reconnect_max": "100ms"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	lines, res, err := receive(t, ctx, inst, map[string]any{"idle_timeout": "1s"})
	if err != nil {
		t.Fatal(err)
	}
	received, lost, reconnects := feedCounts(t, lines, f.total)
	if res.Messages != received || res.Events != len(lines)-received {
		t.Fatalf("result %+v, but %d messages among %d lines", res, received, len(lines))
	}
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	if reconnects != conns-1 || lost != 3*reconnects {
		t.Fatalf("%d reconnected events and %d lost over %d connections, want %d and %d", reconnects, lost, conns, conns-1, 3*(conns-1))
	}
	t.Logf("feed: received %d, lost in gaps %d, reconnects %d (%d connections) in %v", received, lost, reconnects, conns, time.Since(start).Round(time.Millisecond))
}
