package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// checkManifestFiles validates every YAML file under dir but the
// kustomization, which checkKustomization builds: each must be whole
// Kubernetes objects (a patch goes inline in the kustomization).
func (c *checker) checkManifestFiles(dir string) error {
	var errs []error
	var all []kubeschema.Object
	err := filepath.WalkDir(c.path(dir), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if name == "kustomization.yaml" || (!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.root, path)
		objs, err := c.schema.ValidateYAML(rel, data)
		if err == nil && len(objs) == 0 {
			err = fmt.Errorf("%s holds no Kubernetes object", rel)
		}
		errs = append(errs, err)
		all = append(all, objs...)
		return nil
	})
	if err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("     valid: %s\n", kindsOf(all))
	return nil
}

// checkKustomization builds the kustomization of dir, as kubectl kustomize
// does, and checks what it renders.
func (c *checker) checkKustomization(ctx context.Context, dir string) error {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), c.path(dir))
	if err != nil {
		return fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return err
	}
	return c.checkRendering(ctx, "kustomize build "+dir, out, "")
}

// checkRendering validates the objects of one rendering (a kustomize
// build, a helm template) and checks the pod they deploy. externalSecret
// names a Secret the rendering mounts but leaves to the user.
func (c *checker) checkRendering(ctx context.Context, name string, out []byte, externalSecret string) error {
	objs, err := c.schema.ValidateYAML(name, out)
	if err != nil {
		return err
	}
	if err := c.checkPod(ctx, objs, externalSecret); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("     %s valid: %s\n", name, kindsOf(objs))
	return nil
}

func kindsOf(objs []kubeschema.Object) string {
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	return strings.Join(kinds, ", ")
}
