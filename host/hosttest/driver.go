package hosttest

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// driver serves a resource type in process through its driver, with the
// faults and the record of the Resource controls in between.
type driver struct {
	sdk.Driver
	types    map[string]sdk.ResourceType
	resource func(id string) *Resource
}

func wrapDriver(d sdk.Driver, resource func(id string) *Resource) *driver {
	types := map[string]sdk.ResourceType{}
	for _, t := range d.Info().Types {
		types[t.Name] = t
	}
	return &driver{Driver: d, types: types, resource: resource}
}

// ValidateConfig passes the check on to the driver, if it has one.
func (d *driver) ValidateConfig(ctx context.Context, req sdk.ValidateRequest) error {
	if v, ok := d.Driver.(sdk.ConfigValidator); ok {
		return v.ValidateConfig(ctx, req)
	}
	return nil
}

func (d *driver) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	res, err := d.Driver.Configure(ctx, req)
	if err != nil {
		return nil, err
	}
	t := d.types[req.Type]
	c := d.resource(req.Type + "." + req.Name)
	c.configured(t, req.Config)
	return &resource{Resource: res, c: c, t: t}, nil
}

type resource struct {
	sdk.Resource
	c *Resource
	t sdk.ResourceType
}

func (r *resource) Open(ctx context.Context) (sdk.Instance, error) {
	if err, _ := r.c.before(ctx, ""); err != nil {
		return nil, err
	}
	inst, err := r.Resource.Open(ctx)
	if err != nil {
		return nil, err
	}
	return wrapInstance(&instance{inner: inst, c: r.c, t: r.t}), nil
}

// instance is an instance of the driver with the faults in front of it.
// It performs the operations itself (sdk.Invoker), by the driver's
// resource type, so that the driver's typed operations see the driver's
// own instance. wrapInstance adds the driver's optional interfaces.
type instance struct {
	inner sdk.Instance
	c     *Resource
	t     sdk.ResourceType
}

func (i *instance) Check(ctx context.Context) error {
	if err, _ := i.c.before(ctx, ""); err != nil {
		return err
	}
	return i.inner.Check(ctx)
}

// Close is never delayed: a partitioned host still shuts down.
func (i *instance) Close(ctx context.Context) error { return i.inner.Close(ctx) }

func (i *instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	began := time.Now()
	err, injected := i.c.before(ctx, req.Operation)
	var res any
	if err == nil {
		res, err = i.t.Invoke(ctx, i.inner, req)
	}
	i.c.record(req.Operation, req.Args, began, err, injected)
	return res, err
}

func (i *instance) invokeStream(ctx context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	began := time.Now()
	err, injected := i.c.before(ctx, req.Operation)
	var res any
	if err == nil {
		res, err = i.t.InvokeStream(ctx, i.inner, req, in, out)
	}
	i.c.record(req.Operation, req.Args, began, err, injected)
	return res, err
}

// Reset resets the driver's instance, if it can reset.
func (i *instance) Reset(ctx context.Context) error {
	if r, ok := i.inner.(sdk.Resetter); ok {
		return r.Reset(ctx)
	}
	return nil
}

// SessionClean tells the host whether to Reset: as the driver's instance
// would, and clean when it cannot reset.
func (i *instance) SessionClean() bool {
	if s, ok := i.inner.(sdk.SessionReporter); ok {
		return s.SessionClean()
	}
	_, resets := i.inner.(sdk.Resetter)
	return !resets
}

// sql runs one SQL call through the faults and records it.
func sqlCall[T any](ctx context.Context, i *instance, op string, args json.RawMessage, call func(sdk.SQLInstance) (T, error)) (T, error) {
	began := time.Now()
	err, injected := i.c.before(ctx, op)
	var res T
	if err == nil {
		res, err = call(i.inner.(sdk.SQLInstance))
	}
	i.c.record(op, args, began, err, injected)
	return res, err
}

// sqlMethods are the methods of an instance whose driver speaks SQL.
type sqlMethods struct{ i *instance }

func (s sqlMethods) Query(ctx context.Context, st sdk.Statement) (sdk.Rows, error) {
	return sqlCall(ctx, s.i, "query", statementArgs(st), func(si sdk.SQLInstance) (sdk.Rows, error) { return si.Query(ctx, st) })
}

func (s sqlMethods) Exec(ctx context.Context, st sdk.Statement) (sdk.ExecResult, error) {
	return sqlCall(ctx, s.i, "exec", statementArgs(st), func(si sdk.SQLInstance) (sdk.ExecResult, error) { return si.Exec(ctx, st) })
}

func (s sqlMethods) Begin(ctx context.Context, opts sdk.TxOptions) error {
	_, err := sqlCall(ctx, s.i, "begin", nil, func(si sdk.SQLInstance) (struct{}, error) { return struct{}{}, si.Begin(ctx, opts) })
	return err
}

func (s sqlMethods) Commit(ctx context.Context) error {
	_, err := sqlCall(ctx, s.i, "commit", nil, func(si sdk.SQLInstance) (struct{}, error) { return struct{}{}, si.Commit(ctx) })
	return err
}

func (s sqlMethods) Rollback(ctx context.Context) error {
	_, err := sqlCall(ctx, s.i, "rollback", nil, func(si sdk.SQLInstance) (struct{}, error) { return struct{}{}, si.Rollback(ctx) })
	return err
}

// batchMethod is the method of an SQL instance that batches.
type batchMethod struct{ i *instance }

func (b batchMethod) Batch(ctx context.Context, stmts []sdk.Statement) ([]sdk.ExecResult, error) {
	return sqlCall(ctx, b.i, "batch", statementArgs(stmts...), func(si sdk.SQLInstance) ([]sdk.ExecResult, error) {
		return si.(sdk.Batcher).Batch(ctx, stmts)
	})
}

// streamMethod is the method of an instance with streaming operations.
type streamMethod struct{ i *instance }

func (s streamMethod) InvokeStream(ctx context.Context, req sdk.InvokeRequest, in io.Reader, out io.Writer) (any, error) {
	return s.i.invokeStream(ctx, req, in, out)
}

// wrapInstance returns i with exactly the optional interfaces of the
// driver's instance that the host looks for (SQL, batches, streams), so
// the host treats it as it would the driver's own.
func wrapInstance(i *instance) sdk.Instance {
	si, isSQL := i.inner.(sdk.SQLInstance)
	batches := false
	if isSQL {
		_, batches = si.(sdk.Batcher)
	}
	streams := i.t.Streams(i.inner)
	s, b, st := sqlMethods{i}, batchMethod{i}, streamMethod{i}
	switch {
	case isSQL && batches && streams:
		return struct {
			*instance
			sqlMethods
			batchMethod
			streamMethod
		}{i, s, b, st}
	case isSQL && batches:
		return struct {
			*instance
			sqlMethods
			batchMethod
		}{i, s, b}
	case isSQL && streams:
		return struct {
			*instance
			sqlMethods
			streamMethod
		}{i, s, st}
	case isSQL:
		return struct {
			*instance
			sqlMethods
		}{i, s}
	case streams:
		return struct {
			*instance
			streamMethod
		}{i, st}
	}
	return i
}
