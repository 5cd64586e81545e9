package faults_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/faults"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// latency is the delay the latency test injects.
const latency = 300 * time.Millisecond

// sharedPostgres is the URL of the machine's PostgreSQL (never stopped by
// these tests); it fails the test if the server does not answer.
func sharedPostgres(t *testing.T) *url.URL {
	t.Helper()
	s := os.Getenv("NEBULA_TEST_POSTGRES_URL")
	if s == "" {
		s = defaultPostgresURL
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("NEBULA_TEST_POSTGRES_URL: %v", err)
	}
	conn, err := connect(t, u.String())
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable at %s (NEBULA_TEST_POSTGRES_URL): %v\n"+
			"Run `scripts/testenv up` and `eval \"$(scripts/testenv env)\"`.", u.Redacted(), err)
	}
	closeConn(conn)
	return u
}

// proxied is a proxy in front of the shared PostgreSQL, and the URL that
// goes through it.
func proxied(t *testing.T) (*faults.Proxy, string) {
	t.Helper()
	u := sharedPostgres(t)
	p := faults.Toxiproxy(t).Proxy(t, u.Host)
	via := *u
	via.Host = p.Addr()
	return p, via.String()
}

// connect opens a pgx connection, closed at the end of the test; waits at
// most 30 s.
func connect(t *testing.T, u string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { closeConn(conn) })
	return conn, nil
}

func mustConnect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := connect(t, u)
	if err != nil {
		t.Fatalf("connect %s: %v", u, err)
	}
	return conn
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// selectOne runs SELECT 1 (limit: 30 s) and says how long it took.
func selectOne(conn *pgx.Conn) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	var one int
	err := conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	if err == nil && one != 1 {
		err = fmt.Errorf("SELECT 1 returned %d", one)
	}
	return time.Since(start), err
}

func mustSelectOne(t *testing.T, conn *pgx.Conn) time.Duration {
	t.Helper()
	d, err := selectOne(conn)
	if err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	return d
}

func TestProxyPassesQueries(t *testing.T) {
	t.Parallel()
	p, u := proxied(t)
	if p.Host() != "127.0.0.1" || p.Port() <= 0 || p.Addr() != net.JoinHostPort(p.Host(), fmt.Sprint(p.Port())) {
		t.Fatalf("proxy address: host %q port %d addr %q", p.Host(), p.Port(), p.Addr())
	}
	conn := mustConnect(t, u)
	mustSelectOne(t, conn)
	// The connection goes to the proxy, not straight to the server.
	if got := conn.PgConn().Conn().RemoteAddr().String(); got != p.Addr() {
		t.Fatalf("connected to %s, want the proxy %s", got, p.Addr())
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	p, u := proxied(t)
	conn := mustConnect(t, u)
	mustSelectOne(t, conn) // prepare and cache the statement

	toxic := p.AddLatency(t, latency, 0)
	if d := mustSelectOne(t, conn); d < latency {
		t.Fatalf("SELECT 1 with a %v latency toxic took %v", latency, d)
	}
	// A new connection is slow too.
	slow := mustConnect(t, u)
	if d := mustSelectOne(t, slow); d < latency {
		t.Fatalf("SELECT 1 on a new connection with a %v latency toxic took %v", latency, d)
	}

	p.Remove(t, toxic)
	if got := p.Toxics(t); len(got) != 0 {
		t.Fatalf("toxics after Remove: %v", got)
	}
	// With the toxic in place no query is faster than the latency; the
	// fastest of a few proves it is gone without an upper bound that a
	// busy machine could break.
	fastest := time.Hour
	for range 5 {
		fastest = min(fastest, mustSelectOne(t, conn))
	}
	if fastest >= latency {
		t.Fatalf("after removing the latency toxic the fastest SELECT 1 took %v", fastest)
	}
	t.Logf("SELECT 1: fastest %v without the toxic", fastest)
}

func TestResetPeer(t *testing.T) {
	t.Parallel()
	p, u := proxied(t)
	conn := mustConnect(t, u)
	mustSelectOne(t, conn)

	p.AddResetPeer(t, 0)
	// An open connection is cut when the reply comes.
	if _, err := selectOne(conn); err == nil {
		t.Fatal("SELECT 1 on an open connection worked despite reset_peer")
	} else {
		t.Logf("open connection: %v", err)
	}
	if !conn.IsClosed() {
		t.Error("pgx does not consider the reset connection closed")
	}
	// A new connection is reset during the handshake.
	_, err := connect(t, u)
	if err == nil {
		t.Fatal("connect worked despite reset_peer")
	}
	t.Logf("new connection: %v", err)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connect failed with %v, want connection reset by peer", err)
	}

	p.RemoveAll(t)
	mustSelectOne(t, mustConnect(t, u))
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	const after = 500 * time.Millisecond
	p, u := proxied(t)
	conn := mustConnect(t, u)
	mustSelectOne(t, conn)

	toxic := p.AddTimeout(t, after)
	d, err := selectOne(conn)
	if err == nil {
		t.Fatal("SELECT 1 worked despite the timeout toxic")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SELECT 1 hit the test's 30 s limit instead of the toxic's close: %v", err)
	}
	if d < after {
		t.Fatalf("SELECT 1 failed after %v, before the toxic's %v: %v", d, after, err)
	}
	t.Logf("after %v: %v", d, err)

	p.Remove(t, toxic)
	mustSelectOne(t, mustConnect(t, u))
}

func TestTimeoutZeroHangs(t *testing.T) {
	t.Parallel()
	const wait = time.Second
	p, u := proxied(t)
	conn := mustConnect(t, u)
	mustSelectOne(t, conn)

	p.AddTimeout(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	var one int
	err := conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SELECT 1 under timeout 0: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d < wait {
		t.Fatalf("SELECT 1 gave up after %v, before the deadline", d)
	}
}

func TestDisableEnable(t *testing.T) {
	t.Parallel()
	p, u := proxied(t)
	conn := mustConnect(t, u)
	mustSelectOne(t, conn)

	p.Disable(t)
	if _, err := selectOne(conn); err == nil {
		t.Fatal("SELECT 1 on an open connection worked with the proxy disabled")
	} else {
		t.Logf("open connection: %v", err)
	}
	_, err := connect(t, u)
	if err == nil {
		t.Fatal("connect worked with the proxy disabled")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect with the proxy disabled: %v, want connection refused", err)
	}

	p.Enable(t)
	mustSelectOne(t, mustConnect(t, u))
}

func TestProxyRemovedAtCleanup(t *testing.T) {
	t.Parallel()
	u := sharedPostgres(t)
	var addr string
	t.Run("inner", func(t *testing.T) {
		p := faults.Toxiproxy(t).Proxy(t, u.Host)
		addr = p.Addr()
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	})
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err == nil {
		_ = c.Close()
		t.Fatalf("%s still accepts connections after its test ended", addr)
	}
}

func TestPrivatePostgresStopStart(t *testing.T) {
	t.Parallel()
	pg := faults.StartPostgres(t)
	if !strings.Contains(pg.URL(), pg.Addr()) {
		t.Fatalf("URL %s does not name %s", pg.URL(), pg.Addr())
	}
	conn := mustConnect(t, pg.URL())
	mustSelectOne(t, conn)

	pg.Stop(t)
	if _, err := selectOne(conn); err == nil {
		t.Fatal("SELECT 1 on an open connection worked with the server stopped")
	}
	_, err := connect(t, pg.URL())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect with the server stopped: %v, want connection refused", err)
	}

	pg.Start(t)
	mustSelectOne(t, mustConnect(t, pg.URL()))

	// Restart: the same port, a fresh server (a new backend start time).
	c := mustConnect(t, pg.URL())
	var before, after time.Time
	if err := c.QueryRow(context.Background(), "SELECT pg_postmaster_start_time()").Scan(&before); err != nil {
		t.Fatal(err)
	}
	pg.Restart(t)
	c = mustConnect(t, pg.URL())
	if err := c.QueryRow(context.Background(), "SELECT pg_postmaster_start_time()").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.After(before) {
		t.Fatalf("server start time %v after Restart, %v before", after, before)
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	faults.Kill(t, cmd.Process.Pid)
	select {
	case err := <-waited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("sleep ended with %v", err)
		}
		ws, ok := exit.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("sleep ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("sleep still running 30 s after Kill")
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestToxiproxyUnreachableFails(t *testing.T) {
	t.Setenv("NEBULA_TEST_TOXIPROXY", "127.0.0.1:1")
	f := &fatalTB{TB: t}
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		faults.Toxiproxy(f)
		returned = true
	}()
	if <-done {
		t.Fatal("Toxiproxy returned with nothing listening")
	}
	if !strings.Contains(f.msg, "scripts/testenv up") {
		t.Fatalf("failure without the hint: %q", f.msg)
	}
}

// redisAddr is the test Redis server; make test starts or reuses it.
func redisAddr() string {
	if a := os.Getenv("NEBULA_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// redisPing sends one RESP PING on a new connection to addr and waits for
// +PONG, bounded by ctx.
func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("redis answered %q", buf)
	}
	return nil
}

func TestProxyInFrontOfRedis(t *testing.T) {
	proxy := faults.Toxiproxy(t).Proxy(t, redisAddr())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := redisPing(ctx, proxy.Addr()); err != nil {
		t.Fatalf("PING through the proxy: %v (is Redis up? run scripts/testenv up)", err)
	}

	toxic := proxy.AddLatency(t, 300*time.Millisecond, 0)
	began := time.Now()
	if err := redisPing(ctx, proxy.Addr()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Fatalf("PING with 300 ms latency took %v", took)
	}
	proxy.Remove(t, toxic)

	proxy.Disable(t)
	if err := redisPing(ctx, proxy.Addr()); err == nil {
		t.Fatal("PING succeeded through a disabled proxy")
	}
	proxy.Enable(t)
	if err := redisPing(ctx, proxy.Addr()); err != nil {
		t.Fatalf("PING after Enable: %v", err)
	}
}

func TestKillPostgresSessions(t *testing.T) {
	t.Parallel()
	u := sharedPostgres(t)
	app := fmt.Sprintf("faults-test-%d", os.Getpid())
	victim := *u
	q := victim.Query()
	q.Set("application_name", app)
	victim.RawQuery = q.Encode()
	a, b := mustConnect(t, victim.String()), mustConnect(t, victim.String())
	bystander := mustConnect(t, u.String())
	mustSelectOne(t, a)

	if n := faults.KillPostgresSessions(t, u.String(), faults.Sessions{Application: app}); n != 2 {
		t.Fatalf("killed %d sessions of %s, want 2", n, app)
	}
	for _, c := range []*pgx.Conn{a, b} {
		if _, err := selectOne(c); err == nil {
			t.Fatal("SELECT 1 on a killed session worked")
		}
	}
	mustSelectOne(t, bystander) // another application's session is untouched
	if n := faults.KillPostgresSessions(t, u.String(), faults.Sessions{Application: app}); n != 0 {
		t.Fatalf("killed %d sessions the second time, want 0", n)
	}
}
