// Command schemagen writes the JSON Schemas deploy-check validates
// manifests against: one file for the built-in kinds the deployment packs
// use, from the OpenAPI description of a Kubernetes release, and one for
// a CustomResourceDefinition (the ServiceMonitor of the Prometheus
// Operator). deploy/check/schemas/update runs it; see
// deploy/check/schemas/README.md.
//
//	schemagen -swagger swagger.json -kinds 'v1 ConfigMap,apps/v1 Deployment' -o kubernetes.json [-comment TEXT]
//	schemagen -swagger swagger.json -crd servicemonitors.yaml -o servicemonitor.json [-comment TEXT]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
)

func main() {
	swagger := flag.String("swagger", "", "Kubernetes OpenAPI v2 description (api/openapi-spec/swagger.json)")
	kinds := flag.String("kinds", "", "comma-separated kinds, each \"apiVersion kind\"")
	crd := flag.String("crd", "", "a CustomResourceDefinition (YAML) to describe instead of -kinds")
	out := flag.String("o", "", "the file to write")
	comment := flag.String("comment", "", "the $comment of the file: where it came from")
	flag.Parse()
	if err := run(*swagger, *kinds, *crd, *out, *comment); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swaggerPath, kinds, crdPath, out, comment string) error {
	if swaggerPath == "" || out == "" || (kinds == "") == (crdPath == "") {
		return fmt.Errorf("want -swagger, -o and one of -kinds and -crd")
	}
	swagger, err := os.ReadFile(swaggerPath)
	if err != nil {
		return err
	}
	var doc *kubeschema.Document
	if crdPath != "" {
		crd, err := os.ReadFile(crdPath)
		if err != nil {
			return err
		}
		if doc, err = kubeschema.FromCRD(crd, swagger, comment); err != nil {
			return fmt.Errorf("%s: %w", crdPath, err)
		}
	} else {
		var list []string
		for _, k := range strings.Split(kinds, ",") {
			list = append(list, strings.Join(strings.Fields(k), " "))
		}
		if doc, err = kubeschema.FromSwagger(swagger, list, comment); err != nil {
			return fmt.Errorf("%s: %w", swaggerPath, err)
		}
	}
	// Indented, with sorted keys (encoding/json sorts a map's), so that a
	// new release's changes read well in a diff.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
