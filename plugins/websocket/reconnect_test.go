package websocket_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// A send made while the session reconnects waits for the new connection
// and goes out on it; ping meanwhile fails at once, unavailable. The
// server closes the first connection (status 1001) and holds the second
// handshake until the send is under way.
func TestSendWaitsForTheReconnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	redial := make(chan struct{})  // closed when the second handshake arrives
	release := make(chan struct{}) // closed to let it through
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		switch n.Add(1) {
		case 1:
			c, err := ws.Accept(w, r, nil)
			if err != nil {
				return
			}
			_ = c.Close(ws.StatusGoingAway, "restarting")
			return
		case 2:
			close(redial)
			select {
			case <-release:
			case <-ctx.Done():
				return
			}
		}
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
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
	inst := open(t, wsURL(srv), map[string]any{"reconnect_min": "10ms"})
	<-redial
	if _, err := invoke(t, inst, "ping", map[string]any{}); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("ping while reconnecting: %v, want unavailable", err)
	}
	sent := make(chan error, 1)
	go func() {
		_, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "send", Args: []byte(`{"text":"while down"}`)})
		sent <- err
	}()
	close(release)
	if err := <-sent; err != nil {
		t.Fatalf("send while reconnecting: %v", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	lines, _, err := receive(t, rctx, inst, map[string]any{"max_messages": 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Type != websocket.LineReconnected || lines[0].CloseCode != 1001 ||
		lines[1].Text == nil || *lines[1].Text != "while down" {
		t.Fatalf("lines %+v", lines)
	}
}
