// Package kafka is the nebula-resource driver for Apache Kafka and the
// brokers that speak its protocol, built on github.com/twmb/franz-go. The
// user's guide is docs/kafka.md.
//
// The driver offers two resource types with the stream capability
// (sdk.CapabilityStream):
//
//   - "kafka", the producer, pooled shared: each instance is one
//     kgo.Client, safe for concurrent use. Its operations are
//     sdk.StreamProducerOperations: produce and produce_batch, which
//     return once the brokers acknowledged the records (acks "all" and
//     idempotent writes by default); and the topic operations
//     create_topic, delete_topic, list_topics and describe_topic.
//   - "kafka_consumer", pooled exclusive: each instance is one member of
//     the resource's consumer group, a kgo.Client with ConsumerGroup. Its
//     operations are sdk.StreamConsumerOperations (poll, commit, seek,
//     lag) and assignment.
//
// # Configuration
//
//	resource "kafka" "events" {
//	  brokers        = ["kafka-1:9092", "kafka-2:9092"]
//	  sasl_mechanism = "scram-sha-512"   # plain, scram-sha-256, scram-sha-512
//	  sasl_username  = "app"
//	  sasl_password  = "..."             # sensitive: never shown
//	  tls            = true
//	  acks           = "all"             # default; idempotent (default true) needs it
//	  compression    = "zstd"
//	  auto_create_topics     = true      # default false: a missing topic is not_found
//	  auto_create_partitions = 6         # default -1: the brokers' num.partitions
//	}
//
//	resource "kafka_consumer" "indexer" {
//	  brokers = ["kafka-1:9092"]
//	  group   = "orders-indexer"
//	  topics  = ["orders"]
//	  commit  = "manual"                 # default; or "auto"
//	  pool {
//	    min_size = 3
//	    max_size = 3
//	    order    = "fifo"
//	  }
//	}
//
// The two types share the connection settings (Connection, which
// ProducerConfig and ConsumerConfig each spell out) and have their own; a
// setting of the other type is an unknown attribute. The configurations'
// Validate methods check the rules the schema cannot state (a SASL
// mechanism with both credentials, tls_* settings only with tls,
// idempotent only with acks "all", auto_create_partitions and
// auto_create_replication_factor only with auto_create_topics, known enum
// values) and report each at its attribute.
//
// # Producing
//
// produce and produce_batch hand franz-go their records with Produce and a
// promise each, and wait until the call's last promise has run; no
// goroutine waits for a call. The client does not linger: a call's records
// go out as soon as the connection to their broker is free, and records
// that arrive while a request is in flight share the next one. An
// instance holds at most 50,000 unacknowledged records; a call waits for
// room for its records before it hands any over, and gives up, having
// sent nothing, when its context ends.
//
// The records' context carries the caller's values but not its
// cancellation: franz-go fails a whole batch when the context of its first
// record ends, and a batch of the shared client may hold other callers'
// records. A call whose context ends once its records are handed over
// returns at once; its records may still be written, until
// delivery_timeout. An explicit partition travels in the record's context
// to a wrapper around the configured partitioner (hash = franz-go's
// StickyKeyPartitioner, Kafka's murmur2 hashing).
//
// A call whose records all fail because the brokers do not know the topic
// sends them once more after a remedy (they were not written): for
// UNKNOWN_TOPIC_ID (the topic was deleted, and perhaps created again,
// since the client last wrote to it) the topic is purged from the client
// (PurgeTopicsFromClient); for UNKNOWN_TOPIC_OR_PARTITION, with
// auto_create_topics, the topic is created with kadm's CreateTopic. Without
// auto_create_topics the driver never creates a topic, nor asks the
// brokers to (no AllowAutoTopicCreation), so a typo in a topic name is
// not_found, about a second after the call, not a new topic.
//
// produce_batch reads its arguments in one pass when they are the common
// case (plain strings, an integer partition), and with encoding/json and
// the SDK's decoder otherwise: a batch of a thousand 1 KiB values is a
// megabyte of JSON, which encoding/json decodes about as slowly as
// franz-go writes it.
//
// # Topic administration
//
// The topic operations use github.com/twmb/franz-go/pkg/kadm over the
// instance's client. create_topic checks the name against Kafka's rule
// first (some brokers, kfake among them, accept any name); an existing
// topic is already_exists (TOPIC_ALREADY_EXISTS) unless if_not_exists, as
// with kafka-topics --create. delete_topic of a missing topic is not_found
// unless if_exists, and purges the topic from the client. list_topics and
// describe_topic send a metadata request of their own rather than read
// franz-go's metadata cache, which may be seconds old; describe_topic's
// configuration is the settings set on the topic (DescribeConfigs source
// DYNAMIC_TOPIC_CONFIG), or every setting with include_defaults. Listing
// and describing are idempotent; creating and deleting are not.
//
// # Consuming
//
// A consumer instance uses BlockRebalanceOnPoll: after a poll hands out
// records, the group cannot take partitions away from the member until the
// lease commits, polls again or ends (each calls AllowRebalance). When
// partitions are revoked (or lost), the member forgets their uncommitted
// records, so that commit never overwrites the new owner's offsets. In
// manual mode (DisableAutoCommit) commit commits the offsets after the
// records handed out (CommitOffsetsSync); in auto mode (AutoCommitMarks) a
// poll marks the records of the earlier polls, which franz-go commits every
// auto_commit_interval, and on revoke.
//
// Reset, when a lease ends, keeps the membership and moves every partition
// the lease moved away from the group's committed offset back to it
// (SetOffsets), so that the next lease is handed what this one did not
// commit. Close leaves the group (LeaveGroup) before it closes the client,
// so that the other members get the partitions at once.
//
// # Errors
//
// Kafka error codes keep their names in sdk.Error.Code and map to kinds:
// UNKNOWN_TOPIC_OR_PARTITION is not_found, TOPIC_ALREADY_EXISTS
// already_exists, SASL failures unauthenticated,
// authorization failures permission_denied, group generation errors on
// commit conflict, other retriable codes and connection failures
// unavailable. The SASL password is blanked out of every error.
//
// The plugin binary is cmd/nebula-plugin-kafka:
//
//	func main() { sdk.Serve(kafka.New(), otelexport.Option()) }
package kafka
