// Package redis is the nebula-resource driver for Redis, built on
// github.com/redis/go-redis/v9. docs/redis.md is the user's guide; this is
// the implementer's summary.
//
// # Resource types
//
// "redis" (pooling shared, capabilities kv and pubsub): every instance is
// one go-redis client, a *goredis.Client (standalone), *goredis.ClusterClient
// (cluster) or failover *goredis.Client (sentinel), which pools its own
// connections; Resource.Open creates it and PINGs (every master, in cluster
// mode), Instance.Close closes it. Its operations are sdk.KVOperations,
// sdk.PubSubOperations and ping, with exactly the arguments and results of
// sdk/kv.go.
//
// "redis_session" (pooling exclusive, capability kv; standalone and
// sentinel only): the resource holds one go-redis client, and every
// instance takes a connection of its own from it with
// Client.EphemeralConn, which is discarded rather than pooled when the
// instance closes. Besides the kv operations and ping it offers watch,
// unwatch and multi_exec for optimistic transactions; Reset (called when a
// lease ends) sends DISCARD after an interrupted multi_exec and UNWATCH
// after a watch. A WATCH conflict (EXEC answering null,
// goredis.TxFailedErr) is sdk.KindConflict.
//
// # Multi-key operations in cluster mode
//
// delete, exists and mget group their keys by hash slot (keySlot, CRC16
// with hash tags, as CLUSTER KEYSLOT) and send one command per slot, at most
// groupConcurrency at a time; counts are summed and values put back in the
// order asked. mset sends one SET per key in a pipeline, which go-redis
// splits by node. scan walks the masters in the order of their addresses;
// its cursor is "<master index>:<cursor on that master>".
//
// # Retries
//
// go-redis retries a command after a network failure (three times by
// default). incr, decr, publish and command are sent as commands marked
// NoRetry, since running them twice is not running them once; the host
// retries only the operations marked idempotent.
//
// # Pub/sub
//
// subscribe runs one goredis.PubSub and reads it with ReceiveTimeout. When
// Receive fails, go-redis has already reconnected and resubscribed (or does
// so on the next Receive); when nothing arrives for pubsubPingEvery the
// subscriber sends PING, and a PING left unanswered as long replaces the
// PubSub. Either way a gap event, since the last time the old connection
// delivered anything, is written once the new connection has confirmed every
// channel and pattern; messages that arrive before that follow it.
//
// # Errors
//
// Server errors keep their prefix ("WRONGTYPE", "ERR", "NOAUTH") as
// sdk.Error.Code; see errorMap for the kinds. Error text has the password
// and sentinel password blanked out.
package redis
