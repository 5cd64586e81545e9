package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

// reloadConfig is a configuration of memory resources, one file each, so
// that a reload can add, remove and change files.
func writeMemory(t *testing.T, dir, name string, maxEntries int) {
	t.Helper()
	writeFile(t, dir, name+".hcl", fmt.Sprintf("resource \"memory\" %q {\n  max_entries = %d\n  pool {\n    drain_timeout = \"3s\"\n  }\n}\n", name, maxEntries))
}

// callLoad calls get on each of ids from workers until stopped, counting
// the failures by resource.
type callLoad struct {
	calls, failed atomic.Int64
	mu            sync.Mutex
	errs          []string
	stop          chan struct{}
	wg            sync.WaitGroup
}

func startCallLoad(t *testing.T, c *api.Client, ids []string, workers int) *callLoad {
	cl := &callLoad{stop: make(chan struct{})}
	for w := range workers {
		cl.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-cl.stop:
					return
				default:
				}
				id := ids[(w+i)%len(ids)]
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Invoke(ctx, id, api.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"kept"}`)})
				cancel()
				cl.calls.Add(1)
				if err != nil {
					cl.failed.Add(1)
					cl.mu.Lock()
					if len(cl.errs) < 5 {
						cl.errs = append(cl.errs, id+": "+err.Error())
					}
					cl.mu.Unlock()
				}
			}
		})
	}
	t.Cleanup(cl.halt)
	return cl
}

func (cl *callLoad) halt() {
	select {
	case <-cl.stop:
	default:
		close(cl.stop)
	}
	cl.wg.Wait()
}

func resourceIDs(t *testing.T, c *api.Client) []string {
	t.Helper()
	rs, err := c.Resources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs.Resources {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// waitFor polls cond until it holds or the limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSIGHUPReloadsUnderLoadWithoutFailingUnchangedResources(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"steady", "calm", "gone", "tuned"} {
		writeMemory(t, dir, name, 100)
	}
	addr := freeAddress(t)
	hp := startHostWith(t, dir, addr, "/readyz", "-admin", addr)
	c, err := api.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, id := range []string{"memory.steady", "memory.calm", "memory.tuned"} {
		if _, err := c.Invoke(ctx, id, api.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"kept","value":"v"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := []string{"memory.steady", "memory.calm"}
	load := startCallLoad(t, c, unchanged, 8)
	time.Sleep(500 * time.Millisecond)

	// Remove one, change one, add one; signal.
	if err := os.Remove(filepath.Join(dir, "gone.hcl")); err != nil {
		t.Fatal(err)
	}
	writeMemory(t, dir, "tuned", 200)
	writeMemory(t, dir, "fresh", 50)
	if err := hp.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := []string{"memory.calm", "memory.fresh", "memory.steady", "memory.tuned"}
	waitFor(t, 10*time.Second, "the reload", func() bool { return slices.Equal(resourceIDs(t, c), want) })
	waitFor(t, 10*time.Second, "the reload's log line", func() bool { return strings.Contains(hp.output(t), "reloaded") })
	if _, err := c.Invoke(ctx, "memory.fresh", api.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"k","value":"v"}`)}); err != nil {
		t.Errorf("the added resource does not serve: %v", err)
	}
	_, err = c.Invoke(ctx, "memory.gone", api.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"kept"}`)})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind != api.KindNotFound {
		t.Errorf("the removed resource still answers: %v", err)
	}
	// Unchanged resources were not touched: what they hold is there. The
	// changed one is a new configuration, empty.
	for id, found := range map[string]bool{"memory.steady": true, "memory.calm": true, "memory.tuned": false} {
		res, err := c.Invoke(ctx, id, api.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"kept"}`)})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		var got struct {
			Found bool `json:"found"`
		}
		if err := json.Unmarshal(res.Result, &got); err != nil {
			t.Fatal(err)
		}
		if got.Found != found {
			t.Errorf("%s: key kept found = %v after the reload, want %v", id, got.Found, found)
		}
	}

	// An invalid change is refused with file:line, and the host keeps
	// serving the configuration it has.
	bad := writeFile(t, dir, "bad.hcl", "resource \"memory\" \"broken\" {\n  max_entries = 10\n  no_such_setting = true\n}\n")
	if err := hp.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refusal in the log", func() bool { return strings.Contains(hp.output(t), "reload refused") })
	if out := hp.output(t); !strings.Contains(out, bad+":3:3: error: Unsupported argument") {
		t.Errorf("the refusal does not name %s line 3:\n%s", filepath.Base(bad), out)
	}
	if ids := resourceIDs(t, c); !slices.Equal(ids, want) {
		t.Errorf("after a refused reload the resources are %v, want %v", ids, want)
	}
	// nebula-host reload (POST /v1/reload) says the same, and exits 2.
	env := []string{"NEBULA_ADDR=" + addr}
	r := nebula(t, env, "reload")
	mustExit(t, r, 2, "reload of an invalid configuration")
	if !strings.Contains(r.stderr, bad+":3:3: error: Unsupported argument") {
		t.Errorf("nebula-host reload does not name %s:3:3:\n%s", bad, r)
	}
	// Fixed, the reload applies: the new resource starts, the others
	// stay as they are.
	writeFile(t, dir, "bad.hcl", "resource \"memory\" \"broken\" {\n  max_entries = 10\n}\n")
	r = nebula(t, env, "reload")
	mustExit(t, r, 0, "reload")
	if !strings.Contains(r.stdout, "added: memory.broken") || !strings.Contains(r.stdout, "unchanged: 4") {
		t.Errorf("nebula-host reload printed:\n%s", r)
	}
	time.Sleep(500 * time.Millisecond)
	load.halt()
	t.Logf("%d calls on the unchanged resources during four reloads, %d failed", load.calls.Load(), load.failed.Load())
	if load.failed.Load() > 0 {
		t.Errorf("%d calls failed: %v", load.failed.Load(), load.errs)
	}
	if load.calls.Load() < 100 {
		t.Errorf("only %d calls: the load did not run", load.calls.Load())
	}
}
