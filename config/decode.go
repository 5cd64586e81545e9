package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// DecodeResources decodes each resource's Body with the schema its type
// published. types maps a resource type name to its configuration schema.
//
// A resource whose type is missing from types gets an "Unknown resource
// type" diagnostic at its type label, with a suggestion and the list of
// known types. Otherwise its attributes are checked against the schema:
// required ones must be set, unknown ones are errors, and each value must
// convert to the attribute's type. On success Resource.Config is set to a
// JSON object holding the set attributes and the defaults of the unset
// optional ones; unset optional attributes without a default are omitted.
// Resources with errors get a nil Config, and so do the resources that
// refer to an attribute of one.
//
// An attribute may refer to a non-sensitive attribute of another resource,
// as in resource.memory.cache.address: the value is that attribute's
// decoded value (its default when unset, null when it has none). The
// resources are decoded in dependency order (see [Config.Levels]) so that
// those values are known. A reference to an attribute the type does not
// have, or to a sensitive one, is an error.
//
// Diagnostics never show the value of a sensitive attribute or of a value
// derived from a sensitive variable.
func (c *Config) DecodeResources(types map[string]sdk.Schema, opts ...DecodeOption) hcl.Diagnostics {
	if c.released {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Configuration already released",
			Detail: "DecodeResources was called after ReleaseSyntax dropped the syntax trees; load the configuration again."}}
	}
	var o decodeOptions
	for _, opt := range opts {
		opt(&o)
	}
	ev := c.eval
	if ev == nil {
		ev = newEvaluator(nil, nil)
	}
	known := sortedKeys(types)
	for _, name := range o.alsoKnown {
		if _, ok := types[name]; !ok {
			known = append(known, name)
		}
	}
	sort.Strings(known)
	known = slices.Compact(known)
	for _, name := range sortedKeys(o.creds) {
		for _, v := range o.creds[name] {
			if v != "" {
				c.secrets = append(c.secrets, v)
			}
		}
	}
	scope := refScope{
		creds:    o.creds,
		declared: make(map[string]bool, len(c.Resources)),
		schemas:  types,
		decoded:  make(map[string]cty.Value, len(c.Resources)),
	}
	for _, r := range c.Resources {
		scope.declared[r.ID()] = true
	}
	c.maskSensitive(types)
	ev.budget.start()
	var diags hcl.Diagnostics
	decoders := map[string]*bodyDecoder{}
	for _, level := range c.Levels() {
		for _, r := range level {
			r.Config = nil
			schema, ok := types[r.Type]
			if !ok {
				diags = append(diags, unknownType(r, known, o.searched))
				continue
			}
			bd := decoders[r.Type]
			if bd == nil {
				bd = newBodyDecoder(schema)
				decoders[r.Type] = bd
			}
			scope.self = r.ID()
			raw, obj, rdiags := decodeBody(r, bd, ev, &scope)
			diags = append(diags, rdiags...)
			if raw != nil && !rdiags.HasErrors() {
				r.Config = raw
				scope.decoded[r.ID()] = obj
			}
		}
	}
	return sortDiagnostics(scrubSecrets(stripEval(diags), c.secrets))
}

// maskSensitive hides, in the snippets of Files, the values of the
// attributes that the schemas in types mark sensitive, and those of
// attributes whose names are misspellings of them.
func (c *Config) maskSensitive(types map[string]sdk.Schema) {
	extra := map[string]bool{}
	for _, s := range types {
		for _, a := range s.Attributes {
			if a.Sensitive && !sensitiveName(a.Name, nil) {
				extra[a.Name] = true
			}
		}
	}
	if len(extra) > 0 {
		for _, name := range sortedKeys(c.Files) {
			f := c.Files[name]
			var secrets []string
			f.Bytes, secrets = maskSource(f.Bytes, extra)
			c.secrets = append(c.secrets, secrets...)
		}
	}
	for _, r := range c.Resources {
		body, ok := r.Body.(*hclsyntax.Body)
		schema, known := types[r.Type]
		if !ok || !known {
			continue
		}
		for _, a := range schema.Attributes {
			if attr, set := body.Attributes[a.Name]; set && a.Sensitive {
				rng := attr.Expr.Range()
				c.secrets = append(c.secrets, maskRange(c.Files[rng.Filename], rng)...)
			}
		}
	}
}

// DecodeOption configures DecodeResources.
type DecodeOption func(*decodeOptions)

type decodeOptions struct {
	alsoKnown []string
	creds     CredentialValues
	searched  func(typ string) string
}

// WithCredentials gives the current values of the credentials, by name
// then attribute, for the references credential.<name>.<attribute> in
// driver attributes. Without it, or for a credential it lacks, such an
// attribute is unknown and its resource gets no Config. The values are
// secret: no diagnostic shows them.
func WithCredentials(values CredentialValues) DecodeOption {
	return func(o *decodeOptions) { o.creds = values }
}

// AlsoKnown names resource types that exist but were not given a schema,
// such as those of plugins installed but not started. They count only for
// the "Did you mean" hint and the list of known types in an "Unknown
// resource type" diagnostic.
func AlsoKnown(types ...string) DecodeOption {
	return func(o *decodeOptions) { o.alsoKnown = append(o.alsoKnown, types...) }
}

// Searched gives the "Unknown resource type" diagnostic where the
// plugin for a type was looked for: searched returns a sentence, such as
// the files looked for and the directories, or "".
func Searched(searched func(typ string) string) DecodeOption {
	return func(o *decodeOptions) { o.searched = searched }
}

// unknownType is the diagnostic for a resource whose type no plugin
// offers; searched, when not nil, says where its plugin was looked for.
func unknownType(r *Resource, known []string, searched func(string) string) *hcl.Diagnostic {
	detail := fmt.Sprintf("No plugin offers the resource type %q.", r.Type)
	if len(known) == 0 {
		detail += " No resource types are available; declare the plugin that provides it with a plugin block."
	} else {
		detail += didYouMean(r.Type, known) + " Known types: " + strings.Join(known, ", ") + "."
	}
	if searched != nil {
		if s := searched(r.Type); s != "" {
			detail += " " + s
		}
	}
	return errorAt(r.TypeRange, "Unknown resource type", detail)
}

// decodeBody decodes a resource's driver attributes into a JSON object, and
// into obj, an object of the non-sensitive attributes for references from
// other resources. raw is nil when there are errors or when a value is
// unknown because a resource referred to has errors.
// bodyDecoder is what decoding a resource's body needs of its type's
// schema, worked out once per type rather than once per resource: a
// thousand resources of a type share it.
type bodyDecoder struct {
	schema sdk.Schema
	hcl    *hcl.BodySchema
	attrs  []attrSchema // one per schema.Attributes, in order
}

// attrSchema is what decoding an attribute needs of its schema.
type attrSchema struct {
	ty     cty.Type // cty.DynamicPseudoType when typed is false
	typed  bool
	defErr error     // why the default is not of the attribute's type
	defVal cty.Value // the default converted to ty; cty.NilVal when it does not convert
}

func newBodyDecoder(schema sdk.Schema) *bodyDecoder {
	bd := &bodyDecoder{schema: schema, hcl: &hcl.BodySchema{}, attrs: make([]attrSchema, len(schema.Attributes))}
	for i, a := range schema.Attributes {
		bd.hcl.Attributes = append(bd.hcl.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
		ad := &bd.attrs[i]
		ty, err := ctyType(a.Type)
		ad.ty, ad.typed = ty, err == nil
		if !ad.typed {
			ad.ty = cty.DynamicPseudoType
		}
		if a.Default != nil {
			ad.defErr = sdk.CheckValue(a.Type, a.Default)
			if ad.defErr == nil && ad.typed {
				// CheckValue accepted it, so it converts.
				if v, err := ctyjson.Unmarshal(a.Default, ty); err == nil {
					ad.defVal = v
				}
			}
		}
	}
	// The reserved names are already taken out of the body; listing them
	// again lets hcl suggest them for misspellings such as "pol".
	for _, a := range resourceSchema.Attributes {
		if _, clash := schema.Attribute(a.Name); !clash {
			bd.hcl.Attributes = append(bd.hcl.Attributes, a)
		}
	}
	for _, b := range resourceSchema.Blocks {
		if _, clash := schema.Attribute(b.Type); !clash {
			bd.hcl.Blocks = append(bd.hcl.Blocks, b)
		}
	}
	return bd
}

func decodeBody(r *Resource, bd *bodyDecoder, ev *evaluator, scope *refScope) (raw json.RawMessage, obj cty.Value, diags hcl.Diagnostics) {
	body := r.Body
	if body == nil {
		body = hcl.EmptyBody()
	}
	schema := bd.schema
	content, diags := body.Content(bd.hcl)
	out := make(map[string]json.RawMessage, len(schema.Attributes))
	vals := make(map[string]cty.Value, len(schema.Attributes))
	unknown := false
	for i, a := range schema.Attributes {
		ad := &bd.attrs[i]
		if !a.Sensitive {
			vals[a.Name] = cty.NullVal(ad.ty)
		}
		if attr, ok := content.Attributes[a.Name]; ok {
			d, adiags := decodeAttribute(a, attr, ev, scope)
			diags = append(diags, adiags...)
			switch {
			case d.raw != nil:
				out[a.Name] = d.raw
				if !a.Sensitive {
					vals[a.Name] = d.val
				}
				continue
			case d.unknown:
				unknown = true
				continue
			case adiags.HasErrors():
				continue
			}
			// Null: as if unset.
			if a.Required {
				diags = append(diags, errorAt(attr.Expr.Range(), "Missing required argument",
					fmt.Sprintf("The argument %q is required, but it is null. Set it to a value.", a.Name)))
				continue
			}
		}
		if a.Default != nil {
			if ad.defErr != nil {
				diags = append(diags, errorAt(r.TypeRange, "Invalid default in plugin schema", fmt.Sprintf(
					"The plugin's schema for %q gives attribute %q a default that is not %s (%v). This is a bug in the plugin; set the attribute explicitly.",
					r.Type, a.Name, a.Type, ad.defErr)))
				continue
			}
			out[a.Name] = a.Default
			if !a.Sensitive && ad.defVal != cty.NilVal {
				vals[a.Name] = ad.defVal
			}
		}
	}
	if diags.HasErrors() || unknown {
		return nil, cty.NilVal, diags
	}
	raw, err := json.Marshal(out)
	if err != nil {
		// Only a malformed schema default can cause this.
		return nil, cty.NilVal, append(diags, errorAt(r.DeclRange, "Cannot encode configuration", err.Error()))
	}
	// Marshal's buffer has room to spare; the resource keeps its
	// configuration for as long as it runs.
	return bytes.Clone(raw), cty.ObjectVal(vals), diags
}

// decodedAttr is one decoded driver attribute.
type decodedAttr struct {
	// raw is the value as JSON; nil when the attribute is null, unknown
	// or has errors.
	raw json.RawMessage
	// val is the value converted to the attribute's type, marked when it
	// came from a sensitive variable.
	val cty.Value
	// unknown is true when the value depends on a resource that has
	// errors.
	unknown bool
}

// decodeAttribute evaluates one driver attribute and encodes it as JSON.
func decodeAttribute(a sdk.Attribute, attr *hcl.Attribute, ev *evaluator, scope *refScope) (decodedAttr, hcl.Diagnostics) {
	rng := attr.Expr.Range()
	val, diags := ev.evalIn(attr.Expr, scope)
	if diags.HasErrors() {
		return decodedAttr{}, diags
	}
	if !val.IsWhollyKnown() {
		return decodedAttr{unknown: true}, diags
	}
	marked := val.ContainsMarked()
	secret := a.Sensitive || marked
	val, _ = val.UnmarkDeep()
	if val.IsNull() {
		return decodedAttr{}, diags
	}
	ty, err := ctyType(a.Type)
	if err != nil {
		return decodedAttr{}, append(diags, errorAt(rng, "Unsupported attribute type", fmt.Sprintf(
			"The plugin's schema gives attribute %q the type %s, which the host cannot decode (%v). This is a bug in the plugin.", a.Name, a.Type, err)))
	}
	cv, err := convert.Convert(val, ty)
	if err != nil {
		return decodedAttr{}, append(diags, wrongType(a.Name, a.Type.String(), val.Type(), rng))
	}
	v, p := toJSON(cv, a.Type, fmt.Sprintf("Attribute %q", a.Name), false, secret)
	if p != nil {
		return decodedAttr{}, append(diags, errorAt(rng, p.summary, p.detail))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return decodedAttr{}, append(diags, errorAt(rng, "Cannot encode attribute", fmt.Sprintf("Attribute %q cannot be encoded as JSON.", a.Name)))
	}
	if marked {
		cv = cv.Mark(markSensitive)
	}
	return decodedAttr{raw: raw, val: cv}, diags
}

// ctyType returns the cty type that values of t are converted to.
func ctyType(t sdk.Type) (cty.Type, error) {
	switch t.Kind {
	case sdk.TypeString, sdk.TypeDuration:
		return cty.String, nil
	case sdk.TypeInt, sdk.TypeFloat:
		return cty.Number, nil
	case sdk.TypeBool:
		return cty.Bool, nil
	case sdk.TypeJSON:
		return cty.DynamicPseudoType, nil
	case sdk.TypeList, sdk.TypeMap:
		if t.Elem == nil {
			return cty.NilType, fmt.Errorf("%s without an element type", t.Kind)
		}
		if holdsJSON(*t.Elem) {
			// Its elements may differ in type: an HCL tuple or object,
			// which toJSON checks is a list or a map.
			return cty.DynamicPseudoType, nil
		}
		elem, err := ctyType(*t.Elem)
		if err != nil {
			return cty.NilType, err
		}
		if t.Kind == sdk.TypeList {
			return cty.List(elem), nil
		}
		return cty.Map(elem), nil
	}
	return cty.NilType, fmt.Errorf("unknown type kind %q", t.Kind)
}

// holdsJSON reports whether t is json or a list or map that holds json.
func holdsJSON(t sdk.Type) bool {
	switch t.Kind {
	case sdk.TypeJSON:
		return true
	case sdk.TypeList, sdk.TypeMap:
		return t.Elem != nil && holdsJSON(*t.Elem)
	}
	return false
}

// problem is what is wrong with a value that has the right cty type but is
// not a valid value of its schema type.
type problem struct{ summary, detail string }

// toJSON converts v, already converted to ctyType(t), to a value for
// json.Marshal. where names the value in messages ("Attribute "port"",
// "Attribute "ports" element 2"); nested is true inside a list or map;
// secret hides the value.
func toJSON(v cty.Value, t sdk.Type, where string, nested, secret bool) (any, *problem) {
	if v.IsNull() {
		return nil, nil
	}
	switch t.Kind {
	case sdk.TypeString:
		return v.AsString(), nil
	case sdk.TypeBool:
		return v.True(), nil
	case sdk.TypeDuration:
		s := v.AsString()
		if _, err := time.ParseDuration(s); err != nil {
			detail := durationDetail(s, secret)
			switch {
			case nested && secret:
				detail = fmt.Sprintf("%s is not a duration (the value is sensitive and not shown); %s", where, hintDuration)
			case nested:
				detail = fmt.Sprintf("%s is %q, which is not a duration; %s", where, s, hintDuration)
			}
			return nil, &problem{"Invalid duration", detail}
		}
		return s, nil
	case sdk.TypeInt:
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return nil, &problem{"Incorrect attribute value type",
				fmt.Sprintf("%s wants a whole number%s.", where, got(bf.Text('g', -1), secret))}
		}
		n, acc := bf.Int64()
		if acc != big.Exact {
			return nil, &problem{"Invalid value", where + " is too large for an int."}
		}
		return n, nil
	case sdk.TypeFloat:
		bf := v.AsBigFloat()
		if bf.IsInf() {
			return nil, &problem{"Invalid value", where + " wants a finite number."}
		}
		f, _ := bf.Float64()
		return f, nil
	case sdk.TypeList:
		if ty := v.Type(); !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
			return nil, &problem{"Incorrect attribute value type", fmt.Sprintf("%s wants %s, got %s.", where, t, ty.FriendlyName())}
		}
		out := make([]any, 0, v.LengthInt())
		for i, it := 0, v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			ev, p := toJSON(e, *t.Elem, where+" element "+strconv.Itoa(i), true, secret)
			if p != nil {
				return nil, p
			}
			out = append(out, ev)
		}
		return out, nil
	case sdk.TypeJSON:
		raw, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, &problem{"Invalid value", fmt.Sprintf("%s cannot be written as JSON: %v.", where, err)}
		}
		return json.RawMessage(raw), nil
	case sdk.TypeMap:
		if ty := v.Type(); !ty.IsMapType() && !ty.IsObjectType() {
			return nil, &problem{"Incorrect attribute value type", fmt.Sprintf("%s wants %s, got %s.", where, t, ty.FriendlyName())}
		}
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			elemWhere := fmt.Sprintf("%s key %q", where, k.AsString())
			if secret {
				elemWhere = "An element of " + strings.ToLower(where[:1]) + where[1:]
			}
			ev, p := toJSON(e, *t.Elem, elemWhere, true, secret)
			if p != nil {
				return nil, p
			}
			out[k.AsString()] = ev
		}
		return out, nil
	}
	return nil, &problem{"Unsupported attribute type", fmt.Sprintf("%s has the unknown type %q.", where, t.Kind)}
}
