package mongo_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"

	mongodriver "github.com/nebula-resource/nebula-resource/plugins/mongo"
)

// configErrors returns the attributes the configuration errors in err
// name, err being one or several joined.
func configErrors(err error) []string {
	var attrs []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *sdk.ConfigError
		if errors.As(err, &ce) {
			attrs = append(attrs, ce.Attribute)
		}
	}
	walk(err)
	return attrs
}

// drivers are the driver in process and over the plugin protocol, whose
// configuration errors must survive the trip.
func drivers(t *testing.T) map[string]sdk.Driver {
	return map[string]sdk.Driver{"in process": mongodriver.New(), "over gRPC": sdktest.Connect(t, mongodriver.New())}
}

// A configuration mistake is refused by ValidateConfig, at the attribute
// at fault, and by Configure, for both types.
func TestMongoConfigMistakesNameTheAttribute(t *testing.T) {
	for _, m := range []struct {
		name, attr string
		cfg        map[string]any
	}{
		{"uri and hosts both", "hosts", map[string]any{"uri": "mongodb://127.0.0.1:27017/", "hosts": []string{"127.0.0.1:27017"}}},
		{"neither uri nor hosts", "uri", map[string]any{}},
		{"a host without a port", "hosts", map[string]any{"hosts": []string{"127.0.0.1"}}},
		{"a host of port 0", "hosts", map[string]any{"hosts": []string{"127.0.0.1:0"}}},
		{"not a connection string", "uri", map[string]any{"uri": "http://127.0.0.1:27017/"}},
		{"a database name with a dot", "database", map[string]any{"uri": "mongodb://127.0.0.1:27017/", "database": "a.b"}},
		{"an unknown read_preference", "read_preference", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "read_preference": "primaryish"}},
		{"an unknown read_concern", "read_concern", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "read_concern": "eventual"}},
		{"an unknown compressor", "compressors", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "compressors": []string{"zstd", "lz4"}}},
		{"a negative max_pool_size", "max_pool_size", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "max_pool_size": -1}},
		{"a negative min_pool_size", "min_pool_size", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "min_pool_size": -1}},
		{"min_pool_size over max_pool_size", "min_pool_size", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "max_pool_size": 2, "min_pool_size": 3}},
		{"a negative write_concern", "write_concern", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "write_concern": "-1"}},
		{"a negative timeout", "timeout", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "timeout": "-1s"}},
		{"a server_selection_timeout of 0s", "server_selection_timeout", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "server_selection_timeout": "0s"}},
		{"a negative max_conn_idle_time", "max_conn_idle_time", map[string]any{"hosts": []string{"127.0.0.1:27017"}, "max_conn_idle_time": "-1s"}},
	} {
		cfg := map[string]any{"database": "nebula"}
		for k, v := range m.cfg {
			cfg[k] = v
		}
		raw, _ := json.Marshal(cfg)
		for how, d := range drivers(t) {
			for _, typ := range []string{mongodriver.TypeName, mongodriver.SessionTypeName} {
				t.Run(fmt.Sprintf("%s/%s/%s", m.name, typ, how), func(t *testing.T) {
					err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: typ, Name: "bad", Config: raw})
					if err == nil {
						t.Fatalf("ValidateConfig accepted %s", raw)
					}
					if attrs := configErrors(err); !slices.Contains(attrs, m.attr) {
						t.Errorf("ValidateConfig of %s: %v; names %q, want %q", raw, err, attrs, m.attr)
					}
					r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: typ, Name: "bad", Config: raw})
					if err == nil {
						_ = r.Close(t.Context())
						t.Fatalf("Configure accepted %s", raw)
					}
					if !strings.Contains(err.Error(), m.attr) {
						t.Errorf("Configure of %s: %v, which does not name %s", raw, err, m.attr)
					}
				})
			}
		}
	}
}

// A uri that holds a password and does not parse is refused at uri, and
// the error holds no part of the password, however the driver quotes the
// uri.
func TestMongoBadURIErrorsHoldNoPassword(t *testing.T) {
	for _, uri := range []string{
		"mongodb://ada:Sup3rS3cret@127.0.0.1:notaport/",
		"mongodb://ada:Sup3rS3cret@127.0.0.1:99999/",
		"mongodb://ada:Sup3rS3cret@/",
		"mongodb://ada:Sup3rS3cret%zz@127.0.0.1/",
		"mongodb://ada:Sup3r:S3cret@127.0.0.1/",
		"mongodb://ada:Sup3r@S3cret@127.0.0.1/",
		"mongodb://ada:Sup3rS3cret@127.0.0.1/?authMechanism=NOPE",
		"mongodb://ada:Sup3rS3cret@127.0.0.1/?connectTimeoutMS=abc",
		"mongodb://ada:Sup3rS3cret@127.0.0.1/?replicaSet=rs&directConnection=true&loadBalanced=true",
		"mongodb+srv://ada:Sup3rS3cret@host1.example,host2.example/",
		"mongodb:/ada:Sup3rS3cret@127.0.0.1/",
	} {
		raw, _ := json.Marshal(map[string]any{"uri": uri, "database": "nebula"})
		for how, d := range drivers(t) {
			t.Run(how+"/"+uri, func(t *testing.T) {
				verr := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: mongodriver.TypeName, Name: "bad", Config: raw})
				if verr == nil {
					t.Fatal("ValidateConfig accepted the uri")
				}
				r, cerr := d.Configure(t.Context(), sdk.ConfigureRequest{Type: mongodriver.TypeName, Name: "bad", Config: raw})
				if cerr == nil {
					_ = r.Close(t.Context())
					t.Fatal("Configure accepted the uri")
				}
				for _, err := range []error{verr, cerr} {
					if !strings.Contains(err.Error(), "uri") {
						t.Errorf("%v: does not name uri", err)
					}
					for _, secret := range []string{"Sup3r", "S3cret"} {
						if strings.Contains(err.Error(), secret) {
							t.Errorf("the error holds the password: %v", err)
						}
					}
				}
			})
		}
	}
}

// A user the server does not know, with a password given in password or
// in the uri, fails to open as unauthenticated, without the password.
// FerretDB v1 on SQLite has no users: it refuses any authentication
// (SCRAM), which shows the same path; a server that lets the client in
// without authenticating it skips the test.
func TestMongoWrongCredentialsAreUnauthenticatedWithoutThePassword(t *testing.T) {
	db, _ := newDatabase(t)
	const password = "Wr0ng-Passw0rd-4217"
	for name, more := range map[string]map[string]any{
		"password": {"username": "nebula_nobody", "password": password},
		"uri":      {"uri": strings.Replace(serverURL(), "mongodb://", "mongodb://nebula_nobody:"+password+"@", 1)},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(serverURL(), "mongodb://") || strings.Contains(serverURL(), "@") {
				t.Skipf("NEBULA_TEST_MONGO_URL %q is not a mongodb:// URL without credentials", serverURL())
			}
			for how, d := range drivers(t) {
				r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: mongodriver.TypeName, Name: "wrong", Config: config(db, more)})
				if err != nil {
					t.Fatalf("%s: Configure: %v", how, err)
				}
				inst, err := r.Open(t.Context())
				if err == nil {
					_ = inst.Close(t.Context())
					_ = r.Close(t.Context())
					t.Skipf("%s: the server let an unknown user in", how)
				}
				_ = r.Close(t.Context())
				if k := sdk.KindOf(err); k != sdk.KindUnauthenticated && k != sdk.KindPermissionDenied {
					t.Errorf("%s: open with a wrong user: %v (kind %q), want unauthenticated", how, err, k)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("%s: the error holds the password: %v", how, err)
				}
			}
		})
	}
}

// A server that does not answer fails the open as unavailable (after the
// server selection timeout), which the host retries.
func TestMongoUnreachableServerIsUnavailable(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"hosts": []string{"127.0.0.1:1"}, "database": "nebula", "server_selection_timeout": "500ms", "connect_timeout": "500ms"})
	d := mongodriver.New()
	r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: mongodriver.TypeName, Name: "unreachable", Config: raw})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(t.Context())
	inst, err := r.Open(t.Context())
	if err == nil {
		_ = inst.Close(t.Context())
		t.Fatal("open of a server that does not answer succeeded")
	}
	if k := sdk.KindOf(err); k != sdk.KindUnavailable {
		t.Errorf("open of a server that does not answer: %v (kind %q), want unavailable", err, k)
	}
}
