// Package scaffold writes the module of a new nebula-resource plugin: a
// driver on the SDK's typed API with its typed config, one operation per
// capability chosen, the SDK's conformance checks in process and against the
// built binary, a Makefile and a README that says how to build, test and
// install it. What it writes builds and passes its tests unchanged; the
// plugin's author then replaces the stand-in backend with calls to theirs.
//
// nebula-host plugin new is its command line.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// SDKModule is the module path of the SDK, which a plugin requires.
const SDKModule = "github.com/nebula-resource/nebula-resource/sdk"

// Capabilities are the capabilities a plugin can be written with, beside
// none (a type with one operation of its own).
var Capabilities = []string{"kv", "sql"}

// standIns are the modules that a capability's stand-in backend requires
// beside the SDK, and the go line they need; a capability whose stand-in
// is in the plugin's own code has none.
var standIns = map[string]standIn{
	// SQLite in pure Go, at the version the host's module requires, so
	// that it is in the module cache of whoever builds the host; its go
	// line is 1.26.0.
	"sql": {Require: []string{"modernc.org/sqlite v1.62.0"}, Go: "1.26.0"},
}

// standIn is what the module of a capability's stand-in backend needs.
type standIn struct {
	Require []string // module path and version, as in a require line
	Go      string   // the go line; the SDK's, 1.25.0, when empty
}

//go:embed templates
var templates embed.FS

// Options say what to write.
type Options struct {
	// Name is the plugin's name and its resource type's: lowercase letters,
	// digits and underscores, starting with a letter. The binary is
	// nebula-plugin-NAME, the name the host looks for.
	Name string
	// Capability is one of Capabilities, or "" for none.
	Capability string
	// Module is the module path; example.com/nebula-plugin-NAME when
	// empty.
	Module string
	// SDKVersion is the SDK version to require ("v1.2.0"). When empty and
	// SDKDir is empty, the module requires no version and go mod tidy
	// picks the latest release.
	SDKVersion string
	// SDKDir, when set, is a directory holding the SDK (a checkout's sdk/),
	// which the module uses through a replace directive: for developing
	// against an unreleased SDK.
	SDKDir string
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// data is what the templates see.
type data struct {
	Options
	Package string // the driver's package: the name without underscores
	Binary  string // nebula-plugin-NAME
	// SDKRequire is the version in the require line, "" for none.
	SDKRequire string
	// StandIn is what the capability's stand-in backend requires.
	StandIn standIn
}

func (o Options) data() (data, error) {
	if !namePattern.MatchString(o.Name) {
		return data{}, fmt.Errorf("plugin name %q: use lowercase letters, digits and underscores, starting with a letter (it names the resource type and the binary nebula-plugin-NAME)", o.Name)
	}
	if o.Capability != "" && !slices.Contains(Capabilities, o.Capability) {
		return data{}, fmt.Errorf("capability %q: choose one of %s, or none", o.Capability, strings.Join(Capabilities, ", "))
	}
	d := data{Options: o, Package: strings.ReplaceAll(o.Name, "_", ""), Binary: "nebula-plugin-" + o.Name, StandIn: standIns[o.Capability]}
	if d.StandIn.Go == "" {
		d.StandIn.Go = "1.25.0"
	}
	if d.Module == "" {
		d.Module = "example.com/" + d.Binary
	}
	if strings.ContainsAny(d.Module, " \t\n\"`") || strings.HasPrefix(d.Module, "/") || strings.HasSuffix(d.Module, "/") {
		return data{}, fmt.Errorf("module path %q is not a module path (such as github.com/you/%s)", d.Module, d.Binary)
	}
	switch {
	case o.SDKDir != "":
		abs, err := filepath.Abs(o.SDKDir)
		if err != nil {
			return data{}, err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return data{}, fmt.Errorf("SDK directory %s: no go.mod there; give the sdk directory of a nebula-resource checkout", abs)
		}
		d.SDKDir = abs
		d.SDKRequire = "v0.0.0"
	case o.SDKVersion != "":
		d.SDKRequire = o.SDKVersion
	}
	return d, nil
}

// Write writes the plugin's module into dir, which must hold none of the
// files it writes, and returns their paths relative to dir.
func Write(dir string, o Options) ([]string, error) {
	d, err := o.data()
	if err != nil {
		return nil, err
	}
	files, err := render(d)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var exist []string
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			exist = append(exist, name)
		}
	}
	if len(exist) > 0 {
		return nil, fmt.Errorf("%s already holds %s; write the plugin into an empty directory", dir, strings.Join(exist, ", "))
	}
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// render executes the templates of d's capability and the common ones.
// Their actions are delimited by [[ ]], since Go code has {{ (a slice of
// structs' literal).
// A template's path is its file's: PKG stands for the driver's package,
// a .tmpl suffix is dropped, and Go files are formatted.
func render(d data) (map[string][]byte, error) {
	capDir := "none"
	if d.Capability != "" {
		capDir = d.Capability
	}
	files := map[string][]byte{}
	for _, root := range []string{"templates/common", "templates/" + capDir} {
		err := fs.WalkDir(templates, root, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			src, err := templates.ReadFile(path)
			if err != nil {
				return err
			}
			tmpl, err := template.New(path).Delims("[[", "]]").Parse(string(src))
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := tmpl.Execute(&out, d); err != nil {
				return err
			}
			name := strings.TrimSuffix(strings.TrimPrefix(path, root+"/"), ".tmpl")
			name = strings.ReplaceAll(name, "PKG", d.Package)
			name = strings.ReplaceAll(name, "dot-", ".")
			b := out.Bytes()
			if strings.HasSuffix(name, ".go") {
				if b, err = format.Source(b); err != nil {
					return fmt.Errorf("template %s: %w", path, err)
				}
			}
			files[name] = b
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, errors.New("scaffold: no templates")
	}
	return files, nil
}
