package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/pool"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// recorder is an in-process driver that records the order of its
// lifecycle calls. Resources named "bad..." fail to configure.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) record(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) index(e string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Index(r.events, e)
}

func (r *recorder) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "rec", Version: "1", Types: []sdk.ResourceType{{
		Name: "rec", Pooling: sdk.PoolingShared,
		Operations: []sdk.Operation{{Name: "ping", Idempotent: true}},
	}}}
}

func (r *recorder) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	time.Sleep(5 * time.Millisecond) // so that order, not luck, decides the test
	if strings.HasPrefix(req.Name, "bad") {
		return nil, sdk.Errorf(sdk.KindUnavailable, "backend of %s unreachable", req.Name)
	}
	r.record("configure " + req.Name)
	return &recRes{r: r, name: req.Name}, nil
}

type recRes struct {
	r    *recorder
	name string
}

func (x *recRes) Open(context.Context) (sdk.Instance, error) { return recInst{}, nil }
func (x *recRes) Close(context.Context) error {
	time.Sleep(5 * time.Millisecond)
	x.r.record("close " + x.name)
	return nil
}

type recInst struct{}

func (recInst) Check(context.Context) error { return nil }
func (recInst) Close(context.Context) error { return nil }
func (recInst) Invoke(context.Context, sdk.InvokeRequest) (any, error) {
	return map[string]bool{"pong": true}, nil
}

func TestLevelsStartInOrderAndStopInReverse(t *testing.T) {
	rec := &recorder{}
	cfg := loadHCL(t, `
resource "rec" "c" { depends_on = [resource.rec.b] }
resource "rec" "b" { depends_on = [resource.rec.a] }
resource "rec" "d" { depends_on = [resource.rec.a] }
resource "rec" "a" {}
`)
	h, _ := host.New(cfg, host.WithDriver("rec", rec), host.WithLogger(quietLogger()))
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := func(a, b string) {
		t.Helper()
		if ia, ib := rec.index(a), rec.index(b); ia < 0 || ib < 0 || ia > ib {
			t.Errorf("want %q before %q; events: %v", a, b, rec.events)
		}
	}
	before("configure a", "configure b")
	before("configure a", "configure d")
	before("configure b", "configure c")
	before("close c", "close b")
	before("close b", "close a")
	before("close d", "close a")
}

func TestAFailedDependencyKeepsItsDependentsDown(t *testing.T) {
	src := `
resource "rec" "bad" {}
resource "rec" "app" { depends_on = [resource.rec.bad] }
resource "rec" "web" { depends_on = [resource.rec.app] }
resource "rec" "other" {}
`
	t.Run("Start fails and says why", func(t *testing.T) {
		h, _ := host.New(loadHCL(t, src), host.WithDriver("rec", &recorder{}), host.WithLogger(quietLogger()))
		err := h.Start(t.Context())
		for _, want := range []string{"rec.bad start: backend of bad unreachable", "rec.app start: not started: its dependency rec.bad did not start", "rec.web start: not started: its dependency rec.app did not start"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Start: %v; want it to contain %q", err, want)
			}
		}
		if !errors.Is(err, host.ErrDependencyFailed) {
			t.Errorf("Start: %v does not wrap ErrDependencyFailed", err)
		}
	})
	t.Run("partial start keeps the rest up", func(t *testing.T) {
		h := startHost(t, loadHCL(t, src), host.WithDriver("rec", &recorder{}), host.WithLogger(quietLogger()), host.WithPartialStart())
		states := map[string]host.ResourceInfo{}
		for _, r := range h.Describe() {
			states[r.ID] = r
		}
		if s := states["rec.bad"]; s.State != host.StateFailed || !strings.Contains(s.Error, "unreachable") {
			t.Errorf("rec.bad: %+v", s)
		}
		if s := states["rec.app"]; s.State != host.StateBlocked || !strings.Contains(s.Error, "rec.bad did not start") {
			t.Errorf("rec.app: %s %q", s.State, s.Error)
		}
		if s := states["rec.web"]; s.State != host.StateBlocked {
			t.Errorf("rec.web: %s", s.State)
		}
		if s := states["rec.other"]; s.State != host.StateReady {
			t.Errorf("rec.other: %s", s.State)
		}
		if h.Ready() {
			t.Error("host ready with resources down")
		}
		if _, err := h.Acquire(t.Context(), "rec.app"); !errors.Is(err, host.ErrNotReady) || !strings.Contains(err.Error(), "rec.bad") {
			t.Errorf("Acquire of a blocked resource: %v", err)
		}
		if _, err := h.Invoke(t.Context(), "rec.other", "ping", nil); err != nil {
			t.Errorf("the independent resource: %v", err)
		}
	})
}

// sessionHost runs the probe plugin's exclusive "session" type with the
// given pool block, and returns the file its counters land in.
func sessionHost(t *testing.T, poolBlock, extra string, opts ...host.Option) (*host.Host, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "sessions.json")
	cfg := loadHCL(t, fmt.Sprintf(`
plugin "probe" {
  path = %q
}
resource "session" "db" {
  state_file = %q
  %s
  pool {
    %s
  }
}`, pluginPath("probe"), state, extra, poolBlock))
	h, err := host.New(cfg, append([]host.Option{host.WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h, state
}

func readSessions(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func TestMaxOpenConnsThroughThePlugin(t *testing.T) {
	h, state := sessionHost(t, `max_size = 10`, `open_delay = "2ms"`)
	var (
		wg     sync.WaitGroup
		inUse  sync.Map
		shared atomic.Int64
	)
	for range 100 {
		wg.Go(func() {
			for range 5 {
				err := host.Use(context.Background(), h, "session.db", func(l *host.Lease) error {
					out, err := l.Invoke(context.Background(), "id", nil)
					if err != nil {
						return err
					}
					var got struct {
						ID    int
						Dirty bool
					}
					_ = json.Unmarshal(out, &got)
					if got.Dirty {
						return fmt.Errorf("session %d reached a new holder without a reset", got.ID)
					}
					if _, dup := inUse.LoadOrStore(got.ID, true); dup {
						shared.Add(1)
					}
					time.Sleep(200 * time.Microsecond)
					inUse.Delete(got.ID)
					return nil
				}, host.ForTenant("t"))
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := shared.Load(); n > 0 {
		t.Errorf("%d times one session served two leases at once", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s := readSessions(t, state)
	if s["max_concurrent_opens"] > 10 {
		t.Errorf("%d concurrent Opens, max_size is 10", s["max_concurrent_opens"])
	}
	if s["open"] != 0 || s["opened"] != s["closed"] || s["opened"] > 10 {
		t.Errorf("after Close the plugin reports %v", s)
	}
	t.Logf("plugin counters after Close: %v", s)
}

func TestExhaustionIsAResourceExhaustedErrorNamingThePool(t *testing.T) {
	h, _ := sessionHost(t, `
    max_size        = 1
    acquire_timeout = "50ms"`, "")
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	l, err := h.Acquire(t.Context(), "session.db")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	_, err = h.Acquire(t.Context(), "session.db")
	var ee *pool.ExhaustedError
	if sdk.KindOf(err) != sdk.KindResourceExhausted || !errors.As(err, &ee) {
		t.Fatalf("got %v (kind %s), want resource_exhausted with an ExhaustedError", err, sdk.KindOf(err))
	}
	if ee.Pool != "session.db" || ee.MaxSize != 1 || ee.Waiting != 1 || ee.Waited < 50*time.Millisecond {
		t.Fatalf("got %+v", ee)
	}
	info, _ := h.DescribeResource("session.db")
	if info.Pool.Stat.TimeoutCount != 1 || info.Pool.Mode != sdk.PoolingExclusive || info.Pool.Settings.MaxSize != 1 || len(info.Pool.Leases) != 1 {
		t.Fatalf("describe: %+v", info.Pool)
	}
}

func TestLeaseHeldPastItsTimeoutIsReportedAndReclaimed(t *testing.T) {
	for _, reclaim := range []bool{false, true} {
		t.Run(fmt.Sprintf("reclaim=%v", reclaim), func(t *testing.T) {
			var logs syncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			cfg := loadHCL(t, fmt.Sprintf(`
resource "memory" "cache" {
  pool {
    lease_timeout = "50ms"
    reclaim       = %v
  }
}`, reclaim))
			h := startHost(t, cfg, host.WithDriver("memory", memory.New()), host.WithLogger(log))
			l, err := h.Acquire(t.Context(), "memory.cache", host.WithOwner(host.Owner{Tenant: "acme", Workflow: "wf-7", Step: "load"}))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			waitFor(t, 5*time.Second, "the report", func() bool {
				return strings.Contains(logs.String(), `"tenant":"acme","workflow":"wf-7","step":"load"`)
			})
			_, err = l.Invoke(t.Context(), "stats", nil)
			if reclaim {
				if !errors.Is(err, host.ErrLeaseReclaimed) || !strings.Contains(logs.String(), "reclaimed") {
					t.Fatalf("call on a reclaimed lease: %v", err)
				}
				info, _ := h.DescribeResource("memory.cache")
				if len(info.Pool.Leases) != 0 {
					t.Fatalf("reclaimed lease still listed: %+v", info.Pool.Leases)
				}
				// The shared replica serves other leases: reclaiming one
				// lease must not close it.
				if info.Pool.Stat.DestroyedBroken != 0 || info.Pool.Stat.Total != 1 {
					t.Fatalf("reclaim closed the shared replica: %+v", info.Pool.Stat)
				}
				if _, err := h.Invoke(t.Context(), "memory.cache", "stats", nil); err != nil {
					t.Fatalf("a new lease after the reclaim: %v", err)
				}
			} else if err != nil {
				t.Fatalf("a reported lease still works: %v", err)
			}
		})
	}
}

func TestCallDecodesTheResultAndUseAlwaysReleases(t *testing.T) {
	h := startHost(t, loadHCL(t, `resource "memory" "cache" {}`), host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	if _, err := h.Invoke(t.Context(), "memory.cache", "set", map[string]string{"key": "a", "value": "1"}); err != nil {
		t.Fatal(err)
	}
	got, err := host.Call[struct {
		Value string
		Found bool
	}](t.Context(), h, "memory.cache", "get", map[string]string{"key": "a"})
	if err != nil || got.Value != "1" || !got.Found {
		t.Fatalf("Call: %+v %v", got, err)
	}
	boom := errors.New("boom")
	if err := host.Use(t.Context(), h, "memory.cache", func(*host.Lease) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Use: %v", err)
	}
	if info, _ := h.DescribeResource("memory.cache"); info.Pool.Stat.InUse != 0 || len(info.Pool.Leases) != 0 {
		t.Fatalf("lease not released: %+v", info.Pool)
	}
}

func TestAPluginRestartBringsBackOnlyWhatItTookDown(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sessions.json")
	cfg := loadHCL(t, fmt.Sprintf(`
plugin "probe" {
  path = %q
}
resource "session" "down" {
  state_file = %q
  fail_open  = true
}
resource "probe" "app" {
  depends_on = [resource.session.down]
}
resource "probe" "other" {}
`, pluginPath("probe"), state))
	h := startHost(t, cfg, host.WithLogger(quietLogger()), host.WithPartialStart(), host.WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond))
	pid := h.Plugins()[0].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "probe.other to come back", func() bool {
		info, _ := h.DescribeResource("probe.other")
		return h.Plugins()[0].Restarts == 1 && info.State == host.StateReady
	})
	for name, want := range map[string]host.ResourceState{"session.down": host.StateFailed, "probe.app": host.StateBlocked} {
		if info, _ := h.DescribeResource(name); info.State != want {
			t.Errorf("%s after the restart: %s (%s), want %s", name, info.State, info.Error, want)
		}
	}
}

func TestKilledPluginUnderExclusiveLeasesRecovers(t *testing.T) {
	h, _ := sessionHost(t, `max_size = 4`, "", host.WithRestartBackoff(20*time.Millisecond, 200*time.Millisecond))
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	pid := h.Plugins()[0].PID
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		badKinds atomic.Int64
		ok       atomic.Int64
	)
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				err := host.Use(context.Background(), h, "session.db", func(l *host.Lease) error {
					_, err := l.Invoke(context.Background(), "id", nil)
					return err
				})
				switch k := sdk.KindOf(err); {
				case err == nil:
					ok.Add(1)
				case k != sdk.KindUnavailable:
					t.Logf("error of kind %s: %v", k, err)
					badKinds.Add(1)
				default:
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := ok.Load()
	waitFor(t, 10*time.Second, "exclusive leases to work again", func() bool { return h.Ready() && ok.Load() > before+50 })
	stop.Store(true)
	wg.Wait()
	if n := badKinds.Load(); n > 0 {
		t.Errorf("%d errors of a kind other than unavailable", n)
	}
}

func TestCheckWarnsAboutPoolSettingsWithNoEffect(t *testing.T) {
	cfg := loadHCL(t, `
resource "memory" "cache" {
  pool {
    max_size = 5
    replicas = 2
    order    = "fifo"
  }
}`)
	diags, err := host.Check(t.Context(), cfg, host.WithDriver("memory", memory.New()), host.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, `shared mode, where these settings do nothing: max_size, order.`) || diags[0].Subject == nil {
		t.Fatalf("diagnostics: %v", diags)
	}
}
