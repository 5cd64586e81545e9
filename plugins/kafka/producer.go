package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

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
	p := &ProducerInstance{res: r, cl: cl}
	if err := r.add(p); err != nil {
		cl.Close()
		return nil, err
	}
	return p, nil
}

// ProducerInstance is one producer client, safe for concurrent use.
type ProducerInstance struct {
	res *ProducerResource
	cl  *kgo.Client

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

// Invoke runs produce or produce_batch.
func (p *ProducerInstance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, req.Operation)
	}
	if err := p.live(); err != nil {
		return nil, err
	}
	switch req.Operation {
	case "produce":
		var a sdk.StreamProduceArgs
		if err := req.Decode(&a); err != nil {
			return nil, err
		}
		return p.produce(ctx, a)
	case "produce_batch":
		a, err := decodeBatchArgs(req)
		if err != nil {
			return nil, err
		}
		return p.produceBatch(ctx, a)
	}
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "kafka has no operation %q; its operations are produce and produce_batch", req.Operation)
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

func (p *ProducerInstance) produce(ctx context.Context, a sdk.StreamProduceArgs) (any, error) {
	if a.Topic == "" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "topic must not be empty")
	}
	if err := p.checkPartition(a.Partition); err != nil {
		return nil, err
	}
	rec := newRecord(ctx, a.Topic, a.Key, a.Value, a.Partition)
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
	results, err := p.send(ctx, []*kgo.Record{rec})
	if err != nil {
		return nil, err
	}
	if err := results[0].Err; err != nil {
		return nil, p.res.wrap(ctx, err, "producing to "+a.Topic)
	}
	return sdk.StreamProduceResult{Topic: rec.Topic, Partition: rec.Partition, Offset: p.offset(rec)}, nil
}

func (p *ProducerInstance) produceBatch(ctx context.Context, a sdk.StreamProduceBatchArgs) (any, error) {
	switch {
	case a.Topic == "":
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "topic must not be empty")
	case len(a.Values) == 0:
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "values must hold at least one value")
	case len(a.Keys) != 0 && len(a.Keys) != len(a.Values):
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "keys has %d elements and values %d: give one key per value, or no keys", len(a.Keys), len(a.Values))
	}
	if err := p.checkPartition(a.Partition); err != nil {
		return nil, err
	}
	recs := make([]*kgo.Record, len(a.Values))
	index := make(map[*kgo.Record]int, len(recs))
	for i, v := range a.Values {
		key := ""
		if len(a.Keys) > 0 {
			key = a.Keys[i]
		}
		recs[i] = newRecord(ctx, a.Topic, key, v, a.Partition)
		index[recs[i]] = i
	}
	results, err := p.send(ctx, recs)
	if err != nil {
		return nil, err
	}
	out := sdk.StreamProduceBatchResult{Topic: a.Topic, Records: make([]sdk.StreamPosition, len(recs))}
	var failed int
	var first error
	for _, r := range results {
		if r.Err != nil {
			if first == nil {
				first = r.Err
			}
			failed++
			continue
		}
		out.Records[index[r.Record]] = sdk.StreamPosition{Partition: r.Record.Partition, Offset: p.offset(r.Record)}
	}
	if first != nil {
		return nil, p.res.wrap(ctx, first, fmt.Sprintf("producing to %s: %d of %d records failed (the others were written)", a.Topic, failed, len(recs)))
	}
	return out, nil
}

// decodeBatchArgs decodes produce_batch's arguments. A batch of a thousand
// 1 KiB values is a megabyte of JSON, which sdk.Decode scans several times
// (the object, the list, each element); one strict pass of encoding/json
// decodes the common case several times faster. Arguments it does not take
// (an unknown attribute, a value of the wrong type) go to sdk.Decode, for
// the SDK's own error.
func decodeBatchArgs(req sdk.InvokeRequest) (sdk.StreamProduceBatchArgs, error) {
	var fast struct {
		Topic     string   `json:"topic"`
		Keys      []string `json:"keys"`
		Values    []string `json:"values"`
		Partition *int32   `json:"partition"`
	}
	dec := json.NewDecoder(bytes.NewReader(req.Args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fast); err == nil && dec.InputOffset() > 0 && !dec.More() {
		a := sdk.StreamProduceBatchArgs{Topic: fast.Topic, Keys: fast.Keys, Values: fast.Values, Partition: -1}
		if fast.Partition != nil {
			a.Partition = *fast.Partition
		}
		return a, nil
	}
	var a sdk.StreamProduceBatchArgs
	err := req.Decode(&a)
	return a, err
}

// offset is the offset of a produced record, or -1 when the brokers do
// not acknowledge writes.
func (p *ProducerInstance) offset(r *kgo.Record) int64 {
	if p.res.cfg.Acks == "none" {
		return -1
	}
	return r.Offset
}

// send produces the records and waits for all of them to be acknowledged,
// or for ctx to end. The records are produced under a context that ctx
// does not cancel: franz-go fails a whole batch when the context of its
// first record ends, and a batch of this shared client may hold the
// records of other calls. A call whose ctx ends first returns at once;
// its records may still be written (delivery_timeout bounds how long they
// are tried).
func (p *ProducerInstance) send(ctx context.Context, recs []*kgo.Record) (kgo.ProduceResults, error) {
	done := make(chan kgo.ProduceResults, 1)
	go func() { done <- p.cl.ProduceSync(context.WithoutCancel(ctx), recs...) }()
	select {
	case res := <-done:
		return res, nil
	case <-ctx.Done():
		return nil, sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(), "producing: the call ended before the brokers acknowledged the records; they may still be written")
	}
}

// newRecord builds a record. An empty key is no key. partition is -1 for
// the partitioner, else the partition to write to, which the record's
// context carries to explicitPartitioner. The context is ctx without its
// cancellation (see send), and with its values, trace context included.
func newRecord(ctx context.Context, topic, key, value string, partition int32) *kgo.Record {
	rctx := context.WithoutCancel(ctx)
	if partition >= 0 {
		rctx = context.WithValue(rctx, explicitKey{}, partition)
	}
	r := &kgo.Record{Topic: topic, Value: []byte(value), Context: rctx}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
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
// newRecord) to that partition and leaves the others to the configured
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
