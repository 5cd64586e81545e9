package mongo

import (
	"context"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Resource is one configured mongo resource: its settings, from which
// each instance makes its client.
type Resource struct {
	typ, name string
	cfg       Config
	opts      *options.ClientOptions
	secrets   []string     // never in an error's text
	errs      sdk.ErrorMap // classifies its errors (errorMap)
	closed    atomic.Bool
}

func newResource(typ, name string, cfg Config) (*Resource, error) {
	opts, err := cfg.clientOptions()
	if err != nil {
		return nil, err
	}
	r := &Resource{typ: typ, name: name, cfg: cfg, opts: opts, secrets: cfg.secrets()}
	r.errs = r.errorMap()
	return r, nil
}

// disconnectTimeout bounds the closing of a client's connections.
const disconnectTimeout = 10 * time.Second

// connect makes a client and checks that a server answers (ping), so
// that a resource whose servers are unreachable or whose credentials are
// wrong fails to open, with the reason.
func (r *Resource) connect(ctx context.Context) (*mongo.Client, error) {
	if r.closed.Load() {
		return nil, r.closedError()
	}
	client, err := mongo.Connect(r.opts)
	if err != nil {
		return nil, r.wrap(ctx, err, r.typ+" connect")
	}
	if err := client.Ping(ctx, r.opts.ReadPreference); err != nil {
		disconnect(ctx, client)
		return nil, r.wrap(ctx, err, r.typ+" connect")
	}
	return client, nil
}

// disconnect closes a client's connections, even when ctx is done.
func disconnect(ctx context.Context, client *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectTimeout)
	defer cancel()
	_ = client.Disconnect(ctx)
}

// Open makes an instance: a client of its own, with its pool.
func (r *Resource) Open(ctx context.Context) (sdk.Instance, error) {
	client, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	i := &Instance{client: client}
	i.store = store{res: r, db: client.Database(r.cfg.Database)}
	return i, nil
}

// Close marks the resource closed: its instances are closed by the host
// before it.
func (r *Resource) Close(context.Context) error {
	r.closed.Store(true)
	return nil
}

func (r *Resource) closedError() error {
	return sdk.Errorf(sdk.KindUnavailable, "%s resource %q is closed", r.typ, r.name)
}

// ping checks that the client reaches a server it may read from.
func (r *Resource) ping(ctx context.Context, client *mongo.Client) error {
	return r.wrap(ctx, client.Ping(ctx, r.opts.ReadPreference), r.typ+" ping")
}

// Instance is an instance of the shared type: one client, safe for
// concurrent use.
type Instance struct {
	store
	client *mongo.Client
}

// Check pings the server.
func (i *Instance) Check(ctx context.Context) error { return i.res.ping(ctx, i.client) }

// Close disconnects the client: its connections close once the
// operations using them end.
func (i *Instance) Close(ctx context.Context) error {
	disconnect(ctx, i.client)
	return nil
}

// RunCommand runs a database command.
func (i *Instance) RunCommand(ctx context.Context, a commandArgs) (commandResult, error) {
	return i.runCommand(ctx, a)
}

// Interface guards.
var (
	_ sdk.Resource      = (*Resource)(nil)
	_ sdk.Instance      = (*Instance)(nil)
	_ sdk.DocumentStore = (*Instance)(nil)
)
