package quota_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/host/quota"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The ways a Commander may give integers: the redis plugin's replies
// pass through JSON, which a host decodes with UseNumber (json.Number) or
// without (float64).
const (
	numbersJSON  = "json.Number"
	numbersFloat = "float64"
)

// redisCommander is a Commander over a go-redis client that gives its
// replies as the redis plugin's command operation does, through JSON.
// While down is set it fails as a Redis that is not there.
type redisCommander struct {
	rdb     *redis.Client
	numbers string
	down    atomic.Bool
	calls   atomic.Int64

	mu    sync.Mutex
	names []string // the commands run, in order
}

func (c *redisCommander) Command(ctx context.Context, args ...string) (any, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.names = append(c.names, args[0])
	c.mu.Unlock()
	if c.down.Load() {
		return nil, fmt.Errorf("redis command %s: dial tcp 127.0.0.1:6379: connect: connection refused", args[0])
	}
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := c.rdb.Do(ctx, a...).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("redis command %s: %w", args[0], err)
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if c.numbers == numbersJSON {
		d.UseNumber()
	}
	var out any
	err = d.Decode(&out)
	return out, err
}

// commands returns the commands run since the last call.
func (c *redisCommander) commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.names
	c.names = nil
	return n
}

// jsonable gives RESP3 maps string keys, as the redis plugin does.
func jsonable(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	}
	return v
}

// testRedis returns a client of the test Redis, and a key prefix of the
// test's own whose keys are deleted when it ends. It skips the test when
// NEBULA_TEST_REDIS_ADDR is unset.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("NEBULA_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("NEBULA_TEST_REDIS_ADDR is unset: no Redis to share rate limits through; run `eval \"$(scripts/testenv env)\"` after `scripts/testenv up`")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("Redis at %s (NEBULA_TEST_REDIS_ADDR) does not answer: %v", addr, err)
	}
	prefix := fmt.Sprintf("nebula:quota:test:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var keys []string
		iter := rdb.Scan(ctx, 0, "rate:"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("listing the test's keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("deleting the test's keys: %v", err)
			}
		}
	})
	return rdb, prefix
}

func TestRedisSharesTheRateBetweenHosts(t *testing.T) {
	rdb, prefix := testRedis(t)
	var fb fallbacks
	// Two limiters stand for two hosts, one reading integers as
	// json.Number, the other as float64.
	a := quota.New(quota.Options{Store: &redisCommander{rdb: rdb, numbers: numbersJSON}, Prefix: prefix, Fallback: fb.record})
	defer a.Close()
	b := quota.New(quota.Options{Store: &redisCommander{rdb: rdb, numbers: numbersFloat}, Prefix: prefix, Fallback: fb.record})
	defer b.Close()
	lim := quota.Limit{Rate: 100, Burst: 10}

	admitted, elapsed, err := hammer(t, []*quota.Limiter{a, b}, 4, acme, lim, 5*time.Second, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if calls := fb.get(); len(calls) != 0 {
		t.Fatalf("the store failed: %v", calls)
	}
	checkRate(t, admitted, elapsed, lim)
	ua, ub := a.Usage()[0], b.Usage()[0]
	if ua.Admitted == 0 || ub.Admitted == 0 || int64(ua.Admitted+ub.Admitted) != admitted {
		t.Fatalf("usage %+v and %+v, want both hosts admitted, %d together", ua, ub, admitted)
	}
	for _, l := range []*quota.Limiter{a, b} {
		if st := l.Status(); st.Store != quota.StoreRedis || st.Degraded {
			t.Fatalf("status %+v", st)
		}
	}
	n, err := rdb.Exists(context.Background(), "rate:"+prefix+"acme:postgres.main").Result()
	if err != nil || n != 1 {
		t.Fatalf("the shared key rate:%sacme:postgres.main: exists %d, %v", prefix, n, err)
	}
}

func TestRedisFractionalRateIsPerSecond(t *testing.T) {
	rdb, prefix := testRedis(t)
	for _, numbers := range []string{numbersJSON, numbersFloat} {
		t.Run(numbers, func(t *testing.T) {
			l := quota.New(quota.Options{Store: &redisCommander{rdb: rdb, numbers: numbers}, Prefix: prefix + numbers + ":"})
			defer l.Close()
			lim := quota.Limit{Rate: 0.5}
			if err := l.Allow(context.Background(), acme, lim); err != nil {
				t.Fatal(err)
			}
			ee := exceeded(t, l.Allow(context.Background(), acme, lim))
			if ee.RetryAfter < 1900*time.Millisecond || ee.RetryAfter > 2*time.Second {
				t.Fatalf("RetryAfter %v at 0.5/s, want about 2s", ee.RetryAfter)
			}
			if sdk.RetryAfterOf(ee) != ee.RetryAfter || sdk.KindOf(ee) != sdk.KindResourceExhausted {
				t.Fatalf("the SDK sees kind %s, retry after %v", sdk.KindOf(ee), sdk.RetryAfterOf(ee))
			}
			if st := l.Status(); st.Degraded {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestRedisScriptFlushIsFollowedByEval(t *testing.T) {
	rdb, prefix := testRedis(t)
	for _, numbers := range []string{numbersJSON, numbersFloat} {
		t.Run(numbers, func(t *testing.T) {
			var fb fallbacks
			store := &redisCommander{rdb: rdb, numbers: numbers}
			l := quota.New(quota.Options{Store: store, Prefix: prefix + numbers + ":", Fallback: fb.record})
			defer l.Close()
			lim := quota.Limit{Rate: 1000, Burst: 1000}
			ctx := context.Background()

			if err := l.Allow(ctx, acme, lim); err != nil {
				t.Fatal(err)
			}
			if err := l.Allow(ctx, acme, lim); err != nil {
				t.Fatal(err)
			}
			if got := store.commands(); got[len(got)-1] != "EVALSHA" {
				t.Fatalf("commands %v: the script is loaded, want EVALSHA last", got)
			}
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := l.Allow(ctx, acme, lim); err != nil {
				t.Fatalf("Allow after SCRIPT FLUSH: %v", err)
			}
			if got := store.commands(); strings.Join(got, " ") != "EVALSHA EVAL" {
				t.Fatalf("commands %v after SCRIPT FLUSH, want EVALSHA (NOSCRIPT) then EVAL", got)
			}
			if err := l.Allow(ctx, acme, lim); err != nil {
				t.Fatal(err)
			}
			if got := store.commands(); strings.Join(got, " ") != "EVALSHA" {
				t.Fatalf("commands %v after EVAL loaded the script, want EVALSHA", got)
			}
			if st := l.Status(); st.Degraded || len(fb.get()) != 0 {
				t.Fatalf("status %+v, fallbacks %v: NOSCRIPT was taken for a store failure", st, fb.get())
			}
			if u := l.Usage(); u[0].Admitted != 4 {
				t.Fatalf("usage %+v, want 4 admitted", u)
			}
		})
	}
}

func TestRedisDownFallsBackAndSharesAgainWhenBack(t *testing.T) {
	rdb, prefix := testRedis(t)
	var fb fallbacks
	store := &redisCommander{rdb: rdb, numbers: numbersJSON}
	a := quota.New(quota.Options{Store: store, Prefix: prefix, Fallback: fb.record, RetryStore: 50 * time.Millisecond})
	defer a.Close()
	b := quota.New(quota.Options{Store: &redisCommander{rdb: rdb, numbers: numbersFloat}, Prefix: prefix})
	defer b.Close()
	// One a minute: nothing comes back during the test.
	lim := quota.Limit{Rate: 1.0 / 60, Burst: 5}
	ctx := context.Background()

	store.down.Store(true)
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for range 2 {
		wg.Go(func() {
			if err := a.Allow(ctx, acme, lim); err == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 2 {
		t.Fatalf("%d of 2 calls admitted with Redis down, want both by the local limit", admitted.Load())
	}
	calls := fb.get()
	if len(calls) != 1 || !calls[0].down || !strings.Contains(calls[0].err.Error(), "connection refused") {
		t.Fatalf("fallbacks %v, want one down with the store's error", calls)
	}
	if st := a.Status(); !st.Degraded || st.Store != quota.StoreRedis || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("status %+v, want degraded", st)
	}

	store.down.Store(false)
	time.Sleep(60 * time.Millisecond)
	if err := a.Allow(ctx, acme, lim); err != nil {
		t.Fatalf("the call that finds Redis back: %v", err)
	}
	calls = fb.get()
	if len(calls) != 2 || calls[1].down || calls[1].err != nil {
		t.Fatalf("fallbacks %v, want down then up", calls)
	}
	if st := a.Status(); st.Degraded {
		t.Fatalf("status %+v, want not degraded", st)
	}
	// The other host takes what is left of the shared burst...
	var left int
	for b.Allow(ctx, acme, lim) == nil {
		left++
		if left > 5 {
			t.Fatal("the other host was admitted past the burst")
		}
	}
	if left != 4 {
		t.Fatalf("the other host was admitted %d times, want the 4 left of the shared burst of 5", left)
	}
	// ... and the first is refused, although its local bucket has 3 left:
	// the shared limit applies again.
	ee := exceeded(t, a.Allow(ctx, acme, lim))
	if ee.Limit != quota.LimitRate || ee.RetryAfter < 50*time.Second {
		t.Fatalf("refusal %+v, want the shared rate's, retry after about a minute", ee)
	}
}

func TestStoreAtClosedPortFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	var fb fallbacks
	store := &redisCommander{rdb: rdb, numbers: numbersJSON}
	l := quota.New(quota.Options{Store: store, Fallback: fb.record, RetryStore: time.Hour})
	defer l.Close()
	lim := quota.Limit{Rate: 100, Burst: 10}

	var admitted, refused int
	for range 20 {
		switch err := l.Allow(context.Background(), acme, lim); {
		case err == nil:
			admitted++
		case sdk.KindOf(err) == sdk.KindResourceExhausted:
			refused++
		default:
			t.Fatalf("Allow: %v", err)
		}
	}
	if admitted < 10 || admitted > 12 || admitted+refused != 20 {
		t.Fatalf("%d admitted, %d refused; want the local burst of 10 (and what 100/s adds meanwhile)", admitted, refused)
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("the store was called %d times, want once before RetryStore", n)
	}
	calls := fb.get()
	if len(calls) != 1 || !calls[0].down || calls[0].err == nil {
		t.Fatalf("fallbacks %v, want one down", calls)
	}
	if st := l.Status(); !st.Degraded || st.LastError == "" {
		t.Fatalf("status %+v, want degraded with the error", st)
	}
}
