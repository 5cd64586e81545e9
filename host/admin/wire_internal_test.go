package admin

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// fill sets every field of v, at every depth, to a value that is not its
// zero value: a slice or map gets one element.
func fill(v reflect.Value) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 11, 27, 23, 52, 23, 789_000_000, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.SetBytes([]byte(`{"a":1}`))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem())
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	default:
		panic("fill: " + v.Type().String())
	}
}

// sameJSON fails the test unless the host's value and the API's encode to
// the same JSON.
func sameJSON(t *testing.T, hostValue, apiValue any) {
	t.Helper()
	want, err := json.Marshal(hostValue)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(apiValue)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("the API's %T encodes\n%s\nthe host's %T\n%s", apiValue, got, hostValue, want)
	}
}

// The API's types are the host's descriptions as the endpoint sends
// them: a field the host adds and the API lacks, or a conversion that
// drops one, changes the JSON.
func TestWireTypesCarryEveryField(t *testing.T) {
	for _, variant := range []string{"zero", "filled"} {
		t.Run(variant, func(t *testing.T) {
			var (
				res     host.ResourceInfo
				plugins = []host.PluginInfo{{}}
				rep     host.HealthReport
			)
			if variant == "filled" {
				fill(reflect.ValueOf(&res).Elem())
				fill(reflect.ValueOf(&plugins).Elem())
				fill(reflect.ValueOf(&rep).Elem())
			}
			sameJSON(t, res, resourceOf(res))
			sameJSON(t, plugins, pluginsOf(plugins))
			sameJSON(t, rep, healthReportOf(rep))
			sameJSON(t, res.Operations, operationsOf(res.Operations))
		})
	}
	t.Run("empty lists stay empty", func(t *testing.T) {
		res := host.ResourceInfo{Capabilities: []string{}, DependsOn: []string{}, Operations: []host.OperationInfo{{Args: []host.ArgInfo{}}}}
		res.Pool.Leases = []host.LeaseInfo{}
		rep := host.HealthReport{Types: map[string]host.HealthState{}, Resources: []host.ResourceHealth{{History: []host.HealthEvent{}}}}
		sameJSON(t, res, resourceOf(res))
		sameJSON(t, rep, healthReportOf(rep))
	})
}

// Every kind a driver can return has the API's constant, and the same
// status it always had.
func TestEveryKindIsInTheAPI(t *testing.T) {
	if len(sdk.Kinds) != len(api.Kinds) {
		t.Fatalf("sdk has %d kinds, api %d", len(sdk.Kinds), len(api.Kinds))
	}
	for i, k := range sdk.Kinds {
		if string(api.Kinds[i]) != string(k) {
			t.Errorf("kind %d: sdk %q, api %q", i, k, api.Kinds[i])
		}
	}
}
