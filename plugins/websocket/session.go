package websocket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// closeGrace bounds the close handshake of Close: past it the connection
// is dropped without waiting for the server's close frame.
const closeGrace = time.Second

// Session is one websocket instance: a connection kept up across drops
// and the buffer of what it received. Its goroutine run (and run's pinger
// for each connection) is started by newSession and joined by Close.
type Session struct {
	r *resource
	// ctx lives until Close; reads on the connection and reconnection
	// attempts use it.
	ctx    context.Context
	cancel context.CancelFunc
	// done is closed when run has returned.
	done chan struct{}

	// receiving is set while a receive runs.
	receiving atomic.Bool

	// mu guards the fields below. It is never held across I/O.
	mu sync.Mutex
	// conn is the current connection; nil while the session reconnects,
	// has failed or is closed.
	conn *ws.Conn
	// failed is why the session gave up reconnecting; the session is
	// then unusable.
	failed error
	closed bool
	// changed is closed, and replaced, whenever conn, failed, closed or
	// items change: waiters take it under mu and wait for it outside.
	changed chan struct{}
	// items are the received messages and the events, oldest first.
	items []item
	// messages counts the messages among items.
	messages int
	// onConn counts the messages received on the current connection.
	onConn int
	// droppedTotal counts the messages dropped from the full buffer since
	// the session was opened or last reset.
	droppedTotal int
}

// item is a message or an event of the buffer.
type item struct {
	msg   *Line // a message; nil for an event
	event *Line
}

// Line is one line receive writes: a message or an event.
type Line struct {
	// Type is "message", or the event: "reconnected", "dropped" or
	// "message_too_big".
	Type string `json:"type"`
	// Text or BinaryBase64 is a message's content.
	Text         *string `json:"text,omitempty"`
	BinaryBase64 *string `json:"binary_base64,omitempty"`

	// Attempts (reconnected) is how many dials the reconnection took.
	Attempts int `json:"attempts,omitempty"`
	// DownMS (reconnected) is how long the session had no connection,
	// in milliseconds.
	DownMS *int64 `json:"down_ms,omitempty"`
	// Lost (reconnected) says what may have been lost while down:
	// "unknown", since WebSocket has no sequence numbers; messages the
	// server sent between the last one before the drop and the first
	// one after it never arrived. A caller with sequence numbers of its
	// own finds the gap between those two.
	Lost string `json:"lost,omitempty"`
	// ReceivedBefore (reconnected) counts the messages received on the
	// connection that dropped.
	ReceivedBefore *int `json:"received_before,omitempty"`
	// Dropped (reconnected) counts the messages dropped from the full
	// buffer since the lease began (Reset).
	Dropped *int `json:"dropped,omitempty"`
	// Reason (reconnected) says why the connection dropped.
	Reason string `json:"reason,omitempty"`
	// CloseCode (reconnected) is the status of the server's close frame,
	// when it sent one.
	CloseCode int `json:"close_code,omitempty"`
	// Count (dropped) counts the messages dropped here, oldest first,
	// because the buffer was full.
	Count int `json:"count,omitempty"`
	// ReadLimit (message_too_big) is the limit the message exceeded.
	ReadLimit int64 `json:"read_limit,omitempty"`
}

// The line types.
const (
	LineMessage       = "message"
	LineReconnected   = "reconnected"
	LineDropped       = "dropped"
	LineMessageTooBig = "message_too_big"
)

func newSession(r *resource, conn *ws.Conn) *Session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{r: r, ctx: ctx, cancel: cancel, done: make(chan struct{}), conn: conn, changed: make(chan struct{})}
	go s.run(conn)
	return s
}

// changedLocked wakes every waiter.
func (s *Session) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// run reads the connection until it drops, then reconnects, until the
// session is closed or gives up.
func (s *Session) run(conn *ws.Conn) {
	defer close(s.done)
	for {
		pingFailed, err := s.serve(conn)
		down := time.Now()
		reason, code := dropReason(err, pingFailed, s.r)
		s.mu.Lock()
		if s.closed || s.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		s.conn = nil
		before := s.onConn
		s.onConn = 0
		if errors.Is(err, ws.ErrMessageTooBig) {
			s.pushEventLocked(&Line{Type: LineMessageTooBig, ReadLimit: s.r.cfg.ReadLimit})
		}
		s.changedLocked()
		s.mu.Unlock()

		next, attempts, err := s.reconnect(down, before > 0)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			s.failed = &sdk.Error{Kind: sdk.KindOf(err), Code: codeOf(err),
				Message: fmt.Sprintf("websocket %s: the session is gone: the connection dropped (%s) and could not be reopened", s.r.name, reason),
				Err:     err}
			s.changedLocked()
			s.mu.Unlock()
			return
		}
		downMS := time.Since(down).Milliseconds()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = next.CloseNow()
			return
		}
		dropped := s.droppedTotal
		s.pushEventLocked(&Line{Type: LineReconnected, Attempts: attempts, DownMS: &downMS, Lost: "unknown",
			ReceivedBefore: &before, Dropped: &dropped, Reason: reason, CloseCode: code})
		s.conn = next
		s.changedLocked()
		s.mu.Unlock()
		conn = next
	}
}

// serve reads conn into the buffer until it fails, with a pinger beside
// it; it returns whether a ping went unanswered, and the read's error.
func (s *Session) serve(conn *ws.Conn) (bool, error) {
	var pingFailed atomic.Bool
	pctx, stop := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	if s.r.cfg.PingInterval > 0 {
		wg.Go(func() {
			if !s.pinger(pctx, conn) {
				pingFailed.Store(true)
				_ = conn.CloseNow()
			}
		})
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	for {
		typ, data, err := conn.Read(s.ctx)
		if err != nil {
			_ = conn.CloseNow()
			stop()
			wg.Wait()
			return pingFailed.Load(), err
		}
		s.add(typ, data)
	}
}

// pinger pings conn every ping_interval; it returns false when a pong
// did not come back within ping_timeout, true when ctx ends.
func (s *Session) pinger(ctx context.Context, conn *ws.Conn) bool {
	t := time.NewTicker(s.r.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.r.cfg.PingTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			return ctx.Err() != nil
		}
	}
}

// dropReason describes why a connection dropped, and the close frame's
// status when the server sent one. It quotes no secret.
func dropReason(err error, pingFailed bool, r *resource) (string, int) {
	if pingFailed {
		return fmt.Sprintf("no pong within ping_timeout (%v)", r.cfg.PingTimeout), 0
	}
	if errors.Is(err, ws.ErrMessageTooBig) {
		return fmt.Sprintf("a message exceeded read_limit (%d bytes)", r.cfg.ReadLimit), int(ws.StatusMessageTooBig)
	}
	var ce ws.CloseError
	if errors.As(err, &ce) {
		reason := fmt.Sprintf("the server closed the connection with status %d (%s)", int(ce.Code), ce.Code)
		if ce.Reason != "" {
			reason += ": " + sdk.Redact(errors.New(ce.Reason), r.secrets...).Error()
		}
		return reason, int(ce.Code)
	}
	return "connection lost: " + sdk.Redact(err, r.secrets...).Error(), 0
}

// reconnect dials until it succeeds, the session closes, or
// max_reconnect_attempts or reconnect_budget (from down) runs out. The
// first attempt is immediate after a connection that delivered messages,
// and waits reconnect_min otherwise, so that a server that accepts and
// drops at once is not dialed in a tight loop.
func (s *Session) reconnect(down time.Time, delivered bool) (*ws.Conn, int, error) {
	cfg := s.r.cfg
	b := &backoff.ExponentialBackOff{
		InitialInterval: cfg.ReconnectMin, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: cfg.ReconnectMax,
	}
	b.Reset()
	var deadline time.Time
	if cfg.ReconnectBudget > 0 {
		deadline = down.Add(cfg.ReconnectBudget)
	}
	wait := time.Duration(0)
	if !delivered {
		wait = b.NextBackOff()
	}
	var last error
	for attempt := 1; ; attempt++ {
		if wait > 0 {
			if !deadline.IsZero() && time.Now().Add(wait).After(deadline) {
				return nil, attempt - 1, s.giveUp(attempt-1, down, last)
			}
			if !sleep(s.ctx, wait) {
				return nil, attempt - 1, s.ctx.Err()
			}
		}
		conn, err := s.r.dial(s.ctx, deadline)
		if err == nil {
			return conn, attempt, nil
		}
		if s.ctx.Err() != nil {
			return nil, attempt, s.ctx.Err()
		}
		last = err
		if permanent(err) {
			return nil, attempt, err
		}
		if cfg.MaxReconnectAttempts > 0 && attempt >= cfg.MaxReconnectAttempts {
			return nil, attempt, s.giveUp(attempt, down, last)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return nil, attempt, s.giveUp(attempt, down, last)
		}
		wait = b.NextBackOff()
	}
}

// giveUp is the error of a session that stopped reconnecting.
func (s *Session) giveUp(attempts int, down time.Time, last error) error {
	msg := fmt.Sprintf("%d attempt(s) to reconnect in %v failed (max_reconnect_attempts %d, reconnect_budget %v)",
		attempts, time.Since(down).Round(time.Millisecond), s.r.cfg.MaxReconnectAttempts, s.r.cfg.ReconnectBudget)
	return &sdk.Error{Kind: sdk.KindUnavailable, Message: msg, Err: last}
}

// codeOf is the code of the *sdk.Error in err's chain, or "".
func codeOf(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
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

// add puts a received message in the buffer, dropping the oldest
// message when it is full.
func (s *Session) add(typ ws.MessageType, data []byte) {
	l := &Line{Type: LineMessage}
	if typ == ws.MessageBinary {
		b := encodeBase64(data)
		l.BinaryBase64 = &b
	} else {
		t := string(data)
		l.Text = &t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onConn++
	s.items = append(s.items, item{msg: l})
	s.messages++
	if s.messages > s.r.cfg.Buffer {
		s.evictLocked()
	}
	s.changedLocked()
}

// evictLocked drops the oldest message, leaving a dropped event (or
// counting it in the one already there) where it was. Events before it
// stay.
func (s *Session) evictLocked() {
	i := 0
	for s.items[i].msg == nil {
		i++
	}
	s.messages--
	s.droppedTotal++
	if i > 0 && s.items[i-1].event.Type == LineDropped {
		s.items[i-1].event.Count++
		// Shift the events before i one place on, over the message.
		copy(s.items[1:i+1], s.items[:i])
		s.items[0] = item{}
		s.items = s.items[1:]
		return
	}
	s.items[i] = item{event: &Line{Type: LineDropped, Count: 1}}
}

func (s *Session) pushEventLocked(l *Line) {
	s.items = append(s.items, item{event: l})
}

// waitConn returns the current connection, waiting for a reconnection in
// progress until ctx ends; with wait false it fails at once, unavailable,
// while the session reconnects.
func (s *Session) waitConn(ctx context.Context, what string, wait bool) (*ws.Conn, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, sdk.WrapError(sdk.KindOf(err), err, "websocket "+s.r.name+" "+what)
		}
		s.mu.Lock()
		conn, failed, closed, ch := s.conn, s.failed, s.closed, s.changed
		s.mu.Unlock()
		switch {
		case closed:
			return nil, sdk.Errorf(sdk.KindFailedPrecondition, "websocket %s %s: the session is closed", s.r.name, what)
		case failed != nil:
			return nil, failed
		case conn != nil:
			return conn, nil
		case !wait:
			return nil, sdk.Errorf(sdk.KindUnavailable, "websocket %s %s: the connection dropped and the session is reconnecting", s.r.name, what)
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// Check reports whether the session is up: it pings; a session that is
// reconnecting is unavailable until it has reconnected.
func (s *Session) Check(ctx context.Context) error {
	_, err := s.roundTrip(ctx, "check")
	return err
}

// roundTrip pings the server and returns the latency.
func (s *Session) roundTrip(ctx context.Context, what string) (time.Duration, error) {
	conn, err := s.waitConn(ctx, what, false)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := conn.Ping(ctx); err != nil {
		return 0, s.wrap(ctx, err, what)
	}
	return time.Since(start), nil
}

// Reset empties the buffer, so that the next leaseholder reads only what
// arrives from now on; a session that gave up fails, and is closed by the
// host rather than reused.
func (s *Session) Reset(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	if s.closed {
		return sdk.Errorf(sdk.KindFailedPrecondition, "websocket %s: the session is closed", s.r.name)
	}
	clear(s.items)
	s.items = s.items[:0]
	s.messages = 0
	s.droppedTotal = 0
	s.changedLocked()
	return nil
}

// Close ends the session: a close handshake (status 1000) for at most
// closeGrace, then the connection is dropped and run is joined. It is
// safe to call twice.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conn := s.conn
	s.conn = nil
	s.changedLocked()
	s.mu.Unlock()

	var handshake sync.WaitGroup
	if conn != nil {
		closed := make(chan struct{})
		handshake.Go(func() {
			defer close(closed)
			_ = conn.Close(ws.StatusNormalClosure, "")
		})
		t := time.NewTimer(closeGrace)
		select {
		case <-closed:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	s.cancel() // ends a read or a reconnection in progress
	<-s.done
	handshake.Wait()
	return nil
}

var (
	_ sdk.Instance = (*Session)(nil)
	_ sdk.Resetter = (*Session)(nil)
)
