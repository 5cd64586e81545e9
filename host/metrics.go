package host

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nebula-resource/nebula-resource/host/supervisor"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Buckets of the duration histograms, in seconds: from 100 µs (a call to
// an in-process driver) to 30 s (a long query, a slow open).
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// metrics are the host's Prometheus metrics. Counters and histograms are
// updated as things happen; the gauges (pools, health, breakers, plugins)
// are read from the host when scraped, by collect. Labels are bounded:
// resource, type, operation, outcome (success or an error kind), plugin,
// and tenant only with telemetry { metrics { tenant_label = true } }.
//
// Where the OpenTelemetry database semantic conventions define a pool or
// client metric, the same value is also exported under the Prometheus
// translation of its name (db_client_connection_max, ...), with the
// conventions' label names; docs/operations.md has the mapping.
type metrics struct {
	tenantLabel bool

	calls        *prometheus.HistogramVec // nebula_call_duration_seconds
	semconvCalls *prometheus.HistogramVec // db_client_operation_duration_seconds
	acquireWait  *prometheus.HistogramVec
	semconvWait  *prometheus.HistogramVec
	create       *prometheus.HistogramVec
	semconvCreat *prometheus.HistogramVec
	use          *prometheus.HistogramVec
	semconvUse   *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	transitions  *prometheus.CounterVec
	breakerFail  *prometheus.CounterVec // calls refused by an open breaker
	bulkheadFull *prometheus.CounterVec
	checks       *prometheus.HistogramVec
	restarts     *prometheus.CounterVec
	leaks        *prometheus.CounterVec
	reclaims     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, h *Host, version string, tenantLabel bool) (*metrics, error) {
	rt := []string{"resource", "type"}
	callLabels := []string{"resource", "type", "operation", "outcome"}
	if tenantLabel {
		callLabels = append(callLabels, "tenant")
	}
	hist := func(name, help string, labels []string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets}, labels)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	pool := []string{"db_client_connection_pool_name"}
	m := &metrics{
		tenantLabel:  tenantLabel,
		calls:        hist("nebula_call_duration_seconds", "Duration of calls to resources, retries included, by outcome: success or the error kind.", callLabels),
		semconvCalls: hist("db_client_operation_duration_seconds", "OpenTelemetry db.client.operation.duration: duration of operations on resources.", []string{"db_system_name", "db_operation_name", "db_namespace", "server_address", "error_type"}),
		acquireWait:  hist("nebula_pool_acquire_wait_seconds", "Time taken to acquire a lease, successful or not.", rt),
		semconvWait:  hist("db_client_connection_wait_time_seconds", "OpenTelemetry db.client.connection.wait_time: time to obtain an instance from the pool.", pool),
		create:       hist("nebula_pool_instance_create_seconds", "Time taken to open an instance (a session with the backend).", rt),
		semconvCreat: hist("db_client_connection_create_time_seconds", "OpenTelemetry db.client.connection.create_time: time to open an instance.", pool),
		use:          hist("nebula_pool_lease_use_seconds", "Time between acquiring a lease and releasing it.", rt),
		semconvUse:   hist("db_client_connection_use_time_seconds", "OpenTelemetry db.client.connection.use_time: time between borrowing an instance and returning it.", pool),
		retries:      counter("nebula_call_retries_total", "Attempts made after the first, by the retry policy.", rt),
		transitions:  counter("nebula_circuit_breaker_transitions_total", "Circuit breaker state changes, by the state entered.", []string{"resource", "type", "state"}),
		breakerFail:  counter("nebula_circuit_breaker_rejections_total", "Calls refused without reaching the plugin because the circuit breaker was open.", rt),
		bulkheadFull: counter("nebula_bulkhead_rejections_total", "Calls refused because the bulkhead was full.", rt),
		checks:       hist("nebula_health_check_duration_seconds", "Duration of health checks, by outcome: success or the error kind.", []string{"resource", "type", "outcome"}),
		restarts:     counter("nebula_plugin_restarts_total", "Plugin processes restarted after they exited.", []string{"plugin"}),
		leaks:        counter("nebula_lease_leaks_total", "Leases held past their resource's lease_timeout.", rt),
		reclaims:     counter("nebula_lease_reclaims_total", "Leases taken back after lease_timeout (reclaim = true).", rt),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nebula_build_info", Help: "The host's version and the Go version it was built with; always 1."}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{
		m.calls, m.semconvCalls, m.acquireWait, m.semconvWait, m.create, m.semconvCreat, m.use, m.semconvUse,
		m.retries, m.transitions, m.breakerFail, m.bulkheadFull, m.checks, m.restarts, m.leaks, m.reclaims,
		build, &stateCollector{h: h},
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// hostVersion is the version of the module the running binary was built
// from, or "dev".
func hostVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// newRegistry is the registry a host exports when the embedder gives it
// none: the host's metrics and the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// outcome is a call's outcome label: "success" or the error's kind.
func outcome(err error) string {
	if err == nil {
		return "success"
	}
	return string(sdk.KindOf(err))
}

// observeCall records a finished call.
func (m *metrics) observeCall(r *resource, op string, owner Owner, took time.Duration, err error) {
	if m == nil {
		return
	}
	if m.tenantLabel {
		m.calls.WithLabelValues(r.id, r.cfg.Type, op, outcome(err), owner.Tenant).Observe(took.Seconds())
	} else {
		m.calls.WithLabelValues(r.id, r.cfg.Type, op, outcome(err)).Observe(took.Seconds())
	}
	errType := ""
	if err != nil {
		errType = string(sdk.KindOf(err))
	}
	m.semconvCalls.WithLabelValues(r.endpoint.dbSystem, op, r.endpoint.namespace, r.endpoint.address, errType).Observe(took.Seconds())
}

func (m *metrics) observeAcquire(r *resource, took time.Duration) {
	if m == nil {
		return
	}
	m.acquireWait.WithLabelValues(r.id, r.cfg.Type).Observe(took.Seconds())
	m.semconvWait.WithLabelValues(r.id).Observe(took.Seconds())
}

func (m *metrics) observeCreate(r *resource, took time.Duration) {
	if m == nil {
		return
	}
	m.create.WithLabelValues(r.id, r.cfg.Type).Observe(took.Seconds())
	m.semconvCreat.WithLabelValues(r.id).Observe(took.Seconds())
}

func (m *metrics) observeUse(r *resource, took time.Duration) {
	if m == nil {
		return
	}
	m.use.WithLabelValues(r.id, r.cfg.Type).Observe(took.Seconds())
	m.semconvUse.WithLabelValues(r.id).Observe(took.Seconds())
}

func (m *metrics) observeCheck(r *resource, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(r.id, r.cfg.Type, outcome(err)).Observe(took.Seconds())
}

// addResource creates a resource's counters at zero, so that their first
// event is an increase that rate() and increase() can see.
func (m *metrics) addResource(id, typ string, breaker bool) {
	if m == nil {
		return
	}
	for _, c := range []*prometheus.CounterVec{m.retries, m.breakerFail, m.bulkheadFull, m.leaks, m.reclaims} {
		c.WithLabelValues(id, typ)
	}
	if breaker {
		for _, s := range breakerStates {
			m.transitions.WithLabelValues(id, typ, string(s))
		}
	}
}

// addPlugin creates a plugin's restart counter at zero.
func (m *metrics) addPlugin(name string) {
	if m != nil {
		m.restarts.WithLabelValues(name)
	}
}

// inc adds one to a counter of m, picked by which; nothing when metrics
// are off.
func (m *metrics) inc(which func(*metrics) *prometheus.CounterVec, labels ...string) {
	if m == nil {
		return
	}
	which(m).WithLabelValues(labels...).Inc()
}

// The counters, for inc.
func restartsOf(m *metrics) *prometheus.CounterVec       { return m.restarts }
func leaksOf(m *metrics) *prometheus.CounterVec          { return m.leaks }
func reclaimsOf(m *metrics) *prometheus.CounterVec       { return m.reclaims }
func retriesOf(m *metrics) *prometheus.CounterVec        { return m.retries }
func transitionsOf(m *metrics) *prometheus.CounterVec    { return m.transitions }
func breakerRejectOf(m *metrics) *prometheus.CounterVec  { return m.breakerFail }
func bulkheadRejectOf(m *metrics) *prometheus.CounterVec { return m.bulkheadFull }

// stateCollector reads the gauges from the host at each scrape: pools,
// health, circuit breakers and plugins.
type stateCollector struct{ h *Host }

var (
	descInstances = prometheus.NewDesc("nebula_pool_instances", "Instances in the pool, by state: idle or used (leased).", []string{"resource", "type", "state"}, nil)
	descMax       = prometheus.NewDesc("nebula_pool_max_instances", "The most instances the pool may hold (max_size; replicas for shared pooling).", []string{"resource", "type"}, nil)
	descMin       = prometheus.NewDesc("nebula_pool_min_instances", "The fewest instances the pool keeps open (min_size).", []string{"resource", "type"}, nil)
	descPending   = prometheus.NewDesc("nebula_pool_pending_acquires", "Acquires waiting for an instance.", []string{"resource", "type"}, nil)
	descTimeouts  = prometheus.NewDesc("nebula_pool_acquire_timeouts_total", "Acquires that gave up waiting for an instance.", []string{"resource", "type"}, nil)
	descDestroyed = prometheus.NewDesc("nebula_pool_instances_destroyed_total", "Instances closed, by reason: idle, lifetime, broken, closed.", []string{"resource", "type", "reason"}, nil)
	descLeases    = prometheus.NewDesc("nebula_leases_out", "Leases currently held.", []string{"resource", "type"}, nil)
	descHealth    = prometheus.NewDesc("nebula_health_state", "1 for the resource's health state, 0 for the others.", []string{"resource", "type", "state"}, nil)
	descBreaker   = prometheus.NewDesc("nebula_circuit_breaker_state", "1 for the circuit breaker's state, 0 for the others; only for resources with a breaker.", []string{"resource", "type", "state"}, nil)
	descPluginUp  = prometheus.NewDesc("nebula_plugin_up", "1 while the plugin process is running, else 0.", []string{"plugin"}, nil)

	// db.client.connection.count would translate to db_client_connection_count,
	// but Prometheus reserves _count for histograms and summaries (promtool
	// refuses it): it is exported under the name it had before semantic
	// conventions 1.26, db.client.connections.usage.
	semCount   = prometheus.NewDesc("db_client_connections_usage", "OpenTelemetry db.client.connection.count (db.client.connections.usage before semconv 1.26): instances by state (idle, used).", []string{"db_client_connection_pool_name", "db_client_connection_state"}, nil)
	semMax     = prometheus.NewDesc("db_client_connection_max", "OpenTelemetry db.client.connection.max: the most instances allowed.", []string{"db_client_connection_pool_name"}, nil)
	semIdleMax = prometheus.NewDesc("db_client_connection_idle_max", "OpenTelemetry db.client.connection.idle.max: the most idle instances kept.", []string{"db_client_connection_pool_name"}, nil)
	semIdleMin = prometheus.NewDesc("db_client_connection_idle_min", "OpenTelemetry db.client.connection.idle.min: the fewest idle instances kept.", []string{"db_client_connection_pool_name"}, nil)
	semPending = prometheus.NewDesc("db_client_connection_pending_requests", "OpenTelemetry db.client.connection.pending_requests: requests waiting for an instance.", []string{"db_client_connection_pool_name"}, nil)
	semTimeout = prometheus.NewDesc("db_client_connection_timeouts_total", "OpenTelemetry db.client.connection.timeouts: acquires that timed out.", []string{"db_client_connection_pool_name"}, nil)

	healthStates  = []HealthState{HealthStarting, HealthHealthy, HealthDegraded, HealthUnhealthy, HealthRecovering}
	breakerStates = []BreakerState{BreakerClosed, BreakerOpen, BreakerHalfOpen}
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInstances, descMax, descMin, descPending, descTimeouts, descDestroyed, descLeases,
		descHealth, descBreaker, descPluginUp, semCount, semMax, semIdleMax, semIdleMin, semPending, semTimeout} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	health := map[string]ResourceHealth{}
	for _, rh := range c.h.Health().Resources {
		health[rh.ID] = rh
	}
	for _, ri := range c.h.Describe() {
		id, typ := ri.ID, ri.Type
		st, set := ri.Pool.Stat, ri.Pool.Settings
		maxN, minN, idleMax := set.MaxSize, set.MinSize, set.MaxIdle
		if ri.Pooling == sdk.PoolingShared {
			maxN, minN, idleMax = set.Replicas, set.Replicas, set.Replicas
		}
		gauge(descInstances, float64(st.Idle), id, typ, "idle")
		gauge(descInstances, float64(st.InUse), id, typ, "used")
		gauge(descMax, float64(maxN), id, typ)
		gauge(descMin, float64(minN), id, typ)
		gauge(descPending, float64(st.Waiting), id, typ)
		count(descTimeouts, st.TimeoutCount, id, typ)
		for reason, n := range map[string]int64{"idle": st.DestroyedIdle, "lifetime": st.DestroyedLifetime, "broken": st.DestroyedBroken, "closed": st.DestroyedClosed} {
			count(descDestroyed, n, id, typ, reason)
		}
		gauge(descLeases, float64(len(ri.Pool.Leases)), id, typ)

		gauge(semCount, float64(st.Idle), id, "idle")
		gauge(semCount, float64(st.InUse), id, "used")
		gauge(semMax, float64(maxN), id)
		gauge(semIdleMax, float64(idleMax), id)
		gauge(semIdleMin, float64(minN), id)
		gauge(semPending, float64(st.Waiting), id)
		count(semTimeout, st.TimeoutCount, id)

		hs := health[id].State
		for _, s := range healthStates {
			gauge(descHealth, boolFloat(s == hs), id, typ, string(s))
		}
		if ri.Resilience.Breaker != BreakerNone {
			for _, s := range breakerStates {
				gauge(descBreaker, boolFloat(s == ri.Resilience.Breaker), id, typ, string(s))
			}
		}
	}
	for _, p := range c.h.Plugins() {
		gauge(descPluginUp, boolFloat(p.State == supervisor.StateRunning), p.Name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
