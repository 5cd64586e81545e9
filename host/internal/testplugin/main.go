// Command testplugin is a driver plugin for the host's own tests. It offers
// resource type "probe", whose operations let a test see what a plugin
// sees (its environment and PID), make it log, leak a secret, block, or
// crash. With -protocol N it speaks plugin protocol version N, to test
// version negotiation.
//
// With NEBULA_TESTPLUGIN_SPANS=1 in its environment (the plugin block's
// env), it records the spans it ends in memory, through the tracer
// provider sdk/otelexport sets up: operation "traced" starts a span and
// logs a line under it, and "spans" returns the spans recorded so far.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/otel"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/nebula-resource/nebula-resource/host/pluginconn"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

type config struct {
	Password string `nebula:"password,sensitive" doc:"A secret the plugin must never print."`
	Label    string `nebula:"label" default:"probe"`
	// FailCheck makes Check fail carelessly, with the password in the
	// message: the host must mask it in health reports.
	FailCheck bool `nebula:"fail_check"`
}

type args struct {
	Message  string        `nebula:"message"`
	Duration time.Duration `nebula:"duration"`
}

type driver struct{}

// sessionConfig configures the exclusive "session" type, whose counters a
// test reads from a file, since the plugin is gone when the test checks.
type sessionConfig struct {
	StateFile string        `nebula:"state_file,required" doc:"Where to write the session counters, as JSON."`
	OpenDelay time.Duration `nebula:"open_delay" default:"0s" doc:"How long each Open takes."`
	FailOpen  bool          `nebula:"fail_open" doc:"Make every Open fail."`
}

// sessions counts the sessions of the "session" type.
type sessions struct {
	cfg sessionConfig

	mu                                                sync.Mutex
	open, opening, maxOpening, opened, closed, resets int
}

func (s *sessions) save() {
	b, _ := json.Marshal(map[string]int{
		"open": s.open, "max_concurrent_opens": s.maxOpening, "opened": s.opened, "closed": s.closed, "resets": s.resets,
	})
	_ = os.WriteFile(s.cfg.StateFile, b, 0o600)
}

func (s *sessions) Open(ctx context.Context) (sdk.Instance, error) {
	s.mu.Lock()
	s.opening++
	s.maxOpening = max(s.maxOpening, s.opening)
	s.save()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.opening--
		s.mu.Unlock()
	}()
	select {
	case <-time.After(s.cfg.OpenDelay):
	case <-ctx.Done():
		return nil, sdk.WrapError(sdk.KindCanceled, ctx.Err(), "open")
	}
	if s.cfg.FailOpen {
		return nil, sdk.Errorf(sdk.KindUnavailable, "backend refuses sessions")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open++
	s.opened++
	s.save()
	return &session{s: s, id: s.opened}, nil
}

func (s *sessions) Close(context.Context) error { return nil }

type session struct {
	s  *sessions
	id int

	mu     sync.Mutex
	closed bool
	dirty  bool
}

func (x *session) Check(context.Context) error { return nil }

func (x *session) Reset(context.Context) error {
	x.mu.Lock()
	x.dirty = false
	x.mu.Unlock()
	x.s.mu.Lock()
	x.s.resets++
	x.s.save()
	x.s.mu.Unlock()
	return nil
}

func (x *session) Close(context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	x.s.mu.Lock()
	x.s.open--
	x.s.closed++
	x.s.save()
	x.s.mu.Unlock()
	return nil
}

func (x *session) Invoke(_ context.Context, req sdk.InvokeRequest) (any, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch req.Operation {
	case "id":
		// dirty says whether the previous holder left state behind: Reset
		// must have cleared it.
		was := x.dirty
		x.dirty = true
		return map[string]any{"id": x.id, "dirty": was}, nil
	}
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "unknown operation %q", req.Operation)
}

func (driver) Info() sdk.DriverInfo {
	a := sdk.MustSchemaFor(args{})
	op := func(name string, idem bool) sdk.Operation {
		return sdk.Operation{Name: name, Description: name, Args: a, Idempotent: idem}
	}
	return sdk.DriverInfo{Name: "probe", Version: "0.0.1", Types: []sdk.ResourceType{{
		Name:        "probe",
		Description: "Test probe.",
		Config:      sdk.MustSchemaFor(config{}),
		Pooling:     sdk.PoolingShared,
		Operations: []sdk.Operation{
			op("env", true), op("pid", true), op("echo", true), op("log", false), op("print", false),
			op("leak", false), op("sleep", true), op("crash", false),
			op("traced", false), op("spans", true),
		},
	}, {
		Name:        "session",
		Description: "Exclusive test sessions that count themselves.",
		Config:      sdk.MustSchemaFor(sessionConfig{}),
		Pooling:     sdk.PoolingExclusive,
		Operations:  []sdk.Operation{{Name: "id", Description: "The session's number.", Args: sdk.Schema{}}},
	}}}
}

func (driver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	if req.Type == "session" {
		var c sessionConfig
		if err := req.Decode(&c); err != nil {
			return nil, err
		}
		s := &sessions{cfg: c}
		s.save()
		return s, nil
	}
	var c config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	return &resource{cfg: c}, nil
}

type resource struct{ cfg config }

func (r *resource) Open(context.Context) (sdk.Instance, error) { return &instance{cfg: r.cfg}, nil }
func (r *resource) Close(context.Context) error                { return nil }

type instance struct{ cfg config }

func (i *instance) Check(context.Context) error {
	if i.cfg.FailCheck {
		return sdk.Errorf(sdk.KindUnavailable, "cannot log in with password %s", i.cfg.Password)
	}
	return nil
}
func (i *instance) Close(context.Context) error { return nil }

func (i *instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	var a args
	if err := req.Decode(&a); err != nil {
		return nil, err
	}
	switch req.Operation {
	case "env":
		env := os.Environ()
		sort.Strings(env)
		return map[string]any{"env": env}, nil
	case "pid":
		return map[string]int{"pid": os.Getpid()}, nil
	case "echo":
		return map[string]string{"message": a.Message, "label": i.cfg.Label}, nil
	case "log":
		slog.Info(a.Message, "label", i.cfg.Label)
		return nil, nil
	case "print":
		// Plain output, not through the logger.
		fmt.Println(a.Message)
		return nil, nil
	case "leak":
		// A careless driver: the host must mask the secret anyway.
		slog.Error("connecting failed with password " + i.cfg.Password)
		return nil, sdk.Errorf(sdk.KindPermissionDenied, "login refused for password %s", i.cfg.Password)
	case "sleep":
		select {
		case <-time.After(a.Duration):
			return map[string]int{"pid": os.Getpid()}, nil
		case <-ctx.Done():
			return nil, sdk.WrapError(sdk.KindCanceled, ctx.Err(), "sleep")
		}
	case "crash":
		os.Exit(3)
	case "traced":
		return traced(ctx, a.Message), nil
	case "spans":
		if spans == nil {
			return nil, sdk.Errorf(sdk.KindFailedPrecondition, "spans are recorded only with NEBULA_TESTPLUGIN_SPANS=1")
		}
		out := []recordedSpan{}
		for _, s := range spans.GetSpans() {
			out = append(out, recordedSpan{
				Name:         s.Name,
				TraceID:      s.SpanContext.TraceID().String(),
				SpanID:       s.SpanContext.SpanID().String(),
				ParentSpanID: s.Parent.SpanID().String(),
				ParentRemote: s.Parent.IsRemote(),
				Service:      serviceName(s.Resource),
			})
		}
		return map[string]any{"spans": out}, nil
	}
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "unknown operation %q", req.Operation)
}

// spans records the spans the plugin ends, with NEBULA_TESTPLUGIN_SPANS=1.
var spans *tracetest.InMemoryExporter

type recordedSpan struct {
	Name         string `json:"name"`
	TraceID      string `json:"trace_id"`
	SpanID       string `json:"span_id"`
	ParentSpanID string `json:"parent_span_id"`
	ParentRemote bool   `json:"parent_remote"`
	Service      string `json:"service"`
}

// traced does what a driver author would: it starts a span with the global
// tracer from the ctx it was given, and logs under it. It returns what it
// received from the host and the span it started.
func traced(ctx context.Context, msg string) map[string]any {
	parent := trace.SpanContextFromContext(ctx)
	ctx, span := otel.Tracer("testplugin").Start(ctx, "testplugin.traced")
	defer span.End()
	if msg == "" {
		msg = "traced"
	}
	slog.InfoContext(ctx, msg)
	sc := span.SpanContext()
	return map[string]any{
		"parent_valid":    parent.IsValid(),
		"parent_remote":   parent.IsRemote(),
		"parent_sampled":  parent.IsSampled(),
		"parent_trace_id": parent.TraceID().String(),
		"parent_span_id":  parent.SpanID().String(),
		"trace_id":        sc.TraceID().String(),
		"span_id":         sc.SpanID().String(),
		"recording":       span.IsRecording(),
	}
}

func serviceName(r *sdkresource.Resource) string {
	v, _ := r.Set().Value("service.name")
	return v.AsString()
}

func main() {
	protocol := flag.Int("protocol", 0, "serve with go-plugin alone, as a plugin not built on sdk.Serve, speaking this plugin protocol version (gRPC alone, as version 1)")
	autoMTLS := flag.Bool("automtls", false, "serve with go-plugin alone, as a plugin not built on sdk.Serve, speaking protocol version 1: mutual TLS by go-plugin's AutoMTLS")
	flag.Parse()
	if *protocol == 0 && !*autoMTLS {
		// As every first-party plugin, it exports its spans when the host
		// exports its own.
		var settings []otelexport.Setting
		if os.Getenv("NEBULA_TESTPLUGIN_SPANS") == "1" {
			spans = tracetest.NewInMemoryExporter()
			settings = append(settings, otelexport.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans)))
		}
		sdk.Serve(driver{}, otelexport.Option(settings...))
		return
	}
	if *protocol == 0 {
		*protocol = 1
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginconn.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{*protocol: {sdk.PluginName: &pluginconn.GRPCPlugin{Driver: driver{}}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
