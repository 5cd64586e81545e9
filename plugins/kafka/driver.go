package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/nebula-resource/nebula-resource/internal/release"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The resource types the driver offers.
const (
	// ProducerType is the producer: shared pooling, one kgo.Client per
	// instance.
	ProducerType = "kafka"
	// ConsumerType is the consumer: exclusive pooling, each instance one
	// member of a consumer group.
	ConsumerType = "kafka_consumer"
)

// ProducerConfig is the configuration of a "kafka" resource: where the
// brokers are and how to reach them (as for a "kafka_consumer" resource),
// and how to produce.
type ProducerConfig struct {
	Brokers               []string      `nebula:"brokers,required" doc:"Seed brokers, host:port (a bare host means port 9092); at least one."`
	ClientID              string        `nebula:"client_id" default:"nebula-resource" doc:"The client ID sent to the brokers, shown in their logs and quotas."`
	DialTimeout           time.Duration `nebula:"dial_timeout" default:"10s" doc:"Time allowed to open a connection to a broker, TLS and SASL included."`
	SASLMechanism         string        `nebula:"sasl_mechanism" default:"" doc:"SASL mechanism: \"\" (none), plain, scram-sha-256 or scram-sha-512."`
	SASLUsername          string        `nebula:"sasl_username" doc:"SASL user name, with sasl_mechanism."`
	SASLPassword          string        `nebula:"sasl_password,sensitive" doc:"SASL password, with sasl_mechanism."`
	TLS                   bool          `nebula:"tls" default:"false" doc:"Connect to the brokers over TLS."`
	TLSCAFile             string        `nebula:"tls_ca_file" doc:"PEM file of the certificate authorities to trust, with tls; unset trusts the system's."`
	TLSServerName         string        `nebula:"tls_server_name" doc:"Name to verify the brokers' certificates against, with tls; unset uses each broker's host name."`
	TLSInsecureSkipVerify bool          `nebula:"tls_insecure_skip_verify" default:"false" doc:"Do not verify the brokers' certificates (testing only), with tls."`

	Acks            string        `nebula:"acks" default:"all" doc:"Acknowledgement a write waits for: all (every in-sync replica), leader, or none."`
	Idempotent      bool          `nebula:"idempotent" default:"true" doc:"Idempotent writes: retries never duplicate or reorder records within a partition. Needs acks = \"all\"."`
	Linger          time.Duration `nebula:"linger" default:"10ms" doc:"Accepted for compatibility; it has no effect. A produce call sends its records as soon as the connection to their broker is free, and records of concurrent calls that arrive while a request is in flight share the next one."`
	BatchMaxBytes   int           `nebula:"batch_max_bytes" default:"1000012" doc:"Largest record batch sent to a partition, in bytes (512 to 104857600); keep it at or below the topic's max.message.bytes."`
	Compression     string        `nebula:"compression" default:"none" doc:"Batch compression: none, gzip, snappy, lz4 or zstd."`
	Partitioner     string        `nebula:"partitioner" default:"hash" doc:"How a record without an explicit partition gets one: hash (of the key, as Kafka's Java client; keyless records stick to a partition per batch), round_robin, sticky (ignores keys), or manual (every call must name a partition)."`
	DeliveryTimeout time.Duration `nebula:"delivery_timeout" default:"30s" doc:"How long a record may take to be acknowledged, retries included, before it fails; 0s means no limit. A call that ends sooner returns, and its records may still be written."`

	AutoCreateTopics            bool  `nebula:"auto_create_topics" default:"false" doc:"Producing to a topic that does not exist creates it (with auto_create_partitions and auto_create_replication_factor) and writes the records; false fails such a call with not_found."`
	AutoCreatePartitions        int32 `nebula:"auto_create_partitions" default:"-1" doc:"Partitions of a topic auto_create_topics creates, at least 1; -1 uses the brokers' default (num.partitions)."`
	AutoCreateReplicationFactor int16 `nebula:"auto_create_replication_factor" default:"-1" doc:"Replication factor of a topic auto_create_topics creates, at least 1; -1 uses the brokers' default (default.replication.factor)."`
}

// ConsumerConfig is the configuration of a "kafka_consumer" resource:
// where the brokers are and how to reach them (as for a "kafka" resource),
// and the group the resource's instances are members of.
type ConsumerConfig struct {
	Brokers               []string      `nebula:"brokers,required" doc:"Seed brokers, host:port (a bare host means port 9092); at least one."`
	ClientID              string        `nebula:"client_id" default:"nebula-resource" doc:"The client ID sent to the brokers, shown in their logs and quotas."`
	DialTimeout           time.Duration `nebula:"dial_timeout" default:"10s" doc:"Time allowed to open a connection to a broker, TLS and SASL included."`
	SASLMechanism         string        `nebula:"sasl_mechanism" default:"" doc:"SASL mechanism: \"\" (none), plain, scram-sha-256 or scram-sha-512."`
	SASLUsername          string        `nebula:"sasl_username" doc:"SASL user name, with sasl_mechanism."`
	SASLPassword          string        `nebula:"sasl_password,sensitive" doc:"SASL password, with sasl_mechanism."`
	TLS                   bool          `nebula:"tls" default:"false" doc:"Connect to the brokers over TLS."`
	TLSCAFile             string        `nebula:"tls_ca_file" doc:"PEM file of the certificate authorities to trust, with tls; unset trusts the system's."`
	TLSServerName         string        `nebula:"tls_server_name" doc:"Name to verify the brokers' certificates against, with tls; unset uses each broker's host name."`
	TLSInsecureSkipVerify bool          `nebula:"tls_insecure_skip_verify" default:"false" doc:"Do not verify the brokers' certificates (testing only), with tls."`

	Group              string        `nebula:"group,required" doc:"The consumer group; every instance of the resource is one member of it."`
	Topics             []string      `nebula:"topics,required" doc:"The topics the group consumes; at least one."`
	StartOffset        string        `nebula:"start_offset" default:"earliest" doc:"Where a partition without a committed offset is read from: earliest or latest."`
	SessionTimeout     time.Duration `nebula:"session_timeout" default:"45s" doc:"How long the group waits for a member's heartbeat before it gives the member's partitions to others."`
	RebalanceTimeout   time.Duration `nebula:"rebalance_timeout" default:"60s" doc:"How long the group waits for every member to rejoin in a rebalance; a member holding uncommitted records blocks it at most this long."`
	Commit             string        `nebula:"commit" default:"manual" doc:"manual: only the commit operation commits; auto: the records of a poll are also committed in the background once the next poll starts."`
	AutoCommitInterval time.Duration `nebula:"auto_commit_interval" default:"5s" doc:"How often auto commit mode commits, with commit = \"auto\"."`
}

// Connection is where the brokers are and how to reach them: the settings
// of a configuration that both types share. (The SDK's schemas have no
// embedded structs, so each configuration spells them out, and hands
// them over with its connection method.)
type Connection struct {
	Brokers               []string
	ClientID              string
	DialTimeout           time.Duration
	SASLMechanism         string
	SASLUsername          string
	SASLPassword          string
	TLS                   bool
	TLSCAFile             string
	TLSServerName         string
	TLSInsecureSkipVerify bool
}

func (c ProducerConfig) connection() Connection {
	return Connection{Brokers: c.Brokers, ClientID: c.ClientID, DialTimeout: c.DialTimeout,
		SASLMechanism: c.SASLMechanism, SASLUsername: c.SASLUsername, SASLPassword: c.SASLPassword,
		TLS: c.TLS, TLSCAFile: c.TLSCAFile, TLSServerName: c.TLSServerName, TLSInsecureSkipVerify: c.TLSInsecureSkipVerify}
}

func (c ConsumerConfig) connection() Connection {
	return Connection{Brokers: c.Brokers, ClientID: c.ClientID, DialTimeout: c.DialTimeout,
		SASLMechanism: c.SASLMechanism, SASLUsername: c.SASLUsername, SASLPassword: c.SASLPassword,
		TLS: c.TLS, TLSCAFile: c.TLSCAFile, TLSServerName: c.TLSServerName, TLSInsecureSkipVerify: c.TLSInsecureSkipVerify}
}

// New returns the Kafka driver, with its two resource types.
func New() sdk.Driver { return sdk.NewDriver("kafka", release.Version(), producerType, consumerType) }

// producerType is the producer type, "kafka".
var producerType = sdk.ResourceDef[ProducerConfig, *ProducerInstance]{
	Name:         ProducerType,
	Description:  "A Kafka producer: each instance is one franz-go client, safe for concurrent use, that writes records and waits for their acknowledgement, and creates, deletes, lists and describes topics.",
	Capabilities: []string{sdk.CapabilityStream},
	Pooling:      sdk.PoolingShared,
	Configure:    configureProducer,
	Operations: []sdk.Op[*ProducerInstance]{
		streamOp("produce", (*ProducerInstance).produce),
		streamOp("produce_batch", (*ProducerInstance).produceBatch),
		operation("create_topic", "Creates a topic with the given partitions, replication factor and configuration; an existing topic is already_exists unless if_not_exists.",
			(*ProducerInstance).createTopic),
		operation("delete_topic", "Deletes a topic and its records; a missing topic is not_found unless if_exists.",
			(*ProducerInstance).deleteTopic),
		operation("list_topics", "Returns every topic with its number of partitions and replication factor, sorted by name; internal topics only with include_internal.",
			(*ProducerInstance).listTopics).Idempotent(),
		operation("describe_topic", "Returns a topic's partitions (leader, replicas, in-sync replicas) and its configuration.",
			(*ProducerInstance).describeTopic).Idempotent(),
	},
}

// consumerType is the consumer type, "kafka_consumer".
var consumerType = sdk.ResourceDef[ConsumerConfig, *ConsumerInstance]{
	Name:         ConsumerType,
	Description:  "A Kafka consumer group: each instance is one member of the group, leased by one caller at a time, that polls records and commits after processing.",
	Capabilities: []string{sdk.CapabilityStream},
	Pooling:      sdk.PoolingExclusive,
	Configure:    configureConsumer,
	Operations: []sdk.Op[*ConsumerInstance]{
		streamOp("poll", (*ConsumerInstance).poll),
		streamOp("commit", (*ConsumerInstance).commit),
		streamOp("seek", (*ConsumerInstance).seek),
		streamOp("lag", (*ConsumerInstance).lag),
		operation("assignment", "Returns this member's ID, the group generation and the partitions assigned to it.",
			(*ConsumerInstance).assignment).Idempotent(),
	},
}

// instance is what the operations of both types run on.
type instance interface {
	sdk.Instance
	// live fails when the instance is closed.
	live() error
}

// operation declares the operation name of instances of type I, performed
// by fn. A call fails at once when its context has ended or the instance
// is closed.
func operation[I instance, A, R any](name, description string, fn func(I, context.Context, A) (R, error)) sdk.Op[I] {
	return sdk.NewOp(name, description, func(in I, ctx context.Context, args A) (R, error) {
		var zero R
		if err := ctx.Err(); err != nil {
			return zero, sdk.WrapError(sdk.KindOf(err), err, name)
		}
		if err := in.live(); err != nil {
			return zero, err
		}
		return fn(in, ctx, args)
	})
}

// streamOperations are the stream capability's operations.
var streamOperations = append(sdk.StreamProducerOperations(), sdk.StreamConsumerOperations()...)

// streamOp declares the stream capability's operation name, with the
// capability's description and idempotency (the SDK fills these in only
// for the kv and pubsub capabilities' operations).
func streamOp[I instance, A, R any](name string, fn func(I, context.Context, A) (R, error)) sdk.Op[I] {
	i := slices.IndexFunc(streamOperations, func(op sdk.Operation) bool { return op.Name == name })
	if i < 0 {
		panic("kafka: the stream capability has no operation " + name)
	}
	op := operation(name, streamOperations[i].Description, fn)
	if streamOperations[i].Idempotent {
		op = op.Idempotent()
	}
	return op
}

// configureProducer keeps what Open needs. It opens no connection.
func configureProducer(_ context.Context, name string, cfg ProducerConfig) (sdk.Resource, error) {
	conn := cfg.connection()
	base, err := conn.options()
	if err != nil {
		return nil, err
	}
	return &ProducerResource{resource: newResource(name, conn), cfg: cfg, opts: append(base, cfg.options()...)}, nil
}

// configureConsumer keeps what Open needs. It opens no connection.
func configureConsumer(_ context.Context, name string, cfg ConsumerConfig) (sdk.Resource, error) {
	conn := cfg.connection()
	base, err := conn.options()
	if err != nil {
		return nil, err
	}
	return &ConsumerResource{resource: newResource(name, conn), cfg: cfg, base: base}, nil
}

func (c Connection) validate() []error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, sdk.AttributeError("brokers", "at least one broker is required", `Set brokers = ["kafka-1:9092", "kafka-2:9092"].`))
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" || strings.ContainsAny(b, " ,;\t\n") {
			errs = append(errs, sdk.AttributeError("brokers", fmt.Sprintf("%q is not a broker address", b),
				`Give each broker as its own list element, host:port, e.g. ["kafka-1:9092", "kafka-2:9092"].`))
		}
	}
	if len(c.ClientID) > 256 {
		errs = append(errs, sdk.AttributeError("client_id", "longer than 256 characters", "Use a shorter client ID."))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, sdk.AttributeError("dial_timeout", "must not be negative", `Set a duration such as "10s".`))
	}
	switch c.SASLMechanism {
	case "":
		if c.SASLUsername != "" || c.SASLPassword != "" {
			errs = append(errs, sdk.AttributeError("sasl_mechanism", "SASL credentials are set but no mechanism",
				`Set sasl_mechanism = "plain", "scram-sha-256" or "scram-sha-512", or remove sasl_username and sasl_password.`))
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASLUsername == "" {
			errs = append(errs, sdk.AttributeError("sasl_username", "required with sasl_mechanism", "Set the SASL user name."))
		}
		if c.SASLPassword == "" {
			errs = append(errs, sdk.AttributeError("sasl_password", "required with sasl_mechanism", "Set the SASL password (it is sensitive: never logged or shown)."))
		}
	default:
		errs = append(errs, sdk.AttributeError("sasl_mechanism", fmt.Sprintf("unknown SASL mechanism %q", c.SASLMechanism),
			`Use "plain", "scram-sha-256" or "scram-sha-512", or leave it unset for no SASL.`))
	}
	if !c.TLS {
		for _, a := range []struct {
			name string
			set  bool
		}{{"tls_ca_file", c.TLSCAFile != ""}, {"tls_server_name", c.TLSServerName != ""}, {"tls_insecure_skip_verify", c.TLSInsecureSkipVerify}} {
			if a.set {
				errs = append(errs, sdk.AttributeError(a.name, "set without tls = true", "Set tls = true to connect over TLS, or remove "+a.name+"."))
			}
		}
	}
	if c.TLS && c.TLSCAFile != "" {
		if _, err := loadCAs(c.TLSCAFile); err != nil {
			errs = append(errs, sdk.AttributeError("tls_ca_file", err.Error(), "Give the path of a readable PEM file of CA certificates."))
		}
	}
	return errs
}

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("the CA file holds no PEM certificate")
	}
	return pool, nil
}

// options returns the kgo options of the connection. Its errors never
// carry the password.
func (c Connection) options() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.WithLogger(slogLogger{}),
	}
	if c.DialTimeout > 0 {
		opts = append(opts, kgo.DialTimeout(c.DialTimeout))
	}
	switch c.SASLMechanism {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()))
	}
	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName, InsecureSkipVerify: c.TLSInsecureSkipVerify}
		if c.TLSCAFile != "" {
			pool, err := loadCAs(c.TLSCAFile)
			if err != nil {
				return nil, sdk.AttributeError("tls_ca_file", err.Error(), "Give the path of a readable PEM file of CA certificates.")
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

// Validate checks the rules the schema cannot state (the package
// documentation lists them), each at its attribute.
func (p ProducerConfig) Validate() error {
	errs := p.connection().validate()
	switch p.Acks {
	case "all", "leader", "none":
	default:
		errs = append(errs, sdk.AttributeError("acks", fmt.Sprintf("unknown acks %q", p.Acks), `Use "all", "leader" or "none".`))
	}
	if p.Idempotent && p.Acks != "all" {
		errs = append(errs, sdk.AttributeError("idempotent", "idempotent writes need acks = \"all\"",
			`Set idempotent = false to use acks = "`+p.Acks+`", or set acks = "all".`))
	}
	if p.Linger < 0 {
		errs = append(errs, sdk.AttributeError("linger", "must not be negative", `Set a duration such as "10ms", or "0s" not to linger.`))
	}
	if p.BatchMaxBytes < 512 || p.BatchMaxBytes > 100<<20 {
		errs = append(errs, sdk.AttributeError("batch_max_bytes", "out of range", "Set a size from 512 to 104857600 bytes; Kafka's default limit is 1000012."))
	}
	switch p.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		errs = append(errs, sdk.AttributeError("compression", fmt.Sprintf("unknown compression %q", p.Compression), `Use "none", "gzip", "snappy", "lz4" or "zstd".`))
	}
	switch p.Partitioner {
	case "hash", "round_robin", "sticky", "manual":
	default:
		errs = append(errs, sdk.AttributeError("partitioner", fmt.Sprintf("unknown partitioner %q", p.Partitioner), `Use "hash", "round_robin", "sticky" or "manual".`))
	}
	if p.DeliveryTimeout < 0 {
		errs = append(errs, sdk.AttributeError("delivery_timeout", "must not be negative", `Set a duration such as "30s", or "0s" for no limit.`))
	}
	if p.AutoCreatePartitions == 0 || p.AutoCreatePartitions < -1 {
		errs = append(errs, sdk.AttributeError("auto_create_partitions", fmt.Sprintf("%d is not a number of partitions", p.AutoCreatePartitions), "Set at least 1, or -1 for the brokers' default (num.partitions)."))
	}
	if p.AutoCreateReplicationFactor == 0 || p.AutoCreateReplicationFactor < -1 {
		errs = append(errs, sdk.AttributeError("auto_create_replication_factor", fmt.Sprintf("%d is not a replication factor", p.AutoCreateReplicationFactor), "Set at least 1, or -1 for the brokers' default (default.replication.factor)."))
	}
	if !p.AutoCreateTopics {
		for _, a := range []struct {
			name string
			set  bool
		}{{"auto_create_partitions", p.AutoCreatePartitions != -1}, {"auto_create_replication_factor", p.AutoCreateReplicationFactor != -1}} {
			if a.set {
				errs = append(errs, sdk.AttributeError(a.name, "set without auto_create_topics = true", "Set auto_create_topics = true to create missing topics when producing, or remove "+a.name+"."))
			}
		}
	}
	return errors.Join(errs...)
}

// options returns the kgo options of a validated producer configuration.
//
// The client never lingers: a produce call hands franz-go its records
// with Produce and a promise each (ProducerInstance.send), and only
// ProduceSync ends a partition's linger for its own records, so a call
// would wait out the linger for its last batch. Its buffer has no limit
// of its own, so that Produce never blocks: the instance keeps its own
// (maxBufferedRecords), which a call whose context ends stops waiting
// for.
func (p ProducerConfig) options() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(math.MaxInt),
		kgo.ProducerBatchMaxBytes(int32(p.BatchMaxBytes)),
		kgo.RecordPartitioner(newPartitioner(p.Partitioner)),
	}
	switch p.Acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !p.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch p.Compression {
	case "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	}
	if p.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(p.DeliveryTimeout))
	}
	return opts
}

// Validate checks the rules the schema cannot state, as
// ProducerConfig.Validate does.
func (c ConsumerConfig) Validate() error {
	errs := c.connection().validate()
	if strings.TrimSpace(c.Group) == "" {
		errs = append(errs, sdk.AttributeError("group", "must not be empty", `Name the consumer group, e.g. group = "orders-indexer".`))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, sdk.AttributeError("topics", "at least one topic is required", `Set topics = ["orders"].`))
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, sdk.AttributeError("topics", "a topic name is empty", "Remove the empty element."))
		} else if seen[t] {
			errs = append(errs, sdk.AttributeError("topics", fmt.Sprintf("topic %q is listed twice", t), "List each topic once."))
		}
		seen[t] = true
	}
	switch c.StartOffset {
	case "earliest", "latest":
	default:
		errs = append(errs, sdk.AttributeError("start_offset", fmt.Sprintf("unknown start offset %q", c.StartOffset), `Use "earliest" or "latest".`))
	}
	if c.SessionTimeout <= 0 {
		errs = append(errs, sdk.AttributeError("session_timeout", "must be positive", `Set a duration such as "45s"; the brokers bound it (group.min.session.timeout.ms, group.max.session.timeout.ms).`))
	}
	if c.RebalanceTimeout <= 0 {
		errs = append(errs, sdk.AttributeError("rebalance_timeout", "must be positive", `Set a duration such as "60s".`))
	}
	switch c.Commit {
	case "manual":
	case "auto":
		if c.AutoCommitInterval <= 0 {
			errs = append(errs, sdk.AttributeError("auto_commit_interval", "must be positive with commit = \"auto\"", `Set a duration such as "5s".`))
		}
	default:
		errs = append(errs, sdk.AttributeError("commit", fmt.Sprintf("unknown commit mode %q", c.Commit), `Use "manual" (commit with the commit operation) or "auto".`))
	}
	return errors.Join(errs...)
}

// resource is what both resource types share: the name, the secrets to
// keep out of errors, and the open instances, closed with the resource.
type resource struct {
	name    string
	secrets []string

	mu        sync.Mutex
	instances map[closer]struct{}
	closed    bool
}

type closer interface{ Close(context.Context) error }

func newResource(name string, c Connection) *resource {
	r := &resource{name: name, instances: map[closer]struct{}{}}
	if c.SASLPassword != "" {
		r.secrets = append(r.secrets, c.SASLPassword)
	}
	return r
}

func (r *resource) add(c closer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return sdk.Errorf(sdk.KindFailedPrecondition, "kafka resource %s is closed", r.name)
	}
	r.instances[c] = struct{}{}
	return nil
}

func (r *resource) remove(c closer) {
	r.mu.Lock()
	delete(r.instances, c)
	r.mu.Unlock()
}

// Close closes the instances the host left open.
func (r *resource) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	left := make([]closer, 0, len(r.instances))
	for c := range r.instances {
		left = append(left, c)
	}
	r.mu.Unlock()
	var errs []error
	for _, c := range left {
		errs = append(errs, c.Close(ctx))
	}
	return errors.Join(errs...)
}

// Interface guards.
var (
	_ sdk.Resource = (*ProducerResource)(nil)
	_ sdk.Resource = (*ConsumerResource)(nil)
)
