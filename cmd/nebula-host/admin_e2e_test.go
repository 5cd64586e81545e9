package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// invokeJSON posts an invoke request to a running host and returns the
// status and body.
func invokeJSON(t *testing.T, addr, resource string, req any) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Post("http://"+addr+"/v1/resources/"+resource+"/invoke", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type invoke struct {
	Operation string `json:"operation"`
	Args      any    `json:"args"`
}

// errorOf returns the kind and message of an error body.
func errorOf(body []byte) (kind, message string) {
	var e struct {
		Error struct{ Kind, Message string }
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Kind, e.Error.Message
}

func TestMaxMessageSizeGovernsTheAPIAndThePluginLink(t *testing.T) {
	t.Parallel()
	fiveMiB := strings.Repeat("v", 5<<20)

	t.Run("a 5 MiB value under the default limit", func(t *testing.T) {
		dir := t.TempDir()
		addr := freeAddress(t)
		path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
admin { address = %q }
resource "memory" "cache" {}
`, addr))
		startHost(t, path, addr)
		if code, body := invokeJSON(t, addr, "memory.cache", invoke{"set", map[string]any{"key": "big", "value": fiveMiB}}); code != 200 {
			t.Fatalf("set of 5 MiB: %d %.500s", code, body)
		}
		code, body := invokeJSON(t, addr, "memory.cache", invoke{"get", map[string]any{"key": "big"}})
		var got struct {
			Result struct{ Value string }
		}
		if code != 200 || json.Unmarshal(body, &got) != nil || got.Result.Value != fiveMiB {
			t.Fatalf("get of 5 MiB: %d, %d bytes", code, len(body))
		}
	})

	t.Run("over a 4 MiB limit", func(t *testing.T) {
		dir := t.TempDir()
		addr := freeAddress(t)
		path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
admin { address = %q }
host { max_message_size = "4MiB" }
resource "memory" "cache" {}
`, addr))
		startHost(t, path, addr)
		code, body := invokeJSON(t, addr, "memory.cache", invoke{"set", map[string]any{"key": "big", "value": fiveMiB}})
		if kind, msg := errorOf(body); code != 400 || kind != "invalid_argument" || !strings.Contains(msg, "max_message_size (4 MiB)") {
			t.Fatalf("set of 5 MiB: %d %.500s", code, body)
		}
		// Two values that fit, whose mget result does not: the plugin
		// refuses to send it, naming the setting.
		for _, k := range []string{"a", "b"} {
			if code, body := invokeJSON(t, addr, "memory.cache", invoke{"set", map[string]any{"key": k, "value": strings.Repeat(k, 3<<20)}}); code != 200 {
				t.Fatalf("set of 3 MiB: %d %.500s", code, body)
			}
		}
		code, body = invokeJSON(t, addr, "memory.cache", invoke{"mget", map[string]any{"keys": []string{"a", "b"}}})
		if kind, msg := errorOf(body); code != 400 || kind != "invalid_argument" || !strings.Contains(msg, "max_message_size") || !strings.Contains(msg, "4194304 bytes") {
			t.Fatalf("mget of 6 MiB: %d %.500s", code, body)
		}
		// Neither failure is the backend's: the resource still serves.
		if code, body := invokeJSON(t, addr, "memory.cache", invoke{"get", map[string]any{"key": "a"}}); code != 200 {
			t.Fatalf("get after the refusals: %d %.300s", code, body)
		}
	})
}

func TestHealthCommandReadsEveryPage(t *testing.T) {
	t.Parallel()
	const n = 150 // more than a page
	dir := t.TempDir()
	addr := freeAddress(t)
	var src strings.Builder
	fmt.Fprintf(&src, "admin { address = %q }\n", addr)
	for i := range n {
		fmt.Fprintf(&src, "resource \"memory\" \"c%03d\" {}\n", i)
	}
	path := writeFile(t, dir, "main.hcl", src.String())
	startHost(t, path, addr)

	r := nebula(t, nil, "health", "-addr", addr)
	mustExit(t, r, 0, "health")
	if rows := strings.Count(r.stdout, "\nmemory.c"); rows != n || !strings.Contains(r.stdout, "memory.c149") {
		t.Fatalf("health printed %d resources, want %d\n%s", rows, n, r)
	}
	r = nebula(t, nil, "health", "-addr", addr, "-json")
	mustExit(t, r, 0, "health -json")
	var rep struct {
		Status    string
		Resources []struct{ ID string }
		Next      *string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Resources) != n || rep.Resources[n-1].ID != "memory.c149" || rep.Next != nil || rep.Status == "" {
		t.Fatalf("health -json: %v, %d resources\n%.2000s", err, len(rep.Resources), r.stdout)
	}
}
