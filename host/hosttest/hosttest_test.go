package hosttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/hosttest"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const cache = `
resource "memory" "cache" {}
`

func TestSlowMakesACallWithAShorterDeadlineFailAsTimeout(t *testing.T) {
	h := hosttest.New(t, cache)
	h.Resource("memory.cache").Slow(200 * time.Millisecond)

	// The deadline ends each call; the scheduler of a loaded machine may
	// add a little. The bound (60 ms) holds for the median; a
	// single call past 200 ms means the fault did not honour the deadline.
	const n = 9
	took := make([]time.Duration, n)
	for i := range n {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		began := time.Now()
		_, err := h.Invoke(ctx, "memory.cache", "get", map[string]any{"key": "k"})
		took[i] = time.Since(began)
		cancel()
		if kind := sdk.KindOf(err); kind != sdk.KindTimeout || !errors.Is(err, sdk.ErrTimeout) {
			t.Fatalf("a 50ms call to a resource slowed by 200ms: %v (kind %q, errors.Is ErrTimeout %v), want timeout", err, kind, errors.Is(err, sdk.ErrTimeout))
		}
		if took[i] >= 200*time.Millisecond {
			t.Fatalf("the call failed after %v, want it to end at its 50ms deadline", took[i])
		}
	}
	sorted := slices.Sorted(slices.Values(took))
	t.Logf("%d calls with a 50ms deadline to a resource slowed by 200ms: all timeout; median %v, slowest %v", n, sorted[n/2], sorted[n-1])
	if sorted[n/2] >= 60*time.Millisecond {
		t.Fatalf("median call failed after %v, want within 60ms (all: %v)", sorted[n/2], took)
	}

	calls := h.Resource("memory.cache").Calls()
	if len(calls) != n || calls[0].Kind != sdk.KindTimeout || !calls[0].Injected {
		t.Fatalf("calls recorded: %+v, want 9 injected timeouts", calls)
	}

	// Slow only for some operations; Slow(0) removes the delay.
	c := h.Resource("memory.cache")
	c.Slow(200*time.Millisecond, "set")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Invoke(ctx, "memory.cache", "get", map[string]any{"key": "k"}); err != nil {
		t.Fatalf("get, with only set slowed: %v", err)
	}
	c.Slow(0)
	if _, err := h.Invoke(ctx, "memory.cache", "set", map[string]any{"key": "k", "value": "v"}); err != nil {
		t.Fatalf("set after Slow(0): %v", err)
	}
}

const checked = `
resource "memory" "cache" {
  health {
    interval        = "20ms"
    jitter          = "1ms"
    timeout         = "30ms"
    unhealthy_after = 2
    healthy_after   = 2
  }
}
`

func TestPartitionQuarantinesTheResourceAndRecoverLiftsIt(t *testing.T) {
	h := hosttest.New(t, checked)
	r := h.Resource("memory.cache")
	h.AwaitHealth("memory.cache", host.HealthHealthy, 5*time.Second)

	r.Partition()
	// A call with no deadline of its own waits for the partition to heal.
	hung := make(chan error, 1)
	go func() {
		_, err := h.Invoke(context.Background(), "memory.cache", "set", map[string]any{"key": "k", "value": "v"})
		hung <- err
	}()
	rh := h.AwaitHealth("memory.cache", host.HealthUnhealthy, 5*time.Second)
	if !rh.Quarantined || rh.ConsecutiveFailures < 2 {
		t.Fatalf("unhealthy but quarantined=%v after %d failures", rh.Quarantined, rh.ConsecutiveFailures)
	}
	select {
	case err := <-hung:
		t.Fatalf("a call through the partition ended: %v", err)
	default:
	}
	if _, err := h.Acquire(t.Context(), "memory.cache"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Acquire on a quarantined resource: %v, want unavailable", err)
	}

	r.Recover()
	if err := <-hung; err != nil {
		t.Fatalf("the call held by the partition, after Recover: %v", err)
	}
	h.AwaitHealth("memory.cache", host.HealthHealthy, 5*time.Second)

	var path []string
	for _, e := range h.AwaitHealth("memory.cache", host.HealthHealthy, time.Second).History {
		if e.Kind == "health" {
			path = append(path, e.To)
		}
	}
	got := strings.Join(path, " ")
	if !strings.Contains(got, "unhealthy recovering healthy") {
		t.Fatalf("health history %q, want it to pass through unhealthy, recovering and back to healthy", got)
	}
	t.Logf("health history: %s", got)
}

func TestFailAndFailNextInjectErrorsOfTheirKind(t *testing.T) {
	h := hosttest.New(t, `
resource "memory" "cache" {
  resilience {
    retry {
      max_attempts = 3
      backoff      = "1ms"
    }
  }
}
`)
	r := h.Resource("memory.cache")
	ctx := t.Context()

	r.Fail(sdk.KindPermissionDenied, "set")
	_, err := h.Invoke(ctx, "memory.cache", "set", map[string]any{"key": "k", "value": "v"})
	if !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Fatalf("set with set failing: %v, want permission_denied", err)
	}
	var ce *host.CallError
	if !errors.As(err, &ce) || ce.Resource != "memory.cache" || ce.Operation != "set" {
		t.Fatalf("error %v is not a CallError naming memory.cache set", err)
	}
	if _, err := h.Invoke(ctx, "memory.cache", "get", map[string]any{"key": "k"}); err != nil {
		t.Fatalf("get, with only set failing: %v", err)
	}
	r.Recover()
	r.ResetCalls()

	// Two unavailable gets, then the retry policy's third attempt passes.
	r.FailNext(2, sdk.KindUnavailable, "get")
	if _, err := h.Invoke(ctx, "memory.cache", "get", map[string]any{"key": "k"}); err != nil {
		t.Fatalf("get failing twice, with 3 attempts: %v", err)
	}
	calls := r.Calls()
	if len(calls) != 3 || calls[0].Kind != sdk.KindUnavailable || calls[1].Kind != sdk.KindUnavailable || calls[2].Failed() {
		t.Fatalf("calls %+v, want two injected unavailable, then one that passed", calls)
	}
	if r.Reached("get") != 3 {
		t.Fatalf("Reached(get) = %d, want 3", r.Reached("get"))
	}

	// A caller's mistake never reaches the driver and meets no fault.
	r.Fail(sdk.KindUnavailable)
	if _, err := h.Invoke(ctx, "memory.cache", "get", map[string]any{"key": 7}); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("get with a number for a key: %v, want invalid_argument", err)
	}
	if n := len(r.Calls()); n != 3 {
		t.Fatalf("%d calls recorded, want the refused call not to be", n)
	}
}

func TestSQLStatementsMeetFaultsAndAreRecorded(t *testing.T) {
	db := filepath.Join(t.TempDir(), "test.db")
	h := hosttest.New(t, fmt.Sprintf(`
resource "sqlite" "db" {
  path = %q
}
`, db))
	r := h.Resource("sqlite.db")
	err := host.Use(t.Context(), h.Host, "sqlite.db", func(l *host.Lease) error {
		if _, err := l.Exec(t.Context(), "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)"); err != nil {
			return err
		}
		if _, err := l.Exec(t.Context(), "INSERT INTO orders (id, total) VALUES (?, ?)", 1, 250); err != nil {
			return err
		}
		r.Fail(sdk.KindUnavailable, "exec")
		_, err := l.Exec(t.Context(), "INSERT INTO orders (id, total) VALUES (?, ?)", 2, 300)
		if sdk.KindOf(err) != sdk.KindUnavailable {
			return fmt.Errorf("insert with exec failing: %v, want unavailable", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Recover()
	// The failed insert broke the session (unavailable): the next lease
	// has a new one, and the table holds the first row only.
	err = host.Use(t.Context(), h.Host, "sqlite.db", func(l *host.Lease) error {
		rows, err := l.Query(t.Context(), "SELECT count(*) FROM orders")
		if err != nil {
			return err
		}
		defer rows.Close()
		var n int
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				return err
			}
		}
		if n != 1 {
			return fmt.Errorf("%d rows, want 1", n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := r.Calls()
	var ops []string
	for _, c := range calls {
		ops = append(ops, c.Operation)
	}
	if got := strings.Join(ops, " "); got != "exec exec exec query" {
		t.Fatalf("operations recorded %q, want exec exec exec query", got)
	}
	if got := string(calls[1].Args); got != `{"args":[1,250],"sql":"INSERT INTO orders (id, total) VALUES (?, ?)"}` {
		t.Fatalf("the insert recorded as %s", got)
	}
	if calls[2].Kind != sdk.KindUnavailable || !calls[2].Injected {
		t.Fatalf("the failed insert recorded as %+v", calls[2])
	}
}

// vault is a driver whose configuration holds a token and whose
// operation takes a password: Calls must show neither.
type vaultConfig struct {
	Token string `nebula:"token,sensitive" doc:"API token."`
}

type vaultInstance struct{}

func (vaultInstance) Check(context.Context) error { return nil }
func (vaultInstance) Close(context.Context) error { return nil }

type loginArgs struct {
	User     string `nebula:"user" doc:"Who logs in."`
	Password string `nebula:"password,sensitive" doc:"Their password."`
	Note     string `nebula:"note" default:"" doc:"Free text."`
}

type vaultResource struct{}

func (vaultResource) Open(context.Context) (sdk.Instance, error) { return vaultInstance{}, nil }
func (vaultResource) Close(context.Context) error                { return nil }

func vaultDriver() sdk.Driver {
	return sdk.NewDriver("vault", "1.0.0", sdk.ResourceDef[vaultConfig, vaultInstance]{
		Name:      "vault",
		Configure: func(context.Context, string, vaultConfig) (sdk.Resource, error) { return vaultResource{}, nil },
		Operations: []sdk.Op[vaultInstance]{
			sdk.NewOp("login", "Logs in.", func(_ vaultInstance, _ context.Context, a loginArgs) (string, error) {
				return "welcome " + a.User, nil
			}),
		},
	})
}

func TestCallsMaskSensitiveArgumentsAndSettings(t *testing.T) {
	h := hosttest.New(t, `
variable "token" {
  sensitive = true
}
resource "vault" "main" {
  token = var.token
}
`, hosttest.WithDriver("vault", vaultDriver()), hosttest.WithVariables(map[string]string{"token": "tok-s3cr3t"}))
	res, err := h.Invoke(t.Context(), "vault.main", "login", map[string]any{
		"user": "ada", "password": "hunter2", "note": "my token is tok-s3cr3t",
	})
	if err != nil || string(res) != `"welcome ada"` {
		t.Fatalf("login: %s %v", res, err)
	}
	calls := h.Resource("vault.main").Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls recorded, want 1", len(calls))
	}
	args := string(calls[0].Args)
	if strings.Contains(args, "hunter2") || strings.Contains(args, "tok-s3cr3t") {
		t.Fatalf("recorded arguments hold a secret: %s", args)
	}
	var got map[string]string
	if err := json.Unmarshal(calls[0].Args, &got); err != nil {
		t.Fatal(err)
	}
	if got["user"] != "ada" || got["password"] != "(sensitive)" || got["note"] != "my token is (sensitive)" {
		t.Fatalf("recorded arguments %s", args)
	}
}

// recorder is a testing.TB that records failures instead of failing:
// the tests of the end-of-test checks must see them fail.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprint(args...))
}
func (r *recorder) Errorf(format string, args ...any) { r.Error(fmt.Sprintf(format, args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.Error(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	runtime.Goexit()
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.failures, "\n")
}

// capture runs fn with a recorder, on a goroutine of its own so that a
// Fatalf ends only fn, and returns the failures.
func capture(t *testing.T, fn func(tb testing.TB)) string {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(rec)
	}()
	<-done
	return rec.text()
}

func TestALeaseNotReleasedFailsTheTest(t *testing.T) {
	failures := capture(t, func(tb testing.TB) {
		h := hosttest.New(tb, cache)
		if _, err := h.Acquire(t.Context(), "memory.cache", host.ForWorkflow("checkout"), host.ForStep("reserve")); err != nil {
			tb.Fatal(err)
		}
		h.Close()
	})
	for _, want := range []string{"1 lease was not released", "memory.cache", "workflow=checkout step=reserve", "defer lease.Release()"} {
		if !strings.Contains(failures, want) {
			t.Fatalf("failures %q do not say %q", failures, want)
		}
	}

	// Released, nothing fails.
	if failures := capture(t, func(tb testing.TB) {
		h := hosttest.New(tb, cache)
		l, err := h.Acquire(t.Context(), "memory.cache")
		if err != nil {
			tb.Fatal(err)
		}
		l.Release()
		h.Close()
	}); failures != "" {
		t.Fatalf("a test that released its lease failed: %s", failures)
	}
}

func TestAGoroutineLeftRunningFailsTheTest(t *testing.T) {
	stop := make(chan struct{})
	failures := capture(t, func(tb testing.TB) {
		h := hosttest.New(tb, cache)
		go func() { <-stop }() // a workflow's goroutine nobody stops
		h.Close()
	})
	close(stop)
	if !strings.Contains(failures, "goroutines still running") || !strings.Contains(failures, "TestAGoroutineLeftRunningFailsTheTest") {
		t.Fatalf("failures %q do not report the goroutine", failures)
	}
}

func TestAConfigurationErrorFailsWithItsLine(t *testing.T) {
	failures := capture(t, func(tb testing.TB) {
		hosttest.New(tb, `
resource "memory" "cache" {
  max_entries = "many"
}
`)
	})
	if !strings.Contains(failures, "main.hcl line 3") || !strings.Contains(failures, `Attribute "max_entries" wants int`) {
		t.Fatalf("failures %q do not name main.hcl line 3 and max_entries", failures)
	}

	failures = capture(t, func(tb testing.TB) {
		hosttest.New(tb, `resource "redis" "cache" {}`)
	})
	if !strings.Contains(failures, `"redis"`) || !strings.Contains(failures, "hosttest.WithDriver") {
		t.Fatalf("failures %q do not name the type and WithDriver", failures)
	}
}

func TestNewResourcesFromGoValues(t *testing.T) {
	h := hosttest.NewResources(t, []hosttest.ResourceConfig{
		{Type: "memory", Name: "sessions", Attributes: map[string]any{"max_entries": 100, "default_ttl": time.Minute}},
		{
			Type: "memory", Name: "cache", DependsOn: []string{"memory.sessions"},
			Blocks: map[string]map[string]any{"health": {"interval": 50 * time.Millisecond}},
		},
	})
	ri, err := h.DescribeResource("memory.cache")
	if err != nil {
		t.Fatal(err)
	}
	if len(ri.DependsOn) != 1 || ri.DependsOn[0] != "memory.sessions" {
		t.Fatalf("memory.cache depends on %v, want memory.sessions", ri.DependsOn)
	}
	if _, err := h.Invoke(t.Context(), "memory.sessions", "set", map[string]any{"key": "a", "value": "b"}); err != nil {
		t.Fatal(err)
	}

	failures := capture(t, func(tb testing.TB) {
		hosttest.NewResources(tb, []hosttest.ResourceConfig{{Type: "memory", Name: "x", Attributes: map[string]any{"f": func() {}}}})
	})
	if !strings.Contains(failures, "resource memory.x: attribute f: a func() cannot be written as HCL") {
		t.Fatalf("failures %q", failures)
	}
}

func TestStreamsMeetFaultsAndAreRecorded(t *testing.T) {
	h := hosttest.New(t, fmt.Sprintf(`
resource "localfs" "files" {
  root = %q
}
`, t.TempDir()))
	r := h.Resource("localfs.files")
	err := host.Use(t.Context(), h.Host, "localfs.files", func(l *host.Lease) error {
		if _, err := l.InvokeStream(t.Context(), "put", map[string]any{"key": "a.txt"}, strings.NewReader("hello"), nil); err != nil {
			return err
		}
		var got strings.Builder
		if _, err := l.InvokeStream(t.Context(), "get", map[string]any{"key": "a.txt"}, nil, &got); err != nil {
			return err
		}
		if got.String() != "hello" {
			return fmt.Errorf("get read %q", got.String())
		}
		r.FailNext(1, sdk.KindUnavailable, "get")
		_, err := l.InvokeStream(t.Context(), "get", map[string]any{"key": "a.txt"}, nil, &got)
		if !errors.Is(err, sdk.ErrUnavailable) {
			return fmt.Errorf("get with get failing: %v, want unavailable", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range r.Calls() {
		ops = append(ops, fmt.Sprintf("%s:%s", c.Operation, c.Kind))
	}
	if got := strings.Join(ops, " "); got != "put: get: get:unavailable" {
		t.Fatalf("calls recorded: %s", got)
	}
}
