package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/plugins/postgres"
	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The variants. direct is the base every other variant of a workload is
// compared with, in the same round.
const (
	direct     = "direct"
	hostInproc = "host-inproc"
	hostPlugin = "host-plugin"
	osRead     = "os-read"
)

// workload is one thing measured, in each of its variants.
type workload struct {
	name string
	// backend is the server the workload needs ("postgres", "redis",
	// "kafka", "s3", "mongo"), probed before the runs; "" for none (the
	// http workloads start their own).
	backend string
	// pluginType is the plugin binary host-plugin runs.
	pluginType string
	// perOp is the records one call carries (produce_batch: 1,000);
	// throughput is reported in records/s when it is above 1.
	perOp int
	// bytesPerOp, when set, reports throughput in MiB/s of it.
	bytesPerOp int64
	// concurrency, when set, caps -c for the throughput phase: the 64 MiB
	// objects go one at a time.
	concurrency int
	variants    []string
	setup       func(ctx context.Context, e *runEnv, variant string) (*target, error)
}

// target is a workload's variant, set up in the child.
type target struct {
	// worker prepares one worker (a held lease, say) and returns its call
	// and what ends it.
	worker func(ctx context.Context) (call func(context.Context) error, done func(), err error)
}

// callEach is a target whose workers need nothing of their own.
func callEach(call func(context.Context) error) *target {
	return &target{worker: func(context.Context) (func(context.Context) error, func(), error) {
		return call, func() {}, nil
	}}
}

var standard = []string{direct, hostInproc, hostPlugin}

// workloads are the workloads, in the table's order.
var workloads = []*workload{
	sqlWorkload("postgres/select-1/lease-per-query", false, selectOne),
	sqlWorkload("postgres/select-1/lease-held", true, selectOne),
	sqlWorkload("postgres/point-select/lease-per-query", false, pointSelect),
	sqlWorkload("postgres/point-select/lease-held", true, pointSelect),
	{name: "redis/get-100B", backend: "redis", pluginType: "redis", variants: standard, setup: redisSetup("get")},
	{name: "redis/set-100B", backend: "redis", pluginType: "redis", variants: standard, setup: redisSetup("set")},
	{name: "kafka/produce-1KiB", backend: "kafka", pluginType: "kafka", variants: standard, setup: kafkaSetup(1)},
	{name: "kafka/produce_batch-1000x1KiB", backend: "kafka", pluginType: "kafka", perOp: batchSize, variants: standard, setup: kafkaSetup(batchSize)},
	{name: "memory/get-100B", pluginType: "memory", variants: standard, setup: memorySetup},
	{name: "localfs/get-1MiB", pluginType: "localfs", variants: []string{direct, osRead, hostInproc, hostPlugin}, setup: localfsSetup},
	{name: "s3/put-64MiB", backend: "s3", pluginType: "s3", bytesPerOp: objectSize, concurrency: 1, variants: standard, setup: s3Setup("put", "")},
	{name: "s3/get-64MiB", backend: "s3", pluginType: "s3", bytesPerOp: objectSize, concurrency: 1, variants: standard, setup: s3Setup("get", "")},
	// The get with its bytes through the plugin, as before the host
	// downloaded them itself (sdk.CapabilityBlobURLGet).
	{name: "s3/get-64MiB/direct_download=false", backend: "s3", pluginType: "s3", bytesPerOp: objectSize, concurrency: 1, variants: []string{direct, hostPlugin},
		setup: s3Setup("get", "  direct_download = false\n")},
	// find_one by a random _id of 100 or of 10,000 small orders
	// (mongo.go), at -c and at 1; Host.Invoke, or a lease each worker
	// holds.
	mongoFindOneWorkload("mongo/find_one-by-_id/100-docs", 100, false, 0),
	mongoFindOneWorkload("mongo/find_one-by-_id/100-docs/lease-held", 100, true, 0),
	mongoFindOneWorkload("mongo/find_one-by-_id/100-docs/c=1", 100, false, 1),
	mongoFindOneWorkload("mongo/find_one-by-_id/10k-docs", 10_000, false, 0),
	mongoFindOneWorkload("mongo/find_one-by-_id/10k-docs/c=1", 10_000, false, 1),
	// GET of a 200-byte JSON item from a server in the run's process
	// (httpapi.go), at -c and at 1; Host.Invoke of fetch, or a lease each
	// worker holds.
	httpFetchWorkload("http/fetch-200B", false, 0),
	httpFetchWorkload("http/fetch-200B/lease-held", true, 0),
	httpFetchWorkload("http/fetch-200B/c=1", false, 1),
}

func findWorkload(name string) *workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	return nil
}

func workloadNames() string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return strings.Join(names, ", ")
}

// runEnv is a child's run: its spec, and what to undo when it ends.
type runEnv struct {
	spec    runSpec
	undo    []func() error
	tempDir string
}

// onClose adds f to what close undoes, last first.
func (e *runEnv) onClose(f func() error) { e.undo = append(e.undo, f) }

func (e *runEnv) close() error {
	var errs []error
	for i := len(e.undo) - 1; i >= 0; i-- {
		errs = append(errs, e.undo[i]())
	}
	return errors.Join(errs...)
}

// dir returns the run's temporary directory, made on first use.
func (e *runEnv) dir() (string, error) {
	if e.tempDir != "" {
		return e.tempDir, nil
	}
	d, err := os.MkdirTemp("", "nebula-benchcompare-run-")
	if err != nil {
		return "", err
	}
	e.tempDir = d
	e.onClose(func() error { return os.RemoveAll(d) })
	return d, nil
}

// startHost starts a host on the configuration src, with the driver d
// compiled in (host-inproc) or the plugin binary of typ from the plugin
// directory (host-plugin), as the host benchmarks do.
func (e *runEnv) startHost(ctx context.Context, variant, src, typ string, d sdk.Driver) (*host.Host, error) {
	dir, err := e.dir()
	if err != nil {
		return nil, err
	}
	if variant == hostPlugin && e.spec.ProfileDir != "" {
		// The plugin writes a CPU profile of its whole run (sdk.Serve).
		src += fmt.Sprintf("plugin %q {\n  path = %q\n  env = { %s = %q }\n}\n", typ,
			filepath.Join(e.spec.PluginDir, "nebula-plugin-"+typ), sdk.CPUProfileEnv, e.spec.profile("plugin"))
	}
	path := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		return nil, err
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		return nil, diags
	}
	opts := []host.Option{host.WithLogger(slog.New(slog.DiscardHandler))}
	switch variant {
	case hostInproc:
		opts = append(opts, host.WithDriver(typ, d))
	case hostPlugin:
		opts = append(opts, host.WithPluginDir(e.spec.PluginDir))
	default:
		return nil, fmt.Errorf("variant %q runs no host", variant)
	}
	h, err := host.New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	if err := h.Start(ctx); err != nil {
		return nil, err
	}
	e.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return h.Close(ctx)
	})
	// host-plugin must run the binary under test, not one found elsewhere.
	if variant == hostPlugin {
		want := filepath.Join(e.spec.PluginDir, "nebula-plugin-"+typ)
		for _, p := range h.Plugins() {
			if p.Path != want {
				return nil, fmt.Errorf("the host runs %s, not %s", p.Path, want)
			}
		}
	}
	return h, nil
}

// open configures a resource of d and opens one instance of it, as
// sdktest.Open does for tests: the driver called in process.
func (e *runEnv) open(ctx context.Context, d sdk.Driver, typ string, cfg any) (opened, error) {
	t, ok := d.Info().Type(typ)
	if !ok {
		return opened{}, fmt.Errorf("driver %s has no type %q", d.Info().Name, typ)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return opened{}, err
	}
	res, err := d.Configure(ctx, sdk.ConfigureRequest{Type: typ, Name: "bench", Config: raw})
	if err != nil {
		return opened{}, err
	}
	e.onClose(func() error { return res.Close(context.Background()) })
	inst, err := res.Open(ctx)
	if err != nil {
		return opened{}, err
	}
	e.onClose(func() error { return inst.Close(context.Background()) })
	return opened{inst: inst, typ: t}, nil
}

// opened is an instance of a driver in process, whose operations are
// called as the host calls them.
type opened struct {
	inst sdk.Instance
	typ  sdk.ResourceType
}

func (o opened) invoke(ctx context.Context, op string, args json.RawMessage) (any, error) {
	return o.typ.Invoke(ctx, o.inst, sdk.InvokeRequest{Operation: op, Args: args})
}

func (o opened) invokeStream(ctx context.Context, op string, args json.RawMessage, out io.Writer) (any, error) {
	return o.typ.InvokeStream(ctx, o.inst, sdk.InvokeRequest{Operation: op, Args: args}, nil, out)
}

// invoke is a call through the host's one-shot Invoke (acquire, call,
// release).
func invoke(h *host.Host, name, op string, args json.RawMessage) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := h.Invoke(ctx, name, op, args)
		return err
	}
}

// ---- PostgreSQL ----

// benchTable is the table of the point selects, made by probe.
const (
	benchTable = "nebula_benchcompare"
	benchRows  = 10_000
)

// sqlQuery is one statement of a SQL workload: its text, its arguments
// (made anew for each call) and a check of the row it returns, read into
// dest.
type sqlQuery struct {
	text  string
	args  func() []any
	dest  func() []any
	check func(args, dest []any) error
}

var selectOne = sqlQuery{
	text: "SELECT 1",
	args: func() []any { return nil },
	dest: func() []any { return []any{new(int64)} },
	check: func(_, dest []any) error {
		if v := *dest[0].(*int64); v != 1 {
			return fmt.Errorf("SELECT 1 returned %d", v)
		}
		return nil
	},
}

var pointSelect = sqlQuery{
	text: "SELECT id, name FROM " + benchTable + " WHERE id = $1",
	args: func() []any { return []any{int64(rand.IntN(benchRows) + 1)} },
	dest: func() []any { return []any{new(int64), new(string)} },
	check: func(args, dest []any) error {
		if got, want := *dest[0].(*int64), args[0].(int64); got != want {
			return fmt.Errorf("the row of id %d has id %d", want, got)
		}
		return nil
	},
}

// sqlWorkload is a statement through pgxpool (direct) or the host's SQL
// API: with a lease (or pooled connection) taken for each query, or one
// held by each worker for the whole phase. Both pools hold as many
// sessions as the workers.
func sqlWorkload(name string, held bool, q sqlQuery) *workload {
	return &workload{name: name, backend: "postgres", pluginType: "postgres", variants: standard,
		setup: func(ctx context.Context, e *runEnv, variant string) (*target, error) {
			if variant == direct {
				return pgxTarget(ctx, e, held, q)
			}
			src := fmt.Sprintf("resource \"postgres\" \"main\" {\n  url = %q\n  pool {\n    max_size = %d\n  }\n}\n", e.spec.Backends.Postgres, e.spec.Concurrency)
			h, err := e.startHost(ctx, variant, src, "postgres", postgres.New())
			if err != nil {
				return nil, err
			}
			if !held {
				return callEach(func(ctx context.Context) error {
					l, err := h.Acquire(ctx, "postgres.main")
					if err != nil {
						return err
					}
					defer l.Release()
					return leaseQuery(ctx, l, q)
				}), nil
			}
			return &target{worker: func(ctx context.Context) (func(context.Context) error, func(), error) {
				l, err := h.Acquire(ctx, "postgres.main")
				if err != nil {
					return nil, nil, err
				}
				return func(ctx context.Context) error { return leaseQuery(ctx, l, q) }, l.Release, nil
			}}, nil
		}}
}

// leaseQuery runs q on the lease and reads its one row, as pgx's QueryRow
// does.
func leaseQuery(ctx context.Context, l *host.Lease, q sqlQuery) error {
	args, dest := q.args(), q.dest()
	rows, err := l.Query(ctx, q.text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errors.New(q.text + ": no row")
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return q.check(args, dest)
}

func pgxTarget(ctx context.Context, e *runEnv, held bool, q sqlQuery) (*target, error) {
	cfg, err := pgxpool.ParseConfig(e.spec.Backends.Postgres)
	if err != nil {
		return nil, errors.New("the PostgreSQL URL does not parse")
	}
	cfg.MaxConns = int32(e.spec.Concurrency)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.onClose(func() error { pool.Close(); return nil })
	type queryer interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}
	query := func(ctx context.Context, c queryer) error {
		args, dest := q.args(), q.dest()
		if err := c.QueryRow(ctx, q.text, args...).Scan(dest...); err != nil {
			return err
		}
		return q.check(args, dest)
	}
	if !held {
		return callEach(func(ctx context.Context) error { return query(ctx, pool) }), nil
	}
	return &target{worker: func(ctx context.Context) (func(context.Context) error, func(), error) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context) error { return query(ctx, conn) }, conn.Release, nil
	}}, nil
}

// ---- Redis ----

var value100 = strings.Repeat("v", 100)

// redisSetup is GET or SET of a 100-byte value: go-redis with the options
// the redis driver gives its client (RESP3, 3s read and write timeouts,
// the call's deadline on the socket, go-redis's default pool), or the
// host's Invoke.
func redisSetup(op string) func(context.Context, *runEnv, string) (*target, error) {
	return func(ctx context.Context, e *runEnv, variant string) (*target, error) {
		addr := e.spec.Backends.Redis
		key := fmt.Sprintf("nebula-benchcompare-%d-%d", os.Getpid(), time.Now().UnixNano())
		rdb := goredis.NewClient(&goredis.Options{
			Addr: addr, Protocol: 3, ClientName: redis.DefaultClientName, DialerRetries: 1,
			ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, ContextTimeoutEnabled: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		e.onClose(rdb.Close)
		if err := rdb.Set(ctx, key, value100, 0).Err(); err != nil {
			return nil, err
		}
		e.onClose(func() error { return rdb.Del(context.Background(), key).Err() })
		if variant == direct {
			if op == "get" {
				return callEach(func(ctx context.Context) error { return rdb.Get(ctx, key).Err() }), nil
			}
			return callEach(func(ctx context.Context) error { return rdb.Set(ctx, key, value100, 0).Err() }), nil
		}
		h, err := e.startHost(ctx, variant, fmt.Sprintf("resource \"redis\" \"cache\" {\n  addresses = [%q]\n}\n", addr), "redis", redis.New())
		if err != nil {
			return nil, err
		}
		args := map[string]string{"key": key}
		if op == "set" {
			args["value"] = value100
		}
		raw, _ := json.Marshal(args)
		if op == "get" {
			if err := checkGet(ctx, h, "redis.cache", raw); err != nil {
				return nil, err
			}
		}
		return callEach(invoke(h, "redis.cache", op, raw)), nil
	}
}

// checkGet checks once that get finds the 100-byte value.
func checkGet(ctx context.Context, h *host.Host, name string, args json.RawMessage) error {
	res, err := host.Call[sdk.KVGetResult](ctx, h, name, "get", args)
	if err != nil {
		return err
	}
	if !res.Found || res.Value != value100 {
		return fmt.Errorf("%s get: found %v, %d bytes; want the 100-byte value", name, res.Found, len(res.Value))
	}
	return nil
}

// ---- Kafka ----

const batchSize = 1000

var value1K = strings.Repeat("0123456789abcdef", 64)

// kafkaSetup produces n records of 1 KiB per call, to a topic of 3
// partitions made for the run and deleted after it: franz-go with the
// settings the kafka driver gives its client (acks all, idempotent, no
// linger, no compression, the hash partitioner, which sticks keyless
// records to one partition per batch), or the host's produce
// (n = 1) or produce_batch.
func kafkaSetup(n int) func(context.Context, *runEnv, string) (*target, error) {
	return func(ctx context.Context, e *runEnv, variant string) (*target, error) {
		brokers := strings.Split(e.spec.Backends.Kafka, ",")
		topic := fmt.Sprintf("nebula-benchcompare-%d-%d", os.Getpid(), time.Now().UnixNano())
		admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			return nil, err
		}
		e.onClose(func() error { admin.Close(); return nil })
		adm := kadm.NewClient(admin)
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", topic, err)
		}
		// kfake keeps every record in memory until its topic goes.
		e.onClose(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := adm.DeleteTopic(ctx, topic)
			return err
		})

		if variant == direct {
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(brokers...),
				kgo.ClientID("nebula-resource"),
				kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerLinger(0),
				kgo.MaxBufferedRecords(math.MaxInt),
				kgo.ProducerBatchMaxBytes(1000012),
				kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
				kgo.RecordDeliveryTimeout(30*time.Second),
			)
			if err != nil {
				return nil, err
			}
			e.onClose(func() error { cl.Close(); return nil })
			value := []byte(value1K)
			return callEach(func(ctx context.Context) error {
				recs := make([]*kgo.Record, n)
				for i := range recs {
					recs[i] = &kgo.Record{Topic: topic, Value: value}
				}
				return cl.ProduceSync(ctx, recs...).FirstErr()
			}), nil
		}

		src := fmt.Sprintf("resource \"kafka\" \"events\" {\n  brokers = [%s]\n  linger  = \"0s\"\n}\n", quoted(brokers))
		h, err := e.startHost(ctx, variant, src, "kafka", kafka.New())
		if err != nil {
			return nil, err
		}
		if n == 1 {
			raw, _ := json.Marshal(map[string]string{"topic": topic, "value": value1K})
			return callEach(invoke(h, "kafka.events", "produce", raw)), nil
		}
		values := make([]string, n)
		for i := range values {
			values[i] = value1K
		}
		raw, _ := json.Marshal(map[string]any{"topic": topic, "values": values})
		return callEach(invoke(h, "kafka.events", "produce_batch", raw)), nil
	}
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// ---- memory ----

// memorySetup is get of a 100-byte value: the memory driver's instance
// called in process (its Invoke), or the host's Invoke.
func memorySetup(ctx context.Context, e *runEnv, variant string) (*target, error) {
	set, _ := json.Marshal(map[string]string{"key": "k", "value": value100})
	get := json.RawMessage(`{"key":"k"}`)
	if variant == direct {
		inst, err := e.open(ctx, memory.New(), "memory", map[string]any{})
		if err != nil {
			return nil, err
		}
		if _, err := inst.invoke(ctx, "set", set); err != nil {
			return nil, err
		}
		return callEach(func(ctx context.Context) error {
			_, err := inst.invoke(ctx, "get", get)
			return err
		}), nil
	}
	h, err := e.startHost(ctx, variant, "resource \"memory\" \"cache\" {}\n", "memory", memory.New())
	if err != nil {
		return nil, err
	}
	if _, err := h.Invoke(ctx, "memory.cache", "set", json.RawMessage(set)); err != nil {
		return nil, err
	}
	if err := checkGet(ctx, h, "memory.cache", get); err != nil {
		return nil, err
	}
	return callEach(invoke(h, "memory.cache", "get", get)), nil
}

// ---- localfs ----

const fileSize = 1 << 20

// localfsSetup is get of a 1 MiB file into a buffer each worker reuses:
// the localfs driver's instance called in process (its InvokeStream), the
// host's InvokeStream on a lease, or the floor, os-read: os.Open and a
// read into the buffer. (os.ReadFile would be no floor: it allocates the
// 1 MiB anew for every call, which at c=32 costs more than the driver.)
func localfsSetup(ctx context.Context, e *runEnv, variant string) (*target, error) {
	dir, err := e.dir()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "files")
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, err
	}
	content := make([]byte, fileSize)
	for i := range content {
		content[i] = byte(rand.Uint32())
	}
	if err := os.WriteFile(filepath.Join(root, "blob"), content, 0o600); err != nil {
		return nil, err
	}
	args := json.RawMessage(`{"key":"blob"}`)
	// stream makes a worker that gets the file into its own buffer with
	// get and checks its size.
	stream := func(get func(ctx context.Context, out *bytes.Buffer) error) *target {
		return &target{worker: func(context.Context) (func(context.Context) error, func(), error) {
			var buf bytes.Buffer
			return func(ctx context.Context) error {
				buf.Reset()
				if err := get(ctx, &buf); err != nil {
					return err
				}
				if buf.Len() != fileSize {
					return fmt.Errorf("get returned %d bytes, want %d", buf.Len(), fileSize)
				}
				return nil
			}, func() {}, nil
		}}
	}
	switch variant {
	case osRead:
		path := filepath.Join(root, "blob")
		return stream(func(_ context.Context, out *bytes.Buffer) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = out.ReadFrom(f)
			return err
		}), nil
	case direct:
		inst, err := e.open(ctx, localfs.New(), localfs.TypeName, map[string]any{"root": root})
		if err != nil {
			return nil, err
		}
		return stream(func(ctx context.Context, out *bytes.Buffer) error {
			_, err := inst.invokeStream(ctx, "get", args, out)
			return err
		}), nil
	}
	h, err := e.startHost(ctx, variant, fmt.Sprintf("resource \"localfs\" \"files\" {\n  root = %q\n}\n", root), "localfs", localfs.New())
	if err != nil {
		return nil, err
	}
	return stream(func(ctx context.Context, out *bytes.Buffer) error {
		l, err := h.Acquire(ctx, "localfs.files")
		if err != nil {
			return err
		}
		defer l.Release()
		_, err = l.InvokeStream(ctx, "get", args, nil, out)
		return err
	}), nil
}

// concurrencyAt returns the concurrency of the workload's throughput
// phase at -c c.
func (w *workload) concurrencyAt(c int) int {
	if w.concurrency > 0 {
		return min(c, w.concurrency)
	}
	return c
}
