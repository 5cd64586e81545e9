package sdk_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Shared is a part of a configuration that drivers embed.
type Shared struct {
	URL   string `nebula:"url,required"`
	Token string `nebula:"token,sensitive" default:""`
}

type inner struct {
	Limit int `nebula:"limit" default:"5"`
}

// The attributes of embedded structs without a nebula tag, exported or
// not, are the outer struct's, in the schema and when decoding.
func TestSchemaAndDecodeFlattenEmbeddedStructs(t *testing.T) {
	type config struct {
		Shared
		inner
		Name string `nebula:"name"`
	}
	s, err := sdk.SchemaFor(config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); len(got) != 4 || got[0] != "limit" || got[1] != "name" || got[2] != "token" || got[3] != "url" {
		t.Fatalf("attributes %v", got)
	}
	if a, _ := s.Attribute("token"); !a.Sensitive {
		t.Fatal("token lost its sensitive flag")
	}
	var c config
	if err := sdk.Decode(json.RawMessage(`{"url":"u","name":"n"}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.URL != "u" || c.Name != "n" || c.Limit != 5 {
		t.Fatalf("decoded %+v", c)
	}
	if err := sdk.Decode(json.RawMessage(`{"name":"n"}`), &c); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("a missing embedded required attribute: %v", err)
	}
}
