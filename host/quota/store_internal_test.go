package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// replyCommander answers every command with reply and err, and keeps the
// last command.
type replyCommander struct {
	reply any
	err   error
	args  []string
}

func (c *replyCommander) Command(_ context.Context, args ...string) (any, error) {
	c.args = args
	return c.reply, c.err
}

func TestScripterGivesRepliesInGoRedisTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		reply any
		want  any
	}{
		"json.Number integers": {
			[]any{json.Number("1"), json.Number("-9"), "-1", "0.01"},
			[]any{int64(1), int64(-9), "-1", "0.01"},
		},
		"float64 integers": {
			[]any{float64(1), float64(9), "-1", "0.01"},
			[]any{int64(1), int64(9), "-1", "0.01"},
		},
		"int64 integers":  {[]any{int64(3)}, []any{int64(3)}},
		"doubles":         {[]any{json.Number("1.5"), 2.25}, []any{1.5, 2.25}},
		"nested":          {[]any{[]any{json.Number("2"), nil, true}}, []any{[]any{int64(2), nil, true}}},
		"map":             {map[string]any{"a": json.Number("1")}, map[any]any{"a": int64(1)}},
		"string":          {"OK", "OK"},
		"big json number": {json.Number("1e300"), 1e300},
	} {
		t.Run(name, func(t *testing.T) {
			c := &replyCommander{reply: tc.reply}
			v, err := scripter{c}.EvalSha(context.Background(), "abc", []string{"k"}, 10, 100, 0.5, int64(1)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v, tc.want) {
				t.Fatalf("value %#v, want %#v", v, tc.want)
			}
			if got := strings.Join(c.args, " "); got != "EVALSHA abc 1 k 10 100 0.5 1" {
				t.Fatalf("command %q", got)
			}
		})
	}
}

func TestScripterNullReplyIsRedisNil(t *testing.T) {
	_, err := scripter{&replyCommander{}}.Eval(context.Background(), "return nil", nil).Result()
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("error %v, want redis.Nil", err)
	}
}

func TestScripterRefusesRepliesAndArgumentsRedisCannotHave(t *testing.T) {
	_, err := scripter{&replyCommander{reply: struct{}{}}}.Eval(context.Background(), "s", nil).Result()
	if err == nil || !strings.Contains(err.Error(), "struct {}") {
		t.Fatalf("reply of a struct: %v", err)
	}
	_, err = scripter{&replyCommander{reply: json.Number("x")}}.Eval(context.Background(), "s", nil).Result()
	if err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Fatalf("reply of a bad number: %v", err)
	}
	c := &replyCommander{reply: "OK"}
	_, err = scripter{c}.Eval(context.Background(), "s", nil, time.Now()).Result()
	if err == nil || !strings.Contains(err.Error(), "time.Time") || c.args != nil {
		t.Fatalf("argument of a time.Time: %v, command %v", err, c.args)
	}
}

func TestNoScriptErrorsBecomeRedisErrors(t *testing.T) {
	plain := errors.New("redis command EVALSHA: NOSCRIPT No matching script. Please use EVAL.")
	coded := &sdk.Error{Kind: sdk.KindNotFound, Message: "No matching script. Please use EVAL.", Code: "NOSCRIPT"}
	for name, tc := range map[string]struct {
		err      error
		noScript bool
	}{
		"message":           {plain, true},
		"wrapped message":   {fmt.Errorf("call: %w", plain), true},
		"sdk code":          {coded, true},
		"other redis error": {errors.New("redis command EVALSHA: WRONGTYPE Operation against a key"), false},
		"connection":        {errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"), false},
	} {
		t.Run(name, func(t *testing.T) {
			err := scripter{&replyCommander{err: tc.err}}.EvalSha(context.Background(), "abc", []string{"k"}).Err()
			if got := redis.HasErrorPrefix(err, "NOSCRIPT"); got != tc.noScript {
				t.Fatalf("HasErrorPrefix(%v, NOSCRIPT) = %v, want %v", err, got, tc.noScript)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v does not wrap the Commander's", err)
			}
			if tc.noScript && !strings.HasPrefix(err.Error(), "NOSCRIPT") {
				t.Fatalf("error %q does not start with its code", err)
			}
		})
	}
}

func TestScripterScriptCommandsAndDel(t *testing.T) {
	ctx := context.Background()
	c := &replyCommander{reply: []any{json.Number("1"), float64(0)}}
	got, err := scripter{c}.ScriptExists(ctx, "a", "b").Result()
	if err != nil || !reflect.DeepEqual(got, []bool{true, false}) || strings.Join(c.args, " ") != "SCRIPT EXISTS a b" {
		t.Fatalf("SCRIPT EXISTS: %v, %v, command %v", got, err, c.args)
	}
	c = &replyCommander{reply: "3d1b"}
	sha, err := scripter{c}.ScriptLoad(ctx, "return 1").Result()
	if err != nil || sha != "3d1b" || strings.Join(c.args, " ") != "SCRIPT LOAD return 1" {
		t.Fatalf("SCRIPT LOAD: %q, %v, command %v", sha, err, c.args)
	}
	c = &replyCommander{reply: float64(2)}
	n, err := scripter{c}.Del(ctx, "k1", "k2").Result()
	if err != nil || n != 2 || strings.Join(c.args, " ") != "DEL k1 k2" {
		t.Fatalf("DEL: %d, %v, command %v", n, err, c.args)
	}
	if _, err := (scripter{&replyCommander{reply: "x"}}).Del(ctx, "k").Result(); err == nil {
		t.Fatal("DEL with a string reply: no error")
	}
	if _, err := (scripter{&replyCommander{reply: json.Number("1")}}).ScriptExists(ctx, "a").Result(); err == nil {
		t.Fatal("SCRIPT EXISTS with an integer reply: no error")
	}
	if _, err := (scripter{&replyCommander{reply: nil}}).ScriptLoad(ctx, "s").Result(); err == nil {
		t.Fatal("SCRIPT LOAD with a null reply: no error")
	}
}

func TestGCRALimitIsTheRatePerSecond(t *testing.T) {
	for _, r := range []float64{100, 1, 0.5, 2.5, 0.1, 0.3, 1.0 / 60, 1.0 / 3, 123.456, 1e6} {
		g := gcraLimit(r, 7)
		got := float64(g.Rate) / g.Period.Seconds()
		if d := (got - r) / r; d > 1e-9 || d < -1e-9 || g.Burst != 7 || g.Rate < 1 {
			t.Errorf("rate %v: %+v is %v a second", r, g, got)
		}
	}
	if g := gcraLimit(0.5, 1); g.Rate != 5 || g.Period != 10*time.Second {
		t.Errorf("0.5/s: %+v, want 5 per 10s", g)
	}
}
