// Package pool holds the host's pools of instances: sessions with a
// backend, opened and closed by a plugin, handed out by the host.
//
// [Pool] is the exclusive pool, for sessions one caller uses at a time (a
// database connection, a consumer). A lease from it gives sole use of one
// instance until Release; Release resets the instance (Config.Reset) before
// anyone else gets it, and an instance whose reset fails is closed, not
// reused. Waiters are served first come, first served. Sizes, idle and
// lifetime limits and a background maintainer (warm to MinSize, evict idle
// and expired instances) follow pgxpool and puddle.
//
// [Shared] is the shared pool, for clients safe for concurrent use (an
// HTTP, S3 or Redis client that pools internally): a few replicas, each
// counting the leases in flight on it, chosen round robin, by weight (from
// latency and error rate) or by least load (power of two choices).
//
// Both keep a summary of their last minutes, in [Stat].Window: acquires,
// waits and utilization over a sliding window, and for the exclusive pool
// advice on its MaxSize (see [WindowStat]).
//
// Both are generic in the instance type, so that benchmarks and tests can
// use them without a plugin, and neither holds its mutex across a call to
// Open, Close, Check or Reset.
package pool
