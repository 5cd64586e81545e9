package config

import (
	"fmt"
	"math/big"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// attrDecoder decodes the attributes of one of the host's own blocks into Go
// values, collecting diagnostics. Absent and null attributes leave the
// destination unchanged.
type attrDecoder struct {
	ev    *evaluator
	attrs hcl.Attributes
	diags hcl.Diagnostics
}

// value evaluates the named attribute and converts it to ty; want names ty
// for diagnostics. ok is false when the attribute is absent, null, unknown
// or invalid (the last with a diagnostic). secret reports whether the value
// came from a sensitive variable, in which case it must not be shown.
func (d *attrDecoder) value(name string, ty cty.Type, want string) (val cty.Value, attr *hcl.Attribute, secret, ok bool) {
	attr, present := d.attrs[name]
	if !present {
		return cty.NilVal, nil, false, false
	}
	v, diags := d.ev.eval(attr.Expr)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, attr, false, false
	}
	secret = v.ContainsMarked()
	v, _ = v.UnmarkDeep()
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.diags = append(d.diags, wrongType(name, want, v.Type(), attr.Expr.Range()))
		return cty.NilVal, attr, secret, false
	}
	return cv, attr, secret, true
}

func (d *attrDecoder) errorf(attr *hcl.Attribute, summary, format string, args ...any) {
	d.diags = append(d.diags, errorAt(attr.Expr.Range(), summary, fmt.Sprintf(format, args...)))
}

// byteSize decodes a size in bytes: a whole number of bytes, or a string
// such as "16MiB", "512 KiB" or "20MB" (powers of 1024 for KiB, MiB and
// GiB, of 1000 for kB, MB and GB), from 1 byte to 1 GiB.
func (d *attrDecoder) byteSize(name string, dst *int) *hcl.Attribute {
	v, attr, secret, ok := d.value(name, cty.String, "size, such as \"16MiB\"")
	if !ok {
		return nil
	}
	s := v.AsString()
	n, err := humanize.ParseBytes(s)
	if err != nil || n < 1 || n > maxMaxMessageSize {
		shown := ""
		if !secret {
			shown = fmt.Sprintf(" %q", s)
		}
		d.errorf(attr, "Invalid size", "Attribute %q:%s is not a size from 1 byte to 1GiB; write a number of bytes or a size such as \"16MiB\" or \"512KiB\".", name, shown)
		return nil
	}
	*dst = int(n)
	return attr
}

// string decodes a string attribute.
func (d *attrDecoder) string(name string, dst *string) *hcl.Attribute {
	v, attr, _, ok := d.value(name, cty.String, "string")
	if !ok {
		return nil
	}
	*dst = v.AsString()
	return attr
}

// path decodes a string attribute holding a file path, resolved relative to
// the directory of the file the attribute is in and made absolute.
func (d *attrDecoder) path(name string, dst *string) *hcl.Attribute {
	var p string
	attr := d.string(name, &p)
	if attr == nil {
		return nil
	}
	if p == "" {
		d.errorf(attr, "Invalid path", "Attribute %q wants a file path, got an empty string.", name)
		return nil
	}
	*dst = resolvePath(attr.Range.Filename, p)
	return attr
}

// resolvePath resolves p relative to the directory of filename.
func resolvePath(filename, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(filename), p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// bool decodes a bool attribute.
func (d *attrDecoder) bool(name string, dst *bool) *hcl.Attribute {
	v, attr, _, ok := d.value(name, cty.Bool, "bool")
	if !ok {
		return nil
	}
	*dst = v.True()
	return attr
}

// int decodes a non-negative whole number.
func (d *attrDecoder) int(name string, dst *int) *hcl.Attribute {
	v, attr, secret, ok := d.value(name, cty.Number, "int")
	if !ok {
		return nil
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	switch {
	case !bf.IsInt():
		d.errorf(attr, "Incorrect attribute value type", "Attribute %q wants a whole number%s.", name, got(bf.Text('g', -1), secret))
	case acc != big.Exact || int64(int(n)) != n:
		d.errorf(attr, "Invalid value", "Attribute %q is too large.", name)
	case n < 0:
		d.errorf(attr, "Invalid value", "Attribute %q must not be negative%s.", name, got(bf.Text('g', -1), secret))
	default:
		*dst = int(n)
		return attr
	}
	return nil
}

// atLeastOne reports an attribute decoded by int whose value is 0 where
// only a positive count makes sense.
func (d *attrDecoder) atLeastOne(attr *hcl.Attribute, n int) {
	if attr != nil && n == 0 {
		d.errorf(attr, "Invalid value", "Attribute %q must be at least 1.", attr.Name)
	}
}

// float decodes a non-negative number.
func (d *attrDecoder) float(name string, dst *float64) *hcl.Attribute {
	v, attr, secret, ok := d.value(name, cty.Number, "float")
	if !ok {
		return nil
	}
	bf := v.AsBigFloat()
	f, _ := bf.Float64()
	switch {
	case bf.IsInf():
		d.errorf(attr, "Invalid value", "Attribute %q wants a finite number.", name)
	case f < 0:
		d.errorf(attr, "Invalid value", "Attribute %q must not be negative%s.", name, got(bf.Text('g', -1), secret))
	default:
		*dst = f
		return attr
	}
	return nil
}

// duration decodes a non-negative duration written as a string.
func (d *attrDecoder) duration(name string, dst *time.Duration) *hcl.Attribute {
	v, attr, secret, ok := d.value(name, cty.String, "duration")
	if !ok {
		return nil
	}
	s := v.AsString()
	dur, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.errorf(attr, "Invalid duration", "%s", durationDetail(s, secret))
	case dur < 0:
		d.errorf(attr, "Invalid duration", "Attribute %q must not be negative%s.", name, got(fmt.Sprintf("%q", s), secret))
	default:
		*dst = dur
		return attr
	}
	return nil
}

// enum decodes a string that must be one of allowed.
func (d *attrDecoder) enum(name string, dst *string, allowed ...string) *hcl.Attribute {
	v, attr, secret, ok := d.value(name, cty.String, "string")
	if !ok {
		return nil
	}
	s := v.AsString()
	for _, a := range allowed {
		if s == a {
			*dst = s
			return attr
		}
	}
	if secret {
		d.errorf(attr, "Invalid value", "Attribute %q must be %s; the given value is sensitive and not shown.", name, quoteList(allowed))
		return nil
	}
	d.errorf(attr, "Invalid value", "Attribute %q must be %s, got %q.%s", name, quoteList(allowed), s, didYouMean(s, allowed))
	return nil
}

// strings decodes a list of strings.
func (d *attrDecoder) strings(name string, dst *[]string) *hcl.Attribute {
	v, attr, _, ok := d.value(name, cty.List(cty.String), "list(string)")
	if !ok {
		return nil
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			d.errorf(attr, "Invalid value", "Attribute %q must not contain null.", name)
			return nil
		}
		out = append(out, e.AsString())
	}
	*dst = out
	return attr
}

// stringMap decodes a map of strings.
func (d *attrDecoder) stringMap(name string, dst *map[string]string) *hcl.Attribute {
	v, attr, _, ok := d.value(name, cty.Map(cty.String), "map(string)")
	if !ok {
		return nil
	}
	out := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			d.errorf(attr, "Invalid value", "Attribute %q must not contain null values.", name)
			return nil
		}
		out[k.AsString()] = e.AsString()
	}
	*dst = out
	return attr
}

// got returns ", got <shown>", or "" when the value is secret.
func got(shown string, secret bool) string {
	if secret {
		return ""
	}
	return ", got " + shown
}
