package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/plugins/mysql"
	"github.com/nebula-resource/nebula-resource/plugins/postgres"
	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// secretCanary is the secret in every file under testdata/secrets; the
// parts are what a leak of part of it would show.
const secretCanary = "hunter2-Kq9"

// driverChecked marks the files of the corpus that only a driver refuses.
const driverChecked = "the driver refuses it"

var secretParts = []string{secretCanary, "hunter2", "Kq9"}

// pluginSchemas returns the configuration schemas the shipped plugins
// publish, by resource type.
func pluginSchemas(t testing.TB) map[string]sdk.Schema {
	t.Helper()
	out := map[string]sdk.Schema{}
	for _, info := range []sdk.DriverInfo{postgres.New().Info(), mysql.New().Info(), redis.New().Info(), kafka.New().Info(), memory.New().Info()} {
		for _, rt := range info.Types {
			out[rt.Name] = rt.Config
		}
	}
	return out
}

// TestSecretsNeverAppearInDiagnostics loads every file of the corpus under
// testdata/secrets (each misuses a secret in a way that gives an error:
// bad port, bad escape, unclosed quote, wrong type, misspelt names,
// heredocs, variable defaults, function arguments, the host's own
// sensitive settings...), decodes it with the real plugins' schemas, adds
// a diagnostic on every attribute with its block as context and one over
// the whole file, and checks that no output shows the secret or part of
// it: FormatDiagnostic, the text writer with and without color, the JSON
// writer and Error.
func TestSecretsNeverAppearInDiagnostics(t *testing.T) {
	files, err := filepath.Glob("testdata/secrets/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("want at least 20 files in the corpus, found %d", len(files))
	}
	types := pluginSchemas(t)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".hcl"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(src, []byte("hunter2")) && !bytes.Contains(src, []byte("var.token")) {
				t.Fatalf("%s does not hold the secret", path)
			}
			cfg, diags := config.Load(path, environ(map[string]string{"NEBULA_VAR_token": secretCanary}))
			diags = append(diags, cfg.DecodeResources(types)...)
			if !diags.HasErrors() && !bytes.Contains(src, []byte(driverChecked)) {
				t.Fatalf("%s loaded without errors: every file of the corpus is broken", path)
			}
			diags = append(diags, cfg.HideSecrets(everyAttribute(cfg, src))...)
			diags = append(diags, wholeFile(cfg)...)
			assertNoSecret(t, cfg.Files, diags)
			t.Logf("diagnostics:\n%s", formatAll(diags))
		})
	}
}

// everyAttribute returns a diagnostic on each attribute of each resource,
// with the resource's body as context, as the host gives for a driver's
// complaint about an attribute (a bad port in a URL). Its detail quotes
// the attribute's source, as a careless driver might.
func everyAttribute(cfg *config.Config, src []byte) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, r := range cfg.Resources {
		body, ok := r.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		for name, a := range body.Attributes {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Refused by the driver",
				Detail:  "Attribute " + name + " is wrong: " + string(a.Expr.Range().SliceBytes(src)),
				Subject: a.Expr.Range().Ptr(), Context: body.SrcRange.Ptr(),
			})
		}
	}
	return diags
}

// wholeFile returns a diagnostic whose snippet is the whole of each file.
func wholeFile(cfg *config.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for name, f := range cfg.Files {
		end := hcl.Pos{Line: bytes.Count(f.Bytes, []byte("\n")) + 1, Column: 1, Byte: len(f.Bytes)}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Whole file",
			Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: end},
		})
	}
	return diags
}

// assertNoSecret writes diags every way there is and fails if the secret,
// or part of it, shows.
func assertNoSecret(t *testing.T, files map[string]*hcl.File, diags hcl.Diagnostics) {
	t.Helper()
	var plain, color, js bytes.Buffer
	if err := config.WriteDiagnostics(&plain, files, diags, false); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteDiagnostics(&color, files, diags, true); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteDiagnosticsJSON(&js, files, diags); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"FormatDiagnostic":       formatAll(diags),
		"WriteDiagnostics":       plain.String(),
		"WriteDiagnostics/color": color.String(),
		"WriteDiagnosticsJSON":   js.String(),
		"Error":                  diags.Error(),
	}
	for format, out := range outputs {
		for _, leak := range secretParts {
			if strings.Contains(out, leak) {
				t.Errorf("%s shows %q:\n%s", format, leak, out)
			}
		}
	}
	if !strings.Contains(plain.String(), "*****") && !strings.Contains(plain.String(), "var.token") {
		t.Errorf("no masked value in the snippets:\n%s", plain.String())
	}
}

// TestMaskKeepsPositions checks that masking keeps every line, column and
// byte offset, and keeps what is not secret: references, function names,
// the path given to file, the host and port of a URL.
func TestMaskKeepsPositions(t *testing.T) {
	dir := t.TempDir()
	src := `variable "pw" {
  sensitive = true
  type      = string
}
resource "postgres" "db" {
  url      = "postgres://u:${var.pw}@db.example:5432/x"
  password = file("secrets/pw.txt")
  host     = "postgres://u:p4ssw0rd-Zz@db.example:5432/x"
  port     = "x"
}
`
	path := filepath.Join(dir, "main.hcl")
	writeFile(t, path, src)
	cfg, _ := config.Load(path, config.WithVariables(map[string]string{"pw": "x"}), environ(nil))
	cfg.DecodeResources(pluginSchemas(t))
	got := string(cfg.Files[path].Bytes)
	if len(got) != len(src) || strings.Count(got, "\n") != strings.Count(src, "\n") {
		t.Fatalf("masking changed the length or the lines:\n%s", got)
	}
	for _, want := range []string{`file("secrets/pw.txt")`, `${var.pw}`, `@db.example:5432/x`, `port     = "x"`} {
		if !strings.Contains(got, want) {
			t.Errorf("masked source lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "p4ssw0rd") {
		t.Errorf("masked source shows the URL's password:\n%s", got)
	}
}

// TestShippedSensitiveNamesAreKnownBeforeTheSchemas checks that every
// attribute a shipped plugin marks sensitive is hidden by name alone, as
// it must be in a file that does not parse, before any schema is known.
func TestShippedSensitiveNamesAreKnownBeforeTheSchemas(t *testing.T) {
	for typ, s := range pluginSchemas(t) {
		for _, a := range s.Attributes {
			if !a.Sensitive {
				continue
			}
			t.Run(typ+"."+a.Name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "broken.hcl")
				writeFile(t, path, "resource \""+typ+"\" \"x\" {\n  "+a.Name+" = \""+secretCanary+"\\q\"\n")
				cfg, diags := config.Load(path, environ(nil))
				if !diags.HasErrors() {
					t.Fatal("the broken file parsed")
				}
				assertNoSecret(t, cfg.Files, append(diags, wholeFile(cfg)...))
			})
		}
	}
}
