package host

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"log/slog"
	"time"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Option configures a Host. Settings that come from HCL live in
// config.Config; options carry what only Go code can give.
type Option func(*options)

type options struct {
	logger       *slog.Logger
	pluginDirs   []string
	drivers      map[string]sdk.Driver
	minBackoff   time.Duration
	maxBackoff   time.Duration
	callTimeout  time.Duration
	partialStart bool

	tracerProvider trace.TracerProvider
	registry       *prometheus.Registry
	version        string
	queryText      bool
}

// WithLogger sets the logger. The default is slog.Default(). The host masks
// every sensitive value it knows in what it logs.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithPluginDir adds a directory searched for a plugin binary named
// nebula-plugin-<type> when no plugin block offers a resource type. The
// directories searched by default are the config's host.plugin_dir and
// "plugins" beside the running executable.
func WithPluginDir(dir string) Option {
	return func(o *options) { o.pluginDirs = append(o.pluginDirs, dir) }
}

// WithDriver serves a resource type from a driver compiled into the
// embedding program, with no plugin process. name names it in listings.
// The driver goes through the same host machinery as a plugin.
func WithDriver(name string, d sdk.Driver) Option {
	return func(o *options) {
		if o.drivers == nil {
			o.drivers = map[string]sdk.Driver{}
		}
		o.drivers[name] = d
	}
}

// WithRestartBackoff sets the delays between plugin restarts: the first
// (±50 % jitter), and the cap of the doubling while a plugin keeps
// failing. The defaults are 100ms and 10s. The delay returns to first once
// a plugin has run its plugin block's restart_reset_after (default 5s).
func WithRestartBackoff(first, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = first, max }
}

// WithLifecycleTimeout bounds configuring a resource and opening its first
// instances, when the caller's context has no deadline. Default 30s. The
// pools bound their own calls (opens 30s; close, reset and check 10s).
func WithLifecycleTimeout(d time.Duration) Option {
	return func(o *options) { o.callTimeout = d }
}

// WithPartialStart makes Start succeed with the resources that started:
// those that failed, and those whose dependencies failed, stay down with
// the reason in Describe and /readyz, and the host is not ready. Without
// it, Start fails and stops everything when any resource fails.
func WithPartialStart() Option { return func(o *options) { o.partialStart = true } }

// WithTracerProvider makes the host trace with tp: a span of kind client
// for each acquire and each call, whose context the plugin receives. It
// takes precedence over the configuration's telemetry { tracing { ... } }
// block. Without either, the host does not trace.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// WithMetricsRegistry registers the host's Prometheus metrics in reg
// instead of a registry of the host's own (which also holds the Go and
// process collectors). Host.Gatherer returns reg.
func WithMetricsRegistry(reg *prometheus.Registry) Option {
	return func(o *options) { o.registry = reg }
}

// WithVersion sets the version reported by nebula_build_info and on
// traces. The default is the main module's version, or "dev".
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithQueryText records SQL text on spans as db.query.text, as
// telemetry { tracing { query_text = true } } does. Arguments are never
// recorded.
func WithQueryText() Option { return func(o *options) { o.queryText = true } }
