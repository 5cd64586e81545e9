package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

// binDir holds nebula-host and, in plugins/, the plugins the example's
// configuration uses, built by TestMain: the layout of the image
// (/usr/local/bin/nebula-host and /usr/local/bin/plugins/).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nebula-kubernetes-example-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// build compiles the host and the postgres and redis plugins into dir, as
// deploy/docker/build-static does for the image.
func build(dir string) error {
	const module = "github.com/nebula-resource/nebula-resource"
	builds := [][]string{
		{"-o", filepath.Join(dir, "nebula-host"), module + "/cmd/nebula-host"},
		{"-o", filepath.Join(dir, "plugins", "nebula-plugin-postgres"), module + "/plugins/postgres/cmd/nebula-plugin-postgres"},
		{"-o", filepath.Join(dir, "plugins", "nebula-plugin-redis"), module + "/plugins/redis/cmd/nebula-plugin-redis"},
	}
	for _, args := range builds {
		cmd := exec.Command("go", append([]string{"build", "-trimpath"}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// What the example's manifests set (kustomization.yaml and
// deploy/kubernetes/deployment.yaml; make deploy-check checks that the
// Deployment mounts the ConfigMap and the Secret as this test lays them
// out, and points NEBULA_VAR_secrets_dir at the Secret).
const (
	namespace    = "orders"                          // kustomization.yaml: namespace
	serviceHost  = "nebula-resource.orders.svc:9464" // the Service, as a worker reaches it
	configFile   = "config/nebula.hcl"               // the ConfigMap nebula-config
	secretDir    = "secrets"                         // the Secret nebula-credentials, one file per key
	metricsKey   = "metrics-token"                   // the ServiceMonitor's bearer token
	workerKey    = "worker-token"                    // the identity orders-worker
	postgresKey  = "postgres.json"                   // the credential postgres
	postgresID   = "postgres.orders"                 // resource "postgres" "orders"
	redisID      = "redis.cache"                     // resource "redis" "cache"
	volumeStamp  = "..2026_01_01_00_00_00.000000000" // the kubelet's first data directory
	volumeNext   = "..2026_01_01_00_05_00.000000000" // and the one a changed Secret gets
	defaultPG    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedis = "127.0.0.1:6379"
)

// The example, run as its Deployment runs it: the ConfigMap's HCL and the
// Secret's keys mounted as the kubelet mounts them (links through ..data),
// the namespace and the credentials directory in NEBULA_VAR_ variables, and
// only the addresses of PostgreSQL and Redis changed, to those of
// scripts/testenv. PostgreSQL gets the role the Secret names, with its
// password. Then: the probes answer 200, Prometheus scrapes /metrics with
// the Secret's token, a worker runs SQL as the Secret's user through the
// Service's name, a rotated token takes effect without a restart, and
// SIGTERM stops the host cleanly, as the kubelet's does.
func TestExampleDeploymentServesProbesMetricsAndWorkers(t *testing.T) {
	secrets := readSecret(t)
	var pgCred struct{ Username, Password string }
	if err := json.Unmarshal(secrets[postgresKey], &pgCred); err != nil || pgCred.Username == "" {
		t.Fatalf("%s/%s: want {\"username\": ..., \"password\": ...}: %v", secretDir, postgresKey, err)
	}
	pg := postgresRole(t, pgCred.Username, pgCred.Password)

	hcl, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	configDir, secretsDir := filepath.Join(dir, "etc/nebula"), filepath.Join(dir, "var/run/secrets/nebula")
	mountVolume(t, configDir, volumeStamp, map[string][]byte{filepath.Base(configFile): hcl})
	mountVolume(t, secretsDir, volumeStamp, secrets)

	addr := freeAddress(t)
	h := startHost(t, addr, []string{
		"NEBULA_VAR_namespace=" + namespace,
		"NEBULA_VAR_secrets_dir=" + secretsDir,
		"NEBULA_VAR_postgres_host=" + pg.Host,
		"NEBULA_VAR_postgres_port=" + strconv.Itoa(int(pg.Port)),
		"NEBULA_VAR_postgres_database=" + pg.Database,
		"NEBULA_VAR_redis_address=" + redisAddress(t),
	}, "run", "-config", configDir, "-admin", addr)

	metricsToken, workerToken := string(secrets[metricsKey]), string(secrets[workerKey])

	if !t.Run("the probes answer 200", func(t *testing.T) {
		// The startupProbe, then the livenessProbe: GET /livez.
		h.waitFor(t, "/livez", time.Minute)
		// The readinessProbe: every critical resource serves.
		h.waitFor(t, "/readyz", 30*time.Second)
	}) {
		return
	}

	t.Run("readyz lists both resources to a worker", func(t *testing.T) {
		code, body := h.do(t, "GET", "/readyz?verbose", workerToken, "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /readyz?verbose: %d\n%s", code, body)
		}
		for _, want := range []string{"[+]" + postgresID + " ok", "[+]" + redisID + " ok"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /readyz?verbose: no %q in\n%s", want, body)
			}
		}
	})

	t.Run("Prometheus scrapes with the ServiceMonitor's token", func(t *testing.T) {
		code, body := h.do(t, "GET", "/metrics", metricsToken, "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /metrics with the metrics token: %d\n%s", code, body)
		}
		for _, want := range []string{"nebula_build_info{", `nebula_health_state{state="healthy",type="postgres"} `} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /metrics: no %q", want)
			}
		}
		if code, body := h.do(t, "GET", "/metrics", "", "", nil); code != http.StatusUnauthorized {
			t.Errorf("GET /metrics without a token: %d, want 401\n%s", code, body)
		}
		if code, body := h.do(t, "GET", "/metrics", workerToken, "", nil); code != http.StatusForbidden {
			t.Errorf("GET /metrics with the worker's token: %d, want 403 (the worker is not allowed admin)\n%s", code, body)
		}
	})

	t.Run("a worker runs SQL through the Service as the Secret's user", func(t *testing.T) {
		query := []byte(`{"operation": "query", "args": {"sql": "SELECT current_user"}}`)
		code, body := h.do(t, "POST", "/v1/resources/"+postgresID+"/invoke", workerToken, serviceHost, query)
		if code != http.StatusOK {
			t.Fatalf("invoke %s query through %s: %d\n%s", postgresID, serviceHost, code, body)
		}
		var res struct {
			Result struct{ Rows [][]string }
		}
		if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Result.Rows) != 1 || len(res.Result.Rows[0]) != 1 {
			t.Fatalf("invoke %s query: %v\n%s", postgresID, err, body)
		}
		if got := res.Result.Rows[0][0]; got != pgCred.Username {
			t.Errorf("the host's sessions run as %q; want the Secret's user %q", got, pgCred.Username)
		}
		// A name the admin block does not list is refused.
		if code, body := h.do(t, "POST", "/v1/resources/"+postgresID+"/invoke", workerToken, "nebula-resource.elsewhere.svc:9464", query); code != http.StatusMisdirectedRequest {
			t.Errorf("invoke through a Host of another namespace: %d, want 421\n%s", code, body)
		}
	})

	t.Run("a rotated metrics token takes effect without a restart", func(t *testing.T) {
		// The kubelet writes a changed Secret into a new directory and
		// moves ..data to it in one rename.
		next := map[string][]byte{}
		for k, v := range secrets {
			next[k] = v
		}
		rotated := metricsToken + "-rotated"
		next[metricsKey] = []byte(rotated)
		updateVolume(t, secretsDir, volumeNext, next)
		deadline := time.Now().Add(10 * time.Second)
		for {
			newCode, _ := h.do(t, "GET", "/metrics", rotated, "", nil)
			oldCode, _ := h.do(t, "GET", "/metrics", metricsToken, "", nil)
			if newCode == http.StatusOK && oldCode == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("10s after the Secret changed, the new token gets %d and the old one %d; want 200 and 401", newCode, oldCode)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The database kept serving.
		h.waitFor(t, "/readyz", 10*time.Second)
	})

	t.Run("SIGTERM stops the host cleanly", func(t *testing.T) {
		if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Within host.shutdown_timeout (25s), below the pod's grace period.
		select {
		case <-h.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("nebula-host still runs 30s after SIGTERM\n%s", h.output(t))
		}
		if code := h.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("nebula-host exited %d on SIGTERM, want 0\n%s", code, h.output(t))
		}
	})
}

// readSecret returns the keys of the example's Secret, the files its
// secretGenerator reads.
func readSecret(t *testing.T) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(secretDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(secretDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	for _, k := range []string{postgresKey, metricsKey, workerKey} {
		if len(out[k]) == 0 {
			t.Fatalf("%s/%s is missing or empty", secretDir, k)
		}
	}
	return out
}

// postgresRole makes the PostgreSQL of scripts/testenv (NEBULA_TEST_POSTGRES_URL)
// have a login role user with password, as the example's database would,
// and returns where the server is. The role is dropped when the test ends.
func postgresRole(t *testing.T, user, password string) *pgx.ConnConfig {
	t.Helper()
	u := os.Getenv("NEBULA_TEST_POSTGRES_URL")
	if u == "" {
		u = defaultPG
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatalf("NEBULA_TEST_POSTGRES_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable at NEBULA_TEST_POSTGRES_URL (%s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", u, err)
	}
	defer conn.Close(context.Background())
	role := pgx.Identifier{user}.Sanitize()
	// The password is the Secret's fake one: quoting it is enough.
	pw := "'" + strings.ReplaceAll(password, "'", "''") + "'"
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD "+pw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Errorf("dropping role %s: %v", user, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("dropping role %s: %v", user, err)
		}
	})
	return cfg
}

// redisAddress returns the Redis of scripts/testenv (NEBULA_TEST_REDIS_ADDR).
func redisAddress(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("NEBULA_TEST_REDIS_ADDR")
	if addr == "" {
		addr = defaultRedis
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("Redis is unreachable at NEBULA_TEST_REDIS_ADDR (%s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", addr, err)
	}
	_ = c.Close()
	return addr
}

// mountVolume writes files into dir as the kubelet mounts a ConfigMap or a
// Secret: into the data directory stamp, which ..data links to, each file
// a link through ..data.
func mountVolume(t *testing.T, dir, stamp string, files map[string][]byte) {
	t.Helper()
	writeData(t, dir, stamp, files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// updateVolume changes a volume mountVolume wrote as the kubelet does: the
// new files in a new data directory, then ..data moved to it in one rename.
func updateVolume(t *testing.T, dir, stamp string, files map[string][]byte) {
	t.Helper()
	writeData(t, dir, stamp, files)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func writeData(t *testing.T, dir, stamp string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, stamp, name), data, 0o440); err != nil {
			t.Fatal(err)
		}
	}
}

// freeAddress returns a loopback address nothing listens on (for now).
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// hostProcess is the nebula-host the test started.
type hostProcess struct {
	cmd    *exec.Cmd
	addr   string
	log    bytes.Buffer // stdout and stderr; read after exited
	exited chan struct{}
}

// startHost starts nebula-host with args and env added to the test's
// environment. Cleanup stops it, if the test has not.
func startHost(t *testing.T, addr string, env []string, args ...string) *hostProcess {
	t.Helper()
	h := &hostProcess{addr: addr, exited: make(chan struct{})}
	h.cmd = exec.Command(filepath.Join(binDir, "nebula-host"), args...)
	h.cmd.Env = append(os.Environ(), env...)
	h.cmd.Stdout, h.cmd.Stderr = &h.log, &h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.exited)
		_ = h.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(30 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.exited
			t.Errorf("nebula-host did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("nebula-host's log:\n%s", h.log.String())
		}
	})
	return h
}

// output returns what the host printed; only once it has exited.
func (h *hostProcess) output(t *testing.T) string {
	t.Helper()
	select {
	case <-h.exited:
		return h.log.String()
	default:
		return "(the host still runs; its log is printed when the test ends)"
	}
}

// waitFor polls path until it answers 200, as a probe does.
func (h *hostProcess) waitFor(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body := h.do(t, "GET", path, "", "", nil)
		if code == http.StatusOK {
			return
		}
		select {
		case <-h.exited:
			t.Fatalf("nebula-host exited before GET %s answered 200:\n%s", path, h.output(t))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: not 200 after %s (last: %d %q)", path, limit, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do sends one request to the host's admin endpoint, with a bearer token
// and a Host header when they are not empty, and returns the status and
// body; 0 when the host does not answer. It keeps no connection open, so
// no transport goroutine outlives the test.
func (h *hostProcess) do(t *testing.T, method, path, token, host string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, (&url.URL{Scheme: "http", Host: h.addr}).String()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return 0, err.Error()
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}
