package host_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/host"
)

// pgAdmin connects to pg as postgres, the test's trusted superuser.
func pgAdmin(t *testing.T, pg *faults.Postgres) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func mustExec(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// sessionsOf counts the server sessions of a login.
func sessionsOf(t *testing.T, c *pgx.Conn, login string) int {
	t.Helper()
	var n int
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", login).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// writeAtomically replaces path's contents the way secret managers do:
// a new file renamed over the old.
func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// loadRunner runs queries through the host from workers until stopped,
// counting calls, failures and the logins that served them.
type loadRunner struct {
	calls, failures atomic.Int64
	mu              sync.Mutex
	users           map[string]int64
	firstErr        error
	stop            chan struct{}
	wg              sync.WaitGroup
}

func runLoad(t *testing.T, h *host.Host, id string, workers int) *loadRunner {
	lr := &loadRunner{users: map[string]int64{}, stop: make(chan struct{})}
	for range workers {
		lr.wg.Go(func() {
			for {
				select {
				case <-lr.stop:
					return
				default:
				}
				var user string
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := host.Use(ctx, h, id, func(l *host.Lease) error {
					rows, err := l.Query(ctx, "SELECT current_user::text")
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
						if err := rows.Scan(&user); err != nil {
							return err
						}
					}
					return rows.Err()
				})
				cancel()
				lr.calls.Add(1)
				lr.mu.Lock()
				if err != nil {
					lr.failures.Add(1)
					if lr.firstErr == nil {
						lr.firstErr = err
					}
				} else {
					lr.users[user]++
				}
				lr.mu.Unlock()
			}
		})
	}
	t.Cleanup(lr.halt)
	return lr
}

func (lr *loadRunner) halt() {
	select {
	case <-lr.stop:
	default:
		close(lr.stop)
	}
	lr.wg.Wait()
}

// waitUser waits until a call is served by login.
func (lr *loadRunner) waitUser(t *testing.T, login string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for time.Since(began) < within {
		lr.mu.Lock()
		n := lr.users[login]
		lr.mu.Unlock()
		if n > 0 {
			return time.Since(began)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no call served by %s within %v", login, within)
	return 0
}

func (lr *loadRunner) report(t *testing.T) {
	t.Helper()
	lr.mu.Lock()
	defer lr.mu.Unlock()
	t.Logf("%d calls, %d failed, by login: %v", lr.calls.Load(), lr.failures.Load(), lr.users)
	if lr.failures.Load() > 0 {
		t.Errorf("%d of %d calls failed; the first: %v", lr.failures.Load(), lr.calls.Load(), lr.firstErr)
	}
}

// TestCredentialFileRotationUnderLoadDrainsTheOldLogin: 16 workers query
// PostgreSQL through the host while the credential file moves from one
// login to another; no call fails, and within drain_timeout the old
// login has no session left, so it can be dropped.
func TestCredentialFileRotationUnderLoadDrainsTheOldLogin(t *testing.T) {
	pg := faults.StartPostgres(t, faults.PasswordAuth())
	adm := pgAdmin(t, pg)
	mustExec(t, adm, "CREATE ROLE app1 LOGIN PASSWORD 'secret-one'")
	dir := t.TempDir()
	credFile := filepath.Join(dir, "pg.json")
	writeAtomically(t, credFile, []byte(`{"username": "app1", "password": "secret-one"}`))
	const drainTimeout = 5 * time.Second
	cfg := loadHCL(t, fmt.Sprintf(`
credential "pg" {
  source = "file"
  path   = %q
}
resource "postgres" "main" {
  host     = "127.0.0.1"
  port     = %d
  database = "postgres"
  sslmode  = "disable"
  user     = credential.pg.username
  password = credential.pg.password
  pool {
    min_size      = 2
    max_size      = 8
    drain_timeout = "%s"
  }
}`, credFile, pg.Port(), drainTimeout))
	var logs syncBuffer
	h := startHost(t, cfg, host.WithPluginDir(binDir), host.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	lr := runLoad(t, h, "postgres.main", 16)
	lr.waitUser(t, "app1", 5*time.Second)
	time.Sleep(time.Second)

	mustExec(t, adm, "CREATE ROLE app2 LOGIN PASSWORD 'secret-two'")
	rotated := time.Now()
	writeAtomically(t, credFile, []byte(`{"username": "app2", "password": "secret-two"}`))
	took := lr.waitUser(t, "app2", 5*time.Second)
	t.Logf("first call as app2 %v after the file changed", took.Round(time.Millisecond))

	// The old login's sessions drain and close within drain_timeout.
	var left int
	for {
		left = sessionsOf(t, adm, "app1")
		if left == 0 || time.Since(rotated) > drainTimeout+2*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	drained := time.Since(rotated)
	if left != 0 {
		t.Fatalf("%d sessions of app1 remain %v after the rotation (drain_timeout %v)", left, drained.Round(time.Millisecond), drainTimeout)
	}
	if drained > drainTimeout {
		t.Errorf("app1's sessions took %v to close; drain_timeout is %v", drained, drainTimeout)
	}
	t.Logf("no session of app1 left %v after the file changed", drained.Round(time.Millisecond))
	mustExec(t, adm, "DROP ROLE app1")
	time.Sleep(time.Second) // load on the new login only
	lr.halt()
	lr.report(t)
	if n := sessionsOf(t, adm, "app2"); n == 0 {
		t.Error("no session of app2: the host is not on the new login")
	}
	for _, secret := range []string{"secret-one", "secret-two"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the host's log holds the password %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "credentials rotated") {
		t.Errorf("the log does not say the credentials rotated:\n%s", logs.String())
	}
}

// TestAnOpenRefusedForItsPasswordRefreshesTheCredentialOnce: the role's
// password changes while the exec source's cached value (expiry 2 s) is
// still the old one; the opens it refuses read the credential again and
// retry on the new value, so no call fails over 20 s.
func TestAnOpenRefusedForItsPasswordRefreshesTheCredentialOnce(t *testing.T) {
	pg := faults.StartPostgres(t, faults.PasswordAuth())
	adm := pgAdmin(t, pg)
	mustExec(t, adm, "CREATE ROLE app2 LOGIN PASSWORD 'pw-first'")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	runs := filepath.Join(dir, "runs")
	if err := os.WriteFile(pwFile, []byte("pw-first"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "pgcred")
	// Prints the password the file holds, valid for 2 s.
	if err := os.WriteFile(script, []byte(`#!/bin/sh
echo run >> `+runs+`
exp=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)
printf '{"username": "app2", "password": "%s", "expiration": "%s"}\n' "$(cat `+pwFile+`)" "$exp"
`), 0o700); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
credential "pg" {
  source  = "exec"
  command = [%q]
}
resource "postgres" "main" {
  host     = "127.0.0.1"
  port     = %d
  database = "postgres"
  sslmode  = "disable"
  user     = credential.pg.username
  password = credential.pg.password
  pool {
    min_size      = 2
    max_size      = 8
    max_lifetime  = "300ms"
    drain_timeout = "5s"
  }
}`, script, pg.Port())
	cfg := loadHCL(t, src)
	var logs syncBuffer
	h := startHost(t, cfg, host.WithPluginDir(binDir), host.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	lr := runLoad(t, h, "postgres.main", 16)
	time.Sleep(3 * time.Second)
	changes := 0
	for i := range 4 {
		if i == 2 {
			// A reload that changes nothing reads the credentials into a
			// new store: the refresh on a refused open goes on working.
			rep, err := h.Reload(t.Context(), loadHCL(t, src))
			if err != nil || rep.Unchanged != 1 {
				t.Fatalf("reload: %+v %v", rep, err)
			}
		}
		pw := fmt.Sprintf("pw-%d", i)
		// The command answers the new password at once; the host's cached
		// value stays the old one until the command runs again.
		if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
		mustExec(t, adm, "ALTER ROLE app2 PASSWORD '"+pw+"'")
		changes++
		time.Sleep(4 * time.Second)
	}
	time.Sleep(3 * time.Second)
	lr.halt()
	lr.report(t)
	refreshed := strings.Count(logs.String(), "open was refused for its credentials")
	t.Logf("%d password changes; %d opens refused and refreshed the credential; the command ran %d times", changes, refreshed, countLines(t, runs))
	if refreshed == 0 {
		t.Errorf("no open was refused and retried: the test did not exercise the refresh on authentication failure")
	}
	for i := range 4 {
		if strings.Contains(logs.String(), fmt.Sprintf("pw-%d", i)) {
			t.Errorf("the host's log holds the password pw-%d", i)
		}
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}
