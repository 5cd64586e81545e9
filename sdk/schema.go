package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TypeKind names a schema type.
type TypeKind string

// The schema types. Durations are written as strings such as "1.5s" or
// "250ms" (time.ParseDuration syntax).
const (
	TypeString   TypeKind = "string"
	TypeInt      TypeKind = "int"
	TypeFloat    TypeKind = "float"
	TypeBool     TypeKind = "bool"
	TypeDuration TypeKind = "duration"
	TypeList     TypeKind = "list"
	TypeMap      TypeKind = "map"
	// TypeJSON is any JSON value: an object, a list, a string, a number,
	// a bool. A field of type json.RawMessage has it, and gets the value's
	// JSON text as it came: for values whose shape the schema cannot say,
	// such as a document or a filter (MongoDB's Extended JSON).
	TypeJSON TypeKind = "json"
)

// Type is the type of a schema attribute.
type Type struct {
	Kind TypeKind
	// Elem is the element type of a list or map; nil otherwise.
	Elem *Type
}

// The scalar types.
var (
	String   = Type{Kind: TypeString}
	Int      = Type{Kind: TypeInt}
	Float    = Type{Kind: TypeFloat}
	Bool     = Type{Kind: TypeBool}
	Duration = Type{Kind: TypeDuration}
	JSON     = Type{Kind: TypeJSON}
)

// ListOf returns the type of a list whose elements have type elem.
func ListOf(elem Type) Type { return Type{Kind: TypeList, Elem: &elem} }

// MapOf returns the type of a map from strings to elem.
func MapOf(elem Type) Type { return Type{Kind: TypeMap, Elem: &elem} }

// String returns the type as HCL users write it, for example "list(string)".
func (t Type) String() string {
	if t.Elem != nil {
		return string(t.Kind) + "(" + t.Elem.String() + ")"
	}
	return string(t.Kind)
}

// Attribute is one setting of a resource configuration or one argument of
// an operation.
type Attribute struct {
	Name string
	Type Type
	// Required attributes must be set. An optional attribute that is not
	// set takes Default, or is absent when Default is nil.
	Required bool
	// Default is the value, as JSON, that an unset optional attribute
	// takes.
	Default json.RawMessage
	// Sensitive values (passwords, tokens) are never logged, printed or
	// put in errors by the host or the SDK.
	Sensitive bool
	// Description says what the attribute does, in one sentence.
	Description string
}

// Schema describes a JSON object: a resource's configuration or an
// operation's arguments.
type Schema struct {
	Attributes []Attribute
}

// Attribute returns the attribute with the given name.
func (s Schema) Attribute(name string) (Attribute, bool) {
	for _, a := range s.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Names returns the attribute names, sorted.
func (s Schema) Names() []string {
	names := make([]string, len(s.Attributes))
	for i, a := range s.Attributes {
		names[i] = a.Name
	}
	sort.Strings(names)
	return names
}

// SchemaFor derives a schema from a struct (or a pointer to one). Each
// exported field with a `nebula` tag becomes an attribute:
//
//	type Config struct {
//		Address  string        `nebula:"address,required" doc:"Server address, host:port."`
//		Password string        `nebula:"password,sensitive" doc:"Password for AUTH."`
//		Timeout  time.Duration `nebula:"timeout" default:"5s" doc:"Dial timeout."`
//		Tags     []string      `nebula:"tags"`
//	}
//
// The tag holds the attribute name, then the options "required" and
// "sensitive". The `default` tag holds the default: plain text for strings,
// numbers, booleans and durations, JSON for lists and maps. The `doc` tag
// holds the description. Supported field types are string, bool, the integer
// and float types, time.Duration, and slices and string-keyed maps of those.
// Fields without a nebula tag are ignored.
func SchemaFor(v any) (Schema, error) {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return Schema{}, fmt.Errorf("sdk: SchemaFor needs a struct, got %T", v)
	}
	var s Schema
	seen := map[string]bool{}
	for _, f := range fieldsOf(t) {
		typ, err := schemaType(f.field.Type)
		if err != nil {
			return Schema{}, fmt.Errorf("sdk: field %s.%s: %w", t.Name(), f.field.Name, err)
		}
		if seen[f.name] {
			return Schema{}, fmt.Errorf("sdk: field %s.%s: attribute %q defined twice", t.Name(), f.field.Name, f.name)
		}
		seen[f.name] = true
		a := Attribute{
			Name:        f.name,
			Type:        typ,
			Required:    f.required,
			Sensitive:   f.sensitive,
			Description: f.field.Tag.Get("doc"),
		}
		if def, ok := f.field.Tag.Lookup("default"); ok {
			if f.required {
				return Schema{}, fmt.Errorf("sdk: field %s.%s: a required attribute cannot have a default", t.Name(), f.field.Name)
			}
			raw, err := defaultJSON(typ, def)
			if err != nil {
				return Schema{}, fmt.Errorf("sdk: field %s.%s: default %q: %w", t.Name(), f.field.Name, def, err)
			}
			a.Default = raw
		}
		s.Attributes = append(s.Attributes, a)
	}
	return s, nil
}

// MustSchemaFor is like [SchemaFor] but panics on error. It is meant for
// package-level variables, where a bad tag is a programming error.
func MustSchemaFor(v any) Schema {
	s, err := SchemaFor(v)
	if err != nil {
		panic(err)
	}
	return s
}

type taggedField struct {
	field     reflect.StructField
	index     []int
	name      string
	required  bool
	sensitive bool
}

// fieldCache holds fieldsOf's answer per struct type: Decode runs at
// every call of an operation, and reading the tags each time cost half of
// its bytes allocated (BenchmarkDecodeArguments: 4,840 B and 68
// allocations per call without the cache, 2,272 B and 50 with it).
var fieldCache sync.Map // reflect.Type → []taggedField

// fieldsOf returns the tagged fields of t, with those of its embedded
// structs that have no nebula tag of their own, as if they were t's: a
// driver's configuration may embed a shared part (an HTTP transport's).
// The slice is shared: callers must not change it.
func fieldsOf(t reflect.Type) []taggedField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]taggedField)
	}
	f, _ := fieldCache.LoadOrStore(t, readFields(t))
	return f.([]taggedField)
}

func readFields(t reflect.Type) []taggedField {
	var out []taggedField
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("nebula")
		if !ok && f.Anonymous && f.Type.Kind() == reflect.Struct {
			for _, inner := range readFields(f.Type) {
				inner.index = append([]int{i}, inner.index...)
				out = append(out, inner)
			}
			continue
		}
		if !ok || !f.IsExported() || tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		tf := taggedField{field: f, index: []int{i}, name: parts[0]}
		for _, opt := range parts[1:] {
			switch opt {
			case "required":
				tf.required = true
			case "sensitive":
				tf.sensitive = true
			}
		}
		out = append(out, tf)
	}
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	rawJSONType  = reflect.TypeFor[json.RawMessage]()
)

func schemaType(t reflect.Type) (Type, error) {
	switch t {
	case durationType:
		return Duration, nil
	case rawJSONType:
		return JSON, nil
	}
	switch t.Kind() {
	case reflect.String:
		return String, nil
	case reflect.Bool:
		return Bool, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Int, nil
	case reflect.Float32, reflect.Float64:
		return Float, nil
	case reflect.Slice:
		elem, err := schemaType(t.Elem())
		if err != nil {
			return Type{}, err
		}
		return ListOf(elem), nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return Type{}, fmt.Errorf("map keys must be strings, not %s", t.Key())
		}
		elem, err := schemaType(t.Elem())
		if err != nil {
			return Type{}, err
		}
		return MapOf(elem), nil
	}
	return Type{}, fmt.Errorf("unsupported type %s", t)
}

func defaultJSON(t Type, def string) (json.RawMessage, error) {
	var v any
	switch t.Kind {
	case TypeString:
		v = def
	case TypeDuration:
		if _, err := time.ParseDuration(def); err != nil {
			return nil, err
		}
		v = def
	case TypeInt:
		n, err := strconv.ParseInt(def, 10, 64)
		if err != nil {
			return nil, err
		}
		v = n
	case TypeFloat:
		f, err := strconv.ParseFloat(def, 64)
		if err != nil {
			return nil, err
		}
		v = f
	case TypeBool:
		b, err := strconv.ParseBool(def)
		if err != nil {
			return nil, err
		}
		v = b
	default:
		if err := CheckValue(t, json.RawMessage(def)); err != nil {
			return nil, err
		}
		return json.RawMessage(def), nil
	}
	return json.Marshal(v)
}

// CheckValue reports whether raw is a JSON value of type t.
func CheckValue(t Type, raw json.RawMessage) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return err
	}
	return checkValue(t, v)
}

func checkValue(t Type, v any) error {
	if v == nil {
		return nil
	}
	bad := func() error { return fmt.Errorf("want %s, got %s", t, jsonKind(v)) }
	switch t.Kind {
	case TypeString:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case TypeDuration:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("want a duration such as \"1.5s\" or \"250ms\", got %s", QuoteShort(s))
		}
	case TypeBool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case TypeInt:
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		if _, err := n.Int64(); err != nil {
			return fmt.Errorf("want a whole number, got %s", QuoteShort(n.String()))
		}
	case TypeFloat:
		if _, ok := v.(json.Number); !ok {
			return bad()
		}
	case TypeList:
		l, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, e := range l {
			if err := checkValue(*t.Elem, e); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
	case TypeJSON:
		// Any value: CheckValue has decoded it.
	case TypeMap:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		for k, e := range m {
			if err := checkValue(*t.Elem, e); err != nil {
				return fmt.Errorf("key %s: %w", QuoteShort(k), err)
			}
		}
	default:
		return fmt.Errorf("unknown type %q", t.Kind)
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a bool"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// Decode decodes a JSON object into v, a pointer to a struct tagged as
// described at [SchemaFor]. Unset optional fields take their defaults.
// Errors are of kind [KindInvalidArgument] and name the attribute; they
// never quote the value of a sensitive one.
func Decode(data json.RawMessage, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("sdk: Decode needs a pointer to a struct, got %T", v)
	}
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(data)) > 0 && !bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		if err := json.Unmarshal(data, &obj); err != nil {
			return Errorf(KindInvalidArgument, "want a JSON object: %v", err)
		}
	}
	st := rv.Elem()
	known := map[string]bool{}
	var errs []error
	for _, f := range fieldsOf(st.Type()) {
		known[f.name] = true
		raw, ok := obj[f.name]
		if !ok || bytes.Equal(raw, []byte("null")) {
			if f.required {
				errs = append(errs, &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("attribute %q is required", f.name)})
				continue
			}
			def, ok := f.field.Tag.Lookup("default")
			if !ok {
				continue
			}
			typ, err := schemaType(f.field.Type)
			if err != nil {
				return err
			}
			if raw, err = defaultJSON(typ, def); err != nil {
				return err
			}
		}
		if err := decodeValue(st.FieldByIndex(f.index), raw); err != nil {
			msg := fmt.Sprintf("attribute %q: %v", f.name, err)
			if f.sensitive {
				msg = fmt.Sprintf("attribute %q: value of the wrong type (sensitive value not shown)", f.name)
			}
			errs = append(errs, &Error{Kind: KindInvalidArgument, Message: msg})
		}
	}
	var unknown []string
	for k := range obj {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, &Error{Kind: KindInvalidArgument, Message: fmt.Sprintf("unknown attribute %q", k)})
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &Error{Kind: KindInvalidArgument, Message: strings.Join(msgs, "; ")}
}

func decodeValue(v reflect.Value, raw json.RawMessage) error {
	if v.Type() == rawJSONType {
		if !json.Valid(raw) {
			return errors.New("want a JSON value")
		}
		v.SetBytes(bytes.Clone(raw))
		return nil
	}
	if v.Type() == durationType {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return errors.New("want a duration string such as \"1.5s\"")
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as \"1.5s\" or \"250ms\", got %s", QuoteShort(s))
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return errors.New("want a list")
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			if err := decodeValue(s.Index(i), item); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return errors.New("want an object")
		}
		m := reflect.MakeMapWithSize(v.Type(), len(items))
		for k, item := range items {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(e, item); err != nil {
				return fmt.Errorf("key %s: %w", QuoteShort(k), err)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
		return nil
	}
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("want %s, got a %s", v.Type(), te.Value)
		}
		return err
	}
	return nil
}
