package kubeschema_test

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/deploy/check/internal/kubeschema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The committed schemas, as deploy-check loads them.
func load(t *testing.T) *kubeschema.Validator {
	t.Helper()
	v, err := kubeschema.Load("../../schemas")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
          resources:
            requests:
              cpu: 100m
              memory: 64Mi
            limits:
              cpu: 1
              memory: 1.5e9
`

const serviceMonitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  endpoints:
    - port: http
      path: /metrics
      authorization:
        type: Bearer
        credentials:
          name: web
          key: token
`

func TestValidManifestsPass(t *testing.T) {
	v := load(t)
	stream := deployment + "---\n# a comment only\n---\n" + serviceMonitor + "---\n" + `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
`
	objs, err := v.ValidateYAML("stream.yaml", []byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Kind+"/"+o.Name+" "+o.Source)
	}
	want := "Deployment/web stream.yaml#1, ServiceMonitor/web stream.yaml#3, Service/web stream.yaml#4"
	if strings.Join(got, ", ") != want {
		t.Errorf("objects %q, want %q", strings.Join(got, ", "), want)
	}
}

// The validator is only as good as what it refuses: each manifest here is
// one mistake away from a valid one, and each error must say where.
func TestValidatorRefusesBadManifests(t *testing.T) {
	v := load(t)
	tests := []struct {
		name, yaml string
		want       []string // in the error
	}{
		{
			name: "unknown field in a container",
			yaml: strings.Replace(deployment, "          image: nginx:1.27\n", "          image: nginx:1.27\n          imagePullPolicyy: Always\n", 1),
			want: []string{"stream.yaml#1 (apps/v1 Deployment \"web\")", "/spec/template/spec/containers/0", "imagePullPolicyy"},
		},
		{
			name: "unknown field at the top",
			yaml: deployment + "status2: {}\n",
			want: []string{"at /:", "status2"},
		},
		{
			name: "wrong type",
			yaml: strings.Replace(deployment, "replicas: 2", "replicas: two", 1),
			want: []string{"/spec/replicas", "got string, want integer"},
		},
		{
			name: "a number where a string is required",
			yaml: strings.Replace(deployment, "image: nginx:1.27", "image: 1.27", 1),
			want: []string{"/spec/template/spec/containers/0/image", "got number, want string"},
		},
		{
			name: "a required field missing",
			yaml: strings.Replace(deployment, "        - name: web\n          image", "        - image", 1),
			want: []string{"/spec/template/spec/containers/0", "missing property 'name'"},
		},
		{
			name: "a port that is neither a name nor a number",
			yaml: strings.Replace(deployment, "port: http", "port: [http]", 1),
			want: []string{"/spec/template/spec/containers/0/readinessProbe/httpGet/port"},
		},
		{
			name: "a quantity that is neither a string nor a number",
			yaml: strings.Replace(deployment, "cpu: 100m", "cpu: {m: 100}", 1),
			want: []string{"/spec/template/spec/containers/0/resources/requests/cpu"},
		},
		{
			name: "an unknown field in a custom resource",
			yaml: strings.Replace(serviceMonitor, "      path: /metrics\n", "      path: /metrics\n      bearerToken: x\n", 1),
			want: []string{"monitoring.coreos.com/v1 ServiceMonitor", "/spec/endpoints/0", "bearerToken"},
		},
		{
			name: "a value outside a custom resource's enum",
			yaml: strings.Replace(serviceMonitor, "    - port: http\n", "    - port: http\n      scheme: ftp\n", 1),
			want: []string{"/spec/endpoints/0/scheme"},
		},
		{
			name: "a kind no schema describes",
			yaml: "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\n",
			want: []string{"no schema for batch/v1 Job", "apps/v1 Deployment"},
		},
		{
			name: "a kind at an API version no schema describes",
			yaml: strings.Replace(deployment, "apiVersion: apps/v1", "apiVersion: apps/v1beta1", 1),
			want: []string{"no schema for apps/v1beta1 Deployment"},
		},
		{
			name: "a key written twice",
			yaml: strings.Replace(deployment, "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n", 1),
			want: []string{"stream.yaml#1", "replicas"},
		},
		{
			name: "no kind",
			yaml: "apiVersion: v1\nmetadata:\n  name: x\n",
			want: []string{"stream.yaml#1", "no apiVersion or kind"},
		},
		{
			name: "not YAML",
			yaml: "apiVersion: v1\nkind: [\n",
			want: []string{"stream.yaml#1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.ValidateYAML("stream.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error for\n%s", tt.yaml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadNeedsSchemas(t *testing.T) {
	if _, err := kubeschema.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no schema files") {
		t.Fatalf("Load of an empty directory: %v", err)
	}
}
