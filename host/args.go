package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// encodeArgs turns what a caller passed as arguments into JSON: nil means
// no arguments; json.RawMessage and []byte are taken as JSON; anything else
// is marshalled.
func encodeArgs(args any) (json.RawMessage, error) {
	switch a := args.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		return a, nil
	case []byte:
		return json.RawMessage(a), nil
	case string:
		return json.RawMessage(a), nil
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "encode arguments: %v", err)
	}
	return raw, nil
}

// checkArgs checks arguments against an operation's schema before they
// reach the plugin, fills in defaults, and returns them as JSON. Its errors
// are of kind invalid_argument, name the argument, and never quote the
// value of a sensitive one.
func checkArgs(op sdk.Operation, raw json.RawMessage) (json.RawMessage, error) {
	var args map[string]json.RawMessage
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := json.Unmarshal(trimmed, &args); err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: arguments must be a JSON object: %v", op.Name, err)
		}
	}
	if args == nil {
		args = map[string]json.RawMessage{}
	}
	var problems []string
	given := len(args)
	var filled []string // the arguments whose default was filled in
	names := op.Args.Names()
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := op.Args.Attribute(k); !ok {
			msg := fmt.Sprintf("unknown argument %s", sdk.QuoteShort(k))
			if s := config.Suggest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(names) > 0 {
				msg += " (arguments: " + strings.Join(names, ", ") + ")"
			} else {
				msg += " (the operation takes no arguments)"
			}
			problems = append(problems, msg)
		}
	}
	for _, a := range op.Args.Attributes {
		v, ok := args[a.Name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			switch {
			case a.Required:
				problems = append(problems, fmt.Sprintf("argument %q (%s) is required", a.Name, a.Type))
			case a.Default != nil:
				args[a.Name] = a.Default
				filled = append(filled, a.Name)
			}
			continue
		}
		if err := sdk.CheckValue(a.Type, v); err != nil {
			if a.Sensitive {
				problems = append(problems, fmt.Sprintf("argument %q wants %s (sensitive value not shown)", a.Name, a.Type))
			} else {
				problems = append(problems, fmt.Sprintf("argument %q: %v", a.Name, err))
			}
		}
	}
	if len(problems) > 0 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: %s", op.Name, strings.Join(problems, "; "))
	}
	if given > 0 {
		// The arguments go on as the caller wrote them, with the defaults
		// added at the end: encoding them all again would cost as much as
		// reading them (a millisecond per 100 KB). A name given twice
		// means its last value, here as in encoding/json and sdk.Decode.
		if len(filled) == 0 {
			return trimmed, nil
		}
		out := bytes.NewBuffer(make([]byte, 0, len(trimmed)+64*len(filled)))
		out.Write(trimmed[:len(trimmed)-1]) // without its closing brace
		for _, name := range filled {
			key, _ := json.Marshal(name)
			out.WriteByte(',')
			out.Write(key)
			out.WriteByte(':')
			out.Write(args[name])
		}
		out.WriteByte('}')
		return out.Bytes(), nil
	}
	out, err := json.Marshal(args)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q: %v", op.Name, err)
	}
	return out, nil
}

// findOperation returns the named operation of t, or an invalid_argument
// error that lists the operations and suggests the closest.
func findOperation(t sdk.ResourceType, name string) (sdk.Operation, error) {
	if op, ok := t.Operation(name); ok {
		return op, nil
	}
	names := make([]string, len(t.Operations))
	for i, op := range t.Operations {
		names[i] = op.Name
	}
	sort.Strings(names)
	msg := fmt.Sprintf("no operation %s", sdk.QuoteShort(name))
	if s := config.Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	msg += "; operations: " + strings.Join(names, ", ")
	return sdk.Operation{}, sdk.Errorf(sdk.KindInvalidArgument, "%s", msg)
}
