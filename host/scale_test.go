package host_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
)

// The per-resource cost of a running host is flat: no goroutine, no timer
// and no metric series per resource (docs/PERFORMANCE.md, make scale).

// memoryResources is a configuration of n memory resources m0 … m(n-1),
// after extra (host-level blocks).
func memoryResources(n int, extra string) string {
	var b strings.Builder
	b.WriteString(extra)
	for i := range n {
		fmt.Fprintf(&b, "resource \"memory\" \"m%d\" {}\n", i)
	}
	return b.String()
}

// settledGoroutines is the fewest goroutines seen over a short while: the
// health checks in flight come and go.
func settledGoroutines() int {
	least := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(10 * time.Millisecond)
		least = min(least, runtime.NumGoroutine())
	}
	return least
}

// allChecked waits until every resource of h has had a health check.
func allChecked(t *testing.T, h *host.Host) {
	t.Helper()
	waitFor(t, 10*time.Second, "a first health check of every resource", func() bool {
		for _, rh := range h.Health().Resources {
			if rh.LastCheck.IsZero() {
				return false
			}
		}
		return true
	})
}

func TestHostGoroutinesDoNotGrowWithResources(t *testing.T) {
	for _, mode := range []string{"in-process", "plugin"} {
		t.Run(mode, func(t *testing.T) {
			count := func(n int) int {
				cfg := loadHCL(t, memoryResources(n, ""))
				opts := []host.Option{host.WithLogger(quietLogger())}
				if mode == "in-process" {
					opts = append(opts, host.WithDriver("memory", memory.New()))
				} else {
					opts = append(opts, host.WithPluginDir(binDir))
				}
				h, err := host.New(cfg, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if err := h.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				defer func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if err := h.Close(ctx); err != nil {
						t.Errorf("Close: %v", err)
					}
				}()
				allChecked(t, h)
				return settledGoroutines()
			}
			one, many := count(1), count(200)
			t.Logf("goroutines with 1 resource: %d, with 200: %d", one, many)
			if many > one+2 {
				t.Errorf("goroutines with 200 resources = %d, with 1 = %d: they grow with the resources", many, one)
			}
		})
	}
}

func TestMetricSeriesDoNotGrowWithResourcesByDefault(t *testing.T) {
	series := func(n int, telemetry string) int {
		cfg := loadHCL(t, memoryResources(n, telemetry))
		h := startHost(t, cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
		for i := range n {
			// Every kind of series a resource may have: calls, acquires,
			// lease use, checks.
			if _, err := h.Invoke(t.Context(), fmt.Sprintf("memory.m%d", i), "set", `{"key":"k","value":"v"}`); err != nil {
				t.Fatal(err)
			}
			l, err := h.Acquire(t.Context(), fmt.Sprintf("memory.m%d", i))
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
		}
		allChecked(t, h)
		fams, err := h.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		if telemetry == "" {
			// Per type, a gauge is the sum over the type's resources.
			for _, f := range fams {
				for _, m := range f.GetMetric() {
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					if _, ok := labels["resource"]; ok {
						t.Errorf("%s has a resource label without per_resource", f.GetName())
					}
					want := -1.0
					switch {
					case f.GetName() == "nebula_health_state" && labels["state"] == "healthy":
						want = float64(n)
					case f.GetName() == "nebula_health_state":
						want = 0
					case f.GetName() == "nebula_pool_max_instances", f.GetName() == "db_client_connection_max":
						want = float64(n) // one replica each
					}
					if want >= 0 && m.GetGauge().GetValue() != want {
						t.Errorf("%d resources: %s%v = %v, want %v", n, f.GetName(), labels, m.GetGauge().GetValue(), want)
					}
				}
			}
		}
		total := 0
		for _, f := range fams {
			if name := f.GetName(); strings.HasPrefix(name, "nebula_") || strings.HasPrefix(name, "db_client_") {
				total += len(f.GetMetric())
			}
		}
		return total
	}
	one, many := series(1, ""), series(200, "")
	if one != many {
		t.Errorf("resource series: %d with 1 resource, %d with 200: by default they must not grow per resource", one, many)
	}
	perOne := series(1, "telemetry {\n  metrics {\n    per_resource = true\n  }\n}\n")
	perMany := series(5, "telemetry {\n  metrics {\n    per_resource = true\n  }\n}\n")
	if perOne != one || perMany <= perOne {
		t.Errorf("per_resource = true: %d series with 1 resource (%d per type), %d with 5: want the same as per type for one, more for five", perOne, one, perMany)
	}
}

func TestHostCloseStopsTheScheduler(t *testing.T) {
	before := goleak.IgnoreCurrent()
	cfg := loadHCL(t, memoryResources(50, "")+`resource "memory" "leased" {
  pool {
    lease_timeout = "40ms"
  }
}
`)
	h, err := host.New(cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	allChecked(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}
