package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/nebula-resource/nebula-resource/config"
)

func TestLoadMergesEveryHCLFileInADirectory(t *testing.T) {
	cfg := mustLoad(t, "testdata/multi", environ(nil))

	var names []string
	for name := range cfg.Files {
		names = append(names, name)
	}
	wantFiles := []string{"testdata/multi/10-host.hcl", "testdata/multi/20-resources.hcl"}
	if len(names) != len(wantFiles) {
		t.Fatalf("Files = %v, want %v", names, wantFiles)
	}
	for _, f := range wantFiles {
		if cfg.Files[f] == nil {
			t.Errorf("Files lacks %s", f)
		}
	}

	if got, want := cfg.Admin.Address, "127.0.0.1:9500"; got != want {
		t.Errorf("Admin.Address = %q, want %q", got, want)
	}
	if got, want := cfg.Admin.AllowedHosts, []string{"nebula.internal", "10.0.0.5:9500"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Admin.AllowedHosts = %q, want %q", got, want)
	}
	if got, want := cfg.Admin.AllowedOrigins, []string{"https://console.example.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Admin.AllowedOrigins = %q, want %q", got, want)
	}
	wantHost := config.HostSettings{ShutdownTimeout: 45 * time.Second, LogLevel: "debug", LogFormat: "text", MaxMessageSize: 8 << 20}
	if !reflect.DeepEqual(cfg.Host, wantHost) {
		t.Errorf("Host = %+v, want %+v", cfg.Host, wantHost)
	}

	if len(cfg.Plugins) != 1 {
		t.Fatalf("got %d plugins, want 1", len(cfg.Plugins))
	}
	p := cfg.Plugins[0]
	wantPath, err := filepath.Abs("testdata/multi/bin/nebula-plugin-memory")
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != wantPath {
		t.Errorf("plugin Path = %q, want %q", p.Path, wantPath)
	}
	if want := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; p.SHA256 != want {
		t.Errorf("plugin SHA256 = %q, want %q", p.SHA256, want)
	}
	if !reflect.DeepEqual(p.Args, []string{"-v"}) || !reflect.DeepEqual(p.Env, map[string]string{"MEMORY_DEBUG": "1"}) {
		t.Errorf("plugin Args = %q, Env = %q", p.Args, p.Env)
	}

	// A resource in one file uses a variable declared in another.
	cache := cfg.Resource("memory.cache")
	if cache == nil {
		t.Fatal(`Resource("memory.cache") = nil`)
	}
	assertJSON(t, cache.Config, `{"default_ttl":"1m","max_entries":500,"name":"cache"}`)
	files := cfg.Resource("localfs.files")
	if files == nil || !reflect.DeepEqual(files.DependsOn, []string{"memory.cache"}) {
		t.Fatalf("localfs.files DependsOn = %v, want [memory.cache]", files)
	}
}

func TestLoadFillsHostDefaultsWithoutBlocks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "empty.hcl"), "")
	cfg := mustLoad(t, dir, environ(nil))
	want := config.Admin{Address: "127.0.0.1:9464"}
	if !reflect.DeepEqual(cfg.Admin, want) {
		t.Errorf("Admin = %+v, want %+v", cfg.Admin, want)
	}
	wantHost := config.HostSettings{ShutdownTimeout: 30 * time.Second, LogLevel: "info", LogFormat: "text", MaxMessageSize: 16 << 20}
	if !reflect.DeepEqual(cfg.Host, wantHost) {
		t.Errorf("Host = %+v, want %+v", cfg.Host, wantHost)
	}
}

func TestLoadReportsAMissingPath(t *testing.T) {
	cfg, diags := config.Load("testdata/does-not-exist.hcl")
	if cfg == nil || !diags.HasErrors() {
		t.Fatalf("Load of a missing file: cfg = %v, diags = %v", cfg, diags)
	}
	if got, want := config.FormatDiagnostic(diags[0]), "testdata/does-not-exist.hcl:1:1: error: Cannot read configuration; Cannot read testdata/does-not-exist.hcl: no such file or directory. Check the path and its permissions."; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestVariablePrecedence(t *testing.T) {
	src := `
variable "a" {
  type    = string
  default = "default"
}
variable "b" {
  type    = number
  default = 1
}
variable "c" {
  type    = list(string)
  default = []
}
variable "d" {
  default = "untyped"
}
`
	path := filepath.Join(t.TempDir(), "vars.hcl")
	writeFile(t, path, src)

	tests := map[string]struct {
		vars map[string]string
		env  map[string]string
		want map[string]cty.Value
	}{
		"defaults": {
			want: map[string]cty.Value{
				"a": cty.StringVal("default"),
				"b": cty.NumberIntVal(1),
				"c": cty.ListValEmpty(cty.String),
				"d": cty.StringVal("untyped"),
			},
		},
		"environment over default": {
			env: map[string]string{"NEBULA_VAR_a": "env", "NEBULA_VAR_b": "2", "NEBULA_VAR_c": `["x", "y"]`},
			want: map[string]cty.Value{
				"a": cty.StringVal("env"),
				"b": cty.NumberIntVal(2),
				"c": cty.ListVal([]cty.Value{cty.StringVal("x"), cty.StringVal("y")}),
				"d": cty.StringVal("untyped"),
			},
		},
		"WithVariables over environment": {
			vars: map[string]string{"a": "flag", "b": "3", "d": "[1]"},
			env:  map[string]string{"NEBULA_VAR_a": "env", "NEBULA_VAR_b": "2"},
			want: map[string]cty.Value{
				"a": cty.StringVal("flag"),
				"b": cty.NumberIntVal(3),
				"c": cty.ListValEmpty(cty.String),
				"d": cty.StringVal("[1]"), // untyped values are strings
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := mustLoad(t, path, config.WithVariables(tt.vars), environ(tt.env))
			if len(cfg.Variables) != len(tt.want) {
				t.Fatalf("got %d variables, want %d", len(cfg.Variables), len(tt.want))
			}
			for _, v := range cfg.Variables {
				if !v.Value.RawEquals(tt.want[v.Name]) {
					t.Errorf("var.%s = %#v, want %#v", v.Name, v.Value, tt.want[v.Name])
				}
			}
		})
	}
}

func TestVariableValueErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vars.hcl")
	writeFile(t, path, `
variable "port" {
  type = number
}
`)
	tests := map[string]struct {
		opts []config.Option
		want string
	}{
		"wrong type from WithVariables": {
			opts: []config.Option{config.WithVariables(map[string]string{"port": `"http"`})},
			want: path + `:2:1: error: Invalid value for variable; Variable "port" wants number, got string from WithVariables (-var).`,
		},
		"not an HCL value in the environment": {
			opts: []config.Option{environ(map[string]string{"NEBULA_VAR_port": "eighty"})},
			want: path + `:2:1: error: Invalid value for variable; The value of variable "port" from the environment variable NEBULA_VAR_port is not a valid number. Write it as an HCL value, such as 8080, true, ["a", "b"] or { key = "value" }.`,
		},
		"undeclared variable": {
			opts: []config.Option{config.WithVariables(map[string]string{"port": "80", "prot": "1"})},
			want: `error: Value for undeclared variable; A value was given for variable "prot", but no such variable is declared. Did you mean "port"? Declare it with a variable block, or remove the value.`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, diags := config.Load(path, append([]config.Option{environ(nil)}, tt.opts...)...)
			if got := formatAll(diags); got != tt.want+"\n" {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEnvAndFileFunctionsAndDefaults(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid/main.hcl",
		config.WithVariables(map[string]string{"region": "eu"}),
		environ(map[string]string{"NEBULA_TEST_HOME": "/home/nebula"}))

	cache := cfg.Resource("memory.cache")
	// file() reads relative to the file's directory; default_ttl takes its
	// default; the sensitive password is in Config, for the plugin.
	assertJSON(t, cache.Config, `{"default_ttl":"1m","max_entries":8080,"name":"from-default-eu","password":"tok-from-file"}`)

	files := cfg.Resource("localfs.files")
	// env() with a default, env() of a set variable, concat, and the
	// default of mode; limits is unset and has no default, so it is absent.
	assertJSON(t, files.Config, `{"home":"/home/nebula","mode":420,"root":"/srv/default","tags":["a","b"]}`)
	if !reflect.DeepEqual(files.DependsOn, []string{"memory.cache"}) {
		t.Errorf("DependsOn = %v", files.DependsOn)
	}
	if files.ID() != "localfs.files" || files.Type != "localfs" || files.Name != "files" {
		t.Errorf("ID = %q, Type = %q, Name = %q", files.ID(), files.Type, files.Name)
	}
	if cfg.Resource("memory.nope") != nil {
		t.Error(`Resource("memory.nope") != nil`)
	}
}

func TestResourceHostSettings(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid/main.hcl",
		config.WithVariables(map[string]string{"region": "eu"}),
		environ(map[string]string{"NEBULA_TEST_HOME": "/home/nebula"}))
	r := cfg.Resource("memory.cache")

	wantPool := config.Pool{
		MinSize: 2, MaxSize: 20, MaxIdle: 4, Replicas: 1,
		IdleTimeout: 5 * time.Minute, MaxLifetime: time.Hour, AcquireTimeout: 2 * time.Second,
		ValidateAfterIdle: 30 * time.Second, LeaseTimeout: time.Minute,
		Reclaim: true, LifetimeJitter: 5 * time.Minute,
		Order: "fifo", Selection: "least_loaded",
	}
	if r.Pool != wantPool {
		t.Errorf("Pool = %+v\nwant   %+v", r.Pool, wantPool)
	}
	wantHealth := config.Health{Interval: 10 * time.Second, Timeout: time.Second, Jitter: 500 * time.Millisecond, UnhealthyAfter: 3, HealthyAfter: 2}
	if r.Health != wantHealth {
		t.Errorf("Health = %+v, want %+v", r.Health, wantHealth)
	}
	wantRes := config.Resilience{
		Timeout: 5 * time.Second, AttemptTimeout: time.Second,
		Retry:          &config.Retry{MaxAttempts: 3, Backoff: 50 * time.Millisecond, MaxBackoff: time.Second, Budget: 0.2},
		CircuitBreaker: &config.CircuitBreaker{FailureThreshold: 5, FailureRatio: 0.5, Window: 10 * time.Second, OpenFor: 30 * time.Second, HalfOpenProbes: 2},
		Bulkhead:       &config.Bulkhead{MaxConcurrent: 10, MaxQueue: 100},
	}
	if !reflect.DeepEqual(r.Resilience, wantRes) {
		t.Errorf("Resilience = %+v, want %+v", r.Resilience, wantRes)
	}
	// Unset blocks stay zero: the host applies its defaults.
	other := cfg.Resource("localfs.files")
	if other.Pool != (config.Pool{}) || other.Health != (config.Health{}) || !reflect.DeepEqual(other.Resilience, config.Resilience{}) {
		t.Errorf("localfs.files has non-zero settings: %+v %+v %+v", other.Pool, other.Health, other.Resilience)
	}
}

func TestDecodeResourcesConvertsEachType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "types.hcl")
	writeFile(t, path, `
resource "localfs" "files" {
  root   = "/srv"
  mode   = "384"
  tags   = ["a", 1, true]
  limits = { open = 10, "max-depth" = 3.0 }
}
`)
	cfg := mustLoad(t, path, environ(nil))
	assertJSON(t, cfg.Resource("localfs.files").Config,
		`{"limits":{"max-depth":3,"open":10},"mode":384,"root":"/srv","tags":["a","1","true"]}`)
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("Config = %s\nwant     %s", got, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateResourceAcrossFilesNamesTheFirst(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.hcl"), "resource \"memory\" \"cache\" {\n  name = \"a\"\n}\n")
	writeFile(t, filepath.Join(dir, "b.hcl"), "\nresource \"memory\" \"cache\" {\n  name = \"b\"\n}\n")
	_, diags := config.Load(dir, environ(nil))
	want := filepath.Join(dir, "b.hcl") + `:2:19: error: Duplicate resource; A memory resource named "cache" was already declared at ` +
		filepath.Join(dir, "a.hcl") + `:1:1. Rename one of them; names must be unique within a resource type.` + "\n"
	if got := formatAll(diags); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLoadReadsVariablesFromTheProcessEnvironmentByDefault(t *testing.T) {
	t.Setenv("NEBULA_VAR_zone", "from-process")
	path := filepath.Join(t.TempDir(), "zone.hcl")
	writeFile(t, path, "variable \"zone\" {\n  type = string\n}\n")
	cfg := mustLoad(t, path)
	if got := cfg.Variables[0].Value; got.AsString() != "from-process" {
		t.Errorf("var.zone = %#v", got)
	}
}

func TestHostPluginDirIsResolvedAgainstTheFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "host.hcl"), "host {\n  plugin_dir = \"plugins\"\n  log_format = \"json\"\n}\n")
	cfg := mustLoad(t, dir, environ(nil))
	if want := filepath.Join(dir, "plugins"); cfg.Host.PluginDir != want {
		t.Errorf("PluginDir = %q, want %q", cfg.Host.PluginDir, want)
	}
	if cfg.Host.LogFormat != "json" || cfg.Host.LogLevel != "info" {
		t.Errorf("Host = %+v", cfg.Host)
	}
}

func TestLoadReadsTheTelemetryBlock(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.hcl"), `
variable "key" {
  type      = string
  sensitive = true
}
telemetry {
  metrics {
    tenant_label = true
    per_resource = true
  }
  tracing {
    endpoint     = "127.0.0.1:4317"
    insecure     = true
    headers      = { "x-api-key" = var.key }
    sample_ratio = 0.25
    query_text   = true
  }
}`)
	cfg := mustLoad(t, dir, environ(nil), config.WithVariables(map[string]string{"key": "k1"}))
	want := config.Telemetry{
		Metrics: config.Metrics{TenantLabel: true, PerResource: true},
		Tracing: config.Tracing{Endpoint: "127.0.0.1:4317", Insecure: true, Headers: map[string]string{"x-api-key": "k1"}, SampleRatio: 0.25, QueryText: true},
	}
	if !reflect.DeepEqual(cfg.Telemetry, want) {
		t.Fatalf("Telemetry = %+v, want %+v", cfg.Telemetry, want)
	}

	writeFile(t, filepath.Join(dir, "main.hcl"), `telemetry {
  metrics {
    enabled = false
  }
}`)
	if cfg := mustLoad(t, dir, environ(nil)); !cfg.Telemetry.Metrics.Disabled || cfg.Telemetry.Tracing.Endpoint != "" {
		t.Fatalf("Telemetry = %+v, want metrics off and no tracing", cfg.Telemetry)
	}
}

func TestLoadReadsLogLevelsPerComponent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.hcl"), `host {
  log_levels = { "plugin.postgres" = "debug", admin = "warn" }
}`)
	cfg := mustLoad(t, dir, environ(nil))
	if want := map[string]string{"plugin.postgres": "debug", "admin": "warn"}; !reflect.DeepEqual(cfg.Host.LogLevels, want) {
		t.Fatalf("LogLevels = %v, want %v", cfg.Host.LogLevels, want)
	}
}

func TestThePluginBlockReadsItsStartRestartAndPermissionSettings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.hcl"), `
plugin "a" {
  path                 = "bin/a"
  start_timeout        = "3s"
  restart_reset_after  = "2s"
  allow_world_writable = true
}
plugin "b" {
  path = "bin/b"
}
`)
	cfg := mustLoad(t, dir, environ(nil))
	a, b := cfg.Plugins[0], cfg.Plugins[1]
	if a.StartTimeout != 3*time.Second || a.RestartResetAfter != 2*time.Second || !a.AllowWorldWritable {
		t.Errorf("plugin a: %+v", a)
	}
	if b.StartTimeout != 0 || b.RestartResetAfter != 0 || b.AllowWorldWritable {
		t.Errorf("plugin b, nothing set: %+v", b)
	}
	writeFile(t, filepath.Join(dir, "main.hcl"), "plugin \"a\" {\n  path = \"bin/a\"\n  start_timeout = \"soon\"\n}\n")
	if _, diags := load(t, dir, environ(nil)); !diags.HasErrors() || !strings.Contains(diags.Error(), "Invalid duration") {
		t.Errorf("start_timeout = \"soon\": %v", diags)
	}
}
