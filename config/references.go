package config

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// attrRef is a parsed resource.<type>.<name>.<attr> traversal; further
// steps (an index into a list, say) may follow the attribute.
type attrRef struct {
	typ, name, attr string
}

func (a attrRef) id() string { return a.typ + "." + a.name }

// parseAttrRef parses a traversal rooted at "resource".
func parseAttrRef(t hcl.Traversal) (attrRef, bool) {
	if len(t) < 4 || t.RootName() != "resource" {
		return attrRef{}, false
	}
	var names [3]string
	for i := range names {
		step, ok := t[i+1].(hcl.TraverseAttr)
		if !ok {
			return attrRef{}, false
		}
		names[i] = step.Name
	}
	return attrRef{typ: names[0], name: names[1], attr: names[2]}, true
}

// collectReferences records the references to other resources in the
// driver attributes of r. Only their form is checked here; whether they
// name declared resources is checked by checkGraph, and whether the
// attributes exist by DecodeResources, which has the schemas.
func (r *Resource) collectReferences() hcl.Diagnostics {
	if r.Body == nil {
		return nil
	}
	// Blocks are not driver attributes: DecodeResources reports them.
	attrs, _ := r.Body.JustAttributes()
	var diags hcl.Diagnostics
	for _, attr := range attrs {
		for _, t := range attr.Expr.Variables() {
			if t.RootName() == "credential" {
				ref, ok := parseCredentialRef(t)
				if !ok {
					diags = append(diags, invalidCredentialRef(t))
					continue
				}
				r.Credentials = append(r.Credentials, ref)
				continue
			}
			if t.RootName() != "resource" {
				continue
			}
			ref, ok := parseAttrRef(t)
			if !ok {
				diags = append(diags, invalidAttrRef(t))
				continue
			}
			r.References = append(r.References, Reference{Resource: ref.id(), Attribute: ref.attr, Range: t.SourceRange()})
		}
	}
	// In source order: JustAttributes is a map.
	sort.Slice(r.References, func(i, j int) bool {
		return r.References[i].Range.Start.Byte < r.References[j].Range.Start.Byte
	})
	sort.Slice(r.Credentials, func(i, j int) bool {
		return r.Credentials[i].Range.Start.Byte < r.Credentials[j].Range.Start.Byte
	})
	return diags
}

// invalidAttrRef is the diagnostic for a reference to a resource, in a
// driver attribute, that does not have the form
// resource.<type>.<name>.<attr>.
func invalidAttrRef(t hcl.Traversal) *hcl.Diagnostic {
	detail := "Refer to an attribute of another resource as resource.<type>.<name>.<attribute>, for example resource.memory.cache.address."
	if id, ok := resourceRef(t); ok {
		detail = fmt.Sprintf("A reference to a resource must name one of its attributes, as in resource.%s.<attribute>. To start this resource after %s without using its values, list resource.%s in depends_on.", id, id, id)
	}
	return errorAt(t.SourceRange(), "Invalid reference", detail)
}

// checkGraph reports dependencies (depends_on entries and references)
// that name no declared resource or the resource itself, and the cycles
// among the others.
func checkGraph(resources []*Resource) hcl.Diagnostics {
	ids := map[string]bool{}
	for _, r := range resources {
		ids[r.ID()] = true
	}
	known := sortedKeys(ids)
	undeclared := func(rng hcl.Range, id string) *hcl.Diagnostic {
		hint := ""
		if s := suggestion(id, known); s != "" {
			hint = fmt.Sprintf(" Did you mean resource.%s?", s)
		}
		return errorAt(rng, "Reference to undeclared resource", fmt.Sprintf("No resource %s is declared.%s", id, hint))
	}
	var diags hcl.Diagnostics
	for _, r := range resources {
		for i, id := range r.DependsOn {
			rng := r.dependsOnRanges[i]
			switch {
			case id == r.ID():
				diags = append(diags, errorAt(rng, "Resource depends on itself",
					fmt.Sprintf("Resource %s lists itself in depends_on; remove that entry.", id)))
			case !ids[id]:
				diags = append(diags, undeclared(rng, id))
			}
		}
		for _, ref := range r.References {
			switch {
			case ref.Resource == r.ID():
				diags = append(diags, errorAt(ref.Range, "Resource depends on itself", fmt.Sprintf(
					"Resource %s refers to its own attribute %q; an attribute cannot refer to another of the same resource. Use a variable for a value they share.",
					ref.Resource, ref.Attribute)))
			case !ids[ref.Resource]:
				diags = append(diags, undeclared(ref.Range, ref.Resource))
			}
		}
	}
	return append(diags, newGraph(resources).cycles()...)
}

// refScope is what the driver attributes of one resource may refer to
// while DecodeResources decodes them.
type refScope struct {
	self     string                // id of the resource being decoded
	declared map[string]bool       // ids of the declared resources
	schemas  map[string]sdk.Schema // by resource type
	// creds are the credentials' current values; a credential missing
	// from it is unknown.
	creds CredentialValues
	// decoded holds, by id, an object of the non-sensitive attributes of
	// each resource decoded so far. DecodeResources fills it in
	// dependency order.
	decoded map[string]cty.Value
}

// check reports a reference to an attribute that does not exist or is
// sensitive. skip is true for a reference Load reported already (to an
// undeclared resource, to the resource itself, or of the wrong form): its
// expression is not evaluated.
func (s *refScope) check(t hcl.Traversal) (diags hcl.Diagnostics, skip bool) {
	ref, ok := parseAttrRef(t)
	if !ok || !s.declared[ref.id()] || ref.id() == s.self {
		return nil, true
	}
	schema, ok := s.schemas[ref.typ]
	if !ok {
		// The type is unknown, which is reported at that resource; the
		// value is unknown.
		return nil, false
	}
	a, ok := schema.Attribute(ref.attr)
	switch {
	case !ok:
		var names []string
		for _, a := range schema.Attributes {
			if !a.Sensitive {
				names = append(names, a.Name)
			}
		}
		sort.Strings(names)
		return hcl.Diagnostics{errorAt(t.SourceRange(), "Reference to unknown attribute", fmt.Sprintf(
			"Resource %s (type %q) has no attribute %q.%s", ref.id(), ref.typ, ref.attr, didYouMean(ref.attr, names)))}, false
	case a.Sensitive:
		return hcl.Diagnostics{errorAt(t.SourceRange(), "Reference to a sensitive attribute", fmt.Sprintf(
			"Attribute %q of %s is sensitive, so other resources cannot refer to it. Set both from a sensitive variable instead.",
			ref.attr, ref.id()))}, false
	}
	return nil, false
}

// object returns the value of "resource" for expr: an object by type, then
// by name, of the resources expr refers to. A resource not decoded (its
// type is unknown, or it has errors) is unknown, and so is the value of
// expr.
func (s *refScope) object(expr hcl.Expression) cty.Value {
	byType := map[string]map[string]cty.Value{}
	for _, t := range expr.Variables() {
		ref, ok := parseAttrRef(t)
		if !ok {
			continue
		}
		v, ok := s.decoded[ref.id()]
		if !ok {
			v = cty.DynamicVal
		}
		if byType[ref.typ] == nil {
			byType[ref.typ] = map[string]cty.Value{}
		}
		byType[ref.typ][ref.name] = v
	}
	obj := make(map[string]cty.Value, len(byType))
	for typ, names := range byType {
		obj[typ] = cty.ObjectVal(names)
	}
	return cty.ObjectVal(obj)
}

// usesSensitive reports whether expr refers to an attribute whose value
// came from a sensitive variable.
func (s *refScope) usesSensitive(expr hcl.Expression) bool {
	if s == nil {
		return false
	}
	for _, t := range expr.Variables() {
		if t.RootName() == "credential" {
			return true
		}
		ref, ok := parseAttrRef(t)
		if !ok {
			continue
		}
		v, ok := s.decoded[ref.id()]
		if !ok || !v.Type().IsObjectType() || !v.Type().HasAttribute(ref.attr) {
			continue
		}
		if v.GetAttr(ref.attr).ContainsMarked() {
			return true
		}
	}
	return false
}
