// Package pluginlock reads and writes the plugin lock file,
// .nebula.lock.hcl, that sits beside a configuration. For each plugin that
// "nebula-host plugins install" or "nebula-host plugins upgrade" put in a
// plugin directory, it records the plugin's version, the protocol it
// speaks, where it came from, and its binary's SHA-256 on each platform:
//
//	plugin "postgres" {
//	  version  = "0.9.0"
//	  protocol = 2
//	  source   = "https://example.com/nebula-plugin-postgres_0.9.0_linux_amd64.tar.gz"
//	  sha256 = {
//	    linux_amd64 = "<64 lowercase hexadecimal characters>"
//	  }
//	}
//
// The host refuses to start a plugin whose binary's SHA-256 differs from
// the one recorded for the platform it runs on.
//
// The file is data, not configuration: every value is a literal, and
// Parse checks each strictly (names, platforms, checksums, the protocol),
// reporting problems as diagnostics with the file, line and column. Bytes
// writes it in one canonical form, plugins sorted by name, so that the
// file changes only where a plugin did.
package pluginlock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// FileName is the lock file's name, in the directory of the configuration.
const FileName = ".nebula.lock.hcl"

// header opens every file Bytes writes.
const header = `# This file is maintained by "nebula-host plugins install" and "nebula-host plugins upgrade".
# Commit it beside the configuration: run and validate refuse a plugin whose
# SHA-256 differs from the one recorded here.
`

// Limits of what Parse accepts.
const (
	// maxFileSize bounds the lock file Read reads, in bytes.
	maxFileSize = 4 << 20
	// maxNumberLiteral bounds a number literal, in characters: parsing a
	// long one takes long, and a protocol version is short.
	maxNumberLiteral = 20
	// maxName, maxVersion and maxSource bound those strings, in bytes.
	maxName    = 64
	maxVersion = 128
	maxSource  = 2048
	// maxProtocol is the largest protocol version.
	maxProtocol = 1<<31 - 1
)

var (
	// nameRE is a plugin name: what follows nebula-plugin- in a binary's
	// name, or a plugin block's label.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// platformRE is GOOS_GOARCH, as Platform returns it.
	platformRE = regexp.MustCompile(`^[a-z][a-z0-9]*_[a-z0-9]+$`)
)

// File is a lock file.
type File struct {
	// Path is the file's path: where Read found it, and where Write
	// writes it.
	Path string
	// Plugins are the locked plugins, in the order of the file. Bytes
	// writes them sorted by name.
	Plugins []*Plugin

	// parsed is the syntax Parse read, for diagnostics' snippets; nil
	// for a File made otherwise.
	parsed *hcl.File
}

// Plugin is one plugin block of the lock file.
type Plugin struct {
	// Name names the plugin: its binary is nebula-plugin-NAME, or a
	// plugin block of the configuration carries the label NAME.
	Name string
	// Version is the version the plugin reported when it was installed.
	Version string
	// Protocol is the plugin protocol version it speaks.
	Protocol int
	// Source is where it was installed from: a URL, an archive, a
	// directory or a binary. Empty when not recorded.
	Source string
	// SHA256 maps a platform (GOOS_GOARCH, see Platform) to the SHA-256 of
	// the plugin's binary for it, in lowercase hexadecimal.
	SHA256 map[string]string
	// DeclRange is the block's header in the file Parse read; zero for a
	// Plugin made otherwise.
	DeclRange hcl.Range
}

// Platform returns the platform this program runs on, GOOS_GOARCH
// ("linux_amd64"): the key of Plugin.SHA256 the host checks.
func Platform() string { return runtime.GOOS + "_" + runtime.GOARCH }

// Dir returns the directory that holds the lock file of the configuration
// at configPath: configPath itself when it is a directory, else the
// directory of the file.
func Dir(configPath string) string {
	if st, err := os.Stat(configPath); err == nil && st.IsDir() {
		return configPath
	}
	return filepath.Dir(configPath)
}

// Read reads and parses the lock file in dir. With no lock file there it
// returns nil and no diagnostics. Otherwise the File is not nil, and holds
// what could be parsed when the diagnostics have errors.
func Read(dir string) (*File, hcl.Diagnostics) {
	path := filepath.Join(dir, FileName)
	fail := func(detail string) (*File, hcl.Diagnostics) {
		return &File{Path: path}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the plugin lock file",
			Detail: detail, Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}}}
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return fail(fmt.Sprintf("Cannot read %s: %v. Check its permissions.", path, errors.Unwrap(err)))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(fmt.Sprintf("Cannot read %s: %v.", path, err))
	}
	if !st.Mode().IsRegular() {
		return fail(fmt.Sprintf("%s is not a regular file. Remove it, then run \"nebula-host plugins install\" to write it.", path))
	}
	src, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fail(fmt.Sprintf("Cannot read %s: %v.", path, err))
	}
	if len(src) > maxFileSize {
		return fail(fmt.Sprintf("%s is larger than %d MiB, which no lock file is.", path, maxFileSize>>20))
	}
	return Parse(src, path)
}

// fileSchema and pluginSchema are the lock file's blocks and attributes.
var (
	fileSchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "plugin", LabelNames: []string{"name"}}},
	}
	pluginSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "version", Required: true},
			{Name: "protocol", Required: true},
			{Name: "source"},
			{Name: "sha256", Required: true},
		},
	}
)

// Parse parses src, the text of the lock file filename. The File is never
// nil; when the diagnostics have errors, it holds the plugins that parsed
// without any.
func Parse(src []byte, filename string) (*File, hcl.Diagnostics) {
	f := &File{Path: filename}
	toks, diags := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	for _, t := range toks {
		if t.Type == hclsyntax.TokenNumberLit && len(t.Bytes) > maxNumberLiteral {
			diags = append(diags, errorAt(t.Range, "Number too long",
				fmt.Sprintf("This number has %d characters; a protocol version has a few.", len(t.Bytes))))
		}
	}
	if diags.HasErrors() {
		f.parsed = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		return f, diags
	}
	parsed, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	f.parsed = parsed
	if diags.HasErrors() {
		return f, diags
	}
	content, cdiags := parsed.Body.Content(fileSchema)
	diags = append(diags, cdiags...)
	byName := map[string]*Plugin{}
	for _, b := range content.Blocks {
		p, pdiags := decodePlugin(b)
		diags = append(diags, pdiags...)
		if pdiags.HasErrors() {
			continue
		}
		if first, dup := byName[p.Name]; dup {
			diags = append(diags, errorAt(b.LabelRanges[0], "Duplicate plugin",
				fmt.Sprintf("Plugin %q is already locked at %s. Keep one of the blocks.", p.Name, position(first.DeclRange))))
			continue
		}
		byName[p.Name] = p
		f.Plugins = append(f.Plugins, p)
	}
	return f, diags
}

// decodePlugin decodes and checks one plugin block.
func decodePlugin(b *hcl.Block) (*Plugin, hcl.Diagnostics) {
	p := &Plugin{Name: b.Labels[0], DeclRange: b.DefRange}
	content, diags := b.Body.Content(pluginSchema)
	if problem := checkName(p.Name); problem != "" {
		diags = append(diags, errorAt(b.LabelRanges[0], "Invalid plugin name", problem))
	}
	if attr := content.Attributes["version"]; attr != nil {
		p.Version, diags = stringAttr(attr, diags, checkVersion)
	}
	if attr := content.Attributes["source"]; attr != nil {
		p.Source, diags = stringAttr(attr, diags, checkSource)
	}
	if attr := content.Attributes["protocol"]; attr != nil {
		p.Protocol, diags = protocolAttr(attr, diags)
	}
	if attr := content.Attributes["sha256"]; attr != nil {
		p.SHA256, diags = checksums(attr, diags)
	}
	return p, diags
}

// stringAttr returns attr's value, which must be a string literal that
// check finds nothing wrong with.
func stringAttr(attr *hcl.Attribute, diags hcl.Diagnostics, check func(string) string) (string, hcl.Diagnostics) {
	v, ok := literal(attr.Expr)
	if !ok || v.Type() != cty.String {
		return "", append(diags, errorAt(attr.Expr.Range(), "Invalid "+attr.Name,
			fmt.Sprintf("The %s must be a quoted string.", attr.Name)))
	}
	s := v.AsString()
	if problem := check(s); problem != "" {
		return "", append(diags, errorAt(attr.Expr.Range(), "Invalid "+attr.Name, problem))
	}
	return s, diags
}

// protocolAttr returns attr's value, which must be a positive whole number.
func protocolAttr(attr *hcl.Attribute, diags hcl.Diagnostics) (int, hcl.Diagnostics) {
	bad := func() (int, hcl.Diagnostics) {
		return 0, append(diags, errorAt(attr.Expr.Range(), "Invalid protocol",
			fmt.Sprintf("The protocol must be a whole number from 1 to %d, the plugin protocol version the plugin speaks.", maxProtocol)))
	}
	v, ok := literal(attr.Expr)
	if !ok || v.Type() != cty.Number {
		return bad()
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || n < 1 || n > maxProtocol {
		return bad()
	}
	return int(n), diags
}

// checksums returns the platform-to-checksum object of attr.
func checksums(attr *hcl.Attribute, diags hcl.Diagnostics) (map[string]string, hcl.Diagnostics) {
	obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok || len(obj.Items) == 0 {
		return nil, append(diags, errorAt(attr.Expr.Range(), "Invalid sha256",
			fmt.Sprintf("The sha256 must be an object of checksums by platform, such as { %s = \"<64 hexadecimal characters>\" }.", Platform())))
	}
	sums := make(map[string]string, len(obj.Items))
	keys := map[string]hcl.Range{}
	for _, item := range obj.Items {
		keyRange := item.KeyExpr.Range()
		platform, ok := objectKey(item.KeyExpr)
		if !ok {
			diags = append(diags, errorAt(keyRange, "Invalid platform",
				fmt.Sprintf("A platform must be written as GOOS_GOARCH, such as %s.", Platform())))
			continue
		}
		if problem := checkPlatform(platform); problem != "" {
			diags = append(diags, errorAt(keyRange, "Invalid platform", problem))
			continue
		}
		if first, dup := keys[platform]; dup {
			diags = append(diags, errorAt(keyRange, "Duplicate platform",
				fmt.Sprintf("Platform %s already has a checksum at %s. Keep one of them.", platform, position(first))))
			continue
		}
		keys[platform] = keyRange
		v, ok := literal(item.ValueExpr)
		if !ok || v.Type() != cty.String {
			diags = append(diags, errorAt(item.ValueExpr.Range(), "Invalid sha256",
				"A checksum must be a quoted string of 64 lowercase hexadecimal characters."))
			continue
		}
		sum := v.AsString()
		if problem := CheckSHA256(sum); problem != "" {
			diags = append(diags, errorAt(item.ValueExpr.Range(), "Invalid sha256",
				fmt.Sprintf("The checksum for %s %s; write the 64 lowercase hexadecimal characters that \"sha256sum <plugin binary>\" prints.", platform, problem)))
			continue
		}
		sums[platform] = sum
	}
	return sums, diags
}

// objectKey returns the key of an object item: a bare name or a quoted
// string.
func objectKey(expr hcl.Expression) (string, bool) {
	if k, ok := expr.(*hclsyntax.ObjectConsKeyExpr); ok {
		if kw := hcl.ExprAsKeyword(k.Wrapped); kw != "" {
			return kw, true
		}
		expr = k.Wrapped
	}
	v, ok := literal(expr)
	if !ok || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// literal returns the value of a literal expression: a number, a bool or
// a string without interpolations. The lock file is data: anything else
// (a reference, a function call, an operator) is refused.
func literal(expr hcl.Expression) (cty.Value, bool) {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return e.Val, e.Val.IsKnown() && !e.Val.IsNull()
	case *hclsyntax.TemplateExpr:
		if !e.IsStringLiteral() {
			return cty.NilVal, false
		}
		v, diags := e.Value(nil)
		return v, !diags.HasErrors() && v.IsKnown() && !v.IsNull()
	}
	return cty.NilVal, false
}

// checkName returns what is wrong with a plugin name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "A plugin name cannot be empty."
	case len(name) > maxName:
		return fmt.Sprintf("A plugin name has at most %d characters.", maxName)
	case !nameRE.MatchString(name):
		return fmt.Sprintf("Plugin name %q: a name has only letters, digits, \"_\" and \"-\", as in nebula-plugin-NAME.", name)
	}
	return ""
}

// checkVersion returns what is wrong with a version string, or "".
func checkVersion(v string) string {
	switch {
	case v == "":
		return "The version cannot be empty."
	case len(v) > maxVersion:
		return fmt.Sprintf("The version has more than %d characters.", maxVersion)
	case strings.IndexFunc(v, notPrintable) >= 0 || strings.ContainsRune(v, ' '):
		return "The version has a space or a character that cannot be printed."
	}
	return ""
}

// checkSource returns what is wrong with a source, or "".
func checkSource(s string) string {
	switch {
	case len(s) > maxSource:
		return fmt.Sprintf("The source has more than %d characters.", maxSource)
	case strings.IndexFunc(s, notPrintable) >= 0:
		return "The source has a character that cannot be printed."
	}
	return ""
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }

// checkPlatform returns what is wrong with a platform name, or "".
func checkPlatform(p string) string {
	if len(p) > 64 || !platformRE.MatchString(p) {
		return fmt.Sprintf("Platform %q: a platform is GOOS_GOARCH in lowercase, such as %s.", p, Platform())
	}
	return ""
}

// CheckSHA256 returns what is wrong with a checksum, "has 63 characters
// instead of 64" and the like, or "" for 64 lowercase hexadecimal
// characters.
func CheckSHA256(s string) string {
	if len(s) != 64 {
		return fmt.Sprintf("has %d characters instead of 64", len(s))
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'F':
			return fmt.Sprintf("has an uppercase letter at position %d; write it in lowercase", i+1)
		case (c < '0' || c > '9') && (c < 'a' || c > 'f'):
			return fmt.Sprintf("has a character that is not hexadecimal at position %d", i+1)
		}
	}
	return ""
}

// Plugin returns the plugin named name, or nil. A nil File has none.
func (f *File) Plugin(name string) *Plugin {
	if f == nil {
		return nil
	}
	for _, p := range f.Plugins {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Set adds p, or replaces the plugin of p's name with it.
func (f *File) Set(p *Plugin) {
	for i, q := range f.Plugins {
		if q.Name == p.Name {
			f.Plugins[i] = p
			return
		}
	}
	f.Plugins = append(f.Plugins, p)
}

// HCL returns the syntax Parse read, for printing diagnostics about the
// file with snippets (config.Load adds it to Config.Files); nil for a
// File that Parse did not make.
func (f *File) HCL() *hcl.File { return f.parsed }

// Bytes returns the file's canonical text: the header comment, then the
// plugins sorted by name, each with its checksums sorted by platform,
// formatted as hclwrite formats HCL.
func (f *File) Bytes() []byte {
	plugins := slices.Clone(f.Plugins)
	slices.SortFunc(plugins, func(a, b *Plugin) int { return strings.Compare(a.Name, b.Name) })
	w := hclwrite.NewEmptyFile()
	body := w.Body()
	for i, p := range plugins {
		if i > 0 {
			body.AppendNewline()
		}
		b := body.AppendNewBlock("plugin", []string{p.Name}).Body()
		b.SetAttributeValue("version", cty.StringVal(p.Version))
		b.SetAttributeValue("protocol", cty.NumberIntVal(int64(p.Protocol)))
		if p.Source != "" {
			b.SetAttributeValue("source", cty.StringVal(p.Source))
		}
		platforms := make([]string, 0, len(p.SHA256))
		for platform := range p.SHA256 {
			platforms = append(platforms, platform)
		}
		slices.Sort(platforms)
		sums := make([]hclwrite.ObjectAttrTokens, len(platforms))
		for i, platform := range platforms {
			sums[i] = hclwrite.ObjectAttrTokens{
				Name:  hclwrite.TokensForIdentifier(platform),
				Value: hclwrite.TokensForValue(cty.StringVal(p.SHA256[platform])),
			}
		}
		b.SetAttributeRaw("sha256", hclwrite.TokensForObject(sums))
	}
	out := []byte(header)
	if len(plugins) > 0 {
		out = append(append(out, '\n'), hclwrite.Format(w.Bytes())...)
	}
	return out
}

// Write writes f to f.Path atomically: to a temporary file in the same
// directory, synced to disk, then renamed over the old file, so that a
// reader sees the old file or the new one, never a part.
func Write(f *File) error {
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write the plugin lock file %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	_, err = tmp.Write(f.Bytes())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.Path)
	}
	if err != nil {
		return fmt.Errorf("write the plugin lock file %s: %w", f.Path, err)
	}
	// The rename is durable once the directory is.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func errorAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// position returns "file:line:column" of rng's start.
func position(rng hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", rng.Filename, rng.Start.Line, rng.Start.Column)
}
