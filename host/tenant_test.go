package host_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

const tenantsHCL = `
resource "memory" "acme_cache" { max_entries = 10 }
resource "memory" "globex_cache" { max_entries = 10 }
resource "memory" "shared" { max_entries = 10 }

tenant "acme" {
  resources = [resource.memory.acme_cache, resource.memory.shared]
  quota {
    max_leases = 2
  }
}
tenant "globex" {
  resources = [resource.memory.globex_cache, resource.memory.shared]
  quota {
    rate  = "20/s"
    burst = 5
  }
}
`

func TestATenantReachesOnlyItsResourcesAndLearnsNothingOfOthers(t *testing.T) {
	h := startHost(t, loadHCL(t, tenantsHCL), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	ctx := t.Context()
	for _, id := range []string{"memory.acme_cache", "memory.shared"} {
		if _, err := h.Invoke(ctx, id, "set", map[string]any{"key": "k", "value": "v"}, host.ForTenant("acme")); err != nil {
			t.Errorf("acme on %s: %v", id, err)
		}
	}
	var msgs []string
	for _, id := range []string{"memory.globex_cache", "memory.no_such", "nosuchtype.x"} {
		_, err := h.Invoke(ctx, id, "get", map[string]any{"key": "k"}, host.ForTenant("acme"))
		if sdk.KindOf(err) != sdk.KindPermissionDenied || !errors.Is(err, host.ErrNotPermitted) {
			t.Fatalf("acme on %s: %v (kind %s), want permission_denied", id, err, sdk.KindOf(err))
		}
		_, aerr := h.Acquire(ctx, id, host.ForTenant("acme"))
		if sdk.KindOf(aerr) != sdk.KindPermissionDenied {
			t.Errorf("acme acquiring %s: %v, want permission_denied", id, aerr)
		}
		msgs = append(msgs, err.Error())
	}
	t.Logf("refusals: %q", msgs)
	// The messages differ only by the name asked for: whether it exists
	// is not told.
	if msgs[0] != `tenant "acme" may not use "memory.globex_cache"` || msgs[1] != `tenant "acme" may not use "memory.no_such"` {
		t.Errorf("refusals %q: they must say only that the tenant may not use the name", msgs)
	}
	if _, err := h.Invoke(ctx, "memory.acme_cache", "get", map[string]any{"key": "k"}, host.ForTenant("unknown")); sdk.KindOf(err) != sdk.KindPermissionDenied {
		t.Errorf("an undeclared tenant: %v, want permission_denied", err)
	}
	// No tenant: the embedding program reaches everything.
	if _, err := h.Invoke(ctx, "memory.globex_cache", "get", map[string]any{"key": "k"}); err != nil {
		t.Errorf("no tenant: %v", err)
	}
	if !h.Reaches("globex", "memory.shared") || h.Reaches("globex", "memory.acme_cache") || !h.Reaches("", "memory.acme_cache") {
		t.Error("Reaches disagrees with the tenant blocks")
	}
}

func TestMaxLeasesHoldsUnderFiftyConcurrentCallers(t *testing.T) {
	h := startHost(t, loadHCL(t, tenantsHCL), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	var (
		holding, peak, admitted, refused atomic.Int64
		wrong                            atomic.Value
		wg                               sync.WaitGroup
	)
	deadline := time.Now().Add(time.Second)
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				l, err := h.Acquire(t.Context(), "memory.acme_cache", host.ForTenant("acme"))
				if err != nil {
					if sdk.KindOf(err) != sdk.KindResourceExhausted || sdk.RetryAfterOf(err) <= 0 {
						wrong.Store(err)
					}
					refused.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				n := holding.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				admitted.Add(1)
				_, err = l.Invoke(t.Context(), "get", map[string]any{"key": "k"})
				time.Sleep(2 * time.Millisecond)
				holding.Add(-1)
				l.Release()
				if err != nil {
					wrong.Store(err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("50 callers for 1s: %d leases admitted, %d refused, at most %d held at once", admitted.Load(), refused.Load(), peak.Load())
	if err, _ := wrong.Load().(error); err != nil {
		t.Errorf("a refusal that is not resource_exhausted with a retry-after, or a failed call: %v", err)
	}
	if peak.Load() > 2 {
		t.Errorf("%d leases held at once; max_leases is 2", peak.Load())
	}
	if peak.Load() < 2 || refused.Load() == 0 {
		t.Errorf("peak %d, %d refused: the quota was not put to the test", peak.Load(), refused.Load())
	}
	// Another tenant's quota on the shared resource is its own.
	if _, err := h.Invoke(t.Context(), "memory.shared", "get", map[string]any{"key": "k"}, host.ForTenant("globex")); err != nil {
		t.Errorf("globex: %v", err)
	}
}

func TestARateQuotaRefusesABurstWithARetryAfter(t *testing.T) {
	h := startHost(t, loadHCL(t, tenantsHCL), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	var ok, refused int
	var retry time.Duration
	for range 30 {
		_, err := h.Invoke(t.Context(), "memory.globex_cache", "get", map[string]any{"key": "k"}, host.ForTenant("globex"))
		switch {
		case err == nil:
			ok++
		case sdk.KindOf(err) == sdk.KindResourceExhausted:
			refused++
			retry = sdk.RetryAfterOf(err)
		default:
			t.Fatal(err)
		}
	}
	t.Logf("30 calls at once against 20/s burst 5: %d admitted, %d refused (retry after %v)", ok, refused, retry)
	if ok < 5 || ok > 8 || refused == 0 || retry <= 0 || retry > time.Second {
		t.Errorf("admitted %d, refused %d, retry after %v: want about the burst of 5 admitted, the rest refused with a retry-after under 1s", ok, refused, retry)
	}
}
