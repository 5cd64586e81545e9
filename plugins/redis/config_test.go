package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// configErrors returns the attributes ValidateConfig complains about.
func configErrors(t *testing.T, typ string, cfg map[string]any) []string {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	err := redis.New().(sdk.ConfigValidator).ValidateConfig(context.Background(), sdk.ValidateRequest{Type: typ, Name: "t", Config: raw})
	if err == nil {
		return nil
	}
	var attrs []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("ValidateConfig returned an error that is not a config error: %v", err)
		}
		attrs = append(attrs, ce.Attribute)
	}
	walk(err)
	return attrs
}

func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	one := []string{"127.0.0.1:6379"}
	three := []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}
	cases := []struct {
		name string
		typ  string
		cfg  map[string]any
		want []string // attributes in error; nil means valid
	}{
		{"standalone", redis.TypeName, map[string]any{"addresses": one}, nil},
		{"cluster", redis.TypeName, map[string]any{"mode": "cluster", "addresses": three}, nil},
		{"sentinel", redis.TypeName, map[string]any{"mode": "sentinel", "addresses": three, "master_name": "m", "database": 2, "sentinel_password": "s"}, nil},
		{"session standalone", redis.SessionTypeName, map[string]any{"addresses": one, "database": 1}, nil},
		{"tls", redis.TypeName, map[string]any{"addresses": one, "tls": true, "tls_server_name": "redis.example", "tls_insecure_skip_verify": true}, nil},
		{"no timeouts", redis.TypeName, map[string]any{"addresses": one, "read_timeout": "0s", "write_timeout": "0s"}, nil},
		{"unknown mode", redis.TypeName, map[string]any{"mode": "ring", "addresses": one}, []string{"mode"}},
		{"no address", redis.TypeName, map[string]any{"addresses": []string{}}, []string{"addresses"}},
		{"bad address", redis.TypeName, map[string]any{"addresses": []string{"localhost"}}, []string{"addresses"}},
		{"bad port", redis.TypeName, map[string]any{"addresses": []string{"localhost:99999"}}, []string{"addresses"}},
		{"standalone with two", redis.TypeName, map[string]any{"addresses": three[:2]}, []string{"addresses"}},
		{"cluster with database", redis.TypeName, map[string]any{"mode": "cluster", "addresses": three, "database": 1}, []string{"database"}},
		{"negative database", redis.TypeName, map[string]any{"addresses": one, "database": -1}, []string{"database"}},
		{"sentinel without master", redis.TypeName, map[string]any{"mode": "sentinel", "addresses": three}, []string{"master_name"}},
		{"master without sentinel", redis.TypeName, map[string]any{"addresses": one, "master_name": "m"}, []string{"master_name"}},
		{"sentinel password without sentinel", redis.TypeName, map[string]any{"addresses": one, "sentinel_password": "x"}, []string{"sentinel_username"}},
		{"session in cluster", redis.SessionTypeName, map[string]any{"mode": "cluster", "addresses": three}, []string{"mode"}},
		{"tls settings without tls", redis.TypeName, map[string]any{"addresses": one, "tls_ca_file": notPEM, "tls_server_name": "x"}, []string{"tls_server_name", "tls_ca_file"}},
		{"missing ca file", redis.TypeName, map[string]any{"addresses": one, "tls": true, "tls_ca_file": filepath.Join(dir, "none.pem")}, []string{"tls_ca_file"}},
		{"ca file not pem", redis.TypeName, map[string]any{"addresses": one, "tls": true, "tls_ca_file": notPEM}, []string{"tls_ca_file"}},
		{"cert without key", redis.TypeName, map[string]any{"addresses": one, "tls": true, "tls_cert_file": notPEM}, []string{"tls_cert_file"}},
		{"bad durations", redis.TypeName, map[string]any{"addresses": one, "dial_timeout": "0s", "read_timeout": "-1s", "write_timeout": "-1s"}, []string{"dial_timeout", "read_timeout", "write_timeout"}},
		{"negative pool", redis.TypeName, map[string]any{"addresses": one, "pool_size": -1}, []string{"pool_size"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := configErrors(t, c.typ, c.cfg)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("errors at %v, want %v", got, c.want)
			}
		})
	}
}

func TestConfigureRefusesWhatValidateRefuses(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"mode": "cluster", "addresses": []string{"127.0.0.1:7000"}, "database": 1, "password": "hunter2-secret"})
	_, err := redis.New().Configure(t.Context(), sdk.ConfigureRequest{Type: redis.TypeName, Name: "t", Config: raw})
	wantKind(t, err, sdk.KindInvalidArgument, "")
	if strings.Contains(err.Error(), "hunter2-secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	_, err = redis.New().Configure(t.Context(), sdk.ConfigureRequest{Type: "memcached", Name: "t", Config: raw})
	wantKind(t, err, sdk.KindInvalidArgument, "")
}

func TestInfo(t *testing.T) {
	info := redis.New().Info()
	kv, ok := info.Type(redis.TypeName)
	if !ok || kv.Pooling != sdk.PoolingShared {
		t.Fatalf("redis type: %+v", kv)
	}
	for _, op := range append(sdk.KVOperations(), sdk.PubSubOperations()...) {
		got, ok := kv.Operation(op.Name)
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(op)
		if !ok || string(a) != string(b) {
			t.Errorf("redis type's %s differs from the sdk's:\n%s\n%s", op.Name, a, b)
		}
	}
	sess, ok := info.Type(redis.SessionTypeName)
	if !ok || sess.Pooling != sdk.PoolingExclusive {
		t.Fatalf("redis_session type: %+v", sess)
	}
	for _, name := range []string{"watch", "unwatch", "multi_exec", "get", "set", "command", "ping"} {
		if _, ok := sess.Operation(name); !ok {
			t.Errorf("redis_session has no %s", name)
		}
	}
	if _, ok := sess.Operation("subscribe"); ok {
		t.Error("redis_session offers subscribe")
	}
	pw, _ := kv.Config.Attribute("password")
	if !pw.Sensitive {
		t.Error("password is not sensitive")
	}
}
