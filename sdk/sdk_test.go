package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type echoConfig struct {
	Prefix   string        `nebula:"prefix" default:"> " doc:"Put before every echo."`
	Password string        `nebula:"password,sensitive"`
	Delay    time.Duration `nebula:"delay" default:"0s"`
}

type echoArgs struct {
	Text string `nebula:"text,required"`
	Kind string `nebula:"kind"`
	Code string `nebula:"code"`
}

type echoDriver struct{}

func (echoDriver) Info() sdk.DriverInfo {
	args := sdk.MustSchemaFor(echoArgs{})
	return sdk.DriverInfo{Name: "echo", Version: "1.0.0", Types: []sdk.ResourceType{{
		Name:         "echo",
		Description:  "Echoes text.",
		Config:       sdk.MustSchemaFor(echoConfig{}),
		Capabilities: []string{"echo"},
		Pooling:      sdk.PoolingShared,
		Operations: []sdk.Operation{
			{Name: "echo", Args: args, Idempotent: true},
			{Name: "fail", Args: args},
			{Name: "fail-not-utf8", Args: args},
			{Name: "upper", Args: sdk.Schema{}, Stream: sdk.StreamDuplex},
		},
	}}}
}

func (echoDriver) ValidateConfig(_ context.Context, req sdk.ValidateRequest) error {
	var cfg echoConfig
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Prefix == "bad" {
		return errors.Join(sdk.AttributeError("prefix", "Prefix is bad", "Use another one."), sdk.AttributeError("delay", "Delay too", ""))
	}
	return nil
}

func (echoDriver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	var cfg echoConfig
	if err := req.Decode(&cfg); err != nil {
		return nil, err
	}
	return &echoResource{cfg: cfg}, nil
}

type echoResource struct{ cfg echoConfig }

func (r *echoResource) Open(context.Context) (sdk.Instance, error) {
	return &echoInstance{cfg: r.cfg}, nil
}
func (r *echoResource) Close(context.Context) error { return nil }

type echoInstance struct {
	cfg    echoConfig
	closed bool
}

func (i *echoInstance) Check(context.Context) error { return nil }
func (i *echoInstance) Close(context.Context) error { i.closed = true; return nil }
func (i *echoInstance) Reset(context.Context) error { return nil }

func (i *echoInstance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindCanceled, err, "echo")
	}
	var a echoArgs
	if err := req.Decode(&a); err != nil {
		return nil, err
	}
	switch req.Operation {
	case "echo":
		return map[string]string{"text": i.cfg.Prefix + a.Text}, nil
	case "fail":
		return nil, &sdk.Error{Kind: sdk.Kind(a.Kind), Message: a.Text, Code: a.Code}
	case "fail-not-utf8":
		// As a backend's message may be: bytes of another encoding.
		return nil, &sdk.Error{Kind: sdk.KindNotFound, Message: "no key \xff\xfe", Code: "k\xff"}
	}
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "unknown operation %q", req.Operation)
}

func (i *echoInstance) InvokeStream(ctx context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	if req.Operation != "upper" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "unknown streaming operation %q", req.Operation)
	}
	buf := make([]byte, 1000)
	var n int64
	for {
		m, err := in.Read(buf)
		if m > 0 {
			n += int64(m)
			if _, werr := out.Write(bytes.ToUpper(buf[:m])); werr != nil {
				return nil, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return map[string]int64{"bytes": n}, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func TestConformanceKitPassesForEchoDriver(t *testing.T) {
	sdktest.RunDriver(t, echoDriver{}, sdktest.Suite{
		Type:          "echo",
		Config:        `{"prefix": "# "}`,
		InvalidConfig: `{"prefix": "bad"}`,
		Probe:         sdk.InvokeRequest{Operation: "echo", Args: json.RawMessage(`{"text":"hi"}`)},
		Failing:       &sdk.InvokeRequest{Operation: "fail", Args: json.RawMessage(`{"text":"gone","kind":"not_found"}`)},
		FailingKind:   sdk.KindNotFound,
	})
}

func TestErrorsCrossTheWireWithKindCodeAndRetryability(t *testing.T) {
	d := sdktest.Connect(t, echoDriver{})
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "echo", Name: "e", Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range sdk.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			_, err := inst.(sdk.Invoker).Invoke(t.Context(), sdk.InvokeRequest{Operation: "fail", Args: json.RawMessage(`{"text":"boom","kind":"` + string(kind) + `","code":"23505"}`)})
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *sdk.Error", err, err)
			}
			want := kind
			if kind == sdk.KindUnknown {
				want = sdk.KindInternal // an error without a kind arrives as internal
			}
			if e.Kind != want || e.Code != "23505" || !strings.Contains(e.Message, "boom") {
				t.Fatalf("got kind %q code %q message %q", e.Kind, e.Code, e.Message)
			}
			if sdk.IsRetryable(err) != want.Retryable() {
				t.Fatalf("retryable = %v, want %v", sdk.IsRetryable(err), kind.Retryable())
			}
		})
	}
	// A message that is not UTF-8 crosses mended, with its kind and code.
	_, err = inst.(sdk.Invoker).Invoke(t.Context(), sdk.InvokeRequest{Operation: "fail-not-utf8", Args: json.RawMessage(`{"text":"x"}`)})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindNotFound || e.Code != "k\uFFFD" || !strings.Contains(e.Message, "no key \uFFFD") {
		t.Fatalf("not UTF-8: %#v", err)
	}
	if err := res.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestSentinelsMatchErrorsOfTheirKind(t *testing.T) {
	err := sdk.Errorf(sdk.KindUnavailable, "backend down: %w", io.ErrUnexpectedEOF)
	if !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrTimeout) {
		t.Fatal("sentinel matching by kind failed")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal("cause lost")
	}
	if sdk.KindOf(context.DeadlineExceeded) != sdk.KindTimeout {
		t.Fatal("deadline is not a timeout")
	}
}

func TestEveryKindButUnknownHasItsSentinel(t *testing.T) {
	kinds := []sdk.Kind{
		sdk.KindInvalidArgument, sdk.KindNotFound, sdk.KindAlreadyExists, sdk.KindConflict,
		sdk.KindPermissionDenied, sdk.KindUnauthenticated, sdk.KindResourceExhausted,
		sdk.KindFailedPrecondition, sdk.KindUnavailable, sdk.KindTimeout, sdk.KindCanceled,
		sdk.KindUnimplemented, sdk.KindInternal,
	}
	seen := map[error]bool{}
	for _, k := range kinds {
		s := k.Sentinel()
		if s == nil || seen[s] {
			t.Fatalf("kind %s: sentinel %v (nil or shared)", k, s)
		}
		seen[s] = true
		if !errors.Is(sdk.Errorf(k, "x"), s) {
			t.Fatalf("an error of kind %s is not errors.Is its sentinel", k)
		}
	}
	if sdk.KindUnknown.Sentinel() != nil || sdk.Kind("made_up").Sentinel() != nil {
		t.Fatal("unknown kinds have a sentinel")
	}
}

func TestValidateConfigErrorsCrossTheWireAsConfigErrors(t *testing.T) {
	d := sdktest.Connect(t, echoDriver{})
	err := d.(sdk.ConfigValidator).ValidateConfig(t.Context(), sdk.ValidateRequest{Type: "echo", Config: json.RawMessage(`{"prefix":"bad"}`)})
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || ce.Attribute != "prefix" || ce.Detail != "Use another one." {
		t.Fatalf("got %v", err)
	}
	if got := len(err.(interface{ Unwrap() []error }).Unwrap()); got != 2 {
		t.Fatalf("got %d config errors, want 2", got)
	}
}

func TestInvokeStreamCarriesBytesBothWays(t *testing.T) {
	d := sdktest.Connect(t, echoDriver{})
	res, _ := d.Configure(t.Context(), sdk.ConfigureRequest{Type: "echo", Name: "e", Config: json.RawMessage(`{}`)})
	inst, _ := res.Open(t.Context())
	in := strings.Repeat("abcdefghij", 100_000) // 1 MB, many chunks
	var out bytes.Buffer
	result, err := inst.(sdk.StreamInvoker).InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "upper"}, strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != strings.ToUpper(in) {
		t.Fatalf("got %d bytes back, want %d upper-cased", out.Len(), len(in))
	}
	if string(result.(json.RawMessage)) != `{"bytes":1000000}` {
		t.Fatalf("result %s", result)
	}
	_, err = inst.(sdk.StreamInvoker).InvokeStream(t.Context(), sdk.InvokeRequest{Operation: "nope"}, strings.NewReader("x"), io.Discard)
	if sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Fatalf("bad stream op: %v", err)
	}
}

func TestSchemaForDerivesTypesDefaultsAndFlags(t *testing.T) {
	type cfg struct {
		Addr    string            `nebula:"address,required" doc:"Where."`
		Secret  string            `nebula:"secret,sensitive"`
		Timeout time.Duration     `nebula:"timeout" default:"5s"`
		Ports   []int             `nebula:"ports" default:"[1,2]"`
		Labels  map[string]string `nebula:"labels"`
		Ratio   float64           `nebula:"ratio" default:"0.5"`
		On      bool              `nebula:"on" default:"true"`
		Skip    string
	}
	s, err := sdk.SchemaFor(cfg{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s)
	want := `{"Attributes":[` +
		`{"Name":"address","Type":{"Kind":"string","Elem":null},"Required":true,"Default":null,"Sensitive":false,"Description":"Where."},` +
		`{"Name":"secret","Type":{"Kind":"string","Elem":null},"Required":false,"Default":null,"Sensitive":true,"Description":""},` +
		`{"Name":"timeout","Type":{"Kind":"duration","Elem":null},"Required":false,"Default":"5s","Sensitive":false,"Description":""},` +
		`{"Name":"ports","Type":{"Kind":"list","Elem":{"Kind":"int","Elem":null}},"Required":false,"Default":[1,2],"Sensitive":false,"Description":""},` +
		`{"Name":"labels","Type":{"Kind":"map","Elem":{"Kind":"string","Elem":null}},"Required":false,"Default":null,"Sensitive":false,"Description":""},` +
		`{"Name":"ratio","Type":{"Kind":"float","Elem":null},"Required":false,"Default":0.5,"Sensitive":false,"Description":""},` +
		`{"Name":"on","Type":{"Kind":"bool","Elem":null},"Required":false,"Default":true,"Sensitive":false,"Description":""}]}`
	if string(got) != want {
		t.Fatalf("schema:\n got %s\nwant %s", got, want)
	}
	for name, bad := range map[string]any{
		"not a struct": 42,
		"bad default": struct {
			D time.Duration `nebula:"d" default:"soon"`
		}{},
		"required default": struct {
			S string `nebula:"s,required" default:"x"`
		}{},
		"unsupported type": struct {
			C chan int `nebula:"c"`
		}{},
		"duplicate attribute": struct {
			A, B string `nebula:"a"`
		}{},
	} {
		if _, err := sdk.SchemaFor(bad); err == nil {
			t.Errorf("%s: SchemaFor accepted it", name)
		}
	}
}

func TestDecodeFillsDefaultsAndNamesBadAttributes(t *testing.T) {
	type cfg struct {
		Addr    string        `nebula:"address,required"`
		Secret  string        `nebula:"secret,sensitive"`
		Timeout time.Duration `nebula:"timeout" default:"5s"`
		Ports   []int         `nebula:"ports"`
	}
	var c cfg
	if err := sdk.Decode(json.RawMessage(`{"address":"h:1","ports":[1,2]}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "h:1" || c.Timeout != 5*time.Second || len(c.Ports) != 2 {
		t.Fatalf("decoded %+v", c)
	}
	tests := map[string]struct{ in, want string }{
		"missing required": {`{}`, `attribute "address" is required`},
		"unknown":          {`{"address":"x","adress":"y"}`, `unknown attribute "adress"`},
		"wrong type":       {`{"address":1}`, `attribute "address": want string`},
		"bad duration":     {`{"address":"x","timeout":"soon"}`, `want a duration`},
		"not an object":    {`[1]`, `want a JSON object`},
		"sensitive hidden": {`{"address":"x","secret":12345678}`, `sensitive value not shown`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c cfg
			err := sdk.Decode(json.RawMessage(tc.in), &c)
			if sdk.KindOf(err) != sdk.KindInvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want invalid_argument containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "12345678") {
				t.Fatal("sensitive value leaked into the error")
			}
		})
	}
}
