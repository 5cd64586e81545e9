package redis_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestUnreachableServerIsUnavailable opens instances of resources whose
// servers do not answer.
func TestUnreachableServerIsUnavailable(t *testing.T) {
	for name, cfg := range map[string]map[string]any{
		"standalone": {"addresses": []string{"127.0.0.1:1"}, "dial_timeout": "1s"},
		"cluster":    {"mode": "cluster", "addresses": []string{"127.0.0.1:1", "127.0.0.1:2"}, "dial_timeout": "1s"},
		"sentinel":   {"mode": "sentinel", "master_name": "m", "addresses": []string{"127.0.0.1:1"}, "dial_timeout": "1s"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, typ := range []string{redis.TypeName, redis.SessionTypeName} {
				if typ == redis.SessionTypeName && name == "cluster" {
					continue
				}
				res := configure(t, typ, cfg)
				_, err := res.Open(t.Context())
				wantKind(t, err, sdk.KindUnavailable, "")
			}
		})
	}
}

// TestAuthenticationErrors uses an ACL user made for the test: a wrong
// password is unauthenticated and never shown, the right one works, and a
// command the user may not run is permission_denied.
func TestAuthenticationErrors(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	user, password := uniqueName(t), "pw-"+uniqueName(t)
	if err := m.admin.Do(t.Context(), "ACL", "SETUSER", user, "on", ">"+password, "~"+p+"*", "-@all", "+get", "+ping", "+client", "+hello").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { m.admin.Do(context.Background(), "ACL", "DELUSER", user) })

	for _, typ := range []string{redis.TypeName, redis.SessionTypeName} {
		res := configure(t, typ, m.with(map[string]any{"username": user, "password": password + "-wrong"}))
		_, err := res.Open(t.Context())
		wantKind(t, err, sdk.KindUnauthenticated, "")
		if strings.Contains(err.Error(), password) {
			t.Fatalf("the error shows the password: %v", err)
		}
	}

	inst := openKV(t, m.with(map[string]any{"username": user, "password": password}))
	call[sdk.KVGetResult](t, inst, "get", args{"key": p + "k"})
	err := fails(t, inst, "set", args{"key": p + "k", "value": "v"}, sdk.KindPermissionDenied, "NOPERM")
	if strings.Contains(err.Error(), password) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

// TestTimeouts checks that a reply slower than read_timeout, and a call
// whose deadline passes, fail with kind timeout.
func TestTimeouts(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	inst := openKV(t, m.with(map[string]any{"read_timeout": "200ms"}))
	began := time.Now()
	fails(t, inst, "command", args{"args": []string{"BLPOP", p + "never", "2"}}, sdk.KindTimeout, "")
	if took := time.Since(began); took > time.Second {
		t.Fatalf("the timeout took %v", took)
	}

	inst = openKV(t, m.config)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	raw, _ := json.Marshal(args{"args": []string{"BLPOP", p + "never", "2"}})
	_, err := do(ctx, inst, "command", raw)
	wantKind(t, err, sdk.KindTimeout, "")
	// The instance still works.
	call[map[string]bool](t, inst, "ping", args{})
}
