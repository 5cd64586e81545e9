package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program, on pubsub.hcl, against the Redis of scripts/testenv
// (NEBULA_TEST_REDIS_ADDR) with the plugin binary built from this
// checkout, on a channel of the test's own that a go-redis client beside
// the host also subscribes to: both subscribers receive the 20 messages in
// the order published, and once the program's subscriber stops, Redis
// counts only the test's. goleak (TestMain) checks that the program left
// no goroutine running.
func TestPubSubDeliversInOrderAndStopsCleanly(t *testing.T) {
	addr := redisAddr(t)
	t.Setenv("REDIS_ADDR", addr)
	channel := scratchChannel()
	plugins := buildPlugin(t)

	// A subscriber beside the host, through go-redis.
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	ps := client.Subscribe(t.Context(), channel)
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(t.Context()); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}

	const count = 20
	var out bytes.Buffer
	if err := run(t.Context(), "pubsub.hcl", plugins, channel, count, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	var want strings.Builder
	fmt.Fprintf(&want, "subscribed to %s on redis.bus\n", channel)
	fmt.Fprintf(&want, "published %d message(s) on %s, each to 2 subscriber(s)\n", count, channel)
	fmt.Fprintln(&want, "received, in order:")
	for i := 1; i <= count; i++ {
		fmt.Fprintf(&want, "  %s: order %d paid\n", channel, i)
	}
	fmt.Fprintf(&want, "the subscriber stopped: its stream, goroutine and lease are done, and Redis counts 1 subscriber(s) on %s\n", channel)
	if out.String() != want.String() {
		t.Fatalf("printed\n%s\nwant\n%s", out.String(), want.String())
	}

	for i := 1; i <= count; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		msg, err := ps.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("the test's subscriber, message %d: %v", i, err)
		}
		if want := fmt.Sprintf("order %d paid", i); msg.Payload != want {
			t.Fatalf("the test's subscriber got %q as message %d; want %q", msg.Payload, i, want)
		}
	}
}

// A Subscriber stopped before any message arrives ends without an error,
// closes Messages, and may be stopped again.
func TestSubscriberStopsBeforeAnyMessage(t *testing.T) {
	t.Setenv("REDIS_ADDR", redisAddr(t))
	cfg, diags := config.Load("pubsub.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h, err := host.New(cfg, host.WithPluginDir(buildPlugin(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("closing the host: %v", err)
		}
	})

	sub, err := Subscribe(t.Context(), h, "redis.bus", scratchChannel())
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := sub.Stop(); err != nil {
		t.Errorf("the second Stop: %v", err)
	}
	if ev, ok := <-sub.Messages; ok {
		t.Errorf("Messages delivered %+v after Stop; want it closed", ev)
	}
}

// redisAddr returns the test server's address, and fails the test, never
// skips it, when the server does not answer.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("NEBULA_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is unreachable at NEBULA_TEST_REDIS_ADDR (%s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", addr, err)
	}
	return addr
}

// scratchChannel names a channel no one else uses.
func scratchChannel() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "nebula-pubsub-test-" + hex.EncodeToString(b[:])
}

// buildPlugin builds nebula-plugin-redis from this checkout into a
// directory of the test's own, and returns the directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-redis"),
		"github.com/nebula-resource/nebula-resource/plugins/redis/cmd/nebula-plugin-redis")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-redis: %v\nprinted:\n%s", err, out)
	}
	return dir
}
