package sdk

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// ProtocolVersion is the newest version of the plugin protocol this SDK
// speaks; it speaks every version from MinProtocolVersion up. The host
// offers them all, and go-plugin picks the newest the plugin serves too,
// so a plugin built on an older SDK keeps working with a newer host, and
// the other way round.
//
// Version 1 is gRPC alone, on go-plugin's connection. Version 2 has the
// same services and messages, and carries every call but Describe on a
// data connection of its own: a socket pair the host makes and the plugin
// inherits, on which calls are multiplexed as tagged frames (one frame
// each way for a unary call; no HTTP/2, and no TLS, since no other
// process can reach it).
const (
	ProtocolVersion    = 2
	MinProtocolVersion = 1
)

// PluginName is the name under which a plugin serves its driver in the
// go-plugin plugin set.
const PluginName = "driver"

// Handshake is the go-plugin handshake between the host and a plugin. The
// magic cookie only stops a plugin binary from being run by hand by
// mistake; it is not a security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "NEBULA_RESOURCE_PLUGIN",
	MagicCookieValue: "5b1e4a7f0c9d4e2b8a63f0d1c2e7b9a4",
}

// PluginSets returns the go-plugin VersionedPlugins of protocol version 1
// alone: what a host offers where it has no data connection
// ([NewDataConn]; see DataConn.PluginSets).
func PluginSets() map[int]plugin.PluginSet {
	return (*DataConn)(nil).PluginSets()
}

// GRPCPlugin is the go-plugin glue. Plugin authors do not use it: [Serve]
// does. The host and the conformance kit use it to dispense a [Driver]
// backed by a plugin process.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Driver is served by the plugin side; it is nil on the host side.
	Driver Driver
	// Protocol is the version the plugin side describes itself as
	// speaking (1 when zero): 1 for a plugin served on gRPC alone, as
	// GRPCServer serves it; 2 only beside a data connection that
	// DataConn.ServeInProcess serves.
	Protocol int

	// data is the host's data connection, for protocol version 2; nil
	// for version 1.
	data *DataConn
}

// GRPCServer registers the driver's service. It is called in the plugin.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newServer(p.Driver)
	pb.RegisterDriverServiceServer(s, describedAs{server: srv, version: uint32(max(p.Protocol, 1))})
	pb.RegisterSQLServiceServer(s, &sqlServer{s: srv})
	return nil
}

// GRPCClient returns a [Driver] whose calls go to the plugin. It describes
// the plugin once, so that Info needs no round trip.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	control := pb.NewDriverServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := control.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe plugin: %w", remoteError(ctx, err))
	}
	want := 1
	if p.data != nil {
		want = 2
	}
	switch got := int(resp.GetProtocolVersion()); {
	case got == want:
	case want == 2 && got == 1:
		// Served with go-plugin alone, not sdk.Serve: it offered version 2
		// but serves no data connection.
		return nil, fmt.Errorf("plugin %q offered protocol version 2 but describes version 1: it serves gRPC alone, without the data connection of version 2; build it with sdk.Serve, or offer only version 1", resp.GetName())
	default:
		return nil, fmt.Errorf("plugin %q describes protocol version %d where go-plugin agreed on version %d with it", resp.GetName(), got, want)
	}
	clients := newRemoteClients(control, pb.NewSQLServiceClient(conn))
	if p.data != nil {
		dc, err := p.data.dial()
		if err != nil {
			return nil, err
		}
		clients = newRemoteClients(pb.NewDriverServiceClient(dc), pb.NewSQLServiceClient(dc))
		clients.dataConn = true
	}
	return &remoteDriver{remoteClients: clients, info: infoFromProto(resp)}, nil
}

// describedAs is the driver service of a plugin that describes itself as
// speaking the protocol version go-plugin agreed on.
type describedAs struct {
	*server
	version uint32
}

func (d describedAs) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	resp, err := d.server.Describe(ctx, req)
	if resp != nil {
		resp.ProtocolVersion = d.version
	}
	return resp, err
}

// CPUProfileEnv names a file to which [Serve] writes a CPU profile of
// the plugin's whole run (runtime/pprof), when set in the plugin's
// environment (its plugin block's env): how the plugin side of a call is
// profiled (make bench-compare ARGS=-profile=DIR sets it).
const CPUProfileEnv = "NEBULA_PLUGIN_CPUPROFILE"

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// ServeOption configures [Serve].
type ServeOption func(*serveConfig)

type serveConfig struct {
	parentPoll time.Duration
	// telemetry are the start functions of the WithTelemetry options, in
	// order.
	telemetry []func(DriverInfo) func(context.Context) error
}

// WithParentPoll sets how often a served plugin checks that the host that
// started it is still alive (default 500ms). A plugin whose host has gone,
// even by SIGKILL, closes its resources and exits.
func WithParentPoll(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.parentPoll = d }
}

// Serve runs d as a plugin and returns when the host stops it. It is all a
// plugin's main needs to call:
//
//	func main() { sdk.Serve(mydriver.New()) }
//
// Serve makes log/slog's default logger write JSON to stderr in the form
// the host parses, so driver code logs with slog.Info and the lines arrive
// in the host's log under the plugin's name. A line logged with a context
// that carries a span (slog.InfoContext(ctx, ...)) also carries its
// trace_id and span_id. Run by hand, outside a host, Serve prints a short
// explanation and exits with status 1.
//
// The context each driver method receives carries the trace context of the
// host's call, so a span the driver starts from it with the global tracer,
//
//	ctx, span := otel.Tracer("mydriver").Start(ctx, "mydriver.query")
//	defer span.End()
//
// is a child of the host's span for the call, recorded if the plugin has a
// TracerProvider that records it. Serve itself sets up no TracerProvider
// and exports nothing: a plugin that exports its spans when the host asks
// opts in with sdk/otelexport,
//
//	func main() { sdk.Serve(mydriver.New(), otelexport.Option()) }
//
// which sets the global propagator and, when the host exports its own
// spans, the global TracerProvider; see [WithTelemetry].
func Serve(d Driver, opts ...ServeOption) {
	cfg := serveConfig{parentPoll: 500 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "This is a nebula-resource driver plugin (%s %s). It is started by nebula-host, not by hand.\n", d.Info().Name, d.Info().Version)
		os.Exit(1)
	}
	slog.SetDefault(slog.New(WithTraceIDs(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		Level:       slog.LevelDebug,
		ReplaceAttr: hclogKeys,
	}))))
	stopTelemetry := startTelemetry(&cfg, d.Info())

	if path := os.Getenv(CPUProfileEnv); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "nebula plugin: %s: %v\n", CPUProfileEnv, err)
			os.Exit(1)
		}
		defer stop()
	}
	srv := newServer(d)
	srv.maxMessageSize = maxMessageSizeFrom(os.Getenv)
	stopWatch := watchParent(cfg.parentPoll)
	defer stopWatch()
	versions := map[int]plugin.PluginSet{1: {PluginName: &servedPlugin{srv: srv, version: 1}}}
	stopData := func() {}
	// A host that speaks protocol version 2 hands over the plugin's end
	// of the data connection; one that does not, nothing.
	dataConn, err := dataConnFrom(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nebula plugin: %v\n", err)
		os.Exit(1)
	}
	if dataConn != nil {
		versions[2] = plugin.PluginSet{PluginName: &servedPlugin{srv: srv, version: 2}}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := newDataServer(srv, srv.maxMessageSize).Serve(ctx, dataConn); err != nil {
				slog.Error("the data connection to the host failed", "error", err)
			}
		}()
		stopData = func() { cancel(); <-served }
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versions,
		// The key pair the host handed over (see PluginTLS), or
		// go-plugin's AutoMTLS for a host that asks for it.
		TLSProvider: func() (*tls.Config, error) { return serverTLS(os.Getenv) },
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, GRPCServerOptions()...)
			return grpc.NewServer(append(opts, MessageSizeServerOptions(srv.maxMessageSize)...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Output:     os.Stderr,
			Level:      hclog.Info,
			JSONFormat: true,
		}),
	})
	stopData()
	// Flush first, and briefly: the host kills a plugin that has not
	// exited 2s after it asked it to stop. Spans that the closing of
	// resources below starts have no parent from the host, so they would
	// not be recorded anyway.
	stopTelemetry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.closeAll(ctx)
}

// servedPlugin registers an existing server, so that Serve can close its
// resources when go-plugin returns.
type servedPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv     *server
	version uint32
}

func (p *servedPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterDriverServiceServer(s, describedAs{server: p.srv, version: p.version})
	pb.RegisterSQLServiceServer(s, &sqlServer{s: p.srv})
	return nil
}

func (p *servedPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("sdk: the plugin side has no client")
}

// hclogKeys renames slog's keys to hclog's JSON keys, which go-plugin
// parses on the host side.
func hclogKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		// go-plugin parses exactly this layout; a line it cannot parse
		// reaches the host as unstructured debug text.
		a.Key = "@timestamp"
		if t, ok := a.Value.Any().(time.Time); ok {
			a.Value = slog.StringValue(t.Format("2006-01-02T15:04:05.000000Z07:00"))
		}
	case slog.LevelKey:
		a.Key = "@level"
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(hclogLevel(l))
		}
	case slog.MessageKey:
		a.Key = "@message"
	}
	return a
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// watchParent exits the process when its parent changes (the host died and
// the plugin was re-parented), so that plugins never outlive their host.
// It returns a function that stops the watch.
func watchParent(every time.Duration) (stop func()) {
	parent := os.Getppid()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if os.Getppid() != parent {
					fmt.Fprintln(os.Stderr, `{"@level":"error","@message":"host process is gone; plugin exiting"}`)
					os.Exit(2)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
