package sdk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// decodeFuzzConfig has an attribute of every kind a schema can hold, narrow
// integers among them, and a sensitive one.
type decodeFuzzConfig struct {
	Address  string            `nebula:"address,required" doc:"host:port"`
	Password string            `nebula:"password,sensitive"`
	Port     uint16            `nebula:"port" default:"5432"`
	Retries  int8              `nebula:"retries" default:"3"`
	Timeout  time.Duration     `nebula:"timeout" default:"5s"`
	Ratio    float64           `nebula:"ratio" default:"0.5"`
	TLS      bool              `nebula:"tls" default:"true"`
	Tags     []string          `nebula:"tags" default:"[\"a\"]"`
	Limits   map[string]int32  `nebula:"limits"`
	Backoff  []time.Duration   `nebula:"backoff"`
	Labels   map[string]string `nebula:"labels"`
	Matrix   [][]float32       `nebula:"matrix"`
	Ignored  string
}

var decodeFuzzSchema = sdk.MustSchemaFor(decodeFuzzConfig{})

// FuzzDecode decodes arbitrary JSON against a struct's schema, as a
// driver decodes the configuration and arguments the host hands it. It
// must never panic, must fail only with invalid_argument, must never quote
// the sensitive attribute's value in its error, and must accept nothing
// that the host's schema check (CheckValue) would refuse.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"address":"db:5432"}`,
		`{"address":"db:5432","password":"hunter2hunter2","port":6543,"retries":-7,"timeout":"1.5s","ratio":1e-3,"tls":false}`,
		`{"address":"x","tags":["a",null,"c"],"limits":{"a":1,"b":-2147483648},"backoff":["1ms","2h45m"],"labels":{"k":"v"},"matrix":[[1,2.5],[],null]}`,
		`{"address":"x","password":12345678901234}`,
		`{"address":"x","password":{"nested":"supersecretvalue"}}`,
		`{"address":"x","port":70000,"retries":128}`,
		`{"address":"x","timeout":"forever","unknown":1,"Ignored":"y"}`,
		`{"address":null,"port":null}`,
		`null`,
		``,
		`[1,2,3]`,
		`{"address":"x",}`,
		`{"address":"x","address":"y"}`,
		`{"address":"x","matrix":[[1e39]]}`,
		`{"address":"x","limits":{"\u0000":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg decodeFuzzConfig
		err := sdk.Decode(data, &cfg)

		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(data, &obj) == nil && obj != nil

		if err != nil {
			var e *sdk.Error
			if !errors.As(err, &e) || sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Fatalf("Decode(%q) = %v (%T, kind %s), want an *sdk.Error of kind invalid_argument", data, err, err, sdk.KindOf(err))
			}
			if isObject {
				decodeFuzzCheckSensitive(t, obj, err)
			}
			return
		}

		// Decode accepted it: the host's schema check must agree, for
		// every attribute given.
		for name, raw := range obj {
			a, ok := decodeFuzzSchema.Attribute(name)
			if !ok {
				t.Fatalf("Decode(%q) accepted unknown attribute %q", data, name)
			}
			if cerr := sdk.CheckValue(a.Type, raw); cerr != nil {
				t.Fatalf("Decode(%q) accepted %s = %s, but CheckValue(%s) refuses it: %v", data, name, raw, a.Type, cerr)
			}
		}
		if _, ok := obj["address"]; !ok || cfg.Address == "" && string(obj["address"]) != `""` {
			t.Fatalf("Decode(%q) succeeded without the required address", data)
		}

		// What was decoded decodes again to the same thing.
		again, merr := json.Marshal(map[string]any{
			"address": cfg.Address, "password": cfg.Password, "port": cfg.Port,
			"retries": cfg.Retries, "timeout": cfg.Timeout.String(), "ratio": cfg.Ratio,
			"tls": cfg.TLS, "tags": cfg.Tags, "limits": cfg.Limits,
			"backoff": decodeFuzzDurations(cfg.Backoff), "labels": cfg.Labels, "matrix": cfg.Matrix,
		})
		if merr != nil {
			t.Fatalf("re-encoding %+v: %v", cfg, merr)
		}
		var cfg2 decodeFuzzConfig
		if err := sdk.Decode(again, &cfg2); err != nil {
			t.Fatalf("Decode(%q) gave %+v, whose encoding %s does not decode: %v", data, cfg, again, err)
		}
		if a, b := decodeFuzzJSON(t, cfg), decodeFuzzJSON(t, cfg2); !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the value:\n first  %s\n second %s", a, b)
		}
	})
}

// decodeFuzzCheckSensitive fails when what the error says about the
// sensitive password depends on its value: the same object with the
// password replaced by a stand-in of the same JSON kind must say the same
// about it. (Only the password's part is compared: which bad map key another
// attribute's part names first is not deterministic.)
func decodeFuzzCheckSensitive(t *testing.T, obj map[string]json.RawMessage, err error) {
	t.Helper()
	raw, ok := obj["password"]
	if !ok {
		return
	}
	standIn := map[byte]string{'"': `"stand-in"`, '{': `{}`, '[': `[]`, 't': `false`, 'f': `false`, 'n': `null`}[raw[0]]
	if standIn == "" {
		standIn = `0`
	}
	other := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		other[k] = v
	}
	other["password"] = json.RawMessage(standIn)
	data, merr := json.Marshal(other)
	if merr != nil {
		t.Fatalf("re-encoding %v: %v", other, merr)
	}
	var cfg decodeFuzzConfig
	err2 := sdk.Decode(data, &cfg)
	if err2 == nil {
		t.Fatalf("Decode failed with the password %s (%v) but not with %s", raw, err, standIn)
	}
	if a, b := passwordParts(err), passwordParts(err2); !slices.Equal(a, b) {
		t.Fatalf("what the error says about the sensitive password depends on its value %s:\n with it:       %q\n with %s: %q", raw, a, standIn, b)
	}
}

// passwordParts returns the parts of a Decode error about the password.
func passwordParts(err error) []string {
	var out []string
	for _, part := range strings.Split(err.Error(), "; ") {
		if strings.HasPrefix(part, `attribute "password"`) {
			out = append(out, part)
		}
	}
	slices.Sort(out)
	return out
}

func decodeFuzzDurations(ds []time.Duration) []string {
	if ds == nil {
		return nil
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func decodeFuzzJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
