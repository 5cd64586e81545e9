package kubeschema_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
)

// swagger is a Kubernetes OpenAPI v2 description in miniature: one kind,
// an object it uses, IntOrString and Quantity.
const swagger = `{"definitions": {
  "io.k8s.api.core.v1.Widget": {
    "description": "A widget.",
    "type": "object",
    "required": ["spec"],
    "properties": {
      "apiVersion": {"type": "string"},
      "kind": {"type": "string"},
      "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
      "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.WidgetSpec"}
    },
    "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Widget"}]
  },
  "io.k8s.api.core.v1.WidgetSpec": {
    "type": "object",
    "properties": {
      "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      "size": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
      "parts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
    }
  },
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
    "type": "object",
    "properties": {"name": {"type": "string"}}
  },
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
  "io.k8s.api.core.v1.Unused": {"type": "object"}
}}`

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names:
    kind: Gadget
  versions:
    - name: v1
      served: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              properties:
                port:
                  anyOf: [{type: integer}, {type: string}]
                  x-kubernetes-int-or-string: true
                replicas: {type: integer, minimum: 0, exclusiveMinimum: true}
                raw:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
    - name: v0
      served: false
      schema:
        openAPIV3Schema: {type: object}
`

// writeDoc writes d into a directory of its own and loads it.
func writeDoc(t *testing.T, d *kubeschema.Document) *kubeschema.Validator {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := kubeschema.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFromSwaggerClosesObjectsAndTakesIntOrString(t *testing.T) {
	d, err := kubeschema.FromSwagger([]byte(swagger), []string{"v1 Widget"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Defs["io.k8s.api.core.v1.Unused"]; ok {
		t.Error("a definition no kind uses was copied")
	}
	v := writeDoc(t, d)
	check := func(yaml string, ok bool) {
		t.Helper()
		_, err := v.ValidateYAML("w.yaml", []byte(yaml))
		if (err == nil) != ok {
			t.Errorf("valid = %v, want %v (%v):\n%s", err == nil, ok, err, yaml)
		}
	}
	head := "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n"
	check(head+"spec:\n  port: 80\n  size: 1.5\n  labels: {a: b}\n  parts: [x]\n", true)
	check(head+"spec:\n  port: http\n  size: 10Gi\n", true)
	check(head+"spec:\n  port: 1.5\n", false)                            // not an integer
	check(head+"spec:\n  color: red\n", false)                           // unknown field
	check(head+"spec: {}\nextra: 1\n", false)                            // unknown field at the top
	check("apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n", false) // spec is required
	check(head+"spec:\n  labels: {a: 1}\n", false)                       // a map of strings
}

func TestFromCRDKeepsPreservedFieldsOpen(t *testing.T) {
	d, err := kubeschema.FromCRD([]byte(crd), []byte(swagger), "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Kinds) != 1 || d.Kinds["example.com/v1 Gadget"] == nil {
		t.Fatalf("kinds %v, want the served version alone", d.Kinds)
	}
	v := writeDoc(t, d)
	check := func(yaml string, ok bool) {
		t.Helper()
		_, err := v.ValidateYAML("g.yaml", []byte(yaml))
		if (err == nil) != ok {
			t.Errorf("valid = %v, want %v (%v):\n%s", err == nil, ok, err, yaml)
		}
	}
	head := "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n"
	check(head+"spec:\n  port: 80\n  replicas: 1\n  raw: {known: a, anything: [1, 2]}\n", true)
	check(head+"spec:\n  port: web\n", true)
	check(head+"spec:\n  replicas: 0\n", false)                                                    // exclusiveMinimum 0
	check(head+"spec:\n  color: red\n", false)                                                     // unknown field
	check(head+"spec:\n  raw: {known: 1}\n", false)                                                // known fields keep their types
	check("apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  nmae: typo\n", false) // metadata is ObjectMeta
	check("apiVersion: example.com/v0\nkind: Gadget\nmetadata:\n  name: g\n", false)               // not served
}

// A keyword the generator does not know would otherwise be dropped with
// the constraint it carries.
func TestGenerateRefusesUnknownKeywords(t *testing.T) {
	bad := strings.Replace(swagger, `"type": "object",
    "required"`, `"type": "object",
    "patternProperties": {"^x": {"type": "string"}},
    "required"`, 1)
	if _, err := kubeschema.FromSwagger([]byte(bad), []string{"v1 Widget"}, ""); err == nil || !strings.Contains(err.Error(), `unknown keyword "patternProperties"`) {
		t.Fatalf("FromSwagger with patternProperties: %v", err)
	}
	if _, err := kubeschema.FromSwagger([]byte(swagger), []string{"apps/v1 Widget"}, ""); err == nil || !strings.Contains(err.Error(), `no kind "apps/v1 Widget"`) {
		t.Fatalf("FromSwagger of a kind it does not have: %v", err)
	}
}
