package sdk_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

type docArgs struct {
	Filter json.RawMessage   `nebula:"filter" default:"{}" doc:"A filter document."`
	Docs   []json.RawMessage `nebula:"docs" doc:"Documents."`
	Sort   json.RawMessage   `nebula:"sort" doc:"A sort document; unset, none."`
}

// A json.RawMessage field is an attribute of type json: any JSON value,
// whose text reaches the operation as it came, Extended JSON's wrappers,
// number spellings and key order included.
func TestJSONFieldsTakeAnyValueAndKeepItsText(t *testing.T) {
	s, err := sdk.SchemaFor(docArgs{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, a := range s.Attributes {
		types[a.Name] = a.Type.String()
	}
	if types["filter"] != "json" || types["docs"] != "list(json)" || types["sort"] != "json" {
		t.Fatalf("types %v, want json, list(json), json", types)
	}
	const doc = `{"z":1.0,"_id":{"$oid":"5f1d7a3b2c4e5a6b7c8d9e0f"},"n":{"$numberLong":"9007199254740993"},"big":12345678901234567890,"a":[1,"x",null]}`
	var a docArgs
	if err := sdk.Decode(json.RawMessage(`{"filter":`+doc+`,"docs":[{"b":2}, "s", 3]}`), &a); err != nil {
		t.Fatal(err)
	}
	if string(a.Filter) != doc {
		t.Errorf("filter %s, want the text sent: %s", a.Filter, doc)
	}
	if len(a.Docs) != 3 || string(a.Docs[0]) != `{"b":2}` || string(a.Docs[1]) != `"s"` || string(a.Docs[2]) != `3` {
		t.Errorf("docs %q", a.Docs)
	}
	if a.Sort != nil {
		t.Errorf("an unset json attribute without a default: %s, want nil", a.Sort)
	}
	var d docArgs
	if err := sdk.Decode(json.RawMessage(`{}`), &d); err != nil || string(d.Filter) != `{}` {
		t.Fatalf("the default of filter: %s, %v", d.Filter, err)
	}
	for _, v := range []string{`{}`, `[]`, `"x"`, `1e400`, `true`, `null`} {
		if err := sdk.CheckValue(sdk.JSON, json.RawMessage(v)); err != nil {
			t.Errorf("CheckValue(json, %s): %v", v, err)
		}
	}
	if err := sdk.CheckValue(sdk.ListOf(sdk.JSON), json.RawMessage(`{"a":1}`)); err == nil {
		t.Error("an object passed as list(json)")
	}
}
