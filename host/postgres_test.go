package host_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// postgresURL is the real PostgreSQL server the SQL path is tested
// against; make test starts or reuses it with scripts/testenv.
func postgresURL() string {
	if u := os.Getenv("NEBULA_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func postgresHost(t *testing.T, poolBlock string) *host.Host {
	t.Helper()
	cfg := loadHCL(t, fmt.Sprintf(`
resource "postgres" "main" {
  url = %q
  pool {
    %s
  }
}`, postgresURL(), poolBlock))
	h, err := host.New(cfg, host.WithPluginDir(binDir), host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatalf("start against %s (run scripts/testenv up): %v", postgresURL(), err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func TestAMillionRowsFromPostgresStreamThroughTheHostInBoundedMemory(t *testing.T) {
	h := postgresHost(t, "max_size = 2")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	var n, sum int64
	err := host.Use(t.Context(), h, "postgres.main", func(l *host.Lease) error {
		rows, err := l.Query(t.Context(), "SELECT g, repeat('x', 32) FROM generate_series(1, $1::int) AS g", 1_000_000)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var pad string
			if err := rows.Scan(&id, &pad); err != nil {
				return err
			}
			n++
			sum += id
			if n%100_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1_000_000 || sum != 500_000_500_000 {
		t.Fatalf("read %d rows summing to %d", n, sum)
	}
	growth := int64(peak) - int64(base)
	t.Logf("1,000,000 rows through the host: heap grew by at most %.1f MiB", float64(growth)/(1<<20))
	if growth > 32<<20 {
		t.Fatalf("the host's heap grew by %d bytes, over 32 MiB", growth)
	}
}

func TestAKilledBackendConnectionIsUnavailableAndItsInstanceReplaced(t *testing.T) {
	h := postgresHost(t, "max_size = 2")
	victim, err := h.Acquire(t.Context(), "postgres.main")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Release()
	rows, err := victim.Query(t.Context(), "SELECT pg_backend_pid()")
	if err != nil {
		t.Fatal(err)
	}
	var pid int64
	for rows.Next() {
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Another session kills the victim's backend.
	if err := host.Use(t.Context(), h, "postgres.main", func(l *host.Lease) error {
		_, err := l.Exec(t.Context(), "SELECT pg_terminate_backend($1::int)", pid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = victim.Exec(t.Context(), "SELECT 1")
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("a call on the killed session: %v (kind %s), want unavailable", err, sdk.KindOf(err))
	}
	victim.Release()
	info, _ := h.DescribeResource("postgres.main")
	if info.Pool.Stat.DestroyedBroken != 1 {
		t.Fatalf("the broken instance was not destroyed: %+v", info.Pool.Stat)
	}
	// Every session handed out now works.
	for range 3 {
		if err := host.Use(t.Context(), h, "postgres.main", func(l *host.Lease) error {
			_, err := l.Exec(t.Context(), "SELECT 1")
			return err
		}); err != nil {
			t.Fatalf("after the kill: %v", err)
		}
	}
}

func TestALeaseReleasedMidTransactionGivesTheNextHolderACleanSession(t *testing.T) {
	h := postgresHost(t, "max_size = 1")
	table := fmt.Sprintf("nebula_clean_%d", os.Getpid())
	if _, err := h.Invoke(t.Context(), "postgres.main", "exec", map[string]any{"sql": "CREATE TABLE " + table + " (id int PRIMARY KEY)"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = h.Invoke(context.Background(), "postgres.main", "exec", map[string]any{"sql": "DROP TABLE IF EXISTS " + table})
	})
	l, err := h.Acquire(t.Context(), "postgres.main")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Begin(t.Context(), sdk.TxOptions{Isolation: sdk.IsolationSerializable}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(t.Context(), "INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(t.Context(), "SET search_path TO pg_catalog"); err != nil {
		t.Fatal(err)
	}
	l.Release() // neither committed nor rolled back

	// max_size 1: the next holder gets the same session, reset.
	err = host.Use(t.Context(), h, "postgres.main", func(l *host.Lease) error {
		rows, err := l.Query(t.Context(), "SELECT (SELECT count(*) FROM public."+table+"), current_setting('search_path')")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n int64
			var path string
			if err := rows.Scan(&n, &path); err != nil {
				return err
			}
			if n != 0 || path == "pg_catalog" {
				t.Errorf("the session was not clean: %d rows, search_path %q", n, path)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Begin fails as failed_precondition if a transaction were still
		// open on the session.
		if err := l.Begin(t.Context(), sdk.TxOptions{}); err != nil {
			return err
		}
		return l.Rollback(t.Context())
	})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := h.DescribeResource("postgres.main"); info.Pool.Stat.Created != 1 {
		t.Fatalf("the session was replaced, not reset: %+v", info.Pool.Stat)
	}
}

func TestABatchRunsOnPostgresInOneRoundTrip(t *testing.T) {
	h := postgresHost(t, "max_size = 1")
	table := fmt.Sprintf("nebula_batch_%d", os.Getpid())
	err := host.WithTx(t.Context(), h, "postgres.main", sdk.TxOptions{}, func(l *host.Lease) error {
		// pgx prepares a batch's statements before running them, so the
		// table must exist before the batch.
		if _, err := l.Exec(t.Context(), "CREATE TEMP TABLE "+table+" (id int PRIMARY KEY)"); err != nil {
			return err
		}
		res, err := l.Batch(t.Context(),
			host.Stmt{SQL: "INSERT INTO " + table + " VALUES ($1)", Args: []any{1}},
			host.Stmt{SQL: "INSERT INTO " + table + " VALUES ($1), ($2)", Args: []any{2, 3}},
			host.Stmt{SQL: "UPDATE " + table + " SET id = id + 10"},
		)
		if err != nil {
			return err
		}
		if len(res) != 3 || res[1].RowsAffected != 2 || res[2].RowsAffected != 3 {
			t.Errorf("results: %+v", res)
		}
		_, err = l.Batch(t.Context(),
			host.Stmt{SQL: "SAVEPOINT s"},
			host.Stmt{SQL: "INSERT INTO " + table + " VALUES (11)"},
		)
		var e *sdk.Error
		if !errors.As(err, &e) || e.Code != "23505" || sdk.KindOf(err) != sdk.KindConflict || !strings.Contains(err.Error(), "statement 2 of 2") {
			t.Errorf("duplicate in a batch: %v", err)
		}
		_, err = l.Exec(t.Context(), "ROLLBACK TO SAVEPOINT s")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAOneShotQueryCostsOneServerTransaction counts PostgreSQL's own
// xact_commit for a database only this test uses: a query on a lease of
// its own, released clean, costs one transaction (the query), with no
// reset after it.
func TestAOneShotQueryCostsOneServerTransaction(t *testing.T) {
	ctx := t.Context()
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("nebula_xact_%d", os.Getpid())
	adminURL := *u
	adminURL.Path = "/postgres"
	admin, err := pgx.Connect(ctx, adminURL.String())
	if err != nil {
		t.Fatalf("connect (run scripts/testenv up): %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	dbURL := *u
	dbURL.Path = "/" + db

	// commits runs a host on db that makes n one-shot queries, closes it,
	// and returns the transactions the database committed meanwhile. Half
	// of the queries read their result to its end, half read their row
	// and close it, as QueryRow does.
	commits := func(n int) int64 {
		t.Helper()
		read := func() int64 {
			// The backends' counts reach the view when they exit.
			for range 100 {
				var left int
				if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db).Scan(&left); err != nil {
					t.Fatal(err)
				}
				if left == 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			var x int64
			if _, err := admin.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
				t.Fatal(err)
			}
			if err := admin.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", db).Scan(&x); err != nil {
				t.Fatal(err)
			}
			return x
		}
		before := read()
		cfg := loadHCL(t, fmt.Sprintf(`
resource "postgres" "main" {
  url = %q
  pool {
    max_size = 1
  }
  health {
    interval = "1h"
  }
}`, dbURL.String()))
		h, err := host.New(cfg, host.WithPluginDir(binDir), host.WithLogger(quietLogger()))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			err := host.Use(ctx, h, "postgres.main", func(l *host.Lease) error {
				rows, err := l.Query(ctx, "SELECT $1::int8", i)
				if err != nil {
					return err
				}
				defer rows.Close()
				if !rows.Next() {
					return fmt.Errorf("no row: %v", rows.Err())
				}
				if i%2 == 1 {
					// As a QueryRow reads it: the one row, then close.
					rows.Close()
					return rows.Err()
				}
				for rows.Next() {
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Every session was released clean, whether its result was read to
		// its end or closed after its row: none was reset.
		info, _ := h.DescribeResource("postgres.main")
		if r := info.Pool.Stat.ResetCount; r != 0 {
			t.Errorf("%d of %d one-shot queries had their session reset", r, n)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		return read() - before
	}
	const n = 200
	base := commits(0)
	with := commits(n)
	perQuery := float64(with-base) / n
	t.Logf("%d one-shot queries: %d transactions (%d for a host that made none): %.2f per query", n, with, base, perQuery)
	if perQuery < 0.95 || perQuery > 1.05 {
		t.Fatalf("a one-shot query costs %.2f server transactions, want 1", perQuery)
	}
}
