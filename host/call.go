package host

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/nebula-resource/nebula-resource/host/resilience"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// call is one call of a resource's driver on the data path. Every such
// call goes through call.run (or call.once, for a stream or a query),
// which applies the resource's resilience policies, its metrics, its span
// and its log once, around the driver's instance; the call sites (Invoke,
// InvokeStream, Query, Exec, Begin, Commit, Rollback) only say what to
// call.
//
// A call is a value on its caller's stack: a call that no policy wraps
// allocates nothing of its own.
type call struct {
	r     *resource
	op    string
	n     int // op's index among the resource's operations; -1 when it is none (begin, commit)
	owner Owner
	// query is SQL text, recorded in the span only with query_text = true.
	query string
	// idempotent allows the retry policy.
	idempotent bool

	// What an attempt does: fn when set (a SQL call on lease), else the
	// operation op with the arguments args, on lease, or, when lease is
	// nil, on a lease of the attempt's own (Host.Invoke), so that a retry
	// after an instance broke runs on a working one.
	lease *Lease
	args  json.RawMessage
	fn    func(context.Context) (any, error)

	ctx   context.Context // the call's, with its span
	span  trace.Span      // nil without tracing
	began time.Time
}

// opCall returns the call of operation o on r.
func opCall(r *resource, o *operation, owner Owner, args json.RawMessage) call {
	return call{r: r, op: o.Name, n: o.n, owner: owner, idempotent: o.idempotent(args), args: args}
}

// run performs the call under the resource's resilience policies.
func (c *call) run(ctx context.Context) (any, error) {
	ctx = c.begin(ctx)
	var res any
	var err error
	if c.r.pol == nil {
		res, err = c.attempt(ctx)
		err = resilience.Unmark(err)
	} else {
		res, err = c.underPolicies(ctx)
	}
	c.end(err)
	return res, err
}

// underPolicies runs the attempts of the call under its resource's
// policies: apart from run, so that only a call that has policies
// allocates the closure they take.
func (c *call) underPolicies(ctx context.Context) (any, error) {
	cc := *c
	return c.r.pol.Run(ctx, c.idempotent, cc.attempt)
}

// attempt performs one attempt of the call.
func (c *call) attempt(ctx context.Context) (any, error) {
	switch {
	case c.fn != nil:
		began := time.Now()
		res, err := c.fn(ctx)
		return res, c.lease.outcome(began, err)
	case c.lease != nil:
		return c.lease.attempt(ctx, c.op, c.args)
	}
	l, err := c.r.acquire(ctx, c.r.host, c.owner)
	if err != nil {
		if errors.Is(err, ErrNotReady) {
			// Quarantined, closed or restarting: waiting a backoff will
			// not help, and fast failure is the point.
			err = resilience.Final(err)
		}
		return nil, err
	}
	defer l.releaseOwn()
	// The lease is this attempt's own: an instance that broke is replaced
	// by the next attempt's lease, so the error is not final.
	v, err := l.attempt(ctx, c.op, c.args)
	return v, resilience.Unmark(err)
}

// once performs fn, a call on c.lease that is never retried (a stream, a
// query until its first rows), after the circuit breaker and the bulkhead
// let it through: of the resilience policies only they apply, and only
// ctx bounds it. It returns the call's context, which fn was given.
func (c *call) once(ctx context.Context, fn func(context.Context) (any, error)) (any, context.Context, error) {
	ctx = c.begin(ctx)
	done, err := c.r.pol.Admit(ctx)
	if err != nil {
		c.end(err)
		return nil, ctx, err
	}
	began := time.Now()
	res, err := fn(ctx)
	done(err)
	c.end(err)
	return res, ctx, resilience.Unmark(c.lease.outcome(began, err))
}

// stream performs fn, a streaming call on c.lease, under the policies
// that apply to a stream (resilience.Policies.RunStream): the circuit
// breaker and the bulkhead, and, when retry allows it, the retry policy.
// Only ctx bounds it.
func (c *call) stream(ctx context.Context, retry bool, fn func(context.Context) (any, error)) (any, error) {
	ctx = c.begin(ctx)
	res, err := c.r.pol.RunStream(ctx, retry, func(ctx context.Context) (any, error) {
		began := time.Now()
		res, err := fn(ctx)
		return res, c.lease.outcome(began, err)
	})
	c.end(err)
	return res, err
}

// begin starts the call's span, recording the SQL text only with
// query_text = true (parameters and arguments never), and returns the
// call's context.
func (c *call) begin(ctx context.Context) context.Context {
	c.ctx, c.began = ctx, time.Now()
	if c.r.host.tel.tracer == nil {
		return ctx
	}
	c.ctx, c.span = c.r.startSpan(ctx, c.op, c.owner)
	if c.query != "" && c.r.host.tel.queryText && c.span.IsRecording() {
		// A secret written into the text itself is masked like
		// everywhere else.
		c.span.SetAttributes(attribute.String("db.query.text", c.r.host.secrets.String(c.query)))
	}
	return c.ctx
}

// end records the call's outcome in its span and the metrics, and logs a
// failure at debug level with the owner and, when traced, the trace.
func (c *call) end(err error) {
	took := time.Since(c.began)
	h := c.r.host
	h.tel.m.observeCall(c.r, c.op, c.n, c.owner, took, err)
	if err != nil && h.log.Enabled(c.ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("operation", c.op), slog.String("kind", string(sdk.KindOf(err))),
			slog.Duration("took", took), slog.String("error", err.Error())}
		attrs = append(attrs, c.owner.attrs()...)
		c.r.logger().LogAttrs(c.ctx, slog.LevelDebug, "call failed", attrs...)
	}
	endSpan(c.span, err)
}
