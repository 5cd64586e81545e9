package seats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/examples/seats"
	"github.com/nebula-resource/nebula-resource/host"
)

// The integration test: the production configuration (seats.hcl), the
// real Redis of scripts/testenv (NEBULA_TEST_REDIS_ADDR) and the real
// nebula-plugin-redis, built from this checkout.

func TestReserveAgainstRedis(t *testing.T) {
	addr := redisAddr(t)
	h := startHost(t, addr)
	event := fmt.Sprintf("concert-%d", time.Now().UnixNano())
	b := &seats.Booker{Host: h, Resource: "redis.seats", Capacity: 10}

	if taken, err := b.Reserve(t.Context(), event, 8); err != nil || taken != 8 {
		t.Fatalf("reserve 8: %d, %v", taken, err)
	}
	if _, err := b.Reserve(t.Context(), event, 3); !errors.Is(err, seats.ErrSoldOut) {
		t.Fatalf("reserve 3 more of 10: %v, want ErrSoldOut", err)
	}
	if taken, err := b.Reserve(t.Context(), event, 2); err != nil || taken != 10 {
		t.Fatalf("reserve the last 2: %d, %v", taken, err)
	}

	// What Redis holds, read beside the host.
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	t.Cleanup(func() { client.Del(context.Background(), "seats:"+event) })
	if n, err := client.Get(t.Context(), "seats:"+event).Int64(); err != nil || n != 10 {
		t.Fatalf("Redis holds %d seats taken (%v), want 10", n, err)
	}
}

// startHost starts a host on seats.hcl with REDIS_ADDR set to addr, and
// closes it at the end of the test.
func startHost(t *testing.T, addr string) *host.Host {
	t.Helper()
	t.Setenv("REDIS_ADDR", addr)
	cfg, diags := config.Load("seats.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithPluginDir(pluginDir(t)), host.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

var plugin struct {
	once sync.Once
	dir  string
	err  error
}

// pluginDir builds nebula-plugin-redis from this checkout, once for the
// package's tests, and returns its directory (removed by TestMain).
func pluginDir(t *testing.T) string {
	t.Helper()
	plugin.once.Do(func() {
		if plugin.dir, plugin.err = os.MkdirTemp("", "seats-plugins-"); plugin.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(plugin.dir, "nebula-plugin-redis"),
			"github.com/nebula-resource/nebula-resource/plugins/redis/cmd/nebula-plugin-redis")
		if out, err := cmd.CombinedOutput(); err != nil {
			plugin.err = fmt.Errorf("go build nebula-plugin-redis: %v\n%s", err, out)
		}
	})
	if plugin.err != nil {
		t.Fatal(plugin.err)
	}
	return plugin.dir
}

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
