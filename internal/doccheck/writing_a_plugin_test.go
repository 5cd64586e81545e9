// Package doccheck keeps the code in the documentation true: its test
// extracts the Go blocks of docs/writing-a-plugin.md into a module of
// their own and builds, vets and tests that module against this
// checkout's SDK.
//
// Each Go block of the doc is marked by an HTML comment on the line
// before it (blank lines between are allowed), which says what the block
// is:
//
//	<!-- go: file PATH -->     the whole file PATH of the doc's module
//	                           (also for the go.mod block, which is no Go)
//	<!-- go: continue -->      more of the file of the last file or
//	                           continue block before it
//	<!-- go: decls DIR -->     package-level declarations of the package
//	                           in DIR, in a file of their own, to which the
//	                           test adds the imports of the names they use
//	<!-- go: excerpt PATH -->  lines that appear, in order, in PATH: a file
//	                           of the doc's module, or with the prefix
//	                           repo: a file of this repository (blank and
//	                           comment-only lines aside)
//
// A Go block without a marker, or a marker without a block, fails the
// test, so no block escapes checking. Failures name the line of the doc.
package doccheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writingAPlugin is the doc whose Go blocks
// TestWritingAPluginGoBlocksBuildVetAndPass builds, relative to the
// repository's root.
const writingAPlugin = "docs/writing-a-plugin.md"

// repoModule is this repository's module path. The doc's go.mod may
// require it, or a module under it (…/sdk, when the SDK is a module of
// its own); each such requirement is replaced by the directory of this
// checkout at the same path below the root.
const repoModule = "github.com/nebula-resource/nebula-resource"

// importPaths are the packages a decls block may use without importing
// them, by the name it uses. The doc module's own packages are found by
// the names of their directories.
var importPaths = map[string]string{
	"bytes":    "bytes",
	"context":  "context",
	"errors":   "errors",
	"fmt":      "fmt",
	"http":     "net/http",
	"io":       "io",
	"json":     "encoding/json",
	"net":      "net",
	"slog":     "log/slog",
	"strings":  "strings",
	"sync":     "sync",
	"testing":  "testing",
	"time":     "time",
	"otel":     "go.opentelemetry.io/otel",
	"sdktrace": "go.opentelemetry.io/otel/sdk/trace",
	"sdk":      repoModule + "/sdk",
	"sdktest":  repoModule + "/sdk/sdktest",
	// The opt-in module that exports a plugin's spans.
	"otelexport": repoModule + "/sdk/otelexport",
}

func TestWritingAPluginGoBlocksBuildVetAndPass(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, writingAPlugin))
	if err != nil {
		t.Fatal(err)
	}
	m, err := extract(writingAPlugin, string(text))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.checkExcerpts(root); err != nil {
		t.Error(err)
	}
	dir := t.TempDir()
	if err := m.write(dir, root); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{{"build", "./..."}, {"vet", "./..."}}
	if !testing.Short() {
		// The doc's own tests: the greeter passes the conformance kit,
		// in process and as a built binary.
		steps = append(steps, []string{"test", "-count=1", "./..."})
	}
	for _, args := range steps {
		if err := m.run(t.Context(), dir, args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestABrokenDocFailsNamingItsLine checks that the checks can fail, and
// that they say where.
func TestABrokenDocFailsNamingItsLine(t *testing.T) {
	const gomod = "<!-- go: file go.mod -->\n```\nmodule example.com/broken\n\ngo 1.26\n```\n"
	tests := map[string]struct {
		doc  string
		says string // in the error, with the doc's name and the line
	}{
		"a go block without a marker": {
			doc:  "text\n\n```go\npackage x\n```\n",
			says: "broken.md:3: a go block without a marker",
		},
		"a marker without a block": {
			doc:  "<!-- go: file x.go -->\ntext\n",
			says: "broken.md:1: the marker is not followed by a code block",
		},
		"a continue with nothing before it": {
			doc:  "<!-- go: continue -->\n```go\nvar x = 1\n```\n",
			says: "broken.md:1: nothing to continue",
		},
		"an unknown marker": {
			doc:  "<!-- go: fragment -->\n```go\nvar x = 1\n```\n",
			says: `broken.md:1: unknown marker "fragment"`,
		},
		"a file written twice": {
			doc:  "<!-- go: file a.go -->\n```go\npackage a\n```\n\n<!-- go: file a.go -->\n```go\npackage a\n```\n",
			says: `broken.md:6: a.go is written by the block at line 1 already`,
		},
		"a block gofmt would change": {
			doc:  gomod + "<!-- go: file a.go -->\n```go\npackage a\n\nvar x  = 1\n```\n",
			says: "broken.md:11: gofmt would change this line",
		},
		"code that does not compile": {
			doc:  gomod + "<!-- go: file main.go -->\n```go\npackage main\n\nfunc main() {\n\tgreet()\n}\n```\n",
			says: "main.go:4:2 [broken.md:12]: undefined: greet",
		},
		"a continued block that does not compile": {
			doc:  gomod + "<!-- go: file main.go -->\n```go\npackage main\n\nfunc main() {}\n```\n\n<!-- go: continue -->\n```go\nvar n int = \"one\"\n```\n",
			says: "main.go:5:13 [broken.md:16]: cannot use \"one\"",
		},
		"a decls block that does not compile": {
			doc:  gomod + "<!-- go: decls errs -->\n```go\nfunc f() error { return errors.New(1) }\n```\n",
			says: "[broken.md:9]: cannot use 1",
		},
		"an excerpt that differs": {
			doc:  gomod + "<!-- go: file a.go -->\n```go\npackage a\n\nfunc A() int {\n\treturn 1\n}\n```\n\n<!-- go: excerpt a.go -->\n```go\nfunc A() int {\n\treturn 2\n}\n```\n",
			says: "broken.md:19: the excerpt differs from a.go from here on",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkDoc(t, "broken.md", tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("got %v, want an error saying %q", err, tt.says)
			}
		})
	}
}

// checkDoc runs on doc what TestWritingAPluginGoBlocksBuildVetAndPass
// runs, up to go build, and returns the first error.
func checkDoc(t *testing.T, name, doc string) error {
	t.Helper()
	m, err := extract(name, doc)
	if err != nil {
		return err
	}
	if err := m.checkExcerpts(""); err != nil {
		return err
	}
	dir := t.TempDir()
	if err := m.write(dir, ""); err != nil {
		return err
	}
	return m.run(t.Context(), dir, "build", "./...")
}

// A block is a fenced code block of the doc.
type block struct {
	line   int    // the doc's line of the block's first line of code
	fence  int    // the doc's line of its opening fence
	info   string // the fence's info string: "go", "hcl", ""
	lines  []string
	marker *marker
}

// A marker is the HTML comment before a block that says what it is.
type marker struct {
	line int
	verb string // file, continue, decls or excerpt
	arg  string
}

var markerLine = regexp.MustCompile(`^<!--\s*go:\s*(.*?)\s*-->$`)

// blocks returns the fenced code blocks of a Markdown text, each with the
// marker before it.
func blocks(name, text string) ([]block, []error) {
	lines := strings.Split(text, "\n")
	var (
		out     []block
		errs    []error
		pending *marker
	)
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if m := markerLine.FindStringSubmatch(trimmed); m != nil {
			if pending != nil {
				errs = append(errs, fmt.Errorf("%s:%d: the marker is not followed by a code block", name, pending.line))
			}
			verb, arg, _ := strings.Cut(m[1], " ")
			pending = &marker{line: i + 1, verb: verb, arg: strings.TrimSpace(arg)}
			continue
		}
		fence, info, ok := openingFence(trimmed)
		if !ok {
			if trimmed != "" && pending != nil {
				errs = append(errs, fmt.Errorf("%s:%d: the marker is not followed by a code block", name, pending.line))
				pending = nil
			}
			continue
		}
		// A fence inside a list item is indented; so is its code.
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		b := block{line: i + 2, fence: i + 1, info: info, marker: pending}
		pending = nil
		for i++; i < len(lines) && !closingFence(lines[i], fence); i++ {
			b.lines = append(b.lines, strings.TrimPrefix(lines[i], indent))
		}
		if i == len(lines) {
			errs = append(errs, fmt.Errorf("%s:%d: the code block is not closed", name, b.fence))
		}
		out = append(out, b)
	}
	if pending != nil {
		errs = append(errs, fmt.Errorf("%s:%d: the marker is not followed by a code block", name, pending.line))
	}
	return out, errs
}

// openingFence reports whether line opens a code block, with the fence
// (``` or ~~~, or longer) and the info string.
func openingFence(line string) (fence, info string, ok bool) {
	for _, c := range []string{"`", "~"} {
		if strings.HasPrefix(line, c+c+c) {
			fence = line[:len(line)-len(strings.TrimLeft(line, c))]
			return fence, strings.TrimSpace(line[len(fence):]), true
		}
	}
	return "", "", false
}

func closingFence(line, fence string) bool {
	t := strings.TrimSpace(line)
	return len(t) >= len(fence) && strings.Trim(t, fence[:1]) == "" && t[0] == fence[0]
}

func isGo(info string) bool {
	lang, _, _ := strings.Cut(info, " ")
	return lang == "go" || lang == "golang"
}

// A srcFile is a file of the doc's module.
type srcFile struct {
	path  string
	lines []string
	from  []int // the doc's line of each line; 0 for a line the test wrote
	first int   // the doc's line of the marker of the block that began it
}

func (f *srcFile) add(b block) {
	for i, l := range b.lines {
		f.lines = append(f.lines, l)
		f.from = append(f.from, b.line+i)
	}
}

func (f *srcFile) addGenerated(lines ...string) {
	f.lines = append(f.lines, lines...)
	f.from = append(f.from, make([]int, len(lines))...)
}

// docLine returns the doc's line of line n (from 1) of f, or 0.
func (f *srcFile) docLine(n int) int {
	if n < 1 || n > len(f.from) {
		return 0
	}
	return f.from[n-1]
}

// A module is the module the doc's blocks make.
type module struct {
	name     string // the doc, for messages
	files    []*srcFile
	excerpts []block
}

func (m *module) file(p string) *srcFile {
	for _, f := range m.files {
		if f.path == p {
			return f
		}
	}
	return nil
}

// extract reads the doc's blocks into a module, and reports every block
// that is not marked as the package doc says, and every Go file that
// gofmt would change.
func extract(name, text string) (*module, error) {
	bs, errs := blocks(name, text)
	m := &module{name: name}
	var last *srcFile // what a continue block continues
	var decls []block
	for _, b := range bs {
		mk := b.marker
		switch {
		case mk == nil && isGo(b.info):
			errs = append(errs, fmt.Errorf("%s:%d: a go block without a marker (<!-- go: file PATH -->, continue, decls DIR or excerpt PATH; see internal/doccheck)", name, b.fence))
			continue
		case mk == nil:
			continue
		case mk.verb != "file" && !isGo(b.info):
			errs = append(errs, fmt.Errorf("%s:%d: a %q marker before a block that is not go", name, mk.line, mk.verb))
			continue
		}
		switch mk.verb {
		case "file", "decls", "excerpt":
			if err := checkPath(mk.arg); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %v", name, mk.line, mk.verb, err))
				continue
			}
		}
		switch mk.verb {
		case "file":
			if f := m.file(mk.arg); f != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s is written by the block at line %d already", name, mk.line, mk.arg, f.first))
				continue
			}
			last = &srcFile{path: mk.arg, first: mk.line}
			last.add(b)
			m.files = append(m.files, last)
		case "continue":
			if last == nil {
				errs = append(errs, fmt.Errorf("%s:%d: nothing to continue: no file block before it", name, mk.line))
				continue
			}
			last.addGenerated("")
			last.add(b)
		case "decls":
			decls = append(decls, b)
		case "excerpt":
			m.excerpts = append(m.excerpts, b)
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unknown marker %q", name, mk.line, mk.verb))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, b := range decls {
		f, err := m.declsFile(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.files = append(m.files, f)
	}
	for _, f := range m.files {
		if err := m.checkFormat(f); err != nil {
			errs = append(errs, err)
		}
	}
	return m, errors.Join(errs...)
}

func checkPath(p string) error {
	p = strings.TrimPrefix(p, "repo:")
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "..") {
		return fmt.Errorf("want a clean relative path, got %q", p)
	}
	return nil
}

// modulePath returns the path the doc's go.mod declares.
func (m *module) modulePath() string {
	if f := m.file("go.mod"); f != nil {
		for _, l := range f.lines {
			if p, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
				return strings.TrimSpace(p)
			}
		}
	}
	return ""
}

// declsFile makes the file of a decls block: the package clause, the
// imports of the names it uses, and the block.
func (m *module) declsFile(b block) (*srcFile, error) {
	dir := b.marker.arg
	pkg := path.Base(dir)
	src := "package " + pkg + "\n" + strings.Join(b.lines, "\n") + "\n"
	file, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: the block does not parse as declarations: %v", m.name, b.line, err)
	}
	ours := map[string]string{}
	if mod := m.modulePath(); mod != "" {
		for _, f := range m.files {
			if d := path.Dir(f.path); d != "." && d != dir && strings.HasSuffix(f.path, ".go") {
				ours[path.Base(d)] = mod + "/" + d
			}
		}
	}
	// A name before a dot that is one of importPaths' is taken for the
	// package: a block that means a variable of that name gets an import
	// it does not use, which go build reports.
	var std, others []string
	ast.Inspect(file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		p, ok := importPaths[id.Name]
		if !ok {
			p, ok = ours[id.Name]
		}
		if !ok {
			return true
		}
		spec := strconv.Quote(p)
		if path.Base(p) != id.Name {
			spec = id.Name + " " + spec
		}
		if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
			others = append(others, spec)
		} else {
			std = append(std, spec)
		}
		return true
	})
	f := &srcFile{path: path.Join(dir, fmt.Sprintf("doc_line_%d.go", b.line)), first: b.marker.line}
	f.addGenerated("package "+pkg, "")
	if len(std)+len(others) > 0 {
		f.addGenerated("import (")
		for i, group := range [][]string{std, others} {
			// By path, as gofmt sorts them: an alias comes first.
			slices.SortFunc(group, func(a, b string) int {
				return strings.Compare(a[strings.Index(a, `"`):], b[strings.Index(b, `"`):])
			})
			group = slices.Compact(group)
			if i > 0 && len(group) > 0 && len(std) > 0 {
				f.addGenerated("")
			}
			for _, p := range group {
				f.addGenerated("\t" + p)
			}
		}
		f.addGenerated(")", "")
	}
	f.add(b)
	return f, nil
}

// checkFormat reports the first line of a Go file that gofmt would change.
// A file that does not parse is left to go build, which says why.
func (m *module) checkFormat(f *srcFile) error {
	if !strings.HasSuffix(f.path, ".go") {
		return nil
	}
	src := strings.Join(f.lines, "\n") + "\n"
	out, err := format.Source([]byte(src))
	if err != nil || string(out) == src {
		return nil
	}
	got, want := f.lines, strings.Split(string(out), "\n")
	for i := range got {
		if i >= len(want) || got[i] != want[i] {
			if n := f.docLine(i + 1); n > 0 {
				return fmt.Errorf("%s:%d: gofmt would change this line of %s: %q", m.name, n, f.path, got[i])
			}
			break
		}
	}
	return fmt.Errorf("%s: gofmt would change %s (the block at line %d)", m.name, f.path, f.first)
}

// checkExcerpts reports each excerpt block whose lines do not appear, in
// order, in the file it names.
func (m *module) checkExcerpts(root string) error {
	var errs []error
	for _, b := range m.excerpts {
		p := b.marker.arg
		var text string
		if rp, ok := strings.CutPrefix(p, "repo:"); ok {
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rp)))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: excerpt: %v", m.name, b.marker.line, err))
				continue
			}
			text = string(data)
		} else if f := m.file(p); f != nil {
			text = strings.Join(f.lines, "\n")
		} else {
			errs = append(errs, fmt.Errorf("%s:%d: excerpt of %s, which no block writes", m.name, b.marker.line, p))
			continue
		}
		if err := matchExcerpt(m.name, p, b, text); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type codeLine struct {
	text string
	line int
}

// significant returns lines without their indentation, leaving out blank
// lines and comment-only lines.
func significant(lines []string, first int) []codeLine {
	var out []codeLine
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		out = append(out, codeLine{t, first + i})
	}
	return out
}

func matchExcerpt(name, p string, b block, text string) error {
	want := significant(b.lines, b.line)
	have := significant(strings.Split(text, "\n"), 1)
	if len(want) == 0 {
		return fmt.Errorf("%s:%d: an empty excerpt", name, b.fence)
	}
	best := 0
	for i := range have {
		n := 0
		for n < len(want) && i+n < len(have) && have[i+n].text == want[n].text {
			n++
		}
		if n == len(want) {
			return nil
		}
		best = max(best, n)
	}
	return fmt.Errorf("%s:%d: the excerpt differs from %s from here on: %q", name, want[best].line, p, want[best].text)
}

// write writes the module into dir. The requirements of modules of this
// repository are replaced by the checkout at root, and their go.sum
// files are copied, so that the module builds offline.
func (m *module) write(dir, root string) error {
	gomod := m.file("go.mod")
	if gomod == nil {
		return fmt.Errorf("%s: no block is the go.mod (<!-- go: file go.mod -->)", m.name)
	}
	var lines []string
	var from []int
	var required []string
	inRequire := false
	for i, l := range gomod.lines {
		fields := strings.Fields(l)
		switch {
		case len(fields) == 0:
		case fields[0] == "replace" && len(fields) > 1 && fields[1] == "(":
			return fmt.Errorf("%s:%d: write each replace directive on a line of its own", m.name, gomod.from[i])
		case fields[0] == "replace" && len(fields) > 1 && inRepo(fields[1]):
			continue // replaced below, by this checkout
		case fields[0] == "require" && len(fields) > 1 && fields[1] == "(":
			inRequire = true
		case inRequire && fields[0] == ")":
			inRequire = false
		case inRequire && inRepo(fields[0]):
			required = append(required, fields[0])
		case fields[0] == "require" && len(fields) > 1 && inRepo(fields[1]):
			required = append(required, fields[1])
		}
		lines = append(lines, l)
		from = append(from, gomod.from[i])
	}
	var sums []byte
	seen := map[string]bool{}
	for _, mod := range required {
		modDir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(mod, repoModule)))
		lines = append(lines, "", fmt.Sprintf("replace %s => %s", mod, modDir))
		sum, err := os.ReadFile(filepath.Join(modDir, "go.sum"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, l := range strings.SplitAfter(string(sum), "\n") {
			if l != "" && !seen[l] {
				seen[l] = true
				sums = append(sums, l...)
			}
		}
	}
	m.files[slices.Index(m.files, gomod)] = &srcFile{path: "go.mod", lines: lines, from: from, first: gomod.first}
	for _, f := range m.files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(strings.Join(f.lines, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644)
}

func inRepo(mod string) bool {
	return mod == repoModule || strings.HasPrefix(mod, repoModule+"/")
}

// position is a file position in the go command's output.
var position = regexp.MustCompile(`([\w./-]+\.(?:go|mod)):(\d+)(?::\d+)?`)

// run runs the go command in the module at dir, offline (the module
// cache holds all it needs), and on failure returns its output with the
// doc's line after each position in the module's files.
func (m *module) run(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	out = bytes.ReplaceAll(out, []byte(dir+string(filepath.Separator)), nil)
	explained := position.ReplaceAllStringFunc(string(out), func(s string) string {
		sub := position.FindStringSubmatch(s)
		n, _ := strconv.Atoi(sub[2])
		if f := m.fileNamed(strings.TrimPrefix(sub[1], "./")); f != nil {
			if line := f.docLine(n); line > 0 {
				return fmt.Sprintf("%s [%s:%d]", s, m.name, line)
			}
		}
		return s
	})
	return fmt.Errorf("go %s in the module of %s's code blocks: %v\n%s", strings.Join(args, " "), m.name, err, explained)
}

// fileNamed returns the file at p, or the one file whose name is p (test
// output names a file without its directory).
func (m *module) fileNamed(p string) *srcFile {
	if f := m.file(p); f != nil {
		return f
	}
	var found *srcFile
	for _, f := range m.files {
		if path.Base(f.path) == p {
			if found != nil {
				return nil
			}
			found = f
		}
	}
	return found
}
