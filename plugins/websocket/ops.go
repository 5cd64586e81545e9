package websocket

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// SendArgs are the arguments of send: exactly one of text and
// binary_base64.
type SendArgs struct {
	Text         string `nebula:"text" doc:"A text message (UTF-8); exactly one of text and binary_base64."`
	BinaryBase64 string `nebula:"binary_base64" doc:"A binary message, standard base64; exactly one of text and binary_base64."`
	Idempotent   bool   `nebula:"idempotent" default:"false" doc:"Marks the call safe to retry: true when the server takes the message twice as once (it carries an id the server deduplicates)."`

	// hasText and hasBinary record which of the two the call set: an
	// empty text message is a message.
	hasText, hasBinary bool
	// binary is binary_base64 decoded.
	binary []byte
}

// sendFields is SendArgs without its methods, for sdk.Decode.
type sendFields SendArgs

// DecodeArgs decodes the arguments as sdk.Decode does, and notes which of
// text and binary_base64 are present.
func (a *SendArgs) DecodeArgs(raw json.RawMessage) error {
	if err := sdk.Decode(raw, (*sendFields)(a)); err != nil {
		return err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return sdk.WrapError(sdk.KindInvalidArgument, err, "arguments must be a JSON object")
	}
	_, a.hasText = present["text"]
	_, a.hasBinary = present["binary_base64"]
	return nil
}

// Validate checks that exactly one of text and binary_base64 is set, and
// decodes binary_base64.
func (a *SendArgs) Validate() error {
	switch {
	case a.hasText && a.hasBinary:
		return sdk.Errorf(sdk.KindInvalidArgument, "send takes one of text and binary_base64, not both")
	case !a.hasText && !a.hasBinary:
		return sdk.Errorf(sdk.KindInvalidArgument, "send needs text or binary_base64")
	case a.hasBinary:
		b, err := base64.StdEncoding.DecodeString(a.BinaryBase64)
		if err != nil {
			return sdk.Errorf(sdk.KindInvalidArgument, "binary_base64 is not standard base64: %v", err)
		}
		a.binary = b
	}
	return nil
}

// SendResult is send's result.
type SendResult struct {
	// Bytes is the size of the message sent.
	Bytes int `json:"bytes"`
}

// send writes one message.
func (s *Session) send(ctx context.Context, a SendArgs) (SendResult, error) {
	typ, data, arg := ws.MessageText, []byte(a.Text), "text"
	if a.hasBinary {
		typ, data, arg = ws.MessageBinary, a.binary, "binary_base64"
	}
	if int64(len(data)) > s.r.cfg.SendLimit {
		return SendResult{}, sdk.Errorf(sdk.KindInvalidArgument, "%s is a message of %d bytes, over send_limit (%d bytes)", arg, len(data), s.r.cfg.SendLimit)
	}
	conn, err := s.waitConn(ctx, opSend, true)
	if err != nil {
		return SendResult{}, err
	}
	// A write whose context ends midway closes the connection (and the
	// session reconnects); one that has not begun must not.
	if err := ctx.Err(); err != nil {
		return SendResult{}, sdk.WrapError(sdk.KindOf(err), err, "websocket "+s.r.name+" send")
	}
	if err := conn.Write(ctx, typ, data); err != nil {
		return SendResult{}, s.wrap(ctx, err, opSend)
	}
	return SendResult{Bytes: len(data)}, nil
}

// PingArgs are the arguments of ping: none.
type PingArgs struct{}

// PingResult is ping's result.
type PingResult struct {
	OK bool `json:"ok"`
	// LatencyMS is the round trip, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
}

func (s *Session) ping(ctx context.Context, _ PingArgs) (PingResult, error) {
	d, err := s.roundTrip(ctx, opPing)
	if err != nil {
		return PingResult{}, err
	}
	return PingResult{OK: true, LatencyMS: float64(d.Microseconds()) / 1000}, nil
}

// ReceiveArgs are the arguments of receive.
type ReceiveArgs struct {
	MaxMessages int           `nebula:"max_messages" default:"0" doc:"Return after this many messages (events do not count); 0 means no limit."`
	IdleTimeout time.Duration `nebula:"idle_timeout" default:"0s" doc:"Return when nothing arrives for this long; 0s waits until the call's context ends."`
}

// Validate checks the limits.
func (a ReceiveArgs) Validate() error {
	if a.MaxMessages < 0 {
		return sdk.Errorf(sdk.KindInvalidArgument, "max_messages must not be negative (0 means no limit)")
	}
	if a.IdleTimeout < 0 {
		return sdk.Errorf(sdk.KindInvalidArgument, "idle_timeout must not be negative (0s means no limit)")
	}
	return nil
}

// ReceiveResult is receive's result.
type ReceiveResult struct {
	Messages int `json:"messages"`
	Events   int `json:"events"`
}

// maxBatch bounds the bytes of lines receive writes at once: what is
// already buffered goes out together, up to this.
const maxBatch = 64 << 10

// receive writes the buffer's messages and events as JSON lines, each
// batch of what is already buffered in one write, until max_messages,
// idle_timeout or the end of ctx; when the session has given up, it
// writes what is left and fails with the session's error.
func (s *Session) receive(ctx context.Context, a ReceiveArgs, _ io.Reader, out io.Writer) (ReceiveResult, error) {
	var res ReceiveResult
	if !s.receiving.CompareAndSwap(false, true) {
		return res, sdk.Errorf(sdk.KindFailedPrecondition, "websocket %s receive: another receive is running on this session", s.r.name)
	}
	defer s.receiving.Store(false)
	var idle <-chan time.Time
	var timer *time.Timer
	if a.IdleTimeout > 0 {
		timer = time.NewTimer(a.IdleTimeout)
		defer timer.Stop()
		idle = timer.C
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for {
		s.mu.Lock()
		n := 0
		for n < len(s.items) && buf.Len() < maxBatch {
			it := s.items[n]
			if it.msg != nil {
				if a.MaxMessages > 0 && res.Messages >= a.MaxMessages {
					break
				}
				res.Messages++
				s.messages--
				_ = enc.Encode(it.msg)
			} else {
				res.Events++
				_ = enc.Encode(it.event)
			}
			s.items[n] = item{}
			n++
		}
		s.items = s.items[n:]
		failed, closed, ch := s.failed, s.closed, s.changed
		s.mu.Unlock()

		if buf.Len() > 0 {
			if _, err := out.Write(buf.Bytes()); err != nil {
				if ctx.Err() != nil {
					return res, nil
				}
				return res, sdk.WrapError(sdk.KindCanceled, err, "websocket "+s.r.name+" receive: writing to the caller")
			}
			buf.Reset()
			if timer != nil {
				timer.Reset(a.IdleTimeout)
			}
			continue // more may be buffered; the limit is checked there
		}
		switch {
		case a.MaxMessages > 0 && res.Messages >= a.MaxMessages:
			return res, nil
		case failed != nil:
			return res, failed
		case closed:
			return res, sdk.Errorf(sdk.KindFailedPrecondition, "websocket %s receive: the session is closed", s.r.name)
		}
		select {
		case <-ch:
		case <-idle:
			return res, nil
		case <-ctx.Done():
			return res, nil
		}
	}
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
