package graphql_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/graphql"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// A field's error leaves the rest of the data: the result holds the
// data with the field null and the error with its path, exactly as the
// server sent them, and is no Go error.
func TestAFieldErrorReturnsPartialDataWithThePath(t *testing.T) {
	s := startServer(t)
	inst := open(t, config(t, s.url(), nil))
	got, err := invoke(t, inst, "query", `{"query": "{ items { id name } }"}`)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"data":{"items":[{"id":"1","name":"one"},{"id":"2","name":null},{"id":"3","name":"three"}]},` +
		`"errors":[{"message":"item 2 has no name","path":["items",1,"name"]}]}`
	if string(got) != want {
		t.Fatalf("query returned\n%s\nwant\n%s", got, want)
	}
}

// Errors that leave no data are a typed error: its kind from
// extensions.code, or invalid_argument for a request error (parse,
// validation), its Code the first error's code or GRAPHQL_ERROR, its
// message the first error's message and path.
func TestErrorsWithoutDataAreTypedErrors(t *testing.T) {
	s := startServer(t)
	inst := open(t, config(t, s.url(), nil))
	for name, c := range map[string]struct {
		query    string
		kind     sdk.Kind
		code     string
		contains []string
	}{
		"extensions.code NOT_FOUND": {`{ fail(code: "NOT_FOUND", message: "no such order") }`, sdk.KindNotFound, "NOT_FOUND", []string{`"no such order" at fail (NOT_FOUND)`}},
		"extensions.code FORBIDDEN": {`{ fail(code: "FORBIDDEN", message: "not yours") }`, sdk.KindPermissionDenied, "FORBIDDEN", []string{`"not yours" at fail`}},
		"extensions.code unknown":   {`{ fail(code: "WHATEVER", message: "boom") }`, sdk.KindInternal, "WHATEVER", []string{`"boom" at fail`}},
		"a validation error":        {`{ noSuchField }`, sdk.KindInvalidArgument, graphql.DefaultCode, []string{`Cannot query field \"noSuchField\" on type \"Query\".`}},
		"a parse error":             {`{ hello(name: ) }`, sdk.KindInvalidArgument, graphql.DefaultCode, []string{"graphql query: "}},
		"a missing variable":        {`query Q($n: String!) { hello(name: $n) }`, sdk.KindInvalidArgument, graphql.DefaultCode, []string{"graphql query: "}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := invoke(t, inst, "query", args(t, map[string]any{"query": c.query}))
			var se *sdk.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want an *sdk.Error", err)
			}
			if se.Kind != c.kind || se.Code != c.code {
				t.Fatalf("err = %v (kind %q, code %q), want kind %q, code %q", err, se.Kind, se.Code, c.kind, c.code)
			}
			for _, s := range c.contains {
				if !strings.Contains(se.Message, s) {
					t.Errorf("message %q does not hold %q", se.Message, s)
				}
			}
		})
	}
}

func TestQueryAndMutateWithVariablesAndOperationName(t *testing.T) {
	s := startServer(t)
	inst := open(t, config(t, s.url(), map[string]any{"headers": map[string]string{"X-Tenant": "acme"}}))
	doc := `query A { hello } query B($n: String) { hello(name: $n) } query C { echoHeader(name: "X-Tenant") }`
	for _, c := range []struct{ op, want string }{
		{"A", `{"data":{"hello":"Hello, world!"}}`},
		{"B", `{"data":{"hello":"Hello, ada!"}}`},
		{"C", `{"data":{"echoHeader":"acme"}}`},
	} {
		got, err := invoke(t, inst, "query", args(t, map[string]any{"query": doc, "operation_name": c.op, "variables": map[string]any{"n": "ada"}}))
		if c.op != "B" {
			got, err = invoke(t, inst, "query", args(t, map[string]any{"query": doc, "operation_name": c.op}))
		}
		if err != nil || string(got) != c.want {
			t.Fatalf("operation %s: %s, %v; want %s", c.op, got, err, c.want)
		}
	}
	for want := 2; want <= 6; want += 2 {
		got, err := invoke(t, inst, "mutate", `{"query": "mutation Inc($by: Int!) { increment(by: $by) }", "variables": {"by": 2}, "idempotent": false}`)
		if err != nil || string(got) != `{"data":{"increment":`+string(rune('0'+want))+`}}` {
			t.Fatalf("mutate: %s, %v; want increment %d", got, err, want)
		}
	}
	if got, err := invoke(t, inst, "ping", `{}`); err != nil || string(got) != `{"ok":true}` {
		t.Fatalf("ping: %s, %v", got, err)
	}
}

// mutate declares the idempotent argument by which a call marks itself
// retryable, and is not idempotent itself; query is.
func TestOnlyQueryIsIdempotentAndMutateIsMarkable(t *testing.T) {
	typ, _ := graphql.New().Info().Type(graphql.TypeName)
	for _, c := range []struct {
		op         string
		idempotent bool
		markable   bool
	}{{"query", true, false}, {"mutate", false, true}, {"subscribe", false, false}, {"ping", true, false}} {
		op, ok := typ.Operation(c.op)
		if !ok {
			t.Fatalf("no operation %q", c.op)
		}
		a, markable := op.Args.Attribute(sdk.IdempotentArg)
		markable = markable && a.Type.Kind == sdk.TypeBool
		if op.Idempotent != c.idempotent || markable != c.markable {
			t.Errorf("%s: idempotent %v, markable %v; want %v, %v", c.op, op.Idempotent, markable, c.idempotent, c.markable)
		}
	}
}

// A server that is not there is unavailable, which the host may retry.
func TestAServerThatIsGoneIsUnavailable(t *testing.T) {
	s := startServer(t)
	url := s.url()
	inst := open(t, config(t, url, nil))
	if _, err := invoke(t, inst, "query", `{"query": "{ hello }"}`); err != nil {
		t.Fatal(err)
	}
	inst2 := open(t, config(t, "http://127.0.0.1:1/graphql", nil))
	_, err := invoke(t, inst2, "query", `{"query": "{ hello }"}`)
	if k := sdk.KindOf(err); k != sdk.KindUnavailable {
		t.Fatalf("no server: %v (kind %q), want unavailable", err, k)
	}
}

// A response larger than max_response_bytes is refused, not retried.
func TestAResponseOverMaxResponseBytesIsResourceExhausted(t *testing.T) {
	s := startServer(t)
	inst := open(t, config(t, s.url(), map[string]any{"max_response_bytes": 64}))
	_, err := invoke(t, inst, "query", `{"query": "{ items { id name } }"}`)
	if k := sdk.KindOf(err); k != sdk.KindResourceExhausted || sdk.IsRetryable(err) || !strings.Contains(err.Error(), "max_response_bytes") {
		t.Fatalf("a large response: %v (kind %q, retryable %v), want resource_exhausted, not retryable", err, k, sdk.IsRetryable(err))
	}
}

func TestInvalidConfigurationsNameTheAttribute(t *testing.T) {
	d := graphql.New().(sdk.ConfigValidator)
	for name, c := range map[string]struct{ cfg, attr string }{
		"base_url not http":      {`{"base_url": "ftp://h/graphql"}`, "base_url"},
		"ws_url not ws":          {`{"base_url": "http://h/graphql", "ws_url": "http://h/ws"}`, "ws_url"},
		"connection_init a list": {`{"base_url": "http://h/graphql", "connection_init": ["x"]}`, "connection_init"},
		"ack_timeout zero":       {`{"base_url": "http://h/graphql", "ack_timeout": "0s"}`, "ack_timeout"},
		"negative ping_interval": {`{"base_url": "http://h/graphql", "ping_interval": "-1s"}`, "ping_interval"},
		"max_response_bytes 0":   {`{"base_url": "http://h/graphql", "max_response_bytes": 0}`, "max_response_bytes"},
		"path with ..":           {`{"base_url": "http://h/", "path": "../graphql"}`, "path"},
	} {
		t.Run(name, func(t *testing.T) {
			err := d.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: graphql.TypeName, Name: "x", Config: json.RawMessage(c.cfg)})
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), c.attr) {
				t.Fatalf("ValidateConfig: %v, want a config error about %s", err, c.attr)
			}
		})
	}
}
