package mongo_test

import (
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"

	mongodriver "github.com/nebula-resource/nebula-resource/plugins/mongo"
)

// The password, in the uri or in its own attribute, is in no error: not
// when the server refuses it, not when no server answers.
func TestThePasswordIsInNoError(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	db, _ := newDatabase(t)
	host := strings.TrimPrefix(strings.TrimSuffix(serverURL(), "/"), "mongodb://")
	for name, cfg := range map[string]map[string]any{
		"a uri that the server refuses":          {"uri": "mongodb://nebula:" + secret + "@" + host + "/?authSource=admin"},
		"a password that the server refuses":     {"uri": serverURL(), "username": "nebula", "password": secret},
		"a uri of a server that does not answer": {"uri": "mongodb://nebula:" + secret + "@127.0.0.1:1/", "server_selection_timeout": "300ms"},
	} {
		t.Run(name, func(t *testing.T) {
			d := sdktest.Connect(t, mongodriver.New())
			r, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "mongo", Name: "docs", Config: config(db, cfg)})
			if err == nil {
				var inst sdk.Instance
				inst, err = r.Open(t.Context())
				if err == nil {
					_, err = sdk.ResourceType{}.Invoke(t.Context(), inst, sdk.InvokeRequest{Operation: "count", Args: []byte(`{"collection":"c"}`)})
					_ = inst.Close(t.Context())
				}
				_ = r.Close(t.Context())
			}
			if err == nil {
				t.Skip("the server took the credentials (FerretDB without authentication)")
			}
			t.Logf("%v (kind %s)", err, sdk.KindOf(err))
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error holds the password: %v", err)
			}
		})
	}
}
