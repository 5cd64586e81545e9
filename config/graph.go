package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Dependencies returns the ids ("type.name") of the resources r depends
// on, from depends_on and from references in its driver attributes,
// sorted and without duplicates.
func (r *Resource) Dependencies() []string {
	deps := make([]string, 0, len(r.DependsOn)+len(r.References))
	deps = append(deps, r.DependsOn...)
	for _, ref := range r.References {
		deps = append(deps, ref.Resource)
	}
	sort.Strings(deps)
	return slices.Compact(deps)
}

// Levels returns the resources grouped by level, for starting them in
// order: level 0 holds the resources without dependencies, and a resource
// at level n depends only on resources at levels below n, at least one of
// them at level n-1. Within a level the resources are in declaration
// order.
//
// Levels is valid only when Load reported no errors. Otherwise dependencies
// on undeclared resources and on the resource itself are ignored, and the
// resources in or after a cycle form one last level.
func (c *Config) Levels() [][]*Resource {
	g := newGraph(c.Resources)
	n := len(g.nodes)
	// Kahn's algorithm, with level[v] = 1 + the highest level of v's
	// dependencies.
	waiting := make([]int, n) // dependencies of each node not yet placed
	dependents := make([][]int, n)
	for v, edges := range g.out {
		waiting[v] = len(edges)
		for _, e := range edges {
			dependents[e.to] = append(dependents[e.to], v)
		}
	}
	level := make([]int, n)
	var ready []int
	for v := range n {
		if waiting[v] == 0 {
			ready = append(ready, v)
		}
	}
	placed, top := 0, -1
	for len(ready) > 0 {
		v := ready[0]
		ready = ready[1:]
		placed++
		top = max(top, level[v])
		for _, d := range dependents[v] {
			level[d] = max(level[d], level[v]+1)
			if waiting[d]--; waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if placed < n {
		top++
		for v := range n {
			if waiting[v] > 0 {
				level[v] = top
			}
		}
	}
	levels := make([][]*Resource, top+1)
	for v, r := range g.nodes {
		levels[level[v]] = append(levels[level[v]], r)
	}
	return levels
}

// graph is the dependency graph of the resources: an edge from each
// resource to each declared resource it depends on, other than itself.
type graph struct {
	nodes []*Resource // in declaration order
	// out holds the edges from each node, sorted by the target's id.
	out [][]edge
}

// edge is a dependency of one resource on another.
type edge struct {
	to int
	// rng is where the dependency is written: the first depends_on entry
	// or reference, in source order, naming the target.
	rng hcl.Range
	// attr is the attribute referred to, or "" for a depends_on entry.
	attr string
}

// newGraph builds the graph of resources. An id declared twice (which
// Load reports) names the first of them.
func newGraph(resources []*Resource) *graph {
	g := &graph{nodes: resources}
	index := make(map[string]int, len(resources))
	for v, r := range resources {
		if _, dup := index[r.ID()]; !dup {
			index[r.ID()] = v
		}
	}
	g.out = make([][]edge, len(g.nodes))
	for v, r := range g.nodes {
		first := map[int]edge{}
		add := func(id string, e edge) {
			to, ok := index[id]
			if !ok || to == v {
				return
			}
			e.to = to
			if prev, seen := first[to]; !seen || before(e.rng, prev.rng) {
				first[to] = e
			}
		}
		for i, id := range r.DependsOn {
			var rng hcl.Range
			if i < len(r.dependsOnRanges) {
				rng = r.dependsOnRanges[i]
			}
			add(id, edge{rng: rng})
		}
		for _, ref := range r.References {
			add(ref.Resource, edge{rng: ref.Range, attr: ref.Attribute})
		}
		for _, e := range first {
			g.out[v] = append(g.out[v], e)
		}
		sort.Slice(g.out[v], func(i, j int) bool {
			return g.nodes[g.out[v][i].to].ID() < g.nodes[g.out[v][j].to].ID()
		})
	}
	return g
}

// before reports whether a starts before b in the same file.
func before(a, b hcl.Range) bool {
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	return a.Start.Byte < b.Start.Byte
}

// cycles returns a "Dependency cycle" diagnostic for each strongly
// connected component of more than one resource. Each prints one cycle of
// the component, the shortest through its smallest id, starting there.
func (g *graph) cycles() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, scc := range g.components() {
		if len(scc) < 2 {
			continue
		}
		diags = append(diags, g.cycleDiagnostic(scc))
	}
	return diags
}

// components returns the strongly connected components, by Tarjan's
// algorithm.
func (g *graph) components() [][]int {
	n := len(g.nodes)
	index := make([]int, n) // 1 + visit order; 0 when not visited
	low := make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	var sccs [][]int
	next := 1
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range g.out[v] {
			switch {
			case index[e.to] == 0:
				visit(e.to)
				low[v] = min(low[v], low[e.to])
			case onStack[e.to]:
				low[v] = min(low[v], index[e.to])
			}
		}
		if low[v] != index[v] {
			return
		}
		var scc []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			scc = append(scc, w)
			if w == v {
				break
			}
		}
		sccs = append(sccs, scc)
	}
	for v := range n {
		if index[v] == 0 {
			visit(v)
		}
	}
	return sccs
}

// cycleDiagnostic describes the shortest cycle through the node of scc
// with the smallest id, found by a breadth-first search within scc.
func (g *graph) cycleDiagnostic(scc []int) *hcl.Diagnostic {
	in := make(map[int]bool, len(scc))
	start := scc[0]
	for _, v := range scc {
		in[v] = true
		if g.nodes[v].ID() < g.nodes[start].ID() {
			start = v
		}
	}
	// via[v] is the edge by which the search reached v.
	via := map[int]edge{}
	from := map[int]int{}
	queue := []int{start}
search:
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.out[v] {
			if !in[e.to] {
				continue
			}
			if e.to == start {
				via[start], from[start] = e, v
				break search
			}
			if _, seen := via[e.to]; !seen {
				via[e.to], from[e.to] = e, v
				queue = append(queue, e.to)
			}
		}
	}
	// Walk back from the edge into start, then reverse.
	var path []edge
	var froms []int
	for v := start; ; {
		path = append(path, via[v])
		froms = append(froms, from[v])
		v = from[v]
		if v == start {
			break
		}
	}
	slices.Reverse(path)
	slices.Reverse(froms)

	ids := []string{g.nodes[start].ID()}
	steps := make([]string, len(path))
	for i, e := range path {
		to := g.nodes[e.to].ID()
		ids = append(ids, to)
		what := "depends on " + to
		if e.attr != "" {
			what = "refers to " + to + "." + e.attr
		}
		steps[i] = fmt.Sprintf("%s %s at %s", g.nodes[froms[i]].ID(), what, pos(e.rng))
	}
	detail := fmt.Sprintf("%s (%s). A resource starts after the resources it depends on, so none of these can start; remove one of these dependencies.",
		strings.Join(ids, " → "), strings.Join(steps, "; "))
	return errorAt(path[0].rng, "Dependency cycle", detail)
}
