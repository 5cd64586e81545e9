package sdk

import "time"

// The stream capability: append-only, partitioned logs read by consumer
// groups (Kafka and the brokers that speak its protocol). A resource type
// that lists CapabilityStream offers the operations of
// StreamProducerOperations, or those of StreamConsumerOperations, or both,
// with exactly these names, arguments and results, so that a workflow can
// move from one streaming backend to another without changing its calls. A
// driver may offer more operations besides.
//
// The model:
//
//   - A topic is split into numbered partitions; each record in a partition
//     has an offset, increasing by one or more per record. Order holds
//     within a partition, not across partitions.
//   - A producer appends records. A record's partition is chosen by the
//     resource's partitioner (from its key, where the partitioner hashes
//     keys) unless the call names one.
//   - A consumer is one member of a consumer group. The group splits the
//     partitions of its topics among its members; each partition is read by
//     one member at a time. Consumer instances are meant for exclusive
//     pooling: a lease is one member.
//   - The group's committed offset of a partition is the offset of the next
//     record to read: after a restart or a rebalance, the member that owns
//     the partition resumes there. Committing after processing gives
//     at-least-once delivery: a record is handed out again until an offset
//     past it is committed.
//
// Keys, values and header values are strings: any bytes a JSON string can
// carry. An empty key means a record without a key. None of produce,
// produce_batch and poll is idempotent (a retry could write a record twice,
// or skip the records a lost answer carried); commit, seek and lag are.
const CapabilityStream = "stream"

// Arguments of the producer operations.
type (
	// StreamProduceArgs are the arguments of produce.
	StreamProduceArgs struct {
		Topic     string            `nebula:"topic,required" doc:"The topic."`
		Key       string            `nebula:"key" default:"" doc:"The record's key; \"\" produces a record without a key. Hashing partitioners send records with the same key to the same partition."`
		Value     string            `nebula:"value,required" doc:"The record's value."`
		Headers   map[string]string `nebula:"headers" doc:"Headers of the record, name to value."`
		Partition int32             `nebula:"partition" default:"-1" doc:"The partition to write to; -1 lets the resource's partitioner choose."`
	}
	// StreamProduceBatchArgs are the arguments of produce_batch: one
	// record per value, all to the same topic, in order.
	StreamProduceBatchArgs struct {
		Topic     string   `nebula:"topic,required" doc:"The topic."`
		Keys      []string `nebula:"keys" doc:"The records' keys, as many as values; leave empty (or unset) for records without keys."`
		Values    []string `nebula:"values,required" doc:"The records' values, at least one."`
		Partition int32    `nebula:"partition" default:"-1" doc:"The partition to write every record to; -1 lets the resource's partitioner choose for each record."`
	}
)

// Arguments of the consumer operations.
type (
	// StreamPollArgs are the arguments of poll.
	StreamPollArgs struct {
		MaxRecords int           `nebula:"max_records" default:"100" doc:"The most records to return, at least 1."`
		Timeout    time.Duration `nebula:"timeout" default:"1s" doc:"How long to wait for the first record when none is ready; 0s returns at once with what is ready. The call's own deadline still applies."`
	}
	// StreamCommitArgs are the arguments of commit. Without arguments it
	// commits, for every partition, the offset after the last record poll
	// handed out. With topics, partitions and offsets (lists of the same
	// length) it commits those positions instead: offsets[i] is the next
	// record to read from partitions[i] of topics[i].
	StreamCommitArgs struct {
		Topics     []string `nebula:"topics" doc:"Topics of explicit positions to commit; leave unset to commit what poll handed out."`
		Partitions []int32  `nebula:"partitions" doc:"Partitions of the explicit positions, one per topic."`
		Offsets    []int64  `nebula:"offsets" doc:"Offsets of the explicit positions, one per topic: the next record to read."`
	}
	// StreamSeekArgs are the arguments of seek: where the next poll reads
	// from, in a partition the member owns.
	StreamSeekArgs struct {
		Topic     string `nebula:"topic,required" doc:"The topic."`
		Partition int32  `nebula:"partition,required" doc:"The partition, which must be assigned to this member."`
		Offset    int64  `nebula:"offset,required" doc:"The offset of the next record to read; -2 is the start of the partition, -1 its end."`
	}
	// StreamNoArgs are the arguments of lag, and of other operations
	// that take none.
	StreamNoArgs struct{}
)

// Special offsets for seek, as Kafka numbers them.
const (
	StreamOffsetEnd   int64 = -1
	StreamOffsetStart int64 = -2
)

// Results of the stream operations, as JSON.
type (
	// StreamProduceResult is produce's result: where the record was
	// written. Offset is -1 when the backend does not acknowledge writes
	// (Kafka's acks = none).
	StreamProduceResult struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	// StreamPosition is where one record of a batch was written.
	StreamPosition struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
	}
	// StreamProduceBatchResult is produce_batch's result: one position per
	// value, in the order of the values.
	StreamProduceBatchResult struct {
		Topic   string           `json:"topic"`
		Records []StreamPosition `json:"records"`
	}
	// StreamRecord is one record poll returns. Key is "" for a record
	// without a key; Headers is absent when it has none.
	StreamRecord struct {
		Topic     string            `json:"topic"`
		Partition int32             `json:"partition"`
		Offset    int64             `json:"offset"`
		Key       string            `json:"key"`
		Value     string            `json:"value"`
		Headers   map[string]string `json:"headers,omitempty"`
		Timestamp time.Time         `json:"timestamp"`
	}
	// StreamPollResult is poll's result: the records, in order within
	// each partition; empty when none arrived before the timeout.
	StreamPollResult struct {
		Records []StreamRecord `json:"records"`
	}
	// StreamOffset is a committed position: the next record to read.
	StreamOffset struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	// StreamCommitResult is commit's result: the positions committed,
	// empty when there was nothing to commit.
	StreamCommitResult struct {
		Committed []StreamOffset `json:"committed"`
	}
	// StreamSeekResult is seek's result: the position the next poll of
	// the partition reads from, with special offsets resolved.
	StreamSeekResult = StreamOffset
	// StreamPartitionLag is the lag of the group on one partition.
	// Committed is -1 when the group has committed nothing there; End is
	// the offset the next record written will get; Lag is how many
	// records lie between them.
	StreamPartitionLag struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Committed int64  `json:"committed"`
		End       int64  `json:"end"`
		Lag       int64  `json:"lag"`
	}
	// StreamLagResult is lag's result: every partition of the consumer's
	// topics, and the sum of their lags.
	StreamLagResult struct {
		Partitions []StreamPartitionLag `json:"partitions"`
		Total      int64                `json:"total"`
	}
)

// StreamProducerOperations are the producer operations of
// CapabilityStream.
func StreamProducerOperations() []Operation {
	return []Operation{
		{Name: "produce", Description: "Writes one record and returns its topic, partition and offset once the backend has acknowledged it.", Args: MustSchemaFor(StreamProduceArgs{})},
		{Name: "produce_batch", Description: "Writes one record per value to a topic, batched, and returns each record's partition and offset in the order of the values; not atomic: on error some records may have been written.", Args: MustSchemaFor(StreamProduceBatchArgs{})},
	}
}

// StreamConsumerOperations are the consumer operations of
// CapabilityStream.
func StreamConsumerOperations() []Operation {
	return []Operation{
		{Name: "poll", Description: "Returns up to max_records records from the partitions assigned to this group member, waiting up to timeout for the first; the records count as handed out until committed.", Args: MustSchemaFor(StreamPollArgs{})},
		{Name: "commit", Description: "Commits the group's position after the records poll handed out (or the explicit positions given) and returns the positions committed.", Args: MustSchemaFor(StreamCommitArgs{}), Idempotent: true},
		{Name: "seek", Description: "Sets where the next poll reads from in a partition assigned to this member; -2 is the start, -1 the end.", Args: MustSchemaFor(StreamSeekArgs{}), Idempotent: true},
		{Name: "lag", Description: "Returns, for every partition of the consumer's topics, the group's committed offset, the end offset and the records between them, with their total.", Args: MustSchemaFor(StreamNoArgs{}), Idempotent: true},
	}
}
