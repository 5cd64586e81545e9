package host_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"io"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/pluginconn"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// BenchmarkMemoryGet measures the cost of the host's call path: memory get
// on the memory driver's instance called directly (via=direct, the peer),
// through the host with the driver in process (via=host-inproc), and
// through the host calling the plugin binary over go-plugin gRPC
// (via=host-plugin). The host's runs also report their time per call as a
// multiple of the direct call's (x-direct), measuring the direct call just
// before their own, with the timer stopped, so that both see the same
// machine: -count repeats each sub-benchmark in a row, and this machine's
// load changes within seconds.
func BenchmarkMemoryGet(b *testing.B) {
	args := json.RawMessage(`{"key":"k"}`)
	inst := sdktest.Open(b, memory.New(), sdk.ConfigureRequest{Type: "memory", Name: "b", Config: json.RawMessage(`{}`)})
	if _, err := inst.Invoke(context.Background(), sdk.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"k","value":"v"}`)}); err != nil {
		b.Fatal(err)
	}
	direct := func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := inst.Invoke(context.Background(), sdk.InvokeRequest{Operation: "get", Args: args}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("via=direct", func(b *testing.B) {
		b.ReportAllocs()
		direct(b)
	})
	for _, via := range []string{"host-inproc", "host-plugin"} {
		b.Run("via="+via, func(b *testing.B) {
			opts := []host.Option{host.WithLogger(slog.New(slog.DiscardHandler))}
			if via == "host-inproc" {
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
			b.StopTimer()
			began := time.Now()
			direct(b)
			peer := time.Since(began)
			b.ReportAllocs()
			b.ResetTimer()
			b.StartTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Invoke(context.Background(), "memory.cache", "get", args); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed())/float64(peer), "x-direct")
		})
	}
}

// BenchmarkPluginRoundTrip measures the floor under every plugin call: one
// Check round trip to a plugin process over go-plugin gRPC, with mutual
// TLS (sdk.PluginTLS, as the host runs plugins) and without (the peer).
func BenchmarkPluginRoundTrip(b *testing.B) {
	for _, mtls := range []bool{true, false} {
		name := "mtls"
		if !mtls {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			cmd := exec.Command(pluginPath("probe"))
			var tlsConfig *tls.Config
			if mtls {
				ptls, err := sdk.NewPluginTLS()
				if err != nil {
					b.Fatal(err)
				}
				pipe, err := ptls.Prepare(cmd)
				if err != nil {
					b.Fatal(err)
				}
				defer pipe.Close()
				tlsConfig = ptls.Config()
			}
			client := plugin.NewClient(&plugin.ClientConfig{
				HandshakeConfig: pluginconn.Handshake, VersionedPlugins: pluginconn.PluginSets(nil),
				Cmd: cmd, AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
				TLSConfig: tlsConfig, SkipHostEnv: true, Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
			})
			defer client.Kill()
			rpc, err := client.Client()
			if err != nil {
				b.Fatal(err)
			}
			raw, _ := rpc.Dispense(sdk.PluginName)
			d := raw.(sdk.Driver)
			res, _ := d.Configure(context.Background(), sdk.ConfigureRequest{Type: "probe", Name: "p", Config: []byte(`{}`)})
			inst, _ := res.Open(context.Background())
			for b.Loop() {
				if err := inst.Check(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHostLease measures a lease through the host (name lookup,
// pool, lease bookkeeping) without a call: with and without owner labels,
// and with the name looked up among 1,000 resources instead of one.
func BenchmarkHostLease(b *testing.B) {
	run := func(b *testing.B, resources int, opts ...host.AcquireOption) {
		src := ""
		for i := range resources {
			src += fmt.Sprintf("resource \"rec\" \"r%d\" {}\n", i)
		}
		h, err := host.New(loadHCLB(b, src), host.WithDriver("rec", &recorder{}), host.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer h.Close(context.Background())
		name := fmt.Sprintf("rec.r%d", resources-1)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			l, err := h.Acquire(ctx, name, opts...)
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	}
	b.Run("owner=none/resources=1", func(b *testing.B) { run(b, 1) })
	b.Run("owner=labels/resources=1", func(b *testing.B) {
		run(b, 1, host.WithOwner(host.Owner{Tenant: "acme", Workflow: "wf-1", Step: "load"}))
	})
	b.Run("owner=none/resources=1000", func(b *testing.B) { run(b, 1000) })
}

// BenchmarkResiliencePolicies measures what the resilience policies add to
// a call that succeeds: memory get in process through Host.Invoke, with no
// policy (the peer), with retry only, and with every policy.
func BenchmarkResiliencePolicies(b *testing.B) {
	for _, c := range []struct{ name, block string }{
		{"policies=none", ""},
		{"policies=retry", `resilience {
  retry { max_attempts = 3 }
}`},
		{"policies=all", `resilience {
  timeout         = "5s"
  attempt_timeout = "1s"
  retry { max_attempts = 3 }
  circuit_breaker { failure_threshold = 5 }
  bulkhead { max_concurrent = 64 }
}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchMemoryGet(b, "resource \"memory\" \"cache\" {\n"+c.block+"\n}\n")
		})
	}
}

// benchMemoryGet runs memory get through Host.Invoke on a host of the
// configuration src, with the memory driver in process.
func benchMemoryGet(b *testing.B, src string, opts ...host.Option) {
	opts = append([]host.Option{host.WithDriver("memory", memory.New()), host.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	h, err := host.New(loadHCLB(b, src), opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	if _, err := h.Invoke(ctx, "memory.cache", "set", json.RawMessage(`{"key":"k","value":"v"}`)); err != nil {
		b.Fatal(err)
	}
	args := json.RawMessage(`{"key":"k"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Invoke(ctx, "memory.cache", "get", args); err != nil {
			b.Fatal(err)
		}
	}
}

// discardExporter drops spans: the benchmark measures making them, not
// shipping them.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTelemetry measures what metrics and tracing add to a call:
// memory get in process through Host.Invoke with metrics and tracing off
// (the peer), metrics on (the default), and tracing sampled at 100 % on
// top (spans made and batched, then dropped).
func BenchmarkTelemetry(b *testing.B) {
	for _, c := range []struct {
		name    string
		block   string
		tracing bool
	}{
		{"metrics=off/tracing=off", "telemetry {\n  metrics {\n    enabled = false\n  }\n}\n", false},
		{"metrics=on/tracing=off", "", false},
		{"metrics=on/tracing=100%", "", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var opts []host.Option
			if c.tracing {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardExporter{}))
				defer tp.Shutdown(context.Background())
				opts = append(opts, host.WithTracerProvider(tp))
			}
			benchMemoryGet(b, "resource \"memory\" \"cache\" {}\n"+c.block, opts...)
		})
	}
}
