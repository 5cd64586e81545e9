package httpclient_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// A caller's mistakes are invalid_argument, never a kind that says the
// backend failed, and the error names the argument.
func TestMistakesAreInvalidArgumentsNamed(t *testing.T) {
	api := newAPI(t)
	inst := open(t, api.URL, nil)
	mistakes := []struct {
		m   sdktest.Mistake
		arg string
	}{
		{sdktest.Mistake{Name: "lower-case method", Op: "fetch", Args: `{"method":"get","path":"/probe"}`}, "method"},
		{sdktest.Mistake{Name: "method not a token", Op: "fetch", Args: `{"method":"GE T"}`}, "method"},
		{sdktest.Mistake{Name: "empty method", Op: "fetch", Args: `{"method":""}`}, "method"},
		{sdktest.Mistake{Name: "method not a string", Op: "fetch", Args: `{"method":5}`}, "method"},
		{sdktest.Mistake{Name: "path to another host", Op: "fetch", Args: `{"path":"http://evil.example/steal"}`}, "path"},
		{sdktest.Mistake{Name: "scheme-relative path to another host", Op: "fetch", Args: `{"path":"//evil.example/steal"}`}, "path"},
		{sdktest.Mistake{Name: "path climbing out of base_url", Op: "fetch", Args: `{"path":"/a/../../etc"}`}, "path"},
		{sdktest.Mistake{Name: "path with a fragment", Op: "fetch", Args: `{"path":"/x#y"}`}, "path"},
		{sdktest.Mistake{Name: "path not a URL", Op: "fetch", Args: `{"path":"%zz"}`}, "path"},
		{sdktest.Mistake{Name: "body and body_base64", Op: "fetch", Args: `{"method":"POST","body":"a","body_base64":"YQ=="}`}, "body_base64"},
		{sdktest.Mistake{Name: "invalid base64", Op: "fetch", Args: `{"method":"POST","body_base64":"not base64!"}`}, "body_base64"},
		{sdktest.Mistake{Name: "bad header name", Op: "fetch", Args: `{"headers":{"a b":"x"}}`}, "headers"},
		{sdktest.Mistake{Name: "header value with a newline", Op: "fetch", Args: `{"headers":{"X-A":"x\r\nEvil: 1"}}`}, "headers"},
		{sdktest.Mistake{Name: "hop-by-hop header", Op: "fetch", Args: `{"headers":{"transfer-encoding":"chunked"}}`}, "headers"},
		{sdktest.Mistake{Name: "idempotency key twice", Op: "fetch", Args: `{"method":"POST","idempotency_key":"k","headers":{"Idempotency-Key":"k"}}`}, "headers"},
		{sdktest.Mistake{Name: "content-length in fetch", Op: "fetch", Args: `{"headers":{"Content-Length":"3"}}`}, "headers"},
		{sdktest.Mistake{Name: "headers not strings", Op: "fetch", Args: `{"headers":{"X-A":1}}`}, "headers"},
		{sdktest.Mistake{Name: "query values not lists", Op: "fetch", Args: `{"query":{"a":"1"}}`}, "query"},
		{sdktest.Mistake{Name: "query without a name", Op: "fetch", Args: `{"query":{"":["1"]}}`}, "query"},
		{sdktest.Mistake{Name: "expect_status out of range", Op: "fetch", Args: `{"expect_status":[700]}`}, "expect_status"},
		{sdktest.Mistake{Name: "idempotency key with a newline", Op: "fetch", Args: `{"idempotency_key":"a\nb"}`}, "idempotency_key"},
		{sdktest.Mistake{Name: "unknown argument", Op: "fetch", Args: `{"nope":1}`}, "nope"},
		{sdktest.Mistake{Name: "arguments not an object", Op: "fetch", Args: `[1]`}, ""},
	}
	for _, c := range mistakes {
		t.Run(c.m.Name, func(t *testing.T) {
			_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: c.m.Op, Args: json.RawMessage(c.m.Args)})
			sdktest.CheckMistake(t, c.m, err)
			if c.arg != "" && !strings.Contains(err.Error(), `"`+c.arg+`"`) {
				t.Fatalf("the error does not name %q: %v", c.arg, err)
			}
		})
		// The streaming operation takes the same arguments but bodies.
		if strings.Contains(c.m.Args, "body") || strings.Contains(c.m.Args, "Content-Length") {
			continue
		}
		t.Run(c.m.Name+" (request)", func(t *testing.T) {
			_, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "request", Args: json.RawMessage(c.m.Args)}, nil, io.Discard)
			sdktest.CheckMistake(t, c.m, err)
			if c.arg != "" && !strings.Contains(err.Error(), `"`+c.arg+`"`) {
				t.Fatalf("the error does not name %q: %v", c.arg, err)
			}
		})
	}
	t.Run("content-length not a number (request)", func(t *testing.T) {
		m := sdktest.Mistake{Name: "content-length", Op: "request", Args: `{"headers":{"Content-Length":"many"}}`}
		_, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "request", Args: json.RawMessage(m.Args)}, nil, io.Discard)
		sdktest.CheckMistake(t, m, err)
	})
}

// A configuration's mistakes name the attribute.
func TestConfigurationMistakesNameTheAttribute(t *testing.T) {
	d := sdktest.Connect(t, newDriver()).(sdk.ConfigValidator)
	for attr, cfg := range map[string]string{
		"base_url":           `{"base_url":"ftp://x/"}`,
		"max_response_bytes": `{"base_url":"http://127.0.0.1/","max_response_bytes":0}`,
		"health_method":      `{"base_url":"http://127.0.0.1/","health_method":"POST"}`,
		"health_path":        `{"base_url":"http://127.0.0.1/","health_path":"http://elsewhere/x"}`,
		"bearer_token":       `{"base_url":"http://127.0.0.1/","bearer_token":"a","oauth2_token_url":"http://127.0.0.1/t","oauth2_client_id":"c"}`,
	} {
		err := d.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "http", Name: "api", Config: json.RawMessage(cfg)})
		if err == nil || !strings.Contains(err.Error(), attr) {
			t.Errorf("%s: %v, want an error naming %s", cfg, err, attr)
		}
	}
}
