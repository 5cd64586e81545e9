package credential

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxContent bounds a credential file and a command's standard output.
const maxContent = 1 << 20

// fetched is what one fetch of a credential found.
type fetched struct {
	attrs   map[string]string // never nil, never empty
	expires time.Time         // zero: never
}

// parseJSON reads a JSON object: its string values are the attributes;
// "expiration" or "Expiration" (an RFC 3339 time) is the expiry and
// "version" or "Version" (a number) is ignored, as in the output of an
// AWS credential_process. The errors it returns say what is wrong with the
// input without quoting any of it but key names; they read after the
// input's name ("file /x is not valid JSON ..."). seen holds the string
// values found, even when err is not nil, so that a caller can mask them.
func parseJSON(data []byte) (f fetched, seen []string, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return fetched{}, nil, errors.New("is empty; it must be a JSON object")
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		// A SyntaxError's message quotes the offending character; only its
		// offset is given.
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			return fetched{}, nil, fmt.Errorf("is not valid JSON: syntax error at byte offset %d", se.Offset)
		}
		return fetched{}, nil, errors.New("is not valid JSON")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return fetched{}, nil, fmt.Errorf("holds a JSON %s; it must be a JSON object", jsonType(doc))
	}
	f.attrs = make(map[string]string, len(obj))
	for _, v := range obj {
		if s, ok := v.(string); ok {
			seen = append(seen, s)
		}
	}
	expKey := ""
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		switch k {
		case "expiration", "Expiration":
			if expKey != "" {
				return fetched{}, seen, fmt.Errorf(`has both keys %q and %q; give one expiration`, expKey, k)
			}
			expKey = k
			s, ok := v.(string)
			if !ok {
				return fetched{}, seen, fmt.Errorf("has key %q holding a JSON %s; it must be an RFC 3339 time string such as \"2030-01-02T15:04:05Z\"", k, jsonType(v))
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return fetched{}, seen, fmt.Errorf("has key %q that is not an RFC 3339 time such as \"2030-01-02T15:04:05Z\"", k)
			}
			f.expires = t
			continue
		case "version", "Version":
			if _, ok := v.(float64); ok {
				continue
			}
		}
		s, ok := v.(string)
		if !ok {
			return fetched{}, seen, fmt.Errorf("has key %q holding a JSON %s; attributes must be strings", k, jsonType(v))
		}
		f.attrs[k] = s
	}
	if len(f.attrs) == 0 {
		return fetched{}, seen, errors.New("holds no string attribute")
	}
	return f, seen, nil
}

// parseText reads a file of format text: all of it, without its trailing
// newlines, is the attribute "value".
func parseText(data []byte) (fetched, error) {
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		// Also what a reader sees of a file being rewritten in place:
		// the last good value is kept.
		return fetched{}, errors.New("is empty")
	}
	return fetched{attrs: map[string]string{TextAttr: v}}, nil
}

// jsonType names the JSON type of a value decoded into an any.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// secretValues returns attrs' values that are not empty, the ones given to
// Options.Secret.
func secretValues(attrs map[string]string) []string {
	vs := make([]string, 0, len(attrs))
	for _, v := range attrs {
		if v != "" {
			vs = append(vs, v)
		}
	}
	return vs
}
