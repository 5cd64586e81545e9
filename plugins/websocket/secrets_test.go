package websocket_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/plugins/websocket"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

const (
	secretToken = "tok-3f9a1c7e-SECRET"
	secretKey   = "key-b62d04aa-SECRET"
)

// refusingServer refuses the handshake with 401 and echoes every header of
// the request in its body and in a header, as careless servers do; with
// acceptFirst it accepts the first connection and closes it at once,
// with the token as the close reason, so that the refusal comes on the
// reconnection.
func refusingServer(t *testing.T, acceptFirst bool) *httptest.Server {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if acceptFirst && n.Add(1) == 1 {
			c, err := ws.Accept(w, r, nil)
			if err != nil {
				return
			}
			_ = c.Close(ws.StatusPolicyViolation, "bad token "+secretToken)
			return
		}
		var b strings.Builder
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ","))
		}
		w.Header().Set("X-Echo", r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"))
		http.Error(w, "unauthorized; you sent:\n"+b.String(), http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func secretConfig(url string) map[string]any {
	return map[string]any{
		"bearer_token":      secretToken,
		"sensitive_headers": map[string]string{"X-Api-Key": secretKey},
		"reconnect_min":     "10ms", "reconnect_max": "50ms", "reconnect_budget": "2s",
	}
}

func checkNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{secretToken, secretKey} {
		if strings.Contains(text, s) {
			t.Fatalf("%s holds a secret: %s", what, text)
		}
	}
}

// The bearer token and the sensitive headers' values are in no error,
// when the server refuses the handshake with 401 and echoes the request's
// headers back: not when opening (in process and from the built binary),
// not when a reconnection is refused, and not in the events.
func TestTokensAndSensitiveHeadersAreInNoError(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		srv := refusingServer(t, false)
		for name, d := range map[string]sdk.Driver{
			"in process": sdktest.Connect(t, websocket.New()),
			"binary":     sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-websocket")),
		} {
			t.Run(name, func(t *testing.T) {
				r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "websocket", Name: "feed", Config: config(wsURL(srv), secretConfig(""))})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close(context.Background())
				inst, err := r.Open(t.Context())
				if err == nil {
					_ = inst.Close(t.Context())
					t.Fatal("Open succeeded against a server that refuses")
				}
				if k := sdk.KindOf(err); k != sdk.KindPermissionDenied {
					t.Fatalf("Open: %v (kind %q), want permission_denied", err, k)
				}
				t.Logf("%v", err)
				checkNoSecret(t, "the error", err.Error())
			})
		}
	})
	t.Run("reconnect", func(t *testing.T) {
		srv := refusingServer(t, true)
		inst := open(t, wsURL(srv), secretConfig(""))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		lines, _, err := receive(t, ctx, inst, map[string]any{})
		if k := sdk.KindOf(err); k != sdk.KindPermissionDenied {
			t.Fatalf("receive: %v (kind %q), want permission_denied", err, k)
		}
		checkNoSecret(t, "the error", err.Error())
		for _, l := range lines {
			checkNoSecret(t, "an event", fmt.Sprintf("%+v", l))
		}
		t.Logf("%v", err)
	})
}
