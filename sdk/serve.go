package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/nebula-resource/nebula-resource/sdk/internal/goplugin"
	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
	"github.com/nebula-resource/nebula-resource/sdk/internal/selfsigned"
)

// ProtocolVersion is the newest version of the plugin protocol this SDK
// speaks; it speaks every version from MinProtocolVersion up. The host
// offers them all, and the plugin picks the newest it serves too, so a
// plugin built on an older SDK keeps working with a newer host, and the
// other way round.
//
// Version 1 is gRPC alone, on the connection of the handshake. Version 2
// has the same services and messages, and carries every call but Describe
// on a data connection of its own: a socket pair the host makes and the
// plugin inherits, on which calls are multiplexed as tagged frames (one
// frame each way for a unary call; no HTTP/2, and no TLS, since no other
// process can reach it).
const (
	ProtocolVersion    = 2
	MinProtocolVersion = 1
)

// PluginName is the name under which the host dispenses a plugin's driver
// from its go-plugin plugin set.
const PluginName = "driver"

// MagicCookieKey and MagicCookieValue are the magic cookie of the
// handshake between the host and a plugin: the host sets the variable
// MagicCookieKey to MagicCookieValue in the plugin's environment (the
// host's go-plugin HandshakeConfig holds them). The cookie only stops a
// plugin binary from being run by hand by mistake; it is not a security
// measure.
const (
	MagicCookieKey   = "NEBULA_RESOURCE_PLUGIN"
	MagicCookieValue = "5b1e4a7f0c9d4e2b8a63f0d1c2e7b9a4"
)

// RegisterDriver registers d's services on s, served as a plugin that
// describes itself as speaking protocol version protocol (1 when zero):
// for a plugin served by go-plugin's own server (protocol 1, gRPC alone),
// and for tests that serve a driver on gRPC in process.
func RegisterDriver(s grpc.ServiceRegistrar, d Driver, protocol int) {
	registerServer(s, newServer(d), uint32(max(protocol, 1)))
}

func registerServer(s grpc.ServiceRegistrar, srv *server, protocol uint32) {
	pb.RegisterDriverServiceServer(s, describedAs{server: srv, version: protocol})
	pb.RegisterSQLServiceServer(s, &sqlServer{s: srv})
}

// NewRemoteDriver returns the host's view of the plugin on conn: a
// [Driver] whose calls go to the plugin. data is the data connection of
// protocol version 2 when the host and the plugin agreed on that version
// in the handshake, and nil for version 1. It describes the plugin once,
// so that Info needs no round trip, and refuses a plugin that describes
// another protocol version than the one agreed.
func NewRemoteDriver(ctx context.Context, conn grpc.ClientConnInterface, data *DataConn) (Driver, error) {
	control := pb.NewDriverServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := control.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe plugin: %w", remoteError(ctx, err))
	}
	want := 1
	if data != nil {
		want = 2
	}
	switch got := int(resp.GetProtocolVersion()); {
	case got == want:
	case want == 2 && got == 1:
		// Served with go-plugin alone, not sdk.Serve: it offered version 2
		// but serves no data connection.
		return nil, fmt.Errorf("plugin %q offered protocol version 2 but describes version 1: it serves gRPC alone, without the data connection of version 2; build it with sdk.Serve, or offer only version 1", resp.GetName())
	default:
		return nil, fmt.Errorf("plugin %q describes protocol version %d where the handshake agreed on version %d with it", resp.GetName(), got, want)
	}
	clients := newRemoteClients(control, pb.NewSQLServiceClient(conn))
	if data != nil {
		dc, err := data.dial()
		if err != nil {
			return nil, err
		}
		clients = newRemoteClients(pb.NewDriverServiceClient(dc), pb.NewSQLServiceClient(dc))
		clients.dataConn = true
		clients.urls = data.urls
		clients.chunk = streamChunkFor(data.maxMsg - messageOverhead)
	}
	return &remoteDriver{remoteClients: clients, info: infoFromProto(resp)}, nil
}

// describedAs is the driver service of a plugin that describes itself as
// speaking the protocol version agreed in the handshake.
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
	if os.Getenv(MagicCookieKey) != MagicCookieValue {
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
	served := []int{1}
	stopData := func() {}
	// A host that speaks protocol version 2 hands over the plugin's end
	// of the data connection; one that does not, nothing.
	dataConn, err := dataConnFrom(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nebula plugin: %v\n", err)
		os.Exit(1)
	}
	if dataConn != nil {
		served = append(served, 2)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := newDataServer(srv, srv.maxMessageSize).Serve(ctx, dataConn); err != nil {
				slog.Error("the data connection to the host failed", "error", err)
			}
		}()
		stopData = func() { cancel(); <-done }
	}
	if err := serveHandshake(srv, served); err != nil {
		slog.Error("plugin init error", "error", err)
		stopData()
		stopTelemetry()
		os.Exit(1)
	}
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

// gracefulStop bounds how long a plugin the host asked to stop waits for
// the calls in flight before it ends them.
const gracefulStop = time.Second

// serveHandshake does what go-plugin's server does for a plugin, without
// go-plugin (sdk/internal/goplugin): it picks the protocol version from
// the ones served and the host's offer, listens on a unix socket, makes
// the TLS configuration, prints the handshake line, and serves srv on
// gRPC, with go-plugin's own services, until the host calls Shutdown or
// the server fails. It returns an error only when it could not start.
func serveHandshake(srv *server, served []int) error {
	version, _ := goplugin.Negotiate(os.Getenv(goplugin.EnvProtocolVersions), served)
	lis, err := goplugin.Listen(os.Getenv)
	if err != nil {
		return err
	}
	defer lis.Close()
	// The key pair the host handed over (see PluginTLS), or, for a host
	// that asks for go-plugin's AutoMTLS, one made here, whose certificate
	// the handshake line carries.
	tlsConfig, err := serverTLS(os.Getenv)
	if err != nil {
		return fmt.Errorf("plugin tls init: %w", err)
	}
	var serverCert []byte
	if tlsConfig == nil && os.Getenv(goplugin.EnvClientCert) != "" {
		if tlsConfig, serverCert, err = autoMTLS(os.Getenv(goplugin.EnvClientCert)); err != nil {
			return fmt.Errorf("plugin tls init: %w", err)
		}
	}
	opts := GRPCServerOptions()
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	gs := grpc.NewServer(append(opts, MessageSizeServerOptions(srv.maxMessageSize)...)...)
	registerServer(gs, srv, uint32(version))

	// A Ctrl-C at the host's terminal reaches its plugins too: the host
	// stops them, as go-plugin's server has it.
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)

	fmt.Printf("%s\n", goplugin.HandshakeLine(version, lis.Addr(), serverCert))
	_ = os.Stdout.Sync()
	// What the plugin prints from now on reaches the host over GRPCStdio;
	// the logger keeps the real stderr, which the host parses.
	stdio, err := goplugin.CaptureStdio()
	if err != nil {
		return err
	}
	defer stdio.Close()
	services := goplugin.Register(gs, stdio)

	serving := make(chan error, 1)
	go func() { serving <- gs.Serve(lis) }()
	select {
	case err := <-serving:
		if err != nil {
			slog.Error("grpc server", "error", err)
		}
		return nil
	case <-services.ShutdownRequested():
	}
	// Let the calls in flight, and the answer to Shutdown, finish, for a
	// moment.
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(gracefulStop)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop()
		<-stopped
	}
	<-serving
	return nil
}

// autoMTLS is the plugin's side of go-plugin's AutoMTLS: a key pair made
// here, and the host's certificate clientPEM as the only client CA. It
// returns the configuration and the certificate (DER) for the handshake
// line.
func autoMTLS(clientPEM string) (*tls.Config, []byte, error) {
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM([]byte(clientPEM)) {
		return nil, nil, fmt.Errorf("%s holds no certificate", goplugin.EnvClientCert)
	}
	cert, _, _, err := selfsigned.New()
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		RootCAs:      clients,
		MinVersion:   tls.VersionTLS12,
		ServerName:   "localhost",
	}, cert.Certificate[0], nil
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
					// slog's default logger writes to the real stderr, which
					// the host reads, where os.Stderr is the pipe of
					// GRPCStdio by now.
					slog.Error("host process is gone; plugin exiting")
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
