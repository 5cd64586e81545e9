package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Credential is a credential block: a named set of secret strings that
// resource attributes refer to as credential.<name>.<attribute>, read
// from the environment, a watched file or a command, and refreshed while
// the host runs.
type Credential struct {
	// Name is the block label.
	Name string
	// Source is "env", "file" or "exec" (source).
	Source string
	// Variables maps each attribute to the environment variable it is
	// read from (variables), for source "env".
	Variables map[string]string
	// Path is the file read, for source "file" (path), resolved relative
	// to the directory of the configuration file and made absolute.
	Path string
	// Format is "json" (an object of strings, with an optional
	// "expiration") or "text" (the whole file is the attribute "value"),
	// for source "file" (format). Default "json".
	Format string
	// Command is the command run, its output a JSON object as the file's,
	// for source "exec" (command).
	Command []string
	// Dir is the command's working directory (dir), resolved as Path.
	// Default: the host's.
	Dir string
	// Timeout bounds one run of the command (timeout). Zero means 30s.
	Timeout time.Duration
	// RefreshBefore is how long before its stated expiry a value is
	// fetched again (refresh_before). Zero means a third of the value's
	// lifetime, at most five minutes.
	RefreshBefore time.Duration
	// PollInterval is how often the file is checked for a change
	// (poll_interval). Zero means 250ms.
	PollInterval time.Duration
	// DeclRange is the block's header.
	DeclRange hcl.Range
}

// The sources of a credential.
const (
	CredentialEnv  = "env"
	CredentialFile = "file"
	CredentialExec = "exec"
)

// CredentialRef is a reference to one attribute of a credential,
// credential.<name>.<attribute>.
type CredentialRef struct {
	// Credential is the credential's name.
	Credential string
	// Attribute is the attribute's name.
	Attribute string
	// Range is the reference's range in the source.
	Range hcl.Range
}

var credentialSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "source", Required: true},
		{Name: "variables"},
		{Name: "path"},
		{Name: "format"},
		{Name: "command"},
		{Name: "dir"},
		{Name: "timeout"},
		{Name: "refresh_before"},
		{Name: "poll_interval"},
	},
}

// decodeCredential decodes a credential block.
func decodeCredential(block *hcl.Block, ev *evaluator) (*Credential, hcl.Diagnostics) {
	c := &Credential{Name: block.Labels[0], DeclRange: block.DefRange}
	content, diags := block.Body.Content(credentialSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	if !validName(c.Name) {
		diags = append(diags, errorAt(block.LabelRanges[0], "Invalid credential name",
			fmt.Sprintf("A credential's name must start with a letter and hold only letters, digits, underscores and dashes; %q does not.", c.Name)))
	}
	source := d.enum("source", &c.Source, CredentialEnv, CredentialFile, CredentialExec)
	d.stringMap("variables", &c.Variables)
	d.path("path", &c.Path)
	d.enum("format", &c.Format, "json", "text")
	d.strings("command", &c.Command)
	d.path("dir", &c.Dir)
	d.duration("timeout", &c.Timeout)
	d.duration("refresh_before", &c.RefreshBefore)
	d.duration("poll_interval", &c.PollInterval)
	diags = append(diags, d.diags...)
	if source == nil {
		return c, diags
	}
	// Each source takes its own attributes, and needs some.
	own := map[string][]string{
		CredentialEnv:  {"variables"},
		CredentialFile: {"path", "format", "poll_interval", "refresh_before"},
		CredentialExec: {"command", "dir", "timeout", "refresh_before"},
	}
	needs := map[string]string{CredentialEnv: "variables", CredentialFile: "path", CredentialExec: "command"}
	for _, name := range sortedKeys(content.Attributes) {
		if name == "source" || contains(own[c.Source], name) {
			continue
		}
		attr := content.Attributes[name]
		diags = append(diags, errorAt(attr.NameRange, "Attribute not used by this source",
			fmt.Sprintf("Attribute %q does nothing for a credential of source %q, which takes %s. Remove it, or change the source.",
				name, c.Source, strings.Join(own[c.Source], ", "))))
	}
	if _, ok := content.Attributes[needs[c.Source]]; !ok {
		diags = append(diags, errorAt(block.DefRange, "Missing required attribute",
			fmt.Sprintf("A credential of source %q needs %q.%s", c.Source, needs[c.Source], credentialExample(c.Source))))
	}
	if c.Source == CredentialExec && content.Attributes["command"] != nil && len(c.Command) == 0 {
		diags = append(diags, errorAt(content.Attributes["command"].Expr.Range(), "Empty command",
			"command lists the program to run and its arguments, as [\"/usr/local/bin/pgcred\", \"--role\", \"app\"]."))
	}
	for attr := range c.Variables {
		if !validName(attr) {
			diags = append(diags, errorAt(content.Attributes["variables"].Expr.Range(), "Invalid attribute name",
				fmt.Sprintf("variables maps attribute names to environment variables; %q is not a name (letters, digits, underscores).", attr)))
		}
	}
	return c, diags
}

// credentialExample shows a credential block of a source.
func credentialExample(source string) string {
	switch source {
	case CredentialEnv:
		return " For example: variables = { password = \"PG_PASSWORD\" }."
	case CredentialFile:
		return " For example: path = \"/run/secrets/pg.json\"."
	}
	return " For example: command = [\"/usr/local/bin/pgcred\", \"--role\", \"app\"]."
}

// validName reports whether s is a name: a letter, then letters, digits,
// underscores or dashes.
func validName(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return s != ""
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// parseCredentialRef parses a traversal rooted at "credential".
func parseCredentialRef(t hcl.Traversal) (CredentialRef, bool) {
	if len(t) < 3 || t.RootName() != "credential" {
		return CredentialRef{}, false
	}
	var names [2]string
	for i := range names {
		step, ok := t[i+1].(hcl.TraverseAttr)
		if !ok {
			return CredentialRef{}, false
		}
		names[i] = step.Name
	}
	return CredentialRef{Credential: names[0], Attribute: names[1], Range: t.SourceRange()}, true
}

// invalidCredentialRef is the diagnostic for a reference rooted at
// "credential" that does not name an attribute.
func invalidCredentialRef(t hcl.Traversal) *hcl.Diagnostic {
	return errorAt(t.SourceRange(), "Invalid reference",
		"Refer to an attribute of a credential as credential.<name>.<attribute>, for example credential.pg_app.password.")
}

// checkCredentialRefs reports references to credentials that are not
// declared.
func checkCredentialRefs(refs []CredentialRef, creds []*Credential) hcl.Diagnostics {
	names := make([]string, len(creds))
	for i, c := range creds {
		names[i] = c.Name
	}
	sort.Strings(names)
	var diags hcl.Diagnostics
	for _, ref := range refs {
		if i := sort.SearchStrings(names, ref.Credential); i < len(names) && names[i] == ref.Credential {
			continue
		}
		hint := ""
		if s := suggestion(ref.Credential, names); s != "" {
			hint = fmt.Sprintf(" Did you mean credential.%s?", s)
		}
		diags = append(diags, errorAt(ref.Range, "Reference to undeclared credential",
			fmt.Sprintf("No credential %q is declared.%s Declare it with a credential block.", ref.Credential, hint)))
	}
	return diags
}

// CredentialValues are the current values of the credentials, by name,
// then by attribute, given to DecodeResources with WithCredentials.
type CredentialValues map[string]map[string]string

// credentialObject returns the value of "credential" for the credentials
// expr refers to, each attribute marked sensitive. A credential without
// values is unknown, and so is the value of expr.
func credentialObject(expr hcl.Expression, values CredentialValues) cty.Value {
	obj := map[string]cty.Value{}
	for _, t := range expr.Variables() {
		ref, ok := parseCredentialRef(t)
		if !ok {
			continue
		}
		attrs, ok := values[ref.Credential]
		if !ok {
			obj[ref.Credential] = cty.DynamicVal
			continue
		}
		vals := make(map[string]cty.Value, len(attrs))
		for k, v := range attrs {
			vals[k] = cty.StringVal(v).Mark(markSensitive)
		}
		obj[ref.Credential] = cty.ObjectVal(vals)
	}
	return cty.ObjectVal(obj)
}

// checkCredentialAttr reports a reference to an attribute the credential's
// current value does not have. The names of the attributes it has are
// not secret; their values are.
func checkCredentialAttr(t hcl.Traversal, values CredentialValues) hcl.Diagnostics {
	ref, ok := parseCredentialRef(t)
	if !ok {
		return nil
	}
	attrs, ok := values[ref.Credential]
	if !ok {
		return nil
	}
	if _, ok := attrs[ref.Attribute]; ok {
		return nil
	}
	names := sortedKeys(attrs)
	return hcl.Diagnostics{errorAt(ref.Range, "Reference to unknown credential attribute", fmt.Sprintf(
		"Credential %q has no attribute %q; it has %s.%s", ref.Credential, ref.Attribute, strings.Join(quoteAll(names), ", "), didYouMean(ref.Attribute, names)))}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}
