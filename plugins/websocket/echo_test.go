package websocket_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
)

// Text and binary messages sent to an echo server come back exactly, in
// order: an empty text, text with every kind of character JSON escapes,
// and 64 KiB of random bytes.
func TestSentTextAndBinaryComeBackExactly(t *testing.T) {
	inst := open(t, wsURL(echoServer(t)), nil)
	bin := make([]byte, 64<<10)
	_, _ = rand.Read(bin)
	texts := []string{"", "héllo \"world\"\n\t<&> \u2028 🚀"}
	for _, s := range texts {
		if _, err := invoke(t, inst, "send", map[string]any{"text": s}); err != nil {
			t.Fatalf("send text %q: %v", s, err)
		}
	}
	raw, err := invoke(t, inst, "send", map[string]any{"binary_base64": base64.StdEncoding.EncodeToString(bin)})
	if err != nil {
		t.Fatalf("send binary: %v", err)
	}
	var sent websocket.SendResult
	if err := json.Unmarshal(raw, &sent); err != nil || sent.Bytes != len(bin) {
		t.Fatalf("send binary returned %s (%v), want %d bytes", raw, err, len(bin))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lines, res, err := receive(t, ctx, inst, map[string]any{"max_messages": 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 3 || res.Events != 0 || len(lines) != 3 {
		t.Fatalf("receive: result %+v, %d lines, want 3 messages", res, len(lines))
	}
	for i, s := range texts {
		if l := lines[i]; l.Type != "message" || l.Text == nil || *l.Text != s || l.BinaryBase64 != nil {
			t.Errorf("line %d = %+v, want text %q", i, l, s)
		}
	}
	l := lines[2]
	if l.Type != "message" || l.BinaryBase64 == nil || l.Text != nil {
		t.Fatalf("line 2 = %+v, want a binary message", l)
	}
	got, err := base64.StdEncoding.DecodeString(*l.BinaryBase64)
	if err != nil || string(got) != string(bin) {
		t.Fatalf("binary came back different (%d bytes, %v)", len(got), err)
	}
	t.Logf("echo: %d text messages and %d binary bytes came back exactly", len(texts), len(bin))

	// ping reports its round trip.
	raw, err = invoke(t, inst, "ping", map[string]any{})
	var p websocket.PingResult
	if err != nil || json.Unmarshal(raw, &p) != nil || !p.OK || p.LatencyMS <= 0 {
		t.Fatalf("ping = %s, %v", raw, err)
	}
}
