package config

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcled"
)

// FormatDiagnostic formats d on one line, for logs and golden tests:
//
//	path/file.hcl:12:3: error: Unsupported argument; An argument named "adress" is not expected here. Did you mean "address"?
//
// The position is left out when d has no subject; line breaks in the detail
// become spaces.
func FormatDiagnostic(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	b.WriteString(severity(d.Severity))
	b.WriteString(": ")
	b.WriteString(d.Summary)
	if detail := strings.Join(strings.Fields(d.Detail), " "); detail != "" {
		b.WriteString("; ")
		b.WriteString(detail)
	}
	return b.String()
}

func severity(s hcl.DiagnosticSeverity) string {
	switch s {
	case hcl.DiagError:
		return "error"
	case hcl.DiagWarning:
		return "warning"
	}
	return "invalid"
}

// WriteDiagnostics writes diags for a person: for each, a line
// "Error: <summary>", then "  on <file> line <n>:" with a snippet of the
// source from files, then the detail. color adds terminal colors. The detail
// is not wrapped.
//
// The values of variables are never printed, even if a diagnostic carries
// an expression and evaluation context.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	return hcl.NewDiagnosticTextWriter(w, files, 0, color).WriteDiagnostics(withoutEval(diags))
}

// withoutEval returns copies of diags without expressions and evaluation
// contexts, from which hcl's text writer would print variable values.
func withoutEval(diags hcl.Diagnostics) hcl.Diagnostics {
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Expression, c.EvalContext = nil, nil
		out[i] = &c
	}
	return out
}

// jsonOutput is the shape of "terraform validate -json".
type jsonOutput struct {
	FormatVersion string            `json:"format_version"`
	Valid         bool              `json:"valid"`
	ErrorCount    int               `json:"error_count"`
	WarningCount  int               `json:"warning_count"`
	Diagnostics   []*jsonDiagnostic `json:"diagnostics"`
}

type jsonDiagnostic struct {
	Severity string       `json:"severity"`
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail"`
	Range    *jsonRange   `json:"range,omitempty"`
	Snippet  *jsonSnippet `json:"snippet,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type jsonSnippet struct {
	Context              *string `json:"context"`
	Code                 string  `json:"code"`
	StartLine            int     `json:"start_line"`
	HighlightStartOffset int     `json:"highlight_start_offset"`
	HighlightEndOffset   int     `json:"highlight_end_offset"`
	// Values would list the values of the variables in the expression;
	// it is always empty, so that no value, sensitive or not, is shown.
	Values []struct{} `json:"values"`
}

// WriteDiagnosticsJSON writes diags as one JSON object in the shape of
// "terraform validate -json":
//
//	{"format_version":"1.0","valid":false,"error_count":1,"warning_count":0,
//	 "diagnostics":[{"severity":"error","summary":"...","detail":"...",
//	   "range":{"filename":"...","start":{"line":1,"column":1,"byte":0},"end":{...}},
//	   "snippet":{"context":null,"code":"...","start_line":1,
//	     "highlight_start_offset":0,"highlight_end_offset":5,"values":[]}}]}
//
// range is left out when a diagnostic has no subject and snippet when its
// file is not in files. values is always empty.
func WriteDiagnosticsJSON(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	out := jsonOutput{FormatVersion: "1.0", Diagnostics: []*jsonDiagnostic{}}
	for _, d := range diags {
		switch d.Severity {
		case hcl.DiagError:
			out.ErrorCount++
		case hcl.DiagWarning:
			out.WarningCount++
		}
		out.Diagnostics = append(out.Diagnostics, newJSONDiagnostic(d, files))
	}
	out.Valid = out.ErrorCount == 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// newJSONDiagnostic converts d the way terraform does.
func newJSONDiagnostic(d *hcl.Diagnostic, files map[string]*hcl.File) *jsonDiagnostic {
	jd := &jsonDiagnostic{Severity: severity(d.Severity), Summary: d.Summary, Detail: d.Detail}
	if d.Subject == nil {
		return jd
	}
	highlight := *d.Subject
	if highlight.End == (hcl.Pos{}) {
		highlight.End = highlight.Start
	}
	snippet := highlight
	if d.Context != nil {
		snippet = *d.Context
	}
	snippet = hcl.RangeOver(snippet, highlight)
	// Empty ranges make odd snippets: make them one byte long.
	if snippet.Empty() {
		snippet.End.Byte++
		snippet.End.Column++
	}
	if highlight.Empty() {
		highlight.End.Byte++
		highlight.End.Column++
	}
	jd.Range = &jsonRange{
		Filename: highlight.Filename,
		Start:    jsonPos{highlight.Start.Line, highlight.Start.Column, highlight.Start.Byte},
		End:      jsonPos{highlight.End.Line, highlight.End.Column, highlight.End.Byte},
	}
	f := files[highlight.Filename]
	if f == nil || f.Bytes == nil {
		return jd
	}
	src := f.Bytes
	js := &jsonSnippet{StartLine: snippet.Start.Line, Values: []struct{}{}}
	if ctx := hcled.ContextString(f, highlight.Start.Byte-1); ctx != "" {
		js.Context = &ctx
	}
	var code strings.Builder
	codeStart := -1
	sc := hcl.NewRangeScanner(src, highlight.Filename, bufio.ScanLines)
	for sc.Scan() {
		line := sc.Range()
		if line.Overlaps(snippet) {
			if codeStart < 0 {
				codeStart = line.Start.Byte
			}
			code.Write(line.SliceBytes(src))
			code.WriteByte('\n')
		}
	}
	if codeStart < 0 {
		codeStart = 0
	}
	js.Code = strings.TrimSuffix(code.String(), "\n")
	start := highlight.Start.Byte - codeStart
	end := start + (highlight.End.Byte - highlight.Start.Byte)
	js.HighlightStartOffset = min(max(start, 0), len(js.Code))
	js.HighlightEndOffset = min(max(end, 0), len(js.Code))
	jd.Snippet = js
	return jd
}
