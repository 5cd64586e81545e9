package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// buildGraphQL builds testenv's graphqlserver, once.
var buildGraphQL = sync.OnceValues(func() (server string, err error) {
	server = filepath.Join(binDir, "graphqlserver")
	build := exec.Command("go", "build", "-o", server, "./cmd/graphqlserver")
	build.Dir = filepath.Join(moduleRoot, "testenv")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build testenv/cmd/graphqlserver: %v\n%s", err, out)
	}
	return server, nil
})

// startGraphQLServer starts testenv's graphqlserver on a free port and
// returns its endpoint's URL; it is killed when the test ends.
func startGraphQLServer(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := buildGraphQL()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("graphqlserver printed no address: %v", err)
	}
	return "http://" + strings.TrimSpace(line) + "/graphql"
}

// graphqlConfig writes a configuration of one graphql resource, api, at
// url, and an admin address.
func graphqlConfig(t *testing.T, url, more string) (path, addr string) {
	t.Helper()
	addr = freeAddress(t)
	path = writeFile(t, t.TempDir(), "main.hcl", fmt.Sprintf(`admin {
  address = %q
}

resource "graphql" "api" {
  base_url = %q
%s}
`, addr, url, more))
	return path, addr
}

// A subscription's 1,000 events reach a Go program through the host and
// the plugin binary in order, one line each, read with Lease.OpenReader.
func TestAGraphQLSubscriptionDeliversAThousandEventsInOrderThroughTheHost(t *testing.T) {
	url := startGraphQLServer(t)
	path, _ := graphqlConfig(t, url, "")
	h := goHost(t, path)

	const n = 1000
	began := time.Now()
	var events int
	err := host.Use(t.Context(), h, "graphql.api", func(l *host.Lease) error {
		r, err := l.OpenReader(t.Context(), "subscribe", map[string]any{
			"query":     "subscription Count($to: Int!) { count(to: $to) }",
			"variables": map[string]any{"to": n},
		})
		if err != nil {
			return err
		}
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			events++
			var ev struct {
				Data struct {
					Count int `json:"count"`
				} `json:"data"`
				Errors json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Data.Count != events || ev.Errors != nil {
				return fmt.Errorf("event %d is %s (%v)", events, sc.Bytes(), err)
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		if got := string(r.Result()); got != fmt.Sprintf(`{"events":%d,"completed":true}`, n) {
			return fmt.Errorf("result %s", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if events != n {
		t.Fatalf("%d events, want %d", events, n)
	}
	took := time.Since(began)
	t.Logf("%d events in order through the host and the plugin binary in %v (%.0f events/s)", events, took.Round(time.Millisecond), float64(events)/took.Seconds())
}

// Queries through the host: partial data comes back as the server sent
// it, and errors that leave no data keep their kind and code.
func TestGraphQLQueriesThroughTheHost(t *testing.T) {
	url := startGraphQLServer(t)
	path, addr := graphqlConfig(t, url, "")
	h := goHost(t, path)

	raw, err := h.Invoke(t.Context(), "graphql.api", "query", map[string]any{"query": "{ items { id name } }"})
	const partial = `{"data":{"items":[{"id":"1","name":"one"},{"id":"2","name":null},{"id":"3","name":"three"}]},` +
		`"errors":[{"message":"item 2 has no name","path":["items",1,"name"]}]}`
	if err != nil || string(raw) != partial {
		t.Fatalf("query returned %s, %v; want %s", raw, err, partial)
	}
	_, err = h.Invoke(t.Context(), "graphql.api", "query", map[string]any{"query": `{ fail(code: "NOT_FOUND", message: "no such order") }`})
	var se *sdk.Error
	if sdk.KindOf(err) != sdk.KindNotFound || !errors.As(err, &se) || se.Code != "NOT_FOUND" {
		t.Fatalf("a NOT_FOUND error: %v (kind %q), want not_found with code NOT_FOUND", err, sdk.KindOf(err))
	}
	_, err = h.Invoke(t.Context(), "graphql.api", "mutate", map[string]any{"query": "{ hello }"})
	if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), `argument "query"`) {
		t.Fatalf("a query sent by mutate: %v, want invalid_argument naming query", err)
	}

	// The CLI streams the subscription's lines.
	startHost(t, path, addr)
	var stream bytes.Buffer
	out := runCLI(t, nil, &stream, "call", "-addr", addr, "-stream", "graphql.api", "subscribe", `{"query": "subscription { count(to: 3) }"}`)
	if got := stream.String(); got != "{\"data\":{\"count\":1}}\n{\"data\":{\"count\":2}}\n{\"data\":{\"count\":3}}\n" {
		t.Fatalf("nebula-host call -stream printed %q", got)
	}
	if !strings.Contains(string(out), `"completed":true`) {
		t.Fatalf("nebula-host call -stream printed the result %s", out)
	}
}
