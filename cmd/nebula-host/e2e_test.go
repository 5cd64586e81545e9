package main_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func TestQuickstartServesMemoryAndFiles(t *testing.T) {
	t.Parallel()
	path, addr := writeQuickstart(t)
	h := startHost(t, path, addr)
	call := func(args ...string) result {
		t.Helper()
		return nebula(t, nil, append([]string{"call", "-addr", addr}, args...)...)
	}

	t.Run("readyz lists both resources", func(t *testing.T) {
		code, body, err := h.get(t, "/readyz?verbose")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /readyz?verbose: %d %v\n%s", code, err, body)
		}
		for _, want := range []string{"[+]memory.cache ok", "[+]localfs.files ok"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /readyz?verbose: no %q in\n%s", want, body)
			}
		}
	})

	t.Run("describe of a running resource shows its pool", func(t *testing.T) {
		r := nebula(t, nil, "describe", "-addr", addr, "memory.cache")
		mustExit(t, r, 0, "describe memory.cache")
		for _, want := range []string{"Resource memory.cache (plugin memory): ready", "Pool: shared", "replicas 1, selection round_robin", "total 1"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("describe memory.cache: no %q in\n%s", want, r)
			}
		}
		r = nebula(t, nil, "describe", "-addr", addr, "-json", "memory.cache")
		mustExit(t, r, 0, "describe -json memory.cache")
		var info struct {
			Pool struct {
				Mode string `json:"mode"`
				Stat struct {
					Total int `json:"total"`
				} `json:"stat"`
			} `json:"pool"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Pool.Mode != "shared" || info.Pool.Stat.Total != 1 {
			t.Errorf("describe -json memory.cache: %+v %v\n%s", info, err, r)
		}
		mustExit(t, nebula(t, nil, "describe", "-addr", addr, "memory.nope"), 2, "describe of an unknown resource")
	})

	t.Run("memory set then get", func(t *testing.T) {
		mustExit(t, call("memory.cache", "set", `{"key":"greeting","value":"hello, nebula"}`), 0, "call set")
		r := call("memory.cache", "get", `{"key":"greeting"}`)
		mustExit(t, r, 0, "call get")
		var got struct {
			Value string `json:"value"`
			Found bool   `json:"found"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("call get: stdout is not JSON: %v\n%s", err, r)
		}
		if got.Value != "hello, nebula" || !got.Found {
			t.Errorf("call get = %+v, want value %q found", got, "hello, nebula")
		}
	})

	t.Run("localfs streams a file in and out", func(t *testing.T) {
		dir := t.TempDir()
		data := make([]byte, 300<<10)
		_, _ = rand.Read(data)
		in := filepath.Join(dir, "in.bin")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := call("-in", in, "localfs.files", "put", `{"key":"dir/blob.bin"}`)
		mustExit(t, r, 0, "call -in put")
		var put struct {
			Size int `json:"size"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &put); err != nil || put.Size != len(data) {
			t.Errorf("call -in put: want {\"size\": %d, ...}, got %v\n%s", len(data), err, r)
		}

		out := filepath.Join(dir, "out.bin")
		mustExit(t, call("-out", out, "localfs.files", "get", `{"key":"dir/blob.bin"}`), 0, "call -out get")
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("call -out get wrote %d bytes that differ from the %d put", len(got), len(data))
		}
		onDisk, err := os.ReadFile(filepath.Join(filepath.Dir(path), "files", "dir", "blob.bin"))
		if err != nil || !bytes.Equal(onDisk, data) {
			t.Errorf("the file under the localfs root differs from what was put (%v)", err)
		}
	})

	t.Run("a failed call exits 2 with its kind", func(t *testing.T) {
		mustExit(t, call("memory.cache", "set", `{"key":"word","value":"seven"}`), 0, "call set")
		r := call("memory.cache", "incr", `{"key":"word"}`)
		mustExit(t, r, 2, "call incr of a value that is not an integer")
		if !strings.Contains(r.stderr, "invalid_argument") {
			t.Errorf("call incr of a value that is not an integer: no invalid_argument on stderr\n%s", r)
		}
	})

	t.Run("invalid JSON arguments exit 1", func(t *testing.T) {
		r := call("memory.cache", "get", `{"key":`)
		mustExit(t, r, 1, "call with invalid JSON")
		if !strings.Contains(r.stderr, "not valid JSON") {
			t.Errorf("call with invalid JSON: stderr does not say so\n%s", r)
		}
	})

	t.Run("nothing listening exits 1", func(t *testing.T) {
		r := nebula(t, nil, "call", "-addr", freeAddress(t), "memory.cache", "get", `{"key":"a"}`)
		mustExit(t, r, 1, "call against a closed port")
		if !strings.Contains(r.stderr, "connection refused") {
			t.Errorf("call against a closed port: stderr does not say why\n%s", r)
		}
	})
}

func TestRunStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	path, addr := writeQuickstart(t)
	h := startHost(t, path, addr)
	pids := h.pluginPIDs(t)

	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	h.waitExit(t, 10*time.Second)
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("nebula-host exited %d (%v) on SIGTERM, want 0\n%s", code, h.err, h.output(t))
	}
	// The host reaps its plugins before it exits, so they are gone, not
	// zombies; allow a little time all the same.
	waitGone(t, pids, 3*time.Second)
	if log := h.output(t); !strings.Contains(log, "msg=stopped") {
		t.Errorf("the host's log does not end with stopped:\n%s", log)
	}
}

func TestPluginsDieWhenHostIsKilled(t *testing.T) {
	t.Parallel()
	path, addr := writeQuickstart(t)
	h := startHost(t, path, addr)
	pids := h.pluginPIDs(t)

	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.waitExit(t, 5*time.Second)
	// The plugins were the host's children: nobody in this test can reap
	// them, so a zombie counts as gone.
	waitGone(t, pids, 5*time.Second)
}

func TestValidate(t *testing.T) {
	t.Parallel()

	t.Run("quickstart is valid", func(t *testing.T) {
		t.Parallel()
		path, _ := writeQuickstart(t)
		r := nebula(t, nil, "validate", path)
		mustExit(t, r, 0, "validate quickstart")
		if !strings.Contains(r.stdout, "The configuration is valid") {
			t.Errorf("validate quickstart: stdout does not say valid\n%s", r)
		}
		r = nebula(t, nil, "validate", "-json", path)
		mustExit(t, r, 0, "validate -json quickstart")
		var out struct {
			Valid      bool `json:"valid"`
			ErrorCount int  `json:"error_count"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !out.Valid || out.ErrorCount != 0 {
			t.Errorf("validate -json quickstart: want valid, got %+v %v\n%s", out, err, r)
		}
	})

	t.Run("a -var without a value is refused", func(t *testing.T) {
		t.Parallel()
		path, _ := writeQuickstart(t)
		r := nebula(t, nil, "validate", "-var", "files_root", path)
		mustExit(t, r, 1, "validate -var files_root")
		if !strings.Contains(r.stderr, "want name=value") {
			t.Errorf("validate -var files_root: stderr does not say why\n%s", r)
		}
	})

	tests := []struct {
		name    string
		replace [2]string // in the quickstart
		at      string    // where the error points, as a substring of the broken line
		hint    string    // the suggestion
	}{
		{
			name:    "unknown attribute",
			replace: [2]string{"max_entries", "max_entrys"},
			at:      "max_entrys",
			hint:    `Did you mean "max_entries"?`,
		},
		{
			name:    "unknown resource type",
			replace: [2]string{`resource "memory"`, `resource "memroy"`},
			at:      `"memroy"`,
			hint:    `Did you mean "memory"?`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, _ := quickstart(t, dir)
			if !strings.Contains(src, tt.replace[0]) {
				t.Fatalf("quickstart has no %q", tt.replace[0])
			}
			src = strings.Replace(src, tt.replace[0], tt.replace[1], 1)
			path := writeFile(t, dir, "main.hcl", src)
			line, col := position(t, src, tt.at)

			text := nebula(t, nil, "validate", path)
			mustExit(t, text, 1, "validate")
			if loc := fmt.Sprintf("%s:%d:%d", path, line, col); !strings.Contains(text.stderr, loc) {
				t.Errorf("validate: stderr does not point at %s\n%s", loc, text)
			}

			r := nebula(t, nil, "validate", "-json", path)
			mustExit(t, r, 1, "validate -json")
			var out struct {
				Valid       *bool `json:"valid"`
				ErrorCount  int   `json:"error_count"`
				Diagnostics []struct {
					Detail string `json:"detail"`
					Range  struct {
						Filename string `json:"filename"`
						Start    struct {
							Line   int `json:"line"`
							Column int `json:"column"`
						} `json:"start"`
					} `json:"range"`
				} `json:"diagnostics"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("validate -json: stdout is not JSON: %v\n%s", err, r)
			}
			if out.Valid == nil || *out.Valid || out.ErrorCount < 1 || len(out.Diagnostics) < 1 {
				t.Fatalf("validate -json: want valid false and an error\n%s", r)
			}
			d := out.Diagnostics[0]
			if d.Range.Filename != path || d.Range.Start.Line != line || d.Range.Start.Column != col {
				t.Errorf("validate -json: diagnostics[0].range = %s:%d:%d, want %s:%d:%d",
					d.Range.Filename, d.Range.Start.Line, d.Range.Start.Column, path, line, col)
			}

			if !strings.Contains(d.Detail, tt.hint) || !strings.Contains(text.stderr, tt.hint) {
				t.Errorf("validate: no hint %s in the text or JSON output\n%s", tt.hint, r)
			}
		})
	}
}

// position returns the 1-based line and column (in characters) where sub
// first appears in src.
func position(t *testing.T, src, sub string) (line, col int) {
	t.Helper()
	i := strings.Index(src, sub)
	if i < 0 {
		t.Fatalf("no %q in the configuration", sub)
	}
	before := src[:i]
	line = strings.Count(before, "\n") + 1
	col = len([]rune(before[strings.LastIndexByte(before, '\n')+1:])) + 1
	return line, col
}

func TestPluginsListAndDescribe(t *testing.T) {
	t.Parallel()
	// The plugins of make build report the version of this build: "dev"
	// unless it was a release build (internal/release).
	wantVersion := map[string]string{"memory": release.Version(), "localfs": release.Version()}

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		r := nebula(t, nil, "plugins", "list")
		mustExit(t, r, 0, "plugins list")
		rows := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			if f := strings.Fields(line); len(f) >= 3 {
				rows[f[0]] = f
			}
		}
		for name, version := range wantVersion {
			f, ok := rows[name]
			if !ok {
				t.Errorf("plugins list: no %s row\n%s", name, r)
				continue
			}
			if f[1] != version || f[2] != fmt.Sprint(sdk.ProtocolVersion) {
				t.Errorf("plugins list: %s row %q, want version %s and protocol %d", name, f, version, sdk.ProtocolVersion)
			}
		}
	})

	t.Run("list -json", func(t *testing.T) {
		t.Parallel()
		r := nebula(t, nil, "plugins", "list", "-json")
		mustExit(t, r, 0, "plugins list -json")
		var infos []pluginInfo
		if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil {
			t.Fatalf("plugins list -json: %v\n%s", err, r)
		}
		got := map[string]pluginInfo{}
		for _, p := range infos {
			got[p.Name] = p
		}
		for name, version := range wantVersion {
			p := got[name]
			if p.Version != version || p.Protocol != sdk.ProtocolVersion || len(p.Types) != 1 || p.Types[0] != name {
				t.Errorf("plugins list -json: %s = %+v, want version %s, protocol %d, types [%s]", name, p, version, sdk.ProtocolVersion, name)
			}
		}
	})

	t.Run("describe", func(t *testing.T) {
		t.Parallel()
		r := nebula(t, nil, "describe", "memory")
		mustExit(t, r, 0, "describe memory")
		for _, want := range []string{`Resource type "memory"`, "max_entries", "\n  get ("} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("describe memory: no %q\n%s", want, r)
			}
		}
	})

	t.Run("describe lists the capability's operations", func(t *testing.T) {
		t.Parallel()
		r := nebula(t, nil, "describe", "sqlite")
		mustExit(t, r, 0, "describe sqlite")
		for _, want := range []string{"\n  ping (", "\n  query: ", "\n  exec: "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("describe sqlite: no %q\n%s", want, r)
			}
		}
	})

	t.Run("describe -json", func(t *testing.T) {
		t.Parallel()
		r := nebula(t, nil, "describe", "-json", "memory")
		mustExit(t, r, 0, "describe -json memory")
		var doc struct {
			Name   string `json:"name"`
			Config []struct {
				Name string `json:"name"`
			} `json:"config"`
			Operations []struct {
				Name string `json:"name"`
			} `json:"operations"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("describe -json memory: %v\n%s", err, r)
		}
		hasConfig, hasGet := false, false
		for _, a := range doc.Config {
			hasConfig = hasConfig || a.Name == "max_entries"
		}
		for _, op := range doc.Operations {
			hasGet = hasGet || op.Name == "get"
		}
		if doc.Name != "memory" || !hasConfig || !hasGet {
			t.Errorf("describe -json memory: want name memory, setting max_entries and operation get\n%s", r)
		}
	})

	t.Run("describe a misspelled type", func(t *testing.T) {
		t.Parallel()
		r := nebula(t, nil, "describe", "memroy")
		mustExit(t, r, 1, "describe memroy")
		if !strings.Contains(r.stderr, `did you mean "memory"?`) {
			t.Errorf("describe memroy: no suggestion of memory\n%s", r)
		}
	})
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := nebula(t, nil, "version")
	mustExit(t, r, 0, "version")
	if want := fmt.Sprintf("nebula-host %s (plugin protocol %d)\n", testVersion, sdk.ProtocolVersion); r.stdout != want {
		t.Errorf("version printed %q, want %q", r.stdout, want)
	}

	r = nebula(t, nil, "frobnicate")
	mustExit(t, r, 1, "an unknown command")
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("an unknown command: stderr does not name it and show usage\n%s", r)
	}
}

func TestAdminRefusesNonLoopbackWithoutAllowRemote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// flag puts the address in the -admin flag, which bypasses the
		// configuration's validation: the admin server must refuse it.
		flag bool
	}{
		{name: "in the config"},
		{name: "from the -admin flag", flag: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, addr := quickstart(t, dir)
			_, port, _ := strings.Cut(addr, ":")
			remote := "0.0.0.0:" + port
			args := []string{"run", "-config", filepath.Join(dir, "main.hcl")}
			if tt.flag {
				args = append(args, "-admin", remote)
			} else {
				src = strings.Replace(src, fmt.Sprintf("%q", addr), fmt.Sprintf("%q", remote), 1)
			}
			writeFile(t, dir, "main.hcl", src)
			r := nebula(t, nil, args...)
			mustExit(t, r, 1, "run on "+remote)
			if !strings.Contains(r.stderr, "allow_remote") {
				t.Errorf("run on %s: stderr does not mention allow_remote\n%s", remote, r)
			}
			if strings.Contains(r.stderr, "plugin started") {
				t.Errorf("run on %s: started plugins before refusing the address\n%s", remote, r)
			}
		})
	}
}

func TestSensitiveVariableNeverPrinted(t *testing.T) {
	t.Parallel()
	const canary = "canary-Zx81-secret"
	dir := t.TempDir()
	path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
variable "token" {
  type      = string
  sensitive = true
}

admin {
  address = %q
}

resource "memory" "cache" {
  max_entries = 10
  default_ttl = var.token
}
`, freeAddress(t)))

	fromEnv := []string{"NEBULA_VAR_token=" + canary}
	tests := []struct {
		name string
		env  []string
		args []string
	}{
		{"validate", fromEnv, []string{"validate", path}},
		{"validate -json", fromEnv, []string{"validate", "-json", path}},
		{"validate -var", nil, []string{"validate", "-var", "token=" + canary, path}},
		{"run", fromEnv, []string{"run", "-config", path}},
		{"run with debug logs", fromEnv, []string{"run", "-log-level", "debug", "-config", path}},
		{"run -var as JSON logs", nil, []string{"run", "-log-level", "debug", "-log-format", "json", "-var", "token=" + canary, "-config", path}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := nebula(t, tt.env, tt.args...)
			mustExit(t, r, 1, tt.name)
			if !strings.Contains(r.stdout+r.stderr, "default_ttl") {
				t.Errorf("%s: the error does not point at default_ttl\n%s", tt.name, r)
			}
			if strings.Contains(r.stdout+r.stderr, canary) || strings.Contains(r.stdout+r.stderr, "Zx81") {
				t.Errorf("%s printed the sensitive value\n%s", tt.name, r)
			}
		})
	}
}

// healthConfig runs every test plugin's type with checks every 100ms and a
// circuit breaker on memory.cache. localfs.files is quarantined by its
// first failed check.
func healthConfig(t *testing.T) (path, addr string) {
	t.Helper()
	dir := t.TempDir()
	addr = freeAddress(t)
	return writeFile(t, dir, "main.hcl", fmt.Sprintf(`
admin {
  address = %q
}

resource "memory" "cache" {
  health {
    interval = "100ms"
    timeout  = "5s"
  }
  resilience {
    circuit_breaker {}
  }
}

resource "localfs" "files" {
  root        = %q
  create_root = true
  health {
    interval        = "100ms"
    timeout         = "1s"
    unhealthy_after = 1
  }
}

resource "sqlite" "db" {
  path = ":memory:"
  health {
    interval = "100ms"
    timeout  = "5s"
  }
}
`, addr, filepath.Join(dir, "files"))), addr
}

// waitHealth polls GET /v1/health until the host's overall status is want,
// for 10s at most.
func (h *hostProcess) waitHealth(t *testing.T, want host.HealthState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := h.get(t, "/v1/health")
		var rep host.HealthReport
		if err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &rep) == nil && rep.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/health: status not %s after 10s (last: %d %v)\n%s", want, code, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthTable splits the table nebula-host health prints into its rows'
// fields, by resource, and returns the line that follows it.
func healthTable(t *testing.T, r result) (rows map[string][]string, overall string) {
	t.Helper()
	lines := strings.Split(r.stdout, "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "RESOURCE TYPE STATE BREAKER SINCE REASON" {
		t.Fatalf("health: header %q\n%s", lines[0], r)
	}
	rows = map[string][]string{}
	i := 1
	for ; i < len(lines) && lines[i] != ""; i++ {
		f := strings.Fields(lines[i])
		if len(f) < 6 {
			t.Fatalf("health: row %q has fewer than 6 fields\n%s", lines[i], r)
		}
		rows[f[0]] = f
	}
	if i+1 >= len(lines) {
		t.Fatalf("health: nothing after the table\n%s", r)
	}
	return rows, lines[i+1]
}

// healthEvents returns the transitions nebula-host health -history lists
// for resource, as "kind from→to".
func healthEvents(t *testing.T, r result, resource string) []string {
	t.Helper()
	_, section, ok := strings.Cut(r.stdout, "\n"+resource+":\n")
	if !ok {
		t.Fatalf("health -history: no section for %s\n%s", resource, r)
	}
	var events []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		f := strings.Fields(line)
		if len(f) < 6 || f[3] != "→" {
			t.Fatalf("health -history: event %q is not TIME KIND FROM → TO REASON\n%s", line, r)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", f[0]); err != nil {
			t.Fatalf("health -history: event %q: %v", line, err)
		}
		events = append(events, f[1]+" "+f[2]+"→"+f[4])
	}
	return events
}

func TestHealthCommand(t *testing.T) {
	t.Parallel()
	path, addr := healthConfig(t)
	h := startHost(t, path, addr)
	h.waitHealth(t, host.HealthHealthy)
	health := func(args ...string) result {
		t.Helper()
		return nebula(t, nil, append([]string{"health", "-addr", addr}, args...)...)
	}
	wantRows := func(t *testing.T, r result, want map[string]string, overall string) {
		t.Helper()
		rows, got := healthTable(t, r)
		if len(rows) != len(want) {
			t.Errorf("health: %d rows, want %d\n%s", len(rows), len(want), r)
		}
		for id, w := range want {
			if f := rows[id]; f == nil || strings.Join(f[1:4], " ") != w {
				t.Errorf("health: row of %s is %q, want TYPE STATE BREAKER %q\n%s", id, f, w, r)
			}
		}
		if got != overall {
			t.Errorf("health: after the table %q, want %q\n%s", got, overall, r)
		}
	}

	t.Run("table", func(t *testing.T) {
		r := health()
		mustExit(t, r, 0, "health")
		wantRows(t, r, map[string]string{
			"memory.cache":  "memory healthy closed",
			"localfs.files": "localfs healthy -",
			"sqlite.db":     "sqlite healthy -",
		}, "Overall: healthy (localfs healthy, memory healthy, sqlite healthy)")
		rows, _ := healthTable(t, r)
		if f := rows["sqlite.db"]; f != nil && (!strings.HasSuffix(f[4], "s") || strings.Join(f[5:], " ") != "checks pass") {
			t.Errorf("health: sqlite.db has SINCE %q and REASON %q, want seconds and \"checks pass\"\n%s", f[4], f[5:], r)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := health("-json")
		mustExit(t, r, 0, "health -json")
		var rep host.HealthReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("health -json: %v\n%s", err, r)
		}
		if rep.Status != host.HealthHealthy || len(rep.Types) != 3 || len(rep.Resources) != 3 ||
			rep.Resources[0].ID != "memory.cache" || rep.Resources[0].Breaker != host.BreakerClosed ||
			rep.Resources[1].ID != "localfs.files" || rep.Resources[1].State != host.HealthHealthy || rep.Resources[1].LastCheck.IsZero() {
			t.Errorf("health -json: %+v\n%s", rep, r)
		}
		if !strings.HasPrefix(r.stdout, "{\n  \"status\": ") {
			t.Errorf("health -json: not indented\n%s", r)
		}
	})

	// A plugin that stops answering is a real hang: localfs's checks time
	// out, and its resource is quarantined. (Deleting its root directory
	// would not do: the plugin holds the directory open, and checking it
	// still passes.)
	pid := h.pluginPIDs(t)["localfs"]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(resume) // before the host's cleanup stops it
	h.waitHealth(t, host.HealthUnhealthy)

	t.Run("unhealthy exits 3", func(t *testing.T) {
		r := health()
		mustExit(t, r, 3, "health with localfs.files quarantined")
		wantRows(t, r, map[string]string{
			"memory.cache":  "memory healthy closed",
			"localfs.files": "localfs unhealthy -",
			"sqlite.db":     "sqlite healthy -",
		}, "Overall: unhealthy (localfs unhealthy, memory healthy, sqlite healthy)")
		if rows, _ := healthTable(t, r); !strings.Contains(strings.Join(rows["localfs.files"], " "), "deadline exceeded") {
			t.Errorf("health: the reason of localfs.files does not say its check timed out\n%s", r)
		}

		r = health("-json")
		mustExit(t, r, 3, "health -json with localfs.files quarantined")
		var rep host.HealthReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Status != host.HealthUnhealthy || !rep.Resources[1].Quarantined {
			t.Errorf("health -json: %v %+v\n%s", err, rep, r)
		}

		r = health("-history")
		mustExit(t, r, 3, "health -history with localfs.files quarantined")
		if got, want := healthEvents(t, r, "localfs.files"), []string{"health starting→healthy", "health healthy→unhealthy"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("health -history: localfs.files events %q, want %q\n%s", got, want, r)
		}
	})

	resume()
	h.waitHealth(t, host.HealthHealthy)

	t.Run("history after recovery", func(t *testing.T) {
		r := health("-history")
		mustExit(t, r, 0, "health -history after recovery")
		want := []string{"health starting→healthy", "health healthy→unhealthy", "health unhealthy→recovering", "health recovering→healthy"}
		if got := healthEvents(t, r, "localfs.files"); strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("health -history: localfs.files events %q, want %q\n%s", got, want, r)
		}
		if got := healthEvents(t, r, "memory.cache"); len(got) != 1 || got[0] != "health starting→healthy" {
			t.Errorf("health -history: memory.cache events %q, want only starting→healthy\n%s", got, r)
		}
	})

	t.Run("nothing listening exits 1", func(t *testing.T) {
		r := nebula(t, nil, "health", "-addr", freeAddress(t))
		mustExit(t, r, 1, "health against a closed port")
		if !strings.Contains(r.stderr, "connection refused") {
			t.Errorf("health against a closed port: stderr does not say why\n%s", r)
		}
	})

	t.Run("usage documents exit 3", func(t *testing.T) {
		r := nebula(t, nil, "health", "-h")
		if !strings.Contains(r.stderr, "3  the host answered and a resource serves no leases") {
			t.Errorf("health -h: the exit status 3 is not documented\n%s", r)
		}
	})
}
