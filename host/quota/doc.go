// Package quota enforces the quotas of tenants on the host's resources:
// how many leases a tenant may hold on a resource at once (max_leases)
// and how fast it may be admitted (rate and burst), as a tenant block
// declares them:
//
//	tenant "acme" {
//	  resources = [resource.postgres.main]
//	  quota { max_leases = 2, rate = "100/s", burst = 20 }
//	}
//
// A [Limiter] keeps the quotas of every tenant on every resource, each
// under its [Key]. [Limiter.Admit] takes one admission and one lease, and
// returns the func that gives the lease back; [Limiter.Allow] takes an
// admission only, for calls that hold no lease. A refusal is an
// [*ExceededError], which the host reports as resource_exhausted with a
// retry-after.
//
// # Where the limits hold
//
// Rate limits are shared by every host process that serves the same
// tenants when the limiter has a store ([Options].Store): a Redis reached
// through the host's own redis resource, as a [Commander]. They are kept
// there by the GCRA of github.com/go-redis/redis_rate, so two hosts each
// allowed 100/s admit 100/s together. Without a store, or while the store
// fails, each process applies the rate on its own with a token bucket
// (golang.org/x/time/rate), which admits what the GCRA admits: during a
// Redis outage N hosts admit up to N times the rate.
//
// Lease counts are always local: max_leases holds per host process.
//
// # When the store fails
//
// A store that fails or does not answer within 250 ms does not refuse the
// call: the limiter admits it by the local limit, reports the switch once
// ([Options].Fallback, a warning in the log, [Limiter.Status]) and calls
// the store no more until [Options].RetryStore has passed; then one call
// tries it again, and when it answers the shared limits apply again and
// Fallback is told so. A caller's own cancelled context is not a store
// failure: the call returns the context's error.
//
// The package starts no goroutine.
package quota
