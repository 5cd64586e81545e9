package quota

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"golang.org/x/time/rate"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Defaults and bounds of a Limiter.
const (
	// DefaultPrefix is the prefix of the Redis keys when Options.Prefix
	// is empty.
	DefaultPrefix = "nebula:quota:"
	// defaultRetryStore is Options.RetryStore's default.
	defaultRetryStore = time.Second
	// storeTimeout bounds each call to the store, within the caller's own
	// deadline.
	storeTimeout = 250 * time.Millisecond
	// firstLeaseRetry is the RetryAfter of a max_leases refusal before
	// any of the key's leases ended; minLeaseRetry the least one after.
	firstLeaseRetry = 50 * time.Millisecond
	minLeaseRetry   = 10 * time.Millisecond
	// holdWeight is the weight of the newest lease in the running mean of
	// hold times (1/8, as TCP's smoothed round-trip time).
	holdWeight = 8
)

// The values of Status.Store.
const (
	// StoreRedis means rate limits are shared through Redis.
	StoreRedis = "redis"
	// StoreLocal means the limiter has no store: each process applies
	// its limits alone.
	StoreLocal = "local"
)

// Limit is a tenant's quota on one resource. The zero Limit limits
// nothing.
type Limit struct {
	// MaxLeases is the most leases the tenant may hold on the resource at
	// once, per host process; 0 means no limit.
	MaxLeases int
	// Rate is how many admissions a second the tenant may have on the
	// resource, shared by every host with the same store; fractions such
	// as 0.5 (one every two seconds) are exact. 0 means no rate limit.
	Rate float64
	// Burst is how many admissions may come at once above the rate; 0
	// means max(1, ceil(Rate)).
	Burst int
}

// Validate reports a limit that cannot be applied: a negative field, or
// a rate that is not a finite number.
func (l Limit) Validate() error {
	switch {
	case l.MaxLeases < 0:
		return fmt.Errorf("max_leases is %d; it must be 0 (no limit) or more", l.MaxLeases)
	case math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0:
		return fmt.Errorf("rate is %v; it must be a finite number of admissions a second, 0 (no limit) or more", l.Rate)
	case l.Burst < 0:
		return fmt.Errorf("burst is %d; it must be 0 (the rate rounded up) or more", l.Burst)
	}
	return nil
}

// EffectiveBurst returns Burst, or its default max(1, ceil(Rate)) when
// it is 0.
func (l Limit) EffectiveBurst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(min(l.Rate, math.MaxInt32))))
}

// Key names whose quota it is: a tenant on a resource.
type Key struct {
	// Tenant is the tenant's name, the label of its tenant block.
	Tenant string
	// Resource is the resource's name, for example "postgres.main".
	Resource string
}

// String returns "tenant/resource".
func (k Key) String() string { return k.Tenant + "/" + k.Resource }

// Options configure a Limiter. The zero Options give a limiter with local
// limits only.
type Options struct {
	// Store is the Redis through which rate limits are shared; nil means
	// local limits only.
	Store Commander
	// Prefix starts the name of every key the limiter keeps in the store;
	// "" means [DefaultPrefix]. A key's rate is kept under
	// "rate:" + Prefix + tenant + ":" + resource (redis_rate adds
	// "rate:").
	Prefix string
	// Logger receives a warning when the store fails and a note when it
	// answers again; nil discards them.
	Logger *slog.Logger
	// Fallback is called when the limiter switches to local limits
	// because the store failed (down true, with the failure) and when it
	// switches back (down false, err nil). It is never called with a lock
	// held, nor twice at once; calls alternate between down and up, and
	// changes that come while it runs may be merged into one call. It
	// runs on the goroutine of the Admit or Allow that saw the change, so
	// it should return soon. nil means no calls.
	Fallback func(down bool, err error)
	// RetryStore is how long after a failure the store is tried again;
	// until then local limits apply without calling it, so that a dead
	// Redis costs nothing per call. 0 (or less) means 1s.
	RetryStore time.Duration
}

// Status is how a Limiter applies its rate limits.
type Status struct {
	// Store is [StoreRedis] when the limiter has a store, [StoreLocal]
	// when it has none.
	Store string
	// Degraded is true while the store fails and local limits apply in
	// its place.
	Degraded bool
	// LastError is the store's last failure, kept after it recovers; ""
	// if it never failed.
	LastError string
	// Since is when Degraded last changed, or when the limiter was made.
	Since time.Time
}

// Usage is what a Limiter counted for one key.
type Usage struct {
	// Tenant and Resource name the key.
	Tenant, Resource string
	// Leases is how many leases are out now, in this process.
	Leases int
	// Admitted and Refused count the calls to Admit and Allow that were
	// admitted and refused (by an [*ExceededError]).
	Admitted, Refused uint64
}

// Limiter applies the quotas of tenants on resources. It is safe for
// concurrent use; its zero value is not usable, make one with [New].
type Limiter struct {
	gcra     *redis_rate.Limiter // nil without a store
	prefix   string
	retry    time.Duration
	log      *slog.Logger
	fallback func(down bool, err error)

	closed atomic.Bool

	// keysMu guards keys, which holds an entry per key seen. It is held
	// for one map lookup or insert only.
	keysMu sync.RWMutex
	keys   map[Key]*entry

	// retryAt is when the failing store may be tried again, in Unix
	// nanoseconds; 0 while the store answers. The caller that moves it
	// on (CompareAndSwap) is the one that tries the store.
	retryAt atomic.Int64
	// epoch counts the store's changes of state. A store call's outcome
	// changes the state only if no change came while it ran, so that a
	// slow call does not undo a newer one's verdict. Written under
	// stateMu.
	epoch atomic.Uint64

	// stateMu guards the fields below. It is never held across a store
	// call, a log write or Fallback.
	stateMu   sync.Mutex
	degraded  bool      // the store fails; local limits apply
	lastErr   error     // the store's last failure
	since     time.Time // when degraded last changed
	reported  bool      // the state last given to Fallback (true: down)
	reporting bool      // a goroutine is giving the state to Fallback
}

// entry is the state of one key.
type entry struct {
	key      Key
	storeKey string // the key given to redis_rate

	admitted, refused atomic.Uint64

	// mu guards the fields below. It is never held across a store call.
	mu     sync.Mutex
	rate   float64          // the rate local and gcra were made for
	burst  int              // the burst local and gcra were made for
	gcra   redis_rate.Limit // the rate as redis_rate takes it
	local  *rate.Limiter    // the rate applied without the store; nil until needed
	leases int              // leases out now
	ended  bool             // a lease has ended, so hold means something
	hold   time.Duration    // running mean of the time leases were held
}

// New returns a Limiter with the given options.
func New(o Options) *Limiter {
	l := &Limiter{
		prefix:   cmp.Or(o.Prefix, DefaultPrefix),
		retry:    o.RetryStore,
		log:      o.Logger,
		fallback: o.Fallback,
		keys:     make(map[Key]*entry),
		since:    time.Now(),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.retry <= 0 {
		l.retry = defaultRetryStore
	}
	if o.Store != nil {
		l.gcra = redis_rate.NewLimiter(scripter{o.Store})
	}
	return l
}

// Admit takes one admission for key under lim: first one of its rate,
// then one of its leases. It returns the func that gives the lease back,
// to be called when the lease ends; calling it again does nothing. A
// refusal is an [*ExceededError]; a limit that is not valid an error of
// kind invalid_argument; a done ctx its error. A call refused by
// max_leases has still taken its admission of the rate.
func (l *Limiter) Admit(ctx context.Context, key Key, lim Limit) (release func(), err error) {
	e, err := l.begin(ctx, key, lim)
	if err != nil {
		return nil, err
	}
	if err := l.takeRate(ctx, e, lim); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if lim.MaxLeases > 0 && e.leases >= lim.MaxLeases {
		held, after := e.leases, e.leaseRetryAfterLocked()
		e.mu.Unlock()
		e.refused.Add(1)
		return nil, &ExceededError{
			Key:        key,
			Limit:      LimitMaxLeases,
			Detail:     fmt.Sprintf("tenant %s holds %d of its %d leases on %s", key.Tenant, held, lim.MaxLeases, key.Resource),
			RetryAfter: after,
		}
	}
	e.leases++
	e.mu.Unlock()
	e.admitted.Add(1)
	start := time.Now()
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			e.release(time.Since(start))
		}
	}, nil
}

// Allow takes one admission of key's rate under lim, and no lease: for
// calls that hold none. It returns what [Limiter.Admit] returns.
func (l *Limiter) Allow(ctx context.Context, key Key, lim Limit) error {
	e, err := l.begin(ctx, key, lim)
	if err != nil {
		return err
	}
	if err := l.takeRate(ctx, e, lim); err != nil {
		return err
	}
	e.admitted.Add(1)
	return nil
}

// Status returns how the limiter applies its rate limits now.
func (l *Limiter) Status() Status {
	st := Status{Store: StoreLocal}
	if l.gcra != nil {
		st.Store = StoreRedis
	}
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	st.Degraded = l.degraded
	st.Since = l.since
	if l.lastErr != nil {
		st.LastError = l.lastErr.Error()
	}
	return st
}

// Usage returns what the limiter counted for each key it has seen,
// sorted by tenant, then resource.
func (l *Limiter) Usage() []Usage {
	l.keysMu.RLock()
	entries := make([]*entry, 0, len(l.keys))
	for _, e := range l.keys {
		entries = append(entries, e)
	}
	l.keysMu.RUnlock()
	out := make([]Usage, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		leases := e.leases
		e.mu.Unlock()
		out = append(out, Usage{
			Tenant:   e.key.Tenant,
			Resource: e.key.Resource,
			Leases:   leases,
			Admitted: e.admitted.Load(),
			Refused:  e.refused.Load(),
		})
	}
	slices.SortFunc(out, func(a, b Usage) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Resource, b.Resource))
	})
	return out
}

// Close makes Admit and Allow refuse with [ErrClosed]. Releasing leases
// taken before, Status and Usage still work. It is safe to call twice.
func (l *Limiter) Close() { l.closed.Store(true) }

// begin checks the call and returns the key's entry.
func (l *Limiter) begin(ctx context.Context, key Key, lim Limit) (*entry, error) {
	if l.closed.Load() {
		return nil, fmt.Errorf("quota of tenant %s on %s: %w", key.Tenant, key.Resource, ErrClosed)
	}
	if err := lim.Validate(); err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "quota of tenant %s on %s: %v; fix the quota block of tenant %q", key.Tenant, key.Resource, err, key.Tenant)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("quota of tenant %s on %s: %w", key.Tenant, key.Resource, err)
	}
	return l.entry(key), nil
}

// entry returns key's entry, made on first use.
func (l *Limiter) entry(key Key) *entry {
	l.keysMu.RLock()
	e := l.keys[key]
	l.keysMu.RUnlock()
	if e != nil {
		return e
	}
	l.keysMu.Lock()
	defer l.keysMu.Unlock()
	if e := l.keys[key]; e != nil {
		return e
	}
	e = &entry{key: key, storeKey: l.prefix + key.Tenant + ":" + key.Resource}
	l.keys[key] = e
	return e
}

// takeRate takes one admission of e's rate: from the store when there is
// one and it answers, else from the local bucket. A refusal is counted.
func (l *Limiter) takeRate(ctx context.Context, e *entry, lim Limit) error {
	if lim.Rate == 0 {
		return nil
	}
	burst := lim.EffectiveBurst()
	e.mu.Lock()
	now := time.Now()
	e.setRateLocked(lim.Rate, burst, now)
	gl := e.gcra
	epoch := l.epoch.Load()
	if l.gcra == nil || !l.storeDue(now) {
		after, ok := e.takeLocalLocked(now)
		e.mu.Unlock()
		if !ok {
			return l.refuseRate(e, lim.Rate, burst, after)
		}
		return nil
	}
	e.mu.Unlock()

	res, err := l.callStore(ctx, e.storeKey, gl)
	switch {
	case err == nil:
		l.storeAnswered(epoch)
		if res.Allowed > 0 {
			return nil
		}
		return l.refuseRate(e, lim.Rate, burst, res.RetryAfter)
	case ctx.Err() != nil:
		return fmt.Errorf("quota of tenant %s on %s: %w", e.key.Tenant, e.key.Resource, ctx.Err())
	}
	l.storeFailed(epoch, err)
	e.mu.Lock()
	after, ok := e.takeLocalLocked(time.Now())
	e.mu.Unlock()
	if !ok {
		return l.refuseRate(e, lim.Rate, burst, after)
	}
	return nil
}

// takeLocalLocked takes one admission from e's local bucket at now, or
// returns how long until it would have one. e.mu is held: the bucket
// sees the times of its calls in order, and no reservation comes between
// one and its cancellation, which would keep the token from coming back.
func (e *entry) takeLocalLocked(now time.Time) (retryAfter time.Duration, ok bool) {
	r := e.local.ReserveN(now, 1)
	if !r.OK() {
		return 0, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// refuseRate counts a refusal by the rate and returns its error. A
// RetryAfter that is not positive becomes the time between admissions.
func (l *Limiter) refuseRate(e *entry, r float64, burst int, after time.Duration) error {
	e.refused.Add(1)
	if after <= 0 {
		after = max(time.Duration(float64(time.Second)/r), time.Millisecond)
	}
	return &ExceededError{
		Key:   e.key,
		Limit: LimitRate,
		Detail: fmt.Sprintf("tenant %s is over its rate of %s (burst %d) on %s",
			e.key.Tenant, rateText(r), burst, e.key.Resource),
		RetryAfter: after,
	}
}

// rateText writes a rate of r calls a second as the configuration does:
// per second when it is at least 1, else per minute or per hour
// ("2/m", not "0.03333333333333333/s").
func rateText(r float64) string {
	v, unit := r, "s"
	if v < 1 {
		v, unit = r*60, "m"
	}
	if v < 1 {
		v, unit = r*3600, "h"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) + "/" + unit
}

// setRateLocked makes e's limiters apply r and burst. e.mu is held.
func (e *entry) setRateLocked(r float64, burst int, now time.Time) {
	if e.local != nil && e.rate == r && e.burst == burst {
		return
	}
	if e.local == nil {
		e.local = rate.NewLimiter(rate.Limit(r), burst)
	} else {
		e.local.SetLimitAt(now, rate.Limit(r))
		e.local.SetBurstAt(now, burst)
	}
	e.rate, e.burst, e.gcra = r, burst, gcraLimit(r, burst)
}

// gcraLimit returns r admissions a second with the given burst as
// redis_rate takes them: a whole count per period, the period being 1,
// 10, 100 or 1000 seconds if one of them makes the count whole (0.5/s is
// 5 per 10s), else one admission per 1s/r (rounded to the nanosecond).
func gcraLimit(r float64, burst int) redis_rate.Limit {
	for _, secs := range []float64{1, 10, 100, 1000} {
		n := r * secs
		if n >= 1 && n < 1<<53 && math.Abs(n-math.Round(n)) <= 1e-9*n {
			return redis_rate.Limit{Rate: int(math.Round(n)), Burst: burst, Period: time.Duration(secs) * time.Second}
		}
	}
	period := min(math.Round(float64(time.Second)/r), math.MaxInt64)
	return redis_rate.Limit{Rate: 1, Burst: burst, Period: max(time.Duration(period), 1)}
}

// leaseRetryAfterLocked estimates when one of e's leases will come back:
// the running mean of their hold times. e.mu is held.
func (e *entry) leaseRetryAfterLocked() time.Duration {
	if !e.ended {
		return firstLeaseRetry
	}
	return max(e.hold, minLeaseRetry)
}

// release gives back a lease held for d.
func (e *entry) release(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leases--
	if !e.ended {
		e.hold, e.ended = d, true
		return
	}
	e.hold += (d - e.hold) / holdWeight
}

// storeDue reports whether this call should use the store: always while
// it answers; once it fails, only the one call that comes first after
// RetryStore has passed.
func (l *Limiter) storeDue(now time.Time) bool {
	at := l.retryAt.Load()
	if at == 0 {
		return true
	}
	if now.UnixNano() < at {
		return false
	}
	return l.retryAt.CompareAndSwap(at, now.Add(l.retry).UnixNano())
}

// callStore takes one admission of key under lim from the store, within
// storeTimeout.
func (l *Limiter) callStore(ctx context.Context, key string, lim redis_rate.Limit) (res *redis_rate.Result, err error) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	defer func() {
		// redis_rate asserts the types of the script's reply without
		// checking them: a store that answers something else is a
		// failing store, not a reason to crash the host.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("its reply is not the one redis_rate's script gives (%v)", p)
		}
	}()
	res, err = l.gcra.Allow(sctx, key, lim)
	if err != nil && ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v: %w", storeTimeout, err)
	}
	return res, err
}

// storeAnswered records that a store call begun in epoch succeeded: if
// it was the call that tried a failing store again, the store is back.
func (l *Limiter) storeAnswered(epoch uint64) {
	if l.retryAt.Load() == 0 {
		return
	}
	l.stateMu.Lock()
	changed := l.degraded && l.epoch.Load() == epoch
	if changed {
		l.degraded = false
		l.since = time.Now()
		l.epoch.Add(1)
		l.retryAt.Store(0)
	}
	l.stateMu.Unlock()
	if changed {
		l.report()
	}
}

// storeFailed records that a store call begun in epoch failed with err:
// local limits apply until RetryStore has passed.
func (l *Limiter) storeFailed(epoch uint64, err error) {
	err = fmt.Errorf("quota store: %w", err)
	l.stateMu.Lock()
	if l.epoch.Load() != epoch {
		// The state changed while the call ran: its failure is news no
		// more.
		l.stateMu.Unlock()
		return
	}
	l.lastErr = err
	changed := !l.degraded
	if changed {
		l.degraded = true
		l.since = time.Now()
		l.epoch.Add(1)
		l.retryAt.Store(l.since.Add(l.retry).UnixNano())
	}
	l.stateMu.Unlock()
	if changed {
		l.report()
	} else {
		l.log.Debug("quota store still fails; local rate limits apply", "error", err, "retry_in", l.retry)
	}
}

// report gives the store's state to the log and Fallback, until they
// have the latest one. One goroutine reports at a time, with no lock
// held; another that changes the state meanwhile leaves its change to it.
func (l *Limiter) report() {
	l.stateMu.Lock()
	if l.reporting {
		l.stateMu.Unlock()
		return
	}
	l.reporting = true
	for l.reported != l.degraded {
		down, err := l.degraded, l.lastErr
		l.reported = down
		l.stateMu.Unlock()
		if down {
			l.log.Warn("quota store failed; each host applies its rate limits alone until it answers",
				"error", err, "retry_in", l.retry)
		} else {
			l.log.Info("quota store answers again; rate limits are shared")
			err = nil
		}
		if l.fallback != nil {
			l.fallback(down, err)
		}
		l.stateMu.Lock()
	}
	l.reporting = false
	l.stateMu.Unlock()
}
