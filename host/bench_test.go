package host_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The cost of the host's call path, from a direct call of the memory driver
// (the peer), through the host with the driver in process, to the host
// calling the plugin binary over go-plugin gRPC.

func BenchmarkMemoryGet(b *testing.B) {
	args := json.RawMessage(`{"key":"k"}`)
	b.Run("driver-direct", func(b *testing.B) {
		res, err := memory.New().Configure(context.Background(), sdk.ConfigureRequest{Type: "memory", Name: "b", Config: json.RawMessage(`{}`)})
		if err != nil {
			b.Fatal(err)
		}
		defer res.Close(context.Background())
		inst, _ := res.Open(context.Background())
		if _, err := inst.Invoke(context.Background(), sdk.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"k","value":"v"}`)}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := inst.Invoke(context.Background(), sdk.InvokeRequest{Operation: "get", Args: args}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, mode := range []string{"host-in-process", "host-plugin"} {
		b.Run(mode, func(b *testing.B) {
			opts := []host.Option{host.WithLogger(slog.New(slog.DiscardHandler))}
			if mode == "host-in-process" {
				opts = append(opts, host.WithDriver("memory", memory.New()))
			} else {
				opts = append(opts, host.WithPluginDir(binDir))
			}
			h, err := host.New(loadHCLB(b, `resource "memory" "cache" {}`), opts...)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			if _, err := h.Invoke(context.Background(), "memory.cache", "set", `{"key":"k","value":"v"}`); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Invoke(context.Background(), "memory.cache", "get", args); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
