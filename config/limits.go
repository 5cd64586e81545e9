package config

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Limits on what a configuration may compute.
//
// cty numbers are arbitrary-precision: a literal such as 1e9999999 is cheap
// to hold but takes minutes to print as text (tostring, format,
// jsonencode, "${...}", conversion to a string attribute). So every number
// that enters a configuration (a literal, a variable's value from -var, the
// environment or its default, a function's or an operator's result) must
// lie in the range of a 64-bit float, and number literals are short. The
// functions are also kept from building huge strings and lists, and the
// evaluation of a configuration is given a time budget.
const (
	// maxNumberExp and minNumberExp bound the binary exponent of a
	// non-zero number: about the range of a float64, 1e-323 to 1.8e308
	// in size (2^-1073 is 9.9e-324).
	maxNumberExp = 1024
	minNumberExp = -1072
	// maxNumberLiteral is the longest number literal, in characters.
	maxNumberLiteral = 400
	// maxStringBytes is the longest string a function may take or return.
	maxStringBytes = 4 << 20
	// maxElements is the most elements of a list, map or object a
	// function may take or return.
	maxElements = 100_000
	// maxFormatWidth is the largest width or precision in a format verb.
	maxFormatWidth = 1000
)

// evalBudget bounds the time spent evaluating the expressions of one Load,
// and again of one DecodeResources. A variable for the tests.
var evalBudget = 10 * time.Second

// numberLimit names the range of numbers in diagnostics.
const numberLimit = "numbers must lie within ±1.8e308 and, unless 0, be at least 1e-323 in size (the range of a 64-bit float)"

// errOutOfRange is the error of a number outside the range.
var errOutOfRange = errors.New(numberLimit)

// numberInRange reports whether n is 0 or within the range of a float64.
func numberInRange(n *big.Float) bool {
	if n.IsInf() {
		return false
	}
	if n.Sign() == 0 {
		return true
	}
	exp := n.MantExp(nil)
	return exp <= maxNumberExp && exp >= minNumberExp
}

// checkValue returns what is wrong with v, or nil: a number out of range,
// a string or collection too large. Unknown and null values pass; marks
// are ignored.
func checkValue(v cty.Value) error {
	v, _ = v.UnmarkDeep()
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.Number:
		if !numberInRange(v.AsBigFloat()) {
			return errOutOfRange
		}
	case ty == cty.String:
		if len(v.AsString()) > maxStringBytes {
			return fmt.Errorf("a string is longer than the limit of %d bytes", maxStringBytes)
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsMapType() || ty.IsTupleType() || ty.IsObjectType():
		if n := v.LengthInt(); n > maxElements {
			return fmt.Errorf("a collection has %d elements, more than the limit of %d", n, maxElements)
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if err := checkValue(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// budget is the time budget of an evaluation.
type budget struct {
	deadline atomic.Int64 // unix nanoseconds; 0 for none
	reported atomic.Bool  // whether a guard has reported the overrun
}

// start starts a new budget of evalBudget.
func (b *budget) start() {
	b.deadline.Store(time.Now().Add(evalBudget).UnixNano())
	b.reported.Store(false)
}

// exceeded reports whether the budget is spent.
func (b *budget) exceeded() bool {
	d := b.deadline.Load()
	return d != 0 && time.Now().UnixNano() > d
}

// errBudget returns the error of an evaluation over its budget.
func errBudget() error {
	return fmt.Errorf("evaluating the configuration took longer than the limit of %s; simplify the expressions (for expressions over large collections, repeated replace or format calls)", evalBudget)
}

// guardFunction wraps f so that it refuses arguments and results that
// checkValue refuses, refuses format widths and replace results that
// would be huge, and stops once the budget is spent.
func guardFunction(name string, f function.Function, b *budget) function.Function {
	params := f.Params()
	spec := &function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if b.exceeded() {
				return cty.NilVal, errBudget()
			}
			for i, a := range args {
				if err := checkValue(a); err != nil {
					return cty.NilVal, function.NewArgError(i, err)
				}
			}
			if err := precheck(name, args); err != nil {
				return cty.NilVal, err
			}
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if err := checkValue(v); err != nil {
				return cty.NilVal, fmt.Errorf("the result is out of bounds: %w", err)
			}
			return v, nil
		},
	}
	return function.New(spec)
}

// formatVerb matches the flags, width and precision of a format verb.
var formatVerb = regexp.MustCompile(`%[-+# 0]*(\d*)(?:\.(\d*))?`)

// precheck refuses calls that would build a huge result before making it.
func precheck(name string, args []cty.Value) error {
	known := func(v cty.Value) (string, bool) {
		v, _ = v.UnmarkDeep()
		if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
			return "", false
		}
		return v.AsString(), true
	}
	switch name {
	case "format":
		s, ok := known(args[0])
		if !ok {
			return nil
		}
		for _, m := range formatVerb.FindAllStringSubmatch(s, -1) {
			for _, num := range m[1:] {
				if n, err := strconv.Atoi(num); num != "" && (err != nil || n > maxFormatWidth) {
					return function.NewArgErrorf(0, "a width or precision in the format is larger than the limit of %d", maxFormatWidth)
				}
			}
		}
	case "replace":
		s, ok1 := known(args[0])
		sub, ok2 := known(args[1])
		repl, ok3 := known(args[2])
		if !ok1 || !ok2 || !ok3 {
			return nil
		}
		// At most one replacement per byte (and one for the empty match
		// at the end), each of len(repl) bytes.
		worst := len(s) + (len(s)+1)*len(repl)
		if worst <= maxStringBytes {
			return nil
		}
		if !strings.HasPrefix(sub, "/") || !strings.HasSuffix(sub, "/") || len(sub) < 2 {
			if n := strings.Count(s, sub); len(s)+n*(len(repl)-len(sub)) <= maxStringBytes {
				return nil
			}
		}
		return function.NewArgErrorf(2, "the result could be longer than the limit of %d bytes", maxStringBytes)
	}
	return nil
}

// guardedExpr is an expression that stops evaluating once the budget is
// spent: it wraps the parts of for expressions (and template for
// directives), which run once per element.
type guardedExpr struct {
	hclsyntax.Expression
	b *budget
}

func (g guardedExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if g.b.exceeded() {
		if g.b.reported.Swap(true) {
			return cty.DynamicVal, nil
		}
		return cty.DynamicVal, hcl.Diagnostics{errorAt(g.Range(), "Evaluation too slow", capitalize(errBudget().Error())+".")}
	}
	v, diags := g.Expression.Value(ctx)
	if !diags.HasErrors() {
		if err := checkValue(v); err != nil {
			return cty.DynamicVal, append(diags, errorAt(g.Range(), "Value out of bounds", capitalize(err.Error())+"."))
		}
	}
	return v, diags
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// guardSyntax prepares the syntax tree under node for evaluation within
// the limits: it reports number literals out of range, makes every
// operator check its result like a guarded function, and guards the parts
// of for expressions.
func guardSyntax(node hclsyntax.Node, b *budget) hcl.Diagnostics {
	var nodes []hclsyntax.Node
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		nodes = append(nodes, n)
		return nil
	})
	var diags hcl.Diagnostics
	for _, n := range nodes {
		switch e := n.(type) {
		case *hclsyntax.LiteralValueExpr:
			if e.Val.Type() == cty.Number && !numberInRange(e.Val.AsBigFloat()) {
				diags = append(diags, numberOutOfRange(e.SrcRange))
			}
		case *hclsyntax.BinaryOpExpr:
			e.Op = &hclsyntax.Operation{Impl: guardFunction("", e.Op.Impl, b), Type: e.Op.Type}
		case *hclsyntax.UnaryOpExpr:
			e.Op = &hclsyntax.Operation{Impl: guardFunction("", e.Op.Impl, b), Type: e.Op.Type}
		case *hclsyntax.ForExpr:
			e.CollExpr = guardedExpr{e.CollExpr, b}
			e.ValExpr = guardedExpr{e.ValExpr, b}
			if e.KeyExpr != nil {
				e.KeyExpr = guardedExpr{e.KeyExpr, b}
			}
			if e.CondExpr != nil {
				e.CondExpr = guardedExpr{e.CondExpr, b}
			}
		}
	}
	return diags
}

// numberOutOfRange is the diagnostic for a number literal out of range.
func numberOutOfRange(rng hcl.Range) *hcl.Diagnostic {
	return errorAt(rng, "Number out of range", "This number is out of range: "+numberLimit+".")
}

// checkNumberLiterals reports number literals longer than
// maxNumberLiteral in toks, which would take long to parse.
func checkNumberLiterals(toks hclsyntax.Tokens) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range toks {
		if t.Type == hclsyntax.TokenNumberLit && len(t.Bytes) > maxNumberLiteral {
			diags = append(diags, errorAt(t.Range, "Number too long", fmt.Sprintf(
				"This number has %d characters, more than the limit of %d; %s.", len(t.Bytes), maxNumberLiteral, numberLimit)))
		}
	}
	return diags
}
