package config

import "os"

// Option configures Load.
type Option func(*options)

type options struct {
	vars      map[string]string
	lookupEnv func(string) (string, bool)
}

// WithVariables sets variable values, like terraform's -var name=value. A
// value for a string (or untyped) variable is taken as is; for any other
// type the text is parsed as an HCL expression, such as 8080, true or
// ["a", "b"]. These values take precedence over NEBULA_VAR_<name> and the
// variable's default. A value for an undeclared variable is an error.
func WithVariables(vals map[string]string) Option {
	return func(o *options) {
		if o.vars == nil {
			o.vars = make(map[string]string, len(vals))
		}
		for k, v := range vals {
			o.vars[k] = v
		}
	}
}

// WithEnviron sets how environment variables are looked up, for env() and
// for NEBULA_VAR_<name> variable values. The default is os.LookupEnv.
func WithEnviron(lookup func(string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = lookup }
}

func buildOptions(opts []Option) *options {
	o := &options{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(o)
	}
	if o.lookupEnv == nil {
		o.lookupEnv = os.LookupEnv
	}
	return o
}
