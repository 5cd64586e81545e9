package host

import (
	"encoding/json"

	"github.com/zclconf/go-cty/cty"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// sensitiveValues returns the text of every sensitive attribute in a
// decoded resource config, for the host's redaction set.
func sensitiveValues(s sdk.Schema, config json.RawMessage) []string {
	var obj map[string]any
	if json.Unmarshal(config, &obj) != nil {
		return nil
	}
	var out []string
	for _, a := range s.Attributes {
		if a.Sensitive {
			out = append(out, jsonStrings(obj[a.Name])...)
		}
	}
	return out
}

func jsonStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

// sensitiveStrings returns the text of every string and number in a
// sensitive variable's value.
func sensitiveStrings(v cty.Value) []string {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	v, _ = v.Unmark()
	t := v.Type()
	switch {
	case t == cty.String:
		return []string{v.AsString()}
	case t == cty.Number:
		return []string{v.AsBigFloat().Text('f', -1)}
	case t.IsListType() || t.IsSetType() || t.IsTupleType() || t.IsMapType() || t.IsObjectType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, sensitiveStrings(e)...)
		}
		return out
	}
	return nil
}
