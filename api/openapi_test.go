package api_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/api"
)

// schema is the part of an OpenAPI schema object the tests read.
type schema struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Enum       []string                   `json:"enum"`
}

func readSchemas(t *testing.T) map[string]schema {
	t.Helper()
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	return doc.Components.Schemas
}

// jsonFields returns the JSON names of t's fields, embedded structs'
// included, and whether each is always present (no omitempty or
// omitzero).
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && tag == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero")
	}
	return out
}

// The description's schemas list the fields of the types this package
// encodes, and require those always sent: the server and the document
// cannot drift apart.
func TestOpenAPISchemasMatchTheTypes(t *testing.T) {
	schemas := readSchemas(t)
	types := map[string]any{
		"Error": api.Error{}, "ErrorBody": api.ErrorBody{}, "Owner": api.Owner{},
		"InvokeRequest": api.InvokeRequest{}, "InvokeResponse": api.InvokeResponse{},
		"ResourceList": api.ResourceList{}, "ResourceSummary": api.ResourceSummary{}, "PoolSummary": api.PoolSummary{},
		"TypeInfo": api.TypeInfo{}, "Resource": api.Resource{}, "Operation": api.Operation{}, "Arg": api.Arg{},
		"Pool": api.Pool{}, "PoolSettings": api.PoolSettings{}, "PoolStat": api.PoolStat{}, "ReplicaStat": api.ReplicaStat{},
		"WindowStat": api.WindowStat{}, "Lease": api.Lease{}, "Resilience": api.Resilience{}, "Plugin": api.Plugin{},
		"HealthPage": api.HealthPage{}, "ResourceHealth": api.ResourceHealth{}, "HealthEvent": api.HealthEvent{},
		"CredentialHealth": api.CredentialHealth{}, "QuotaStoreHealth": api.QuotaStoreHealth{}, "ReloadResult": api.ReloadResult{},
	}
	for name, v := range types {
		t.Run(name, func(t *testing.T) {
			s, ok := schemas[name]
			if !ok {
				t.Fatalf("no schema %s", name)
			}
			fields := jsonFields(reflect.TypeOf(v))
			var want, got, wantRequired []string
			for f, always := range fields {
				want = append(want, f)
				if always {
					wantRequired = append(wantRequired, f)
				}
			}
			for p := range s.Properties {
				got = append(got, p)
			}
			sort.Strings(want)
			sort.Strings(got)
			sort.Strings(wantRequired)
			required := slices.Sorted(slices.Values(s.Required))
			if !slices.Equal(got, want) {
				t.Errorf("properties %v, fields %v", got, want)
			}
			if !slices.Equal(required, wantRequired) {
				t.Errorf("required %v, fields always sent %v", required, wantRequired)
			}
		})
	}
	enums := map[string][]string{
		"Kind":          kindNames(api.Kinds),
		"ResourceState": {"pending", "ready", "unavailable", "failed", "blocked", "closed"},
		"HealthState":   {"healthy", "starting", "degraded", "recovering", "unhealthy"},
		"BreakerState":  {"closed", "open", "half_open"},
		"Pooling":       {"shared", "exclusive"},
		"StreamMode":    {"upload", "download", "duplex"},
		"PluginState":   {"starting", "running", "restarting", "crash_loop", "stopped"},
	}
	consts := map[string][]string{
		"ResourceState": {string(api.StatePending), string(api.StateReady), string(api.StateUnavailable), string(api.StateFailed), string(api.StateBlocked), string(api.StateClosed)},
		"HealthState":   {string(api.HealthHealthy), string(api.HealthStarting), string(api.HealthDegraded), string(api.HealthRecovering), string(api.HealthUnhealthy)},
		"BreakerState":  {string(api.BreakerClosed), string(api.BreakerOpen), string(api.BreakerHalfOpen)},
		"Pooling":       {string(api.PoolingShared), string(api.PoolingExclusive)},
		"StreamMode":    {string(api.StreamUpload), string(api.StreamDownload), string(api.StreamDuplex)},
		"PluginState":   {string(api.PluginStarting), string(api.PluginRunning), string(api.PluginRestarting), string(api.PluginCrashLoop), string(api.PluginStopped)},
	}
	for name, want := range enums {
		if got := schemas[name].Enum; !slices.Equal(got, want) {
			t.Errorf("%s: enum %v, want %v", name, got, want)
		}
		if c, ok := consts[name]; ok && !slices.Equal(c, want) {
			t.Errorf("%s: constants %v, want %v", name, c, want)
		}
	}
}

func kindNames(ks []api.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// Each kind has the status the description gives its error answers.
func TestKindsHaveTheirStatuses(t *testing.T) {
	want := map[api.Kind]int{
		api.KindUnknown: 500, api.KindInvalidArgument: 400, api.KindNotFound: 404, api.KindAlreadyExists: 409,
		api.KindConflict: 409, api.KindPermissionDenied: 403, api.KindUnauthenticated: 401, api.KindResourceExhausted: 429,
		api.KindFailedPrecondition: 412, api.KindUnavailable: 503, api.KindTimeout: 504, api.KindCanceled: 499,
		api.KindUnimplemented: 501, api.KindInternal: 500,
	}
	if len(want) != len(api.Kinds) {
		t.Fatalf("%d kinds, %d in the table", len(api.Kinds), len(want))
	}
	for _, k := range api.Kinds {
		if got := k.HTTPStatus(); got != want[k] {
			t.Errorf("%s: %d, want %d", k, got, want[k])
		}
	}
}
