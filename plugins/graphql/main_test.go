package graphql_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/graphql"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// binDir holds the binaries the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "graphql-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// serverBinary is testenv's graphqlserver, built once.
var serverBinary = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(binDir, "graphqlserver")
	build := exec.Command("go", "build", "-o", bin, "./cmd/graphqlserver")
	build.Dir = filepath.Join(root, "testenv")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build testenv/cmd/graphqlserver: %v\n%s", err, b)
	}
	return bin, nil
})

// server is a graphqlserver of the test's own.
type server struct {
	addr   string      // host:port
	events chan string // the lines it prints after its address (-log-events)
}

// waitEvent waits for the server to print the line want, skipping
// others.
func (s *server) waitEvent(t testing.TB, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got, ok := <-s.events:
			if !ok {
				t.Fatalf("the server exited before printing %q", want)
			}
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("the server did not print %q within 20s", want)
		}
	}
}

// url is the server's endpoint, http://host:port/graphql.
func (s *server) url() string { return "http://" + s.addr + "/graphql" }

// startServer builds (once) and starts testenv's graphqlserver with args,
// reads the address it prints, and kills it when the test ends, waiting
// for the process.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	bin, err := serverBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{events: make(chan string, 1024)}
	addr := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() { // until the process's stdout closes
		defer close(s.events)
		sc := bufio.NewScanner(stdout)
		for first := true; sc.Scan(); first = false {
			if first {
				addr <- sc.Text()
				continue
			}
			select {
			case s.events <- sc.Text():
			default: // nobody waits for that many
			}
		}
		close(addr)
	})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		wg.Wait()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("graphqlserver's stderr:\n%s", stderr.String())
		}
	})
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("graphqlserver exited without printing its address")
		}
		s.addr = strings.TrimSpace(a)
	case <-time.After(30 * time.Second):
		t.Fatal("graphqlserver printed no address within 30s")
	}
	return s
}

// config is a graphql resource's configuration for the server at url,
// with more attributes merged in.
func config(t testing.TB, url string, more map[string]any) string {
	t.Helper()
	c := map[string]any{"base_url": url, "ack_timeout": "10s"}
	for k, v := range more {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// open opens an instance of a graphql resource of cfg, through the
// plugin protocol (gRPC, in process).
func open(t testing.TB, cfg string) *sdktest.Instance {
	t.Helper()
	return sdktest.Open(t, sdktest.Connect(t, graphql.New()), sdk.ConfigureRequest{Type: graphql.TypeName, Name: "api", Config: json.RawMessage(cfg)})
}

// invoke calls op with args (a JSON object) and returns the result's
// JSON.
func invoke(t testing.TB, inst *sdktest.Instance, op, args string) (json.RawMessage, error) {
	t.Helper()
	res, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
	if err != nil {
		return nil, err
	}
	if raw, ok := res.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(res)
}

// args encodes operation arguments.
func args(t testing.TB, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
