package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/faults"
	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// cmds encodes commands for multi_exec: each one a JSON array in a string.
func cmds(list ...[]any) []string {
	out := make([]string, len(list))
	for i, c := range list {
		b, _ := json.Marshal(c)
		out[i] = string(b)
	}
	return out
}

type execResult struct {
	Results []any `json:"results"`
}

// openSessions configures a redis_session resource on the standalone server
// and opens n sessions.
func openSessions(t *testing.T, m mode, n int, extra map[string]any) []sdk.Instance {
	t.Helper()
	res := configure(t, redis.SessionTypeName, m.with(extra))
	out := make([]sdk.Instance, n)
	for i := range out {
		out[i] = open(t, res)
	}
	return out
}

// TestSessionWatchConflict runs the optimistic transaction of two sessions
// on one key: the one whose watched key the other changed fails with kind
// conflict and changes nothing; run again, it succeeds.
func TestSessionWatchConflict(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	s := openSessions(t, m, 2, nil)
	a, b := s[0], s[1]
	key := p + "balance"
	m.admin.Set(t.Context(), key, "100", 0)

	call[map[string]bool](t, a, "watch", args{"keys": []string{key}})
	if r := call[sdk.KVGetResult](t, a, "get", args{"key": key}); r.Value != "100" {
		t.Fatalf("a reads %+v", r)
	}
	// b changes the key a watches.
	call[map[string]bool](t, b, "watch", args{"keys": []string{key}})
	r := call[execResult](t, b, "multi_exec", args{"commands": cmds([]any{"INCRBY", key, 5})})
	if len(r.Results) != 1 || r.Results[0] != float64(105) {
		t.Fatalf("b's transaction: %+v", r)
	}
	err := fails(t, a, "multi_exec", args{"commands": cmds([]any{"SET", key, "90"}, []any{"SET", p + "log", "a"})}, sdk.KindConflict, "")
	if !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("errors.Is(err, sdk.ErrConflict) is false: %v", err)
	}
	if got := m.admin.Get(t.Context(), key).Val(); got != "105" {
		t.Fatalf("after the conflict the key holds %q, want b's 105", got)
	}
	if n := m.admin.Exists(t.Context(), p+"log").Val(); n != 0 {
		t.Fatal("a command of the failed transaction ran")
	}
	// EXEC ended the WATCH: a retry with a fresh watch succeeds.
	call[map[string]bool](t, a, "watch", args{"keys": []string{key}})
	v := call[sdk.KVGetResult](t, a, "get", args{"key": key}).Value
	r = call[execResult](t, a, "multi_exec", args{"commands": cmds([]any{"SET", key, v + "-10"}, []any{"GET", key})})
	if len(r.Results) != 2 || r.Results[0] != "OK" || r.Results[1] != "105-10" {
		t.Fatalf("a's retry: %+v", r)
	}
	// A write through a redis resource (another client) conflicts too.
	kv := openKV(t, m.config)
	call[map[string]bool](t, a, "watch", args{"keys": []string{key}})
	call[sdk.KVSetResult](t, kv, "set", args{"key": key, "value": "x"})
	fails(t, a, "multi_exec", args{"commands": cmds([]any{"DEL", key})}, sdk.KindConflict, "")
	// unwatch drops the watch: no conflict.
	call[map[string]bool](t, a, "watch", args{"keys": []string{key}})
	call[sdk.KVSetResult](t, kv, "set", args{"key": key, "value": "y"})
	call[map[string]bool](t, a, "unwatch", args{})
	call[execResult](t, a, "multi_exec", args{"commands": cmds([]any{"DEL", key})})
}

// TestSessionResetUnwatches checks that Reset, which the host calls when a
// lease ends, drops the watch, so the next lease starts clean.
func TestSessionResetUnwatches(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	s := openSessions(t, m, 1, nil)[0]
	key := p + "k"
	call[map[string]bool](t, s, "watch", args{"keys": []string{key}})
	m.admin.Set(t.Context(), key, "changed", 0)
	if err := s.(sdk.Resetter).Reset(t.Context()); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	r := call[execResult](t, s, "multi_exec", args{"commands": cmds([]any{"SET", key, "next lease"})})
	if len(r.Results) != 1 || r.Results[0] != "OK" {
		t.Fatalf("multi_exec after Reset: %+v", r)
	}
	if err := s.(sdk.Resetter).Reset(t.Context()); err != nil {
		t.Fatalf("Reset with nothing watched: %v", err)
	}
}

// TestSessionMultiExecErrors covers a command that fails as it runs (the
// others take effect, its error is in its place), a command refused while
// queuing (nothing runs), and malformed commands.
func TestSessionMultiExecErrors(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	s := openSessions(t, m, 1, nil)[0]
	m.admin.Set(t.Context(), p+"text", "abc", 0)

	r := call[execResult](t, s, "multi_exec", args{"commands": cmds(
		[]any{"SET", p + "a", "1"}, []any{"INCR", p + "text"}, []any{"INCR", p + "a"}, []any{"GET", p + "missing"},
	)})
	if len(r.Results) != 4 || r.Results[0] != "OK" || r.Results[2] != float64(2) || r.Results[3] != nil {
		t.Fatalf("results: %#v", r.Results)
	}
	if e, ok := r.Results[1].(map[string]any); !ok || !strings.Contains(e["error"].(string), "not an integer") {
		t.Fatalf("the failed command's result: %#v", r.Results[1])
	}

	err := fails(t, s, "multi_exec", args{"commands": cmds([]any{"SET", p + "b", "1"}, []any{"NOSUCHCOMMAND"})}, sdk.KindInvalidArgument, "ERR")
	if !strings.Contains(err.Error(), "commands[1]") {
		t.Fatalf("the error does not name the refused command: %v", err)
	}
	if n := m.admin.Exists(t.Context(), p+"b").Val(); n != 0 {
		t.Fatal("a command of an aborted transaction ran")
	}
	for _, bad := range [][]string{{}, {"not json"}, {"[]"}, {`["SET", {"a": 1}]`}, {`["MULTI"]`}, {`["WATCH", "k"]`}} {
		fails(t, s, "multi_exec", args{"commands": bad}, sdk.KindInvalidArgument, "")
	}
	// The session is still usable.
	call[map[string]bool](t, s, "ping", args{})
}

// TestSessionIsOneConnection checks that every call of a session runs on
// its own connection, and that two sessions have two, in the configured
// database.
func TestSessionIsOneConnection(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	s := openSessions(t, m, 2, map[string]any{"database": 2})
	id := func(inst sdk.Instance) float64 {
		return call[sdk.KVCommandResult](t, inst, "command", args{"args": []string{"CLIENT", "ID"}}).Result.(float64)
	}
	a1, a2, b := id(s[0]), id(s[0]), id(s[1])
	if a1 != a2 {
		t.Fatalf("one session used connections %v and %v", a1, a2)
	}
	if a1 == b {
		t.Fatalf("two sessions share connection %v", a1)
	}
	call[sdk.KVSetResult](t, s[0], "set", args{"key": p + "db", "value": "2"})
	db2 := clientFor(t, redisAddr(t), 2)
	defer db2.Del(context.Background(), p+"db")
	if got := db2.Get(t.Context(), p+"db").Val(); got != "2" {
		t.Fatalf("database 2 holds %q", got)
	}
	// The kv operations work on the session too.
	if r := call[sdk.KVIncrResult](t, s[1], "incr", args{"key": p + "n", "by": 3}); r.Value != 3 {
		t.Fatalf("incr on a session: %+v", r)
	}
	db2.Del(t.Context(), p+"n")
}

// TestSessionCloseDuringACall closes a session while a blocking command runs
// on it: Close returns at once and the call ends.
func TestSessionCloseDuringACall(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	res := configure(t, redis.SessionTypeName, m.config)
	s, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := invoke(t, s, "command", args{"args": []string{"BLPOP", p + "never", "2"}})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("Close waited %v for the call", took)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end")
	}
	if _, err := invoke(t, s, "ping", args{}); err == nil {
		t.Fatal("a closed session answered")
	}
}

// TestSessionPoolSizeBoundsSessions checks that pool_size caps the sessions
// open at once, and that one more waits, then fails as resource_exhausted.
func TestSessionPoolSizeBoundsSessions(t *testing.T) {
	m := standalone(t)
	res := configure(t, redis.SessionTypeName, m.with(map[string]any{"pool_size": 1, "read_timeout": "200ms"}))
	first, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = res.Open(t.Context())
	wantKind(t, err, sdk.KindResourceExhausted, "")
	if err := first.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	open(t, res)
}

// TestSessionInterruptedTransaction lets a multi_exec time out behind a
// slow network (toxiproxy): the call fails with kind timeout, and Reset
// fails too, so that the host replaces the session instead of lending a
// connection in an unknown state. The call's second has room for the
// command to be on the wire on a loaded machine before it ends: one that
// ended before the command left would leave a clean connection.
func TestSessionInterruptedTransaction(t *testing.T) {
	m := standalone(t)
	p := prefix(t, m.admin)
	proxy := faults.Toxiproxy(t).Proxy(t, redisAddr(t))
	s := openSessions(t, mode{config: map[string]any{"addresses": []string{proxy.Addr()}}}, 1, nil)[0]
	call[map[string]bool](t, s, "watch", args{"keys": []string{p + "k"}})

	toxic := proxy.AddLatency(t, 2*time.Second, 0)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	raw, _ := json.Marshal(args{"commands": cmds([]any{"SET", p + "k", "v"})})
	_, err := do(ctx, s, "multi_exec", raw)
	wantKind(t, err, sdk.KindTimeout, "")
	proxy.Remove(t, toxic)

	err = s.(sdk.Resetter).Reset(t.Context())
	wantKind(t, err, sdk.KindUnavailable, "")
}
