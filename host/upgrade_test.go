package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nebula-resource/nebula-resource/host"
)

// buildStamped builds a plugin with a release version stamped in, so that
// its binary differs from the one TestMain built.
func buildStamped(t *testing.T, pkg, version, out string) {
	t.Helper()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-ldflags", "-X github.com/nebula-resource/nebula-resource/internal/release.version="+version, "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
}

// installAtomically puts the binary src at dst the way an installer
// does: a copy renamed over the old file, which the running process
// keeps.
func installAtomically(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(dst), ".staged-"+filepath.Base(dst))
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func pluginInfo(h *host.Host, name string) host.PluginInfo {
	for _, p := range h.Plugins() {
		if p.Name == name {
			return p
		}
	}
	return host.PluginInfo{}
}

// processGone reports whether no process has the pid.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestHotPluginUpgradeUnderEightWritersLosesNothing(t *testing.T) {
	next := filepath.Join(t.TempDir(), "nebula-plugin-postgres")
	buildStamped(t, "./plugins/postgres/cmd/nebula-plugin-postgres", "v9.9.9-upgrade", next)
	dir := t.TempDir()
	installAtomically(t, pluginPath("postgres"), filepath.Join(dir, "nebula-plugin-postgres"))

	direct, err := pgx.Connect(t.Context(), postgresURL())
	if err != nil {
		t.Fatalf("connect to %s (run scripts/testenv up): %v", postgresURL(), err)
	}
	defer direct.Close(context.Background())
	table := fmt.Sprintf("upgrade_writes_%d", time.Now().UnixNano())
	if _, err := direct.Exec(t.Context(), "CREATE TABLE "+table+" (id bigint PRIMARY KEY, writer int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = direct.Exec(context.Background(), "DROP TABLE "+table) }()

	src := fmt.Sprintf(`
host {
  plugin_dir = %q
}
resource "postgres" "main" {
  url = %q
  pool {
    min_size      = 2
    max_size      = 8
    drain_timeout = "5s"
  }
}`, dir, postgresURL())
	var logs syncBuffer
	h := startHost(t, loadHCL(t, src), host.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	old := pluginInfo(h, "postgres")
	if old.PID == 0 || old.Version == "v9.9.9-upgrade" {
		t.Fatalf("plugin before the upgrade: %+v", old)
	}

	// 8 writers insert rows with ids of their own; a row whose insert
	// returned no error is acknowledged and must be in the table after.
	var (
		acked, failed atomic.Int64
		mu            sync.Mutex
		ackedIDs      []int64
		firstErr      error
		stop          = make(chan struct{})
		wg            sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := int64(w)<<40 | i
				err := host.Use(t.Context(), h, "postgres.main", func(l *host.Lease) error {
					_, err := l.Exec(t.Context(), "INSERT INTO "+table+" (id, writer) VALUES ($1, $2)", id, w)
					return err
				})
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				acked.Add(1)
				mu.Lock()
				ackedIDs = append(ackedIDs, id)
				mu.Unlock()
			}
		})
	}
	waitFor(t, 10*time.Second, "writes before the upgrade", func() bool { return acked.Load() > 200 })

	// A new binary that does not start: the reload fails, nothing
	// changes, the old plugin serves on.
	broken := filepath.Join(t.TempDir(), "nebula-plugin-postgres")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	installAtomically(t, broken, filepath.Join(dir, "nebula-plugin-postgres"))
	before := acked.Load()
	if _, err := h.Reload(t.Context(), loadHCL(t, src)); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("reload with a binary that cannot start: %v; want an error saying the running plugin serves on", err)
	} else {
		t.Logf("rolled back: %v", err)
	}
	if p := pluginInfo(h, "postgres"); p.PID != old.PID || p.SHA256 != old.SHA256 {
		t.Fatalf("after the failed upgrade the plugin is %+v; want the old one (pid %d)", p, old.PID)
	}
	waitFor(t, 10*time.Second, "writes after the rollback", func() bool { return acked.Load() > before+200 })

	// A binary that starts but is another plugin, which does not offer
	// the type: refused the same way.
	installAtomically(t, pluginPath("memory"), filepath.Join(dir, "nebula-plugin-postgres"))
	if _, err := h.Reload(t.Context(), loadHCL(t, src)); err == nil || !strings.Contains(err.Error(), `does not offer resource type "postgres"`) {
		t.Fatalf("reload with a binary of another plugin: %v; want an error naming the type it drops", err)
	}
	if p := pluginInfo(h, "postgres"); p.PID != old.PID {
		t.Fatalf("after the refused upgrade the plugin is %+v; want the old one (pid %d)", p, old.PID)
	}

	// The new binary: started beside the old, new leases go to it, the
	// old drains and stops.
	installAtomically(t, next, filepath.Join(dir, "nebula-plugin-postgres"))
	began := time.Now()
	rep, err := h.Reload(t.Context(), loadHCL(t, src))
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	t.Logf("reload: %s (%v)", rep, time.Since(began).Round(time.Millisecond))
	if len(rep.Upgraded) != 1 || !strings.HasSuffix(rep.Upgraded[0], "-> v9.9.9-upgrade") || len(rep.Changed) != 1 {
		t.Fatalf("report %s; want postgres upgraded and postgres.main changed", rep)
	}
	now := pluginInfo(h, "postgres")
	if now.Version != "v9.9.9-upgrade" || now.PID == old.PID {
		t.Fatalf("plugin after the upgrade: %+v", now)
	}
	waitFor(t, 10*time.Second, "the old plugin process to exit", func() bool { return processGone(old.PID) })
	gone := time.Since(began)
	before = acked.Load()
	waitFor(t, 10*time.Second, "writes on the new plugin", func() bool { return acked.Load() > before+200 })
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d writes failed during the upgrade; first: %v", failed.Load(), acked.Load()+failed.Load(), firstErr)
	}
	var rows int64
	if err := direct.QueryRow(t.Context(), "SELECT count(*) FROM "+table+" WHERE id = ANY($1)", ackedIDs).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != int64(len(ackedIDs)) {
		t.Fatalf("%d acknowledged writes, %d of them in the table: %d lost", len(ackedIDs), rows, int64(len(ackedIDs))-rows)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("plugin upgraded; the old process has stopped")) {
		t.Fatalf("no log of the old plugin stopping:\n%s", logs.String())
	}
	t.Logf("8 writers: %d acknowledged writes, all in the table, 0 failed; old plugin (pid %d) gone %v after the reload began (drain_timeout 5s)",
		len(ackedIDs), old.PID, gone.Round(time.Millisecond))
}
