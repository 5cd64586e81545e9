package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The arguments and results of the session's own operations.
type (
	// watchArgs are the arguments of watch.
	watchArgs struct {
		Keys []string `nebula:"keys,required" doc:"The keys to watch, at least one: multi_exec fails with a conflict if any of them changes first."`
	}
	// unwatchArgs are the arguments of unwatch: none.
	unwatchArgs struct{}
	// multiExecArgs are the arguments of multi_exec.
	multiExecArgs struct {
		Commands []string `nebula:"commands,required" doc:"The commands of the transaction, in order, each a JSON array of its words, e.g. [\"[\\\"SET\\\",\\\"k\\\",\\\"v\\\"]\", \"[\\\"INCR\\\",\\\"n\\\"]\"]; numbers are allowed as words."`
	}
	// multiExecResult is the result of multi_exec: one reply per command,
	// as the command operation converts replies; a command that failed
	// when it ran has {"error": "..."} in its place.
	multiExecResult struct {
		Results []any `json:"results"`
	}
)

// Validate refuses an empty list of keys, and empty keys.
func (a watchArgs) Validate() error { return sdk.KVKeysArgs{Keys: a.Keys}.Validate() }

// sessionResource is a configured redis_session resource: one go-redis
// client whose pool lends each instance a connection of its own.
type sessionResource struct {
	*base
	client *goredis.Client
}

func newSessionResource(b *base) *sessionResource {
	var client *goredis.Client
	if b.cfg.Mode == ModeSentinel {
		client = goredis.NewFailoverClient(b.opts.Failover())
	} else {
		client = goredis.NewClient(b.opts.Simple())
	}
	return &sessionResource{base: b, client: client}
}

// Open takes a connection of its own from the pool and sends PING on it.
// The connection is discarded, not returned to the pool, when the instance
// closes, so no state it carried reaches another instance.
func (r *sessionResource) Open(ctx context.Context) (sdk.Instance, error) {
	conn := r.client.EphemeralConn()
	if err := conn.Ping(ctx).Err(); err != nil {
		_ = conn.Close()
		return nil, r.openError(ctx, err)
	}
	in := &sessionInstance{b: r.base, conn: conn}
	in.ops = kvOps{b: r.base, c: conn}
	return in, nil
}

// Close closes the client and its pool.
func (r *sessionResource) Close(context.Context) error {
	if err := r.client.Close(); err != nil && err != goredis.ErrClosed {
		return r.wrap(context.Background(), err, "close")
	}
	return nil
}

// sessionInstance is one connection. The host leases it to one caller at a
// time; its mutex serializes calls from the caller's goroutines, since a
// go-redis Conn is not safe for concurrent use.
type sessionInstance struct {
	b    *base
	conn *goredis.Conn
	ops  kvOps

	mu sync.Mutex
	// watching is set between a successful watch and the next unwatch,
	// multi_exec or reset.
	watching bool
	// dirty is set while a multi_exec has sent MULTI and not yet read the
	// reply of EXEC.
	dirty  bool
	closed atomic.Bool
}

// Check sends PING on the connection.
func (in *sessionInstance) Check(ctx context.Context) error {
	end, err := in.begin(ctx, "check")
	if err != nil {
		return err
	}
	defer end()
	return in.b.wrap(ctx, in.conn.Ping(ctx).Err(), "check")
}

// begin holds the connection for the call: the host leases the session to
// one caller, whose goroutines may still call at once.
func (in *sessionInstance) begin(ctx context.Context, op string) (func(), error) {
	if err := in.b.usable(ctx, &in.closed, op); err != nil {
		return nil, err
	}
	in.mu.Lock()
	return in.mu.Unlock, nil
}

func (in *sessionInstance) kv() *kvOps { return &in.ops }

func (in *sessionInstance) watch(ctx context.Context, args watchArgs) (okResult, error) {
	// Set first: a WATCH whose reply was lost may still have taken effect.
	in.watching = true
	if err := in.conn.Process(ctx, goredis.NewStatusCmd(ctx, keyArgs("watch", args.Keys)...)); err != nil {
		return okResult{}, in.b.wrap(ctx, err, opWatch)
	}
	return okResult{OK: true}, nil
}

func (in *sessionInstance) unwatch(ctx context.Context, _ unwatchArgs) (okResult, error) {
	if err := in.conn.Process(ctx, goredis.NewStatusCmd(ctx, "unwatch")); err != nil {
		return okResult{}, in.b.wrap(ctx, err, opUnwatch)
	}
	in.watching = false
	return okResult{OK: true}, nil
}

// parseCommands decodes the commands of multi_exec: each a JSON array of
// strings and numbers.
func parseCommands(list []string) ([][]any, error) {
	if len(list) == 0 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "commands must hold at least one command")
	}
	out := make([][]any, len(list))
	for i, raw := range list {
		var words []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &words); err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "commands[%d] must be a JSON array of strings, such as [\"SET\",\"k\",\"v\"]: %v", i, err)
		}
		if len(words) == 0 {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "commands[%d] is empty", i)
		}
		args := make([]any, len(words))
		strs := make([]string, len(words))
		for j, w := range words {
			var s string
			if err := json.Unmarshal(w, &s); err != nil {
				var n json.Number
				if err := json.Unmarshal(w, &n); err != nil {
					return nil, sdk.Errorf(sdk.KindInvalidArgument, "commands[%d][%d] must be a string or a number", i, j)
				}
				s = n.String()
			}
			args[j], strs[j] = s, s
		}
		if err := checkCommand(strs); err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "commands[%d]: %v", i, err)
		}
		out[i] = args
	}
	return out, nil
}

func (in *sessionInstance) multiExec(ctx context.Context, args multiExecArgs) (multiExecResult, error) {
	cmds, err := parseCommands(args.Commands)
	if err != nil {
		return multiExecResult{}, err
	}
	// EXEC ends the WATCH, whatever its outcome.
	in.watching, in.dirty = false, true
	queued, err := in.conn.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, c := range cmds {
			_ = p.Process(ctx, goredis.NewCmd(ctx, c...))
		}
		return nil
	})
	var re goredis.Error
	if err == nil || errors.Is(err, goredis.TxFailedErr) || (errors.As(err, &re) && !isClientError(err)) {
		// The server answered EXEC (or refused the transaction): no
		// MULTI is left open. After a network error or a timeout it may
		// be, if the connection is still usable; Reset then discards it.
		in.dirty = false
	}
	res := multiExecResult{Results: make([]any, len(queued))}
	for i, c := range queued {
		switch err := c.Err(); {
		case err == nil:
			if cmd, ok := c.(*goredis.Cmd); ok {
				res.Results[i] = jsonValue(cmd.Val())
			}
		case err == goredis.Nil:
			res.Results[i] = nil
		default:
			res.Results[i] = map[string]any{"error": sdk.RedactContext(ctx, err, in.b.secrets...).Error()}
		}
	}
	if err == nil || err == goredis.Nil {
		return res, nil
	}
	if errors.As(err, &re) && strings.HasPrefix(err.Error(), "EXECABORT") {
		// A command was refused while queuing: nothing ran. Name it.
		for i, c := range queued {
			if qerr := c.Err(); qerr != nil && !strings.HasPrefix(qerr.Error(), "EXECABORT") {
				return multiExecResult{}, in.b.wrap(ctx, qerr, opMultiExec+": commands["+strconv.Itoa(i)+"] was refused, so nothing ran")
			}
		}
		return multiExecResult{}, in.b.wrap(ctx, err, opMultiExec)
	}
	if errors.As(err, &re) && !isClientError(err) {
		// EXEC ran; some commands failed as they ran. Their errors are in
		// the results, and the others took effect.
		return res, nil
	}
	return multiExecResult{}, in.b.wrap(ctx, err, opMultiExec)
}

// Reset makes the connection clean for the next lease: DISCARD if a
// transaction was left open, and UNWATCH if keys may be watched (the
// command operation refuses WATCH, so the session knows).
func (in *sessionInstance) Reset(ctx context.Context) error {
	end, err := in.begin(ctx, "reset")
	if err != nil {
		return err
	}
	defer end()
	if in.dirty {
		// A multi_exec failed without an answer to EXEC. go-redis has
		// most likely given the connection up (then DISCARD fails, and
		// so does Reset, and the host replaces the session); if not,
		// DISCARD ends the transaction and the watch.
		err := in.conn.Process(ctx, goredis.NewStatusCmd(ctx, "discard"))
		if err != nil && !strings.Contains(err.Error(), "without MULTI") {
			return in.b.wrap(ctx, err, "reset: discard")
		}
		in.dirty = false
	}
	if !in.watching {
		return nil
	}
	if err := in.conn.Process(ctx, goredis.NewStatusCmd(ctx, "unwatch")); err != nil {
		return in.b.wrap(ctx, err, "reset: unwatch")
	}
	in.watching = false
	return nil
}

// Close discards the connection. A call in flight fails or finishes; Close
// does not wait for it.
func (in *sessionInstance) Close(context.Context) error {
	if in.closed.Swap(true) {
		return nil
	}
	if err := in.conn.Close(); err != nil && err != goredis.ErrClosed {
		return in.b.wrap(context.Background(), err, "close")
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Resource = (*sessionResource)(nil)
	_ instance     = (*sessionInstance)(nil)
	_ sdk.Resetter = (*sessionInstance)(nil)
)
