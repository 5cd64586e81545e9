package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// The release the chart is rendered as, and the Kubernetes version it is
// rendered for: the schemas' (deploy/check/schemas/update).
const (
	releaseName      = "nebula"
	releaseNamespace = "nebula-system"
	kubeVersion      = "v1.34.4"
)

// valueSets returns the chart's values files to render it with: none (the
// defaults), then each ci/*.yaml, by name.
func (c *checker) valueSets(chart string) ([]string, error) {
	files, err := filepath.Glob(c.path(filepath.Join(chart, "ci", "*.yaml")))
	if err != nil {
		return nil, err
	}
	return append([]string{""}, files...), nil
}

func readValues(file string) (map[string]any, error) {
	if file == "" {
		return map[string]any{}, nil
	}
	return common.ReadValuesFile(file)
}

func valuesName(file string) string {
	if file == "" {
		return "default values"
	}
	return filepath.Base(file)
}

// lintChart runs helm lint --strict on the chart with each value set:
// a warning fails it too.
func (c *checker) lintChart(chart string) error {
	sets, err := c.valueSets(chart)
	if err != nil {
		return err
	}
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return err
	}
	var errs []error
	for _, file := range sets {
		vals, err := readValues(file)
		if err != nil {
			return err
		}
		l := action.NewLint()
		l.Strict = true
		l.Namespace = releaseNamespace
		l.KubeVersion = kv
		res := l.Run([]string{c.path(chart)}, vals)
		for _, m := range res.Messages {
			fmt.Printf("     %s: %s\n", valuesName(file), m)
		}
		if len(res.Errors) > 0 {
			errs = append(errs, fmt.Errorf("helm lint --strict with %s: %w", valuesName(file), errors.Join(res.Errors...)))
		}
	}
	return errors.Join(errs...)
}

// checkChart renders the chart with each value set, as helm template
// does, and checks each rendering; NOTES.txt must render too.
func (c *checker) checkChart(ctx context.Context, chart string) error {
	sets, err := c.valueSets(chart)
	if err != nil {
		return err
	}
	var errs []error
	for _, file := range sets {
		vals, err := readValues(file)
		if err != nil {
			return err
		}
		rel, err := c.render(ctx, chart, vals)
		if err != nil {
			errs = append(errs, fmt.Errorf("helm template with %s: %w", valuesName(file), err))
			continue
		}
		if strings.TrimSpace(rel.Info.Notes) == "" {
			errs = append(errs, fmt.Errorf("helm template with %s: NOTES.txt renders empty", valuesName(file)))
		}
		var external string
		if creds, ok := vals["credentials"].(map[string]any); ok {
			external, _ = creds["existingSecret"].(string)
		}
		errs = append(errs, c.checkRendering(ctx, "helm template ("+valuesName(file)+")", []byte(rel.Manifest), external))
	}
	return errors.Join(errs...)
}

// render renders the chart as helm template does: a client-only dry run
// of an install, which also checks the values against values.schema.json.
func (c *checker) render(ctx context.Context, chart string, vals map[string]any) (*release.Release, error) {
	ch, err := loader.Load(c.path(chart))
	if err != nil {
		return nil, err
	}
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	install.Replace = true
	install.KubeVersion = kv
	r, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("helm returned a %T, not a release", r)
	}
	return rel, nil
}
