package cicheck

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository, two levels up from scripts/cicheck.
const root = "../.."

type workflow struct {
	Name        string
	On          map[string]any `yaml:"on"`
	Permissions map[string]string
	Concurrency map[string]any
	Jobs        map[string]job
}

type job struct {
	Name           string
	RunsOn         string `yaml:"runs-on"`
	Container      string
	TimeoutMinutes int `yaml:"timeout-minutes"`
	Steps          []step
}

type step struct {
	Name string
	Uses string
	Run  string
	If   string
	Env  map[string]string
	With map[string]string
}

// readWorkflow decodes ci.yml strictly: an unknown or misspelt key (say
// runs_on) is an error, as GitHub would make it.
func readWorkflow(t *testing.T) workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var w workflow
	if err := dec.Decode(&w); err != nil {
		t.Fatalf(".github/workflows/ci.yml: %v", err)
	}
	return w
}

// makeRule is one rule of the Makefile: its prerequisites and recipe.
type makeRule struct {
	prereqs []string
	recipe  []string
}

var ruleLine = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]*):([^=].*)?$`)

func readMakefile(t *testing.T) (rules map[string]makeRule, vars map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules = map[string]makeRule{}
	vars = map[string]string{}
	var current string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			if current != "" {
				r := rules[current]
				r.recipe = append(r.recipe, strings.TrimSpace(line))
				rules[current] = r
			}
			continue
		}
		current = ""
		if m := ruleLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			rules[current] = makeRule{prereqs: strings.Fields(m[2])}
			continue
		}
		if name, value, ok := strings.Cut(line, ":="); ok {
			if name = strings.TrimSpace(name); name != "" && !strings.ContainsAny(name, " \t#") {
				vars[name] = strings.TrimSpace(value)
			}
		}
		// NAME += more appends to NAME, as make does.
		if name, value, ok := strings.Cut(line, "+="); ok {
			if name = strings.TrimSpace(name); name != "" && !strings.ContainsAny(name, " \t#") {
				vars[name] = strings.TrimSpace(vars[name] + " " + strings.TrimSpace(value))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rules, vars
}

var makeCall = regexp.MustCompile(`(?m)(?:^|&&|;|\|\|)\s*make\s+([a-z][a-z0-9-]*)`)

// makeTargets returns the make targets a shell text runs.
func makeTargets(text string) []string {
	var out []string
	for _, m := range makeCall.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// expand replaces a target by what it is made of when its recipe only
// chains other targets (test is test-unit, then $(MAKE) fuzz), so that
// .ci/run's "make test" matches the workflow's test and fuzz jobs.
func expand(rules map[string]makeRule, target string) []string {
	r := rules[target]
	var sub []string
	for _, p := range r.prereqs {
		if _, ok := rules[p]; ok {
			sub = append(sub, p)
		}
	}
	for _, line := range r.recipe {
		fields := strings.Fields(strings.TrimPrefix(line, "@"))
		if len(fields) == 0 || fields[0] != "$(MAKE)" {
			return []string{target}
		}
		for _, f := range fields[1:] {
			if !strings.HasPrefix(f, "-") {
				sub = append(sub, f)
			}
		}
	}
	if len(sub) == 0 || len(r.recipe) == 0 {
		return []string{target}
	}
	var out []string
	for _, s := range sub {
		out = append(out, expand(rules, s)...)
	}
	return out
}

// modules lists the directories, relative to the root, that hold a go.mod,
// skipping what the go command skips and the test servers' state.
func modules(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "node_modules" || name == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && name == "go.mod" {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestWorkflowRunsOnPushesAndPullRequests(t *testing.T) {
	w := readWorkflow(t)
	for _, event := range []string{"push", "pull_request"} {
		if _, ok := w.On[event]; !ok {
			t.Errorf("ci.yml: on: has no %s", event)
		}
	}
	for _, name := range []string{"test", "lint", "fuzz", "vulncheck"} {
		if _, ok := w.Jobs[name]; !ok {
			t.Errorf("ci.yml: no job %q", name)
		}
	}
}

func TestWorkflowJobsTakeGoFromGoModWithCaching(t *testing.T) {
	w := readWorkflow(t)
	mods := modules(t)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})$`)
	for name, j := range w.Jobs {
		if j.RunsOn == "" {
			t.Errorf("job %s: no runs-on", name)
		}
		if j.TimeoutMinutes <= 0 || j.TimeoutMinutes > 90 {
			t.Errorf("job %s: timeout-minutes %d, want 1 to 90 (the CI limit)", name, j.TimeoutMinutes)
		}
		var checkout, setupGo bool
		for i, s := range j.Steps {
			if (s.Uses == "") == (s.Run == "") {
				t.Errorf("job %s step %d: want exactly one of uses and run", name, i)
			}
			if s.Uses != "" && !pinned.MatchString(s.Uses) {
				t.Errorf("job %s step %d: %q is not pinned to a version", name, i, s.Uses)
			}
			action, _, _ := strings.Cut(s.Uses, "@")
			switch action {
			case "actions/checkout":
				checkout = true
			case "actions/setup-go":
				if !checkout {
					t.Errorf("job %s: setup-go before checkout cannot read go.mod", name)
				}
				setupGo = true
				if s.With["go-version-file"] != "go.mod" {
					t.Errorf("job %s: setup-go takes go-version-file %q, want go.mod", name, s.With["go-version-file"])
				}
				if s.With["cache"] == "false" {
					t.Errorf("job %s: setup-go's module and build cache is off", name)
				}
				listed := strings.Fields(s.With["cache-dependency-path"])
				for _, m := range mods {
					sum := filepath.ToSlash(filepath.Join(m, "go.sum"))
					if !slices.Contains(listed, sum) {
						t.Errorf("job %s: cache-dependency-path does not list %s", name, sum)
					}
				}
			}
		}
		if !checkout || !setupGo {
			t.Errorf("job %s: want actions/checkout and actions/setup-go (checkout %v, setup-go %v)", name, checkout, setupGo)
		}
	}
}

func TestWorkflowRunsWhatCIRunRuns(t *testing.T) {
	w := readWorkflow(t)
	rules, _ := readMakefile(t)
	script, err := os.ReadFile(filepath.Join(root, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}

	var want []string
	for _, target := range makeTargets(string(script)) {
		if _, ok := rules[target]; !ok {
			t.Errorf(".ci/run runs make %s, which the Makefile has no rule for", target)
		}
		want = append(want, expand(rules, target)...)
	}
	var got []string
	for name, j := range w.Jobs {
		for _, s := range j.Steps {
			for _, target := range makeTargets(s.Run) {
				if _, ok := rules[target]; !ok {
					t.Errorf("job %s runs make %s, which the Makefile has no rule for", name, target)
				}
				got = append(got, target)
			}
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	want, got = slices.Compact(want), slices.Compact(got)
	if !slices.Equal(want, got) {
		t.Errorf("the workflow runs make %v; .ci/run runs make %v (expanded through the Makefile): keep them the same", got, want)
	}
	if len(want) == 0 {
		t.Error(".ci/run runs no make target")
	}
}

func TestMakefileLintsEveryModule(t *testing.T) {
	_, vars := readMakefile(t)
	listed := strings.Fields(vars["MODULES"])
	sort.Strings(listed)
	if mods := modules(t); !slices.Equal(listed, mods) {
		t.Errorf("the Makefile's MODULES is %v; the repository's modules are %v", listed, mods)
	}
}

// The parser must catch what GitHub would refuse: the test is only as good
// as its decoding.
func TestReadWorkflowRefusesMisspeltKeys(t *testing.T) {
	bad := "on:\n  push: {}\njobs:\n  x:\n    runs_on: ubuntu-24.04\n"
	dec := yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	var w workflow
	if err := dec.Decode(&w); err == nil {
		t.Fatal("a job with runs_on decoded without error")
	}
}
