package config

import (
	"encoding/json"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/nebula-resource/nebula-resource/config/pluginlock"
)

// Config is a loaded configuration: the host's own settings, the plugins to
// start, the input variables with their final values, and the resources.
//
// Load always returns a non-nil Config whose Files holds every file it
// parsed, so that diagnostics can be printed with source snippets. When the
// diagnostics contain errors the rest of the Config is incomplete and must
// not be used to start anything.
type Config struct {
	// Files holds every parsed file by filename, as passed to
	// WriteDiagnostics and WriteDiagnosticsJSON for snippets.
	Files map[string]*hcl.File
	// Admin configures the admin API.
	Admin Admin
	// Host holds the host's process-wide settings.
	Host HostSettings
	// Telemetry configures metrics and tracing, from the telemetry block.
	Telemetry Telemetry
	// Plugins lists the plugin blocks in the order they were declared.
	Plugins []*Plugin
	// Variables lists the variable blocks in the order they were declared.
	Variables []*Variable
	// Resources lists the resource blocks in the order they were declared.
	Resources []*Resource
	// Credentials lists the credential blocks in the order they were
	// declared.
	Credentials []*Credential
	// Tenants lists the tenant blocks in the order they were declared.
	Tenants []*Tenant
	// Lock is the plugin lock file beside the configuration
	// (pluginlock.FileName), or nil when there is none. The host refuses
	// a plugin whose binary's SHA-256 differs from the one it records.
	Lock *pluginlock.File

	// secrets are the literals hidden in Files (see maskSource), replaced
	// in the text of the diagnostics.
	secrets []string

	// eval evaluates expressions in resource bodies for DecodeResources;
	// nil for a Config built by hand.
	eval *evaluator
	// released is set by ReleaseSyntax.
	released bool
}

// Resource returns the resource with the given id ("type.name"), or nil.
func (c *Config) Resource(id string) *Resource {
	for _, r := range c.Resources {
		if r.ID() == id {
			return r
		}
	}
	return nil
}

// Admin configures the admin API, from the admin block.
type Admin struct {
	// Address is the host:port the admin API listens on. Load sets it to
	// "127.0.0.1:9464" when the address attribute is not set.
	Address string
	// AllowRemote allows a non-loopback Address (allow_remote). When false,
	// a non-loopback address is an error.
	AllowRemote bool
	// AllowedHosts are further names, or name:port, by which callers may
	// reach the admin API (allowed_hosts): a request whose Host header is
	// none of these, a loopback name or the address's host is refused.
	// Needed when remote callers use a DNS name.
	AllowedHosts []string
	// AllowedOrigins are the origins ("https://console.example.com") whose
	// web pages may call the admin API (allowed_origins). Requests from
	// other origins are refused. Default none.
	AllowedOrigins []string
	// Auth is who may call the admin API and how they prove it: the tls,
	// identity and audit blocks. A non-loopback Address needs both
	// AllowRemote and at least one identity (see Admin.RemoteAccess).
	Auth AdminAuth
	// AddressRange is the range of the address attribute's value; zero
	// when it is not set.
	AddressRange hcl.Range
	// DeclRange is the admin block's header; zero when there is no block.
	DeclRange hcl.Range
}

// HostSettings holds the host's process-wide settings, from the host block.
// Load fills in the defaults of unset attributes.
type HostSettings struct {
	// ShutdownTimeout bounds a graceful shutdown (shutdown_timeout).
	// Default 30s.
	ShutdownTimeout time.Duration
	// PluginDir is where plugins are looked for (plugin_dir), resolved
	// relative to the directory of the file that sets it. Default "".
	PluginDir string
	// LogLevel is one of "debug", "info", "warn" or "error" (log_level).
	// Default "info".
	LogLevel string
	// LogFormat is "text" or "json" (log_format). Default "text".
	LogFormat string
	// LogLevels sets the level of single components (log_levels): keys
	// such as "admin", "plugin", "plugin.postgres", "resource" or
	// "resource.postgres.main", values as LogLevel. See host/loglevel.
	LogLevels map[string]string
	// MaxMessageSize bounds, in bytes, an admin API request body, an
	// operation's arguments and its result, on the admin API and between
	// the host and its plugins (max_message_size; a number of bytes or a
	// size such as "16MiB"). Default 16 MiB. A message over it fails as
	// invalid_argument.
	MaxMessageSize int
	// QuotaStore is the id ("redis.name") of the redis resource through
	// which hosts share the tenants' rate quotas (quota_store); "" keeps
	// them in each host.
	QuotaStore string
	// QuotaStoreRange is the range of quota_store; zero when unset.
	QuotaStoreRange hcl.Range
}

// Telemetry is the telemetry block: what the host exports about itself.
type Telemetry struct {
	// Metrics configures the Prometheus metrics on the admin endpoint.
	Metrics Metrics
	// Tracing configures OpenTelemetry tracing; off unless the tracing
	// block sets an endpoint.
	Tracing Tracing
}

// Metrics is the metrics block inside telemetry.
type Metrics struct {
	// Disabled turns /metrics off (enabled = false). Default on.
	Disabled bool
	// TenantLabel adds a tenant label to the call metrics (tenant_label).
	// Off by default: tenants are unbounded.
	TenantLabel bool
	// PerResource labels every resource metric with its resource
	// (per_resource). Off by default: the series are per resource type,
	// sums over the type's resources, so that their number does not grow
	// with the resources configured.
	PerResource bool
}

// Tracing is the tracing block inside telemetry.
type Tracing struct {
	// Endpoint is the OTLP/gRPC collector, host:port (endpoint). Tracing
	// is off when it is empty.
	Endpoint string
	// Insecure sends without TLS (insecure). Default false.
	Insecure bool
	// Headers are sent with every export, for example an API key
	// (headers). They may be sensitive.
	Headers map[string]string
	// SampleRatio is the share of traces started by the host that are
	// sampled, in [0, 1] (sample_ratio). Default 1. A call inside a
	// sampled trace of the caller's is always sampled.
	SampleRatio float64
	// QueryText records SQL text as db.query.text (query_text). Default
	// false; parameters are never recorded.
	QueryText bool
}

// Plugin is a plugin block: a plugin binary the host starts.
type Plugin struct {
	// Name is the block label.
	Name string
	// Path is the binary, resolved relative to the directory of the file
	// that declared the plugin and made absolute.
	Path string
	// SHA256 is the expected checksum of the binary as 64 lowercase hex
	// characters, or "" when not set.
	SHA256 string
	// Args are the command-line arguments passed to the plugin.
	Args []string
	// Env holds environment variables set for the plugin process.
	Env map[string]string
	// StartTimeout bounds one start of the plugin, from running the
	// binary to its first answer (start_timeout). Zero means the host's
	// default, 30s.
	StartTimeout time.Duration
	// RestartResetAfter is how long a restarted plugin must run before
	// its next exit is treated as a first one, restarted after the
	// shortest delay (restart_reset_after). Zero means the host's
	// default, 5s.
	RestartResetAfter time.Duration
	// AllowWorldWritable lets the host start the plugin although its
	// binary, or a directory above it, is writable by every user
	// (allow_world_writable). Default false: such a plugin is refused.
	AllowWorldWritable bool
	// DeclRange is the plugin block's header.
	DeclRange hcl.Range
}

// Variable is a variable block: an input to the configuration, referred to
// as var.<name> in expressions.
type Variable struct {
	// Name is the block label.
	Name string
	// Description says what the variable is for.
	Description string
	// Type is the declared type; cty.DynamicPseudoType when the type
	// attribute is absent ("any").
	Type cty.Type
	// Sensitive variables never have their values shown in diagnostics.
	Sensitive bool
	// Value is the final value, converted to Type and unmarked; cty.NilVal
	// when it could not be determined (see the diagnostics).
	Value cty.Value
	// DeclRange is the variable block's header.
	DeclRange hcl.Range
}

// Resource is a resource block. The host's own settings (depends_on,
// critical, pool, health, resilience) are decoded by Load; the driver's attributes stay in
// Body until DecodeResources decodes them with the driver's schema.
type Resource struct {
	// Type is the resource type, the first label.
	Type string
	// Name is the resource name, the second label.
	Name string
	// DependsOn lists the ids ("type.name") of the resources this one
	// depends on, from depends_on, as written. See also References and
	// Dependencies.
	DependsOn []string
	// Critical is the critical attribute: whether the host is ready
	// (GET /readyz) only while this resource is. Nil when not written:
	// every resource is critical by default, but for the host block's
	// quota_store.
	Critical *bool
	// References lists the references from the driver attributes to
	// attributes of other resources (resource.<type>.<name>.<attr>), in
	// source order. Load collects them; each is a dependency.
	References []Reference
	// Credentials lists the references from the driver attributes to
	// credentials (credential.<name>.<attr>), in source order. When a
	// credential's value changes, the resources that refer to it are
	// configured again with the new value.
	Credentials []CredentialRef
	// Pool configures the resource's pool; zero fields mean the host's
	// default.
	Pool Pool
	// Health configures health checks; zero fields mean the host's
	// default.
	Health Health
	// Resilience configures the resilience policies; zero fields and nil
	// pointers mean the host's default.
	Resilience Resilience
	// Body holds the driver's attributes, with the reserved names removed.
	// Config.ReleaseSyntax sets it to nil.
	Body hcl.Body
	// Config is the driver's configuration as a JSON object, set by
	// DecodeResources.
	Config json.RawMessage
	// DeclRange is the resource block's header.
	DeclRange hcl.Range
	// TypeRange is the range of the type label.
	TypeRange hcl.Range
	// NameRange is the range of the name label.
	NameRange hcl.Range

	// dependsOnRanges holds the range of each DependsOn entry.
	dependsOnRanges []hcl.Range
}

// ID returns the resource's id, "type.name".
func (r *Resource) ID() string { return r.Type + "." + r.Name }

// Reference is a reference from a driver attribute of one resource to an
// attribute of another, such as resource.memory.cache.address.
type Reference struct {
	// Resource is the id ("type.name") of the resource referred to.
	Resource string
	// Attribute is the name of the attribute referred to.
	Attribute string
	// Range is the range of the reference in the source.
	Range hcl.Range
}

// Pool is the pool block of a resource. Zero values mean the host's
// default; Load only validates them.
type Pool struct {
	// MinSize is the number of instances kept open (min_size).
	MinSize int
	// MaxSize is the most instances open at once (max_size).
	MaxSize int
	// MaxIdle is the most idle instances kept (max_idle).
	MaxIdle int
	// Replicas is the number of instances of a shared resource (replicas).
	Replicas int
	// IdleTimeout closes instances idle for longer (idle_timeout).
	IdleTimeout time.Duration
	// MaxLifetime closes instances older than this (max_lifetime).
	MaxLifetime time.Duration
	// AcquireTimeout bounds waiting for a lease (acquire_timeout).
	AcquireTimeout time.Duration
	// ValidateAfterIdle checks instances idle for longer before lending
	// them (validate_after_idle).
	ValidateAfterIdle time.Duration
	// LeaseTimeout reports leases held for longer (lease_timeout).
	LeaseTimeout time.Duration
	// Reclaim takes back a lease held past LeaseTimeout instead of only
	// reporting it (reclaim). Load requires lease_timeout when it is true.
	Reclaim bool
	// LifetimeJitter spreads MaxLifetime randomly by up to this much, so
	// that instances opened together are not closed together
	// (lifetime_jitter).
	LifetimeJitter time.Duration
	// Order is "lifo" or "fifo" (order).
	Order string
	// Selection is "round_robin", "weighted" or "least_loaded" (selection).
	Selection string
	// DrainTimeout bounds how long the instances of a replaced
	// configuration (a credential rotated, the configuration reloaded)
	// keep serving the leases out on them before they are closed
	// (drain_timeout). Zero means 30s.
	DrainTimeout time.Duration
}

// Health is the health block of a resource. Zero values mean the host's
// default.
type Health struct {
	// Interval is the time between checks (interval).
	Interval time.Duration
	// Timeout bounds one check (timeout).
	Timeout time.Duration
	// Jitter spreads checks randomly by up to this much (jitter).
	Jitter time.Duration
	// UnhealthyAfter is the number of failed checks in a row that mark the
	// resource unhealthy (unhealthy_after).
	UnhealthyAfter int
	// HealthyAfter is the number of passed checks in a row that mark it
	// healthy again (healthy_after).
	HealthyAfter int
}

// Resilience is the resilience block of a resource. Zero values and nil
// pointers mean the host's default.
type Resilience struct {
	// Timeout bounds a whole call, retries included (timeout).
	Timeout time.Duration
	// AttemptTimeout bounds one attempt (attempt_timeout).
	AttemptTimeout time.Duration
	// Retry is the retry block, or nil.
	Retry *Retry
	// CircuitBreaker is the circuit_breaker block, or nil.
	CircuitBreaker *CircuitBreaker
	// Bulkhead is the bulkhead block, or nil.
	Bulkhead *Bulkhead
}

// Retry is the retry block inside resilience.
type Retry struct {
	// MaxAttempts is the most attempts, the first included (max_attempts).
	MaxAttempts int
	// Backoff is the first delay between attempts (backoff).
	Backoff time.Duration
	// MaxBackoff caps the delay (max_backoff).
	MaxBackoff time.Duration
	// Budget is the ratio of retries to calls allowed (budget).
	Budget float64
}

// CircuitBreaker is the circuit_breaker block inside resilience.
type CircuitBreaker struct {
	// FailureThreshold is the number of failures that open the breaker
	// (failure_threshold).
	FailureThreshold int
	// FailureRatio is the ratio of failures in Window that opens the
	// breaker, in (0, 1] (failure_ratio).
	FailureRatio float64
	// Window is the period failures are counted over (window).
	Window time.Duration
	// OpenFor is how long the breaker stays open (open_for).
	OpenFor time.Duration
	// HalfOpenProbes is the number of calls let through when half open
	// (half_open_probes).
	HalfOpenProbes int
}

// Bulkhead is the bulkhead block inside resilience.
type Bulkhead struct {
	// MaxConcurrent is the most calls in flight (max_concurrent).
	MaxConcurrent int
	// MaxQueue is the most calls waiting (max_queue).
	MaxQueue int
}
