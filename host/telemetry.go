package host

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// tracerName names the host's instrumentation scope.
const tracerName = "github.com/nebula-resource/nebula-resource/host"

// telemetry is what the host records about its work: a span for each
// acquire and each call (a no-op tracer when tracing is off), and the
// Prometheus metrics (nil when they are off).
type telemetry struct {
	tracer    trace.Tracer // nil when the host does not trace
	queryText bool
	m         *metrics
	gatherer  prometheus.Gatherer
	// shutdown flushes and stops a tracer provider the host built itself
	// from the telemetry block; nil otherwise.
	shutdown func(context.Context) error
}

// newTelemetry sets up tracing and metrics from the options, or else from
// the configuration's telemetry block.
func newTelemetry(h *Host, cfg config.Telemetry, o *options) (*telemetry, error) {
	t := &telemetry{queryText: cfg.Tracing.QueryText || o.queryText}
	tp := o.tracerProvider
	if tp == nil && cfg.Tracing.Endpoint != "" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Tracing.Endpoint), otlptracegrpc.WithHeaders(cfg.Tracing.Headers)}
		if cfg.Tracing.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err := otlptracegrpc.New(context.Background(), opts...)
		if err != nil {
			return nil, err
		}
		// Export errors (a collector that is down) go to the host's log,
		// not to stderr in the SDK's own format.
		log := h.log
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("exporting traces failed", "error", err)
		}))
		sp := sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Tracing.SampleRatio))),
			sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", "nebula-host"), attribute.String("service.version", o.version))),
		)
		tp, t.shutdown = sp, sp.Shutdown
	}
	if tp != nil {
		t.tracer = tp.Tracer(tracerName)
	}
	if cfg.Metrics.Disabled && o.registry == nil {
		return t, nil
	}
	reg := o.registry
	if reg == nil {
		reg = newRegistry()
	}
	m, err := newMetrics(reg, h, o.version, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	t.m, t.gatherer = m, reg
	return t, nil
}

// Gatherer returns the registry the host's metrics are in, for serving
// /metrics; nil when metrics are off (telemetry { metrics { enabled =
// false } } without WithMetricsRegistry).
func (h *Host) Gatherer() prometheus.Gatherer { return h.tel.gatherer }

// endpoint is what the host can tell of a resource's backend for the
// semantic conventions: the database system, the database, and the server.
type endpoint struct {
	dbSystem  string
	namespace string
	address   string
	port      int
}

// dbSystems maps driver names to OpenTelemetry db.system.name values.
var dbSystems = map[string]string{
	"postgres": "postgresql", "mysql": "mysql", "sqlite": "sqlite", "redis": "redis", "mongodb": "mongodb",
}

// endpointOf reads the backend's address from the resource's configuration
// where it has the usual attributes (url, or host, port and database),
// never user information. Other resources get only their system: the
// driver's name.
func endpointOf(driver string, cfg json.RawMessage) endpoint {
	e := endpoint{dbSystem: driver}
	if s, ok := dbSystems[driver]; ok {
		e.dbSystem = s
	}
	var c struct {
		URL      string `json:"url"`
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Database string `json:"database"`
		Path     string `json:"path"`
	}
	_ = json.Unmarshal(cfg, &c)
	if u, err := url.Parse(c.URL); err == nil && u.Host != "" {
		e.address = u.Hostname()
		e.port, _ = strconv.Atoi(u.Port())
		e.namespace = strings.TrimPrefix(u.Path, "/")
	}
	if c.Host != "" {
		if h, p, err := net.SplitHostPort(c.Host); err == nil {
			e.address = h
			e.port, _ = strconv.Atoi(p)
		} else {
			e.address = c.Host
		}
	}
	if c.Port != 0 {
		e.port = c.Port
	}
	if c.Database != "" {
		e.namespace = c.Database
	}
	return e
}

// startSpan starts the span "op type.name" of kind client with the
// resource's attributes. Without tracing it returns ctx and a nil span,
// at no cost.
func (r *resource) startSpan(ctx context.Context, op string, owner Owner) (context.Context, trace.Span) {
	if r.host.tel.tracer == nil {
		return ctx, nil
	}
	ctx, span := r.host.tel.tracer.Start(ctx, op+" "+r.id, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", r.endpoint.dbSystem),
		attribute.String("db.operation.name", op),
		attribute.String("nebula.resource", r.id),
		attribute.String("nebula.resource.type", r.typ()),
	}
	if r.endpoint.namespace != "" {
		attrs = append(attrs, attribute.String("db.namespace", r.endpoint.namespace))
	}
	if r.endpoint.address != "" {
		attrs = append(attrs, attribute.String("server.address", r.endpoint.address))
		if r.endpoint.port != 0 {
			attrs = append(attrs, attribute.Int("server.port", r.endpoint.port))
		}
	}
	for _, kv := range [][2]string{{"nebula.tenant", owner.Tenant}, {"nebula.workflow", owner.Workflow}, {"nebula.step", owner.Step}} {
		if kv[1] != "" {
			attrs = append(attrs, attribute.String(kv[0], kv[1]))
		}
	}
	span.SetAttributes(attrs...)
	return ctx, span
}

// endSpan ends a span, marking it failed with the error's kind. The
// error's message is not recorded: a backend's message may quote the
// values of a statement, and those are never recorded.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && span.IsRecording() {
		kind := string(sdk.KindOf(err))
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}
