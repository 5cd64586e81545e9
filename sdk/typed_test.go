package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The greeter is a driver on the typed API, as the package documentation
// shows one.

type greeterConfig struct {
	Greeting string `nebula:"greeting" default:"Hello" doc:"How to greet."`
	Limit    int    `nebula:"limit" default:"3" doc:"How many names one call may greet."`
}

func (c greeterConfig) Validate() error {
	var errs []error
	if c.Greeting == "" {
		errs = append(errs, sdk.AttributeError("greeting", "must not be empty", "Say how to greet, such as \"Hello\"."))
	}
	if c.Limit < 1 {
		errs = append(errs, sdk.AttributeError("limit", "must be at least 1", ""))
	}
	return errors.Join(errs...)
}

type greeterResource struct{ cfg greeterConfig }

func (r *greeterResource) Open(context.Context) (sdk.Instance, error) {
	return &greeterInstance{cfg: r.cfg}, nil
}
func (r *greeterResource) Close(context.Context) error { return nil }

type greeterInstance struct{ cfg greeterConfig }

func (i *greeterInstance) Check(context.Context) error { return nil }
func (i *greeterInstance) Close(context.Context) error { return nil }

type greetArgs struct {
	Names []string `nebula:"names,required" doc:"Who to greet."`
}

func (a greetArgs) Validate() error {
	if slices.Contains(a.Names, "") {
		return errors.New("a name is empty")
	}
	return nil
}

type greetResult struct {
	Messages []string `json:"messages"`
}

func (i *greeterInstance) greet(ctx context.Context, a greetArgs) (greetResult, error) {
	if err := ctx.Err(); err != nil {
		return greetResult{}, sdk.WrapError(sdk.KindOf(err), err, "greet")
	}
	if len(a.Names) > i.cfg.Limit {
		return greetResult{}, sdk.Errorf(sdk.KindInvalidArgument, "%d names, more than the limit of %d", len(a.Names), i.cfg.Limit)
	}
	var out greetResult
	for _, n := range a.Names {
		out.Messages = append(out.Messages, i.cfg.Greeting+", "+n)
	}
	return out, nil
}

type greeterEchoArgs struct {
	Prefix string `nebula:"prefix" doc:"Written before what the caller sends."`
}

type greeterEchoResult struct {
	Bytes int `json:"bytes"`
}

// echo streams back what it reads, after the prefix.
func (i *greeterInstance) echo(_ context.Context, a greeterEchoArgs, in io.Reader, out io.Writer) (greeterEchoResult, error) {
	data, err := io.ReadAll(in)
	if err != nil {
		return greeterEchoResult{}, err
	}
	if _, err := out.Write(append([]byte(a.Prefix), data...)); err != nil {
		return greeterEchoResult{}, err
	}
	return greeterEchoResult{Bytes: len(data)}, nil
}

var greeterType = sdk.ResourceDef[greeterConfig, *greeterInstance]{
	Name:        "greeter",
	Description: "Says hello.",
	Configure: func(_ context.Context, _ string, cfg greeterConfig) (sdk.Resource, error) {
		return &greeterResource{cfg: cfg}, nil
	},
	Operations: []sdk.Op[*greeterInstance]{
		sdk.NewOp("greet", "Greets people.", (*greeterInstance).greet).Idempotent(),
		// Echoing nothing again is harmless: IdempotentIf crosses the
		// wire in the conformance kit's InfoSurvivesTheWire.
		sdk.NewStreamOp("echo", "Sends back what it gets.", sdk.StreamDuplex, (*greeterInstance).echo).IdempotentIf("prefix", ""),
	},
}

func newGreeter() sdk.Driver { return sdk.NewDriver("greeter", "1.0.0", greeterType) }

func TestTypedDriverDescribesItsTypeFromTheStructs(t *testing.T) {
	info := newGreeter().Info()
	if err := sdktest.CheckInfo(info); err != nil {
		t.Fatal(err)
	}
	typ, ok := info.Type("greeter")
	if !ok {
		t.Fatalf("no type greeter in %+v", info)
	}
	if got := attrNames(typ.Config); !slices.Equal(got, []string{"greeting", "limit"}) {
		t.Errorf("config attributes %v", got)
	}
	greet, ok := typ.Operation("greet")
	if !ok || !greet.Idempotent || greet.Stream != sdk.StreamNone || !slices.Equal(attrNames(greet.Args), []string{"names"}) {
		t.Errorf("greet = %+v", greet)
	}
	echo, ok := typ.Operation("echo")
	if !ok || echo.Idempotent || echo.Stream != sdk.StreamDuplex {
		t.Errorf("echo = %+v", echo)
	}
}

func attrNames(s sdk.Schema) []string {
	var names []string
	for _, a := range s.Attributes {
		names = append(names, a.Name)
	}
	return names
}

func TestTypedDriverDecodesAndValidatesTheConfig(t *testing.T) {
	d := newGreeter()
	v := d.(sdk.ConfigValidator)
	if err := v.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "greeter", Name: "g", Config: json.RawMessage(`{"greeting":"Hi"}`)}); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	err := v.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "greeter", Name: "g", Config: json.RawMessage(`{"greeting":"","limit":0}`)})
	var attrs []string
	for _, e := range unjoin(err) {
		var ae *sdk.ConfigError
		if errors.As(e, &ae) {
			attrs = append(attrs, ae.Attribute)
		}
	}
	if !slices.Equal(attrs, []string{"greeting", "limit"}) {
		t.Errorf("Validate's errors name %v, want greeting and limit: %v", attrs, err)
	}
	if err := v.ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "greeter", Name: "g", Config: json.RawMessage(`{"greting":"Hi"}`)}); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Errorf("a misspelt attribute: %v, want invalid_argument", err)
	}
	if _, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "greeter", Name: "g", Config: json.RawMessage(`{"limit":-1}`)}); sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), "greeter resource g") {
		t.Errorf("Configure of an invalid config: %v, want invalid_argument naming the resource", err)
	}
	if _, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "gretter", Name: "g", Config: json.RawMessage(`{}`)}); sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), `"gretter"`) {
		t.Errorf("Configure of an unknown type: %v", err)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestTypedOperations calls the greeter in process and over the plugin
// protocol, as the host does.
func TestTypedOperations(t *testing.T) {
	for _, via := range []struct {
		name string
		d    func(t *testing.T) sdk.Driver
	}{
		{"in-process", func(*testing.T) sdk.Driver { return newGreeter() }},
		{"plugin-protocol", func(t *testing.T) sdk.Driver { return sdktest.Connect(t, newGreeter()) }},
	} {
		t.Run(via.name, func(t *testing.T) {
			inst := sdktest.Open(t, via.d(t), sdk.ConfigureRequest{Type: "greeter", Name: "g", Config: json.RawMessage(`{"greeting":"Hi","limit":2}`)})
			call := func(op, args string) (string, error) {
				res, err := inst.Invoke(t.Context(), sdk.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
				if err != nil {
					return "", err
				}
				raw, err := json.Marshal(res)
				if err != nil {
					t.Fatal(err)
				}
				return string(raw), nil
			}
			if got, err := call("greet", `{"names":["Ada","Alan"]}`); err != nil || got != `{"messages":["Hi, Ada","Hi, Alan"]}` {
				t.Errorf("greet = %s, %v", got, err)
			}
			for _, c := range []struct {
				name, op, args string
				want           sdk.Kind
				says           string
			}{
				{"over the limit", "greet", `{"names":["a","b","c"]}`, sdk.KindInvalidArgument, "limit of 2"},
				{"argument Validate", "greet", `{"names":["a",""]}`, sdk.KindInvalidArgument, "a name is empty"},
				{"required argument missing", "greet", `{}`, sdk.KindInvalidArgument, `"names" is required`},
				{"unknown argument", "greet", `{"names":["a"],"nmaes":1}`, sdk.KindInvalidArgument, "nmaes"},
				{"unknown operation", "wave", `{}`, sdk.KindUnimplemented, `"wave"`},
				{"a stream called without one", "echo", `{}`, sdk.KindInvalidArgument, "InvokeStream"},
			} {
				_, err := call(c.op, c.args)
				if sdk.KindOf(err) != c.want || err == nil || !strings.Contains(err.Error(), c.says) {
					t.Errorf("%s: %v, want %s saying %q", c.name, err, c.want, c.says)
				}
			}

			var out bytes.Buffer
			res, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "echo", Args: json.RawMessage(`{"prefix":">"}`)}, strings.NewReader("abc"), &out)
			if err != nil || out.String() != ">abc" {
				t.Fatalf("echo: %q, %v", out.String(), err)
			}
			if raw, _ := json.Marshal(res); string(raw) != `{"bytes":3}` {
				t.Errorf("echo's result %s", raw)
			}
			if _, err := inst.InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"names":["a"]}`)}, strings.NewReader(""), io.Discard); sdk.KindOf(err) != sdk.KindInvalidArgument {
				t.Errorf("greet as a stream: %v, want invalid_argument", err)
			}

			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := inst.Invoke(ctx, sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"names":["a"]}`)}); sdk.KindOf(err) != sdk.KindCanceled {
				t.Errorf("a canceled call: %v", err)
			}
		})
	}
}

func TestTypedDriverPassesTheConformanceKit(t *testing.T) {
	s := sdktest.Suite{
		Type:          "greeter",
		Config:        `{}`,
		InvalidConfig: `{"limit":0}`,
		Probe:         sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"names":["a"]}`)},
	}
	t.Run("in-process", func(t *testing.T) { sdktest.RunDriver(t, newGreeter(), s) })
}

// wrapped is a wrapper of the greeter's instances, as a test or a
// decorator makes one: it has an Invoke of its own, which performs the
// operations through the type with the instance it wraps.
type wrapped struct {
	sdk.Instance
	typ   sdk.ResourceType
	calls *int
}

func (w wrapped) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	*w.calls++
	return w.typ.Invoke(ctx, w.Instance, req)
}

func TestAWrapperOfTypedInstancesCallsThroughTheType(t *testing.T) {
	d := newGreeter()
	typ, _ := d.Info().Type("greeter")
	inst := sdktest.Open(t, d, sdk.ConfigureRequest{Type: "greeter", Name: "g", Config: json.RawMessage(`{}`)})
	n := 0
	w := wrapped{Instance: inst.Instance, typ: typ, calls: &n}
	if _, err := typ.Invoke(t.Context(), w, sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"names":["a"]}`)}); err != nil || n != 1 {
		t.Fatalf("through the wrapper: %v, %d calls", err, n)
	}
	// An instance of another type than the operations were declared for
	// is the driver's mistake, and the error says so.
	_, err := typ.Invoke(t.Context(), struct{ sdk.Instance }{inst.Instance}, sdk.InvokeRequest{Operation: "greet", Args: json.RawMessage(`{"names":["a"]}`)})
	if sdk.KindOf(err) != sdk.KindInternal || !strings.Contains(err.Error(), "*sdk_test.greeterInstance") {
		t.Errorf("an instance of the wrong type: %v", err)
	}
}

type kvInstance struct{}

func (kvInstance) Check(context.Context) error { return nil }
func (kvInstance) Close(context.Context) error { return nil }

func (kvInstance) get(context.Context, sdk.KVKeyArgs) (sdk.KVGetResult, error) {
	return sdk.KVGetResult{}, nil
}

func (kvInstance) wrongGet(context.Context, sdk.KVKeysArgs) (sdk.KVGetResult, error) {
	return sdk.KVGetResult{}, nil
}

func TestNewDriverRefusesMistakesInTheDeclaration(t *testing.T) {
	configure := func(context.Context, string, struct{}) (sdk.Resource, error) { return nil, nil }
	for _, c := range []struct {
		name string
		def  sdk.TypeDef
		says string
	}{
		{"no name", sdk.ResourceDef[struct{}, kvInstance]{Configure: configure}, "without a name"},
		{"no configure", sdk.ResourceDef[struct{}, kvInstance]{Name: "t"}, "no Configure"},
		{"a config that is no struct", sdk.ResourceDef[int, kvInstance]{Name: "t", Configure: func(context.Context, string, int) (sdk.Resource, error) { return nil, nil }}, "configuration"},
		{"an operation twice", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Operations: []sdk.Op[kvInstance]{
			sdk.NewOp("get", "", kvInstance.get), sdk.NewOp("get", "", kvInstance.get)}}, `"get" declared twice`},
		{"an operation without a name", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Operations: []sdk.Op[kvInstance]{{}}}, "without a name"},
		{"a capability's operation missing", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Capabilities: []string{sdk.CapabilityKV},
			Operations: []sdk.Op[kvInstance]{sdk.NewOp("get", "", kvInstance.get)}}, `needs operation "set"`},
		{"a capability's operation with other arguments", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Capabilities: []string{sdk.CapabilityKV},
			Operations: []sdk.Op[kvInstance]{sdk.NewOp("get", "", kvInstance.wrongGet)}}, `"get" must take the capability's arguments`},
		{"sql's operation declared", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Capabilities: []string{sdk.CapabilitySQL},
			Operations: []sdk.Op[kvInstance]{sdk.NewOp("query", "", kvInstance.get)}}, "host answers"},
		{"idempotent_if on an argument not declared", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Operations: []sdk.Op[kvInstance]{
			sdk.NewOp("get", "", kvInstance.get).IdempotentIf("method", "GET")}}, `argument "method", which the operation does not declare`},
		{"idempotent_if without values", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Operations: []sdk.Op[kvInstance]{
			sdk.NewOp("get", "", kvInstance.get).IdempotentIf("key")}}, "names no values"},
		{"a stream op with no mode", sdk.ResourceDef[struct{}, kvInstance]{Name: "t", Configure: configure, Operations: []sdk.Op[kvInstance]{
			sdk.NewStreamOp("s", "", sdk.StreamNone, func(kvInstance, context.Context, struct{}, io.Reader, io.Writer) (struct{}, error) {
				return struct{}{}, nil
			})}}, "StreamMode"},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, c.says) {
					t.Errorf("panic %v, want one saying %q", r, c.says)
				}
			}()
			sdk.NewDriver("d", "1.0.0", c.def)
		})
	}
}

func TestTheSQLCapabilityPublishesTheHostsOperations(t *testing.T) {
	d := sdk.NewDriver("d", "1.0.0", sdk.ResourceDef[struct{}, kvInstance]{
		Name: "db", Capabilities: []string{sdk.CapabilitySQL}, Pooling: sdk.PoolingExclusive,
		Configure: func(context.Context, string, struct{}) (sdk.Resource, error) { return nil, nil },
	})
	typ, _ := d.Info().Type("db")
	for _, name := range []string{"query", "exec"} {
		if _, ok := typ.Operation(name); !ok {
			t.Errorf("the sql type does not describe %q: %+v", name, typ.Operations)
		}
	}
}

func TestADriverWithoutAVersionReportsItsBuilds(t *testing.T) {
	d := sdk.NewDriver("d", "", greeterType)
	if got := d.Info().Version; got != sdk.BuildVersion() || got == "" {
		t.Errorf("version %q, want the build's, %q", got, sdk.BuildVersion())
	}
	if got := sdk.NewDriver("d", "1.2.3", greeterType).Info().Version; got != "1.2.3" {
		t.Errorf("version %q, want 1.2.3", got)
	}
}
