package config

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// marker is the type of the cty marks this package sets.
type marker string

// markSensitive marks the values of sensitive variables while they flow
// through expressions, so that results derived from them can be detected.
const markSensitive = marker("sensitive")

// evaluator evaluates expressions with var.* and the functions bound. It is
// not changed after Load returns, so DecodeResources may use it freely.
type evaluator struct {
	vars      cty.Value                    // the var object
	declared  []string                     // names of the variables, sorted
	sensitive map[string]bool              // names of sensitive variables
	funcs     map[string]function.Function // every function but file
	ctxs      map[string]*hcl.EvalContext  // by filename, for the loaded files
	budget    budget                       // the time left to evaluate
}

// newEvaluator returns an evaluator with no variables and contexts for the
// given files.
func newEvaluator(lookupEnv func(string) (string, bool), filenames []string) *evaluator {
	e := &evaluator{
		vars:      cty.EmptyObjectVal,
		sensitive: map[string]bool{},
	}
	e.funcs = functions(lookupEnv)
	for name, f := range e.funcs {
		e.funcs[name] = guardFunction(name, f, &e.budget)
	}
	e.setVariables(nil)
	e.ctxs = make(map[string]*hcl.EvalContext, len(filenames))
	for _, f := range filenames {
		e.ctxs[f] = e.newContext(f)
	}
	return e
}

// setVariables binds var.*; vals holds each variable's value, marked when
// the variable is sensitive. The contexts already made see the change.
func (e *evaluator) setVariables(vals map[string]cty.Value) {
	e.declared = sortedKeys(vals)
	if len(vals) == 0 {
		e.vars = cty.EmptyObjectVal
	} else {
		e.vars = cty.ObjectVal(vals)
	}
	for _, ctx := range e.ctxs {
		ctx.Variables["var"] = e.vars
	}
}

func (e *evaluator) newContext(filename string) *hcl.EvalContext {
	funcs := make(map[string]function.Function, len(e.funcs)+1)
	for k, f := range e.funcs {
		funcs[k] = f
	}
	funcs["file"] = guardFunction("file", fileFunc(filename), &e.budget)
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": e.vars},
		Functions: funcs,
	}
}

// context returns the evaluation context for expressions in filename; nil
// for the literal evaluator, which has no functions.
func (e *evaluator) context(filename string) *hcl.EvalContext {
	if e.funcs == nil {
		return nil
	}
	if ctx, ok := e.ctxs[filename]; ok {
		return ctx
	}
	return e.newContext(filename)
}

// eval evaluates expr. The diagnostics never carry the expression or the
// context (hcl's text writer would print the values of the variables), and
// when expr uses a sensitive variable their details are replaced, since
// function errors may quote their arguments. A reference to a resource is
// an error: only driver attributes may have them, evaluated by evalIn.
func (e *evaluator) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	return e.evalIn(expr, nil)
}

// evalIn is eval for a driver attribute when scope is not nil: then
// resource.<type>.<name>.<attr> refers to a resource decoded in scope.
func (e *evaluator) evalIn(expr hcl.Expression, scope *refScope) (cty.Value, hcl.Diagnostics) {
	if diags, skip := e.checkReferences(expr, scope); diags.HasErrors() || skip {
		return cty.DynamicVal, diags
	}
	ctx := e.context(expr.Range().Filename)
	if scope != nil && ctx != nil {
		ctx = ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"resource": scope.object(expr), "credential": credentialObject(expr, scope.creds)}
	}
	val, diags := expr.Value(ctx)
	if len(diags) == 0 {
		return val, nil
	}
	secret := e.usesSensitive(expr) || scope.usesSensitive(expr)
	for _, d := range diags {
		d.Expression, d.EvalContext = nil, nil
		if secret && d.Severity == hcl.DiagError {
			d.Detail = hintSensitiveHidden
			d.Extra = nil
		}
	}
	return val, diags
}

// checkReferences reports references to undeclared variables and to
// resources, with hints that hcl's own diagnostics lack. Without a scope
// every reference to a resource is an error; with one, skip reports a
// reference that Load reported already, so that expr is not evaluated.
func (e *evaluator) checkReferences(expr hcl.Expression, scope *refScope) (diags hcl.Diagnostics, skip bool) {
	if e.funcs == nil {
		return nil, false // literals only: hcl reports any reference
	}
	for _, t := range expr.Variables() {
		switch t.RootName() {
		case "var":
			if len(t) < 2 {
				continue
			}
			a, ok := t[1].(hcl.TraverseAttr)
			if !ok || slices.Contains(e.declared, a.Name) {
				continue
			}
			diags = append(diags, errorAt(t.SourceRange(), "Reference to undeclared variable", fmt.Sprintf(
				"No variable %q is declared.%s Declare it with a variable block.", a.Name, didYouMean(a.Name, e.declared))))
		case "resource":
			if scope == nil {
				diags = append(diags, errorAt(t.SourceRange(), "Invalid reference",
					"Resources can be referred to only in depends_on and in the driver attributes of a resource, as in address = resource.memory.cache.address."))
				continue
			}
			rdiags, rskip := scope.check(t)
			diags = append(diags, rdiags...)
			skip = skip || rskip
		case "credential":
			if scope == nil {
				diags = append(diags, errorAt(t.SourceRange(), "Invalid reference",
					"Credentials can be referred to only in the driver attributes of a resource, as in password = credential.pg_app.password, and in an admin identity's token."))
				continue
			}
			if _, ok := parseCredentialRef(t); !ok {
				skip = true // Load reported it
				continue
			}
			diags = append(diags, checkCredentialAttr(t, scope.creds)...)
		}
	}
	return diags, skip
}

// usesSensitive reports whether expr refers to a sensitive variable.
func (e *evaluator) usesSensitive(expr hcl.Expression) bool {
	for _, t := range expr.Variables() {
		if t.RootName() != "var" {
			continue
		}
		if len(t) < 2 {
			// The whole var object, sensitive variables included.
			if len(e.sensitive) > 0 {
				return true
			}
			continue
		}
		switch step := t[1].(type) {
		case hcl.TraverseAttr:
			if e.sensitive[step.Name] {
				return true
			}
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && e.sensitive[step.Key.AsString()] {
				return true
			}
		}
	}
	return false
}

// stripEval clears the expression and evaluation context of every
// diagnostic, so that no writer can print variable values from them.
func stripEval(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		d.Expression, d.EvalContext = nil, nil
	}
	return diags
}
