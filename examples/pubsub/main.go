// Command pubsub publishes messages on a Redis channel and receives them
// through a host embedded in the program: a subscriber reads the host's
// streaming subscribe operation on a goroutine of its own, a publisher
// calls publish, the messages arrive in the order they were published,
// and stopping the subscriber ends its stream, its goroutine and its
// lease.
//
// Run it from the repository root, after make build, against the Redis
// that REDIS_ADDR names, by default 127.0.0.1:6379 (scripts/testenv up
// starts one there):
//
//	go run ./examples/pubsub
//	go run ./examples/pubsub -channel payments -count 3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/pubsub/pubsub.hcl", "configuration with one redis resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	channel := flag.String("channel", "orders", "the channel to publish on and subscribe to")
	count := flag.Int("count", 5, "how many messages to publish")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, *channel, *count, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "pubsub: %v\n", err)
		}
		os.Exit(1)
	}
}

// waitFor bounds each wait of the program: for the subscription to take
// effect, for a message, for the subscription to end.
const waitFor = 10 * time.Second

func run(ctx context.Context, configPath, pluginDir, channel string, count int, out io.Writer) error {
	if channel == "" || count < 1 {
		return fmt.Errorf("want a channel and a count of at least 1, got %q and %d", channel, count)
	}
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "redis" {
		return fmt.Errorf("%s must declare one redis resource", configPath)
	}
	resource := cfg.Resources[0].ID()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(pluginDir))
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			fmt.Fprintln(os.Stderr, "pubsub: close:", err)
		}
	}()

	// Redis delivers a message only to the subscribers subscribed when it
	// is published: wait until the server counts this one.
	before, err := subscribers(ctx, h, resource, channel)
	if err != nil {
		return err
	}
	sub, err := Subscribe(ctx, h, resource, channel)
	if err != nil {
		return err
	}
	defer sub.Stop() // a second Stop does nothing
	if _, err := waitSubscribers(ctx, h, resource, channel, func(n int) bool { return n > before }); err != nil {
		return errors.Join(err, sub.Stop())
	}
	fmt.Fprintf(out, "subscribed to %s on %s\n", channel, resource)

	// The publisher: one publish call after the other, each a one-shot
	// lease of its own.
	reached := map[int]int{} // subscribers reached -> messages
	for i := 1; i <= count; i++ {
		raw, err := h.Invoke(ctx, resource, "publish", map[string]any{
			"channel": channel, "message": fmt.Sprintf("order %d paid", i),
		}, host.ForWorkflow("pubsub-example"), host.ForStep("publish"))
		if err != nil {
			return err
		}
		var res sdk.KVCountResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
		reached[int(res.Count)]++
	}
	for _, n := range slices.Sorted(maps.Keys(reached)) {
		fmt.Fprintf(out, "published %d message(s) on %s, each to %d subscriber(s)\n", reached[n], channel, n)
	}

	// The subscriber's messages, which must come in the order published.
	fmt.Fprintln(out, "received, in order:")
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for i := 1; i <= count; {
		select {
		case ev, ok := <-sub.Messages:
			if !ok {
				return fmt.Errorf("the subscription ended after %d of %d messages: %w", i-1, count, sub.Stop())
			}
			if ev.Gap {
				// The connection to Redis was lost and subscribe
				// resubscribed: what was published meanwhile is lost.
				return fmt.Errorf("messages lost: %s since %s", ev.Reason, ev.Since.Format(time.RFC3339Nano))
			}
			if want := fmt.Sprintf("order %d paid", i); ev.Payload != want {
				return fmt.Errorf("message %d is %q; want %q", i, ev.Payload, want)
			}
			fmt.Fprintf(out, "  %s: %s\n", ev.Channel, ev.Payload)
			i++
		case <-timer.C:
			return fmt.Errorf("received %d of %d messages within %v", i-1, count, waitFor)
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	// A clean stop: the stream ends, the goroutine returns, the lease is
	// released, and Redis no longer counts the subscriber.
	if err := sub.Stop(); err != nil {
		return err
	}
	left, err := waitSubscribers(ctx, h, resource, channel, func(n int) bool { return n <= before })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "the subscriber stopped: its stream, goroutine and lease are done, and Redis counts %d subscriber(s) on %s\n", left, channel)
	return nil
}

// Subscriber receives the messages of channels through the subscribe
// operation of a redis resource, on a goroutine of its own, until Stop.
type Subscriber struct {
	// Messages delivers each message, in the order Redis sent them. It is
	// closed when the subscription ends.
	Messages <-chan sdk.PubSubEvent

	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the subscription ended, set before done is closed
}

// Subscribe acquires a lease of resource, starts its subscribe operation
// on channels, and returns once the host has checked the arguments. The
// subscription runs until Stop or until ctx ends.
func Subscribe(ctx context.Context, h *host.Host, resource string, channels ...string) (*Subscriber, error) {
	lease, err := h.Acquire(ctx, resource, host.ForWorkflow("pubsub-example"), host.ForStep("subscribe"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r, err := lease.OpenReader(ctx, "subscribe", map[string]any{"channels": channels})
	if err != nil {
		cancel()
		lease.Release()
		return nil, err
	}
	msgs := make(chan sdk.PubSubEvent)
	s := &Subscriber{Messages: msgs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer lease.Release() // after the stream is closed
		defer close(msgs)
		s.err = receive(ctx, r, msgs)
		// Close stops the operation if it still runs and waits for it.
		// Once Stop canceled ctx, the operation's error is the
		// cancelation, which is no failure.
		if err := r.Close(); err != nil && s.err == nil && ctx.Err() == nil {
			s.err = err
		}
	}()
	return s, nil
}

// receive decodes the stream's events, one JSON object a line, and sends
// them on msgs until the stream or ctx ends. It returns nil when ctx
// ended it.
func receive(ctx context.Context, r io.Reader, msgs chan<- sdk.PubSubEvent) error {
	dec := json.NewDecoder(r)
	for {
		var ev sdk.PubSubEvent
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return errors.New("the subscribe stream ended")
			}
			return fmt.Errorf("reading the subscribe stream: %w", err)
		}
		select {
		case msgs <- ev:
		case <-ctx.Done():
			return nil
		}
	}
}

// Stop ends the subscription and waits until its goroutine has returned
// and its lease is released. It returns why the subscription ended, if
// it ended by itself with an error. It may be called more than once.
func (s *Subscriber) Stop() error {
	s.cancel()
	<-s.done
	return s.err
}

// subscribers returns how many subscribers the server counts on channel
// (PUBSUB NUMSUB, through the command operation).
func subscribers(ctx context.Context, h *host.Host, resource, channel string) (int, error) {
	res, err := host.Call[sdk.KVCommandResult](ctx, h, resource, "command",
		map[string]any{"args": []string{"PUBSUB", "NUMSUB", channel}}, host.ForWorkflow("pubsub-example"), host.ForStep("numsub"))
	if err != nil {
		return 0, err
	}
	// The reply is [channel, count].
	if reply, ok := res.Result.([]any); ok && len(reply) == 2 {
		if n, ok := reply[1].(float64); ok {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("PUBSUB NUMSUB %s: unexpected reply %v", channel, res.Result)
}

// waitSubscribers waits until done holds for the number of subscribers
// the server counts on channel, for at most waitFor, and returns the
// number.
func waitSubscribers(ctx context.Context, h *host.Host, resource, channel string, done func(int) bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := subscribers(ctx, h, resource, channel)
		if err != nil {
			return 0, err
		}
		if done(n) {
			return n, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the subscribers on %s (now %d): %w", channel, n, ctx.Err())
		}
	}
}
