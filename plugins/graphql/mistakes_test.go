package graphql_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// A caller's mistakes are invalid_argument naming the argument, and are
// refused before anything reaches the server.
func TestMistakesAreInvalidArgumentsNamingTheArgument(t *testing.T) {
	s := startServer(t)
	inst := open(t, config(t, s.url(), nil))
	for _, c := range []struct {
		sdktest.Mistake
		arg string // the argument the message names
	}{
		{sdktest.Mistake{Name: "a mutation sent by query", Op: "query", Args: `{"query": "mutation M { increment(by: 1) }"}`}, "query"},
		{sdktest.Mistake{Name: "a query sent by mutate", Op: "mutate", Args: `{"query": "{ hello }"}`}, "query"},
		{sdktest.Mistake{Name: "a subscription sent by query", Op: "query", Args: `{"query": "subscription { count(to: 1) }"}`}, "query"},
		{sdktest.Mistake{Name: "a query sent by subscribe", Op: "subscribe", Args: `{"query": "query Q { hello }"}`}, "query"},
		{sdktest.Mistake{Name: "the named operation is a mutation", Op: "query", Args: `{"query": "query A { hello } mutation B { increment(by: 1) }", "operation_name": "B"}`}, "query"},
		{sdktest.Mistake{Name: "empty query", Op: "query", Args: `{"query": ""}`}, "query"},
		{sdktest.Mistake{Name: "blank query", Op: "mutate", Args: `{"query": " \n\t "}`}, "query"},
		{sdktest.Mistake{Name: "no query", Op: "query", Args: `{}`}, "query"},
		{sdktest.Mistake{Name: "variables a list", Op: "query", Args: `{"query": "{ hello }", "variables": [1]}`}, "variables"},
		{sdktest.Mistake{Name: "variables a string", Op: "mutate", Args: `{"query": "mutation { increment(by: 1) }", "variables": "{}"}`}, "variables"},
		{sdktest.Mistake{Name: "variables a number", Op: "subscribe", Args: `{"query": "subscription { count(to: 1) }", "variables": 5}`}, "variables"},
		{sdktest.Mistake{Name: "two operations and no name", Op: "query", Args: `{"query": "query A { hello } query B { hello }"}`}, "operation_name"},
		{sdktest.Mistake{Name: "no operation of that name", Op: "query", Args: `{"query": "query A { hello }", "operation_name": "B"}`}, "operation_name"},
		{sdktest.Mistake{Name: "an unterminated string", Op: "query", Args: `{"query": "{ hello(name: \"ada) }"}`}, "query"},
		{sdktest.Mistake{Name: "negative max_events", Op: "subscribe", Args: `{"query": "subscription { count(to: 1) }", "max_events": -1}`}, "max_events"},
		{sdktest.Mistake{Name: "idempotent not a bool", Op: "mutate", Args: `{"query": "mutation { increment(by: 1) }", "idempotent": "yes"}`}, "idempotent"},
	} {
		t.Run(c.Name, func(t *testing.T) {
			var err error
			if c.Op == "subscribe" {
				_, err = inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: c.Op, Args: json.RawMessage(c.Args)}, strings.NewReader(""), &strings.Builder{})
			} else {
				_, err = inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: c.Op, Args: json.RawMessage(c.Args)})
			}
			sdktest.CheckMistake(t, c.Mistake, err)
			if !strings.Contains(err.Error(), `"`+c.arg+`"`) {
				t.Fatalf("%v: does not name the argument %q", err, c.arg)
			}
		})
	}
	// Nothing reached the server: the counter is untouched.
	got, err := invoke(t, inst, "mutate", `{"query": "mutation { increment(by: 1) }"}`)
	if err != nil || string(got) != `{"data":{"increment":1}}` {
		t.Fatalf("a mutation reached the server before: %s, %v", got, err)
	}
}
