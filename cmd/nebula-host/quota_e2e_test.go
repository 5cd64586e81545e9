package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

// TestTwoHostsShareARedisRateQuota runs two host processes whose tenant
// has a rate quota of 100/s kept in one Redis (quota_store): callers
// hammering both for 10 s get 100 ± 10 calls a second admitted between
// the two, and the rest refused as resource_exhausted with a retry-after.
func TestTwoHostsShareARedisRateQuota(t *testing.T) {
	redisAddr := os.Getenv("NEBULA_TEST_REDIS_ADDR")
	if redisAddr == "" {
		t.Skip("NEBULA_TEST_REDIS_ADDR is not set: run scripts/testenv up, then eval \"$(scripts/testenv env)\"")
	}
	// A tenant of its own per run: the quota's key in Redis is new.
	tenant := fmt.Sprintf("t%d", time.Now().UnixNano())
	src := fmt.Sprintf(`
host {
  quota_store = resource.redis.quota
}

resource "redis" "quota" {
  addresses = [%q]
}

resource "memory" "jobs" {
  max_entries = 100
}

tenant %q {
  resources = [resource.memory.jobs]
  quota {
    rate  = "100/s"
    burst = 10
  }
}
`, redisAddr, tenant)
	var clients []*api.Client
	for i := range 2 {
		dir := t.TempDir()
		addr := freeAddress(t)
		path := writeFile(t, dir, "main.hcl", src)
		startHostWith(t, path, addr, "/readyz", "-admin", addr)
		c, err := api.NewClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		_ = i
	}
	const window = 10 * time.Second
	var admitted, refused, wrong atomic.Int64
	var firstWrong atomic.Value
	var perHost [2]atomic.Int64
	stop := time.Now().Add(window)
	var wg sync.WaitGroup
	for i, c := range clients {
		for range 6 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := c.Invoke(ctx, "memory.jobs", api.InvokeRequest{
						Operation: "get", Args: json.RawMessage(`{"key":"k"}`), Owner: &api.Owner{Tenant: tenant},
					})
					cancel()
					var ae *api.Error
					switch {
					case err == nil:
						admitted.Add(1)
						perHost[i].Add(1)
					case errors.As(err, &ae) && ae.Kind == api.KindResourceExhausted:
						refused.Add(1)
					default:
						wrong.Add(1)
						firstWrong.CompareAndSwap(nil, err.Error())
					}
				}
			})
		}
	}
	wg.Wait()
	rate := float64(admitted.Load()-10) / window.Seconds() // the burst comes on top
	t.Logf("two hosts over %v: %d admitted (%d and %d), %d refused: %.1f/s admitted between them (quota 100/s, burst 10)",
		window, admitted.Load(), perHost[0].Load(), perHost[1].Load(), refused.Load(), rate)
	if wrong.Load() > 0 {
		t.Errorf("%d calls failed otherwise than resource_exhausted; the first: %v", wrong.Load(), firstWrong.Load())
	}
	if rate < 90 || rate > 110 {
		t.Errorf("%.1f calls/s admitted between the two hosts; want 100 ± 10", rate)
	}
	if perHost[0].Load() < 100 || perHost[1].Load() < 100 || refused.Load() < 1000 {
		t.Errorf("one host was hardly admitted, or few calls were refused: the hosts did not compete for one quota")
	}
	// The store answered all along: health says so.
	h, err := clients[0].Health(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h.QuotaStore == nil || h.QuotaStore.Degraded {
		t.Errorf("health's quota_store is %+v, want the redis store, not degraded", h.QuotaStore)
	}
}

// TestAHostServesOnLocalLimitsWhileItsQuotaStoreIsDown: with the Redis of
// quota_store unreachable from the start, the host starts, is ready (the
// quota store does not count for readiness), applies the tenant's rate by
// itself, and says so in health.
func TestAHostServesOnLocalLimitsWhileItsQuotaStoreIsDown(t *testing.T) {
	dead := freeAddress(t) // nothing listens there
	src := fmt.Sprintf(`
host {
  quota_store = resource.redis.quota
}

resource "redis" "quota" {
  addresses = [%q]
}

resource "memory" "jobs" {
  max_entries = 100
}

tenant "acme" {
  resources = [resource.memory.jobs]
  quota {
    rate  = "20/s"
    burst = 5
  }
}
`, dead)
	addr := freeAddress(t)
	hp := startHostWith(t, writeFile(t, t.TempDir(), "main.hcl", src), addr, "/readyz", "-admin", addr)
	c, err := api.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	var ok, refused int
	began := time.Now()
	for time.Since(began) < 2*time.Second {
		_, err := c.Invoke(t.Context(), "memory.jobs", api.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"k"}`), Owner: &api.Owner{Tenant: "acme"}})
		var ae *api.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ae) && ae.Kind == api.KindResourceExhausted:
			refused++
			if ae.RetryAfter() <= 0 || ae.RetryAfter() > time.Second {
				t.Fatalf("a quota refusal says retry after %v: %v", ae.RetryAfter(), err)
			}
		default:
			t.Fatal(err)
		}
	}
	t.Logf("quota store down: %d admitted, %d refused in 2s by the local limit of 20/s (burst 5)", ok, refused)
	if ok < 30 || ok > 50 || refused == 0 {
		t.Errorf("%d admitted in 2s; the local limit of 20/s (burst 5) admits about 45", ok)
	}
	h, err := c.Health(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h.QuotaStore == nil || !h.QuotaStore.Degraded || h.Status == api.HealthHealthy {
		t.Errorf("health: status %s, quota_store %+v; want degraded", h.Status, h.QuotaStore)
	}
	if !strings.Contains(hp.output(t), "quota store did not start") {
		t.Errorf("the log does not say the quota store did not start:\n%s", hp.output(t))
	}
}
