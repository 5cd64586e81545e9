package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
)

// rootSchema lists the top-level blocks.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "resource", LabelNames: []string{"type", "name"}},
		{Type: "credential", LabelNames: []string{"name"}},
		{Type: "tenant", LabelNames: []string{"name"}},
		{Type: "admin"},
		{Type: "host"},
		{Type: "telemetry"},
	},
}

// Load reads path: one .hcl file, or every *.hcl file in a directory
// (sorted by name, not recursive), merged as one configuration.
//
// Load always returns a non-nil Config whose Files holds every file it
// parsed, so that the diagnostics can be printed with snippets. If the
// diagnostics contain errors, the rest of the Config is incomplete. The
// driver attributes of each resource are decoded later, by
// [Config.DecodeResources], once the plugins have published their schemas.
func Load(path string, opts ...Option) (*Config, hcl.Diagnostics) {
	o := buildOptions(opts)
	cfg := &Config{
		Files: map[string]*hcl.File{},
		Admin: Admin{Address: defaultAdminAddress},
		Host: HostSettings{
			ShutdownTimeout: defaultShutdownTimeout,
			LogLevel:        defaultLogLevel,
			LogFormat:       defaultLogFormat,
			MaxMessageSize:  defaultMaxMessageSize,
		},
	}
	filenames, diags := configFiles(path)
	if diags.HasErrors() {
		return cfg, diags
	}
	lock, ldiags := pluginlock.Read(pluginlock.Dir(path))
	diags = append(diags, ldiags...)
	if lock != nil {
		cfg.Lock = lock
		if f := lock.HCL(); f != nil {
			cfg.Files[lock.Path] = f // for the snippets of diagnostics about it
		}
	}
	var bodies []*hcl.File
	l := &loader{cfg: cfg, opts: o, ev: newEvaluator(o.lookupEnv, filenames)}
	cfg.eval = l.ev
	for _, name := range filenames {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, fileError(name, "Cannot read configuration file", err))
			continue
		}
		toks, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos)
		masked, secrets := maskTokens(src, toks, nil)
		cfg.secrets = append(cfg.secrets, secrets...)
		if ndiags := checkNumberLiterals(toks); ndiags.HasErrors() {
			// Parsing would take long; the file is kept for snippets.
			diags = append(diags, ndiags...)
			cfg.Files[name] = &hcl.File{Body: hcl.EmptyBody(), Bytes: masked}
			continue
		}
		f, pdiags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		diags = append(diags, pdiags...)
		if f == nil {
			continue
		}
		// The syntax tree is built; Bytes serves only the snippets.
		f.Bytes = masked
		cfg.Files[name] = f
		if body, ok := f.Body.(*hclsyntax.Body); ok {
			diags = append(diags, guardSyntax(body, &l.ev.budget)...)
		}
		bodies = append(bodies, f)
	}
	if diags.HasErrors() {
		return cfg, sortDiagnostics(scrubSecrets(diags, cfg.secrets))
	}

	l.ev.budget.start()
	var blocks hcl.Blocks
	for _, f := range bodies {
		content, cdiags := f.Body.Content(rootSchema)
		diags = append(diags, cdiags...)
		blocks = append(blocks, content.Blocks...)
	}
	diags = append(diags, l.variables(blocks)...)
	diags = append(diags, l.blocks(blocks)...)
	diags = append(diags, checkGraph(cfg.Resources)...)
	diags = append(diags, checkTenants(cfg)...)
	diags = append(diags, checkIdentityRefs(cfg)...)
	for _, r := range cfg.Resources {
		diags = append(diags, checkCredentialRefs(r.Credentials, cfg.Credentials)...)
	}
	return cfg, sortDiagnostics(scrubSecrets(stripEval(diags), cfg.secrets))
}

// configFiles returns the files to read for path.
func configFiles(path string) ([]string, hcl.Diagnostics) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileError(path, "Cannot read configuration", err)}
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileError(path, "Cannot read configuration directory", err)}
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".hcl") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := filepath.Join(path, e.Name())
		// A symbolic link to a file counts: a Kubernetes ConfigMap volume
		// holds links into its current ..data directory.
		if e.Type()&fs.ModeSymlink != 0 {
			if info, err := os.Stat(name); err != nil || !info.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, hcl.Diagnostics{errorAt(startOf(path), "No configuration files",
			fmt.Sprintf("The directory %s holds no .hcl files. Point to a directory with .hcl files, or to one file.", path))}
	}
	return names, nil
}

// fileError is the diagnostic for a file that cannot be read.
func fileError(path, summary string, err error) *hcl.Diagnostic {
	reason := err.Error()
	if pe, ok := err.(*os.PathError); ok {
		reason = pe.Err.Error()
	}
	return errorAt(startOf(path), summary, fmt.Sprintf("Cannot read %s: %s. Check the path and its permissions.", path, reason))
}

// startOf returns the range of the start of a file, for diagnostics about
// the file as a whole.
func startOf(filename string) hcl.Range {
	p := hcl.Pos{Line: 1, Column: 1}
	return hcl.Range{Filename: filename, Start: p, End: p}
}

// loader holds the state of one Load.
type loader struct {
	cfg  *Config
	opts *options
	ev   *evaluator
}

// variables decodes every variable block, resolves the values, binds var.*
// and runs the validations.
func (l *loader) variables(blocks hcl.Blocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var decls []*variableDecl
	byName := map[string]*variableDecl{}
	for _, b := range blocks {
		if b.Type != "variable" {
			continue
		}
		d, vdiags := decodeVariable(b)
		diags = append(diags, vdiags...)
		if first, dup := byName[d.v.Name]; dup {
			diags = append(diags, alreadyDeclared(b.LabelRanges[0], "Duplicate variable",
				fmt.Sprintf("A variable named %q", d.v.Name), first.v.DeclRange, "Give each variable a unique name."))
			continue
		}
		byName[d.v.Name] = d
		decls = append(decls, d)
		l.cfg.Variables = append(l.cfg.Variables, d.v)
	}
	for _, name := range sortedKeys(l.opts.vars) {
		if _, ok := byName[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("A value was given for variable %q, but no such variable is declared.%s Declare it with a variable block, or remove the value.",
					name, didYouMean(name, sortedKeys(byName))),
			})
		}
	}
	vals := make(map[string]cty.Value, len(decls))
	for _, d := range decls {
		diags = append(diags, resolveVariable(d, l.opts, &l.ev.budget)...)
		val := d.v.Value
		if val == cty.NilVal {
			// Unknown, so that references to it raise no further errors.
			val = cty.DynamicVal
		}
		if d.v.Sensitive {
			val = val.Mark(markSensitive)
			l.ev.sensitive[d.v.Name] = true
		}
		vals[d.v.Name] = val
	}
	l.ev.setVariables(vals)
	for _, d := range decls {
		if d.v.Value != cty.NilVal {
			diags = append(diags, validateVariable(d, l.ev)...)
		}
	}
	return diags
}

// blocks decodes every block but the variables.
func (l *loader) blocks(blocks hcl.Blocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var admin, host, telemetry *hcl.Block
	plugins := map[string]*Plugin{}
	credentials := map[string]*Credential{}
	resources := map[string]*Resource{}
	for _, b := range blocks {
		switch b.Type {
		case "admin":
			if admin != nil {
				diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate admin block",
					"An admin block", admin.DefRange, "Merge the two blocks into one."))
				continue
			}
			admin = b
			diags = append(diags, decodeAdmin(b, l.ev, &l.cfg.Admin)...)
		case "host":
			if host != nil {
				diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate host block",
					"A host block", host.DefRange, "Merge the two blocks into one."))
				continue
			}
			host = b
			diags = append(diags, decodeHost(b, l.ev, &l.cfg.Host)...)
		case "telemetry":
			if telemetry != nil {
				diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate telemetry block",
					"A telemetry block", telemetry.DefRange, "Merge the two blocks into one."))
				continue
			}
			telemetry = b
			diags = append(diags, decodeTelemetry(b, l.ev, &l.cfg.Telemetry)...)
		case "plugin":
			p, pdiags := decodePlugin(b, l.ev)
			diags = append(diags, pdiags...)
			if first, dup := plugins[p.Name]; dup {
				diags = append(diags, alreadyDeclared(b.LabelRanges[0], "Duplicate plugin",
					fmt.Sprintf("A plugin named %q", p.Name), first.DeclRange, "Give each plugin a unique name."))
				continue
			}
			plugins[p.Name] = p
			l.cfg.Plugins = append(l.cfg.Plugins, p)
		case "resource":
			r, rdiags := decodeResource(b, l.ev)
			diags = append(diags, rdiags...)
			if first, dup := resources[r.ID()]; dup {
				diags = append(diags, alreadyDeclared(r.NameRange, "Duplicate resource",
					fmt.Sprintf("A %s resource named %q", r.Type, r.Name), first.DeclRange,
					"Rename one of them; names must be unique within a resource type."))
				continue
			}
			resources[r.ID()] = r
			l.cfg.Resources = append(l.cfg.Resources, r)
		case "credential":
			c, cdiags := decodeCredential(b, l.ev)
			diags = append(diags, cdiags...)
			if first, dup := credentials[c.Name]; dup {
				diags = append(diags, alreadyDeclared(b.LabelRanges[0], "Duplicate credential",
					fmt.Sprintf("A credential named %q", c.Name), first.DeclRange, "Give each credential a unique name."))
				continue
			}
			credentials[c.Name] = c
			l.cfg.Credentials = append(l.cfg.Credentials, c)
		case "tenant":
			t, tdiags := decodeTenant(b, l.ev)
			diags = append(diags, tdiags...)
			l.cfg.Tenants = append(l.cfg.Tenants, t)
		}
	}
	return diags
}

// sortDiagnostics orders diagnostics by file and position, keeping the
// order of those at the same place. Diagnostics without a range come first.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return diags
}
