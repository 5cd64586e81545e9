package websocket_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// A caller's mistakes are invalid_argument, never a backend failure, and
// the error names the argument at fault.
func TestCallerMistakesAreInvalidArgumentNamingTheArgument(t *testing.T) {
	inst := open(t, wsURL(echoServer(t)), map[string]any{"send_limit": 1024})
	big := strings.Repeat("x", 1025)
	bigBinary := `"` + strings.Repeat("AAAA", 342) + `"` // 1026 bytes
	mistakes := []struct {
		sdktest.Mistake
		names string // what the error must mention
	}{
		{sdktest.Mistake{Name: "both text and binary_base64", Op: "send", Args: `{"text":"a","binary_base64":"YQ=="}`}, "binary_base64"},
		{sdktest.Mistake{Name: "neither text nor binary_base64", Op: "send", Args: `{}`}, "text"},
		{sdktest.Mistake{Name: "bad base64", Op: "send", Args: `{"binary_base64":"not base64!"}`}, "binary_base64"},
		{sdktest.Mistake{Name: "text over send_limit", Op: "send", Args: `{"text":"` + big + `"}`}, "text"},
		{sdktest.Mistake{Name: "binary over send_limit", Op: "send", Args: `{"binary_base64":` + bigBinary + `}`}, "binary_base64"},
		{sdktest.Mistake{Name: "text of the wrong type", Op: "send", Args: `{"text":5}`}, "text"},
		{sdktest.Mistake{Name: "idempotent of the wrong type", Op: "send", Args: `{"text":"a","idempotent":"yes"}`}, "idempotent"},
		{sdktest.Mistake{Name: "unknown argument", Op: "send", Args: `{"text":"a","nope":1}`}, "nope"},
		{sdktest.Mistake{Name: "arguments not an object", Op: "send", Args: `[1]`}, ""},
		{sdktest.Mistake{Name: "ping with an argument", Op: "ping", Args: `{"x":1}`}, "x"},
		{sdktest.Mistake{Name: "negative max_messages", Op: "receive", Args: `{"max_messages":-1}`}, "max_messages"},
		{sdktest.Mistake{Name: "negative idle_timeout", Op: "receive", Args: `{"idle_timeout":"-1s"}`}, "idle_timeout"},
		{sdktest.Mistake{Name: "idle_timeout not a duration", Op: "receive", Args: `{"idle_timeout":"soon"}`}, "idle_timeout"},
	}
	for _, m := range mistakes {
		t.Run(m.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := sdk.InvokeRequest{Operation: m.Op, Args: json.RawMessage(m.Args)}
			var err error
			if m.Op == "receive" {
				_, err = inst.InvokeStream(ctx, req, nil, &strings.Builder{})
			} else {
				_, err = inst.Invoke(ctx, req)
			}
			sdktest.CheckMistake(t, m.Mistake, err)
			if !strings.Contains(err.Error(), m.names) {
				t.Fatalf("the error does not name %q: %v", m.names, err)
			}
		})
	}
	// The session is still usable: no mistake reached the server or broke
	// the connection.
	if _, err := invoke(t, inst, "ping", map[string]any{}); err != nil {
		t.Fatalf("ping after the mistakes: %v", err)
	}
}

// A configuration's mistakes are refused before anything is dialed, each
// naming its attribute.
func TestInvalidConfigurationsNameTheirAttribute(t *testing.T) {
	d := sdktest.Connect(t, websocket.New())
	for name, c := range map[string]struct {
		cfg  string
		attr string
	}{
		"http scheme":             {`{"url":"http://127.0.0.1/"}`, "url"},
		"no host":                 {`{"url":"ws:///x"}`, "url"},
		"reserved header":         {`{"url":"ws://h/","headers":{"Upgrade":"x"}}`, "headers"},
		"bad header name":         {`{"url":"ws://h/","headers":{"a b":"x"}}`, "headers"},
		"authorization twice":     {`{"url":"ws://h/","sensitive_headers":{"Authorization":"x"},"bearer_token":"t"}`, "sensitive_headers"},
		"tls file on ws":          {`{"url":"ws://h/","tls_ca_file":"/x.pem"}`, "tls_ca_file"},
		"unreadable CA":           {`{"url":"wss://h/","tls_ca_file":"/nonexistent.pem"}`, "tls_ca_file"},
		"no reconnection limit":   {`{"url":"ws://h/","reconnect_budget":"0s","max_reconnect_attempts":0}`, "reconnect_budget"},
		"reconnect_max too short": {`{"url":"ws://h/","reconnect_min":"1s","reconnect_max":"10ms"}`, "reconnect_max"},
		"zero buffer":             {`{"url":"ws://h/","buffer":0}`, "buffer"},
		"zero read_limit":         {`{"url":"ws://h/","read_limit":0}`, "read_limit"},
		"pings without a timeout": {`{"url":"ws://h/","ping_timeout":"0s"}`, "ping_timeout"},
		"bad subprotocol":         {`{"url":"ws://h/","subprotocols":["a b"]}`, "subprotocols"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "websocket", Name: "bad", Config: json.RawMessage(c.cfg)})
			if k := sdk.KindOf(err); k != sdk.KindInvalidArgument {
				t.Fatalf("Configure: %v (kind %q), want invalid_argument", err, k)
			}
			if !strings.Contains(err.Error(), c.attr) {
				t.Fatalf("the error does not name %s: %v", c.attr, err)
			}
		})
	}
}
