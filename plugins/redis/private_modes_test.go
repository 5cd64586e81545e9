package redis_test

import (
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// TestSentinelMode reaches a private master through a private sentinel:
// kv operations in the configured database, pub/sub, and a session's
// transaction.
func TestSentinelMode(t *testing.T) {
	s := startSentinel(t)
	cfg := map[string]any{"mode": "sentinel", "addresses": []string{s.sentinel}, "master_name": s.masterName, "database": 1}
	master := goredis.NewClient(&goredis.Options{Addr: s.master, DB: 1})
	defer master.Close()

	inst := openKV(t, cfg)
	call[sdk.KVSetResult](t, inst, "set", args{"key": "k", "value": "through sentinel"})
	if got := master.Get(t.Context(), "k").Val(); got != "through sentinel" {
		t.Fatalf("the master's database 1 holds %q", got)
	}
	call[sdk.KVSetResult](t, inst, "mset", args{"values": map[string]string{"a": "1", "b": "2"}, "ttl": "1m"})
	if r := call[sdk.KVMGetResult](t, inst, "mget", args{"keys": []string{"a", "b", "c"}}); !r.Values[0].Found || !r.Values[1].Found || r.Values[2].Found {
		t.Fatalf("mget: %+v", r)
	}
	if r := call[sdk.KVScanResult](t, inst, "scan", args{"count": 100}); len(r.Keys) != 3 {
		t.Fatalf("scan: %+v", r)
	}

	sub := subscribe(t, inst, args{"channels": []string{"news"}})
	sub.warmUp(t, master, "news")
	if n := call[sdk.KVCountResult](t, inst, "publish", args{"channel": "news", "message": "hello"}).Count; n != 1 {
		t.Fatalf("publish reached %d", n)
	}
	if ev := sub.next(t, 5*time.Second); ev.Payload != "hello" {
		t.Fatalf("received %+v", ev)
	}

	res := configure(t, redis.SessionTypeName, cfg)
	sess := open(t, res)
	call[map[string]bool](t, sess, "watch", args{"keys": []string{"k"}})
	master.Set(t.Context(), "k", "changed", 0)
	fails(t, sess, "multi_exec", args{"commands": cmds([]any{"SET", "k", "mine"})}, sdk.KindConflict, "")

	// A master name the sentinel does not know.
	bad := configure(t, redis.TypeName, map[string]any{"mode": "sentinel", "addresses": []string{s.sentinel}, "master_name": "nope", "dial_timeout": "1s"})
	_, err := bad.Open(t.Context())
	wantKind(t, err, sdk.KindUnavailable, "")
	if !strings.Contains(err.Error(), `master named "nope"`) {
		t.Fatalf("the error does not point at master_name: %v", err)
	}
}

// TestTLS connects to a private server that speaks only TLS: with the CA,
// with a client certificate, and the ways it fails.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	addr := startTLSRedis(t, p, false)
	base := map[string]any{"addresses": []string{addr}, "dial_timeout": "2s"}
	with := func(extra map[string]any) map[string]any {
		cfg := map[string]any{}
		for k, v := range base {
			cfg[k] = v
		}
		for k, v := range extra {
			cfg[k] = v
		}
		return cfg
	}

	for name, extra := range map[string]map[string]any{
		"ca":          {"tls": true, "tls_ca_file": p.ca},
		"server name": {"tls": true, "tls_ca_file": p.ca, "tls_server_name": "redis.test"},
		"skip verify": {"tls": true, "tls_insecure_skip_verify": true},
	} {
		t.Run(name, func(t *testing.T) {
			inst := openKV(t, with(extra))
			call[sdk.KVSetResult](t, inst, "set", args{"key": "tls", "value": "yes"})
			if r := call[sdk.KVGetResult](t, inst, "get", args{"key": "tls"}); r.Value != "yes" {
				t.Fatalf("get: %+v", r)
			}
			sess := open(t, configure(t, redis.SessionTypeName, with(extra)))
			call[map[string]bool](t, sess, "ping", args{})
		})
	}
	for name, c := range map[string]struct {
		extra map[string]any
		kind  sdk.Kind
	}{
		"unknown CA": {map[string]any{"tls": true}, sdk.KindFailedPrecondition},
		"wrong name": {map[string]any{"tls": true, "tls_ca_file": p.ca, "tls_server_name": "other.test"}, sdk.KindFailedPrecondition},
		"plain text": {map[string]any{}, sdk.KindUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configure(t, redis.TypeName, with(c.extra)).Open(t.Context())
			wantKind(t, err, c.kind, "")
		})
	}

	t.Run("client certificate", func(t *testing.T) {
		addr := startTLSRedis(t, p, true)
		cfg := map[string]any{"addresses": []string{addr}, "tls": true, "tls_ca_file": p.ca, "dial_timeout": "2s"}
		_, err := configure(t, redis.TypeName, cfg).Open(t.Context())
		wantKind(t, err, sdk.KindFailedPrecondition, "")
		cfg["tls_cert_file"], cfg["tls_key_file"] = p.clientCert, p.clientKey
		inst := openKV(t, cfg)
		call[map[string]bool](t, inst, "ping", args{})
	})
}
