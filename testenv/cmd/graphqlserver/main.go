// Command graphqlserver is a GraphQL server for the tests of the graphql
// driver (plugins/graphql): graph-gophers/graphql-go executes a small
// schema, served on one path both as GraphQL over HTTP (POST) and over
// the graphql-transport-ws WebSocket protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md),
// written here with coder/websocket over Schema.Subscribe.
//
// It prints the address it listens on as the first line of its standard
// output, so that a test started with -listen 127.0.0.1:0 reads it, and
// serves until it is killed or gets SIGINT or SIGTERM.
//
//	graphqlserver -listen 127.0.0.1:0 [-path /graphql] [-token T] [-ack-delay 0s] [-log-events]
//
// With -log-events it prints, after the address, a line for each
// WebSocket event a test may wait for: "complete <id>" when a client
// completes a subscription, and "close <code>" when a connection ends
// (the client's close code, or -1 for none).
//
// With -token, every request must carry "Authorization: Bearer T" (or,
// over the WebSocket, a connection_init payload {"authToken": "T"}); one
// that does not is refused with a message that quotes what it sent, as
// careless servers do, so that a test can check the client keeps such
// text out of its errors.
//
// The schema:
//
//	type Query {
//	  hello(name: String): String!          # "Hello, <name>!" ("world" by default)
//	  items: [Item!]!                       # three items; the name of the second fails
//	  fail(code: String!, message: String!): String!  # fails with extensions.code, data null
//	  echoHeader(name: String!): String     # a request header's value, for header tests
//	}
//	type Item { id: ID! name: String }
//	type Mutation { increment(by: Int!): Int! }  # a counter of the server's
//	type Subscription { count(to: Int!): Int! }  # 1, 2, ..., to, then complete
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	graphql "github.com/graph-gophers/graphql-go"
)

const schemaText = `
schema { query: Query mutation: Mutation subscription: Subscription }
type Query {
  hello(name: String): String!
  items: [Item!]!
  fail(code: String!, message: String!): String!
  echoHeader(name: String!): String
}
type Item { id: ID! name: String }
type Mutation { increment(by: Int!): Int! }
type Subscription { count(to: Int!): Int! }
`

// subprotocol is the WebSocket subprotocol of graphql-transport-ws.
const subprotocol = "graphql-transport-ws"

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	path := flag.String("path", "/graphql", "the GraphQL endpoint's path")
	token := flag.String("token", "", "a bearer token every request must carry; empty for none")
	ackDelay := flag.Duration("ack-delay", 0, "how long to wait before acknowledging a WebSocket connection_init")
	logEvents := flag.Bool("log-events", false, "print a line on stdout for each complete a client sends and each connection's close")
	flag.Parse()

	schema, err := graphql.ParseSchema(schemaText, &resolver{}, graphql.UseFieldResolvers())
	if err != nil {
		fmt.Fprintln(os.Stderr, "graphqlserver:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "graphqlserver:", err)
		os.Exit(1)
	}
	s := &server{schema: schema, token: *token, ackDelay: *ackDelay, logEvents: *logEvents}
	mux := http.NewServeMux()
	mux.Handle(*path, s)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintln(os.Stderr, "graphqlserver:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	s.wg.Wait()
}

// resolver resolves the schema's root fields.
type resolver struct {
	counter atomic.Int32
}

func (r *resolver) Hello(args struct{ Name *string }) string {
	name := "world"
	if args.Name != nil {
		name = *args.Name
	}
	return "Hello, " + name + "!"
}

// item is an Item; its name fails for the second.
type item struct{ n int }

func (i item) ID() graphql.ID { return graphql.ID(fmt.Sprint(i.n)) }

func (i item) Name() (*string, error) {
	if i.n == 2 {
		return nil, errors.New("item 2 has no name")
	}
	name := []string{"", "one", "two", "three"}[i.n]
	return &name, nil
}

func (r *resolver) Items() []item { return []item{{1}, {2}, {3}} }

// codedError is a resolver error with extensions.code.
type codedError struct{ code, message string }

func (e codedError) Error() string              { return e.message }
func (e codedError) Extensions() map[string]any { return map[string]any{"code": e.code} }
func (r *resolver) Fail(args struct{ Code, Message string }) (string, error) {
	return "", codedError{args.Code, args.Message}
}

type headersKey struct{}

func (r *resolver) EchoHeader(ctx context.Context, args struct{ Name string }) *string {
	h, _ := ctx.Value(headersKey{}).(http.Header)
	if v := h.Get(args.Name); v != "" {
		return &v
	}
	return nil
}

func (r *resolver) Increment(args struct{ By int32 }) int32 { return r.counter.Add(args.By) }

func (r *resolver) Count(ctx context.Context, args struct{ To int32 }) <-chan int32 {
	c := make(chan int32)
	go func() {
		defer close(c)
		for i := int32(1); i <= args.To; i++ {
			select {
			case c <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c
}

// server serves the endpoint.
type server struct {
	schema   *graphql.Schema
	token    string
	ackDelay time.Duration
	wg       sync.WaitGroup // the WebSocket connections' subscriptions

	logEvents bool
	logMu     sync.Mutex // serializes the event lines
}

// event prints an event line, with -log-events.
func (s *server) event(format string, args ...any) {
	if !s.logEvents {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// request is a GraphQL request, over HTTP or in a subscribe message.
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.serveWebSocket(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST a GraphQL request", http.StatusMethodNotAllowed)
		return
	}
	// GraphQL over HTTP: the newer media type gets the status codes it
	// defines, the older one 200 for every GraphQL response.
	modern := strings.Contains(r.Header.Get("Accept"), "application/graphql-response+json")
	contentType := "application/json"
	if modern {
		contentType = "application/graphql-response+json"
	}
	if got := r.Header.Get("Authorization"); s.token != "" && got != "Bearer "+s.token {
		status := http.StatusOK
		if modern {
			status = http.StatusUnauthorized
		}
		writeJSON(w, contentType, status, map[string]any{"errors": []any{map[string]any{
			"message":    fmt.Sprintf("invalid authorization %q", got),
			"extensions": map[string]any{"code": "UNAUTHENTICATED"},
		}}})
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, contentType, http.StatusBadRequest, map[string]any{"errors": []any{map[string]any{"message": "the body is not a GraphQL request: " + err.Error()}}})
		return
	}
	ctx := context.WithValue(r.Context(), headersKey{}, r.Header)
	resp := s.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
	status := http.StatusOK
	if modern && resp.Data == nil && len(resp.Errors) > 0 {
		status = http.StatusBadRequest // a request error: parsing or validation
	}
	writeJSON(w, contentType, status, resp)
}

func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// message is a message of graphql-transport-ws.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// serveWebSocket speaks graphql-transport-ws on one connection: the
// connection_init handshake, then subscriptions by id, each in a
// goroutine of its own, until the client closes the connection.
func (s *server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	if c.Subprotocol() != subprotocol {
		_ = c.Close(4406, "Subprotocol not acceptable")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	send := func(m message) error {
		b, _ := json.Marshal(m)
		return c.Write(ctx, websocket.MessageText, b)
	}

	initCtx, initCancel := context.WithTimeout(ctx, 10*time.Second)
	_, b, err := c.Read(initCtx)
	initCancel()
	if err != nil {
		return
	}
	var init message
	if json.Unmarshal(b, &init) != nil || init.Type != "connection_init" {
		_ = c.Close(4400, "want connection_init")
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		var p struct {
			AuthToken string `json:"authToken"`
		}
		_ = json.Unmarshal(init.Payload, &p)
		if p.AuthToken != s.token {
			reason := fmt.Sprintf("Forbidden: bad token %q", p.AuthToken)
			if len(reason) > 120 {
				reason = reason[:120]
			}
			_ = c.Close(4403, reason)
			return
		}
	}
	if s.ackDelay > 0 {
		select {
		case <-time.After(s.ackDelay):
		case <-ctx.Done():
			return
		}
	}
	if send(message{Type: "connection_ack"}) != nil {
		return
	}

	var mu sync.Mutex // guards subs
	subs := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			s.event("close %d", websocket.CloseStatus(err))
			return
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			_ = c.Close(4400, "invalid message")
			return
		}
		switch m.Type {
		case "ping":
			_ = send(message{Type: "pong"})
		case "pong":
		case "complete":
			s.event("complete %s", m.ID)
			mu.Lock()
			if stop, ok := subs[m.ID]; ok {
				stop()
				delete(subs, m.ID)
			}
			mu.Unlock()
		case "subscribe":
			var req request
			if m.ID == "" || json.Unmarshal(m.Payload, &req) != nil {
				_ = c.Close(4400, "invalid subscribe message")
				return
			}
			mu.Lock()
			_, dup := subs[m.ID]
			subCtx, stop := context.WithCancel(ctx)
			if !dup {
				subs[m.ID] = stop
			}
			mu.Unlock()
			if dup {
				stop()
				_ = c.Close(4409, "Subscriber for "+m.ID+" already exists")
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer stop()
				s.subscribe(subCtx, m.ID, req, send)
				mu.Lock()
				delete(subs, m.ID)
				mu.Unlock()
			}()
		default:
			_ = c.Close(4400, "unknown message type")
			return
		}
	}
}

// subscribe runs one subscription, sending next messages and then
// complete, or one error message when the operation is refused.
func (s *server) subscribe(ctx context.Context, id string, req request, send func(message) error) {
	responses, err := s.schema.Subscribe(ctx, req.Query, req.OperationName, req.Variables)
	if err != nil {
		payload, _ := json.Marshal([]any{map[string]any{"message": err.Error()}})
		_ = send(message{ID: id, Type: "error", Payload: payload})
		return
	}
	first := true
	for r := range responses {
		resp, ok := r.(*graphql.Response)
		if !ok {
			continue
		}
		if first && resp.Data == nil && len(resp.Errors) > 0 {
			payload, _ := json.Marshal(resp.Errors)
			_ = send(message{ID: id, Type: "error", Payload: payload})
			return
		}
		first = false
		payload, _ := json.Marshal(resp)
		if send(message{ID: id, Type: "next", Payload: payload}) != nil {
			return
		}
	}
	if ctx.Err() == nil {
		_ = send(message{ID: id, Type: "complete"})
	}
}
