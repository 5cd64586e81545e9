package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// ProducerResource is one configured "kafka" resource. Each instance it
// opens is a kgo.Client of its own.
type ProducerResource struct {
	*resource
	cfg  ProducerConfig
	opts []kgo.Opt
}

// Open creates a client and checks that a broker answers.
func (r *ProducerResource) Open(ctx context.Context) (sdk.Instance, error) {
	cl, err := kgo.NewClient(r.opts...)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, sdk.Redact(err, r.secrets...), "configuring the kafka client of "+r.name)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, r.wrap(ctx, err, "connecting to the brokers of kafka resource "+r.name)
	}
	p := &ProducerInstance{res: r, cl: cl, adm: kadm.NewClient(cl), room: semaphore.NewWeighted(maxBufferedRecords)}
	if err := r.add(p); err != nil {
		cl.Close()
		return nil, err
	}
	return p, nil
}

// maxBufferedRecords is how many records an instance holds that the
// brokers have not acknowledged yet (franz-go's default limit).
const maxBufferedRecords = 50000

// ProducerInstance is one producer client, safe for concurrent use.
type ProducerInstance struct {
	res *ProducerResource
	cl  *kgo.Client
	adm *kadm.Client // over cl, for the topic operations
	// room is the client's buffer, in records (see send).
	room *semaphore.Weighted

	mu     sync.RWMutex
	closed bool
}

// Check sends a metadata request (brokers only) to a broker.
func (p *ProducerInstance) Check(ctx context.Context) error {
	if err := p.live(); err != nil {
		return err
	}
	return p.res.wrap(ctx, p.cl.Ping(ctx), "kafka check")
}

func (p *ProducerInstance) live() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return sdk.Errorf(sdk.KindFailedPrecondition, "kafka producer of %s is closed", p.res.name)
	}
	return nil
}

func (p *ProducerInstance) checkPartition(partition int32) error {
	switch {
	case partition < -1:
		return sdk.Errorf(sdk.KindInvalidArgument, "partition %d: want a partition number, or -1 for the partitioner", partition)
	case partition == -1 && p.res.cfg.Partitioner == "manual":
		return sdk.Errorf(sdk.KindInvalidArgument, "the resource's partitioner is manual: give a partition")
	}
	return nil
}

func (p *ProducerInstance) produce(ctx context.Context, a sdk.StreamProduceArgs) (sdk.StreamProduceResult, error) {
	if a.Topic == "" {
		return sdk.StreamProduceResult{}, sdk.Errorf(sdk.KindInvalidArgument, "topic must not be empty")
	}
	if err := p.checkPartition(a.Partition); err != nil {
		return sdk.StreamProduceResult{}, err
	}
	rec := &kgo.Record{Topic: a.Topic, Value: []byte(a.Value), Context: recordContext(ctx, a.Partition)}
	if a.Key != "" {
		rec.Key = []byte(a.Key)
	}
	if len(a.Headers) > 0 {
		names := make([]string, 0, len(a.Headers))
		for k := range a.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(a.Headers[k])})
		}
	}
	call, err := p.deliver(ctx, a.Topic, []*kgo.Record{rec})
	if err != nil {
		return sdk.StreamProduceResult{}, err
	}
	if _, first := call.failures(); first != nil {
		return sdk.StreamProduceResult{}, p.failed(ctx, a.Topic, first, "producing to "+a.Topic)
	}
	return sdk.StreamProduceResult{Topic: rec.Topic, Partition: rec.Partition, Offset: p.offset(rec)}, nil
}

func (p *ProducerInstance) produceBatch(ctx context.Context, a batchArgs) (sdk.StreamProduceBatchResult, error) {
	if err := p.checkPartition(a.Partition); err != nil {
		return sdk.StreamProduceBatchResult{}, err
	}
	rctx := recordContext(ctx, a.Partition)
	keys, values := arena(a.Keys), arena(a.Values)
	store := make([]kgo.Record, len(values))
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		r := &store[i]
		r.Topic, r.Value, r.Context = a.Topic, v, rctx
		if len(keys) > 0 && len(keys[i]) > 0 {
			r.Key = keys[i]
		}
		recs[i] = r
	}
	call, err := p.deliver(ctx, a.Topic, recs)
	if err != nil {
		return sdk.StreamProduceBatchResult{}, err
	}
	if failed, first := call.failures(); first != nil {
		return sdk.StreamProduceBatchResult{}, p.failed(ctx, a.Topic, first, fmt.Sprintf("producing to %s: %d of %d records failed (the others were written)", a.Topic, failed, len(recs)))
	}
	out := sdk.StreamProduceBatchResult{Topic: a.Topic, Records: make([]sdk.StreamPosition, len(recs))}
	for i, r := range recs {
		out.Records[i] = sdk.StreamPosition{Partition: r.Partition, Offset: p.offset(r)}
	}
	return out, nil
}

// deliver sends the records, all of one topic, with send, and sends them
// again, at most twice, when every one of them failed in a way the driver
// can remedy. A record of a topic the brokers do not know was never
// written, so sending it again writes it once.
//
//   - UNKNOWN_TOPIC_ID: the topic was deleted since this client last wrote
//     to it, and perhaps created again. franz-go keeps writing to the old
//     topic's ID until the topic is purged from the client (see its
//     PurgeTopicsFromClient), so deliver purges it. Records of other calls
//     still buffered for the topic fail; like any failed record, they may
//     or may not have been written, and they are not sent again.
//   - UNKNOWN_TOPIC_OR_PARTITION, with auto_create_topics: deliver creates
//     the topic. franz-go fails the records of a topic it cannot find
//     after a few metadata requests (about a second); creating the topic
//     only then keeps calls to topics that exist free of admin requests.
func (p *ProducerInstance) deliver(ctx context.Context, topic string, recs []*kgo.Record) (*produceCall, error) {
	for remedies := 0; ; remedies++ {
		call, err := p.send(ctx, recs)
		if err != nil {
			return nil, err
		}
		failed, first := call.failures()
		if failed != len(recs) || remedies == 2 {
			return call, nil
		}
		switch {
		case errors.Is(first, kerr.UnknownTopicID):
			p.cl.PurgeTopicsFromClient(topic)
		case errors.Is(first, kerr.UnknownTopicOrPartition) && p.res.cfg.AutoCreateTopics:
			if err := p.autoCreate(ctx, topic); err != nil {
				return nil, err
			}
		default:
			return call, nil
		}
		for _, r := range recs {
			// What franz-go set on the record (partition, sequence
			// numbers, timestamp) belongs to the failed attempt.
			*r = kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Context: r.Context}
		}
	}
}

// autoCreate creates a topic for auto_create_topics, with the resource's
// auto_create_partitions and auto_create_replication_factor. A topic that
// another call created meanwhile is no error.
func (p *ProducerInstance) autoCreate(ctx context.Context, topic string) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	cfg := p.res.cfg
	resp, err := p.adm.CreateTopic(ctx, cfg.AutoCreatePartitions, cfg.AutoCreateReplicationFactor, nil, topic)
	if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return p.res.wrap(ctx, brokerMessage(err, resp.ErrMessage), fmt.Sprintf("producing to %s: creating the topic (auto_create_topics)", topic))
}

// failed turns the first failure of a call's records into its error; a
// topic that does not exist gets a message that says so, and how to
// create it.
func (p *ProducerInstance) failed(ctx context.Context, topic string, first error, what string) error {
	if errors.Is(first, kerr.UnknownTopicOrPartition) && !p.res.cfg.AutoCreateTopics {
		what = fmt.Sprintf("%s: topic %q does not exist (create it with create_topic, or set auto_create_topics = true on the resource)", what, topic)
	}
	return p.res.wrap(ctx, first, what)
}

// offset is the offset of a produced record, or -1 when the brokers do
// not acknowledge writes.
func (p *ProducerInstance) offset(r *kgo.Record) int64 {
	if p.res.cfg.Acks == "none" {
		return -1
	}
	return r.Offset
}

// send hands the records to franz-go with a promise each and waits until
// every promise has run (the brokers acknowledged the record, or franz-go
// failed it) or ctx ends; no goroutine waits for the call.
//
// A call first takes room for its records in the instance's buffer (at
// most all of it), waiting for other calls' records to finish if it is
// full, and gives the room back when its last promise runs. franz-go's
// own limit is set out of reach (Producer.options), so that its Produce
// never blocks: a call whose ctx ends while it waits for room returns at
// once, having sent nothing.
//
// The records are produced under a context that ctx does not cancel (see
// recordContext), since franz-go fails a whole batch when the context of
// its first record ends, and a batch of this shared client may hold the
// records of other calls. A call whose ctx ends after its records are
// handed over returns at once; its records may still be written
// (delivery_timeout bounds how long they are tried).
//
// The client does not linger (Producer.options), so a call's records go
// out as soon as the connection to their broker is free; records that
// arrive while a request is in flight share the next one.
func (p *ProducerInstance) send(ctx context.Context, recs []*kgo.Record) (*produceCall, error) {
	c := &produceCall{room: p.room, taken: min(int64(len(recs)), maxBufferedRecords), done: make(chan struct{})}
	if err := p.room.Acquire(ctx, c.taken); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, fmt.Sprintf("producing: the call ended while it waited for room among the %d records the producer may hold; none of its records was sent", maxBufferedRecords))
	}
	c.left.Store(int64(len(recs)))
	pctx := context.WithoutCancel(ctx)
	for _, r := range recs {
		p.cl.Produce(pctx, r, c.promise)
	}
	select {
	case <-c.done:
		return c, nil
	case <-ctx.Done():
		return nil, sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(), "producing: the call ended before the brokers acknowledged the records; they may still be written")
	}
}

// produceCall is the records of one call in franz-go's hands. Once done
// is closed, every record that did not fail has its partition and offset.
type produceCall struct {
	room  *semaphore.Weighted
	taken int64 // room taken, given back with the last promise
	left  atomic.Int64
	done  chan struct{} // closed by the last promise

	// mu guards failed and first. franz-go runs promises one at a time,
	// but not always on the same goroutine.
	mu     sync.Mutex
	failed int
	first  error // of the first promise to report a failure
}

// promise is franz-go's callback for each record of the call. It must
// not block (franz-go runs every promise of the client in turn).
func (c *produceCall) promise(_ *kgo.Record, err error) {
	if err != nil {
		c.mu.Lock()
		if c.first == nil {
			c.first = err
		}
		c.failed++
		c.mu.Unlock()
	}
	if c.left.Add(-1) == 0 {
		c.room.Release(c.taken)
		close(c.done)
	}
}

// failures returns how many records failed and the first failure.
func (c *produceCall) failures() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed, c.first
}

// recordContext is the context of a call's records: ctx without its
// cancellation (see send), with its values, trace context included.
// partition is -1 for the partitioner, else the partition to write to,
// which the context carries to explicitPartitioner.
func recordContext(ctx context.Context, partition int32) context.Context {
	rctx := context.WithoutCancel(ctx)
	if partition >= 0 {
		rctx = context.WithValue(rctx, explicitKey{}, partition)
	}
	return rctx
}

// explicitKey is the context key of a record's explicit partition.
type explicitKey struct{}

func explicit(r *kgo.Record) (int32, bool) {
	if r.Context == nil {
		return 0, false
	}
	p, ok := r.Context.Value(explicitKey{}).(int32)
	return p, ok
}

// Close closes the client. Records still buffered fail with
// kgo.ErrClientClosed.
func (p *ProducerInstance) Close(context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cl.Close()
	p.res.remove(p)
	return nil
}

// explicitPartitioner sends a record whose context names a partition (see
// recordContext) to that partition and leaves the others to the configured
// partitioner. (Record.Partition cannot carry the choice: franz-go sets it
// before it asks the partitioner again for a new batch.)
type explicitPartitioner struct{ inner kgo.Partitioner }

func newPartitioner(name string) kgo.Partitioner {
	var inner kgo.Partitioner
	switch name {
	case "round_robin":
		inner = kgo.RoundRobinPartitioner()
	case "sticky":
		inner = kgo.StickyPartitioner()
	case "manual":
		inner = kgo.ManualPartitioner()
	default: // hash
		// Kafka's Java client's partitioning (murmur2 of the key), and
		// sticky batches for records without keys.
		inner = kgo.StickyKeyPartitioner(nil)
	}
	return explicitPartitioner{inner}
}

func (e explicitPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	tp := e.inner.ForTopic(topic)
	if nb, ok := tp.(kgo.TopicPartitionerOnNewBatch); ok {
		return explicitOnNewBatch{explicitTopic{tp}, nb}
	}
	return explicitTopic{tp}
}

type explicitTopic struct{ inner kgo.TopicPartitioner }

// RequiresConsistency is true for an explicit partition, so that franz-go
// picks among all partitions, by number, not among the writable ones.
func (e explicitTopic) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := explicit(r); ok {
		return true
	}
	return e.inner.RequiresConsistency(r)
}

func (e explicitTopic) Partition(r *kgo.Record, n int) int {
	if p, ok := explicit(r); ok {
		return int(p) // franz-go fails the record if it is n or more
	}
	return e.inner.Partition(r, n)
}

type explicitOnNewBatch struct {
	explicitTopic
	nb kgo.TopicPartitionerOnNewBatch
}

func (e explicitOnNewBatch) OnNewBatch() { e.nb.OnNewBatch() }

// Interface guard.
var _ sdk.Instance = (*ProducerInstance)(nil)
