package sdk

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"slices"
)

// ResourceDef declares a resource type whose configuration is C and whose
// instances are I (the type Resource.Open returns, usually a pointer).
type ResourceDef[C any, I Instance] struct {
	// Name is the first label of the resource block.
	Name string
	// Description says what the resource is, in one sentence.
	Description string
	// Capabilities are the typed data paths the type supports. A type
	// with CapabilityKV must declare every operation of KVOperations
	// with its arguments (and PubSubOperations for CapabilityPubSub); a
	// type with CapabilitySQL gets the operations of SQLOperations,
	// which the host answers through the instance's SQLInstance.
	Capabilities []string
	// Pooling says how the host pools the type's instances. The zero
	// value means PoolingShared.
	Pooling Pooling
	// Configure prepares one resource named name from its configuration,
	// decoded and validated.
	Configure func(ctx context.Context, name string, cfg C) (Resource, error)
	// Operations are what the type's instances answer.
	Operations []Op[I]
}

// TypeDef is a resource type for [NewDriver]: a [ResourceDef] of any
// configuration and instance.
type TypeDef interface {
	spec() (*typeSpec, error)
}

// typeSpec is what a driver needs of one of its types.
type typeSpec struct {
	info      ResourceType
	validate  func(ctx context.Context, req ValidateRequest) error
	configure func(ctx context.Context, req ConfigureRequest) (Resource, error)
}

func (t ResourceDef[C, I]) spec() (*typeSpec, error) {
	if t.Name == "" {
		return nil, errors.New("a type without a name")
	}
	if t.Configure == nil {
		return nil, fmt.Errorf("type %q has no Configure", t.Name)
	}
	var cfg C
	config, err := SchemaFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("type %q: configuration: %w", t.Name, err)
	}
	info := ResourceType{
		Name: t.Name, Description: t.Description, Config: config,
		Capabilities: slices.Clone(t.Capabilities), Pooling: t.Pooling,
		dispatch: map[string]*typedOp{},
	}
	for _, op := range t.Operations {
		if op.op.Name == "" {
			return nil, fmt.Errorf("type %q: an operation without a name (make operations with NewOp or NewStreamOp)", t.Name)
		}
		if _, dup := info.dispatch[op.op.Name]; dup {
			return nil, fmt.Errorf("type %q: operation %q declared twice", t.Name, op.op.Name)
		}
		if op.err != nil {
			return nil, fmt.Errorf("type %q: operation %q: %w", t.Name, op.op.Name, op.err)
		}
		info.Operations = append(info.Operations, op.op)
		info.dispatch[op.op.Name] = &typedOp{
			invoke: op.invoke, stream: op.stream,
		}
	}
	if err := addCapabilityOperations(&info); err != nil {
		return nil, fmt.Errorf("type %q: %w", t.Name, err)
	}
	decode := func(raw json.RawMessage) (C, error) {
		var cfg C
		if err := Decode(raw, &cfg); err != nil {
			return cfg, err
		}
		return cfg, validate(&cfg)
	}
	return &typeSpec{
		info: info,
		validate: func(_ context.Context, req ValidateRequest) error {
			_, err := decode(req.Config)
			return err
		},
		configure: func(ctx context.Context, req ConfigureRequest) (Resource, error) {
			cfg, err := decode(req.Config)
			if err != nil {
				return nil, WrapError(KindInvalidArgument, err, fmt.Sprintf("invalid configuration of %s resource %s", t.Name, req.Name))
			}
			return t.Configure(ctx, req.Name, cfg)
		},
	}, nil
}

// addCapabilityOperations checks that a type declares the operations its
// capabilities require, with their arguments, and adds those the host
// answers for it (SQL's).
func addCapabilityOperations(t *ResourceType) error {
	for _, c := range t.Capabilities {
		var want []Operation
		switch c {
		case CapabilityKV:
			want = KVOperations()
		case CapabilityPubSub:
			want = PubSubOperations()
		case CapabilityBlob:
			want = BlobOperations()
		case CapabilityBlobPresign:
			want = BlobPresignOperations()
		case CapabilityBlobURLGet:
			want = BlobURLGetOperations()
		case CapabilityDocument:
			want = DocumentOperations()
		case CapabilitySQL:
			for _, op := range SQLOperations() {
				if _, ok := t.Operation(op.Name); ok {
					return fmt.Errorf("operation %q is the sql capability's, which the host answers: give the type's own another name", op.Name)
				}
			}
			*t = t.WithSQLOperations()
			continue
		default:
			continue
		}
		for _, w := range want {
			i := slices.IndexFunc(t.Operations, func(op Operation) bool { return op.Name == w.Name })
			if i < 0 {
				return fmt.Errorf("capability %q needs operation %q", c, w.Name)
			}
			got := &t.Operations[i]
			if !reflect.DeepEqual(got.Args, w.Args) || got.Stream != w.Stream {
				return fmt.Errorf("capability %q: operation %q must take the capability's arguments and stream as it says", c, w.Name)
			}
			// The capability says what the operation does and whether it
			// is safe to retry, unless the type says more.
			got.Description = cmp.Or(got.Description, w.Description)
			got.Idempotent = got.Idempotent || w.Idempotent
		}
	}
	return nil
}

// Op is an operation of instances of type I, made by [NewOp] or
// [NewStreamOp].
type Op[I any] struct {
	op     Operation
	err    error // why the operation cannot be declared
	invoke func(ctx context.Context, inst Instance, args json.RawMessage) (any, error)
	stream func(ctx context.Context, inst Instance, args json.RawMessage, in io.Reader, out io.Writer) (any, error)
}

// Idempotent marks the operation as safe to retry after a retryable
// error: the host retries only idempotent operations.
func (o Op[I]) Idempotent() Op[I] {
	o.op.Idempotent = true
	return o
}

// IdempotentIf makes the calls that give the operation's string argument
// arg one of values safe to retry (see [Operation.IdempotentIf]): an HTTP
// request whose method is GET. The argument must be declared, as a
// string.
func (o Op[I]) IdempotentIf(arg string, values ...string) Op[I] {
	a, ok := o.op.Args.Attribute(arg)
	switch {
	case o.err != nil:
	case !ok:
		o.err = fmt.Errorf("IdempotentIf names the argument %q, which the operation does not declare", arg)
	case a.Type.Kind != TypeString:
		o.err = fmt.Errorf("IdempotentIf names the argument %q, which is a %s, not a string", arg, a.Type)
	case len(values) == 0:
		o.err = fmt.Errorf("IdempotentIf on the argument %q names no values", arg)
	}
	o.op.IdempotentIf = &ArgIn{Arg: arg, Values: values}
	return o
}

// NewOp declares an operation named name whose arguments are A and whose
// result is R (encoded as JSON for the caller), performed by fn, usually a
// method expression such as (*Instance).Get.
func NewOp[I, A, R any](name, description string, fn func(I, context.Context, A) (R, error)) Op[I] {
	o := Op[I]{op: Operation{Name: name, Description: description}}
	var args A
	if o.op.Args, o.err = SchemaFor(args); o.err != nil {
		return o
	}
	o.invoke = func(ctx context.Context, inst Instance, raw json.RawMessage) (any, error) {
		i, a, err := typedCall[I, A](inst, name, raw)
		if err != nil {
			return nil, err
		}
		return fn(i, ctx, a)
	}
	return o
}

// NewStreamOp declares an operation that streams bytes the way mode
// says: fn reads what the caller sends from in (up to io.EOF) and writes
// what it sends back to out, one chunk per Write, and returns the
// operation's result, which the caller gets after the last chunk.
func NewStreamOp[I, A, R any](name, description string, mode StreamMode, fn func(I, context.Context, A, io.Reader, io.Writer) (R, error)) Op[I] {
	o := Op[I]{op: Operation{Name: name, Description: description, Stream: mode}}
	if mode == StreamNone {
		o.err = errors.New("a stream operation needs a StreamMode other than StreamNone (use NewOp)")
		return o
	}
	var args A
	if o.op.Args, o.err = SchemaFor(args); o.err != nil {
		return o
	}
	o.stream = func(ctx context.Context, inst Instance, raw json.RawMessage, in io.Reader, out io.Writer) (any, error) {
		i, a, err := typedCall[I, A](inst, name, raw)
		if err != nil {
			return nil, err
		}
		return fn(i, ctx, a, in, out)
	}
	return o
}

// typedCall returns the instance as I and the arguments decoded and
// validated.
func typedCall[I, A any](inst Instance, op string, raw json.RawMessage) (I, A, error) {
	var a A
	i, ok := inst.(I)
	if !ok {
		var want I
		return i, a, Errorf(KindInternal, "operation %q is declared for instances of type %T, but the instance is a %T (a wrapper of instances implements Invoke and calls the type's Invoke with the instance it wraps)", op, want, inst)
	}
	err := decodeArgs(raw, &a)
	return i, a, err
}

// decodeArgs decodes an operation's arguments into a, a pointer to its
// argument struct, and validates them.
func decodeArgs(raw json.RawMessage, a any) error {
	var err error
	if d, ok := a.(ArgsDecoder); ok {
		err = d.DecodeArgs(raw)
	} else {
		err = Decode(raw, a)
	}
	if err != nil {
		return err
	}
	return validateArgs(a)
}

// ArgsDecoder is implemented by argument structs, through their pointer,
// that read their JSON themselves rather than with [Decode]: an operation
// whose arguments run to megabytes may read the common case in one pass.
// The operation still publishes the schema of the struct's tags, and
// DecodeArgs must take and refuse what Decode would, with Decode's errors
// (it may call Decode for what it does not read itself). Validate runs
// after it as after Decode.
type ArgsDecoder interface {
	DecodeArgs(raw json.RawMessage) error
}

// validate runs v's Validate method, if it has one.
func validate(v any) error {
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

// validateArgs runs the Validate method of a call's arguments, if they
// have one; an error that has no kind of its own is invalid_argument.
func validateArgs(v any) error {
	err := validate(v)
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	return WrapError(KindInvalidArgument, err, "invalid arguments")
}

// typedOp is how a type declared with the typed API performs one of its
// operations.
type typedOp struct {
	invoke func(ctx context.Context, inst Instance, args json.RawMessage) (any, error)
	stream func(ctx context.Context, inst Instance, args json.RawMessage, in io.Reader, out io.Writer) (any, error)
}

// Invoke performs the operation req names on inst, an instance of the
// type: through the instance's own Invoke when it has one ([Invoker]: an
// instance that routes its operations itself, the host's view of an
// instance in a plugin, or a wrapper around another instance), and
// through the type's typed operations otherwise.
func (t ResourceType) Invoke(ctx context.Context, inst Instance, req InvokeRequest) (any, error) {
	if inv, ok := inst.(Invoker); ok {
		return inv.Invoke(ctx, req)
	}
	if op := t.dispatch[req.Operation]; op != nil {
		if op.invoke == nil {
			return nil, Errorf(KindInvalidArgument, "operation %q streams: call it with InvokeStream", req.Operation)
		}
		return op.invoke(ctx, inst, req.Args)
	}
	return nil, Errorf(KindUnimplemented, "resource type %q has no operation %q", t.Name, req.Operation)
}

// InvokeStream performs the streaming operation req names on inst: see
// [ResourceType.Invoke] and [StreamInvoker].
func (t ResourceType) InvokeStream(ctx context.Context, inst Instance, req InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	if si, ok := inst.(StreamInvoker); ok {
		return si.InvokeStream(ctx, req, in, out)
	}
	if op := t.dispatch[req.Operation]; op != nil {
		if op.stream == nil {
			return nil, Errorf(KindInvalidArgument, "operation %q does not stream: call it with Invoke", req.Operation)
		}
		return op.stream(ctx, inst, req.Args, in, out)
	}
	return nil, Errorf(KindUnimplemented, "resource type %q has no streaming operation %q", t.Name, req.Operation)
}

// Streams reports whether the type has streaming operations that inst
// can perform.
func (t ResourceType) Streams(inst Instance) bool {
	for _, op := range t.dispatch {
		if op.stream != nil {
			return true
		}
	}
	_, ok := inst.(StreamInvoker)
	return ok
}

// NewDriver returns a driver named name, of the given version (with ""
// the binary's, [BuildVersion]), that offers types. It panics when a type is declared wrongly (no name, a
// configuration or argument struct whose schema cannot be made, an
// operation declared twice, a capability's operation missing), a
// mistake any test that calls it finds.
func NewDriver(name, version string, types ...TypeDef) Driver {
	d := &typedDriver{info: DriverInfo{Name: name, Version: cmp.Or(version, BuildVersion())}, types: map[string]*typeSpec{}}
	for _, t := range types {
		s, err := t.spec()
		if err != nil {
			panic(fmt.Sprintf("sdk.NewDriver(%q): %v", name, err))
		}
		if _, dup := d.types[s.info.Name]; dup {
			panic(fmt.Sprintf("sdk.NewDriver(%q): type %q declared twice", name, s.info.Name))
		}
		d.types[s.info.Name] = s
		d.info.Types = append(d.info.Types, s.info)
	}
	return d
}

// typedDriver is the driver NewDriver makes.
type typedDriver struct {
	info  DriverInfo
	types map[string]*typeSpec
}

func (d *typedDriver) Info() DriverInfo {
	info := d.info
	info.Types = slices.Clone(d.info.Types)
	return info
}

func (d *typedDriver) spec(typ string) (*typeSpec, error) {
	if s, ok := d.types[typ]; ok {
		return s, nil
	}
	return nil, Errorf(KindInvalidArgument, "%s driver has no resource type %q", d.info.Name, typ)
}

func (d *typedDriver) ValidateConfig(ctx context.Context, req ValidateRequest) error {
	s, err := d.spec(req.Type)
	if err != nil {
		return err
	}
	return s.validate(ctx, req)
}

func (d *typedDriver) Configure(ctx context.Context, req ConfigureRequest) (Resource, error) {
	s, err := d.spec(req.Type)
	if err != nil {
		return nil, err
	}
	return s.configure(ctx, req)
}

var _ ConfigValidator = (*typedDriver)(nil)

// PingArgs are the arguments of a ping operation: none.
type PingArgs struct{}

// PingResult is the result of a ping operation.
type PingResult struct {
	OK bool `json:"ok"`
}

// PingOp is the operation "ping" that a type offers to check its session
// on demand: it runs the instance's Check and returns {"ok": true}, or
// Check's error.
func PingOp[I Instance](description string) Op[I] {
	return NewOp("ping", description, func(i I, ctx context.Context, _ PingArgs) (PingResult, error) {
		if err := i.Check(ctx); err != nil {
			return PingResult{}, err
		}
		return PingResult{OK: true}, nil
	}).Idempotent()
}

// BuildVersion is the version of the running binary's main module, from
// its build information: the module version when it was built with go
// install module@version (or from a tagged checkout with VCS stamps), or
// "dev". [NewDriver] uses it for a driver given no version.
func BuildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
