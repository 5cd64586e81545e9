package doctest

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCompareAllowsOnlyWhatTheWildcardsSay checks the matcher against
// outputs that must match and outputs that must not.
func TestCompareAllowsOnlyWhatTheWildcardsSay(t *testing.T) {
	tests := map[string]struct {
		want, got []string
		ok        bool
	}{
		"equal":                            {[]string{"a", "b"}, []string{"a", "b"}, true},
		"a line missing":                   {[]string{"a", "b"}, []string{"a"}, false},
		"a line more":                      {[]string{"a"}, []string{"a", "b"}, false},
		"nothing shown, something printed": {nil, []string{"a"}, false},
		"blanks inside and at the ends":    {[]string{"NAME  TYPE", "  x   y"}, []string{"NAME TYPE   ", "x      y"}, true},
		"a blank is not nothing":           {[]string{"a b"}, []string{"ab"}, false},
		"... within a line":                {[]string{"took ...ms, ok"}, []string{"took 12.5ms, ok"}, true},
		"... within a line stays in it":    {[]string{"a...c"}, []string{"ab", "c"}, false},
		"... within a line, text differs":  {[]string{"took ...ms, ok"}, []string{"took 12.5s, ok"}, false},
		"... alone: no line":               {[]string{"a", "...", "b"}, []string{"a", "b"}, true},
		"... alone: many lines":            {[]string{"a", "...", "b"}, []string{"a", "x", "y", "b"}, true},
		"... alone at the end":             {[]string{"a", "..."}, []string{"a", "x"}, true},
		"... alone, then a missing line":   {[]string{"...", "b"}, []string{"a", "c"}, false},
		"regexp characters are literal":    {[]string{"a.c (x)*"}, []string{"abc (x)*"}, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			diff, ok := compare(tt.want, tt.got)
			if ok != tt.ok {
				t.Errorf("compare(%q, %q) = %v, want %v; diff:\n%s", tt.want, tt.got, ok, tt.ok, diff)
			}
		})
	}
}

func TestCompareDiffShowsWhatDiffers(t *testing.T) {
	diff, ok := compare([]string{"NAME", "a ...", "...", "z"}, []string{"NAME", "b 1", "q", "z", "more"})
	if ok {
		t.Fatal("compare matched different output")
	}
	const want = "  NAME\n- a ...\n  b 1\n  q\n  z\n+ more\n"
	if diff != want {
		t.Errorf("diff:\n%s\nwant:\n%s", diff, want)
	}
}

func TestPrefixAllowsMoreOutput(t *testing.T) {
	if _, ok := prefix([]string{"...", "serving"}, []string{"starting", "serving", "more"}); !ok {
		t.Error("prefix did not match output that goes on after what the doc shows")
	}
	if _, ok := prefix([]string{"...", "serving"}, []string{"starting"}); ok {
		t.Error("prefix matched output without the line the doc shows")
	}
}

func TestParseReadsMarkedBlocks(t *testing.T) {
	doc := strings.Join([]string{
		"# A doc",                              // 1
		"",                                     // 2
		"<!-- doctest: file conf/main.hcl -->", // 3
		"```hcl",                               // 4
		`resource "memory" "cache" {}`,         // 5
		"```",                                  // 6
		"<!-- doctest: env DATABASE_URL=PG_URL -->", // 7
		"<!-- doctest: background -->",              // 8
		"",                                          // 9
		"```console",                                // 10
		"$ nebula-host run -config conf",            // 11
		"...",                                       // 12
		"```",                                       // 13
		"```",                                       // 14
		"$ not run",                                 // 15
		"```",                                       // 16
		"<!-- doctest -->",                          // 17
		"```console",                                // 18
		"$ nebula-host call \\",                     // 19
		"    memory.cache get '{}'",                 // 20
		"{}",                                        // 21
		"$ echo $?",                                 // 22
		"0",                                         // 23
		"```",                                       // 24
		"<!-- doctest: append conf/main.hcl -->",    // 25
		"```hcl",                                    // 26
		`resource "memory" "more" {}`,               // 27
		"```",                                       // 28
	}, "\n")
	got, err := parse("a.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []step{
		fileStep{line: 3, path: "conf/main.hcl", content: "resource \"memory\" \"cache\" {}\n"},
		envStep{line: 7, name: "DATABASE_URL", from: "PG_URL"},
		backgroundStep{line: 11, command: command{line: 11, text: "nebula-host run -config conf", want: []string{"..."}}},
		runStep{commands: []command{
			{line: 19, text: "nebula-host call \\\n    memory.cache get '{}'", want: []string{"{}"}},
			{line: 22, text: "echo $?", want: []string{"0"}},
		}},
		fileStep{line: 25, path: "conf/main.hcl", content: "resource \"memory\" \"more\" {}\n", append: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parse:\n got %#v\nwant %#v", got, want)
	}
}

func TestParseRefusesWhatItCannotRun(t *testing.T) {
	tests := map[string]struct {
		doc, says string
	}{
		"a console block without a marker": {
			doc:  "text\n```console\n$ ls\n```\n",
			says: "b.md:2: a console block without a doctest marker",
		},
		"a marker without a block": {
			doc:  "<!-- doctest -->\ntext\n",
			says: "b.md:1: the marker is not followed by a code block",
		},
		"a marker at the end": {
			doc:  "text\n<!-- doctest -->\n",
			says: "b.md:2: the marker is not followed by a code block",
		},
		"a marker on another language": {
			doc:  "<!-- doctest -->\n```sh\nls\n```\n",
			says: `b.md:1: a doctest marker on a "sh" block`,
		},
		"an unknown marker": {
			doc:  "<!-- doctest: maybe -->\n```console\n$ ls\n```\n",
			says: `b.md:1: unknown marker "maybe"`,
		},
		"output before the first command": {
			doc:  "<!-- doctest -->\n```console\nfile\n$ ls\n```\n",
			says: "b.md:3: output before the first command",
		},
		"two commands in the background": {
			doc:  "<!-- doctest: background -->\n```console\n$ a\n$ b\n```\n",
			says: "b.md:2: a background block holds one command, not 2",
		},
		"an env marker without a variable": {
			doc:  "<!-- doctest: env DATABASE_URL -->\n",
			says: "b.md:1: an env marker reads",
		},
		"a block not closed": {
			doc:  "<!-- doctest -->\n```console\n$ ls\n",
			says: "b.md:2: the code block is not closed",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parse("b.md", tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("got %v, want an error saying %q", err, tt.says)
			}
		})
	}
}

// TestShellKeepsStateAndStatus runs commands the way TestDocs does: the
// working directory, variables and $? carry over, and stop ends the jobs
// started with &.
func TestShellKeepsStateAndStatus(t *testing.T) {
	dir := t.TempDir()
	sh, err := startShell(dir, shellEnv(dir))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		cmd    string
		out    string
		status int
	}{
		{"mkdir sub && cd sub && X=1", "", 0},
		{"basename \"$PWD\"; echo $X", "sub\n1\n", 0},
		{"echo out; echo err >&2; false", "out\nerr\n", 1},
		{"echo $?", "1\n", 0},
		{"printf 'no newline'", "no newline", 0},
		{"cat", "", 0}, // stdin is /dev/null, not the script
		{"sleep 600 &", "", 0},
	}
	for _, s := range steps {
		out, status, err := sh.run(s.cmd, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", s.cmd, err)
		}
		if out != s.out || status != s.status {
			t.Errorf("%s: got %q, status %d; want %q, status %d", s.cmd, out, status, s.out, s.status)
		}
	}
	b, err := sh.background(command{text: "echo starting; echo ready; sleep 600"}, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.waitReady([]string{"starting", "ready"}, 10*time.Second); err != nil {
		t.Error(err)
	}
	if err := b.waitReady([]string{"never"}, 300*time.Millisecond); err == nil {
		t.Error("waitReady returned for output the command never printed")
	}
	start := time.Now()
	if err := sh.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v: the sleeps did not end on SIGTERM", d)
	}
}

func TestShellReportsACommandThatDoesNotEnd(t *testing.T) {
	dir := t.TempDir()
	sh, err := startShell(dir, shellEnv(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sh.stop(time.Second); err != nil {
			t.Error(err)
		}
	}()
	if _, _, err := sh.run("echo begun; sleep 600", 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "not done within") {
		t.Errorf("got %v, want a timeout", err)
	}
}
