package config

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the functions available in every expression, except
// file, which depends on the file the call is in (see fileFunc).
func functions(lookupEnv func(string) (string, bool)) map[string]function.Function {
	return map[string]function.Function{
		"env":          envFunc(lookupEnv),
		"upper":        stdlib.UpperFunc,
		"lower":        stdlib.LowerFunc,
		"format":       stdlib.FormatFunc,
		"join":         stdlib.JoinFunc,
		"split":        stdlib.SplitFunc,
		"trimspace":    stdlib.TrimSpaceFunc,
		"jsonencode":   stdlib.JSONEncodeFunc,
		"jsondecode":   stdlib.JSONDecodeFunc,
		"coalesce":     stdlib.CoalesceFunc,
		"concat":       stdlib.ConcatFunc,
		"replace":      stdlib.ReplaceFunc,
		"length":       lengthFunc,
		"tostring":     stdlib.MakeToFunc(cty.String),
		"tonumber":     stdlib.MakeToFunc(cty.Number),
		"tobool":       stdlib.MakeToFunc(cty.Bool),
		"base64encode": base64EncodeFunc,
		"base64decode": base64DecodeFunc,
	}
}

// envFunc returns env(name) and env(name, default): the value of an
// environment variable, or default when it is unset. Without a default, an
// unset variable is an error naming it.
func envFunc(lookupEnv func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type: func(args []cty.Value) (cty.Type, error) {
			if len(args) > 2 {
				return cty.NilType, function.NewArgErrorf(2, "env takes a name and at most one default, as env(\"NAME\") or env(\"NAME\", \"default\")")
			}
			return cty.String, nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if v, ok := lookupEnv(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, function.NewArgErrorf(0, "environment variable %q is not set; set it, or give a default as in env(%q, \"...\")", name, name)
		},
	})
}

// fileFunc returns file(path): the contents of a UTF-8 text file, with a
// relative path taken from dir, the directory of filename, the file that
// holds the call.
func fileFunc(filename string) function.Function {
	dir := filepath.Dir(filename)
	return function.New(&function.Spec{
		Description: "Returns the contents of a text file. A relative path starts at the directory of the configuration file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			full := p
			if !filepath.IsAbs(p) {
				full = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(full)
			if err != nil {
				reason := "cannot read it"
				var pe *fs.PathError
				switch {
				case errors.Is(err, fs.ErrNotExist):
					reason = "no such file"
				case errors.As(err, &pe):
					reason = pe.Err.Error()
				}
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %q (%s): %s; relative paths start at the directory of %s", p, full, reason, filename)
			}
			if !utf8.Valid(b) {
				return cty.NilVal, function.NewArgErrorf(0, "%q is not UTF-8 text; file reads text files only", p)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// lengthFunc returns length(value): the number of characters of a string,
// or of elements of a list, map or object.
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters in a string, or of elements in a list, map or object.",
	Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.String, ty.IsCollectionType(), ty.IsTupleType(), ty.IsObjectType(), ty == cty.DynamicPseudoType:
			return cty.Number, nil
		}
		return cty.NilType, function.NewArgErrorf(0, "length wants a string, list, map or object, got %s", friendly(ty))
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		switch ty := v.Type(); {
		case ty == cty.String:
			return stdlib.Strlen(v)
		case ty.IsObjectType():
			return cty.NumberIntVal(int64(len(ty.AttributeTypes()))), nil
		}
		return v.Length(), nil
	},
})

// base64EncodeFunc returns base64encode(text): text in standard base64.
var base64EncodeFunc = function.New(&function.Spec{
	Description: "Encodes a string with standard base64.",
	Params:      []function.Parameter{{Name: "text", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

// base64DecodeFunc returns base64decode(text): the UTF-8 text that text
// encodes in standard base64.
var base64DecodeFunc = function.New(&function.Spec{
	Description: "Decodes a standard base64 string holding UTF-8 text.",
	Params:      []function.Parameter{{Name: "text", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				return cty.NilVal, function.NewArgErrorf(0, "not valid base64: bad character at offset %d", int64(ce))
			}
			return cty.NilVal, function.NewArgErrorf(0, "not valid base64")
		}
		if !utf8.Valid(b) {
			return cty.NilVal, function.NewArgErrorf(0, "the decoded bytes are not UTF-8 text")
		}
		return cty.StringVal(string(b)), nil
	},
})
