package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"pgregory.net/rapid"

	"github.com/nebula-resource/nebula-resource/internal/propertytest"

	"github.com/nebula-resource/nebula-resource/config"
)

// This file checks the dependency graph with rapid: random resources with
// random dependencies (depends_on entries and references in attributes)
// are written as HCL and loaded with config.Load. Without a cycle the
// start order (Config.Levels) must hold each resource once, every
// dependency at a lower level than its dependent, each resource one level
// above its deepest dependency, and declaration order within a level.
// With cycles, each strongly connected component must be reported once,
// as a path through its members that follows real dependencies, each
// step at the line it is written on, and closes back at its start. Run
// more cases with -rapid.checks=N; a failure prints the seed to replay
// it with -rapid.seed.

// levelsFunc is the start order under test: Config.Levels, or a broken
// copy.
type levelsFunc func(*config.Config) [][]*config.Resource

// genGraph is a generated configuration: n resources memory.r0 …, each
// with its dependencies, written in a random order.
type genGraph struct {
	n     int
	deps  [][]int // deps[v]: the resources v depends on, sorted
	ref   [][]bool
	order []int // declaration order
	// line[v] is where v's depends_on is written, refLine[v] its name
	// attribute with the references.
	line, refLine []int
}

func id(v int) string { return "memory.r" + strconv.Itoa(v) }

func drawGraph(t *rapid.T, acyclic bool) *genGraph {
	n := rapid.IntRange(1, 8).Draw(t, "resources")
	g := &genGraph{n: n, deps: make([][]int, n), ref: make([][]bool, n), line: make([]int, n), refLine: make([]int, n)}
	rank := rapid.Permutation(seq(n)).Draw(t, "rank")
	g.order = rapid.Permutation(seq(n)).Draw(t, "declaration_order")
	density := rapid.IntRange(0, 60).Draw(t, "density_percent")
	for v := range n {
		g.ref[v] = make([]bool, n)
		for w := range n {
			if w == v || acyclic && rank[w] >= rank[v] {
				continue
			}
			if rapid.IntRange(0, 99).Draw(t, "edge") < density {
				g.deps[v] = append(g.deps[v], w)
				g.ref[v][w] = rapid.Bool().Draw(t, "by_reference")
			}
		}
	}
	return g
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// hcl writes the configuration, noting the lines of the dependencies.
func (g *genGraph) hcl() string {
	var b strings.Builder
	line := 1
	for _, v := range g.order {
		var on, refs []string
		for _, w := range g.deps[v] {
			if g.ref[v][w] {
				refs = append(refs, "${resource."+id(w)+".name}")
			} else {
				on = append(on, "resource."+id(w))
			}
		}
		fmt.Fprintf(&b, "resource \"memory\" \"r%d\" {\n", v)
		line++
		fmt.Fprintf(&b, "  name = \"r%d%s\"\n", v, strings.Join(refs, "-"))
		g.refLine[v] = line
		line++
		if len(on) > 0 {
			fmt.Fprintf(&b, "  depends_on = [%s]\n", strings.Join(on, ", "))
			g.line[v] = line
			line++
		}
		b.WriteString("}\n\n")
		line += 2
	}
	return b.String()
}

// dependsOn reports whether v depends on w.
func (g *genGraph) dependsOn(v, w int) bool { return slices.Contains(g.deps[v], w) }

// reach returns reach[v][w]: w can be reached from v along dependencies.
func (g *genGraph) reach() [][]bool {
	r := make([][]bool, g.n)
	for v := range g.n {
		r[v] = make([]bool, g.n)
		for _, w := range g.deps[v] {
			r[v][w] = true
		}
	}
	for k := range g.n {
		for v := range g.n {
			for w := range g.n {
				r[v][w] = r[v][w] || r[v][k] && r[k][w]
			}
		}
	}
	return r
}

// shortestCycle returns the length of the shortest cycle through v.
func (g *genGraph) shortestCycle(v int) int {
	dist := map[int]int{v: 0}
	queue := []int{v}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, w := range g.deps[u] {
			if w == v {
				return dist[u] + 1
			}
			if _, seen := dist[w]; !seen {
				dist[w] = dist[u] + 1
				queue = append(queue, w)
			}
		}
	}
	return 0
}

// graphProperty is the property, on the start order levels.
func graphProperty(levels levelsFunc) func(*rapid.T) {
	return func(t *rapid.T) {
		acyclic := rapid.Bool().Draw(t, "acyclic")
		g := drawGraph(t, acyclic)
		dir, err := os.MkdirTemp("", "graph-property-")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
		path := filepath.Join(dir, "graph.hcl")
		if err := os.WriteFile(path, []byte(g.hcl()), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := config.Load(path, environ(nil))
		if cfg == nil {
			t.Fatalf("Load returned a nil Config")
		}
		reach := g.reach()
		cyclic := false
		for v := range g.n {
			cyclic = cyclic || reach[v][v]
		}
		var cycles []string
		for _, d := range diags {
			if d.Summary == "Dependency cycle" {
				cycles = append(cycles, d.Detail)
			} else if d.Severity == hcl.DiagError {
				t.Fatalf("unexpected error loading\n%s\n%s", g.hcl(), config.FormatDiagnostic(d))
			}
		}
		if !cyclic {
			if len(cycles) > 0 {
				t.Fatalf("acyclic graph reported with a cycle: %s", cycles[0])
			}
			checkLevels(t, g, levels(cfg))
			return
		}
		checkCycles(t, g, path, reach, cycles)
	}
}

// checkLevels checks the start order of an acyclic graph.
func checkLevels(t *rapid.T, g *genGraph, levels [][]*config.Resource) {
	level := map[string]int{}
	for i, l := range levels {
		if len(l) == 0 {
			t.Fatalf("level %d is empty", i)
		}
		for _, r := range l {
			if _, twice := level[r.ID()]; twice {
				t.Fatalf("%s is in the order twice", r.ID())
			}
			level[r.ID()] = i
		}
	}
	if len(level) != g.n {
		t.Fatalf("the order holds %d resources, want %d", len(level), g.n)
	}
	for v := range g.n {
		lv, ok := level[id(v)]
		if !ok {
			t.Fatalf("%s is missing from the order", id(v))
		}
		want := 0
		for _, w := range g.deps[v] {
			if level[id(w)] >= lv {
				t.Fatalf("%s (level %d) depends on %s (level %d), which does not start before it", id(v), lv, id(w), level[id(w)])
			}
			want = max(want, level[id(w)]+1)
		}
		if lv != want {
			t.Fatalf("%s is at level %d, one above its deepest dependency is %d", id(v), lv, want)
		}
	}
	declared := map[int]int{}
	for i, v := range g.order {
		declared[v] = i
	}
	for i, l := range levels {
		for j := 1; j < len(l); j++ {
			a, _ := strconv.Atoi(strings.TrimPrefix(l[j-1].ID(), "memory.r"))
			b, _ := strconv.Atoi(strings.TrimPrefix(l[j].ID(), "memory.r"))
			if declared[a] > declared[b] {
				t.Fatalf("level %d lists %s before %s, against declaration order", i, l[j-1].ID(), l[j].ID())
			}
		}
	}
}

// checkCycles checks the cycle diagnostics: one per strongly connected
// component of more than one resource, each a path of real dependencies
// through the component's smallest id, as short as any cycle through it,
// closing back at its start, each step at the line it is written on.
func checkCycles(t *rapid.T, g *genGraph, path string, reach [][]bool, cycles []string) {
	var starts []string // the smallest id of each component with a cycle
	for v := range g.n {
		if !reach[v][v] {
			continue
		}
		smallest := true
		for w := range g.n {
			if reach[v][w] && reach[w][v] && id(w) < id(v) {
				smallest = false
			}
		}
		if smallest {
			starts = append(starts, id(v))
		}
	}
	if len(cycles) != len(starts) {
		t.Fatalf("%d cycle diagnostics for %d components with cycles (through %v):\n%s\n%s", len(cycles), len(starts), starts, strings.Join(cycles, "\n"), g.hcl())
	}
	seen := map[string]bool{}
	for _, detail := range cycles {
		head, rest, ok := strings.Cut(detail, " (")
		if !ok {
			t.Fatalf("cycle diagnostic without its steps: %s", detail)
		}
		ids := strings.Split(head, " → ")
		if len(ids) < 3 || ids[0] != ids[len(ids)-1] {
			t.Fatalf("cycle %q does not close back at its start", head)
		}
		if seen[ids[0]] || !slices.Contains(starts, ids[0]) {
			t.Fatalf("cycle %q does not start at the smallest id of a component not yet reported (%v)", head, starts)
		}
		seen[ids[0]] = true
		nodes := make([]int, len(ids))
		for i, s := range ids {
			v, err := strconv.Atoi(strings.TrimPrefix(s, "memory.r"))
			if err != nil || id(v) != s {
				t.Fatalf("cycle %q names %q, which is not a resource", head, s)
			}
			nodes[i] = v
		}
		if members := nodes[:len(nodes)-1]; len(slices.Compact(slices.Sorted(slices.Values(members)))) != len(members) {
			t.Fatalf("cycle %q passes a resource twice", head)
		}
		if want := g.shortestCycle(nodes[0]); len(nodes)-1 != want {
			t.Fatalf("cycle %q has %d steps; the shortest through its start has %d", head, len(nodes)-1, want)
		}
		steps := strings.Split(strings.TrimSuffix(rest[:strings.Index(rest, "). ")], ")"), "; ")
		if len(steps) != len(nodes)-1 {
			t.Fatalf("cycle %q explains %d steps: %q", head, len(steps), steps)
		}
		for i, step := range steps {
			from, to := nodes[i], nodes[i+1]
			if !g.dependsOn(from, to) {
				t.Fatalf("cycle %q: %s does not depend on %s", head, id(from), id(to))
			}
			what, line := "depends on "+id(to), g.line[from]
			if g.ref[from][to] {
				what, line = "refers to "+id(to)+".name", g.refLine[from]
			}
			want := fmt.Sprintf("%s %s at %s:%d:", id(from), what, path, line)
			if !strings.HasPrefix(step, want) {
				t.Fatalf("cycle %q: step %q, want it to begin %q", head, step, want)
			}
		}
	}
}

// TestGraphProperty checks Config.Levels and the cycle diagnostics of
// Load on random graphs.
func TestGraphProperty(t *testing.T) {
	rapid.Check(t, graphProperty((*config.Config).Levels))
}

// droppedEdge is a deliberately broken start order: Levels computed
// afresh from each resource's Dependencies, except that the last
// dependency of the last declared resource that has any is ignored.
func droppedEdge(cfg *config.Config) [][]*config.Resource {
	deps := map[string][]string{}
	for _, r := range cfg.Resources {
		deps[r.ID()] = r.Dependencies()
	}
	for i := len(cfg.Resources) - 1; i >= 0; i-- {
		if d := deps[cfg.Resources[i].ID()]; len(d) > 0 {
			deps[cfg.Resources[i].ID()] = d[:len(d)-1]
			break
		}
	}
	level := map[string]int{}
	var depth func(id string) int
	depth = func(id string) int {
		if l, ok := level[id]; ok {
			return l
		}
		l := 0
		for _, d := range deps[id] {
			l = max(l, depth(d)+1)
		}
		level[id] = l
		return l
	}
	var levels [][]*config.Resource
	for _, r := range cfg.Resources {
		l := depth(r.ID())
		for len(levels) <= l {
			levels = append(levels, nil)
		}
		levels[l] = append(levels[l], r)
	}
	return levels
}

// TestGraphPropertyCatchesDroppedEdge runs the graph property against
// droppedEdge, within the same budget, and requires it to fail.
func TestGraphPropertyCatchesDroppedEdge(t *testing.T) {
	report, seed, caught := propertytest.Caught(t, graphProperty(droppedEdge))
	if !caught {
		t.Fatal("the property passed on a start order that ignores a dependency")
	}
	first, _, _ := strings.Cut(report, "\n")
	t.Logf("property caught the dropped dependency (%s): %s", seed, first)
	if !strings.Contains(report, "which does not start before it") && !strings.Contains(report, "one above its deepest dependency") {
		t.Errorf("the property failed for another reason than the dropped dependency:\n%s", report)
	}
}
