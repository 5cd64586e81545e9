package websocket_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// burstServer sends n numbered messages as soon as a client connects,
// then answers pings and sends nothing more.
func burstServer(t *testing.T, n int) string {
	return wsURL(newServer(t, func(ctx context.Context, c *ws.Conn, _ *http.Request) {
		for i := range n {
			if c.Write(ctx, ws.MessageText, pushMessage(i)) != nil {
				return
			}
		}
		<-c.CloseRead(ctx).Done()
	}))
}

// settle returns once the session has read everything the server sent
// before it answers a ping: its pong comes after them on the connection.
func settle(t *testing.T, inst interface {
	Check(context.Context) error
}) {
	t.Helper()
	if err := inst.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// While no receive runs, the buffer keeps the newest messages; the oldest
// are dropped and a dropped event, where they were, counts them.
func TestAFullBufferDropsTheOldestAndCountsThem(t *testing.T) {
	inst := open(t, burstServer(t, 25), map[string]any{"buffer": 10})
	settle(t, inst)
	lines, res, err := receive(t, t.Context(), inst, map[string]any{"idle_timeout": "200ms"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 10 || res.Events != 1 || len(lines) != 11 {
		t.Fatalf("result %+v, lines %+v", res, lines)
	}
	if l := lines[0]; l.Type != websocket.LineDropped || l.Count != 15 {
		t.Fatalf("first line %+v, want a dropped event counting 15", l)
	}
	for i, l := range lines[1:] {
		if seq := seqOf(t, l); seq != 15+i {
			t.Fatalf("message %d is seq %d, want %d", i, seq, 15+i)
		}
	}
}

// Reset, which the host calls when a lease ends, empties the buffer: the
// next leaseholder does not read the previous one's unread messages; what
// arrives afterwards it does.
func TestResetDropsUnreadMessages(t *testing.T) {
	inst := open(t, wsURL(echoServer(t)), nil)
	if _, err := invoke(t, inst, "send", map[string]any{"text": "for the first leaseholder"}); err != nil {
		t.Fatal(err)
	}
	settle(t, inst)
	if err := inst.Instance.(sdk.Resetter).Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := invoke(t, inst, "send", map[string]any{"text": "for the next"}); err != nil {
		t.Fatal(err)
	}
	lines, _, err := receive(t, t.Context(), inst, map[string]any{"max_messages": 1, "idle_timeout": "5s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Text == nil || *lines[0].Text != "for the next" {
		t.Fatalf("after Reset, receive gave %+v", lines)
	}
}

// A message over read_limit closes the connection (status 1009); the
// session reports it with a message_too_big event, reconnects, and goes
// on with the next connection's messages.
func TestAMessageOverTheReadLimitIsAnEventAndTheSessionGoesOn(t *testing.T) {
	var n atomic.Int32
	url := wsURL(newServer(t, func(ctx context.Context, c *ws.Conn, _ *http.Request) {
		msg := []byte("after")
		if n.Add(1) == 1 {
			msg = []byte(strings.Repeat("x", 2000))
		}
		if c.Write(ctx, ws.MessageText, msg) != nil {
			return
		}
		<-c.CloseRead(ctx).Done()
	}))
	inst := open(t, url, map[string]any{"read_limit": 1024, "reconnect_min": "10ms"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lines, _, err := receive(t, ctx, inst, map[string]any{"max_messages": 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || lines[0].Type != websocket.LineMessageTooBig || lines[0].ReadLimit != 1024 ||
		lines[1].Type != websocket.LineReconnected || lines[1].CloseCode != 1009 ||
		lines[2].Text == nil || *lines[2].Text != "after" {
		t.Fatalf("lines %+v", lines)
	}
}

// One receive at a time: a second on the same session is refused while
// the first runs.
func TestASecondReceiveIsRefused(t *testing.T) {
	inst := open(t, wsURL(echoServer(t)), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call := func(args string) error {
		_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "receive", Args: json.RawMessage(args)}, nil, io.Discard)
		return err
	}
	done := make(chan error, 1)
	go func() {
		for {
			// Refused only while a probe below holds the session.
			if err := call(`{"max_messages":1}`); sdk.KindOf(err) != sdk.KindFailedPrecondition {
				done <- err
				return
			}
		}
	}()
	for {
		err := call(`{"idle_timeout":"1ms"}`)
		if sdk.KindOf(err) == sdk.KindFailedPrecondition {
			break // the first receive runs
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := invoke(t, inst, "send", map[string]any{"text": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
