package host

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Lease is the use of one resource by one caller, from Acquire to Release.
// A Lease is safe for concurrent use; every method fails after Release.
type Lease struct {
	h    *Host
	r    *resource
	inst sdk.Instance
	gen  uint64

	once     sync.Once
	mu       sync.Mutex // guards released
	released bool
}

// Resource returns the resource's name, "type.name".
func (l *Lease) Resource() string { return l.r.id }

// Type describes the resource's type: its operations and capabilities.
func (l *Lease) Type() sdk.ResourceType { return l.r.rtype }

// Release returns the lease. It is safe to call more than once.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
		l.r.release()
	})
}

func (l *Lease) prepare(op string, args any, streaming bool) (json.RawMessage, error) {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: newError(sdk.KindFailedPrecondition, ErrLeaseReleased, "the lease was released")}
	}
	o, err := findOperation(l.r.rtype, op)
	if err != nil {
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: err}
	}
	switch {
	case streaming && o.Stream == sdk.StreamNone:
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: sdk.Errorf(sdk.KindInvalidArgument, "operation %q does not stream; use Invoke", op)}
	case !streaming && o.Stream != sdk.StreamNone:
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: sdk.Errorf(sdk.KindInvalidArgument, "operation %q streams (%s); use InvokeStream", op, o.Stream)}
	}
	raw, err := encodeArgs(args)
	if err == nil {
		raw, err = checkArgs(o, raw)
	}
	if err != nil {
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: err}
	}
	return raw, nil
}

// Invoke performs an operation and returns its JSON result. args may be
// nil, JSON (json.RawMessage, []byte or string), or any value that
// encodes to a JSON object. Arguments are checked against the operation's
// schema before they reach the plugin.
//
// Errors are *CallError values that unwrap to an error of an sdk.Kind:
// test them with sdk.KindOf or errors.Is(err, sdk.ErrUnavailable).
func (l *Lease) Invoke(ctx context.Context, op string, args any) (json.RawMessage, error) {
	raw, err := l.prepare(op, args, false)
	if err != nil {
		return nil, err
	}
	res, err := l.inst.Invoke(ctx, sdk.InvokeRequest{Operation: op, Args: raw})
	if err != nil {
		return nil, l.h.callError(l.r, op, err)
	}
	return resultJSON(l.r.id, op, res)
}

// InvokeStream performs a streaming operation: it sends what it reads from
// in (which may be nil for a download) and writes what the plugin streams
// back to out (which may be nil to discard it), and returns the result.
// in must reach io.EOF or fail for the call to end.
func (l *Lease) InvokeStream(ctx context.Context, op string, args any, in io.Reader, out io.Writer) (json.RawMessage, error) {
	raw, err := l.prepare(op, args, true)
	if err != nil {
		return nil, err
	}
	si, ok := l.inst.(sdk.StreamInvoker)
	if !ok {
		return nil, &CallError{Resource: l.r.id, Operation: op, Err: sdk.Errorf(sdk.KindUnimplemented, "the driver has no streaming operations")}
	}
	if out == nil {
		out = io.Discard
	}
	res, err := si.InvokeStream(ctx, sdk.InvokeRequest{Operation: op, Args: raw}, in, out)
	if err != nil {
		return nil, l.h.callError(l.r, op, err)
	}
	return resultJSON(l.r.id, op, res)
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
