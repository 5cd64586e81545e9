package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	defaultRedisAddr    = "127.0.0.1:6379"
	defaultClusterAddrs = "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"
)

// redisAddr returns the standalone test server's address and fails the
// test, never skips it, when the server does not answer.
func redisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("NEBULA_TEST_REDIS_ADDR")
	if addr == "" {
		addr = defaultRedisAddr
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is unreachable at %s (NEBULA_TEST_REDIS_ADDR, default %s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", addr, defaultRedisAddr, err)
	}
	return addr
}

// clusterAddrs returns the seed addresses of the test cluster and fails the
// test when the cluster is not up with three masters.
func clusterAddrs(t testing.TB) []string {
	t.Helper()
	v := os.Getenv("NEBULA_TEST_REDIS_CLUSTER")
	if v == "" {
		v = defaultClusterAddrs
	}
	addrs := strings.Split(v, ",")
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.ClusterInfo(ctx).Result()
	if err == nil && !strings.Contains(info, "cluster_state:ok") {
		err = errors.New("cluster_state is not ok")
	}
	var masters int
	if err == nil {
		var shards []goredis.ClusterShard
		shards, err = c.ClusterShards(ctx).Result()
		masters = len(shards)
	}
	if err != nil || masters < 3 {
		t.Fatalf("the Redis Cluster is unreachable or not ready at %s (NEBULA_TEST_REDIS_CLUSTER, default %s): %d masters, %v\nRun `scripts/testenv up` (or `make test`) to start it.", v, defaultClusterAddrs, masters, err)
	}
	return addrs
}

// mode is a deployment the kv tests run against.
type mode struct {
	name   string
	config map[string]any
	// admin is a go-redis client beside the driver, to look at what the
	// driver did and to clean up.
	admin goredis.UniversalClient
}

func standalone(t testing.TB) mode {
	t.Helper()
	addr := redisAddr(t)
	admin := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = admin.Close() })
	return mode{name: "standalone", config: map[string]any{"addresses": []string{addr}}, admin: admin}
}

func cluster(t testing.TB) mode {
	t.Helper()
	addrs := clusterAddrs(t)
	admin := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = admin.Close() })
	return mode{name: "cluster", config: map[string]any{"mode": "cluster", "addresses": addrs}, admin: admin}
}

// clientFor returns a go-redis client of the standalone server's database
// db, closed when the test ends.
func clientFor(t testing.TB, addr string, db int) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// modes are standalone and cluster, the deployments every kv test covers.
func modes(t *testing.T) []mode { return []mode{standalone(t), cluster(t)} }

// with returns the mode's configuration with extra settings.
func (m mode) with(extra map[string]any) map[string]any {
	cfg := map[string]any{}
	for k, v := range m.config {
		cfg[k] = v
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// prefix returns a key prefix unique to the test; keys under it are
// deleted when the test ends.
func prefix(t testing.TB, admin goredis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p := "nebula-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteKeys(t, admin, p+"*") })
	return p
}

// deleteKeys deletes the keys matching pattern, on every master of a
// cluster.
func deleteKeys(t testing.TB, admin goredis.UniversalClient, pattern string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	del := func(ctx context.Context, c goredis.UniversalClient) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := admin.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return del(ctx, c) })
	} else {
		err = del(ctx, admin)
	}
	if err != nil {
		t.Errorf("cleaning up %s: %v", pattern, err)
	}
}

// configure configures a resource of the given type over in-process gRPC,
// as the host sees it, and closes it when the test ends.
func configure(t testing.TB, typ string, cfg map[string]any) sdk.Resource {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	d := sdktest.Connect(t, redis.New())
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: typ, Name: "test", Config: raw})
	if err != nil {
		t.Fatalf("Configure %s: %v", typ, err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	return res
}

// open opens an instance of the resource, closed when the test ends.
func open(t testing.TB, res sdk.Resource) sdk.Instance {
	t.Helper()
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst
}

// openKV configures a redis resource and opens one instance.
func openKV(t testing.TB, cfg map[string]any) sdk.Instance {
	t.Helper()
	return open(t, configure(t, redis.TypeName, cfg))
}

// invoke runs an operation and returns its raw error.
func invoke(t testing.TB, inst sdk.Instance, op string, args any) (json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := do(ctx, inst, op, raw)
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case json.RawMessage:
		return r, nil
	default:
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	}
}

// do performs an operation on inst as the host does. inst is the host's
// view of an instance in the plugin (configure: sdktest.Connect), which
// sends the call there, or an *sdktest.Instance opened in process
// (sdktest.Open), which calls its resource type's operations.
func do(ctx context.Context, inst sdk.Instance, op string, args json.RawMessage) (any, error) {
	return inst.(sdk.Invoker).Invoke(ctx, sdk.InvokeRequest{Operation: op, Args: args})
}

// doStream performs a streaming operation on inst as do does, and writes
// what it streams to out.
func doStream(ctx context.Context, inst sdk.Instance, op string, args json.RawMessage, out io.Writer) (any, error) {
	return inst.(sdk.StreamInvoker).InvokeStream(ctx, sdk.InvokeRequest{Operation: op, Args: args}, nil, out)
}

// call runs an operation that must succeed and decodes its result.
func call[T any](t testing.TB, inst sdk.Instance, op string, args any) T {
	t.Helper()
	raw, err := invoke(t, inst, op, args)
	if err != nil {
		t.Fatalf("%s %v: %v", op, args, err)
	}
	var out T
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: decoding %s: %v", op, raw, err)
	}
	return out
}

// fails runs an operation that must fail with the given kind (and code,
// when not empty) and returns the error.
func fails(t testing.TB, inst sdk.Instance, op string, args any, kind sdk.Kind, code string) error {
	t.Helper()
	raw, err := invoke(t, inst, op, args)
	if err == nil {
		t.Fatalf("%s %v succeeded with %s; want an error of kind %s", op, args, raw, kind)
	}
	wantKind(t, err, kind, code)
	return err
}

func wantKind(t testing.TB, err error, kind sdk.Kind, code string) {
	t.Helper()
	if k := sdk.KindOf(err); k != kind {
		t.Fatalf("error kind %q, want %q (err: %v)", k, kind, err)
	}
	if code != "" {
		var e *sdk.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Fatalf("error code: want %s (err: %#v)", code, err)
		}
	}
}

// args is shorthand for an operation's arguments.
type args = map[string]any
