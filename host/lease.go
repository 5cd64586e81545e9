package host

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/host/pool"
	"github.com/nebula-resource/nebula-resource/host/resilience"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Owner says who holds a lease, for leak reports and, later, quotas. Every
// field is optional.
type Owner struct {
	Tenant   string `json:"tenant,omitempty"`
	Workflow string `json:"workflow,omitempty"`
	Step     string `json:"step,omitempty"`
}

// String returns "tenant=… workflow=… step=…" with the fields that are set,
// or "unknown".
func (o Owner) String() string {
	var parts []string
	for _, f := range [][2]string{{"tenant", o.Tenant}, {"workflow", o.Workflow}, {"step", o.Step}} {
		if f[1] != "" {
			parts = append(parts, f[0]+"="+f[1])
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " ")
}

// attrs returns the owner's fields that are set, for a log line.
func (o Owner) attrs() []slog.Attr {
	var out []slog.Attr
	for _, f := range [][2]string{{"tenant", o.Tenant}, {"workflow", o.Workflow}, {"step", o.Step}} {
		if f[1] != "" {
			out = append(out, slog.String(f[0], f[1]))
		}
	}
	return out
}

// AcquireOption configures one Acquire.
type AcquireOption func(*Owner)

// ownerOf returns the owner that opts label a lease with. Without
// options it allocates nothing.
func ownerOf(opts []AcquireOption) Owner {
	if len(opts) == 0 {
		return Owner{}
	}
	o := new(Owner)
	for _, opt := range opts {
		opt(o)
	}
	return *o
}

// WithOwner labels the lease with its owner.
func WithOwner(o Owner) AcquireOption { return func(dst *Owner) { *dst = o } }

// ForTenant labels the lease with its owner's tenant.
func ForTenant(t string) AcquireOption { return func(o *Owner) { o.Tenant = t } }

// ForWorkflow labels the lease with its owner's workflow.
func ForWorkflow(w string) AcquireOption { return func(o *Owner) { o.Workflow = w } }

// ForStep labels the lease with its owner's step.
func ForStep(s string) AcquireOption { return func(o *Owner) { o.Step = s } }

// Lease is the use of one resource by one caller, from Acquire to Release.
// For a resource of exclusive pooling the lease has sole use of one
// instance (one database session, say), so a transaction can span calls.
// A Lease is safe for concurrent use; every method fails after Release, and
// after the host reclaimed a lease held past its lease_timeout.
type Lease struct {
	h        *Host
	r        *resource
	pl       poolLease
	inst     sdk.Instance
	gen      uint64
	owner    Owner
	acquired time.Time
	// shared is pl's lease of a replica, for a resource of shared
	// pooling: a part of the Lease, not an allocation of its own.
	shared pool.SharedLease[sdk.Instance]
	// unquota gives back the lease its tenant's quota counts; nil when
	// none does. Called once, when the lease ends (resource.leaseEnded).
	unquota func()

	mu        sync.Mutex // guards the fields below
	released  bool
	reclaimed bool
	broken    bool
	reported  bool
}

// leases holds the host's own leases (those of Host.Invoke's attempts)
// once they ended, for the next acquire: a lease nobody else ever saw can
// be used again, which saves a call on a warm pool its allocation.
var leases = sync.Pool{New: func() any { return new(Lease) }}

// newLease returns a zero Lease.
func newLease() *Lease {
	l := leases.Get().(*Lease)
	*l = Lease{}
	return l
}

// releaseOwn releases one of the host's own leases, which no caller
// holds, and keeps it for another acquire unless the sweep of overdue
// leases saw it (reported), which may still hold it.
func (l *Lease) releaseOwn() {
	l.Release()
	l.mu.Lock()
	reported := l.reported
	l.mu.Unlock()
	if !reported {
		leases.Put(l)
	}
}

// Resource returns the resource's name, "type.name".
func (l *Lease) Resource() string { return l.r.id }

// Owner returns the labels the lease was acquired with.
func (l *Lease) Owner() Owner { return l.owner }

// Type describes the resource's type: its operations and capabilities.
func (l *Lease) Type() sdk.ResourceType { return *l.r.rtype }

// Broken reports the lease's instance as broken: when the lease ends the
// instance is closed, never handed to anyone else (a shared replica is
// replaced). The host marks an exclusive instance so itself when a call on
// it fails as unavailable.
func (l *Lease) Broken() {
	l.mu.Lock()
	l.broken = true
	l.mu.Unlock()
}

// Release returns the lease: an exclusive instance is reset (a transaction
// left open is rolled back) and goes to the next caller. It is safe to call
// more than once.
func (l *Lease) Release() {
	l.mu.Lock()
	if l.released || l.reclaimed {
		l.released = true
		l.mu.Unlock()
		return
	}
	l.released = true
	broken := l.broken
	l.mu.Unlock()
	l.r.host.tel.m.observeUse(l.r, time.Since(l.acquired))
	if broken {
		l.pl.destroy()
	} else {
		l.pl.release()
	}
	l.r.leaseEnded(l)
}

// reclaim takes the lease back from a holder who kept it past the
// resource's lease_timeout. An exclusive instance is closed, since the
// holder may still be using it; a shared replica only loses the lease.
func (l *Lease) reclaim() bool {
	l.mu.Lock()
	if l.released || l.reclaimed {
		l.mu.Unlock()
		return false
	}
	l.reclaimed = true
	l.mu.Unlock()
	if l.r.rtype.Pooling == sdk.PoolingExclusive {
		l.pl.destroy()
	} else {
		l.pl.release()
	}
	l.r.leaseEnded(l)
	return true
}

func (l *Lease) markReported() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reported || l.released || l.reclaimed {
		return false
	}
	l.reported = true
	return true
}

// ended returns the error for a call on a lease that was released or
// reclaimed, or nil while the lease is live.
func (l *Lease) ended(op string) error {
	l.mu.Lock()
	released, reclaimed := l.released, l.reclaimed
	l.mu.Unlock()
	var err error
	switch {
	case reclaimed:
		err = newError(sdk.KindFailedPrecondition, ErrLeaseReclaimed,
			"the lease was reclaimed after it was held past lease_timeout (%v); acquire a new one", l.r.set.pool.LeaseTimeout)
	case released:
		err = newError(sdk.KindFailedPrecondition, ErrLeaseReleased, "the lease was released")
	default:
		return nil
	}
	return &CallError{Resource: l.r.id, Operation: op, Err: err}
}

// operation is an operation of a resource type, with its arguments
// checker compiled.
type operation struct {
	sdk.Operation
	n    int // its index among the type's operations
	args *argChecker
	// marks are the arguments by which a call of an operation that is
	// not idempotent makes itself so: sdk.IdempotentArg set true,
	// sdk.IdempotencyKeyArg set, Operation.IdempotentIf's argument holding
	// one of its values. Empty when no call can.
	marks []idempotencyMark
}

// An idempotencyMark is an argument that makes a call idempotent when it
// holds a value that ok accepts.
type idempotencyMark struct {
	arg string
	ok  func(json.RawMessage) bool
}

// idempotencyMarks returns the arguments of op by which a call marks
// itself idempotent.
func idempotencyMarks(op sdk.Operation) []idempotencyMark {
	var marks []idempotencyMark
	if a, ok := op.Args.Attribute(sdk.IdempotentArg); ok && a.Type.Kind == sdk.TypeBool {
		marks = append(marks, idempotencyMark{sdk.IdempotentArg, func(v json.RawMessage) bool { return string(v) == "true" }})
	}
	if a, ok := op.Args.Attribute(sdk.IdempotencyKeyArg); ok && a.Type.Kind == sdk.TypeString {
		marks = append(marks, idempotencyMark{sdk.IdempotencyKeyArg, func(v json.RawMessage) bool {
			var s string
			return json.Unmarshal(v, &s) == nil && s != ""
		}})
	}
	if c := op.IdempotentIf; c != nil {
		if a, ok := op.Args.Attribute(c.Arg); ok && a.Type.Kind == sdk.TypeString {
			values := slices.Clone(c.Values)
			marks = append(marks, idempotencyMark{c.Arg, func(v json.RawMessage) bool {
				var s string
				return json.Unmarshal(v, &s) == nil && slices.Contains(values, s)
			}})
		}
	}
	return marks
}

// idempotent reports whether a call of o with the arguments args (checked
// and completed) may be retried.
func (o *operation) idempotent(args json.RawMessage) bool {
	if o.Idempotent || len(o.marks) == 0 {
		return o.Idempotent
	}
	var a map[string]json.RawMessage
	if json.Unmarshal(args, &a) != nil {
		return false
	}
	for _, m := range o.marks {
		if v, ok := a[m.arg]; ok && m.ok(v) {
			return true
		}
	}
	return false
}

// idempotentWhen says, for listings, which calls of an operation that is
// not idempotent are: "" when none are.
func idempotentWhen(op sdk.Operation) string {
	if op.Idempotent {
		return ""
	}
	var when []string
	for _, m := range idempotencyMarks(op) {
		switch m.arg {
		case sdk.IdempotentArg:
			when = append(when, m.arg+" is true")
		case sdk.IdempotencyKeyArg:
			when = append(when, m.arg+" is set")
		default:
			when = append(when, m.arg+" is "+strings.Join(op.IdempotentIf.Values, ", "))
		}
	}
	return strings.Join(when, "; or ")
}

// compileOperations compiles the argument checkers of t's operations.
func compileOperations(t sdk.ResourceType) map[string]*operation {
	ops := make(map[string]*operation, len(t.Operations))
	for _, o := range t.Operations {
		if _, dup := ops[o.Name]; !dup { // ResourceType.Operation finds the first
			ops[o.Name] = &operation{Operation: o, n: len(ops), args: newArgChecker(o), marks: idempotencyMarks(o)}
		}
	}
	return ops
}

// opIndex returns the index of the operation op among r's operations,
// or -1 when op is none (begin, commit).
func (r *resource) opIndex(op string) int {
	if o := r.ops[op]; o != nil {
		return o.n
	}
	return -1
}

// prepareCall checks a call before it reaches the plugin: the operation
// exists and streams or not as asked, and the arguments fit its schema.
// It returns the operation and the arguments completed with defaults.
func (r *resource) prepareCall(op string, args any, streaming bool) (*operation, json.RawMessage, error) {
	o := r.ops[op]
	if o == nil {
		_, err := findOperation(*r.rtype, op)
		return nil, nil, &CallError{Resource: r.id, Operation: op, Err: err}
	}
	var err error
	switch {
	case streaming && o.Stream == sdk.StreamNone:
		err = sdk.Errorf(sdk.KindInvalidArgument, "operation %q does not stream: call it as a plain operation (Invoke; nebula-host call without -in, -out or -stream)", op)
	case !streaming && o.Stream != sdk.StreamNone:
		err = sdk.Errorf(sdk.KindInvalidArgument, "operation %q streams (%s): call it as a stream (InvokeStream, OpenReader or OpenWriter; nebula-host call with -stream, -out or -in)", op, o.Stream)
	}
	var raw json.RawMessage
	if err == nil {
		raw, err = encodeArgs(args)
	}
	if err == nil {
		raw, err = o.args.check(raw)
	}
	if err != nil {
		return nil, nil, &CallError{Resource: r.id, Operation: op, Err: err}
	}
	return o, raw, nil
}

// attempt performs one attempt of an operation on the lease's instance.
func (l *Lease) attempt(ctx context.Context, op string, raw json.RawMessage) (any, error) {
	if err := l.ended(op); err != nil {
		return nil, resilience.Final(err)
	}
	began := time.Now()
	res, err := l.r.pluginType.Invoke(ctx, l.inst, sdk.InvokeRequest{Operation: op, Args: raw})
	return res, l.outcome(began, err)
}

// outcome records a call's outcome: its latency feeds replica selection,
// and an error that leaves an exclusive session unusable or in an unknown
// state marks it broken, which also makes the error final: retrying on a
// broken session is pointless.
func (l *Lease) outcome(began time.Time, err error) error {
	l.pl.observe(time.Since(began), err)
	// A shared replica serves other leases too: one failed call does not
	// condemn it (its error rate steers the weighted selection).
	if err != nil && l.r.rtype.Pooling == sdk.PoolingExclusive && breaksSession(err) {
		l.Broken()
		return resilience.Final(err)
	}
	return err
}

// breaksSession reports whether a call that failed with err leaves its
// exclusive session unusable: the backend went away (unavailable), or the
// call was cut off midway (timeout, canceled), so the session may still be
// busy with it or hold half of its state. Like pgxpool with an
// interrupted connection, the host closes such a session rather than
// resetting it.
func breaksSession(err error) bool {
	switch sdk.KindOf(err) {
	case sdk.KindUnavailable, sdk.KindTimeout, sdk.KindCanceled:
		return true
	}
	return false
}

// finish records the outcome of a call made without the retry policies
// and returns its JSON result or its error.
func (l *Lease) finish(op string, began time.Time, res any, err error, args json.RawMessage, input ...string) (json.RawMessage, error) {
	return l.r.result(l.h, op, res, resilience.Unmark(l.outcome(began, err)), args, input...)
}

// result returns a call's JSON result, or its error naming the resource
// and operation. The caller's input (input, and the strings of the JSON
// arguments args) masks the error; it is read only for an error, since
// reading a megabyte of arguments costs milliseconds.
func (r *resource) result(h *Host, op string, res any, err error, args json.RawMessage, input ...string) (json.RawMessage, error) {
	if err != nil {
		if len(args) > 0 {
			input = append(input, sdk.JSONStrings(args)...)
		}
		return nil, h.callError(r, op, err, input...)
	}
	return resultJSON(r.id, op, res)
}

// Invoke performs an operation and returns its JSON result. args may be
// nil, JSON (json.RawMessage, []byte or string), or any value that
// encodes to a JSON object. Arguments are checked against the operation's
// schema before they reach the plugin. The resource's resilience policies
// apply; an idempotent operation may be retried on this lease's instance,
// unless the instance broke.
//
// Errors are *CallError values that unwrap to an error of an sdk.Kind:
// test them with sdk.KindOf or errors.Is(err, sdk.ErrUnavailable).
func (l *Lease) Invoke(ctx context.Context, op string, args any) (json.RawMessage, error) {
	if l.isHostSQLOperation(op) {
		raw, err := encodeArgs(args)
		if err != nil {
			return nil, &CallError{Resource: l.r.id, Operation: op, Err: err}
		}
		return l.invokeSQLJSON(ctx, op, raw)
	}
	if err := l.ended(op); err != nil {
		return nil, err
	}
	o, raw, err := l.r.prepareCall(op, args, false)
	if err != nil {
		return nil, err
	}
	c := opCall(l.r, o, l.owner, raw)
	c.lease = l
	res, err := c.run(ctx)
	return l.r.result(l.h, op, res, err, raw)
}

// InvokeStream performs a streaming operation: it sends what it reads from
// in (which may be nil for a download) and writes what the plugin streams
// back to out (which may be nil to discard it), and returns the result.
// in must reach io.EOF or fail for the call to end. Of the resilience
// policies, the circuit breaker and the bulkhead apply; a stream is never
// retried, and only ctx bounds it.
func (l *Lease) InvokeStream(ctx context.Context, op string, args any, in io.Reader, out io.Writer) (json.RawMessage, error) {
	run, err := l.stream(op, args)
	if err != nil {
		return nil, err
	}
	return run(ctx, in, out)
}

// stream checks a streaming operation's arguments and returns the call,
// which InvokeStream makes at once and OpenReader and OpenWriter on a
// goroutine of their stream.
func (l *Lease) stream(op string, args any) (func(ctx context.Context, in io.Reader, out io.Writer) (json.RawMessage, error), error) {
	if err := l.ended(op); err != nil {
		return nil, err
	}
	o, raw, err := l.r.prepareCall(op, args, true)
	if err != nil {
		return nil, err
	}
	if !l.r.pluginType.Streams(l.inst) {
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: sdk.Errorf(sdk.KindUnimplemented, "the driver has no streaming operations")}
	}
	return func(ctx context.Context, in io.Reader, out io.Writer) (json.RawMessage, error) {
		if out == nil {
			out = io.Discard
		}
		// A stream may run until it is canceled (a subscription does): the
		// host's Close cancels it, rather than waiting shutdown_timeout for
		// it.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(l.h.life, cancel)()
		c := opCall(l.r, o, l.owner, raw)
		c.lease = l
		// A stream is retried only while a new attempt is the same as
		// the first: it has no input to send again, and nothing of it
		// has reached the caller.
		retry := c.idempotent && in == nil
		sent := &countingWriter{w: out}
		res, err := c.stream(ctx, retry, func(ctx context.Context) (any, error) {
			res, err := l.r.pluginType.InvokeStream(ctx, l.inst, sdk.InvokeRequest{Operation: op, Args: raw}, in, sent)
			if err != nil && sent.n > 0 {
				err = resilience.Final(err)
			}
			return res, err
		})
		return l.r.result(l.h, op, res, err, raw)
	}, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func resultJSON(resource, op string, res any) (json.RawMessage, error) {
	switch r := res.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		return r, nil
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, &CallError{Resource: resource, Operation: op, Err: sdk.Errorf(sdk.KindInternal, "encode result: %v", err)}
	}
	return raw, nil
}

// Use acquires the named resource, runs fn with the lease, and always
// releases it, even when fn panics.
func Use(ctx context.Context, h *Host, name string, fn func(*Lease) error, opts ...AcquireOption) error {
	l, err := h.Acquire(ctx, name, opts...)
	if err != nil {
		return err
	}
	defer l.Release()
	return fn(l)
}

// Call performs one operation on the named resource and decodes its JSON
// result into a T:
//
//	type got struct{ Value string; Found bool }
//	v, err := host.Call[got](ctx, h, "memory.cache", "get", map[string]any{"key": "a"})
func Call[T any](ctx context.Context, h *Host, name, op string, args any, opts ...AcquireOption) (T, error) {
	var out T
	err := Use(ctx, h, name, func(l *Lease) error {
		raw, err := l.Invoke(ctx, op, args)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return &CallError{Resource: name, Operation: op, Err: sdk.Errorf(sdk.KindInternal, "decode the result into %T: %v", out, err)}
		}
		return nil
	}, opts...)
	return out, err
}
