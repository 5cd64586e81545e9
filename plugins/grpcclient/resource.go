package grpcclient

import (
	"context"
	"errors"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured grpc resource: its settings, from which each
// instance makes its connection.
type Resource struct {
	name   string
	cfg    Config
	p      *prepared
	closed atomic.Bool
}

func newResource(name string, cfg Config) (*Resource, error) {
	p, err := cfg.prepare()
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of grpc resource "+name)
	}
	return &Resource{name: name, cfg: cfg, p: p}, nil
}

// Open makes an instance: a client connection of its own, connected, and
// checked to reach the server (a health check whose answer may be any
// status, or, with health_check false, a connection that is ready), so
// that a resource whose server cannot be reached fails to open, with the
// reason.
func (r *Resource) Open(ctx context.Context) (sdk.Instance, error) {
	if r.closed.Load() {
		return nil, sdk.Errorf(sdk.KindUnavailable, "grpc resource %q is closed", r.name)
	}
	conn, err := grpc.NewClient(r.cfg.Target, r.p.dial...)
	if err != nil {
		// Only a target that cannot be parsed fails here.
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "grpc resource %q: target %q: %v", r.name, r.cfg.Target, err)
	}
	i := &Instance{res: r, conn: conn, schema: newSchema(conn, r.p.files)}
	if err := i.reach(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return i, nil
}

// Close marks the resource closed: its instances are closed by the host
// before it.
func (r *Resource) Close(context.Context) error {
	r.closed.Store(true)
	return nil
}

// Instance is one client connection to the server, safe for concurrent
// use, with the message types it has learned.
type Instance struct {
	res    *Resource
	conn   *grpc.ClientConn
	schema *schema
}

// reach checks that the server answers.
func (i *Instance) reach(ctx context.Context) error {
	if !i.res.cfg.HealthCheck {
		return i.ready(ctx)
	}
	_, err := healthpb.NewHealthClient(i.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: i.res.cfg.HealthService})
	if st, ok := status.FromError(err); ok && ctx.Err() == nil && st.Code() != codes.Unavailable && st.Code() != codes.Unauthenticated && st.Code() != codes.PermissionDenied {
		return nil // the server answered
	}
	return i.callError(ctx, err, "grpc connect "+i.res.cfg.Target)
}

// ready waits until the connection is ready, or failed.
func (i *Instance) ready(ctx context.Context) error {
	i.conn.Connect()
	for {
		s := i.conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			return sdk.Errorf(sdk.KindUnavailable, "grpc connect %s: the connection failed (%s)", i.res.cfg.Target, s)
		case connectivity.Shutdown:
			return sdk.Errorf(sdk.KindUnavailable, "grpc connect %s: the connection is closed", i.res.cfg.Target)
		case connectivity.Idle:
			i.conn.Connect()
		}
		if !i.conn.WaitForStateChange(ctx, s) {
			return sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(), "grpc connect "+i.res.cfg.Target)
		}
	}
}

// Check asks the health service about health_service: SERVING passes,
// and any other answer fails as unavailable. A server without the health
// service passes when health_service is "", and fails when it names a
// service. With health_check false, Check waits for the connection to be
// ready.
func (i *Instance) Check(ctx context.Context) error {
	if !i.res.cfg.HealthCheck {
		return i.ready(ctx)
	}
	svc := i.res.cfg.HealthService
	resp, err := healthpb.NewHealthClient(i.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
	what := "grpc health check"
	if svc != "" {
		what += " of " + svc
	}
	if err != nil {
		st, _ := status.FromError(err)
		switch {
		case ctx.Err() != nil:
		case st.Code() == codes.Unimplemented && svc == "":
			return nil // no health service: the call reached the server
		case st.Code() == codes.Unimplemented:
			return &sdk.Error{Kind: sdk.KindUnavailable, Code: CodeName(st.Code()), Message: what + ": the server has no health service (grpc.health.v1.Health); set health_service = \"\" or health_check = false"}
		case st.Code() == codes.NotFound:
			return &sdk.Error{Kind: sdk.KindUnavailable, Code: "SERVICE_UNKNOWN", Message: what + ": SERVICE_UNKNOWN: the health service does not know the service"}
		}
		err = i.callError(ctx, err, what)
		var se *sdk.Error
		if errors.As(err, &se) && !se.Kind.Retryable() && se.Kind != sdk.KindCanceled {
			// Whatever the health service answered, the server is not
			// fit for calls: a check fails as unavailable.
			se.Kind = sdk.KindUnavailable
		}
		return err
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return &sdk.Error{Kind: sdk.KindUnavailable, Code: s.String(), Message: what + ": " + s.String()}
	}
	return nil
}

// Close closes the connection: calls in flight on it fail as canceled.
func (i *Instance) Close(context.Context) error {
	err := i.conn.Close()
	if status.Code(err) == codes.Canceled {
		return nil // closed before
	}
	return err
}

// callError is callError with the resource's secrets.
func (i *Instance) callError(ctx context.Context, err error, what string) error {
	return callError(ctx, err, what, i.res.p.secrets)
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
