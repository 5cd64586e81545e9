package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultPGBinDir is where initdb, pg_ctl and postgres are looked for when
// $NEBULA_TEST_PG_BINDIR is not set (Debian's PostgreSQL 15).
const DefaultPGBinDir = "/usr/lib/postgresql/15/bin"

// pgWait bounds each pg_ctl start and stop.
const pgWait = 60 * time.Second

// Postgres is a private PostgreSQL cluster, for tests that stop and start
// the server under the code they test. It listens on 127.0.0.1 on a port
// of its own and trusts every local connection; the user is postgres.
type Postgres struct {
	bin  string // initdb, pg_ctl
	dir  string // ours, removed at the end; owned by owner
	data string // the cluster, and the Unix socket
	log  string
	port int

	// owner is "postgres" when the test runs as root (PostgreSQL refuses
	// to run as root, so every command runs through runuser), else "".
	owner string

	mu sync.Mutex // one pg_ctl at a time
}

// StartPostgres creates a cluster (initdb --auth=trust, fsync off) in a new
// folder under os.TempDir and starts it on a free port. When the test ends
// the server is stopped (immediate mode) and the folder removed. Binaries
// come from $NEBULA_TEST_PG_BINDIR (scripts/testenv env sets it), else
// DefaultPGBinDir.
func StartPostgres(t testing.TB, opts ...PostgresOption) *Postgres {
	t.Helper()
	var o postgresOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := pgBinDir(t)
	dir, err := os.MkdirTemp("", "nebula-faults-pg-")
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	pg := &Postgres{bin: bin, dir: dir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "postgres.log")}
	t.Cleanup(func() { pg.cleanup(t) })
	if os.Geteuid() == 0 {
		pg.owner = "postgres"
		u, err := user.Lookup(pg.owner)
		if err != nil {
			t.Fatalf("postgres: running as root, and there is no user postgres to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("postgres: %v", err)
		}
	}
	if out, err := pg.run(filepath.Join(bin, "initdb"), "-D", pg.data, "--auth=trust", "-U", "postgres",
		"-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		t.Fatalf("postgres: initdb: %v\n%s", err, out)
	}
	if o.passwords {
		// The postgres user, the test's own, is trusted; every other
		// login must give its password.
		hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
		if err := os.WriteFile(filepath.Join(pg.data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
			t.Fatalf("postgres: %v", err)
		}
		if pg.owner != "" {
			u, _ := user.Lookup(pg.owner)
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			_ = os.Chown(filepath.Join(pg.data, "pg_hba.conf"), uid, gid)
		}
	}
	// Tries a few ports: one picked free may have been taken since.
	for attempt := 1; ; attempt++ {
		pg.port = freePort(t)
		if err := pg.configure(); err != nil {
			t.Fatalf("postgres: %v", err)
		}
		err := pg.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(pg.logTail(), "could not bind") {
			t.Fatalf("postgres: start on %s: %v\n%s", pg.Addr(), err, pg.logTail())
		}
	}
	return pg
}

// PostgresOption configures StartPostgres.
type PostgresOption func(*postgresOptions)

type postgresOptions struct {
	passwords bool
}

// PasswordAuth makes every login but postgres authenticate with its
// password (scram-sha-256) over TCP, so that a test can change or revoke
// passwords; postgres, the test's own user, stays trusted.
func PasswordAuth() PostgresOption { return func(o *postgresOptions) { o.passwords = true } }

// URL is the server's connection URL (user postgres, database postgres).
func (pg *Postgres) URL() string {
	return "postgres://postgres@" + pg.Addr() + "/postgres?sslmode=disable"
}

// Addr is the server's host:port on 127.0.0.1; it stays the same across
// Stop and Start.
func (pg *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.port)) }

// Port is the port of Addr.
func (pg *Postgres) Port() int { return pg.port }

// Stop shuts the server down (pg_ctl stop -m fast: sessions are
// disconnected, then it closes its port), and waits until it has.
func (pg *Postgres) Stop(t testing.TB) {
	t.Helper()
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if out, err := pg.ctl("stop", "-m", "fast"); err != nil {
		t.Fatalf("postgres: stop %s: %v\n%s", pg.Addr(), err, out)
	}
}

// Start starts the server again on the same port and waits until it
// accepts connections.
func (pg *Postgres) Start(t testing.TB) {
	t.Helper()
	if err := pg.start(); err != nil {
		t.Fatalf("postgres: start on %s: %v\n%s", pg.Addr(), err, pg.logTail())
	}
}

// Restart is Stop and then Start.
func (pg *Postgres) Restart(t testing.TB) {
	t.Helper()
	pg.Stop(t)
	pg.Start(t)
}

func (pg *Postgres) start() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	out, err := pg.ctl("start", "-l", pg.log)
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func (pg *Postgres) cleanup(t testing.TB) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if _, err := os.Stat(filepath.Join(pg.data, "postmaster.pid")); err == nil {
		if out, err := pg.ctl("stop", "-m", "immediate"); err != nil {
			t.Errorf("postgres: stop %s at the end of the test: %v\n%s", pg.Addr(), err, out)
			return // keep the folder: a server may still be using it
		}
	}
	if err := os.RemoveAll(pg.dir); err != nil {
		t.Errorf("postgres: %v", err)
	}
}

// configure writes the settings, the port among them, to postgresql.conf.
func (pg *Postgres) configure() error {
	f, err := os.OpenFile(filepath.Join(pg.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, `
# faults (the last setting of a name wins)
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
`, pg.port, strings.ReplaceAll(pg.data, "'", "''"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ctl runs pg_ctl ACTION [ARGS] -w on the cluster.
func (pg *Postgres) ctl(action string, args ...string) ([]byte, error) {
	args = append([]string{action, "-D", pg.data, "-w", "-t", strconv.Itoa(int(pgWait.Seconds()))}, args...)
	return pg.run(filepath.Join(pg.bin, "pg_ctl"), args...)
}

// run runs a PostgreSQL program as the cluster's owner.
func (pg *Postgres) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgWait+10*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if pg.owner != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pg.owner, "--", name}, args...)...)
		cmd.Dir = "/" // the owner may not be able to enter ours
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	// pg_ctl start leaves the server running with its output in the log
	// (-l), so it holds no pipe of ours; WaitDelay guards against one that
	// would.
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

func (pg *Postgres) logTail() string {
	b, _ := os.ReadFile(pg.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// pgBinDir finds initdb, pg_ctl and postgres, or fails the test.
func pgBinDir(t testing.TB) string {
	t.Helper()
	dirs := []string{DefaultPGBinDir}
	if d := os.Getenv("NEBULA_TEST_PG_BINDIR"); d != "" {
		dirs = []string{d}
	}
	for _, d := range dirs {
		ok := true
		for _, n := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, n)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	t.Fatalf("postgres: no initdb, pg_ctl and postgres in %s (NEBULA_TEST_PG_BINDIR, else %s)\n"+
		"Run `scripts/testenv up` and `eval \"$(scripts/testenv env)\"`, which install PostgreSQL and set it.",
		dirs[0], DefaultPGBinDir)
	return ""
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("free port: %v", err)
	}
	return port
}
