package redis

import (
	"context"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Operation names beyond sdk.KVOperations and sdk.PubSubOperations.
const (
	opPing      = "ping"
	opPublish   = "publish"
	opSubscribe = "subscribe"
	opWatch     = "watch"
	opUnwatch   = "unwatch"
	opMultiExec = "multi_exec"
)

// pingArgs are the arguments of ping: none.
type pingArgs struct{}

// okResult is the result of ping, watch and unwatch.
type okResult struct {
	OK bool `json:"ok"`
}

// kvOp declares an operation of instances of type I that fn performs on
// the instance's kvOps.
func kvOp[I instance, A, R any](name, description string, fn func(*kvOps, context.Context, A) (R, error)) sdk.Op[I] {
	return operation(name, description, func(in I, ctx context.Context, args A) (R, error) {
		return fn(in.kv(), ctx, args)
	})
}

// kvOperations are the kv capability's operations, which both types
// offer; their descriptions and idempotency are the capability's.
func kvOperations[I instance]() []sdk.Op[I] {
	return []sdk.Op[I]{
		kvOp[I]("get", "", (*kvOps).get),
		kvOp[I]("set", "", (*kvOps).set),
		kvOp[I]("delete", "", (*kvOps).delete),
		kvOp[I]("exists", "", (*kvOps).exists),
		kvOp[I]("expire", "", (*kvOps).expire),
		kvOp[I]("ttl", "", (*kvOps).ttl),
		kvOp[I]("incr", "", (*kvOps).incr),
		kvOp[I]("decr", "", (*kvOps).decr),
		kvOp[I]("mget", "", (*kvOps).mget),
		kvOp[I]("mset", "", (*kvOps).mset),
		kvOp[I]("scan", "", (*kvOps).scan),
		kvOp[I]("command", "", (*kvOps).command),
	}
}

// pingOp is ping, which both types offer.
func pingOp[I instance]() sdk.Op[I] {
	return kvOp[I](opPing, "Sends PING (to every master in cluster mode) and returns {\"ok\": true}.", (*kvOps).ping).Idempotent()
}

// runner is what the kv operations run commands on: a go-redis client
// (standalone, failover or cluster) or one connection (*goredis.Conn).
type runner interface {
	goredis.Cmdable
	Process(ctx context.Context, cmd goredis.Cmder) error
}

// kvOps implements the kv operations on a runner. cluster is set when the
// runner is a cluster client: multi-key operations are then split by hash
// slot and scan walks every master.
type kvOps struct {
	b       *base
	c       runner
	cluster *goredis.ClusterClient
}

// noRetryIntCmd and noRetryCmd mark a command go-redis must not send again
// after a failure that may have reached the server (incr, decr, publish,
// command): go-redis retries idempotent work by itself, and the host
// retries only operations marked idempotent.
type (
	noRetryIntCmd struct{ *goredis.IntCmd }
	noRetryCmd    struct{ *goredis.Cmd }
)

func (noRetryIntCmd) NoRetry() bool { return true }
func (noRetryCmd) NoRetry() bool    { return true }

func (o *kvOps) wrap(ctx context.Context, err error, op string) error {
	return o.b.wrap(ctx, err, op)
}

// ttlArg rounds a positive time to live below a millisecond up to 1ms,
// Redis's resolution (the SDK has refused a negative one).
func ttlArg(ttl time.Duration) time.Duration {
	if ttl > 0 && ttl < time.Millisecond {
		return time.Millisecond
	}
	return ttl
}

func (o *kvOps) check(ctx context.Context) error {
	if o.cluster != nil {
		return o.cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			return c.Ping(ctx).Err()
		})
	}
	return o.c.Ping(ctx).Err()
}

func (o *kvOps) ping(ctx context.Context, _ pingArgs) (okResult, error) {
	if err := o.check(ctx); err != nil {
		return okResult{}, o.wrap(ctx, err, opPing)
	}
	return okResult{OK: true}, nil
}

func (o *kvOps) get(ctx context.Context, args sdk.KVKeyArgs) (sdk.KVGetResult, error) {
	v, err := o.c.Get(ctx, args.Key).Result()
	switch {
	case err == goredis.Nil:
		return sdk.KVGetResult{}, nil
	case err != nil:
		return sdk.KVGetResult{}, o.wrap(ctx, err, "get")
	}
	return sdk.KVGetResult{Value: v, Found: true}, nil
}

func (o *kvOps) set(ctx context.Context, args sdk.KVSetArgs) (sdk.KVSetResult, error) {
	only, err := args.Condition()
	if err != nil {
		return sdk.KVSetResult{}, err
	}
	sa := goredis.SetArgs{TTL: ttlArg(args.TTL)}
	switch only {
	case sdk.KVIfAbsent:
		sa.Mode = "NX"
	case sdk.KVIfPresent:
		sa.Mode = "XX"
	}
	err = o.c.SetArgs(ctx, args.Key, args.Value, sa).Err()
	switch {
	case err == goredis.Nil:
		return sdk.KVSetResult{OK: false}, nil
	case err != nil:
		return sdk.KVSetResult{}, o.wrap(ctx, err, "set")
	}
	return sdk.KVSetResult{OK: true}, nil
}

func (o *kvOps) delete(ctx context.Context, args sdk.KVKeysArgs) (sdk.KVCountResult, error) {
	return o.countKeys(ctx, args.Keys, "delete", "del")
}

func (o *kvOps) exists(ctx context.Context, args sdk.KVKeysArgs) (sdk.KVCountResult, error) {
	return o.countKeys(ctx, args.Keys, "exists", "exists")
}

// countKeys runs DEL or EXISTS, whose replies count keys: once for all the
// keys, or once per hash slot in cluster mode, summed.
func (o *kvOps) countKeys(ctx context.Context, keys []string, op, cmd string) (sdk.KVCountResult, error) {
	if o.cluster == nil {
		c := goredis.NewIntCmd(ctx, keyArgs(cmd, keys)...)
		if err := o.c.Process(ctx, c); err != nil {
			return sdk.KVCountResult{}, o.wrap(ctx, err, op)
		}
		return sdk.KVCountResult{Count: c.Val()}, nil
	}
	groups := groupBySlot(keys)
	counts := make([]int64, len(groups))
	err := forEachGroup(ctx, groups, func(ctx context.Context, i int, g slotGroup) error {
		cmd := goredis.NewIntCmd(ctx, keyArgs(cmd, g.keys)...)
		if err := o.c.Process(ctx, cmd); err != nil {
			return err
		}
		counts[i] = cmd.Val()
		return nil
	})
	if err != nil {
		return sdk.KVCountResult{}, o.wrap(ctx, err, op)
	}
	var sum int64
	for _, n := range counts {
		sum += n
	}
	return sdk.KVCountResult{Count: sum}, nil
}

func (o *kvOps) expire(ctx context.Context, args sdk.KVExpireArgs) (sdk.KVCountResult, error) {
	if ttl := ttlArg(args.TTL); ttl > 0 {
		ok, err := o.c.PExpire(ctx, args.Key, ttl).Result()
		if err != nil {
			return sdk.KVCountResult{}, o.wrap(ctx, err, "expire")
		}
		return sdk.KVCountResult{Count: boolCount(ok)}, nil
	}
	// PERSIST answers 0 both for a missing key and for one without an
	// expiry; EXISTS tells them apart.
	ok, err := o.c.Persist(ctx, args.Key).Result()
	if err != nil {
		return sdk.KVCountResult{}, o.wrap(ctx, err, "expire")
	}
	if ok {
		return sdk.KVCountResult{Count: 1}, nil
	}
	n, err := o.c.Exists(ctx, args.Key).Result()
	if err != nil {
		return sdk.KVCountResult{}, o.wrap(ctx, err, "expire")
	}
	return sdk.KVCountResult{Count: n}, nil
}

func boolCount(ok bool) int64 {
	if ok {
		return 1
	}
	return 0
}

func (o *kvOps) ttl(ctx context.Context, args sdk.KVKeyArgs) (sdk.KVTTLResult, error) {
	cmd := goredis.NewIntCmd(ctx, "pttl", args.Key)
	if err := o.c.Process(ctx, cmd); err != nil {
		return sdk.KVTTLResult{}, o.wrap(ctx, err, "ttl")
	}
	switch ms := cmd.Val(); {
	case ms == -2:
		return sdk.KVTTLResult{}, nil
	case ms < 0:
		return sdk.KVTTLResult{Found: true}, nil
	default:
		return sdk.KVTTLResult{Found: true, TTL: (time.Duration(ms) * time.Millisecond).String()}, nil
	}
}

func (o *kvOps) incr(ctx context.Context, args sdk.KVIncrArgs) (sdk.KVIncrResult, error) {
	return o.incrBy(ctx, args, "incr", "incrby")
}

func (o *kvOps) decr(ctx context.Context, args sdk.KVIncrArgs) (sdk.KVIncrResult, error) {
	return o.incrBy(ctx, args, "decr", "decrby")
}

func (o *kvOps) incrBy(ctx context.Context, args sdk.KVIncrArgs, op, cmd string) (sdk.KVIncrResult, error) {
	c := goredis.NewIntCmd(ctx, cmd, args.Key, args.By)
	if err := o.c.Process(ctx, noRetryIntCmd{c}); err != nil {
		return sdk.KVIncrResult{}, o.wrap(ctx, err, op)
	}
	return sdk.KVIncrResult{Value: c.Val()}, nil
}

func (o *kvOps) mget(ctx context.Context, args sdk.KVKeysArgs) (sdk.KVMGetResult, error) {
	out := sdk.KVMGetResult{Values: make([]sdk.KVGetResult, len(args.Keys))}
	fill := func(idx []int, vals []any) {
		for j, v := range vals {
			if s, ok := v.(string); ok {
				out.Values[idx[j]] = sdk.KVGetResult{Value: s, Found: true}
			}
		}
	}
	if o.cluster == nil {
		vals, err := o.c.MGet(ctx, args.Keys...).Result()
		if err != nil {
			return sdk.KVMGetResult{}, o.wrap(ctx, err, "mget")
		}
		all := make([]int, len(args.Keys))
		for i := range all {
			all[i] = i
		}
		fill(all, vals)
		return out, nil
	}
	// One MGET per hash slot; each group writes its own entries.
	err := forEachGroup(ctx, groupBySlot(args.Keys), func(ctx context.Context, _ int, g slotGroup) error {
		vals, err := o.c.MGet(ctx, g.keys...).Result()
		if err != nil {
			return err
		}
		fill(g.index, vals)
		return nil
	})
	if err != nil {
		return sdk.KVMGetResult{}, o.wrap(ctx, err, "mget")
	}
	return out, nil
}

func (o *kvOps) mset(ctx context.Context, args sdk.KVMSetArgs) (sdk.KVSetResult, error) {
	keys := make([]string, 0, len(args.Values))
	for k := range args.Values {
		keys = append(keys, k)
	}
	ttl := ttlArg(args.TTL)
	if o.cluster == nil && ttl == 0 {
		// One MSET: all the keys at once.
		pairs := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			pairs = append(pairs, k, args.Values[k])
		}
		if err := o.c.MSet(ctx, pairs...).Err(); err != nil {
			return sdk.KVSetResult{}, o.wrap(ctx, err, "mset")
		}
		return sdk.KVSetResult{OK: true}, nil
	}
	// With a ttl, or across the slots of a cluster: one SET per key, each
	// with its expiry, pipelined (one round trip per server).
	_, err := o.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			p.SetArgs(ctx, k, args.Values[k], goredis.SetArgs{TTL: ttl})
		}
		return nil
	})
	if err != nil {
		return sdk.KVSetResult{}, o.wrap(ctx, err, "mset")
	}
	return sdk.KVSetResult{OK: true}, nil
}

func (o *kvOps) scan(ctx context.Context, args sdk.KVScanArgs) (sdk.KVScanResult, error) {
	if args.Pattern == "" {
		args.Pattern = "*"
	}
	if o.cluster != nil {
		return o.scanCluster(ctx, args)
	}
	var cursor uint64
	if args.Cursor != "" {
		c, err := strconv.ParseUint(args.Cursor, 10, 64)
		if err != nil {
			return sdk.KVScanResult{}, sdk.Errorf(sdk.KindInvalidArgument, "cursor %q was not returned by scan on this resource", args.Cursor)
		}
		cursor = c
	}
	keys, next, err := o.c.Scan(ctx, cursor, args.Pattern, int64(args.Count)).Result()
	if err != nil {
		return sdk.KVScanResult{}, o.wrap(ctx, err, "scan")
	}
	res := sdk.KVScanResult{Keys: keys}
	if res.Keys == nil {
		res.Keys = []string{}
	}
	if next != 0 {
		res.Cursor = strconv.FormatUint(next, 10)
	}
	return res, nil
}

func (o *kvOps) command(ctx context.Context, args sdk.KVCommandArgs) (sdk.KVCommandResult, error) {
	if err := checkCommand(args.Args); err != nil {
		return sdk.KVCommandResult{}, err
	}
	cmd := goredis.NewCmd(ctx, stringArgs(args.Args)...)
	err := o.c.Process(ctx, noRetryCmd{cmd})
	switch {
	case err == goredis.Nil:
		return sdk.KVCommandResult{Result: nil}, nil
	case err != nil:
		return sdk.KVCommandResult{}, o.wrap(ctx, err, "command "+strings.ToUpper(args.Args[0]))
	}
	return sdk.KVCommandResult{Result: jsonValue(cmd.Val())}, nil
}

func (o *kvOps) publish(ctx context.Context, args sdk.PublishArgs) (sdk.KVCountResult, error) {
	cmd := goredis.NewIntCmd(ctx, "publish", args.Channel, args.Message)
	if err := o.c.Process(ctx, noRetryIntCmd{cmd}); err != nil {
		return sdk.KVCountResult{}, o.wrap(ctx, err, opPublish)
	}
	return sdk.KVCountResult{Count: cmd.Val()}, nil
}

// forbidden are the commands the command operation refuses: those that
// would change the state of a connection that others share (the client's
// pool) or that the driver tracks (the session's WATCH), or take it over.
var forbidden = map[string]string{
	"SUBSCRIBE": "use the subscribe operation", "PSUBSCRIBE": "use the subscribe operation",
	"SSUBSCRIBE": "use the subscribe operation", "UNSUBSCRIBE": "use the subscribe operation",
	"PUNSUBSCRIBE": "use the subscribe operation", "SUNSUBSCRIBE": "use the subscribe operation",
	"MONITOR": "it takes the connection over", "SYNC": "it takes the connection over",
	"PSYNC": "it takes the connection over", "QUIT": "it closes the connection",
	"RESET": "it resets the connection's authentication and state", "HELLO": "the driver negotiates the protocol",
	"AUTH": "set username and password in the configuration", "SELECT": "set database in the configuration",
	"MULTI": "use multi_exec on a redis_session resource", "EXEC": "use multi_exec on a redis_session resource",
	"DISCARD": "use multi_exec on a redis_session resource", "WATCH": "use the watch operation of a redis_session resource",
	"UNWATCH": "use the unwatch operation of a redis_session resource",
}

// checkCommand refuses an empty command and the forbidden ones.
func checkCommand(args []string) error {
	if err := (sdk.KVCommandArgs{Args: args}).Validate(); err != nil {
		return err
	}
	name := strings.ToUpper(args[0])
	if why, ok := forbidden[name]; ok {
		return sdk.Errorf(sdk.KindInvalidArgument, "command %s is not allowed here: %s", name, why)
	}
	if name == "CLIENT" && len(args) > 1 && strings.EqualFold(args[1], "REPLY") {
		return sdk.Errorf(sdk.KindInvalidArgument, "command CLIENT REPLY is not allowed: the driver reads every reply")
	}
	return nil
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func keyArgs(cmd string, keys []string) []any {
	out := make([]any, 0, len(keys)+1)
	out = append(out, cmd)
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}
