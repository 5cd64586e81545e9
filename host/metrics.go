package host

import (
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/pool"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Buckets of the duration histograms, in seconds: from 100 µs (a call to
// an in-process driver) to 30 s (a long query, a slow open).
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// metrics are the host's Prometheus metrics. Counters and histograms are
// updated as things happen; the gauges (pools, health, breakers, plugins)
// are read from the host when scraped, by collect.
//
// Labels are bounded. By default a resource's series are labeled with its
// type only, and each is the sum over the type's resources (gauges such as
// nebula_health_state count them), so that their number does not grow
// with the resources configured; telemetry { metrics { per_resource = true
// } } adds the resource label and gives each resource its own series. The
// other labels are operation, outcome (success or an error kind), state,
// reason, plugin, and tenant only with tenant_label = true.
//
// Where the OpenTelemetry database semantic conventions define a pool or
// client metric, the same value is also exported under the Prometheus
// translation of its name (db_client_connection_max, ...), with the
// conventions' label names; docs/operations.md has the mapping.
type metrics struct {
	tenantLabel bool
	perResource bool

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

func newMetrics(reg prometheus.Registerer, h *Host, version string, set config.Metrics) (*metrics, error) {
	with := func(labels ...string) []string {
		if set.PerResource {
			return append([]string{"resource", "type"}, labels...)
		}
		return append([]string{"type"}, labels...)
	}
	rt := with()
	callLabels := with("operation", "outcome")
	if set.TenantLabel {
		callLabels = append(callLabels, "tenant")
	}
	semconvCallLabels := []string{"db_system_name", "db_operation_name", "error_type"}
	if set.PerResource {
		semconvCallLabels = []string{"db_system_name", "db_operation_name", "db_namespace", "server_address", "error_type"}
	}
	hist := func(name, help string, labels []string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets}, labels)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	pool := []string{"db_client_connection_pool_name"}
	m := &metrics{
		tenantLabel:  set.TenantLabel,
		perResource:  set.PerResource,
		calls:        hist("nebula_call_duration_seconds", "Duration of calls to resources, retries included, by outcome: success or the error kind.", callLabels),
		semconvCalls: hist("db_client_operation_duration_seconds", "OpenTelemetry db.client.operation.duration: duration of operations on resources.", semconvCallLabels),
		acquireWait:  hist("nebula_pool_acquire_wait_seconds", "Time taken to acquire a lease, successful or not.", rt),
		semconvWait:  hist("db_client_connection_wait_time_seconds", "OpenTelemetry db.client.connection.wait_time: time to obtain an instance from the pool.", pool),
		create:       hist("nebula_pool_instance_create_seconds", "Time taken to open an instance (a session with the backend).", rt),
		semconvCreat: hist("db_client_connection_create_time_seconds", "OpenTelemetry db.client.connection.create_time: time to open an instance.", pool),
		use:          hist("nebula_pool_lease_use_seconds", "Time between acquiring a lease and releasing it.", rt),
		semconvUse:   hist("db_client_connection_use_time_seconds", "OpenTelemetry db.client.connection.use_time: time between borrowing an instance and returning it.", pool),
		retries:      counter("nebula_call_retries_total", "Attempts made after the first, by the retry policy.", rt),
		transitions:  counter("nebula_circuit_breaker_transitions_total", "Circuit breaker state changes, by the state entered.", with("state")),
		breakerFail:  counter("nebula_circuit_breaker_rejections_total", "Calls refused without reaching the plugin because the circuit breaker was open.", rt),
		bulkheadFull: counter("nebula_bulkhead_rejections_total", "Calls refused because the bulkhead was full.", rt),
		checks:       hist("nebula_health_check_duration_seconds", "Duration of health checks, by outcome: success or the error kind.", with("outcome")),
		restarts:     counter("nebula_plugin_restarts_total", "Plugin processes restarted after they exited.", []string{"plugin"}),
		leaks:        counter("nebula_lease_leaks_total", "Leases held past their resource's lease_timeout.", rt),
		reclaims:     counter("nebula_lease_reclaims_total", "Leases taken back after lease_timeout (reclaim = true).", rt),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nebula_build_info", Help: "The host's version and the Go version it was built with; always 1."}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{
		m.calls, m.semconvCalls, m.acquireWait, m.semconvWait, m.create, m.semconvCreat, m.use, m.semconvUse,
		m.retries, m.transitions, m.breakerFail, m.bulkheadFull, m.checks, m.restarts, m.leaks, m.reclaims,
		build, newStateCollector(h, set.PerResource), newTenantCollector(h),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// labels returns the label values that name r's series (its resource and
// type, or its type only), followed by extra.
func (m *metrics) labels(r *resource, extra ...string) []string {
	if m.perResource {
		return append([]string{r.id, r.typ()}, extra...)
	}
	return append([]string{r.typ()}, extra...)
}

// poolName is the db_client_connection_pool_name of r's series: the
// resource, or its type when the series are per type.
func (m *metrics) poolName(r *resource) string {
	if m.perResource {
		return r.id
	}
	return r.typ()
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

// series are the series of a resource that every lease and call
// touches, looked up once rather than by their label values each time
// (which costs a slice and a hash): shared by the resources of a type
// when the series are per type.
type series struct {
	acquire, semconvAcquire, use, semconvUse prometheus.Observer
	// ok are the series of each operation's successful calls, by the
	// operation's index (operation.n); each is made on its first call.
	ok []atomic.Pointer[callSeries]
}

// callSeries are the series of an operation's successful calls.
type callSeries struct{ calls, semconv prometheus.Observer }

// seriesOf returns r's series, made on its first lease.
func (m *metrics) seriesOf(r *resource) *series {
	if s := r.series.Load(); s != nil {
		return s
	}
	shared := &r.resourceKind.series
	if m.perResource {
		shared = &r.series
	}
	s := shared.Load()
	if s == nil {
		s = &series{
			acquire: m.acquireWait.WithLabelValues(m.labels(r)...), semconvAcquire: m.semconvWait.WithLabelValues(m.poolName(r)),
			use: m.use.WithLabelValues(m.labels(r)...), semconvUse: m.semconvUse.WithLabelValues(m.poolName(r)),
			ok: make([]atomic.Pointer[callSeries], len(r.ops)),
		}
		if !shared.CompareAndSwap(nil, s) {
			s = shared.Load()
		}
	}
	r.series.Store(s)
	return s
}

// observeCall records a finished call of the operation op, whose index
// among the resource's operations is n (-1 when op is not one: begin,
// commit).
func (m *metrics) observeCall(r *resource, op string, n int, owner Owner, took time.Duration, err error) {
	if m == nil {
		return
	}
	secs := took.Seconds()
	if err == nil && !m.tenantLabel && n >= 0 {
		ok := &m.seriesOf(r).ok[n]
		cs := ok.Load()
		if cs == nil {
			cs = &callSeries{calls: m.calls.WithLabelValues(m.labels(r, op, outcome(nil))...), semconv: m.semconvCall(r, op, "")}
			ok.Store(cs)
		}
		cs.calls.Observe(secs)
		cs.semconv.Observe(secs)
		return
	}
	if m.tenantLabel {
		m.calls.WithLabelValues(m.labels(r, op, outcome(err), owner.Tenant)...).Observe(secs)
	} else {
		m.calls.WithLabelValues(m.labels(r, op, outcome(err))...).Observe(secs)
	}
	errType := ""
	if err != nil {
		errType = string(sdk.KindOf(err))
	}
	m.semconvCall(r, op, errType).Observe(secs)
}

// semconvCall returns the db_client_operation_duration_seconds series of a
// call.
func (m *metrics) semconvCall(r *resource, op, errType string) prometheus.Observer {
	if m.perResource {
		return m.semconvCalls.WithLabelValues(r.endpoint.dbSystem, op, r.endpoint.namespace, r.endpoint.address, errType)
	}
	return m.semconvCalls.WithLabelValues(r.endpoint.dbSystem, op, errType)
}

func (m *metrics) observeAcquire(r *resource, took time.Duration) {
	if m == nil {
		return
	}
	s := m.seriesOf(r)
	s.acquire.Observe(took.Seconds())
	s.semconvAcquire.Observe(took.Seconds())
}

func (m *metrics) observeCreate(r *resource, took time.Duration) {
	if m == nil {
		return
	}
	m.create.WithLabelValues(m.labels(r)...).Observe(took.Seconds())
	m.semconvCreat.WithLabelValues(m.poolName(r)).Observe(took.Seconds())
}

func (m *metrics) observeUse(r *resource, took time.Duration) {
	if m == nil {
		return
	}
	s := m.seriesOf(r)
	s.use.Observe(took.Seconds())
	s.semconvUse.Observe(took.Seconds())
}

func (m *metrics) observeCheck(r *resource, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(m.labels(r, outcome(err))...).Observe(took.Seconds())
}

// addResource creates a resource's counters at zero, so that their first
// event is an increase that rate() and increase() can see.
func (m *metrics) addResource(r *resource) {
	if m == nil {
		return
	}
	for _, c := range []*prometheus.CounterVec{m.retries, m.breakerFail, m.bulkheadFull, m.leaks, m.reclaims} {
		c.WithLabelValues(m.labels(r)...)
	}
	if r.set.res.CircuitBreaker != nil {
		for _, s := range breakerStates {
			m.transitions.WithLabelValues(m.labels(r, string(s))...)
		}
	}
}

// addPlugin creates a plugin's restart counter at zero.
func (m *metrics) addPlugin(name string) {
	if m != nil {
		m.restarts.WithLabelValues(name)
	}
}

// pluginRestarted counts a restart of the plugin.
func (m *metrics) pluginRestarted(name string) {
	if m != nil {
		m.restarts.WithLabelValues(name).Inc()
	}
}

// inc adds one to a counter of r's, picked by which; extra are the
// labels after the resource's. Nothing when metrics are off.
func (m *metrics) inc(which func(*metrics) *prometheus.CounterVec, r *resource, extra ...string) {
	if m == nil {
		return
	}
	which(m).WithLabelValues(m.labels(r, extra...)...).Inc()
}

// The counters, for inc.
func leaksOf(m *metrics) *prometheus.CounterVec          { return m.leaks }
func reclaimsOf(m *metrics) *prometheus.CounterVec       { return m.reclaims }
func retriesOf(m *metrics) *prometheus.CounterVec        { return m.retries }
func transitionsOf(m *metrics) *prometheus.CounterVec    { return m.transitions }
func breakerRejectOf(m *metrics) *prometheus.CounterVec  { return m.breakerFail }
func bulkheadRejectOf(m *metrics) *prometheus.CounterVec { return m.bulkheadFull }

// stateCollector reads the gauges from the host at each scrape: pools,
// health, circuit breakers and plugins. Per type (the default), each
// series is the sum over the type's resources.
type stateCollector struct {
	h           *Host
	perResource bool
	descs       []*prometheus.Desc
	instances, maxN, minN, pending, timeouts, destroyed, leases, health, breaker,
	pluginUp, semCount, semMax, semIdleMax, semIdleMin, semPending, semTimeout *prometheus.Desc
}

func newStateCollector(h *Host, perResource bool) *stateCollector {
	c := &stateCollector{h: h, perResource: perResource}
	with := func(labels ...string) []string {
		if perResource {
			return append([]string{"resource", "type"}, labels...)
		}
		return append([]string{"type"}, labels...)
	}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		d := prometheus.NewDesc(name, help, labels, nil)
		c.descs = append(c.descs, d)
		return d
	}
	pool := []string{"db_client_connection_pool_name"}
	c.instances = desc("nebula_pool_instances", "Instances in the pool, by state: idle or used (leased).", with("state"))
	c.maxN = desc("nebula_pool_max_instances", "The most instances the pool may hold (max_size; replicas for shared pooling).", with())
	c.minN = desc("nebula_pool_min_instances", "The fewest instances the pool keeps open (min_size).", with())
	c.pending = desc("nebula_pool_pending_acquires", "Acquires waiting for an instance.", with())
	c.timeouts = desc("nebula_pool_acquire_timeouts_total", "Acquires that gave up waiting for an instance.", with())
	c.destroyed = desc("nebula_pool_instances_destroyed_total", "Instances closed, by reason: idle, lifetime, broken, closed.", with("reason"))
	c.leases = desc("nebula_leases_out", "Leases currently held.", with())
	c.health = desc("nebula_health_state", "Resources in each health state: per resource, 1 for its state and 0 for the others.", with("state"))
	c.breaker = desc("nebula_circuit_breaker_state", "Resources whose circuit breaker is in each state (per resource, 1 or 0); only resources with a breaker.", with("state"))
	c.pluginUp = desc("nebula_plugin_up", "1 while the plugin process is running, else 0.", []string{"plugin"})
	// db.client.connection.count would translate to db_client_connection_count,
	// but Prometheus reserves _count for histograms and summaries (promtool
	// refuses it): it is exported under the name it had before semantic
	// conventions 1.26, db.client.connections.usage.
	c.semCount = desc("db_client_connections_usage", "OpenTelemetry db.client.connection.count (db.client.connections.usage before semconv 1.26): instances by state (idle, used).", []string{"db_client_connection_pool_name", "db_client_connection_state"})
	c.semMax = desc("db_client_connection_max", "OpenTelemetry db.client.connection.max: the most instances allowed.", pool)
	c.semIdleMax = desc("db_client_connection_idle_max", "OpenTelemetry db.client.connection.idle.max: the most idle instances kept.", pool)
	c.semIdleMin = desc("db_client_connection_idle_min", "OpenTelemetry db.client.connection.idle.min: the fewest idle instances kept.", pool)
	c.semPending = desc("db_client_connection_pending_requests", "OpenTelemetry db.client.connection.pending_requests: requests waiting for an instance.", pool)
	c.semTimeout = desc("db_client_connection_timeouts_total", "OpenTelemetry db.client.connection.timeouts: acquires that timed out.", pool)
	return c
}

var (
	healthStates  = []HealthState{HealthStarting, HealthHealthy, HealthDegraded, HealthUnhealthy, HealthRecovering}
	breakerStates = []BreakerState{BreakerClosed, BreakerOpen, BreakerHalfOpen}
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// poolSum is the state of the resources behind one set of series: one
// resource, or every resource of a type.
type poolSum struct {
	labels                                   []string // resource and type, or type
	pool                                     string   // db_client_connection_pool_name
	idle, used, maxN, minN, idleMax, pending int
	leases                                   int
	timeouts                                 int64
	destroyed                                [4]int64 // idle, lifetime, broken, closed
	health                                   [5]int   // by healthStates
	breaker                                  [3]int   // by breakerStates
	breakers                                 int      // resources with a breaker
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	count := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	c.h.mu.Lock()
	order := append([]*resource(nil), c.h.order...)
	c.h.mu.Unlock()
	var sums []*poolSum
	byType := map[string]*poolSum{}
	for _, r := range order {
		var ps *poolSum
		if c.perResource {
			ps = &poolSum{labels: []string{r.id, r.typ()}, pool: r.id}
			sums = append(sums, ps)
		} else if ps = byType[r.typ()]; ps == nil {
			ps = &poolSum{labels: []string{r.typ()}, pool: r.typ()}
			byType[r.typ()] = ps
			sums = append(sums, ps)
		}
		r.addMetricState(ps)
	}
	with := func(labels []string, extra string) []string {
		return append(append(make([]string, 0, len(labels)+1), labels...), extra)
	}
	for _, ps := range sums {
		l := ps.labels
		gauge(c.instances, ps.idle, with(l, "idle")...)
		gauge(c.instances, ps.used, with(l, "used")...)
		gauge(c.maxN, ps.maxN, l...)
		gauge(c.minN, ps.minN, l...)
		gauge(c.pending, ps.pending, l...)
		count(c.timeouts, ps.timeouts, l...)
		for i, reason := range []string{"idle", "lifetime", "broken", "closed"} {
			count(c.destroyed, ps.destroyed[i], with(l, reason)...)
		}
		gauge(c.leases, ps.leases, l...)

		gauge(c.semCount, ps.idle, ps.pool, "idle")
		gauge(c.semCount, ps.used, ps.pool, "used")
		gauge(c.semMax, ps.maxN, ps.pool)
		gauge(c.semIdleMax, ps.idleMax, ps.pool)
		gauge(c.semIdleMin, ps.minN, ps.pool)
		gauge(c.semPending, ps.pending, ps.pool)
		count(c.semTimeout, ps.timeouts, ps.pool)

		for i, s := range healthStates {
			gauge(c.health, ps.health[i], with(l, string(s))...)
		}
		if ps.breakers > 0 {
			for i, s := range breakerStates {
				gauge(c.breaker, ps.breaker[i], with(l, string(s))...)
			}
		}
	}
	for _, p := range c.h.Plugins() {
		gauge(c.pluginUp, boolInt(p.State == supervisor.StateRunning), p.Name)
	}
}

// addMetricState adds r's pool, lease, health and breaker state to ps,
// without building the whole of info().
func (r *resource) addMetricState(ps *poolSum) {
	pooling := r.pooling()
	maxN, minN, idleMax := poolLimits(r.set.pool, pooling)
	r.mu.Lock()
	var st pool.Stat
	if r.cur != nil {
		st = r.cur.pool.stat()
	}
	state, leases := r.stateLocked(), len(r.leases.all())
	r.mu.Unlock()
	ps.idle += st.Idle
	ps.used += st.InUse
	ps.maxN += maxN
	ps.minN += minN
	ps.idleMax += idleMax
	ps.pending += st.Waiting
	ps.timeouts += st.TimeoutCount
	for i, n := range []int64{st.DestroyedIdle, st.DestroyedLifetime, st.DestroyedBroken, st.DestroyedClosed} {
		ps.destroyed[i] += n
	}
	ps.leases += leases
	hs := HealthUnhealthy
	switch state {
	case StateReady:
		hs = r.health.Current()
	case StatePending:
		hs = HealthStarting
	}
	ps.health[slices.Index(healthStates, hs)]++
	if b := r.pol.Info().Breaker; b != BreakerNone {
		ps.breakers++
		if i := slices.Index(breakerStates, b); i >= 0 {
			ps.breaker[i]++
		}
	}
}

// poolLimits returns the limits of a pool in effect, as poolSettings
// does, without formatting the rest: max_size, min_size and max_idle, or
// the replicas three times for shared pooling.
func poolLimits(p config.Pool, mode sdk.Pooling) (maxN, minN, idleMax int) {
	if mode != sdk.PoolingExclusive {
		n := max(p.Replicas, 1)
		return n, n, n
	}
	p = effectivePool(p)
	maxN = p.MaxSize
	if maxN == 0 {
		maxN = pool.DefaultMaxSize()
	}
	idleMax = p.MaxIdle
	if idleMax == 0 {
		idleMax = maxN
	}
	return maxN, p.MinSize, idleMax
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
