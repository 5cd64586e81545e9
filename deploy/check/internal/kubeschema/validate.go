// Package kubeschema validates Kubernetes manifests against JSON Schemas
// read from files, offline, in the manner of kubeconform's strict mode: a
// field the schema does not know is an error, as is a value of the wrong
// type, a missing required field, a duplicate key or a kind no schema
// describes. It also generates those schemas from the OpenAPI description
// Kubernetes publishes and from a CustomResourceDefinition (FromSwagger,
// FromCRD), closing every object that has properties.
package kubeschema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// A Validator holds the compiled schema of each kind its files describe.
type Validator struct {
	kinds map[string]*jsonschema.Schema // "apiVersion kind" →
}

// Load compiles the schemas of every *.json file in dir, each a Document.
func Load(dir string) (*Validator, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no schema files (*.json) in %s", dir)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	v := &Validator{kinds: map[string]*jsonschema.Schema{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		var index struct {
			Kinds map[string]string `json:"kinds"`
		}
		if err := json.Unmarshal(data, &index); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(index.Kinds) == 0 {
			return nil, fmt.Errorf("%s names no kinds", f)
		}
		url := "file://" + filepath.ToSlash(f)
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for kind, ptr := range index.Kinds {
			if _, dup := v.kinds[kind]; dup {
				return nil, fmt.Errorf("%s: kind %q is described by another file too", f, kind)
			}
			s, err := c.Compile(url + ptr)
			if err != nil {
				return nil, fmt.Errorf("%s: compiling %s: %w", f, kind, err)
			}
			v.kinds[kind] = s
		}
	}
	return v, nil
}

// Kinds returns the kinds v knows, "apiVersion kind", sorted.
func (v *Validator) Kinds() []string {
	var out []string
	for k := range v.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// An Object is one document of a YAML stream: a Kubernetes object.
type Object struct {
	// Source says where it came from: a file and the document's index.
	Source string
	// APIVersion, Kind, Name and Namespace are those of the object.
	APIVersion, Kind, Name, Namespace string
	// JSON is the object as JSON.
	JSON []byte
}

func (o Object) String() string {
	return fmt.Sprintf("%s (%s %s %q)", o.Source, o.APIVersion, o.Kind, o.Name)
}

// Decode splits a YAML stream into its objects, skipping empty documents.
// A document that is not valid YAML, has a duplicate key or is not an
// object with apiVersion and kind is an error. name names the stream in
// Source and in errors.
func Decode(name string, data []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		source := fmt.Sprintf("%s#%d", name, i)
		// Strict: a key written twice is an error, as kubectl makes it.
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s: not a Kubernetes object: %w", source, err)
		}
		if head.APIVersion == "" || head.Kind == "" {
			return nil, fmt.Errorf("%s: not a Kubernetes object: no apiVersion or kind", source)
		}
		out = append(out, Object{
			Source: source, APIVersion: head.APIVersion, Kind: head.Kind,
			Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, JSON: js,
		})
	}
}

// Validate checks one object against the schema of its kind.
func (v *Validator) Validate(o Object) error {
	s, ok := v.kinds[o.APIVersion+" "+o.Kind]
	if !ok {
		return fmt.Errorf("%s: no schema for %s %s; the schemas describe %s", o.Source, o.APIVersion, o.Kind, strings.Join(v.Kinds(), ", "))
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(o.JSON))
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s: %s", o, strings.Join(leaves(ve), "; "))
		}
		return fmt.Errorf("%s: %w", o, err)
	}
	return nil
}

// ValidateYAML decodes a YAML stream and validates each of its objects,
// returning them, and every error joined.
func (v *Validator) ValidateYAML(name string, data []byte) ([]Object, error) {
	objs, err := Decode(name, data)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, o := range objs {
		errs = append(errs, v.Validate(o))
	}
	return objs, errors.Join(errs...)
}

var printer = message.NewPrinter(language.English)

// leaves returns the innermost causes of a validation error, each with
// the location in the object it is about: what a reader fixes.
func leaves(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		loc := "/" + strings.Join(ve.InstanceLocation, "/")
		return []string{fmt.Sprintf("at %s: %s", loc, ve.ErrorKind.LocalizedString(printer))}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
