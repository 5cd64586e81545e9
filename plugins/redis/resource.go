package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// base is what both resource types keep from Configure.
type base struct {
	name    string
	typ     string
	cfg     Config
	opts    *goredis.UniversalOptions
	secrets []string
}

// openError classifies an error of opening an instance. go-redis reports a
// master that no sentinel knows as "all sentinels ... are unreachable:
// redis: nil"; the message says what to check instead.
func (b *base) openError(ctx context.Context, err error) error {
	what := "connecting to resource " + b.name
	if b.cfg.Mode == ModeSentinel && errors.Is(err, goredis.Nil) && ctx.Err() == nil {
		return &sdk.Error{Kind: sdk.KindUnavailable, Err: err, Message: fmt.Sprintf(
			"%s %s: no sentinel at %s knows a master named %q (check master_name)", b.typ, what, strings.Join(b.cfg.Addresses, ", "), b.cfg.MasterName)}
	}
	return b.wrap(ctx, err, what)
}

// usable returns the error for a call of operation op on an instance that
// is closed, or whose context has ended; nil otherwise.
func (b *base) usable(ctx context.Context, closed *atomic.Bool, op string) error {
	if closed.Load() {
		return sdk.Errorf(sdk.KindFailedPrecondition, "%s %s: the instance is closed", b.typ, op)
	}
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, b.typ+" "+op)
	}
	return nil
}

// instance is what the operations of both types run on: a kvInstance or
// a sessionInstance.
type instance interface {
	sdk.Instance
	// begin starts a call of operation op. It fails when the instance is
	// closed or the call's context has ended; otherwise the call runs
	// until it calls end.
	begin(ctx context.Context, op string) (end func(), err error)
	// kv is the kv operations on the instance's client or connection.
	kv() *kvOps
}

// operation declares the operation name of instances of type I, which fn
// performs once the instance has begun the call.
func operation[I instance, A, R any](name, description string, fn func(I, context.Context, A) (R, error)) sdk.Op[I] {
	return sdk.NewOp(name, description, func(in I, ctx context.Context, args A) (R, error) {
		end, err := in.begin(ctx, name)
		if err != nil {
			var zero R
			return zero, err
		}
		defer end()
		return fn(in, ctx, args)
	})
}

// kvResource is a configured redis resource. Each instance it opens is a
// go-redis client of its own.
type kvResource struct {
	*base
}

// Open creates a go-redis client and checks that it can reach the server
// (every master, in cluster mode) and authenticate.
func (r *kvResource) Open(ctx context.Context) (sdk.Instance, error) {
	client := r.cfg.newClient(r.opts)
	in := &kvInstance{b: r.base, client: client}
	in.ops = kvOps{b: r.base, c: client}
	if cc, ok := client.(*goredis.ClusterClient); ok {
		in.ops.cluster = cc
	}
	if err := in.ops.check(ctx); err != nil {
		_ = client.Close()
		return nil, r.openError(ctx, err)
	}
	return in, nil
}

// Close releases nothing: each instance owns its client, and the host closes
// every instance first.
func (r *kvResource) Close(context.Context) error { return nil }

// kvInstance is one go-redis client, safe for concurrent use: the client
// pools connections itself.
type kvInstance struct {
	b      *base
	client goredis.UniversalClient
	ops    kvOps
	closed atomic.Bool

	// subs are the subscribe calls running, which Close ends.
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

// Check sends PING (to every master in cluster mode).
func (in *kvInstance) Check(ctx context.Context) error {
	if err := in.b.usable(ctx, &in.closed, "check"); err != nil {
		return err
	}
	return in.b.wrap(ctx, in.ops.check(ctx), "check")
}

func (in *kvInstance) begin(ctx context.Context, op string) (func(), error) {
	return func() {}, in.b.usable(ctx, &in.closed, op)
}

func (in *kvInstance) kv() *kvOps { return &in.ops }

// Close closes the client and its connections. Calls in flight fail, and
// subscribe calls end with kind unavailable.
func (in *kvInstance) Close(context.Context) error {
	if in.closed.Swap(true) {
		return nil
	}
	in.mu.Lock()
	for s := range in.subs {
		s.close()
	}
	in.mu.Unlock()
	if err := in.client.Close(); err != nil && err != goredis.ErrClosed {
		return in.b.wrap(context.Background(), err, "close")
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Resource = (*kvResource)(nil)
	_ instance     = (*kvInstance)(nil)
)
