package redis_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// stream is a subscribe call running in the background.
type stream struct {
	events chan sdk.PubSubEvent
	done   chan streamEnd
	cancel context.CancelFunc
}

type streamEnd struct {
	res any
	err error
}

// subscribe starts subscribe on inst; the call is canceled when the test
// ends.
func subscribe(t *testing.T, inst sdk.Instance, a args) *stream {
	t.Helper()
	raw, _ := json.Marshal(a)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &stream{events: make(chan sdk.PubSubEvent, 10000), done: make(chan streamEnd, 1), cancel: cancel}
	go func() {
		res, err := doStream(ctx, inst, "subscribe", raw, pw)
		_ = pw.Close()
		s.done <- streamEnd{res, err}
	}()
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var ev sdk.PubSubEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("subscribe wrote a line that is not a PubSubEvent: %q: %v", sc.Bytes(), err)
				continue
			}
			s.events <- ev
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("subscribe did not end within 10s of its cancelation")
		}
	})
	return s
}

// next returns the next event that is not a warm-up message.
func (s *stream) next(t *testing.T, within time.Duration) sdk.PubSubEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				end := <-s.done
				s.done <- end
				t.Fatalf("the stream ended: %v", end.err)
			}
			if ev.Payload == "warmup" {
				continue
			}
			return ev
		case <-deadline:
			t.Fatalf("no event within %v", within)
		}
	}
}

// warmUp publishes "warmup" on channel until the subscriber receives it,
// which shows that its subscription is in place.
func (s *stream) warmUp(t *testing.T, admin goredis.UniversalClient, channel string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		admin.Publish(t.Context(), channel, "warmup")
		select {
		case ev := <-s.events:
			if ev.Payload == "warmup" && ev.Channel == channel {
				return
			}
			t.Fatalf("unexpected event while warming up: %+v", ev)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the subscription to %s did not receive within 10s", channel)
}

// waitSubscribers waits until the standalone server counts n subscribers of
// channel.
func waitSubscribers(t *testing.T, admin goredis.UniversalClient, channel string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if admin.PubSubNumSub(t.Context(), channel).Val()[channel] == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s has %d subscribers, want %d", channel, admin.PubSubNumSub(t.Context(), channel).Val()[channel], n)
}

func uniqueName(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "nebula-test-" + hex.EncodeToString(b)
}

// TestSubscribeDeliversEveryMessage subscribes to channels and a pattern and
// checks that every message published afterwards arrives, as one JSON line
// each, in order on a standalone server.
func TestSubscribeDeliversEveryMessage(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			inst := openKV(t, m.config)
			p := prefix(t, m.admin)
			c1, c2, pc := p+"c1", p+"c2", p+"pat:x"
			s := subscribe(t, inst, args{"channels": []string{c1, c2, c1}, "patterns": []string{p + "pat:*"}})
			s.warmUp(t, m.admin, c1)
			s.warmUp(t, m.admin, pc)

			var want []sdk.PubSubEvent
			for i := range 60 {
				ch, ev := c1, sdk.PubSubEvent{Channel: c1}
				switch i % 3 {
				case 1:
					ch, ev = c2, sdk.PubSubEvent{Channel: c2}
				case 2:
					ch, ev = pc, sdk.PubSubEvent{Channel: pc, Pattern: p + "pat:*"}
				}
				ev.Payload = fmt.Sprintf("message %d", i)
				want = append(want, ev)
				n := call[sdk.KVCountResult](t, inst, "publish", args{"channel": ch, "message": ev.Payload}).Count
				if m.name == "standalone" && n != 1 {
					// In a cluster PUBLISH counts the receivers on the node
					// that took it only.
					t.Fatalf("publish on %s reached %d subscribers, want 1", ch, n)
				}
			}
			var got []sdk.PubSubEvent
			for range want {
				got = append(got, s.next(t, 10*time.Second))
			}
			if m.name == "cluster" {
				// Messages published through different nodes may arrive
				// in another order.
				key := func(a, b sdk.PubSubEvent) int { return strings.Compare(a.Payload, b.Payload) }
				slices.SortFunc(got, key)
				slices.SortFunc(want, key)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("received:\n%+v\nwant:\n%+v", got, want)
			}
			select {
			case ev := <-s.events:
				if ev.Payload != "warmup" {
					t.Fatalf("an extra event: %+v", ev)
				}
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// pubsubClientID returns the id of the one pub/sub connection named name.
func pubsubClientID(t *testing.T, admin goredis.UniversalClient, name string) string {
	t.Helper()
	list, err := admin.Do(t.Context(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["name"] == name {
			ids = append(ids, fields["id"])
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d pub/sub connections are named %s, want 1:\n%s", len(ids), name, list)
	}
	return ids[0]
}

// TestSubscribeReportsGapAfterClientKill kills the subscriber's connection
// from another connection (CLIENT KILL ID): the subscriber resubscribes,
// writes a gap event, and receives what is published afterwards.
func TestSubscribeReportsGapAfterClientKill(t *testing.T) {
	m := standalone(t)
	name := uniqueName(t)
	inst := openKV(t, m.with(map[string]any{"client_name": name}))
	p := prefix(t, m.admin)
	ch := p + "events"
	s := subscribe(t, inst, args{"channels": []string{ch}})
	waitSubscribers(t, m.admin, ch, 1)

	for i := range 5 {
		call[sdk.KVCountResult](t, inst, "publish", args{"channel": ch, "message": fmt.Sprintf("before %d", i)})
	}
	for i := range 5 {
		if ev := s.next(t, 5*time.Second); ev.Payload != fmt.Sprintf("before %d", i) || ev.Gap {
			t.Fatalf("event %d before the kill: %+v", i, ev)
		}
	}
	received := time.Now()

	id := pubsubClientID(t, m.admin, name)
	killed := time.Now()
	if n, err := m.admin.Do(t.Context(), "CLIENT", "KILL", "ID", id).Int(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL ID %s: %d, %v", id, n, err)
	}

	gap := s.next(t, 10*time.Second)
	t.Logf("gap event: %+v (last message received %v, killed %v)", gap, received.UTC(), killed.UTC())
	if !gap.Gap || gap.Channel != "" || gap.Payload != "" {
		t.Fatalf("first event after the kill: %+v, want a gap", gap)
	}
	if gap.Since.After(killed) || gap.Since.Before(received.Add(-5*time.Second)) {
		t.Fatalf("gap since %v; the last message arrived about %v and the connection was killed at %v", gap.Since, received, killed)
	}
	if !strings.Contains(gap.Reason, "connection lost") {
		t.Fatalf("gap reason %q", gap.Reason)
	}
	// The gap is written once every subscription is back in place.
	if n := m.admin.PubSubNumSub(t.Context(), ch).Val()[ch]; n != 1 {
		t.Fatalf("%d subscribers after the gap event, want 1", n)
	}
	if newID := pubsubClientID(t, m.admin, name); newID == id {
		t.Fatalf("the subscriber still uses connection %s", id)
	}
	for i := range 5 {
		if n := call[sdk.KVCountResult](t, inst, "publish", args{"channel": ch, "message": fmt.Sprintf("after %d", i)}).Count; n != 1 {
			t.Fatalf("publish after the gap reached %d subscribers", n)
		}
	}
	for i := range 5 {
		if ev := s.next(t, 5*time.Second); ev.Payload != fmt.Sprintf("after %d", i) || ev.Gap {
			t.Fatalf("event %d after the gap: %+v", i, ev)
		}
	}
}

// TestSubscribeSurvivesAnOutage cuts the subscriber off from the server
// twice through toxiproxy: once by refusing connections for a while, once
// by letting the connection go silent (no FIN, no RST), which only the
// subscriber's PING notices. Each time it reports one gap and goes on.
func TestSubscribeSurvivesAnOutage(t *testing.T) {
	// Registered first, so restored after the subscription has ended.
	t.Cleanup(redis.SetPubSubTiming(300*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond))
	m := standalone(t)
	proxy := faults.Toxiproxy(t).Proxy(t, redisAddr(t))
	inst := openKV(t, map[string]any{"addresses": []string{proxy.Addr()}, "dial_timeout": "500ms"})
	p := prefix(t, m.admin)
	ch := p + "events"
	s := subscribe(t, inst, args{"channels": []string{ch}})
	waitSubscribers(t, m.admin, ch, 1)

	publishAndReceive := func(tag string) {
		t.Helper()
		for i := range 3 {
			m.admin.Publish(t.Context(), ch, fmt.Sprintf("%s %d", tag, i))
		}
		for i := range 3 {
			if ev := s.next(t, 10*time.Second); ev.Payload != fmt.Sprintf("%s %d", tag, i) {
				t.Fatalf("%s: event %d: %+v", tag, i, ev)
			}
		}
	}
	publishAndReceive("first")

	// Refused: the proxy closes the connection and refuses new ones.
	proxy.Disable(t)
	waitSubscribers(t, m.admin, ch, 0)
	time.Sleep(500 * time.Millisecond) // several failed reconnects
	proxy.Enable(t)
	if ev := s.next(t, 10*time.Second); !ev.Gap || !strings.Contains(ev.Reason, "connection lost") {
		t.Fatalf("after the outage: %+v, want a gap", ev)
	}
	publishAndReceive("second")

	// Silent: the server's replies are dropped, the connection stays open.
	toxic := proxy.AddTimeout(t, 0)
	time.Sleep(time.Second) // PING unanswered: the subscriber reconnects, in vain
	proxy.Remove(t, toxic)
	ev := s.next(t, 10*time.Second)
	t.Logf("gap event: %+v", ev)
	if !ev.Gap || !strings.Contains(ev.Reason, "PING") {
		t.Fatalf("after the silence: %+v, want a gap", ev)
	}
	waitSubscribers(t, m.admin, ch, 1)
	publishAndReceive("third")
}

// TestSubscribeEndsWhenCanceled checks that canceling the call ends the
// subscription with no error and no result, and closes its connection.
func TestSubscribeEndsWhenCanceled(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	raw, _ := json.Marshal(m.config)
	inst := sdktest.Open(t, redis.New(), sdk.ConfigureRequest{Type: redis.TypeName, Name: "direct", Config: raw})

	ch := p + "c"
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan streamEnd, 1)
	go func() {
		args, _ := json.Marshal(args{"channels": []string{ch}})
		r, err := doStream(ctx, inst, "subscribe", args, io.Discard)
		done <- streamEnd{r, err}
	}()
	waitSubscribers(t, m.admin, ch, 1)
	cancel()
	select {
	case end := <-done:
		if end.err != nil || end.res != nil {
			t.Fatalf("canceled subscribe returned %v, %v; want nil, nil", end.res, end.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscribe did not end within 5s of its cancelation")
	}
	waitSubscribers(t, m.admin, ch, 0)
}

// TestSubscribeArguments checks the errors of bad subscribe and publish
// calls.
func TestSubscribeArguments(t *testing.T) {
	m := standalone(t)
	inst := openKV(t, m.config)
	for _, a := range []string{`{}`, `{"channels": []}`, `{"channels": [""]}`, `{"patterns": ["a", ""]}`, `{"channel": "x"}`} {
		_, err := doStream(t.Context(), inst, "subscribe", json.RawMessage(a), io.Discard)
		wantKind(t, err, sdk.KindInvalidArgument, "")
	}
	fails(t, inst, "subscribe", args{"channels": []string{"x"}}, sdk.KindInvalidArgument, "")
	_, err := doStream(t.Context(), inst, "get", json.RawMessage(`{"key":"k"}`), io.Discard)
	wantKind(t, err, sdk.KindInvalidArgument, "")
	fails(t, inst, "publish", args{"channel": "", "message": "m"}, sdk.KindInvalidArgument, "")
}

// TestSubscribeEndsWhenTheInstanceCloses checks that closing the instance
// (as the host does at shutdown, or to replace a broken replica) ends a
// running subscribe as unavailable.
func TestSubscribeEndsWhenTheInstanceCloses(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	inst := openKV(t, m.config)
	ch := p + "c"
	s := subscribe(t, inst, args{"channels": []string{ch}})
	waitSubscribers(t, m.admin, ch, 1)
	if err := inst.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case end := <-s.done:
		wantKind(t, end.err, sdk.KindUnavailable, "")
		s.done <- end
	case <-time.After(5 * time.Second):
		t.Fatal("subscribe did not end within 5s of Close")
	}
	waitSubscribers(t, m.admin, ch, 0)
}
