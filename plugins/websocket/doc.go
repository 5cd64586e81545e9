// Package websocket is the nebula-resource driver of WebSocket client
// sessions, built on github.com/coder/websocket. docs/websocket.md is the
// user's guide; this is the implementer's summary.
//
// # Resource type
//
// "websocket" (pooling exclusive): every instance is one session, a
// connection to the configured url that the instance keeps up. Open dials
// (and fails with the dial's error); the session then owns one goroutine,
// run, which reads the connection's messages into a bounded buffer and,
// for each connection, one pinger goroutine that sends a ping every
// ping_interval and closes a connection whose pong does not come back
// within ping_timeout. Close stops and joins both.
//
// # Reconnection
//
// When the connection drops (a read error, a close frame, a missed pong,
// a message over read_limit), run dials again with jittered exponential
// backoff between reconnect_min and reconnect_max, until it succeeds or
// max_reconnect_attempts or reconnect_budget runs out. A success puts a
// "reconnected" event in the buffer, where the messages of the new
// connection follow it; giving up (or a handshake the server refuses with
// 401, 403 or 404, which no retry mends) fails the session: receive ends
// with the error once the buffer is drained, and every other call fails
// with it (unavailable, or the refusal's kind). While the session
// reconnects, send waits for the new connection (up to the call's
// deadline), and ping and Check fail at once, unavailable.
//
// # The buffer
//
// Messages are held, oldest first, up to buffer messages; beyond that the
// oldest message is dropped and a "dropped" event takes its place (one
// event counts a run of drops), so that nothing goes missing silently.
// Events are never dropped. Reset, which the host calls when a lease ends,
// empties the buffer: a new leaseholder does not read the previous one's
// unread messages.
package websocket
