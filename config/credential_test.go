package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
)

// loadSource loads one file holding src.
func loadSource(t *testing.T, src string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path, environ(nil))
	if diags.HasErrors() {
		t.Fatalf("load:\n%s", formatAll(diags))
	}
	return cfg, path
}

func TestCredentialBlocksAreDecodedAndReferencedFromResources(t *testing.T) {
	cfg, _ := loadSource(t, `
credential "pg" {
  source = "file"
  path   = "secrets/pg.json"
  poll_interval = "100ms"
}
credential "api" {
  source    = "env"
  variables = { token = "API_TOKEN" }
}
credential "aws" {
  source  = "exec"
  command = ["/usr/local/bin/creds", "--profile", "x"]
  timeout = "5s"
  refresh_before = "1m"
}
resource "memory" "m" {
  name     = "user-${credential.pg.username}"
  password = credential.pg.password
}
`)
	if len(cfg.Credentials) != 3 {
		t.Fatalf("%d credentials, want 3", len(cfg.Credentials))
	}
	pg := cfg.Credentials[0]
	if pg.Source != config.CredentialFile || !filepath.IsAbs(pg.Path) || !strings.HasSuffix(pg.Path, "secrets/pg.json") || pg.PollInterval.String() != "100ms" {
		t.Errorf("pg = %+v", pg)
	}
	if got := cfg.Credentials[1].Variables; !reflect.DeepEqual(got, map[string]string{"token": "API_TOKEN"}) {
		t.Errorf("api variables = %v", got)
	}
	if got := cfg.Credentials[2].Command; !reflect.DeepEqual(got, []string{"/usr/local/bin/creds", "--profile", "x"}) {
		t.Errorf("aws command = %v", got)
	}
	refs := cfg.Resources[0].Credentials
	if len(refs) != 2 || refs[0].Credential != "pg" || refs[0].Attribute != "username" || refs[1].Attribute != "password" {
		t.Errorf("references = %+v", refs)
	}

	diags := cfg.DecodeResources(schemas, config.WithCredentials(config.CredentialValues{"pg": {"username": "ada", "password": "s3cret-value"}}))
	if diags.HasErrors() {
		t.Fatal(formatAll(diags))
	}
	if got, want := string(cfg.Resources[0].Config), `"name":"user-ada"`; !strings.Contains(got, want) || !strings.Contains(got, `"password":"s3cret-value"`) {
		t.Errorf("config = %s, want %s and the password", got, want)
	}
	// Decoded again with a new value: the rotation.
	diags = cfg.DecodeResources(schemas, config.WithCredentials(config.CredentialValues{"pg": {"username": "grace", "password": "n3w-value"}}))
	if diags.HasErrors() || !strings.Contains(string(cfg.Resources[0].Config), "user-grace") {
		t.Errorf("decoded again: %s %s", cfg.Resources[0].Config, formatAll(diags))
	}
}

func TestCredentialMistakesAreReportedWhereTheyAre(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unknown source":              {`credential "x" { source = "vault" }`, `main.hcl:1:27: error: Invalid value`},
		"file without path":           {`credential "x" { source = "file" }`, `main.hcl:1:1: error: Missing required attribute; A credential of source "file" needs "path".`},
		"attribute of another source": {"credential \"x\" {\n  source = \"env\"\n  variables = { a = \"A\" }\n  path = \"/x\"\n}", `main.hcl:4:3: error: Attribute not used by this source; Attribute "path" does nothing for a credential of source "env"`},
		"empty command":               {"credential \"x\" {\n  source = \"exec\"\n  command = []\n}", `main.hcl:3:13: error: Empty command`},
		"duplicate":                   {"credential \"x\" {\n  source = \"env\"\n  variables = { a = \"A\" }\n}\ncredential \"x\" {\n  source = \"env\"\n  variables = { a = \"A\" }\n}", `main.hcl:5:12: error: Duplicate credential`},
		"undeclared":                  {"credential \"pg\" {\n  source = \"env\"\n  variables = { a = \"A\" }\n}\nresource \"memory\" \"m\" {\n  name = credential.pgg.a\n}", `main.hcl:6:10: error: Reference to undeclared credential; No credential "pgg" is declared. Did you mean credential.pg?`},
		"no attribute":                {"resource \"memory\" \"m\" {\n  name = credential.pg\n}", `main.hcl:2:10: error: Invalid reference; Refer to an attribute of a credential as credential.<name>.<attribute>`},
		"outside a resource":          {"credential \"pg\" {\n  source = \"env\"\n  variables = { a = \"A\" }\n}\nhost {\n  log_level = credential.pg.a\n}", `main.hcl:6:15: error: Invalid reference; Credentials can be referred to only in the driver attributes of a resource`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "main.hcl")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := config.Load(path, environ(nil))
			got := formatAll(diags)
			if !strings.Contains(got, tc.want) {
				t.Errorf("diagnostics:\n%s\nwant one holding %q", got, tc.want)
			}
		})
	}
}

func TestAMissingCredentialAttributeNamesThoseThereAreButNoValue(t *testing.T) {
	cfg, _ := loadSource(t, "credential \"pg\" {\n  source = \"env\"\n  variables = { a = \"A\" }\n}\nresource \"memory\" \"m\" {\n  name = credential.pg.pasword\n}")
	diags := cfg.DecodeResources(schemas, config.WithCredentials(config.CredentialValues{"pg": {"password": "hunter2-secret", "username": "ada"}}))
	got := formatAll(diags)
	if !strings.Contains(got, `main.hcl:6:10: error: Reference to unknown credential attribute; Credential "pg" has no attribute "pasword"; it has "password", "username". Did you mean "password"?`) {
		t.Errorf("diagnostics:\n%s", got)
	}
	if strings.Contains(got, "hunter2") || strings.Contains(got, "ada") {
		t.Errorf("a diagnostic shows a credential's value:\n%s", got)
	}
}

func TestTenantBlocksAndQuotas(t *testing.T) {
	cfg, _ := loadSource(t, `
host {
  quota_store = resource.redis.q
}
resource "redis" "q" {}
resource "memory" "a" {}
resource "memory" "b" {}
tenant "acme" {
  resources = [resource.memory.a, resource.memory.b]
  quota {
    max_leases = 2
    rate       = "6000/m"
    burst      = 20
  }
}
tenant "globex" {
  resources = [resource.memory.b]
}
`)
	if cfg.Host.QuotaStore != "redis.q" {
		t.Errorf("quota_store = %q", cfg.Host.QuotaStore)
	}
	acme := cfg.TenantOf("acme")
	if acme == nil || !reflect.DeepEqual(acme.Resources, []string{"memory.a", "memory.b"}) || acme.Quota.MaxLeases != 2 || acme.Quota.Rate != 100 || acme.Quota.Burst != 20 {
		t.Errorf("acme = %+v", acme)
	}
	if g := cfg.TenantOf("globex"); g == nil || g.Quota != (config.Quota{}) {
		t.Errorf("globex = %+v", g)
	}
	for name, tc := range map[string]struct{ src, want string }{
		"undeclared resource":   {"resource \"memory\" \"a\" {}\ntenant \"t\" {\n  resources = [resource.memory.b]\n}", `main.hcl:3:16: error: Reference to undeclared resource; Tenant "t" lists resource.memory.b, which is not declared. Did you mean resource.memory.a?`},
		"bad rate":              {"resource \"memory\" \"a\" {}\ntenant \"t\" {\n  resources = [resource.memory.a]\n  quota {\n    rate = \"fast\"\n  }\n}", `main.hcl:5:12: error: Invalid rate; the rate "fast" is not a number of calls per second, minute or hour`},
		"not a reference":       {"tenant \"t\" {\n  resources = [\"memory.a\"]\n}", `main.hcl:2:16: error: Invalid resource in tenant`},
		"duplicate tenant":      {"resource \"memory\" \"a\" {}\ntenant \"t\" {\n  resources = [resource.memory.a]\n}\ntenant \"t\" {\n  resources = [resource.memory.a]\n}", `main.hcl:5:1: error: Duplicate tenant`},
		"quota store not redis": {"host {\n  quota_store = resource.memory.a\n}\nresource \"memory\" \"a\" {}", `main.hcl:2:17: error: Quota store is not redis`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "main.hcl")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := config.Load(path, environ(nil))
			if got := formatAll(diags); !strings.Contains(got, tc.want) {
				t.Errorf("diagnostics:\n%s\nwant one holding %q", got, tc.want)
			}
		})
	}
}

// A Kubernetes ConfigMap volume holds symbolic links into its current
// ..data directory: a directory of them loads like one of files.
func TestLoadReadsAConfigMapVolumeOfSymbolicLinks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_04_10_00_00.123")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "main.hcl"), []byte(`resource "memory" "m" { name = "x" }`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "main.hcl"), filepath.Join(dir, "main.hcl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("missing.hcl", filepath.Join(dir, "dangling.hcl")); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir, environ(nil))
	if diags.HasErrors() {
		t.Fatal(formatAll(diags))
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].ID() != "memory.m" {
		t.Errorf("resources %v", cfg.Resources)
	}
}

// The environment variables a credential reads are names, not secrets:
// they stay in diagnostics. A password literal elsewhere is masked.
func TestACredentialsVariableNamesAreNotMasked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.hcl")
	src := "credential \"api\" {\n  source    = \"env\"\n  variables = { token = \"API_TOKEN\", password = \"PG_PASSWORD\" }\n}\nresource \"memory\" \"m\" {\n  name     = \"x\"\n  password = \"hunter2-literal\"\n  oops     = 1\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path, environ(nil))
	if diags.HasErrors() {
		t.Fatal(formatAll(diags))
	}
	diags = cfg.DecodeResources(schemas)
	var buf strings.Builder
	if err := config.WriteDiagnostics(&buf, cfg.Files, diags, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String() + string(cfg.Files[path].Bytes)
	if !strings.Contains(out, "API_TOKEN") || !strings.Contains(out, "PG_PASSWORD") {
		t.Errorf("the variables' names are masked:\n%s", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password literal is shown:\n%s", out)
	}
	if got := cfg.HideSecrets(diags); strings.Contains(formatAll(got), "hunter2") {
		t.Error("HideSecrets left the password")
	}
}
