package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// envVarPrefix prefixes the environment variables that set variables.
const envVarPrefix = "NEBULA_VAR_"

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

// variableDecl is a variable block while it is being loaded.
type variableDecl struct {
	v           *Variable
	def         *hcl.Attribute // the default attribute, or nil
	validations hcl.Blocks
}

// decodeVariable decodes a variable block's declaration; its value comes
// later, from resolveVariable.
func decodeVariable(block *hcl.Block) (*variableDecl, hcl.Diagnostics) {
	name := block.Labels[0]
	d := &variableDecl{v: &Variable{
		Name:      name,
		Type:      cty.DynamicPseudoType,
		DeclRange: block.DefRange,
	}}
	content, diags := block.Body.Content(variableSchema)
	if !hclsyntax.ValidIdentifier(name) {
		diags = append(diags, errorAt(block.LabelRanges[0], "Invalid variable name",
			fmt.Sprintf("%q is not a valid name: start with a letter and use only letters, digits, underscores and dashes.", name)))
	}
	if attr, ok := content.Attributes["type"]; ok {
		ty, tdiags := typeexpr.TypeConstraint(attr.Expr)
		diags = append(diags, tdiags...)
		if !tdiags.HasErrors() {
			d.v.Type = ty
		}
	}
	// description and sensitive are literals: no variables or functions.
	ad := &attrDecoder{ev: literalEvaluator, attrs: content.Attributes}
	ad.string("description", &d.v.Description)
	ad.bool("sensitive", &d.v.Sensitive)
	diags = append(diags, ad.diags...)
	d.def = content.Attributes["default"]
	d.validations = content.Blocks
	return d, diags
}

// literalEvaluator evaluates expressions that may use neither variables
// nor functions, such as defaults.
var literalEvaluator = &evaluator{}

// resolveVariable sets the variable's value from, in order, the values
// given with WithVariables, the environment variable NEBULA_VAR_<name>, and
// the default.
func resolveVariable(d *variableDecl, o *options, b *budget) hcl.Diagnostics {
	v := d.v
	var (
		val    cty.Value
		source string    // where the value came from, for diagnostics
		rng    hcl.Range // where to report problems with the value
		diags  hcl.Diagnostics
	)
	raw, ok := o.vars[v.Name]
	if ok {
		source = "WithVariables (-var)"
	} else if raw, ok = o.lookupEnv(envVarPrefix + v.Name); ok {
		source = "the environment variable " + envVarPrefix + v.Name
	}
	switch {
	case ok:
		rng = v.DeclRange
		var problem string
		if val, problem = parseVariableValue(raw, v.Type, b); problem != "" {
			return hcl.Diagnostics{errorAt(rng, "Invalid value for variable", fmt.Sprintf(
				"The value of variable %q from %s %s.", v.Name, source, problem))}
		}
		if val == cty.NilVal {
			return hcl.Diagnostics{errorAt(rng, "Invalid value for variable", fmt.Sprintf(
				"The value of variable %q from %s is not a valid %s. Write it as an HCL value, such as 8080, true, [\"a\", \"b\"] or { key = \"value\" }.",
				v.Name, source, typeexpr.TypeString(v.Type)))}
		}
	case d.def != nil:
		rng = d.def.Expr.Range()
		source = "its default"
		val, diags = literalEvaluator.eval(d.def.Expr)
		if diags.HasErrors() {
			return diags
		}
	default:
		return hcl.Diagnostics{errorAt(v.DeclRange, "Missing value for variable", fmt.Sprintf(
			"Variable %q has no value. Give one with WithVariables (-var %s=...) or the environment variable %s%s, or add a default to the block.",
			v.Name, v.Name, envVarPrefix, v.Name))}
	}
	cv, err := convert.Convert(val, v.Type)
	if err != nil {
		return append(diags, errorAt(rng, "Invalid value for variable", fmt.Sprintf(
			"Variable %q wants %s, got %s from %s.", v.Name, typeexpr.TypeString(v.Type), friendly(val.Type()), source)))
	}
	v.Value = cv
	return diags
}

// parseVariableValue parses a value given as text: as is for string and
// "any" variables, as an HCL literal expression for the others. It returns
// cty.NilVal when the text is not a value, and a problem (to follow the
// variable's name) when the value is out of the limits.
func parseVariableValue(raw string, ty cty.Type, b *budget) (cty.Value, string) {
	if ty == cty.String || ty == cty.DynamicPseudoType {
		if len(raw) > maxStringBytes {
			return cty.NilVal, fmt.Sprintf("is longer than the limit of %d bytes", maxStringBytes)
		}
		return cty.StringVal(raw), ""
	}
	toks, _ := hclsyntax.LexExpression([]byte(raw), "<value>", hcl.InitialPos)
	for _, t := range toks {
		if t.Type == hclsyntax.TokenNumberLit && len(t.Bytes) > maxNumberLiteral {
			return cty.NilVal, fmt.Sprintf("holds a number of %d characters, more than the limit of %d; %s", len(t.Bytes), maxNumberLiteral, numberLimit)
		}
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "<value>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, ""
	}
	if diags := guardSyntax(expr, b); diags.HasErrors() {
		return cty.NilVal, "holds a number out of range: " + numberLimit
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, ""
	}
	if err := checkValue(val); err != nil {
		return cty.NilVal, "is out of bounds: " + err.Error()
	}
	return val, ""
}

// validateVariable checks the variable's validation blocks. ev has var.*
// bound.
func validateVariable(d *variableDecl, ev *evaluator) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range d.validations {
		content, cdiags := b.Body.Content(validationSchema)
		diags = append(diags, cdiags...)
		if cdiags.HasErrors() {
			continue
		}
		cond := content.Attributes["condition"]
		val, vdiags := ev.eval(cond.Expr)
		diags = append(diags, vdiags...)
		if vdiags.HasErrors() || !val.IsWhollyKnown() {
			continue
		}
		val, _ = val.UnmarkDeep()
		if val.IsNull() {
			diags = append(diags, errorAt(cond.Expr.Range(), "Invalid validation condition",
				"The condition must be true or false, got null."))
			continue
		}
		bv, err := convert.Convert(val, cty.Bool)
		if err != nil {
			diags = append(diags, errorAt(cond.Expr.Range(), "Invalid validation condition",
				fmt.Sprintf("The condition must be true or false, got %s.", friendly(val.Type()))))
			continue
		}
		if bv.True() {
			continue
		}
		diags = append(diags, errorAt(cond.Expr.Range(), "Invalid value for variable",
			validationMessage(d.v.Name, content.Attributes["error_message"], ev)))
	}
	return diags
}

// validationMessage evaluates a validation's error_message. A message that
// would show a sensitive value is replaced.
func validationMessage(name string, attr *hcl.Attribute, ev *evaluator) string {
	fallback := fmt.Sprintf("Variable %q failed a validation rule.", name)
	val, diags := ev.eval(attr.Expr)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return fallback
	}
	if val.ContainsMarked() {
		return fallback + " The error message refers to a sensitive value, so it is not shown."
	}
	val, err := convert.Convert(val, cty.String)
	if err != nil || val.AsString() == "" {
		return fallback
	}
	return val.AsString()
}
