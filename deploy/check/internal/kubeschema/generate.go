package kubeschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// A Document is one generated schema file: the definitions of some kinds
// and of every type they use, under $defs, and the index of the kinds.
type Document struct {
	Schema  string         `json:"$schema"`
	Comment string         `json:"$comment"`
	Kinds   map[string]any `json:"kinds"` // "apiVersion kind" → "#/$defs/NAME"
	Defs    map[string]any `json:"$defs"`
}

// draft is the JSON Schema draft the generated files are written in.
const draft = "https://json-schema.org/draft/2020-12/schema"

// Names of the two Kubernetes types whose OpenAPI description is a plain
// string but whose values may be numbers too.
const (
	intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	objectMeta  = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

// FromSwagger makes a Document of the kinds named (each "apiVersion kind",
// such as "apps/v1 Deployment") from a Kubernetes OpenAPI v2 description
// (api/openapi-spec/swagger.json of the kubernetes repository). Every
// object with properties is closed (additionalProperties false), as
// kubeconform's strict schemas are; IntOrString accepts a string or an
// integer, and Quantity a string or a number, as the API server does.
func FromSwagger(swagger []byte, kinds []string, comment string) (*Document, error) {
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &spec); err != nil {
		return nil, fmt.Errorf("reading the OpenAPI description: %w", err)
	}
	if len(spec.Definitions) == 0 {
		return nil, errors.New("the OpenAPI description has no definitions")
	}
	byKind := map[string]string{}
	for name, def := range spec.Definitions {
		for _, k := range groupVersionKinds(def) {
			byKind[k] = name
		}
	}
	doc := &Document{Schema: draft, Comment: comment, Kinds: map[string]any{}, Defs: map[string]any{}}
	g := &generator{defs: spec.Definitions, out: doc.Defs}
	for _, kind := range kinds {
		name, ok := byKind[kind]
		if !ok {
			return nil, fmt.Errorf("the OpenAPI description has no kind %q", kind)
		}
		if err := g.add(name); err != nil {
			return nil, err
		}
		// A kind's object names its apiVersion and kind.
		apiVersion, k, _ := strings.Cut(kind, " ")
		def := doc.Defs[name].(map[string]any)
		props := def["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"const": apiVersion}
		props["kind"] = map[string]any{"const": k}
		def["required"] = appendRequired(def["required"], "apiVersion", "kind")
		doc.Kinds[kind] = "#/$defs/" + name
	}
	return doc, nil
}

// FromCRD makes a Document of the served versions of a
// CustomResourceDefinition (YAML, as controller-gen writes it), with
// metadata checked as the ObjectMeta of the Kubernetes OpenAPI
// description swagger. The CRD's own schema is closed the same way as
// FromSwagger closes the built-in kinds, but where it preserves unknown
// fields.
func FromCRD(crd, swagger []byte, comment string) (*Document, error) {
	var def struct {
		Kind string `json:"kind"`
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(crd, &def); err != nil {
		return nil, fmt.Errorf("reading the CustomResourceDefinition: %w", err)
	}
	if def.Kind != "CustomResourceDefinition" || def.Spec.Group == "" || def.Spec.Names.Kind == "" {
		return nil, fmt.Errorf("not a CustomResourceDefinition with a group and a kind (kind %q)", def.Kind)
	}
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &spec); err != nil {
		return nil, fmt.Errorf("reading the OpenAPI description: %w", err)
	}
	doc := &Document{Schema: draft, Comment: comment, Kinds: map[string]any{}, Defs: map[string]any{}}
	g := &generator{defs: spec.Definitions, out: doc.Defs}
	if err := g.add(objectMeta); err != nil {
		return nil, err
	}
	for _, v := range def.Spec.Versions {
		if !v.Served {
			continue
		}
		root := v.Schema.OpenAPIV3Schema
		if root == nil {
			return nil, fmt.Errorf("version %s has no openAPIV3Schema", v.Name)
		}
		s, err := convert(root, "")
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		apiVersion := def.Spec.Group + "/" + v.Name
		props, _ := s["properties"].(map[string]any)
		if props == nil {
			return nil, fmt.Errorf("version %s: the schema has no properties", v.Name)
		}
		props["apiVersion"] = map[string]any{"const": apiVersion}
		props["kind"] = map[string]any{"const": def.Spec.Names.Kind}
		props["metadata"] = map[string]any{"$ref": "#/$defs/" + objectMeta}
		s["required"] = appendRequired(s["required"], "apiVersion", "kind")
		s["additionalProperties"] = false
		name := def.Spec.Group + "." + v.Name + "." + def.Spec.Names.Kind
		doc.Defs[name] = s
		doc.Kinds[apiVersion+" "+def.Spec.Names.Kind] = "#/$defs/" + name
	}
	if len(doc.Kinds) == 0 {
		return nil, errors.New("the CustomResourceDefinition serves no version")
	}
	return doc, nil
}

// groupVersionKinds returns the "apiVersion kind" names a definition of
// the OpenAPI description stands for.
func groupVersionKinds(def map[string]any) []string {
	list, _ := def["x-kubernetes-group-version-kind"].([]any)
	var out []string
	for _, e := range list {
		m, _ := e.(map[string]any)
		group, _ := m["group"].(string)
		version, _ := m["version"].(string)
		kind, _ := m["kind"].(string)
		apiVersion := version
		if group != "" {
			apiVersion = group + "/" + version
		}
		out = append(out, apiVersion+" "+kind)
	}
	return out
}

func appendRequired(required any, names ...string) []any {
	list, _ := required.([]any)
	for _, n := range names {
		if !slices.Contains(list, any(n)) {
			list = append(list, n)
		}
	}
	return list
}

// generator copies definitions of the OpenAPI description, and those they
// refer to, into out, converted.
type generator struct {
	defs map[string]map[string]any
	out  map[string]any
}

const swaggerRef = "#/definitions/"

func (g *generator) add(name string) error {
	if _, done := g.out[name]; done {
		return nil
	}
	def, ok := g.defs[name]
	if !ok {
		return fmt.Errorf("the OpenAPI description has no definition %s", name)
	}
	var s map[string]any
	switch name {
	case intOrString:
		s = map[string]any{"type": []any{"string", "integer"}}
	case quantity:
		s = map[string]any{"type": []any{"string", "number"}}
	default:
		var err error
		if s, err = convert(def, swaggerRef); err != nil {
			return fmt.Errorf("definition %s: %w", name, err)
		}
	}
	g.out[name] = s
	for _, ref := range refs(s) {
		if err := g.add(ref); err != nil {
			return err
		}
	}
	return nil
}

// refs returns the names of the definitions s refers to.
func refs(s any) []string {
	var out []string
	switch v := s.(type) {
	case map[string]any:
		for k, e := range v {
			if r, ok := e.(string); ok && k == "$ref" {
				out = append(out, strings.TrimPrefix(r, "#/$defs/"))
				continue
			}
			out = append(out, refs(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	}
	return out
}

// Keywords of an OpenAPI schema that convert drops: documentation, hints
// for clients and the API server's own rules (list types, merge keys,
// CEL validations), which a JSON Schema validator cannot apply.
var dropped = map[string]bool{
	"description": true, "title": true, "example": true, "externalDocs": true,
	"default": true, "readOnly": true,
	"x-kubernetes-group-version-kind": true, "x-kubernetes-list-type": true,
	"x-kubernetes-list-map-keys": true, "x-kubernetes-map-type": true,
	"x-kubernetes-patch-strategy": true, "x-kubernetes-patch-merge-key": true,
	"x-kubernetes-validations": true, "x-kubernetes-unions": true,
	"x-kubernetes-embedded-resource": true,
}

// Keywords convert copies as they are: they mean the same in OpenAPI and
// in JSON Schema 2020-12.
var copied = map[string]bool{
	"format": true, "enum": true, "pattern": true,
	"minLength": true, "maxLength": true, "minItems": true, "maxItems": true,
	"uniqueItems": true, "minProperties": true, "maxProperties": true,
	"minimum": true, "maximum": true, "multipleOf": true, "required": true,
}

// convert turns one OpenAPI schema (v2 or v3, as Kubernetes writes them)
// into JSON Schema 2020-12. refPrefix is how its $refs begin; they become
// #/$defs/ references. A keyword convert does not know is an error, so
// that no constraint is lost without notice.
func convert(in map[string]any, refPrefix string) (map[string]any, error) {
	out := map[string]any{}
	intOrStr, _ := in["x-kubernetes-int-or-string"].(bool)
	preserve, _ := in["x-kubernetes-preserve-unknown-fields"].(bool)
	nullable, _ := in["nullable"].(bool)
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		switch {
		case dropped[k]:
		case copied[k]:
			out[k] = v
		case k == "x-kubernetes-int-or-string" || k == "x-kubernetes-preserve-unknown-fields" || k == "nullable":
		case k == "type":
			out[k] = v
		case k == "$ref":
			r, _ := v.(string)
			if refPrefix == "" || !strings.HasPrefix(r, refPrefix) {
				return nil, fmt.Errorf("$ref %q is not a reference to a definition", r)
			}
			out[k] = "#/$defs/" + strings.TrimPrefix(r, refPrefix)
		case k == "items":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("items is not one schema")
			}
			s, err := convert(m, refPrefix)
			if err != nil {
				return nil, fmt.Errorf("items: %w", err)
			}
			out[k] = s
		case k == "additionalProperties":
			switch a := v.(type) {
			case bool:
				out[k] = a
			case map[string]any:
				s, err := convert(a, refPrefix)
				if err != nil {
					return nil, fmt.Errorf("additionalProperties: %w", err)
				}
				out[k] = s
			default:
				return nil, fmt.Errorf("additionalProperties is neither a schema nor a boolean")
			}
		case k == "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("properties is not an object")
			}
			conv := map[string]any{}
			for name, p := range props {
				m, ok := p.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("property %s is not a schema", name)
				}
				s, err := convert(m, refPrefix)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				conv[name] = s
			}
			out[k] = conv
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is not a list", k)
			}
			var conv []any
			for i, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s[%d] is not a schema", k, i)
				}
				s, err := convert(m, refPrefix)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
				conv = append(conv, s)
			}
			out[k] = conv
		case k == "exclusiveMinimum" || k == "exclusiveMaximum":
			// OpenAPI 3.0's booleans are 2020-12's bounds.
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%s is not a boolean", k)
			}
			bound := strings.ToLower(strings.TrimPrefix(k, "exclusive"))
			if b {
				out[k] = in[bound]
			}
		default:
			return nil, fmt.Errorf("unknown keyword %q", k)
		}
	}
	if b, ok := in["exclusiveMinimum"].(bool); ok && b {
		delete(out, "minimum")
	}
	if b, ok := in["exclusiveMaximum"].(bool); ok && b {
		delete(out, "maximum")
	}
	if intOrStr {
		// The API server takes either; a CRD says so with anyOf too.
		delete(out, "anyOf")
		out["type"] = []any{"string", "integer"}
	}
	if _, ok := out["properties"]; ok && !preserve {
		if _, ok := out["additionalProperties"]; !ok {
			out["additionalProperties"] = false
		}
	}
	if nullable {
		switch t := out["type"].(type) {
		case string:
			out["type"] = []any{t, "null"}
		case []any:
			out["type"] = append(t, "null")
		}
	}
	return out, nil
}
