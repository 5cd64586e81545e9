package graphql_test

import (
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The server quotes the credentials it refuses in its errors (the
// bearer token in a GraphQL error, the connection_init token in a close
// reason): neither reaches the caller.
func TestSecretsNeverAppearInErrors(t *testing.T) {
	const (
		bearer = "bearer-secret-7f3a9c"
		init   = "init-secret-b81e44"
	)
	s := startServer(t, "-token", "the-right-token")
	inst := open(t, config(t, s.url(), map[string]any{
		"bearer_token":    bearer,
		"connection_init": map[string]any{"authToken": init},
	}))
	check := func(t *testing.T, err error, kind sdk.Kind, code string) {
		t.Helper()
		var se *sdk.Error
		if err == nil || sdk.KindOf(err) != kind {
			t.Fatalf("err = %v (kind %q), want kind %q", err, sdk.KindOf(err), kind)
		}
		for _, secret := range []string{bearer, init} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error holds a secret: %v", err)
			}
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Fatalf("the error %q has no [redacted]: did the server not quote the secret?", err)
		}
		if code != "" {
			if e, ok := err.(*sdk.Error); ok {
				se = e
			}
			if se == nil || se.Code != code {
				t.Fatalf("err = %v, want code %q", err, code)
			}
		}
	}
	t.Run("query", func(t *testing.T) {
		_, err := invoke(t, inst, "query", `{"query": "{ hello }"}`)
		check(t, err, sdk.KindUnauthenticated, "UNAUTHENTICATED")
	})
	t.Run("subscribe", func(t *testing.T) {
		_, _, err := subscribe(t, t.Context(), inst, `{"query": "subscription { count(to: 1) }"}`)
		check(t, err, sdk.KindPermissionDenied, "4403")
	})
	t.Run("the right token in connection_init", func(t *testing.T) {
		inst := open(t, config(t, s.url(), map[string]any{"connection_init": map[string]any{"authToken": "the-right-token"}}))
		lines, _, err := subscribe(t, t.Context(), inst, `{"query": "subscription { count(to: 2) }"}`)
		if err != nil {
			t.Fatal(err)
		}
		checkCount(t, lines, 2)
	})
}
