package sdktest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Mistake is a call a careless caller makes, and the kinds a driver may
// answer it with: caller's kinds, never one that says the backend failed.
type Mistake struct {
	Name string
	Op   string
	Args string
	// Want lists the acceptable kinds; empty means invalid_argument.
	Want []sdk.Kind
}

// BackendKinds are the kinds no caller's mistake may have: the host's
// circuit breaker counts unavailable and timeout as a failing backend, and
// internal and unknown say the driver did not recognise a mistake.
var BackendKinds = []sdk.Kind{sdk.KindUnavailable, sdk.KindTimeout, sdk.KindInternal, sdk.KindUnknown}

// KVMistakes are the caller's mistakes every kv driver meets: wrong types,
// values out of range, bad modes, patterns and cursors, and integers that
// overflow. The driver's own (Redis's WRONGTYPE, say) are in its tests.
var KVMistakes = []Mistake{
	{Name: "key of the wrong type", Op: "get", Args: `{"key":5}`},
	{Name: "empty key", Op: "get", Args: `{"key":""}`},
	{Name: "no key", Op: "get", Args: `{}`},
	{Name: "unknown argument", Op: "get", Args: `{"key":"k","nope":1}`},
	{Name: "arguments not an object", Op: "get", Args: `[1,2]`},
	{Name: "keys not a list", Op: "mget", Args: `{"keys":"k"}`},
	{Name: "no keys", Op: "delete", Args: `{"keys":[]}`},
	{Name: "negative ttl", Op: "set", Args: `{"key":"k","value":"v","ttl":"-1s"}`},
	{Name: "ttl not a duration", Op: "set", Args: `{"key":"k","value":"v","ttl":"soon"}`},
	{Name: "unknown mode", Op: "set", Args: `{"key":"k","value":"v","mode":"maybe"}`},
	{Name: "value of the wrong type", Op: "set", Args: `{"key":"k","value":{"a":1}}`},
	{Name: "no values", Op: "mset", Args: `{"values":{}}`},
	{Name: "negative expire", Op: "expire", Args: `{"key":"k","ttl":"-5s"}`},
	{Name: "by not an integer", Op: "incr", Args: `{"key":"n","by":1.5}`},
	{Name: "by out of range", Op: "incr", Args: `{"key":"n","by":99999999999999999999}`},
	{Name: "count zero", Op: "scan", Args: `{"count":0}`},
	{Name: "negative count", Op: "scan", Args: `{"count":-3}`},
	{Name: "cursor never returned", Op: "scan", Args: `{"cursor":"not-a-cursor"}`},
}

// CheckMistakes calls inst with each mistake and fails the test for an
// answer that is a success or of a kind the mistake does not allow, and
// always for one of BackendKinds.
func CheckMistakes(t *testing.T, inst sdk.Invoker, mistakes []Mistake) {
	t.Helper()
	for _, m := range mistakes {
		t.Run(m.Name, func(t *testing.T) {
			_, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: m.Op, Args: json.RawMessage(m.Args)})
			CheckMistake(t, m, err)
		})
	}
}

// CheckMistake checks the error one mistake got.
func CheckMistake(t testing.TB, m Mistake, err error) {
	t.Helper()
	want := m.Want
	if len(want) == 0 {
		want = []sdk.Kind{sdk.KindInvalidArgument}
	}
	k := sdk.KindOf(err)
	for _, b := range BackendKinds {
		if k == b {
			t.Fatalf("%s %.200s: kind %q, which says the backend failed: %.300v", m.Op, m.Args, k, err)
		}
	}
	for _, w := range want {
		if k == w {
			return
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = string(w)
	}
	t.Fatalf("%s %.200s: err = %.300v (kind %q), want kind %s", m.Op, m.Args, err, k, strings.Join(names, " or "))
}

// SQLMistake is a statement a careless caller sends.
type SQLMistake struct {
	Name string
	SQL  string
	Args []sdk.Value
	// Want lists the acceptable kinds; empty means invalid_argument.
	Want []sdk.Kind
}

// CheckSQLMistakes runs each statement (a query when it begins with
// SELECT, reading every row, else an exec) and checks its error as
// CheckMistake does.
func CheckSQLMistakes(t *testing.T, inst sdk.SQLInstance, mistakes []SQLMistake) {
	t.Helper()
	for _, m := range mistakes {
		t.Run(m.Name, func(t *testing.T) {
			st := sdk.Statement{SQL: m.SQL, Args: m.Args}
			var err error
			if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(m.SQL)), "SELECT") {
				var rows sdk.Rows
				if rows, err = inst.Query(t.Context(), st); err == nil {
					for rows.Next() {
					}
					err = rows.Err()
					rows.Close()
				}
			} else {
				_, err = inst.Exec(t.Context(), st)
			}
			CheckMistake(t, Mistake{Name: m.Name, Op: "sql", Args: m.SQL, Want: m.Want}, err)
		})
	}
}
