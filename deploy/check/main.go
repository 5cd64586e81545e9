// Command deploy-check checks the deployment packs of deploy/ and the
// example of examples/kubernetes offline, without Docker or a cluster:
//
//   - the image: the Dockerfile agrees with go.mod; the build stage's
//     commands (deploy/docker/build-static) build the host and every plugin
//     from the build context .dockerignore lets through; every executable
//     is static (no ELF interpreter, no shared library);
//   - Kubernetes: every manifest of deploy/kubernetes and
//     examples/kubernetes, each kustomization built (kustomize's Go API),
//     and the Helm chart linted and rendered (Helm's Go SDK) with its
//     default values and each ci/*.yaml, validated against the JSON
//     Schemas of schemas/ in strict mode (an unknown field fails);
//   - in each rendering, the pod: its probes, its security context, the
//     Service, ServiceMonitor and PodDisruptionBudget that select it, and
//     the ConfigMap and Secret it mounts, laid out as the kubelet would and
//     checked by nebula-host validate built above;
//   - Compose: compose.yaml loads (compose-go, which checks it against the
//     Compose specification), its services have health checks that
//     nebula-host waits for, and its configuration validates with the
//     project's secrets.
//
// make deploy-check runs it from the repository's root:
//
//	cd deploy/check && go run . -root ../..
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
)

func main() {
	root := flag.String("root", "../..", "the repository's root")
	bin := flag.String("bin", "", "a directory holding nebula-host and plugins/ to use, instead of building them as the image does")
	flag.Parse()
	if err := run(context.Background(), *root, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "deploy-check:", err)
		os.Exit(1)
	}
}

// A checker runs the checks against one repository.
type checker struct {
	root   string                // the repository, absolute
	schema *kubeschema.Validator // the schemas of deploy/check/schemas
	host   string                // the nebula-host executable validate runs
	failed int
}

func run(ctx context.Context, root, bin string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	v, err := kubeschema.Load(filepath.Join(root, "deploy/check/schemas"))
	if err != nil {
		return err
	}
	c := &checker{root: root, schema: v}
	fmt.Printf("schemas: %d kinds (%s)\n", len(v.Kinds()), filepath.Join("deploy/check/schemas"))

	c.step("image: Dockerfile agrees with go.mod and .dockerignore", c.checkDockerfile)
	if bin == "" {
		bin = filepath.Join(root, "bin/deploy-check/image")
		c.step("image: build stage (deploy/docker/build-static) on the build context", func() error {
			return c.buildImageBinaries(ctx, bin)
		})
	}
	c.host = filepath.Join(bin, "nebula-host")
	c.step("image: executables are static", func() error { return c.checkStatic(bin) })

	for _, dir := range []string{"deploy/kubernetes", "examples/kubernetes"} {
		c.step(dir+": each manifest", func() error { return c.checkManifestFiles(dir) })
		c.step(dir+": kustomize build", func() error { return c.checkKustomization(ctx, dir) })
	}
	chart := "deploy/helm/nebula-resource"
	c.step(chart+": helm lint --strict", func() error { return c.lintChart(chart) })
	c.step(chart+": helm template", func() error { return c.checkChart(ctx, chart) })
	c.step("deploy/compose: compose.yaml", func() error { return c.checkCompose(ctx, "deploy/compose") })

	if c.failed > 0 {
		return fmt.Errorf("%d checks failed", c.failed)
	}
	fmt.Println("deploy-check: every check passed")
	return nil
}

// step runs one check and prints its outcome.
func (c *checker) step(name string, f func() error) {
	start := time.Now()
	if err := f(); err != nil {
		c.failed++
		fmt.Printf("FAIL %s\n%s\n", name, indent(err.Error()))
		return
	}
	fmt.Printf("ok   %s (%s)\n", name, time.Since(start).Round(10*time.Millisecond))
}

// path returns a path of the repository.
func (c *checker) path(rel string) string { return filepath.Join(c.root, rel) }

// indent indents every line of s by five spaces, under its step's line.
func indent(s string) string {
	return "     " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n     ")
}
