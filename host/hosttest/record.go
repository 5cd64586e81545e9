package hosttest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/host/redact"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Call is one call a resource received: an operation or an SQL statement.
type Call struct {
	// Operation is the operation's name; an SQL statement's is "query",
	// "exec", "batch", "begin", "commit" or "rollback".
	Operation string
	// Args are the call's arguments as JSON, completed with the schema's
	// defaults. Arguments the operation marks sensitive, and every string
	// holding one of the resource's sensitive settings (a password, a
	// token), read "(sensitive)". An SQL statement's are
	// {"sql": ..., "args": [...]}.
	Args json.RawMessage
	// Kind is the kind of the error the call ended with, or "" when it
	// succeeded.
	Kind sdk.Kind
	// Injected says whether a fault of this package made the error,
	// rather than the driver.
	Injected bool
	// Duration is how long the call took, its faults included.
	Duration time.Duration
}

// Failed reports whether the call ended with an error.
func (c Call) Failed() bool { return c.Kind != "" }

// record appends a call that began at began and ended with err.
func (r *Resource) record(op string, args json.RawMessage, began time.Time, err error, injected bool) {
	c := Call{Operation: op, Duration: time.Since(began), Injected: injected}
	if err != nil {
		c.Kind = sdk.KindOf(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.Args = r.maskArgs(op, args)
	r.calls = append(r.calls, c)
}

// maskArgs returns args with the operation's sensitive arguments and the
// resource's secrets masked. r.mu is held.
func (r *Resource) maskArgs(op string, args json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(args, &v); err != nil {
		// Not JSON: keep it as a string, masked.
		b, _ := json.Marshal(r.maskString(string(args)))
		return b
	}
	if m, ok := v.(map[string]any); ok {
		for _, name := range r.sensitive[op] {
			if _, set := m[name]; set {
				m[name] = redact.Mask
			}
		}
	}
	b, err := json.Marshal(r.maskValue(v))
	if err != nil {
		return nil
	}
	return b
}

func (r *Resource) maskValue(v any) any {
	switch x := v.(type) {
	case string:
		return r.maskString(x)
	case map[string]any:
		for k, e := range x {
			x[k] = r.maskValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = r.maskValue(e)
		}
	}
	return v
}

func (r *Resource) maskString(s string) string {
	for _, secret := range r.secrets {
		if secret != "" && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redact.Mask)
		}
	}
	return s
}

// configured learns, from a resource's configuration, which values to
// mask: its sensitive settings, and its operations' sensitive arguments.
func (r *Resource) configured(t sdk.ResourceType, config json.RawMessage) {
	var settings map[string]json.RawMessage
	_ = json.Unmarshal(config, &settings)
	var secrets []string
	for _, a := range t.Config.Attributes {
		if a.Sensitive && settings[a.Name] != nil {
			secrets = append(secrets, sdk.JSONStrings(settings[a.Name])...)
		}
	}
	sensitive := map[string][]string{}
	for _, op := range t.Operations {
		for _, a := range op.Args.Attributes {
			if a.Sensitive {
				sensitive[op.Name] = append(sensitive[op.Name], a.Name)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets, r.sensitive = secrets, sensitive
}

// statementArgs is how Calls shows an SQL statement.
func statementArgs(stmts ...sdk.Statement) json.RawMessage {
	type stmt struct {
		SQL  string `json:"sql"`
		Args []any  `json:"args"`
	}
	out := make([]stmt, len(stmts))
	for i, st := range stmts {
		out[i] = stmt{SQL: st.SQL, Args: make([]any, len(st.Args))}
		for j, a := range st.Args {
			out[i].Args[j] = a.Any()
		}
	}
	var b []byte
	if len(out) == 1 {
		b, _ = json.Marshal(out[0])
	} else {
		b, _ = json.Marshal(map[string]any{"statements": out})
	}
	return b
}
