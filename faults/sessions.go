package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sessions selects PostgreSQL sessions for KillPostgresSessions. Every
// field that is set must match; an empty Sessions matches every client
// session of the server but the caller's own.
type Sessions struct {
	// User is the login (pg_stat_activity.usename).
	User string
	// Database is the database (pg_stat_activity.datname).
	Database string
	// Application is the application_name the client set.
	Application string
}

func (s Sessions) String() string {
	var parts []string
	if s.User != "" {
		parts = append(parts, "user "+s.User)
	}
	if s.Database != "" {
		parts = append(parts, "database "+s.Database)
	}
	if s.Application != "" {
		parts = append(parts, "application "+s.Application)
	}
	if len(parts) == 0 {
		return "every client session"
	}
	return strings.Join(parts, ", ")
}

// KillPostgresSessions terminates the client sessions of the PostgreSQL
// server at adminURL that match which (pg_terminate_backend, as an
// administrator or a failover would) and waits until they are gone. It
// returns how many it terminated; it fails the test if it cannot connect,
// if the login of adminURL may not terminate them, or if one is still
// there after 5 s. The connections of the code under test see the server
// close them: their next use fails, as after a network cut that the
// client notices.
//
// adminURL's login needs the pg_signal_backend role (or to be a
// superuser, or the sessions' own login). Its password never appears in a
// failure message.
func KillPostgresSessions(t testing.TB, adminURL string, which Sessions) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		t.Fatalf("kill PostgreSQL sessions: the admin URL does not parse (%s)", pgErrorText(err))
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("kill PostgreSQL sessions: connect to %s:%d as %s: %s", cfg.Host, cfg.Port, cfg.User, pgErrorText(err))
	}
	defer func() { _ = conn.Close(context.Background()) }()

	const match = `pid <> pg_backend_pid() AND backend_type = 'client backend'
		AND ($1 = '' OR usename = $1) AND ($2 = '' OR datname = $2) AND ($3 = '' OR application_name = $3)`
	rows, err := conn.Query(ctx, `SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE `+match,
		which.User, which.Database, which.Application)
	if err != nil {
		t.Fatalf("kill PostgreSQL sessions (%s): %s", which, pgErrorText(err))
	}
	var killed []int32
	for rows.Next() {
		var pid int32
		var ok bool
		if err := rows.Scan(&pid, &ok); err != nil {
			t.Fatalf("kill PostgreSQL sessions (%s): %s", which, pgErrorText(err))
		}
		if !ok {
			t.Fatalf("kill PostgreSQL sessions (%s): pg_terminate_backend(%d) refused", which, pid)
		}
		killed = append(killed, pid)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("kill PostgreSQL sessions (%s): %s", which, pgErrorText(err))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, killed).Scan(&left); err != nil {
			t.Fatalf("kill PostgreSQL sessions (%s): %s", which, pgErrorText(err))
		}
		if left == 0 {
			return len(killed)
		}
		if time.Now().After(deadline) {
			t.Fatalf("kill PostgreSQL sessions (%s): %d of %d still there 5s after pg_terminate_backend", which, left, len(killed))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pgErrorText is err's message without the connection string, which pgx
// may quote and which may hold a password.
func pgErrorText(err error) string {
	s := err.Error()
	if i := strings.Index(s, "postgres://"); i >= 0 {
		return s[:i] + "(connection string withheld)"
	}
	if i := strings.Index(s, "postgresql://"); i >= 0 {
		return s[:i] + "(connection string withheld)"
	}
	return s
}
