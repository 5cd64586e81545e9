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

	"github.com/nebula-resource/nebula-resource/sdk"
)

// deadServer accepts one WebSocket connection and then stops answering:
// it reads nothing more (so pings go unanswered), and every later request
// is hijacked and held without a response, as a hung server does.
func deadServer(t *testing.T) *httptest.Server {
	t.Helper()
	hold := make(chan struct{})
	var wg sync.WaitGroup
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		if n.Add(1) == 1 {
			c, err := ws.Accept(w, r, nil)
			if err != nil {
				return
			}
			<-hold
			_ = c.CloseNow()
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		<-hold
		_ = conn.Close()
	}))
	t.Cleanup(func() {
		close(hold)
		wg.Wait()
		srv.Close()
	})
	return srv
}

// When the server stops answering, receive ends with unavailable within
// the configured budget (a missed pong, then reconnect_budget) rather
// than hanging; ping and send fail the same way afterwards.
func TestReceiveOnADeadSocketEndsUnavailableWithinTheBudget(t *testing.T) {
	inst := open(t, wsURL(deadServer(t)), map[string]any{
		"ping_interval": "200ms", "ping_timeout": "300ms", "dial_timeout": "300ms",
		"reconnect_min": "50ms", "reconnect_max": "200ms", "reconnect_budget": "1s",
	})
	// The most it may take: the ping's interval and timeout, the budget,
	// and the attempt that runs into it, with room for a slow machine.
	const limit = 200*time.Millisecond + 300*time.Millisecond + time.Second + 300*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	lines, _, err := receive(t, ctx, inst, map[string]any{})
	took := time.Since(start)
	if k := sdk.KindOf(err); k != sdk.KindUnavailable {
		t.Fatalf("receive ended with %v (kind %q) after %v, want unavailable", err, k, took)
	}
	if len(lines) != 0 {
		t.Errorf("receive wrote %+v", lines)
	}
	if took > limit+2*time.Second {
		t.Fatalf("receive took %v, want about %v at most", took, limit)
	}
	t.Logf("dead socket: receive ended unavailable after %v (budget: ping 200ms+300ms, reconnect 1s): %v", took.Round(time.Millisecond), err)
	for _, op := range []string{"ping", "send"} {
		args := map[string]any{}
		if op == "send" {
			args["text"] = "x"
		}
		if _, err := invoke(t, inst, op, args); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Errorf("%s on the dead session: %v, want unavailable", op, err)
		}
	}
	if err := inst.Check(ctx); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("Check of the dead session: %v, want unavailable", err)
	}
}
