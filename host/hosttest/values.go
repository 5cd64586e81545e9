package hosttest

import (
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ResourceConfig is a resource block given as Go values, for
// [NewResources].
type ResourceConfig struct {
	// Type and Name are the block's labels: resource "memory" "cache".
	Type, Name string
	// Attributes are the block's attributes, the driver's and the host's
	// (critical): strings, bools, numbers, time.Duration (written as
	// "1.5s"), and slices and maps of them.
	Attributes map[string]any
	// DependsOn lists the ids (TYPE.NAME) of the resources this one
	// depends on, written as depends_on.
	DependsOn []string
	// Blocks are the nested blocks by type, each with its attributes:
	// "pool", "health", "timeout", "retry", "circuit_breaker", ...
	Blocks map[string]map[string]any
}

// NewResources starts a host for the test, as [New] does, from
// resource blocks given as Go values rather than HCL source. A value
// that cannot be written as HCL fails the test.
func NewResources(t testing.TB, resources []ResourceConfig, opts ...Option) *Host {
	t.Helper()
	src, err := resourcesHCL(resources)
	if err != nil {
		t.Fatalf("hosttest: %v", err)
	}
	return New(t, src, opts...)
}

// resourcesHCL writes resources as HCL source.
func resourcesHCL(resources []ResourceConfig) (string, error) {
	f := hclwrite.NewEmptyFile()
	for i, r := range resources {
		if r.Type == "" || r.Name == "" {
			return "", fmt.Errorf("resource %d: Type and Name must be set (got %q, %q)", i, r.Type, r.Name)
		}
		b := f.Body().AppendNewBlock("resource", []string{r.Type, r.Name}).Body()
		if err := setAttributes(b, r.Attributes); err != nil {
			return "", fmt.Errorf("resource %s.%s: %w", r.Type, r.Name, err)
		}
		if len(r.DependsOn) > 0 {
			refs := make([]hclwrite.Tokens, len(r.DependsOn))
			for j, id := range r.DependsOn {
				typ, name, ok := strings.Cut(id, ".")
				if !ok || typ == "" || name == "" || strings.Contains(name, ".") {
					return "", fmt.Errorf("resource %s.%s: depends_on %q is not a resource id TYPE.NAME", r.Type, r.Name, id)
				}
				refs[j] = hclwrite.TokensForTraversal(hcl.Traversal{
					hcl.TraverseRoot{Name: "resource"}, hcl.TraverseAttr{Name: typ}, hcl.TraverseAttr{Name: name},
				})
			}
			b.SetAttributeRaw("depends_on", hclwrite.TokensForTuple(refs))
		}
		for _, typ := range sortedKeys(r.Blocks) {
			nb := b.AppendNewBlock(typ, nil).Body()
			if err := setAttributes(nb, r.Blocks[typ]); err != nil {
				return "", fmt.Errorf("resource %s.%s, block %s: %w", r.Type, r.Name, typ, err)
			}
		}
	}
	return string(f.Bytes()), nil
}

func setAttributes(b *hclwrite.Body, attrs map[string]any) error {
	for _, name := range sortedKeys(attrs) {
		v, err := ctyValue(reflect.ValueOf(attrs[name]))
		if err != nil {
			return fmt.Errorf("attribute %s: %w", name, err)
		}
		b.SetAttributeValue(name, v)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var durationType = reflect.TypeFor[time.Duration]()

// ctyValue converts a Go value to the HCL value it is written as.
func ctyValue(v reflect.Value) (cty.Value, error) {
	if !v.IsValid() {
		return cty.NullVal(cty.DynamicPseudoType), nil
	}
	if v.Type() == durationType {
		return cty.StringVal(time.Duration(v.Int()).String()), nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return cty.NullVal(cty.DynamicPseudoType), nil
		}
		return ctyValue(v.Elem())
	case reflect.String:
		return cty.StringVal(v.String()), nil
	case reflect.Bool:
		return cty.BoolVal(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cty.NumberIntVal(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cty.NumberVal(new(big.Float).SetUint64(v.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return cty.NumberFloatVal(v.Float()), nil
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return cty.EmptyTupleVal, nil
		}
		elems := make([]cty.Value, v.Len())
		for i := range elems {
			e, err := ctyValue(v.Index(i))
			if err != nil {
				return cty.NilVal, fmt.Errorf("element %d: %w", i, err)
			}
			elems[i] = e
		}
		return cty.TupleVal(elems), nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return cty.NilVal, fmt.Errorf("a map's keys must be strings, not %s", v.Type().Key())
		}
		if v.Len() == 0 {
			return cty.EmptyObjectVal, nil
		}
		attrs := make(map[string]cty.Value, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			e, err := ctyValue(iter.Value())
			if err != nil {
				return cty.NilVal, fmt.Errorf("key %q: %w", iter.Key().String(), err)
			}
			attrs[iter.Key().String()] = e
		}
		return cty.ObjectVal(attrs), nil
	}
	return cty.NilVal, fmt.Errorf("a %s cannot be written as HCL", v.Type())
}
