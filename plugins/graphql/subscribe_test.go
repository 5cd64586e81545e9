package graphql_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// subscribe runs subscribe and returns the lines it streamed and its
// result.
func subscribe(t testing.TB, ctx context.Context, inst *sdktest.Instance, args string) ([]string, json.RawMessage, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "subscribe", Args: json.RawMessage(args)}, strings.NewReader(""), &out)
	var raw json.RawMessage
	if err == nil {
		if raw, err = json.Marshal(res); err != nil {
			t.Fatal(err)
		}
		if r, ok := res.(json.RawMessage); ok {
			raw = r
		}
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, raw, err
}

// checkCount checks that lines are the events 1..n of count, in order.
func checkCount(t testing.TB, lines []string, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("%d events, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`{"data":{"count":%d}}`, i+1); l != want {
			t.Fatalf("event %d is %s, want %s", i+1, l, want)
		}
	}
}

// A subscription delivers its 1,000 events in order, one line each, and
// ends when the server completes it.
func TestASubscriptionDeliversAThousandEventsInOrder(t *testing.T) {
	s := startServer(t, "-log-events")
	inst := open(t, config(t, s.url(), nil))
	began := time.Now()
	lines, res, err := subscribe(t, t.Context(), inst, `{"query": "subscription Count($to: Int!) { count(to: $to) }", "variables": {"to": 1000}}`)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	checkCount(t, lines, 1000)
	s.waitEvent(t, "close 1000") // closed with a handshake after the server's complete
	if string(res) != `{"events":1000,"completed":true}` {
		t.Fatalf("result %s", res)
	}
	t.Logf("%d events in order in %v (%.0f events/s), through the plugin protocol in process", len(lines), took.Round(time.Millisecond), float64(len(lines))/took.Seconds())
}

// max_events stops the subscription early: the result says it did not
// complete, and the instance goes on working.
func TestMaxEventsStopsTheSubscription(t *testing.T) {
	s := startServer(t, "-log-events")
	inst := open(t, config(t, s.url(), map[string]any{"ping_interval": "10ms"}))
	lines, res, err := subscribe(t, t.Context(), inst, `{"query": "subscription { count(to: 100000) }", "max_events": 7}`)
	if err != nil {
		t.Fatal(err)
	}
	checkCount(t, lines, 7)
	if string(res) != `{"events":7,"completed":false}` {
		t.Fatalf("result %s", res)
	}
	s.waitEvent(t, "complete 1")
	s.waitEvent(t, "close 1000")
	lines, _, err = subscribe(t, t.Context(), inst, `{"query": "subscription { count(to: 3) }"}`)
	if err != nil {
		t.Fatal(err)
	}
	checkCount(t, lines, 3)
}

// The call's end stops the subscription: the call returns its context's
// error promptly, whatever the server would still send, after sending
// complete and closing the connection with a close handshake.
func TestTheCallsEndStopsTheSubscription(t *testing.T) {
	s := startServer(t, "-log-events")
	inst := open(t, config(t, s.url(), nil))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := inst.InvokeStream(ctx, sdk.InvokeRequest{Operation: "subscribe", Args: json.RawMessage(`{"query": "subscription { count(to: 100000000) }"}`)}, strings.NewReader(""), pw)
		pw.CloseWithError(err)
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	for i := 1; i <= 10 && sc.Scan(); i++ {
		if want := fmt.Sprintf(`{"data":{"count":%d}}`, i); sc.Text() != want {
			t.Fatalf("event %d is %s", i, sc.Text())
		}
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	select {
	case err := <-done:
		if k := sdk.KindOf(err); k != sdk.KindCanceled {
			t.Fatalf("a canceled subscription: %v (kind %q), want canceled", err, k)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the subscription did not stop within 20s of its call's end")
	}
	s.waitEvent(t, "complete 1")
	s.waitEvent(t, "close 1000")
}

func TestSubscriptionErrorsAreTyped(t *testing.T) {
	s := startServer(t)
	slow := startServer(t, "-ack-delay", "30s")
	for name, c := range map[string]struct {
		url, args string
		more      map[string]any
		kind      sdk.Kind
		contains  string
	}{
		"a refused operation (error message)": {s.url(), `{"query": "subscription { noSuchField }"}`, nil, sdk.KindInvalidArgument, `noSuchField`},
		"no connection_ack":                   {slow.url(), `{"query": "subscription { count(to: 1) }"}`, map[string]any{"ack_timeout": "200ms"}, sdk.KindUnavailable, "ack_timeout (200ms)"},
		"no server":                           {"http://127.0.0.1:1/graphql", `{"query": "subscription { count(to: 1) }"}`, nil, sdk.KindUnavailable, "graphql subscribe"},
		"not a websocket endpoint":            {"http://" + s.addr + "/nothing", `{"query": "subscription { count(to: 1) }"}`, nil, sdk.KindNotFound, "404"},
	} {
		t.Run(name, func(t *testing.T) {
			inst := open(t, config(t, c.url, c.more))
			_, _, err := subscribe(t, t.Context(), inst, c.args)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Kind != c.kind || !strings.Contains(se.Message, c.contains) {
				t.Fatalf("err = %v (kind %q), want kind %q with %q", err, sdk.KindOf(err), c.kind, c.contains)
			}
		})
	}
}
