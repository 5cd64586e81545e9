package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStaticExecutable(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "static")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := staticExecutable(bin); err != nil {
		t.Errorf("a CGO_ENABLED=0 build: %v", err)
	}
	// The system's shell is linked against its C library.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := staticExecutable(sh); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("%s: %v, want dynamically linked", sh, err)
	}
	if err := staticExecutable(src); err == nil {
		t.Errorf("%s, a Go source file, passed as an executable", src)
	}
}

// The build context is what docker build sends: .dockerignore's patterns,
// exceptions included, decide.
func TestCopyBuildContextFollowsDockerignore(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{
		"go.mod", "cmd/x/main.go", "cmd/x/main_test.go", "cmd/x/testdata/big",
		".git/HEAD", "bin/nebula-host", "docs/a.md", "README.md",
		"deploy/docker/Dockerfile", "deploy/docker/build-static", "deploy/kubernetes/deployment.yaml",
	} {
		path := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The repository's own .dockerignore.
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".dockerignore"), ignore, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	n, err := copyBuildContext(root, dst)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = filepath.WalkDir(dst, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dst, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{".dockerignore", "cmd/x/main.go", "deploy/docker/Dockerfile", "deploy/docker/build-static", "go.mod"}
	if !slices.Equal(got, want) || n != len(want) {
		t.Errorf("the context holds %d files %q, want %q", n, got, want)
	}
}

// checkPod catches each way the manifests can stop fitting nebula-host:
// each case breaks the rendering of deploy/kubernetes in one place.
func TestCheckPodRefusesBrokenWiring(t *testing.T) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	good, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	v, err := kubeschema.Load("schemas")
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{schema: v}
	tests := []struct {
		name, old, new, want string
	}{
		{"config mounted elsewhere", "mountPath: /etc/nebula\n", "mountPath: /etc/nebula2\n", "-config /etc/nebula is not a ConfigMap volume's mount"},
		{"secrets directory not mounted", "value: /var/run/secrets/nebula\n", "value: /run/secrets\n", "NEBULA_VAR_secrets_dir is /run/secrets, which is no Secret volume's mount"},
		{"readiness on the wrong path", "path: /readyz\n", "path: /healthz\n", "readinessProbe is not GET /readyz on port admin"},
		{"liveness on another port", "path: /livez\n            port: admin\n", "path: /livez\n            port: 8080\n", "livenessProbe is not GET /livez on port admin"},
		{"root file system writable", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"capabilities kept", "- ALL\n", "- NET_RAW\n", "capabilities do not drop ALL"},
		{"no /tmp", "mountPath: /tmp\n", "mountPath: /scratch\n", "no emptyDir at /tmp"},
		{"service account token", "automountServiceAccountToken: false\n      containers", "automountServiceAccountToken: true\n      containers", "mounts a service account token"},
		{"monitor token from another Secret", "name: nebula-credentials\n", "name: other\n", "takes its token from Secret other"},
		{"monitor token key missing", "key: metrics-token", "key: token", "takes its token from key token, which Secret nebula-credentials does not have"},
		{"monitor without a token", "type: Bearer", "type: Basic", "sends no bearer token"},
		{"service to another port", "targetPort: admin", "targetPort: 8080", "no Service selects its pods"},
		{"disruption budget for other pods", "maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: nebula-resource", "maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: other", "PodDisruptionBudget nebula-resource does not select"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Count(string(good), tt.old) < 1 {
				t.Fatalf("the rendering has no %q to change", tt.old)
			}
			bad := strings.Replace(string(good), tt.old, tt.new, 1)
			objs, err := kubeschema.Decode("bad.yaml", []byte(bad))
			if err != nil {
				t.Fatal(err)
			}
			err = c.checkPod(context.Background(), objs, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checkPod: %v\nwant an error with %q", err, tt.want)
			}
		})
	}
}
