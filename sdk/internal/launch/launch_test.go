package launch_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/internal/launch"
	"github.com/nebula-resource/nebula-resource/sdk/internal/selfsigned"
)

// modeEnv makes the test binary the plugin under test: "serve" serves
// probeDriver with sdk.Serve, "exit" exits at once with status 3,
// "silent" prints nothing for a minute, and "deaf" prints a handshake line
// for a socket nobody listens on and then waits, ignoring Shutdown.
const modeEnv = "LAUNCH_TEST_PLUGIN"

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "serve":
		sdk.Serve(probeDriver{})
		os.Exit(0)
	case "exit":
		os.Exit(3)
	case "silent":
		time.Sleep(time.Minute)
		os.Exit(0)
	case "deaf":
		fmt.Printf("1|1|unix|%s|grpc|\n", filepath.Join(os.TempDir(), "launch-test-nobody-listens"))
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

type probeConfig struct {
	Marker string `nebula:"marker" doc:"A file the resource writes \"closed\" to when it is closed."`
}

type probeDriver struct{}

func (probeDriver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{Name: "probe", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name:    "probe",
		Config:  sdk.MustSchemaFor(probeConfig{}),
		Pooling: sdk.PoolingShared,
	}}}
}

func (probeDriver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	var cfg probeConfig
	if err := req.Decode(&cfg); err != nil {
		return nil, err
	}
	slog.Warn("configured", "name", req.Name, "answer", 42)
	fmt.Println("printed by the plugin")
	return probeResource{cfg}, nil
}

type probeResource struct{ cfg probeConfig }

func (probeResource) Open(context.Context) (sdk.Instance, error) { return probeInstance{}, nil }
func (r probeResource) Close(context.Context) error {
	return os.WriteFile(r.cfg.Marker, []byte("closed"), 0o600)
}

type probeInstance struct{}

func (probeInstance) Check(context.Context) error { return nil }
func (probeInstance) Close(context.Context) error { return nil }

// logLines collects what the launcher logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) log(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// has reports whether a line holds every one of parts.
func (l *logLines) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(line string) bool {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				return false
			}
		}
		return true
	})
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pluginCmd runs the test binary as a plugin in mode.
func pluginCmd(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{modeEnv + "=" + mode}
	return cmd
}

func config(cmd *exec.Cmd, versions []int, tlsConfig *tls.Config, logs *logLines) launch.Config {
	return launch.Config{
		Cmd:         cmd,
		CookieKey:   sdk.MagicCookieKey,
		CookieValue: sdk.MagicCookieValue,
		Versions:    versions,
		TLS:         tlsConfig,
		DialOptions: sdk.GRPCDialOptions(),
		Log:         logs.log,
	}
}

func configure(t *testing.T, d sdk.Driver, marker string) {
	t.Helper()
	cfg, _ := json.Marshal(map[string]string{"marker": marker})
	if _, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "probe", Name: "r1", Config: cfg}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
}

func TestAPluginServedBySDKServeSpeaksVersionTwoLogsAndClosesItsResourcesOnShutdown(t *testing.T) {
	cmd := pluginCmd(t, "serve")
	ptls, err := sdk.NewPluginTLS()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ptls.Prepare(cmd); err != nil {
		t.Fatal(err)
	}
	data, err := sdk.NewDataConn(0)
	if err != nil {
		t.Fatal(err)
	}
	if data == nil {
		t.Skip("no data connection on this platform")
	}
	defer data.Close()
	data.Prepare(cmd)
	var logs logLines
	p, err := launch.Start(config(cmd, []int{1, 2}, ptls.Config(), &logs))
	for _, f := range cmd.ExtraFiles {
		_ = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.Version != 2 {
		t.Fatalf("the plugin speaks version %d, want 2", p.Version)
	}
	health, err := healthpb.NewHealthClient(p.Conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "plugin"})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health of %q: %v, %v; want SERVING", "plugin", health.GetStatus(), err)
	}
	d, err := sdk.NewRemoteDriver(t.Context(), p.Conn, data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Info().Name != "probe" {
		t.Fatalf("Info().Name = %q", d.Info().Name)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	configure(t, d, marker)

	// hclog's JSON line, as go-plugin's client parses it.
	waitFor(t, "log line with its attributes", func() bool {
		return logs.has(`"@level":"warn"`, `"@message":"configured"`, `"@timestamp":"`, `"name":"r1"`, `"answer":42`)
	})
	waitFor(t, "printed line", func() bool { return logs.has("stdout: printed by the plugin") })

	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the plugin exited")
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "closed" {
		t.Fatalf("the resource was not closed on Shutdown: %q, %v\nlog:\n%s", b, err, &logs)
	}
}

func TestAHostThatOffersOnlyVersionOneGetsIt(t *testing.T) {
	cmd := pluginCmd(t, "serve")
	var logs logLines
	p, err := launch.Start(config(cmd, []int{1}, nil, &logs))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.Version != 1 {
		t.Fatalf("the plugin speaks version %d, want 1", p.Version)
	}
	d, err := sdk.NewRemoteDriver(t.Context(), p.Conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	configure(t, d, marker)
	p.Kill()
	if b, _ := os.ReadFile(marker); string(b) != "closed" {
		t.Fatalf("the resource was not closed on Shutdown\nlog:\n%s", &logs)
	}
}

func TestAPluginAnswersAHostThatAsksForAutoMTLSWithItsOwnCertificate(t *testing.T) {
	cert, certPEM := clientCert(t)
	cmd := pluginCmd(t, "serve")
	cmd.Env = append(cmd.Env, "PLUGIN_CLIENT_CERT="+string(certPEM))
	var logs logLines
	// As go-plugin's client's AutoMTLS: its own key pair, no roots until
	// the handshake line brings the plugin's certificate.
	p, err := launch.Start(config(cmd, []int{1}, &tls.Config{
		Certificates: []tls.Certificate{cert},
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS12,
	}, &logs))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if _, err := sdk.NewRemoteDriver(t.Context(), p.Conn, nil); err != nil {
		t.Fatalf("describe over AutoMTLS: %v\nlog:\n%s", err, &logs)
	}
}

func TestAPluginRunByHandSaysWhatItIsAndFails(t *testing.T) {
	cmd := pluginCmd(t, "serve")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1", err)
	}
	// Its first line; a test binary built for coverage adds a warning of
	// its own after it.
	want := "This is a nebula-resource driver plugin (probe 1.0.0). It is started by nebula-host, not by hand."
	if first, _, _ := strings.Cut(stderr.String(), "\n"); first != want {
		t.Fatalf("stderr = %q, want its first line %q", stderr.String(), want)
	}
}

func TestAStartFailsWhenThePluginExitsOrSaysNothing(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want error
	}{
		{"exit", launch.ErrExited},
		{"silent", launch.ErrTimeout},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := pluginCmd(t, tc.mode)
			cfg := config(cmd, []int{1}, nil, &logLines{})
			// Long enough for the plugin that exits to do so on a loaded
			// machine (a test binary starting takes over 500 ms at load 15).
			cfg.StartTimeout = 2 * time.Second
			_, err := launch.Start(cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start: %v, want %v", err, tc.want)
			}
			if cmd.ProcessState == nil {
				t.Fatal("the plugin still runs after the failed start")
			}
		})
	}
}

func TestKillKillsAPluginThatDoesNotStopWhenAsked(t *testing.T) {
	cmd := pluginCmd(t, "deaf")
	cfg := config(cmd, []int{1}, nil, &logLines{})
	cfg.Grace = 200 * time.Millisecond
	p, err := launch.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.Kill()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Kill took %v", took)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Fatalf("the plugin was not killed: %v", cmd.ProcessState)
	}
	p.Kill() // twice is safe
}

// clientCert makes a self-signed client certificate for "localhost", as
// go-plugin's AutoMTLS does.
func clientCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	c, certPEM, _, err := selfsigned.New()
	if err != nil {
		t.Fatal(err)
	}
	return c, certPEM
}
