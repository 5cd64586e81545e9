package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ReleaseSyntax drops the syntax trees that Load keeps for
// DecodeResources: each Resource's Body and each file's Body. It keeps
// what the diagnostics need, the (masked) source bytes of Files; the
// "in resource ..." context of a snippet is found by parsing the file
// again when a diagnostic is written. A host calls it once its resources
// are decoded and validated, so that a large configuration does not keep
// about a kilobyte of syntax tree per resource for as long as it runs.
//
// After ReleaseSyntax, DecodeResources answers with an error: load the
// configuration again to decode it again.
func (c *Config) ReleaseSyntax() {
	if c.released {
		return
	}
	c.released = true
	c.eval = nil
	for name, f := range c.Files {
		f.Body = hcl.EmptyBody()
		f.Nav = &reparseNav{filename: name, src: f.Bytes}
	}
	for _, r := range c.Resources {
		r.Body = nil
	}
}

// reparseNav stands in for a file's navigation after ReleaseSyntax: it
// parses the file's bytes again to answer.
type reparseNav struct {
	filename string
	src      []byte
}

func (n *reparseNav) parsed() any {
	f, _ := hclsyntax.ParseConfig(n.src, n.filename, hcl.InitialPos)
	if f == nil {
		return nil
	}
	return f.Nav
}

// ContextString is what hcl's diagnostic writer asks for: "in resource
// "type" "name"" and the like.
func (n *reparseNav) ContextString(offset int) string {
	if cs, ok := n.parsed().(interface{ ContextString(int) string }); ok {
		return cs.ContextString(offset)
	}
	return ""
}

// ContextDefRange returns the range of the definition enclosing offset.
func (n *reparseNav) ContextDefRange(offset int) hcl.Range {
	if cd, ok := n.parsed().(interface{ ContextDefRange(int) hcl.Range }); ok {
		return cd.ContextDefRange(offset)
	}
	return hcl.Range{}
}
