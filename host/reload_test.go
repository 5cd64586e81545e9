package host_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestReloadAddsRemovesAndChangesResourcesLeavingTheOthersUntouched(t *testing.T) {
	opts := []host.Option{host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger())}
	h := startHost(t, loadHCL(t, `
resource "memory" "steady" { max_entries = 10 }
resource "memory" "gone" { max_entries = 10 }
resource "memory" "tuned" {
  max_entries = 10
  pool {
    drain_timeout = "2s"
  }
}
`), opts...)
	ctx := t.Context()
	for _, id := range []string{"memory.steady", "memory.tuned"} {
		if _, err := h.Invoke(ctx, id, "set", map[string]any{"key": "k", "value": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	// A lease out on the resource that changes: it keeps serving on the
	// old configuration until released.
	held, err := h.Acquire(ctx, "memory.tuned")
	if err != nil {
		t.Fatal(err)
	}
	var calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				if _, err := h.Invoke(ctx, "memory.steady", "get", map[string]any{"key": "k"}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	rep, err := h.Reload(ctx, loadHCL(t, `
resource "memory" "steady" { max_entries = 10 }
resource "memory" "tuned" {
  max_entries = 20
  pool {
    drain_timeout = "2s"
  }
}
resource "memory" "fresh" {
  max_entries = 10
  depends_on  = [resource.memory.steady]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reload: %s", rep)
	if !slices.Equal(rep.Added, []string{"memory.fresh"}) || !slices.Equal(rep.Removed, []string{"memory.gone"}) ||
		!slices.Equal(rep.Changed, []string{"memory.tuned"}) || rep.Unchanged != 1 {
		t.Errorf("report %+v", rep)
	}
	if got := h.ResourceIDs(); !slices.Equal(got, []string{"memory.steady", "memory.tuned", "memory.fresh"}) {
		t.Errorf("resources after the reload: %v", got)
	}
	// The unchanged resource kept its data; the changed one is new.
	for id, want := range map[string]string{"memory.steady": `"found":true`, "memory.tuned": `"found":false`} {
		res, err := h.Invoke(ctx, id, "get", map[string]any{"key": "k"})
		if err != nil || !strings.Contains(string(res), want) {
			t.Errorf("%s after the reload: %s %v, want %s", id, res, err, want)
		}
	}
	// The lease taken before serves still, on the old configuration.
	if res, err := held.Invoke(ctx, "get", map[string]any{"key": "k"}); err != nil || !strings.Contains(string(res), `"found":true`) {
		t.Errorf("the lease out across the reload: %s %v", res, err)
	}
	held.Release()
	if _, err := h.Invoke(ctx, "memory.gone", "get", map[string]any{"key": "k"}); !errors.Is(err, host.ErrUnknownResource) {
		t.Errorf("the removed resource: %v", err)
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d calls on the unchanged resource failed during the reload", failed.Load(), calls.Load())
	}
	t.Logf("%d calls on the unchanged resource during the reload, none failed", calls.Load())
}

func TestAnInvalidReloadChangesNothing(t *testing.T) {
	h := startHost(t, loadHCL(t, `resource "memory" "a" { max_entries = 10 }`), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	ctx := t.Context()
	for name, src := range map[string]string{
		"unknown attribute": "resource \"memory\" \"a\" { max_entries = 10 }\nresource \"memory\" \"b\" {\n  max_entrys = 10\n}\n",
		"unknown type":      "resource \"memory\" \"a\" { max_entries = 10 }\nresource \"nosuch\" \"b\" {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := h.Reload(ctx, loadHCL(t, src))
			var de *host.DiagnosticsError
			if !errors.As(err, &de) {
				t.Fatalf("Reload: %v, want a *DiagnosticsError", err)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), "main.hcl:") {
				t.Errorf("the error does not say where: %v", err)
			}
			if got := h.ResourceIDs(); !slices.Equal(got, []string{"memory.a"}) {
				t.Errorf("resources after a refused reload: %v", got)
			}
			if _, err := h.Invoke(ctx, "memory.a", "get", map[string]any{"key": "k"}); err != nil {
				t.Errorf("the host stopped serving: %v", err)
			}
		})
	}
}

func TestReloadSwapsTheTenants(t *testing.T) {
	h := startHost(t, loadHCL(t, `
resource "memory" "a" { max_entries = 10 }
tenant "acme" {
  resources = [resource.memory.a]
}`), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	ctx := t.Context()
	if _, err := h.Invoke(ctx, "memory.a", "get", map[string]any{"key": "k"}, host.ForTenant("acme")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Reload(ctx, loadHCL(t, `
resource "memory" "a" { max_entries = 10 }
tenant "acme" {
  resources = []
}`)); err != nil {
		t.Fatal(err)
	}
	_, err := h.Invoke(ctx, "memory.a", "get", map[string]any{"key": "k"}, host.ForTenant("acme"))
	if sdk.KindOf(err) != sdk.KindPermissionDenied {
		t.Errorf("after the reload took memory.a from acme: %v", err)
	}
}
