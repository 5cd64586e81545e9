package redis

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// Timing of a subscription. They are variables so that tests can shorten
// them.
var (
	// pubsubPingEvery is how long a subscription may receive nothing
	// before it sends PING, and then how long the reply may take before
	// the connection counts as lost (a peer that vanished without closing
	// the connection sends nothing at all).
	pubsubPingEvery = 15 * time.Second
	// pubsubRetryMin and pubsubRetryMax bound the pause between attempts
	// to reconnect while the server cannot be reached.
	pubsubRetryMin = 100 * time.Millisecond
	pubsubRetryMax = 5 * time.Second
)

// subscriber runs one subscribe call.
type subscriber struct {
	b        *base
	client   goredis.UniversalClient
	channels []string
	patterns []string
	out      io.Writer
	// pingEvery, retryMin and retryMax are the timing, fixed at the start.
	pingEvery, retryMin, retryMax time.Duration

	mu     sync.Mutex
	ps     *goredis.PubSub
	closed bool

	// lastRecv is when the connection last delivered anything: a message,
	// a subscription confirmation or a PING reply.
	lastRecv time.Time
	// pingSent is set while a PING is unanswered.
	pingSent bool
	// lost is set from the loss of the connection until the new one has
	// confirmed every subscription; the gap event is written then.
	lost *sdk.PubSubEvent
	// pending are the messages that arrived on the new connection before
	// its last confirmation; they follow the gap event.
	pending []sdk.PubSubEvent
}

// subscribe streams the messages of the channels and patterns to out, one
// JSON line each, until ctx ends. go-redis reconnects and resubscribes by
// itself after a lost connection; subscribe notices the loss (the error
// Receive returns, or a PING left unanswered), and once the new connection
// has confirmed every subscription writes a gap event before the next
// message. It has no result.
func (in *kvInstance) subscribe(ctx context.Context, args sdk.SubscribeArgs, _ io.Reader, out io.Writer) (any, error) {
	if err := in.b.usable(ctx, &in.closed, opSubscribe); err != nil {
		return nil, err
	}
	s := &subscriber{b: in.b, client: in.client, out: out,
		pingEvery: pubsubPingEvery, retryMin: pubsubRetryMin, retryMax: pubsubRetryMax}
	var err error
	if s.channels, err = names("channels", args.Channels); err != nil {
		return nil, err
	}
	if s.patterns, err = names("patterns", args.Patterns); err != nil {
		return nil, err
	}
	if len(s.channels)+len(s.patterns) == 0 {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "subscribe needs at least one channel or pattern")
	}
	if !in.track(s) {
		return nil, sdk.Errorf(sdk.KindFailedPrecondition, "%s subscribe: the instance is closed", in.b.typ)
	}
	defer in.untrack(s)
	if err := s.open(ctx); err != nil {
		s.close()
		return nil, in.b.wrap(ctx, err, opSubscribe)
	}
	return s.run(ctx, in.closed.Load)
}

// track registers a running subscribe, so that Close can end it; it fails
// once the instance is closed.
func (in *kvInstance) track(s *subscriber) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed.Load() {
		return false
	}
	if in.subs == nil {
		in.subs = map[*subscriber]struct{}{}
	}
	in.subs[s] = struct{}{}
	return true
}

func (in *kvInstance) untrack(s *subscriber) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.subs, s)
}

// names checks a list of channels or patterns and drops duplicates.
func names(what string, list []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for i, n := range list {
		if n == "" {
			return nil, sdk.Errorf(sdk.KindInvalidArgument, "%s[%d] must not be empty", what, i)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// open starts a PubSub and sends SUBSCRIBE and PSUBSCRIBE. The PubSub is
// kept even when sending fails: it knows its channels and reconnects on the
// next Receive.
func (s *subscriber) open(ctx context.Context) error {
	ps := s.client.Subscribe(ctx) // no channels yet: no connection yet
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ps.Close()
		return context.Canceled
	}
	s.ps = ps
	s.mu.Unlock()
	var err error
	if len(s.channels) > 0 {
		err = ps.Subscribe(ctx, s.channels...)
	}
	if len(s.patterns) > 0 {
		err = errors.Join(err, ps.PSubscribe(ctx, s.patterns...))
	}
	s.lastRecv = time.Now()
	return err
}

func (s *subscriber) current() *goredis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// close closes the PubSub, which ends a Receive in progress. It is called
// when the call's context ends, from another goroutine.
func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ps != nil {
		_ = s.ps.Close()
	}
}

// reopen replaces a PubSub whose connection stopped answering.
func (s *subscriber) reopen(ctx context.Context) {
	s.mu.Lock()
	old := s.ps
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	_ = s.open(ctx) // a failure shows as an error of the next Receive
}

// run receives until ctx ends, or closed reports that the instance was
// closed.
func (s *subscriber) run(ctx context.Context, closed func() bool) (any, error) {
	stop := context.AfterFunc(ctx, s.close)
	defer func() {
		stop()
		s.close()
	}()
	total := len(s.channels) + len(s.patterns)
	retry := s.retryMin
	for {
		ps := s.current()
		msg, err := ps.ReceiveTimeout(ctx, s.pingEvery)
		if ctx.Err() != nil {
			return nil, nil
		}
		if closed() {
			return nil, sdk.Errorf(sdk.KindUnavailable, "%s subscribe: the instance was closed", s.b.typ)
		}
		now := time.Now()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if s.pingSent {
					s.loss("no reply to PING within " + s.pingEvery.String())
					s.reopen(ctx)
					continue
				}
				s.pingSent = true
				if err := ps.Ping(ctx); err != nil {
					s.loss("connection lost: " + sdk.Redact(err, s.b.secrets...).Error())
				}
				continue
			}
			// The connection is gone; go-redis has already tried to
			// reconnect and resubscribe, and tries again on the next
			// Receive if that failed.
			s.loss("connection lost: " + sdk.Redact(err, s.b.secrets...).Error())
			if !sleep(ctx, retry) {
				return nil, nil
			}
			retry = min(2*retry, s.retryMax)
			continue
		}
		retry = s.retryMin
		s.lastRecv, s.pingSent = now, false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if s.lost != nil && m.Count >= total {
				// Every channel and pattern is subscribed again.
				events := append([]sdk.PubSubEvent{*s.lost}, s.pending...)
				s.lost, s.pending = nil, nil
				for _, ev := range events {
					if err := s.write(ev); err != nil {
						return s.writeError(ctx, err)
					}
				}
			}
		case *goredis.Message:
			ev := sdk.PubSubEvent{Channel: m.Channel, Pattern: m.Pattern, Payload: m.Payload}
			if s.lost != nil {
				s.pending = append(s.pending, ev)
				continue
			}
			if err := s.write(ev); err != nil {
				return s.writeError(ctx, err)
			}
		}
	}
}

// loss records that the connection was lost, once per outage: the gap
// starts at the last moment the old connection is known to have delivered.
func (s *subscriber) loss(reason string) {
	s.pingSent = false
	if s.lost != nil {
		return
	}
	s.lost = &sdk.PubSubEvent{Gap: true, Since: s.lastRecv.UTC(), Reason: reason}
	s.pending = nil
}

func (s *subscriber) write(ev sdk.PubSubEvent) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = s.out.Write(append(line, '\n'))
	return err
}

func (s *subscriber) writeError(ctx context.Context, err error) (any, error) {
	if ctx.Err() != nil {
		return nil, nil
	}
	return nil, sdk.WrapError(sdk.KindCanceled, err, s.b.typ+" subscribe: writing to the caller")
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
