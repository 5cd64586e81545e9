package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// wrap classifies err; what names the operation.
func (b *base) wrap(ctx context.Context, err error, what string) error {
	return wrapError(ctx, b.secrets, err, b.typ+" "+what)
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

// ctxError returns the error for a call whose context has ended, or nil.
func (b *base) ctxError(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return sdk.WrapError(sdk.KindOf(err), err, b.typ+" "+what)
	}
	return nil
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

func (in *kvInstance) usable(ctx context.Context, op string) error {
	if in.closed.Load() {
		return sdk.Errorf(sdk.KindFailedPrecondition, "%s %s: the instance is closed", in.b.typ, op)
	}
	return in.b.ctxError(ctx, op)
}

// Check sends PING (to every master in cluster mode).
func (in *kvInstance) Check(ctx context.Context) error {
	if err := in.usable(ctx, "check"); err != nil {
		return err
	}
	return in.b.wrap(ctx, in.ops.check(ctx), "check")
}

// Invoke performs one of the operations of the redis type, except the
// streaming subscribe.
func (in *kvInstance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if req.Operation == opSubscribe {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q streams its messages: call it with InvokeStream", req.Operation)
	}
	h, ok := redisHandlers[req.Operation]
	if !ok {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "%s has no operation %q", in.b.typ, req.Operation)
	}
	if err := in.usable(ctx, req.Operation); err != nil {
		return nil, err
	}
	return h(&in.ops, ctx, req)
}

// InvokeStream performs subscribe.
func (in *kvInstance) InvokeStream(ctx context.Context, req sdk.InvokeRequest, _ io.Reader, out io.Writer) (any, error) {
	if req.Operation != opSubscribe {
		if _, ok := redisHandlers[req.Operation]; ok {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "operation %q does not stream: call it with Invoke", req.Operation)
		}
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "%s has no operation %q", in.b.typ, req.Operation)
	}
	if err := in.usable(ctx, req.Operation); err != nil {
		return nil, err
	}
	return in.subscribe(ctx, req, out)
}

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
	_ sdk.Resource      = (*kvResource)(nil)
	_ sdk.Instance      = (*kvInstance)(nil)
	_ sdk.StreamInvoker = (*kvInstance)(nil)
)
