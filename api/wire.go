package api

import (
	"encoding/json"
	"strings"
)

// DefaultAddress is where a host's admin endpoint listens unless its admin
// block or nebula-host run -admin says otherwise.
const DefaultAddress = "127.0.0.1:9464"

// Content types of the routes that take a body. The endpoint refuses a
// POST that carries any other (415, CodeUnsupportedMediaType).
const (
	// ContentTypeJSON is the content type of an invoke request.
	ContentTypeJSON = "application/json"
	// ContentTypeStream is the content type of a stream request, whose
	// body is the operation's raw input (it may be empty). Its arguments
	// travel as JSON in the ArgsHeader.
	ContentTypeStream = "application/octet-stream"
)

// Header and trailer names of streaming operations.
const (
	// ArgsHeader carries a streaming operation's JSON arguments.
	ArgsHeader = "Nebula-Args"
	// ResultTrailer carries a streaming operation's JSON result.
	ResultTrailer = "Nebula-Result"
	// ErrorTrailer carries a streaming operation's JSON error body
	// (ErrorBody) when it failed after its output began.
	ErrorTrailer = "Nebula-Error"
	// TenantHeader, WorkflowHeader and StepHeader label a streaming
	// operation's lease with its owner.
	TenantHeader   = "Nebula-Tenant"
	WorkflowHeader = "Nebula-Workflow"
	StepHeader     = "Nebula-Step"
)

// Page sizes of the listings that grow with the number of resources
// (GET /v1/resources and GET /v1/health): Page.Limit asks for up to
// MaxPageSize items; zero means DefaultPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Owner says who holds a lease, for leak reports. Every field is optional.
type Owner struct {
	Tenant   string `json:"tenant,omitempty"`
	Workflow string `json:"workflow,omitempty"`
	Step     string `json:"step,omitempty"`
}

// String returns "tenant=… workflow=… step=…" with the fields that are
// set, or "unknown".
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

// InvokeRequest is the body of POST /v1/resources/{name}/invoke.
type InvokeRequest struct {
	// Operation names one of the resource's operations (Resource.Operations).
	Operation string `json:"operation"`
	// Args are the operation's arguments, a JSON object; empty means none.
	Args json.RawMessage `json:"args,omitempty"`
	// Owner labels the lease, for leak reports; nil means no owner.
	Owner *Owner `json:"owner,omitempty"`
}

// InvokeResponse is the body of a successful invoke.
type InvokeResponse struct {
	// Result is the operation's JSON result.
	Result json.RawMessage `json:"result"`
}

// ReloadResult is the body of a successful POST /v1/reload: what the
// reload changed. The lists hold resource ids ("memory.cache") in the order
// of the configuration, and credential names.
type ReloadResult struct {
	// Added are the resources started.
	Added []string `json:"added,omitempty"`
	// Removed are the resources drained and stopped.
	Removed []string `json:"removed,omitempty"`
	// Changed are the resources whose configuration changed: each was
	// started anew beside the old one, which drains.
	Changed []string `json:"changed,omitempty"`
	// Unchanged counts the resources left as they were.
	Unchanged int `json:"unchanged"`
	// RestartNeeded names changed settings the reload did not apply,
	// which take effect at the host's next start: "host block",
	// "telemetry block", "plugin blocks", "admin address".
	RestartNeeded []string `json:"restart_needed,omitempty"`
	// Upgraded are the plugins whose new binary the reload started, as
	// "NAME OLD-VERSION -> NEW-VERSION"; their resources are in Changed.
	Upgraded []string `json:"upgraded,omitempty"`
}

// ErrorBody is the body of a failed request, and the value of a stream's
// ErrorTrailer.
type ErrorBody struct {
	Error Error `json:"error"`
}

// ResourceState is where a resource is in its life.
type ResourceState string

// The states of a resource.
const (
	StatePending     ResourceState = "pending"     // declared, not started yet
	StateReady       ResourceState = "ready"       // serving leases
	StateUnavailable ResourceState = "unavailable" // its plugin is restarting, or reconfiguring failed
	StateFailed      ResourceState = "failed"      // it could not be started
	StateBlocked     ResourceState = "blocked"     // not started because a dependency did not start
	StateClosed      ResourceState = "closed"
)

// HealthState is a resource's health, or the worst of several.
type HealthState string

// The health states, from best to worst. A resource that is not running
// is unhealthy; an unhealthy or recovering resource is quarantined.
const (
	HealthHealthy    HealthState = "healthy"
	HealthStarting   HealthState = "starting"
	HealthDegraded   HealthState = "degraded"
	HealthRecovering HealthState = "recovering"
	HealthUnhealthy  HealthState = "unhealthy"
)

// BreakerState is the state of a resource's circuit breaker; empty without
// one.
type BreakerState string

// The states of a circuit breaker.
const (
	BreakerNone     BreakerState = ""
	BreakerClosed   BreakerState = "closed"
	BreakerOpen     BreakerState = "open"
	BreakerHalfOpen BreakerState = "half_open"
)

// Pooling is how a resource type shares its instances.
type Pooling string

// The pooling modes.
const (
	// PoolingShared: a few replicas, each serving many leases at once.
	PoolingShared Pooling = "shared"
	// PoolingExclusive: a lease has an instance to itself until released.
	PoolingExclusive Pooling = "exclusive"
)

// StreamMode says whether and how an operation streams bytes; such an
// operation is called with Client.Stream (POST .../stream/{op}).
type StreamMode string

// The stream modes.
const (
	StreamNone     StreamMode = ""
	StreamUpload   StreamMode = "upload"
	StreamDownload StreamMode = "download"
	StreamDuplex   StreamMode = "duplex"
)

// PluginState is where a plugin process is in its life.
type PluginState string

// The states of a plugin.
const (
	PluginStarting   PluginState = "starting"
	PluginRunning    PluginState = "running"
	PluginRestarting PluginState = "restarting"
	// PluginCrashLoop: it failed three times or more in a row; the host
	// keeps restarting it, with growing delays.
	PluginCrashLoop PluginState = "crash_loop"
	PluginStopped   PluginState = "stopped"
)
