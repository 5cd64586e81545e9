package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/redis"
)

// TestHostCloseEndsASubscription: a subscription never ends by itself, so
// closing the host must cancel it rather than wait out shutdown_timeout.
func TestHostCloseEndsASubscription(t *testing.T) {
	dir := t.TempDir()
	src := fmt.Sprintf("resource \"redis\" \"cache\" {\n  addresses = [%q]\n}\n", redisAddr(t))
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	h, err := host.New(cfg, host.WithDriver("redis", redis.New()), host.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	l, err := h.Acquire(t.Context(), "redis.cache")
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		defer l.Release()
		_, err := l.InvokeStream(context.Background(), "subscribe", map[string]any{"channels": []string{"nebula-close-test"}}, nil, io.Discard)
		ended <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it subscribe
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("Close took %v with a subscription open", took)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription did not end when the host closed")
	}
}
