package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeSecrets is where Compose mounts a service's secrets.
const composeSecrets = "/run/secrets"

// composeToken stands in for the NEBULA_TOKEN compose.yaml requires.
const composeToken = "deploy-check-token"

// checkCompose loads dir/compose.yaml as docker compose does, which checks
// it against the Compose specification, and checks that every service has
// a health check, that nebula-host starts once the others are healthy,
// and that its configuration validates with the project's secrets where
// Compose mounts them.
func (c *checker) checkCompose(ctx context.Context, dir string) error {
	opts, err := cli.NewProjectOptions([]string{c.path(filepath.Join(dir, "compose.yaml"))},
		cli.WithWorkingDirectory(c.path(dir)),
		cli.WithEnv([]string{"NEBULA_TOKEN=" + composeToken}),
	)
	if err != nil {
		return err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return fmt.Errorf("%s/compose.yaml: %w", dir, err)
	}
	var errs []error
	host, ok := p.Services[containerName]
	if !ok {
		return fmt.Errorf("%s/compose.yaml has no service %s", dir, containerName)
	}
	for name, s := range p.Services {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			errs = append(errs, fmt.Errorf("service %s has no health check", name))
		}
		if name == containerName {
			continue
		}
		dep, ok := host.DependsOn[name]
		if !ok || dep.Condition != types.ServiceConditionHealthy {
			errs = append(errs, fmt.Errorf("service %s does not wait for %s to be healthy (depends_on condition: service_healthy)", containerName, name))
		}
	}
	if !host.ReadOnly || !slices.Contains(host.CapDrop, "ALL") {
		errs = append(errs, fmt.Errorf("service %s: want read_only: true and cap_drop: [ALL]", containerName))
	}
	// The configuration: the bind mount at /etc/nebula, as run -config says.
	var config string
	for _, v := range host.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == "/etc/nebula" {
			config = v.Source
		}
	}
	if config == "" || !slices.Equal(host.Command, types.ShellCommand{"run", "-config", "/etc/nebula"}) {
		errs = append(errs, fmt.Errorf("service %s does not run -config /etc/nebula with a directory mounted there", containerName))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	// Its secrets, laid out as Compose mounts them: /run/secrets/NAME,
	// or the target given, under tmp.
	tmp, err := os.MkdirTemp("", "deploy-check-compose-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, ref := range host.Secrets {
		src, ok := p.Secrets[ref.Source]
		if !ok || src.File == "" {
			return fmt.Errorf("service %s uses secret %s, which is no file secret of the project", containerName, ref.Source)
		}
		target := cmp.Or(ref.Target, ref.Source)
		if !filepath.IsAbs(target) {
			target = filepath.Join(composeSecrets, target)
		}
		if err := copyFile(src.File, filepath.Join(tmp, target)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.host, "validate", config)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NEBULA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range host.Environment {
		if v != nil {
			cmd.Env = append(cmd.Env, k+"="+*v)
		}
	}
	cmd.Env = append(cmd.Env, secretsDirVar+"="+filepath.Join(tmp, composeSecrets))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nebula-host validate %s with the project's secrets: %w\n%s", config, err, out)
	}
	rel, err := filepath.Rel(c.root, config)
	if err != nil {
		rel = config
	}
	fmt.Printf("     %d services; %s: %s", len(p.Services), rel, out)
	return nil
}
