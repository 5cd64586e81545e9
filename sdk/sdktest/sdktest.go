// Package sdktest is the conformance kit for nebula-resource drivers.
//
// It runs a driver through the real plugin path, gRPC and all, and checks
// the lifecycle contract: describe, validate, configure, open, check,
// invoke, reset, close, errors that keep their kind, and concurrent use.
// Run it in process with [RunDriver], and against the built binary with
// [RunBinary]; both run the same checks:
//
//	func TestConformance(t *testing.T) {
//		sdktest.RunDriver(t, memory.New(), sdktest.Suite{
//			Type:   "memory",
//			Config: `{"max_entries": 100}`,
//			Probe:  sdk.InvokeRequest{Operation: "set", Args: json.RawMessage(`{"key":"k","value":"v"}`)},
//		})
//	}
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/internal/launch"
)

// Suite describes the resource type under test.
type Suite struct {
	// Type is the resource type to exercise.
	Type string
	// Config is a valid configuration of Type, as a JSON object.
	Config string
	// InvalidConfig, when set, is a configuration the driver must refuse
	// in ValidateConfig or Configure with an error of kind
	// invalid_argument (or a config error).
	InvalidConfig string
	// Probe is an operation that succeeds on any open instance, any
	// number of times, concurrently.
	Probe sdk.InvokeRequest
	// Failing, when set, is an operation that fails with FailingKind; the
	// kit checks that the kind survives the trip through gRPC.
	Failing     *sdk.InvokeRequest
	FailingKind sdk.Kind
	// Concurrency is how many goroutines run Probe at once (default 16).
	Concurrency int
	// Timeout bounds each call (default 10s).
	Timeout time.Duration
}

// Connect serves d in process over the plugin protocol, as a plugin
// serves it: Describe on real gRPC over a loopback connection, every other
// call on the data connection of protocol version 2 (a socket pair; gRPC
// for all calls on a platform without one), with the host's and Serve's
// options, and returns the host's view of it. As with a plugin, a call's
// trace context reaches the driver: a span the driver starts from its ctx
// is a child of the caller's. The connections close when the test ends.
func Connect(t testing.TB, d sdk.Driver) sdk.Driver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	// The limits a plugin and its host use by default (max_message_size).
	server := grpc.NewServer(append(sdk.GRPCServerOptions(), sdk.MessageSizeServerOptions(0)...)...)
	data, err := sdk.NewDataConn(0)
	if err != nil {
		t.Fatalf("data connection: %v", err)
	}
	protocol := sdk.MinProtocolVersion
	if data != nil {
		protocol = sdk.ProtocolVersion
	}
	sdk.RegisterDriver(server, d, protocol)
	go func() { _ = server.Serve(lis) }()
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// As go-plugin dials.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	}, append(sdk.GRPCDialOptions(), sdk.MessageSizeDialOptions(0)...)...)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), opts...)
	if err != nil {
		server.Stop()
		t.Fatalf("dial driver: %v", err)
	}
	t.Cleanup(func() {
		server.Stop()
		_ = conn.Close()
	})
	// Every call but Describe goes on the data connection of protocol
	// version 2, where the platform has one.
	if data != nil {
		stop, err := data.ServeInProcess(d)
		if err != nil {
			t.Fatalf("serve the data connection: %v", err)
		}
		t.Cleanup(stop)
	}
	remote, err := sdk.NewRemoteDriver(context.Background(), conn, data)
	if err != nil {
		t.Fatalf("dispense driver: %v", err)
	}
	return remote
}

// Start runs the plugin binary at path as the host would (go-plugin's
// handshake, gRPC, mutual TLS with the keys the host makes
// (sdk.PluginTLS), the data connection of protocol version 2, no inherited
// environment, each call's trace context sent along) and returns the
// host's view of it. What the plugin logs and prints goes to the test's
// log. The plugin is stopped when the test ends: asked to shut down,
// killed if it has not exited 2s later.
func Start(t testing.TB, path string) sdk.Driver {
	t.Helper()
	d, _ := StartProcess(t, path)
	return d
}

// StartProcess is [Start], and also returns the plugin's process, for a
// test that kills it as a crash would (SIGKILL, not the host's shutdown).
func StartProcess(t testing.TB, path string) (sdk.Driver, *os.Process) {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = []string{}
	ptls, err := sdk.NewPluginTLS()
	if err != nil {
		t.Fatalf("make the plugin's TLS keys: %v", err)
	}
	if _, err := ptls.Prepare(cmd); err != nil {
		t.Fatalf("start plugin %s: %v", path, err)
	}
	data, err := sdk.NewDataConn(0)
	if err != nil {
		t.Fatalf("start plugin %s: %v", path, err)
	}
	data.Prepare(cmd)
	versions := []int{sdk.MinProtocolVersion}
	if data != nil {
		versions = append(versions, sdk.ProtocolVersion)
	}
	name := filepath.Base(path)
	p, err := launch.Start(launch.Config{
		Cmd:         cmd,
		CookieKey:   sdk.MagicCookieKey,
		CookieValue: sdk.MagicCookieValue,
		Versions:    versions,
		TLS:         ptls.Config(),
		DialOptions: append(sdk.GRPCDialOptions(), sdk.MessageSizeDialOptions(0)...),
		Log:         func(line string) { t.Logf("%s: %s", name, line) },
	})
	for _, f := range cmd.ExtraFiles {
		_ = f.Close() // the plugin has its own copies, or will not run
	}
	if err != nil {
		_ = data.Close()
		t.Fatalf("start plugin %s: %v", path, err)
	}
	t.Cleanup(func() {
		p.Kill()
		_ = data.Close()
	})
	agreed := data
	if p.Version != sdk.ProtocolVersion {
		agreed = nil // the data connection is closed when the test ends
	}
	d, err := sdk.NewRemoteDriver(context.Background(), p.Conn, agreed)
	if err != nil {
		t.Fatalf("dispense driver from %s: %v", path, err)
	}
	return d, cmd.Process
}

// Build compiles the plugin main package pkg (a path such as
// "./cmd/nebula-plugin-memory", relative to the test's package directory)
// into a temporary directory and returns the binary's path, for RunBinary.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// RunDriver runs the conformance checks against d, served in process over
// real gRPC. It also checks that Info read over the wire matches d.Info().
func RunDriver(t *testing.T, d sdk.Driver, s Suite) {
	t.Helper()
	remote := Connect(t, d)
	t.Run("InfoSurvivesTheWire", func(t *testing.T) {
		local, _ := json.Marshal(d.Info())
		wire, _ := json.Marshal(remote.Info())
		if string(local) != string(wire) {
			t.Errorf("Info over gRPC differs from Info in process:\nlocal: %s\nwire:  %s", local, wire)
		}
	})
	run(t, remote, s)
}

// RunBinary runs the conformance checks against the plugin binary at path.
func RunBinary(t *testing.T, path string, s Suite) {
	t.Helper()
	run(t, Start(t, path), s)
}

func run(t *testing.T, d sdk.Driver, s Suite) {
	if s.Concurrency <= 0 {
		s.Concurrency = 16
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
		t.Cleanup(cancel)
		return ctx
	}

	info := d.Info()
	typ, ok := info.Type(s.Type)
	t.Run("Describe", func(t *testing.T) {
		if err := CheckInfo(info); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("driver %q does not describe resource type %q", info.Name, s.Type)
		}
	})
	if !ok {
		return
	}

	t.Run("ValidateConfigAcceptsValidConfig", func(t *testing.T) {
		v, ok := d.(sdk.ConfigValidator)
		if !ok {
			t.Skip("driver has no ValidateConfig")
		}
		if err := v.ValidateConfig(ctx(t), sdk.ValidateRequest{Type: s.Type, Name: "conformance", Config: json.RawMessage(s.Config)}); err != nil {
			t.Fatalf("ValidateConfig refused the valid config: %v", err)
		}
	})

	if s.InvalidConfig != "" {
		t.Run("InvalidConfigIsRefused", func(t *testing.T) {
			req := sdk.ConfigureRequest{Type: s.Type, Name: "invalid", Config: json.RawMessage(s.InvalidConfig)}
			var err error
			if v, ok := d.(sdk.ConfigValidator); ok {
				err = v.ValidateConfig(ctx(t), sdk.ValidateRequest(req))
			}
			if err == nil {
				var r sdk.Resource
				r, err = d.Configure(ctx(t), req)
				if err == nil {
					_ = r.Close(ctx(t))
					t.Fatal("the invalid config was accepted by ValidateConfig and Configure")
				}
			}
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) && sdk.KindOf(err) != sdk.KindInvalidArgument && sdk.KindOf(err) != sdk.KindFailedPrecondition {
				t.Fatalf("invalid config refused with kind %q, want a config error or invalid_argument: %v", sdk.KindOf(err), err)
			}
		})
	}

	res, err := d.Configure(ctx(t), sdk.ConfigureRequest{Type: s.Type, Name: "conformance", Config: json.RawMessage(s.Config)})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	defer func() {
		if err := res.Close(context.Background()); err != nil {
			t.Errorf("Close resource: %v", err)
		}
	}()

	t.Run("OpenCheckInvokeResetClose", func(t *testing.T) {
		inst, err := res.Open(ctx(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := inst.Check(ctx(t)); err != nil {
			t.Fatalf("Check of a fresh instance: %v", err)
		}
		if _, err := typ.Invoke(ctx(t), inst, s.Probe); err != nil {
			t.Fatalf("Invoke %q: %v", s.Probe.Operation, err)
		}
		if r, ok := inst.(sdk.Resetter); ok {
			if err := r.Reset(ctx(t)); err != nil {
				t.Fatalf("Reset: %v", err)
			}
		}
		if _, err := typ.Invoke(ctx(t), inst, s.Probe); err != nil {
			t.Fatalf("Invoke after Reset: %v", err)
		}
		if err := inst.Close(ctx(t)); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := typ.Invoke(ctx(t), inst, s.Probe); err == nil {
			t.Fatal("Invoke on a closed instance succeeded")
		}
	})

	t.Run("UnknownOperationIsInvalidArgument", func(t *testing.T) {
		inst := open(t, ctx(t), res)
		_, err := typ.Invoke(ctx(t), inst, sdk.InvokeRequest{Operation: "no-such-operation", Args: json.RawMessage(`{}`)})
		if k := sdk.KindOf(err); k != sdk.KindInvalidArgument && k != sdk.KindUnimplemented {
			t.Fatalf("unknown operation: kind %q, want invalid_argument or unimplemented (err: %v)", k, err)
		}
	})

	t.Run("BadArgumentsAreInvalidArgument", func(t *testing.T) {
		inst := open(t, ctx(t), res)
		_, err := typ.Invoke(ctx(t), inst, sdk.InvokeRequest{Operation: s.Probe.Operation, Args: json.RawMessage(`{"no_such_argument_xyz": 1}`)})
		if k := sdk.KindOf(err); k != sdk.KindInvalidArgument {
			t.Fatalf("unknown argument: kind %q, want invalid_argument (err: %v)", k, err)
		}
	})

	if s.Failing != nil {
		t.Run("ErrorsKeepTheirKind", func(t *testing.T) {
			inst := open(t, ctx(t), res)
			_, err := typ.Invoke(ctx(t), inst, *s.Failing)
			if k := sdk.KindOf(err); k != s.FailingKind {
				t.Fatalf("%s: kind %q, want %q (err: %v)", s.Failing.Operation, k, s.FailingKind, err)
			}
		})
	}

	t.Run("ConcurrentUse", func(t *testing.T) {
		var shared sdk.Instance
		if typ.Pooling != sdk.PoolingExclusive {
			shared = open(t, ctx(t), res)
		}
		var wg sync.WaitGroup
		errs := make(chan error, s.Concurrency)
		for range s.Concurrency {
			wg.Go(func() {
				inst := shared
				c, cancel := context.WithTimeout(context.Background(), s.Timeout)
				defer cancel()
				if inst == nil {
					var err error
					if inst, err = res.Open(c); err != nil {
						errs <- fmt.Errorf("open: %w", err)
						return
					}
					defer inst.Close(c)
				}
				for range 10 {
					if _, err := typ.Invoke(c, inst, s.Probe); err != nil {
						errs <- fmt.Errorf("invoke %q: %w", s.Probe.Operation, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("CanceledContextStopsTheCall", func(t *testing.T) {
		inst := open(t, ctx(t), res)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := typ.Invoke(c, inst, s.Probe)
		if err == nil {
			t.Skip("the probe finished before noticing the canceled context")
		}
		if k := sdk.KindOf(err); k != sdk.KindCanceled {
			t.Fatalf("canceled call: kind %q, want canceled (err: %v)", k, err)
		}
	})
}

// Instance is an instance [Open] opened, with its resource type, whose
// operations a test calls as the host does: through the type's typed
// operations, or the instance's own Invoke.
type Instance struct {
	sdk.Instance
	Type sdk.ResourceType
}

// Invoke performs an operation on the instance.
func (i *Instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	return i.Type.Invoke(ctx, i.Instance, req)
}

// InvokeStream performs a streaming operation on the instance.
func (i *Instance) InvokeStream(ctx context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	return i.Type.InvokeStream(ctx, i.Instance, req, in, out)
}

// Open configures a resource of d as req asks and opens one instance of
// it; both are closed when the test or benchmark ends.
func Open(tb testing.TB, d sdk.Driver, req sdk.ConfigureRequest) *Instance {
	tb.Helper()
	typ, ok := d.Info().Type(req.Type)
	if !ok {
		tb.Fatalf("driver %q has no resource type %q", d.Info().Name, req.Type)
	}
	res, err := d.Configure(tb.Context(), req)
	if err != nil {
		tb.Fatalf("Configure %s: %v", req.Type, err)
	}
	tb.Cleanup(func() { _ = res.Close(context.Background()) })
	inst, err := res.Open(tb.Context())
	if err != nil {
		tb.Fatalf("Open %s: %v", req.Type, err)
	}
	tb.Cleanup(func() { _ = inst.Close(context.Background()) })
	return &Instance{Instance: inst, Type: typ}
}

func open(t *testing.T, ctx context.Context, r sdk.Resource) sdk.Instance {
	t.Helper()
	inst, err := r.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst
}

// CheckInfo reports what is wrong with a driver's description: missing
// names, duplicate types or operations, unknown pooling modes or stream
// modes, and schemas whose defaults do not match their types.
func CheckInfo(info sdk.DriverInfo) error {
	var errs []error
	if info.Name == "" {
		errs = append(errs, errors.New("driver has no name"))
	}
	if info.Version == "" {
		errs = append(errs, errors.New("driver has no version"))
	}
	if len(info.Types) == 0 {
		errs = append(errs, errors.New("driver offers no resource types"))
	}
	types := map[string]bool{}
	for _, t := range info.Types {
		if t.Name == "" {
			errs = append(errs, errors.New("a resource type has no name"))
		}
		if types[t.Name] {
			errs = append(errs, fmt.Errorf("resource type %q described twice", t.Name))
		}
		types[t.Name] = true
		switch t.Pooling {
		case "", sdk.PoolingShared, sdk.PoolingExclusive:
		default:
			errs = append(errs, fmt.Errorf("type %q: unknown pooling mode %q", t.Name, t.Pooling))
		}
		if err := checkSchema(t.Config); err != nil {
			errs = append(errs, fmt.Errorf("type %q config: %w", t.Name, err))
		}
		ops := map[string]bool{}
		for _, op := range t.Operations {
			if op.Name == "" || ops[op.Name] {
				errs = append(errs, fmt.Errorf("type %q: operation %q is unnamed or described twice", t.Name, op.Name))
			}
			ops[op.Name] = true
			switch op.Stream {
			case sdk.StreamNone, sdk.StreamUpload, sdk.StreamDownload, sdk.StreamDuplex:
			default:
				errs = append(errs, fmt.Errorf("type %q operation %q: unknown stream mode %q", t.Name, op.Name, op.Stream))
			}
			if err := checkSchema(op.Args); err != nil {
				errs = append(errs, fmt.Errorf("type %q operation %q args: %w", t.Name, op.Name, err))
			}
			if c := op.IdempotentIf; c != nil {
				if a, ok := op.Args.Attribute(c.Arg); !ok || a.Type.Kind != sdk.TypeString || len(c.Values) == 0 {
					errs = append(errs, fmt.Errorf("type %q operation %q: idempotent_if needs a string argument %q and values", t.Name, op.Name, c.Arg))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkSchema(s sdk.Schema) error {
	var errs []error
	seen := map[string]bool{}
	for _, a := range s.Attributes {
		if a.Name == "" || seen[a.Name] {
			errs = append(errs, fmt.Errorf("attribute %q is unnamed or described twice", a.Name))
		}
		seen[a.Name] = true
		if a.Default != nil {
			if a.Required {
				errs = append(errs, fmt.Errorf("attribute %q is required and has a default", a.Name))
			}
			if err := sdk.CheckValue(a.Type, a.Default); err != nil {
				errs = append(errs, fmt.Errorf("attribute %q default: %w", a.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
