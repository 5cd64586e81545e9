package config_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/config"
)

// ids returns the ids of each level.
func ids(levels [][]*config.Resource) [][]string {
	out := make([][]string, len(levels))
	for i, level := range levels {
		for _, r := range level {
			out[i] = append(out[i], r.ID())
		}
	}
	return out
}

func TestLevelsGroupsADiamondByDependencyDepth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "diamond.hcl")
	// Declared out of order: the levels depend on the graph, and the order
	// within a level on the declarations.
	writeFile(t, path, `
resource "localfs" "top" {
  root       = "/srv/${resource.memory.left.name}"
  depends_on = [resource.memory.right]
}

resource "memory" "right" {
  name       = "right"
  depends_on = [resource.memory.base, resource.memory.base]
}

resource "memory" "left" {
  name = "${resource.memory.base.name}-left"
}

resource "memory" "base" {
  name = "base"
}

resource "memory" "alone" {
  name = "alone"
}
`)
	cfg := mustLoad(t, path, environ(nil))
	want := [][]string{
		{"memory.base", "memory.alone"},
		{"memory.right", "memory.left"},
		{"localfs.top"},
	}
	if got := ids(cfg.Levels()); !reflect.DeepEqual(got, want) {
		t.Errorf("Levels() = %v, want %v", got, want)
	}
	deps := map[string][]string{
		"localfs.top":  {"memory.left", "memory.right"},
		"memory.right": {"memory.base"},
		"memory.left":  {"memory.base"},
		"memory.base":  {},
	}
	for id, want := range deps {
		if got := cfg.Resource(id).Dependencies(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s Dependencies() = %q, want %q", id, got, want)
		}
	}
	assertJSON(t, cfg.Resource("localfs.top").Config, `{"root":"/srv/base-left","mode":420}`)
}

func TestLevelsWithoutResources(t *testing.T) {
	var cfg config.Config
	if got := cfg.Levels(); len(got) != 0 {
		t.Errorf("Levels() = %v, want none", ids(got))
	}
}

func TestReferencesEvaluateToTheReferencedValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refs.hcl")
	// The resource that refers comes first: DecodeResources decodes in
	// dependency order, not declaration order.
	writeFile(t, path, `
resource "localfs" "files" {
  root   = "/srv/${resource.memory.cache.name}"
  home   = resource.memory.cache.default_ttl
  mode   = resource.memory.cache.max_entries + 1
  tags   = [resource.memory.cache.name, resource.memory.other.name]
  limits = { entries = resource.memory.cache.max_entries }
}

resource "memory" "cache" {
  name        = "cache-${var.region}"
  max_entries = 511
}

resource "memory" "other" {
  name     = "other"
  password = "secret"
}

resource "localfs" "unset" {
  root = "/srv"
  # max_entries is unset and has no default: null, as if home were unset.
  home = resource.memory.other.max_entries
}

variable "region" {
  default = "eu"
}
`)
	cfg := mustLoad(t, path, environ(nil))
	files := cfg.Resource("localfs.files")
	// default_ttl is the schema default, "1m".
	assertJSON(t, files.Config,
		`{"root":"/srv/cache-eu","home":"1m","mode":512,"tags":["cache-eu","other"],"limits":{"entries":511}}`)
	assertJSON(t, cfg.Resource("localfs.unset").Config, `{"root":"/srv","mode":420}`)

	if got, want := files.Dependencies(), []string{"memory.cache", "memory.other"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dependencies() = %q, want %q", got, want)
	}
	if len(files.DependsOn) != 0 {
		t.Errorf("DependsOn = %q, want none: references are not depends_on entries", files.DependsOn)
	}
	var refs []string
	for _, ref := range files.References {
		refs = append(refs, ref.Resource+"."+ref.Attribute+"@"+strings.TrimPrefix(ref.Range.String(), path))
	}
	want := []string{
		"memory.cache.name@:3,20-46",
		"memory.cache.default_ttl@:4,12-45",
		"memory.cache.max_entries@:5,12-45",
		"memory.cache.name@:6,13-39",
		"memory.other.name@:6,41-67",
		"memory.cache.max_entries@:7,24-57",
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("References =\n%q\nwant\n%q", refs, want)
	}
}

func TestReferenceToAResourceWithErrorsAddsNoDiagnostic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.hcl")
	writeFile(t, path, `
resource "memory" "cache" {
  max_entries = "many"
}

resource "localfs" "files" {
  root = "/srv/${resource.memory.cache.name}"
}
`)
	cfg, diags := load(t, path, environ(nil))
	want := path + `:2:27: error: Missing required argument; The argument "name" is required, but no definition was found.` + "\n" +
		path + `:3:17: error: Incorrect attribute value type; Attribute "max_entries" wants int, got string.` + "\n"
	if got := formatAll(diags); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if c := cfg.Resource("localfs.files").Config; c != nil {
		t.Errorf("localfs.files Config = %s, want nil: it refers to a resource with errors", c)
	}
}

func TestReferenceToAValueFromASensitiveVariableStaysHidden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.hcl")
	writeFile(t, path, `
variable "secret" {
  sensitive = true
}

resource "memory" "cache" {
  name = var.secret
}

resource "localfs" "files" {
  root = base64decode(resource.memory.cache.name)
  mode = resource.memory.cache.name
}
`)
	const secret = "12.75"
	_, diags := load(t, path, config.WithVariables(map[string]string{"secret": secret}), environ(nil))
	got := formatAll(diags)
	want := path + `:11:23: error: Invalid function argument; The expression uses a sensitive value, so the details of this error are hidden. Check the functions and operators it applies to that value.` + "\n" +
		path + `:12:10: error: Incorrect attribute value type; Attribute "mode" wants a whole number.` + "\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, secret) {
		t.Errorf("diagnostics show the sensitive value")
	}
}

func TestDependencyCycles(t *testing.T) {
	tests := map[string]struct {
		src  string
		want []string // diagnostic lines, with "F" for the file name
	}{
		"starts at the smallest id": {
			src: `
resource "memory" "c" {
  name       = "c"
  depends_on = [resource.memory.a]
}
resource "memory" "b" {
  name       = "b"
  depends_on = [resource.memory.c]
}
resource "memory" "a" {
  name       = "a"
  depends_on = [resource.memory.b]
}
`,
			want: []string{`F:12:17: error: Dependency cycle; memory.a → memory.b → memory.c → memory.a (memory.a depends on memory.b at F:12:17; memory.b depends on memory.c at F:8:17; memory.c depends on memory.a at F:4:17). A resource starts after the resources it depends on, so none of these can start; remove one of these dependencies.`},
		},
		"one diagnostic per component, with the shortest cycle": {
			src: `
resource "memory" "a" {
  name       = "a"
  depends_on = [resource.memory.c, resource.memory.b]
}
resource "memory" "b" {
  name = resource.memory.a.name
}
resource "memory" "c" {
  name       = "c"
  depends_on = [resource.memory.d]
}
resource "memory" "d" {
  name       = "d"
  depends_on = [resource.memory.a]
}
resource "memory" "x" {
  name       = "x"
  depends_on = [resource.memory.y]
}
resource "memory" "y" {
  name        = "y"
  max_entries = resource.memory.x.max_entries
  depends_on  = [resource.memory.x]
}
`,
			want: []string{
				`F:4:36: error: Dependency cycle; memory.a → memory.b → memory.a (memory.a depends on memory.b at F:4:36; memory.b refers to memory.a.name at F:7:10). A resource starts after the resources it depends on, so none of these can start; remove one of these dependencies.`,
				`F:19:17: error: Dependency cycle; memory.x → memory.y → memory.x (memory.x depends on memory.y at F:19:17; memory.y refers to memory.x.max_entries at F:23:17). A resource starts after the resources it depends on, so none of these can start; remove one of these dependencies.`,
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cycle.hcl")
			writeFile(t, path, tt.src)
			cfg, diags := config.Load(path, environ(nil))
			want := strings.ReplaceAll(strings.Join(tt.want, "\n")+"\n", "F:", path+":")
			if got := formatAll(diags); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			// Levels still returns every resource once.
			n := 0
			for _, level := range cfg.Levels() {
				n += len(level)
			}
			if n != len(cfg.Resources) {
				t.Errorf("Levels() holds %d resources, want %d", n, len(cfg.Resources))
			}
		})
	}
}
