package config_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
)

func TestWriteDiagnosticsJSONHasTerraformValidateShape(t *testing.T) {
	cfg, diags := config.Load("testdata/invalid/unknown_attribute.hcl", environ(nil))
	if len(diags) != 1 {
		t.Fatalf("want 1 diagnostic, got:\n%s", formatAll(diags))
	}
	var buf bytes.Buffer
	if err := config.WriteDiagnosticsJSON(&buf, cfg.Files, diags); err != nil {
		t.Fatal(err)
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &top); err != nil {
		t.Fatalf("%v in\n%s", err, buf.String())
	}
	assertKeys(t, "top level", top, "format_version", "valid", "error_count", "warning_count", "diagnostics")

	var out struct {
		FormatVersion string            `json:"format_version"`
		Valid         bool              `json:"valid"`
		ErrorCount    int               `json:"error_count"`
		WarningCount  int               `json:"warning_count"`
		Diagnostics   []json.RawMessage `json:"diagnostics"`
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.FormatVersion != "1.0" || out.Valid || out.ErrorCount != 1 || out.WarningCount != 0 || len(out.Diagnostics) != 1 {
		t.Fatalf("got %+v", out)
	}

	var d map[string]json.RawMessage
	if err := json.Unmarshal(out.Diagnostics[0], &d); err != nil {
		t.Fatal(err)
	}
	assertKeys(t, "diagnostic", d, "severity", "summary", "detail", "range", "snippet")

	var diag struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Range    struct {
			Filename string `json:"filename"`
			Start    struct{ Line, Column, Byte int }
			End      struct{ Line, Column, Byte int }
		} `json:"range"`
		Snippet struct {
			Context              *string `json:"context"`
			Code                 string  `json:"code"`
			StartLine            int     `json:"start_line"`
			HighlightStartOffset int     `json:"highlight_start_offset"`
			HighlightEndOffset   int     `json:"highlight_end_offset"`
			Values               []any   `json:"values"`
		} `json:"snippet"`
	}
	if err := json.Unmarshal(out.Diagnostics[0], &diag); err != nil {
		t.Fatal(err)
	}
	if diag.Severity != "error" || diag.Summary != "Unsupported argument" ||
		diag.Detail != `An argument named "adress" is not expected here. Did you mean "address"?` {
		t.Errorf("got %+v", diag)
	}
	r := diag.Range
	if r.Filename != "testdata/invalid/unknown_attribute.hcl" || r.Start.Line != 2 || r.Start.Column != 3 || r.Start.Byte != 10 ||
		r.End.Line != 2 || r.End.Column != 9 || r.End.Byte != 16 {
		t.Errorf("range = %+v", r)
	}
	s := diag.Snippet
	if s.Context == nil || *s.Context != "admin" {
		t.Errorf("snippet context = %v, want admin", s.Context)
	}
	if s.Code != `  adress = "127.0.0.1:9464"` || s.StartLine != 2 || s.HighlightStartOffset != 2 || s.HighlightEndOffset != 8 {
		t.Errorf("snippet = %+v", s)
	}
	if s.Values == nil || len(s.Values) != 0 {
		t.Errorf("snippet values = %v, want []", s.Values)
	}
	var snippet map[string]json.RawMessage
	if err := json.Unmarshal(d["snippet"], &snippet); err != nil {
		t.Fatal(err)
	}
	assertKeys(t, "snippet", snippet, "context", "code", "start_line", "highlight_start_offset", "highlight_end_offset", "values")
}

func TestWriteDiagnosticsJSONWithoutDiagnosticsIsValid(t *testing.T) {
	var buf bytes.Buffer
	if err := config.WriteDiagnosticsJSON(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"format_version": "1.0", "valid": true, "error_count": 0.0, "warning_count": 0.0, "diagnostics": []any{}}
	if !jsonEqual(got, want) {
		t.Errorf("got %s", buf.String())
	}
}

func TestWriteDiagnosticsJSONContextIsNullAtTopLevel(t *testing.T) {
	cfg, diags := config.Load("testdata/invalid/unknown_block.hcl", environ(nil))
	var buf bytes.Buffer
	if err := config.WriteDiagnosticsJSON(&buf, cfg.Files, diags); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"context": null`) {
		t.Errorf("want a null context in\n%s", buf.String())
	}
}

func TestWriteDiagnosticsPrintsSummaryPositionAndSnippet(t *testing.T) {
	cfg, diags := config.Load("testdata/invalid/unknown_attribute.hcl", environ(nil))
	var buf bytes.Buffer
	if err := config.WriteDiagnostics(&buf, cfg.Files, diags, false); err != nil {
		t.Fatal(err)
	}
	want := `Error: Unsupported argument

  on testdata/invalid/unknown_attribute.hcl line 2, in admin:
   2:   adress = "127.0.0.1:9464"

An argument named "adress" is not expected here. Did you mean "address"?

`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestFormatDiagnostic(t *testing.T) {
	rng := hcl.Range{Filename: "path/file.hcl", Start: hcl.Pos{Line: 12, Column: 3, Byte: 100}, End: hcl.Pos{Line: 12, Column: 9, Byte: 106}}
	tests := map[string]struct {
		diag *hcl.Diagnostic
		want string
	}{
		"error with detail": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: "An argument named \"adress\" is not expected here.\nDid you mean \"address\"?", Subject: &rng},
			want: `path/file.hcl:12:3: error: Unsupported argument; An argument named "adress" is not expected here. Did you mean "address"?`,
		},
		"warning without detail": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Deprecated", Subject: &rng},
			want: `path/file.hcl:12:3: warning: Deprecated`,
		},
		"no subject": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Oops", Detail: "Fix it."},
			want: `error: Oops; Fix it.`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := config.FormatDiagnostic(tt.diag); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func assertKeys(t *testing.T, what string, m map[string]json.RawMessage, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("%s has keys %v, want %v", what, mapKeys(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks key %q", what, k)
		}
	}
}

func mapKeys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
