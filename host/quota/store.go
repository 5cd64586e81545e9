package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Commander runs one Redis command, such as ["EVALSHA", sha, "1", key,
// ...], and returns its reply decoded from JSON as the redis plugin's
// command operation gives it: nil, string, bool, json.Number or float64
// or int64 for integers, []any for arrays (map[string]any for RESP3
// maps). A Redis error reply comes back as an error whose message starts
// with the reply's code (for example "NOSCRIPT No matching script ..."),
// possibly after a prefix like "redis command EVALSHA: ", or as an
// *sdk.Error whose Code is the reply's code.
//
// The host implements it on top of a configured redis resource. Its
// errors are reported as they are ([Options].Fallback, [Status]): they
// must hold no secret.
type Commander interface {
	Command(ctx context.Context, args ...string) (any, error)
}

// scripter runs the commands redis_rate needs (its unexported rediser
// interface: the scripting commands and DEL) through a Commander, and
// gives their replies in the Go types go-redis would have produced, so
// that redis_rate reads them as it reads a go-redis client's.
type scripter struct{ c Commander }

// Eval runs EVAL.
func (s scripter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, "EVAL", script, keys, args)
}

// EvalSha runs EVALSHA. A script the server does not know comes back as a
// redis.Error starting "NOSCRIPT", on which go-redis's Script.Run falls
// back to EVAL.
func (s scripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, "EVALSHA", sha1, keys, args)
}

// EvalRO runs EVAL_RO.
func (s scripter) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, "EVAL_RO", script, keys, args)
}

// EvalShaRO runs EVALSHA_RO.
func (s scripter) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, "EVALSHA_RO", sha1, keys, args)
}

func (s scripter) eval(ctx context.Context, name, script string, keys []string, args []any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, name)
	argv := make([]string, 0, 3+len(keys)+len(args))
	argv = append(argv, name, script, strconv.Itoa(len(keys)))
	argv = append(argv, keys...)
	for _, a := range args {
		str, err := argString(a)
		if err != nil {
			cmd.SetErr(fmt.Errorf("%s: %w", name, err))
			return cmd
		}
		argv = append(argv, str)
	}
	reply, err := s.c.Command(ctx, argv...)
	if err != nil {
		cmd.SetErr(storeError(err))
		return cmd
	}
	if reply == nil {
		// go-redis reports a null reply as redis.Nil.
		cmd.SetErr(redis.Nil)
		return cmd
	}
	v, err := goValue(reply)
	if err != nil {
		cmd.SetErr(fmt.Errorf("%s: %w", name, err))
		return cmd
	}
	cmd.SetVal(v)
	return cmd
}

// ScriptExists runs SCRIPT EXISTS.
func (s scripter) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	cmd := redis.NewBoolSliceCmd(ctx, "SCRIPT", "EXISTS")
	reply, err := s.c.Command(ctx, append([]string{"SCRIPT", "EXISTS"}, hashes...)...)
	if err != nil {
		cmd.SetErr(storeError(err))
		return cmd
	}
	v, err := goValue(reply)
	if err != nil {
		cmd.SetErr(fmt.Errorf("SCRIPT EXISTS: %w", err))
		return cmd
	}
	arr, ok := v.([]any)
	if !ok {
		cmd.SetErr(fmt.Errorf("SCRIPT EXISTS: the reply is %T, want an array", v))
		return cmd
	}
	out := make([]bool, len(arr))
	for i, e := range arr {
		switch e := e.(type) {
		case int64:
			out[i] = e == 1
		case bool:
			out[i] = e
		default:
			cmd.SetErr(fmt.Errorf("SCRIPT EXISTS: element %d of the reply is %T, want an integer", i, e))
			return cmd
		}
	}
	cmd.SetVal(out)
	return cmd
}

// ScriptLoad runs SCRIPT LOAD.
func (s scripter) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	cmd := redis.NewStringCmd(ctx, "SCRIPT", "LOAD")
	reply, err := s.c.Command(ctx, "SCRIPT", "LOAD", script)
	if err != nil {
		cmd.SetErr(storeError(err))
		return cmd
	}
	sha, ok := reply.(string)
	if !ok {
		cmd.SetErr(fmt.Errorf("SCRIPT LOAD: the reply is %T, want a string", reply))
		return cmd
	}
	cmd.SetVal(sha)
	return cmd
}

// Del runs DEL.
func (s scripter) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx, "DEL")
	reply, err := s.c.Command(ctx, append([]string{"DEL"}, keys...)...)
	if err != nil {
		cmd.SetErr(storeError(err))
		return cmd
	}
	v, err := goValue(reply)
	if err != nil {
		cmd.SetErr(fmt.Errorf("DEL: %w", err))
		return cmd
	}
	n, ok := v.(int64)
	if !ok {
		cmd.SetErr(fmt.Errorf("DEL: the reply is %T, want an integer", v))
		return cmd
	}
	cmd.SetVal(n)
	return cmd
}

// argString formats a command argument as go-redis writes it on the wire.
func argString(a any) (string, error) {
	switch a := a.(type) {
	case string:
		return a, nil
	case []byte:
		return string(a), nil
	case int:
		return strconv.Itoa(a), nil
	case int64:
		return strconv.FormatInt(a, 10), nil
	case int32:
		return strconv.FormatInt(int64(a), 10), nil
	case uint:
		return strconv.FormatUint(uint64(a), 10), nil
	case uint64:
		return strconv.FormatUint(a, 10), nil
	case uint32:
		return strconv.FormatUint(uint64(a), 10), nil
	case float64:
		return strconv.FormatFloat(a, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(a), 'f', -1, 32), nil
	case bool:
		if a {
			return "1", nil
		}
		return "0", nil
	}
	return "", fmt.Errorf("cannot pass an argument of type %T to Redis", a)
}

// goValue converts a reply as a Commander gives it into what go-redis
// would have produced: int64 for integers, float64 for other numbers,
// string, bool, nil, []any and map[any]any.
func goValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int64:
		return v, nil
	case int:
		return int64(v), nil
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("the reply holds %q, which is not a number", v.String())
		}
		return floatValue(f), nil
	case float64:
		return floatValue(v), nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			g, err := goValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = g
		}
		return out, nil
	case map[string]any:
		out := make(map[any]any, len(v))
		for k, e := range v {
			g, err := goValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("the reply holds a %T, which a Redis reply cannot be", v)
}

// floatValue gives an integral float as the int64 it stands for: JSON
// decoded into any makes every integer reply a float64.
func floatValue(f float64) any {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return f
}

// storeError gives an error a Commander returned as go-redis would have:
// a NOSCRIPT reply becomes a redis.Error whose message starts with
// "NOSCRIPT", so that go-redis's Script.Run falls back from EVALSHA to
// EVAL. Other errors are returned as they are: to the limiter they are
// store failures alike.
func storeError(err error) error {
	var se *sdk.Error
	if errors.As(err, &se) && se.Code == "NOSCRIPT" {
		return &replyError{msg: noScriptMessage(err.Error()), err: err}
	}
	if msg := err.Error(); strings.Contains(msg, "NOSCRIPT") {
		return &replyError{msg: noScriptMessage(msg), err: err}
	}
	return err
}

// noScriptMessage cuts what comes before "NOSCRIPT" from msg, or puts
// the code in front of a message that lacks it.
func noScriptMessage(msg string) string {
	if i := strings.Index(msg, "NOSCRIPT"); i >= 0 {
		return msg[i:]
	}
	return "NOSCRIPT " + msg
}

// replyError is an error reply of the Redis server, as go-redis's
// redis.Error: its message starts with the reply's code.
type replyError struct {
	msg string
	err error
}

// Error returns the reply, starting with its code.
func (e *replyError) Error() string { return e.msg }

// RedisError marks the error as a reply of the server (redis.Error).
func (e *replyError) RedisError() {}

// Unwrap returns the error the Commander returned.
func (e *replyError) Unwrap() error { return e.err }

var _ redis.Error = (*replyError)(nil)
