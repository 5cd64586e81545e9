// Package backendbench_test measures calls to real backends through the
// host and its plugin binaries, beside the backend's own Go client in the
// same run: Redis GET and SET beside go-redis, Kafka produce throughput
// beside franz-go. The servers come from scripts/testenv.
package backendbench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/kafka"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// startHost builds the plugin (unless plugin is "") and starts a host
// with the configuration.
func startHost(b *testing.B, plugin, hcl string, opts ...host.Option) *host.Host {
	b.Helper()
	dir := b.TempDir()
	if plugin != "" {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-"+plugin),
			"github.com/nebula-resource/nebula-resource/plugins/"+plugin+"/cmd/nebula-plugin-"+plugin).CombinedOutput()
		if err != nil {
			b.Fatalf("build the %s plugin: %v\n%s", plugin, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, diags := config.Load(filepath.Join(dir, "main.hcl"))
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	h, err := host.New(cfg, append([]host.Option{host.WithPluginDir(dir), host.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		b.Fatalf("start (run scripts/testenv up): %v", err)
	}
	b.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// BenchmarkRedis is GET and SET of a 100-byte value: go-redis against the
// server directly, and the host calling the redis plugin, which calls
// go-redis. Calls run in parallel (GOMAXPROCS goroutines).
func BenchmarkRedis(b *testing.B) {
	addr := env("NEBULA_TEST_REDIS_ADDR", "127.0.0.1:6379")
	value := strings.Repeat("v", 100)
	key := fmt.Sprintf("nebula-bench-%d", time.Now().UnixNano())
	ctx := context.Background()

	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.Set(ctx, key, value, time.Minute).Err(); err != nil {
		b.Fatalf("redis at %s (run scripts/testenv up): %v", addr, err)
	}
	defer rdb.Del(ctx, key)

	b.Run("op=get/via=go-redis", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := rdb.Get(ctx, key).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("op=set/via=go-redis", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := rdb.Set(ctx, key, value, time.Minute).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	h := startHost(b, "redis", fmt.Sprintf("resource \"redis\" \"cache\" {\n  addresses = [%q]\n}\n", addr))
	get := json.RawMessage(fmt.Sprintf(`{"key":%q}`, key))
	set := json.RawMessage(fmt.Sprintf(`{"key":%q,"value":%q,"ttl":"1m"}`, key, value))
	for _, c := range []struct {
		op   string
		args json.RawMessage
	}{{"get", get}, {"set", set}} {
		b.Run("op="+c.op+"/via=host-plugin", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Invoke(ctx, "redis.cache", c.op, c.args); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkKafkaProduce is produce throughput with 1 KiB values, acks all
// and no linger, in synchronous batches of 1,000 records: franz-go against
// the broker directly, and the host calling the kafka plugin's
// produce_batch, which calls franz-go. It reports records/s. kfake keeps
// every record in memory: run it with -benchtime 200x or so.
func BenchmarkKafkaProduce(b *testing.B) {
	brokers := env("NEBULA_TEST_KAFKA_BROKERS", "127.0.0.1:9092")
	topic := fmt.Sprintf("nebula-bench-%d", time.Now().UnixNano())
	const batch = 1000
	value := strings.Repeat("v", 1024)
	ctx := context.Background()

	b.Run("via=franz-go", func(b *testing.B) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		recs := make([]*kgo.Record, batch)
		began := time.Now()
		for b.Loop() {
			for i := range recs {
				recs[i] = &kgo.Record{Topic: topic, Value: []byte(value)}
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatalf("produce (run scripts/testenv up): %v", err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/time.Since(began).Seconds(), "records/s")
	})

	for _, via := range []string{"host-in-process", "host-plugin"} {
		b.Run("via="+via, func(b *testing.B) {
			src := fmt.Sprintf("resource \"kafka\" \"events\" {\n  brokers = [%q]\n  linger  = \"0s\"\n}\n", brokers)
			var h *host.Host
			if via == "host-plugin" {
				h = startHost(b, "kafka", src)
			} else {
				h = startHost(b, "", src, host.WithDriver("kafka", kafka.New()))
			}
			produceBatches(b, h, topic, value, batch)
		})
	}
}

func produceBatches(b *testing.B, h *host.Host, topic, value string, batch int) {
	ctx := context.Background()
	{
		values := make([]string, batch)
		for i := range values {
			values[i] = value
		}
		args, _ := json.Marshal(map[string]any{"topic": topic, "values": values})
		began := time.Now()
		for b.Loop() {
			if _, err := h.Invoke(ctx, "kafka.events", "produce_batch", json.RawMessage(args)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/time.Since(began).Seconds(), "records/s")
	}
}
