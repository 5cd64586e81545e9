package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
)

// The contract between the manifests and nebula-host: the container's
// name, the admin port, the probes' paths and the variable that says
// where the credentials are.
const (
	containerName  = "nebula-host"
	adminPortName  = "admin"
	adminPort      = 9464
	secretsDirVar  = "NEBULA_VAR_secrets_dir"
	namespaceVar   = "NEBULA_VAR_namespace"
	defaultNS      = "default"
	metricsPath    = "/metrics"
	livenessPath   = "/livez"
	readinessPath  = "/readyz"
	serviceMonitor = "ServiceMonitor"
)

// monitor is the part of a ServiceMonitor the check reads.
type monitor struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Authorization *struct {
				Type        string                    `json:"type"`
				Credentials *corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// rendering is one rendering's objects, by kind.
type rendering struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	pdbs        []policyv1.PodDisruptionBudget
	monitors    []monitor
	configMaps  map[string]corev1.ConfigMap
	secrets     map[string]corev1.Secret
}

func decodeRendering(objs []kubeschema.Object) (*rendering, error) {
	r := &rendering{configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	for _, o := range objs {
		var err error
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			err = json.Unmarshal(o.JSON, &d)
			r.deployments = append(r.deployments, d)
		case "Service":
			var s corev1.Service
			err = json.Unmarshal(o.JSON, &s)
			r.services = append(r.services, s)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			err = json.Unmarshal(o.JSON, &p)
			r.pdbs = append(r.pdbs, p)
		case serviceMonitor:
			var m monitor
			err = json.Unmarshal(o.JSON, &m)
			r.monitors = append(r.monitors, m)
		case "ConfigMap":
			var cm corev1.ConfigMap
			err = json.Unmarshal(o.JSON, &cm)
			r.configMaps[cm.Name] = cm
		case "Secret":
			var s corev1.Secret
			err = json.Unmarshal(o.JSON, &s)
			r.secrets[s.Name] = s
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o, err)
		}
	}
	return r, nil
}

// checkPod checks the one Deployment of a rendering against what
// nebula-host needs and what the other objects expect of it, then runs
// nebula-host validate on the configuration it mounts, with the
// credentials it mounts. externalSecret names a Secret the rendering
// leaves to the user: its keys are not known, so the configuration is not
// validated.
func (c *checker) checkPod(ctx context.Context, objs []kubeschema.Object, externalSecret string) error {
	r, err := decodeRendering(objs)
	if err != nil {
		return err
	}
	if len(r.deployments) != 1 {
		return fmt.Errorf("%d Deployments; want one", len(r.deployments))
	}
	d := r.deployments[0]
	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, args...)...))
	}

	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		fail("its selector does not select its pods (%v)", err)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		fail("mounts a service account token; nebula-host does not call the Kubernetes API (automountServiceAccountToken: false)")
	}
	i := slices.IndexFunc(pod.Spec.Containers, func(ct corev1.Container) bool { return ct.Name == containerName })
	if i < 0 {
		return errors.Join(append(errs, fmt.Errorf("the Deployment %s has no container %s", d.Name, containerName))...)
	}
	ct := pod.Spec.Containers[i]
	errs = append(errs, checkSecurity(d.Name, pod.Spec.SecurityContext, ct.SecurityContext))

	if !slices.ContainsFunc(ct.Ports, func(p corev1.ContainerPort) bool { return p.Name == adminPortName && p.ContainerPort == adminPort }) {
		fail("container %s has no port %s = %d", ct.Name, adminPortName, adminPort)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", ct.LivenessProbe, livenessPath}, {"readinessProbe", ct.ReadinessProbe, readinessPath}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != adminPortName {
			fail("%s is not GET %s on port %s", p.name, p.path, adminPortName)
		}
	}

	mounts := map[string]corev1.Volume{} // mount path →
	for _, m := range ct.VolumeMounts {
		j := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if j < 0 {
			fail("mounts volume %s, which the pod does not have", m.Name)
			continue
		}
		mounts[m.MountPath] = pod.Spec.Volumes[j]
	}
	if v, ok := mounts["/tmp"]; !ok || v.EmptyDir == nil {
		fail("has no emptyDir at /tmp, where the plugins' sockets go (the root file system is read-only)")
	}

	// The configuration: run -config DIR, DIR a ConfigMap of the rendering.
	var cm *corev1.ConfigMap
	if len(ct.Args) != 3 || ct.Args[0] != "run" || ct.Args[1] != "-config" {
		fail("container %s runs %q; want run -config DIR", ct.Name, ct.Args)
	} else if v, ok := mounts[ct.Args[2]]; !ok || v.ConfigMap == nil {
		fail("-config %s is not a ConfigMap volume's mount", ct.Args[2])
	} else if got, ok := r.configMaps[v.ConfigMap.Name]; !ok {
		fail("mounts ConfigMap %s, which the rendering does not have", v.ConfigMap.Name)
	} else {
		cm = &got
	}

	// The credentials: a Secret mounted where NEBULA_VAR_secrets_dir says.
	var secretName string
	env := map[string]string{}
	for _, e := range ct.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = cmp.Or(d.Namespace, defaultNS)
		}
	}
	if dir, ok := env[secretsDirVar]; !ok {
		fail("container %s does not set %s", ct.Name, secretsDirVar)
	} else if v, ok := mounts[dir]; !ok || v.Secret == nil {
		fail("%s is %s, which is no Secret volume's mount", secretsDirVar, dir)
	} else {
		secretName = v.Secret.SecretName
	}
	secret, haveSecret := r.secrets[secretName]
	if secretName != "" && !haveSecret && secretName != externalSecret {
		fail("mounts Secret %s, which the rendering does not have", secretName)
	}
	secretData := map[string][]byte{}
	for k, v := range secret.Data {
		secretData[k] = v
	}
	for k, v := range secret.StringData {
		secretData[k] = []byte(v)
	}

	// The objects that select the pods.
	var admin []corev1.Service
	for _, s := range r.services {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool {
			return p.Name == adminPortName && p.TargetPort.String() == adminPortName
		}) {
			admin = append(admin, s)
		}
	}
	if len(admin) == 0 {
		fail("no Service selects its pods with a port %s to their port %s", adminPortName, adminPortName)
	}
	for _, p := range r.pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err != nil || !sel.Matches(podLabels) {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s does not select the pods of Deployment %s", p.Name, d.Name))
		}
	}
	for _, m := range r.monitors {
		errs = append(errs, checkMonitor(m, admin, secretName, secretData, haveSecret))
	}

	if err := errors.Join(errs...); err != nil {
		return err
	}
	if cm == nil || !haveSecret {
		fmt.Printf("     the configuration is not validated: the Secret %s is the user's\n", secretName)
		return nil
	}
	return c.validateConfig(ctx, cm, secretData, env)
}

// checkSecurity checks the pod's and the container's security contexts
// for what the restricted Pod Security Standard asks and more: not root,
// no privilege escalation, no capabilities, a read-only root file system,
// the runtime's seccomp profile.
func checkSecurity(name string, pod *corev1.PodSecurityContext, ct *corev1.SecurityContext) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{name}, args...)...))
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if ct == nil {
		ct = &corev1.SecurityContext{}
	}
	if !isTrue(pod.RunAsNonRoot) && !isTrue(ct.RunAsNonRoot) {
		fail("runAsNonRoot is not true")
	}
	if pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("the pod's seccompProfile is not RuntimeDefault")
	}
	if !isTrue(ct.ReadOnlyRootFilesystem) {
		fail("readOnlyRootFilesystem is not true")
	}
	if ct.AllowPrivilegeEscalation == nil || *ct.AllowPrivilegeEscalation {
		fail("allowPrivilegeEscalation is not false")
	}
	if ct.Capabilities == nil || !slices.Contains(ct.Capabilities.Drop, "ALL") || len(ct.Capabilities.Add) > 0 {
		fail("capabilities do not drop ALL and add none")
	}
	return errors.Join(errs...)
}

// checkMonitor checks that a ServiceMonitor scrapes GET /metrics of an
// admin Service with a bearer token from the key of the pod's Secret.
func checkMonitor(m monitor, admin []corev1.Service, secretName string, data map[string][]byte, haveData bool) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("ServiceMonitor %s: "+format, append([]any{m.Metadata.Name}, args...)...)
	}
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
	if err != nil {
		return fail("%v", err)
	}
	if !slices.ContainsFunc(admin, func(s corev1.Service) bool { return sel.Matches(labels.Set(s.Labels)) }) {
		return fail("selects no Service of the admin port")
	}
	if len(m.Spec.Endpoints) != 1 {
		return fail("has %d endpoints; want one", len(m.Spec.Endpoints))
	}
	e := m.Spec.Endpoints[0]
	if e.Port != adminPortName || e.Path != metricsPath {
		return fail("scrapes port %q path %q; want %s %s", e.Port, e.Path, adminPortName, metricsPath)
	}
	if e.Authorization == nil || e.Authorization.Credentials == nil || e.Authorization.Type != "Bearer" {
		return fail("sends no bearer token; GET /metrics needs an identity allowed admin")
	}
	cred := e.Authorization.Credentials
	if cred.Name != secretName {
		return fail("takes its token from Secret %s; the host reads its credentials from %s", cred.Name, secretName)
	}
	if !haveData {
		return nil
	}
	tok, ok := data[cred.Key]
	if !ok {
		return fail("takes its token from key %s, which Secret %s does not have (it has %v)", cred.Key, secretName, slices.Sorted(maps.Keys(data)))
	}
	if len(tok) == 0 || len(bytes.TrimSpace(tok)) != len(tok) {
		return fail("the token of key %s is empty or begins or ends with white space (a newline at the end of the file?)", cred.Key)
	}
	return nil
}

// validateConfig lays out the ConfigMap and the Secret as the kubelet
// mounts them and runs nebula-host validate on the configuration, with
// the container's NEBULA_VAR_ variables and the credentials directory
// moved into the layout.
func (c *checker) validateConfig(ctx context.Context, cm *corev1.ConfigMap, secret map[string][]byte, env map[string]string) error {
	tmp, err := os.MkdirTemp("", "deploy-check-pod-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files := map[string][]byte{}
	for k, v := range cm.Data {
		files[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		files[k] = v
	}
	configDir, secretsDir := filepath.Join(tmp, "config"), filepath.Join(tmp, "secrets")
	if err := writeVolume(configDir, files); err != nil {
		return err
	}
	if err := writeVolume(secretsDir, secret); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.host, "validate", configDir)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NEBULA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		if strings.HasPrefix(k, "NEBULA_VAR_") && k != secretsDirVar {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, secretsDirVar+"="+secretsDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nebula-host validate of ConfigMap %s with the credentials of the Secret: %w\n%s", cm.Name, err, out)
	}
	fmt.Printf("     ConfigMap %s: %s", cm.Name, out)
	return nil
}

// writeVolume writes files into dir as the kubelet writes a ConfigMap or
// Secret volume: into a timestamped directory that ..data links to, each
// file a link through ..data.
func writeVolume(dir string, files map[string][]byte) error {
	const stamp = "..2026_01_01_00_00_00.000000000"
	if err := os.MkdirAll(filepath.Join(dir, stamp), 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, stamp, name), data, 0o644); err != nil {
			return err
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return os.Symlink(stamp, filepath.Join(dir, "..data"))
}
