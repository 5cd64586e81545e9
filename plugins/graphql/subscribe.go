package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/plugins/http/transport"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Subprotocol is the WebSocket subprotocol of graphql-transport-ws
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
const Subprotocol = "graphql-transport-ws"

// SubscribeArgs are the arguments of subscribe.
type SubscribeArgs struct {
	Query         string          `nebula:"query,required" doc:"The GraphQL document: a subscription operation, with the fragments it uses."`
	Variables     json.RawMessage `nebula:"variables" doc:"The operation's variables, a JSON object; unset for none."`
	OperationName string          `nebula:"operation_name" default:"" doc:"Which operation of the document to run; \"\" when it has one."`
	MaxEvents     int             `nebula:"max_events" default:"0" doc:"Stop after this many events, completing the subscription; 0 for until the server completes it or the call ends."`
}

// Validate checks the arguments without reading the document.
func (a SubscribeArgs) Validate() error {
	if a.MaxEvents < 0 {
		return sdk.Errorf(sdk.KindInvalidArgument, "argument %q must not be negative (0 means no limit)", "max_events")
	}
	return checkRequest(a.Query, a.Variables)
}

// SubscribeResult is the result of subscribe, after its stream: how many
// events it sent, and whether the server completed the subscription
// (false when max_events stopped it first).
type SubscribeResult struct {
	Events    int  `json:"events"`
	Completed bool `json:"completed"`
}

// message is a message of graphql-transport-ws.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// subscriptionID is the id of the one subscription of each connection.
const subscriptionID = "1"

// closeTimeout bounds the messages and the close handshake sent when a
// subscription ends.
const closeTimeout = 5 * time.Second

// Subscribe runs a subscription over a WebSocket connection of its own:
// connection_init, then subscribe, then one line of NDJSON on out for
// each next message's payload, as the server sent it, until the server
// completes the subscription, max_events are sent, or ctx ends. When it
// stops first it sends complete and closes the connection with a close
// handshake.
func (i *Instance) Subscribe(ctx context.Context, a SubscribeArgs, _ io.Reader, out io.Writer) (SubscribeResult, error) {
	const what = "graphql subscribe"
	op, err := i.checkType(a.Query, a.OperationName, opSubscription)
	if err != nil {
		return SubscribeResult{}, err
	}
	sub, err := json.Marshal(message{ID: subscriptionID, Type: "subscribe", Payload: mustJSON(newRequest(a.Query, op.Name, a.Variables))})
	if err != nil {
		return SubscribeResult{}, sdk.WrapError(sdk.KindInvalidArgument, err, what)
	}
	conn, err := i.dial(ctx, what)
	if err != nil {
		return SubscribeResult{}, err
	}
	s := &subscription{inst: i, conn: conn, what: what}
	defer s.closeNow()
	if err := s.init(ctx); err != nil {
		return SubscribeResult{}, err
	}
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		return SubscribeResult{}, s.readError(ctx, err)
	}

	// Once ctx ends, complete the subscription and close the connection:
	// the read below, which does not watch ctx (coder/websocket closes a
	// connection abruptly when a read's context ends), then returns.
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		s.finish()
	})
	defer func() {
		if !stop() {
			<-stopped
		}
	}()
	stopPings := s.keepAlive(ctx)
	defer stopPings()

	var res SubscribeResult
	line := make([]byte, 0, 512)
	for a.MaxEvents == 0 || res.Events < a.MaxEvents {
		_, b, err := conn.Read(context.WithoutCancel(ctx))
		if err != nil {
			return res, s.readError(ctx, err)
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			return res, &sdk.Error{Kind: sdk.KindInternal, Message: what + ": the server sent a message that is not JSON"}
		}
		switch m.Type {
		case "next":
			if m.ID != subscriptionID {
				continue
			}
			line = append(line[:0], m.Payload...)
			if bytes.ContainsAny(line, "\r\n") {
				var c bytes.Buffer
				if err := json.Compact(&c, m.Payload); err != nil {
					return res, &sdk.Error{Kind: sdk.KindInternal, Message: what + ": a next message's payload is not JSON"}
				}
				line = append(line[:0], c.Bytes()...)
			}
			line = append(line, '\n')
			if _, err := out.Write(line); err != nil {
				return res, i.wrap(ctx, err, what+": sending an event")
			}
			res.Events++
		case "error":
			if m.ID != subscriptionID {
				continue
			}
			var errs []gqlError
			if err := json.Unmarshal(m.Payload, &errs); err != nil {
				return res, &sdk.Error{Kind: sdk.KindInternal, Message: what + ": the server's error message holds no list of GraphQL errors"}
			}
			s.closeNormally() // the server ended the subscription
			return res, responseError(what, errs, nil, func(msg string) string { return i.redact(ctx, msg) })
		case "complete":
			if m.ID == subscriptionID {
				res.Completed = true
				s.closeNormally()
				return res, nil
			}
		case "ping":
			if err := s.send(ctx, message{Type: "pong", Payload: m.Payload}); err != nil {
				return res, s.readError(ctx, err)
			}
		case "pong", "connection_ack":
		default:
			return res, &sdk.Error{Kind: sdk.KindInternal, Message: fmt.Sprintf("%s: the server sent a message of unknown type %q", what, m.Type)}
		}
	}
	s.finish() // max_events: complete, then close
	return res, nil
}

// mustURL parses a URL that Validate checked.
func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a request of strings and raw JSON checked by Validate
	}
	return b
}

// dial opens a WebSocket connection to the subscription endpoint with
// the transport's client (its authentication, headers and TLS), asking
// for graphql-transport-ws.
func (i *Instance) dial(ctx context.Context, what string) (*websocket.Conn, error) {
	if err := i.checkOpen(what); err != nil {
		return nil, err
	}
	conn, resp, err := websocket.Dial(ctx, i.res.wsURL, &websocket.DialOptions{
		HTTPClient:   i.client.HTTP(),
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != 101 {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode >= 300 {
				var se *sdk.Error
				if e := i.client.StatusError(resp, body); errors.As(e, &se) {
					return nil, i.redactError(ctx, se, what)
				}
			}
		}
		return nil, i.wrap(ctx, err, what+": connecting to "+transport.RedactURL(mustURL(i.res.wsURL)))
	}
	if conn.Subprotocol() != Subprotocol {
		_ = conn.Close(websocket.StatusProtocolError, "graphql-transport-ws is required")
		return nil, sdk.Errorf(sdk.KindFailedPrecondition, "%s: the server at %s does not speak %s", what, i.res.wsURL, Subprotocol)
	}
	conn.SetReadLimit(i.res.cfg.MaxResponseBytes)
	return conn, nil
}

// subscription is one subscribe call's connection.
type subscription struct {
	inst *Instance
	conn *websocket.Conn
	what string

	mu     sync.Mutex // guards closed
	closed bool       // complete or close sent
}

// init sends connection_init and waits ack_timeout for connection_ack,
// answering pings meanwhile.
func (s *subscription) init(ctx context.Context) error {
	cfg := s.inst.res.cfg
	if err := s.send(ctx, message{Type: "connection_init", Payload: cfg.ConnectionInit}); err != nil {
		return s.readError(ctx, err)
	}
	ackCtx, cancel := context.WithTimeout(ctx, cfg.AckTimeout)
	defer cancel()
	for {
		_, b, err := s.conn.Read(ackCtx)
		if err != nil {
			if ctx.Err() == nil && ackCtx.Err() != nil {
				return sdk.Errorf(sdk.KindUnavailable, "%s: no connection_ack within ack_timeout (%s)", s.what, cfg.AckTimeout)
			}
			return s.readError(ctx, err)
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			return &sdk.Error{Kind: sdk.KindInternal, Message: s.what + ": the server sent a message that is not JSON"}
		}
		switch m.Type {
		case "connection_ack":
			return nil
		case "ping":
			if err := s.send(ctx, message{Type: "pong", Payload: m.Payload}); err != nil {
				return s.readError(ctx, err)
			}
		case "pong":
		default:
			return &sdk.Error{Kind: sdk.KindInternal, Message: fmt.Sprintf("%s: the server sent %q before connection_ack", s.what, m.Type)}
		}
	}
}

func (s *subscription) send(ctx context.Context, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.conn.Write(ctx, websocket.MessageText, b)
}

// keepAlive sends a ping every ping_interval until the returned stop is
// called, which waits for its goroutine; with ping_interval 0s it sends
// none.
func (s *subscription) keepAlive(ctx context.Context) (stop func()) {
	every := s.inst.res.cfg.PingInterval
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if s.send(ctx, message{Type: "ping"}) != nil {
					return // the read loop sees the connection fail
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// finish completes the subscription and closes the connection with a
// close handshake, once: when ctx ends or max_events are sent.
func (s *subscription) finish() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = s.send(ctx, message{ID: subscriptionID, Type: "complete"})
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
}

// closeNormally closes the connection with a close handshake after the
// server completed the subscription.
func (s *subscription) closeNormally() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
}

// closeNow closes the connection, if still open, without a handshake.
func (s *subscription) closeNow() { _ = s.conn.CloseNow() }

// readError classifies an error of the connection: ctx's end first, a
// close code of graphql-transport-ws (closeKinds) with the server's
// reason, then a lost connection.
func (s *subscription) readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return s.inst.wrap(ctx, ctx.Err(), s.what)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		kind, ok := closeKinds[int(ce.Code)]
		if !ok {
			kind = sdk.KindUnavailable // closed before completing: going away, abnormal
		}
		msg := fmt.Sprintf("%s: the server closed the connection (%d", s.what, int(ce.Code))
		if ce.Reason != "" {
			msg += " " + ce.Reason
		}
		return &sdk.Error{Kind: kind, Code: fmt.Sprint(int(ce.Code)), Message: s.inst.redact(ctx, msg+")")}
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return sdk.WrapError(sdk.KindUnavailable, sdk.RedactContext(ctx, err, s.inst.secrets()...), s.what+": the connection was lost")
	}
	return s.inst.wrap(ctx, err, s.what)
}
