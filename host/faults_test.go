package host_test

// Fault tests: real PostgreSQL behind toxiproxy, a private PostgreSQL that
// is restarted, and a postgres plugin that is killed. The servers come
// from scripts/testenv (make test starts them); faults injects
// the faults.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// proxiedPostgres puts a toxiproxy proxy in front of the test PostgreSQL
// and returns it with the URL that goes through it.
func proxiedPostgres(t *testing.T) (*faults.Proxy, string) {
	t.Helper()
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := faults.Toxiproxy(t).Proxy(t, u.Host)
	u.Host = proxy.Addr()
	return proxy, u.String()
}

// faultHost starts a host with one postgres resource, "postgres.db", at
// url with the given extra blocks.
func faultHost(t *testing.T, url, blocks string) *host.Host {
	t.Helper()
	cfg := loadHCL(t, fmt.Sprintf(`
resource "postgres" "db" {
  url = %q
  %s
}`, url, blocks))
	h, err := host.New(cfg, host.WithPluginDir(binDir), host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h
}

func execSQL(ctx context.Context, h *host.Host, sql string, args ...any) error {
	return host.Use(ctx, h, "postgres.db", func(l *host.Lease) error {
		_, err := l.Exec(ctx, sql, args...)
		return err
	})
}

func TestLatencyBeyondTheAttemptTimeoutFailsAsTimeoutOnTime(t *testing.T) {
	proxy, u := proxiedPostgres(t)
	h := faultHost(t, u, `
  pool {
    min_size = 3
    max_size = 3
  }
  resilience {
    attempt_timeout = "200ms"
  }
  health {
    interval = "1h"
  }`)
	// The first health check (within a second of start) must be over: one
	// that ran under the latency would hold an idle session for a second.
	waitFor(t, 5*time.Second, "the first health check", func() bool { return healthOf(h, "postgres.db").State == host.HealthHealthy })
	if err := execSQL(t.Context(), h, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	// The backend answers after 3 s; the attempt timeout cuts each call
	// at 200 ms. The bound leaves a loaded machine (the race detector,
	// two shared cores) most of a second of scheduling delay, and is
	// still far below the latency a call without its timeout would wait.
	proxy.AddLatency(t, 3*time.Second, 0)
	for i := range 3 {
		began := time.Now()
		err := execSQL(t.Context(), h, "SELECT 1")
		took := time.Since(began)
		if sdk.KindOf(err) != sdk.KindTimeout {
			t.Fatalf("call %d with 3 s latency: err = %v (kind %s), want timeout", i, err, sdk.KindOf(err))
		}
		if took > time.Second {
			t.Fatalf("call %d took %v, want the 200 ms attempt timeout to end it, well before the 3 s latency", i, took)
		}
		t.Logf("call %d: timeout after %v", i, took.Round(time.Millisecond))
	}
}

func TestResetPeerFailsAsUnavailableAndBadInstancesAreReplaced(t *testing.T) {
	proxy, u := proxiedPostgres(t)
	h := faultHost(t, u, `
  pool {
    min_size = 2
    max_size = 2
  }`)
	if err := execSQL(t.Context(), h, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	before, _ := h.DescribeResource("postgres.db")
	toxic := proxy.AddResetPeer(t, 0)
	for i := range 4 {
		err := execSQL(t.Context(), h, "SELECT 1")
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("call %d through reset_peer: err = %v (kind %s), want unavailable", i, err, sdk.KindOf(err))
		}
	}
	proxy.Remove(t, toxic)
	removed := time.Now()
	for {
		err := execSQL(t.Context(), h, "SELECT 1")
		if err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("after the toxic was removed: err = %v, want unavailable until it works", err)
		}
		if time.Since(removed) > 2*time.Second {
			t.Fatalf("calls still fail 2 s after the toxic was removed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("calls succeed %v after the toxic was removed", time.Since(removed).Round(time.Millisecond))
	after, _ := h.DescribeResource("postgres.db")
	if after.Pool.Stat.DestroyedBroken == 0 || after.Pool.Stat.Created <= before.Pool.Stat.Created {
		t.Fatalf("pool before %+v, after %+v: want broken instances destroyed and new ones created", before.Pool.Stat, after.Pool.Stat)
	}
}

func TestBackendDownQuarantinesAndRecoversWithoutARestart(t *testing.T) {
	proxy, u := proxiedPostgres(t)
	const interval, unhealthyAfter = 500 * time.Millisecond, 3
	h := faultHost(t, u, fmt.Sprintf(`
  pool {
    min_size = 2
  }
  health {
    interval        = %q
    jitter          = "10ms"
    unhealthy_after = %d
    healthy_after   = 2
  }`, interval, unhealthyAfter))
	waitFor(t, 5*time.Second, "healthy", func() bool { return healthOf(h, "postgres.db").State == host.HealthHealthy })

	proxy.Disable(t)
	down := time.Now()
	waitFor(t, 10*time.Second, "unhealthy", func() bool { return healthOf(h, "postgres.db").State == host.HealthUnhealthy })
	took := time.Since(down)
	if limit := interval*unhealthyAfter + 2*interval; took > limit {
		t.Fatalf("unhealthy %v after the backend went down, want within %v", took, limit)
	}
	t.Logf("unhealthy %v after the backend went down", took.Round(time.Millisecond))

	began := time.Now()
	_, err := h.Acquire(t.Context(), "postgres.db")
	if !errors.Is(err, host.ErrQuarantined) || !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("acquire while down: %v", err)
	}
	// Fast: without waiting for the backend or an instance (the acquire
	// timeout is seconds); the bound leaves a loaded machine room.
	if fast := time.Since(began); fast > 500*time.Millisecond {
		t.Fatalf("acquire while quarantined took %v, want it to fail fast", fast)
	}
	time.Sleep(10*time.Second - time.Since(down))

	proxy.Enable(t)
	back := time.Now()
	waitFor(t, 10*time.Second, "healthy again", func() bool { return healthOf(h, "postgres.db").State == host.HealthHealthy })
	if took := time.Since(back); took > 5*time.Second {
		t.Fatalf("healthy %v after the backend came back, want within 5 s", took)
	}
	t.Logf("healthy %v after the backend came back", time.Since(back).Round(time.Millisecond))
	if err := execSQL(t.Context(), h, "SELECT 1"); err != nil {
		t.Fatalf("call after recovery: %v", err)
	}
}

// writers run idempotent upserts, each key until it is acknowledged, and
// record what was acknowledged and every error's kind.
type writers struct {
	h     *host.Host
	next  atomic.Int64
	acked sync.Map // key → struct{}
	nAck  atomic.Int64
	mu    sync.Mutex
	kinds map[sdk.Kind]int
	bad   []error // errors of another kind than unavailable or timeout
}

func (w *writers) run(ctx context.Context, n int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := w.next.Add(1)
				for ctx.Err() == nil {
					cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
					err := execSQL(cctx, w.h, "INSERT INTO fault_writes (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", k, k*10)
					cancel()
					if err == nil {
						w.acked.Store(k, struct{}{})
						w.nAck.Add(1)
						break
					}
					if ctx.Err() != nil {
						return // the test is ending; this write was never acknowledged
					}
					w.record(err)
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	return &wg
}

func (w *writers) record(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := sdk.KindOf(err)
	w.kinds[k]++
	if k != sdk.KindUnavailable && k != sdk.KindTimeout {
		w.bad = append(w.bad, err)
	}
}

// resumes waits until some writes are acknowledged after now.
func (w *writers) resumes(t *testing.T, what string) {
	t.Helper()
	from := w.nAck.Load()
	began := time.Now()
	waitFor(t, 20*time.Second, "writes to resume after "+what, func() bool { return w.nAck.Load() > from+20 })
	t.Logf("writes resumed %v after %s", time.Since(began).Round(time.Millisecond), what)
}

func TestAcknowledgedWritesSurvivePluginKillAndPostgresRestart(t *testing.T) {
	pg := faults.StartPostgres(t)
	direct, err := pgx.Connect(t.Context(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec(t.Context(), "CREATE TABLE fault_writes (k bigint PRIMARY KEY, v bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	_ = direct.Close(t.Context())

	const maxSize = 4
	h := faultHost(t, pg.URL(), fmt.Sprintf(`
  pool {
    max_size = %d
  }
  health {
    interval = "200ms"
  }`, maxSize))
	w := &writers{h: h, kinds: map[sdk.Kind]int{}}
	ctx, stop := context.WithCancel(t.Context())
	wg := w.run(ctx, 8)
	w.resumes(t, "start")

	var pid int
	for _, p := range h.Plugins() {
		if p.Name == "postgres" {
			pid = p.PID
		}
	}
	if pid == 0 {
		t.Fatal("no pid for the postgres plugin")
	}
	faults.Kill(t, pid)
	w.resumes(t, "kill -9 of the postgres plugin")

	pg.Restart(t)
	w.resumes(t, "a PostgreSQL restart")
	stop()
	wg.Wait()

	w.mu.Lock()
	t.Logf("acknowledged %d writes; errors by kind: %v", w.nAck.Load(), w.kinds)
	for _, err := range w.bad {
		t.Errorf("error of another kind than unavailable or timeout: %v (kind %s)", err, sdk.KindOf(err))
	}
	w.mu.Unlock()

	direct, err = pgx.Connect(t.Context(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	present := map[int64]bool{}
	rows, err := direct.Query(t.Context(), "SELECT k FROM fault_writes")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		present[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	w.acked.Range(func(k, _ any) bool {
		if !present[k.(int64)] {
			lost++
		}
		return true
	})
	if lost > 0 {
		t.Fatalf("%d acknowledged writes are not in the table", lost)
	}

	// Nothing leaks: no lease out, no instance in use, and no more sessions
	// on the server than the pool may hold.
	// A session released dirty is reset in the background, and counts as
	// in use until its reset ends.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ri, _ := h.DescribeResource("postgres.db")
		if len(ri.Pool.Leases) == 0 && ri.Pool.Stat.InUse == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the load: %d leases out, %d instances in use", len(ri.Pool.Leases), ri.Pool.Stat.InUse)
		}
	}
	// Broken sessions are closed in the background, and the server sees a
	// killed plugin's sessions go a moment later: wait for it to settle.
	var sessions int
	waitFor(t, 10*time.Second, "the server's sessions to settle within max_size", func() bool {
		if err := direct.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&sessions); err != nil {
			t.Fatal(err)
		}
		return sessions <= maxSize
	})
}
